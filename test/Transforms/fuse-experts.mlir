// RUN: moe-opt %s -split-input-file -moe-fuse-experts | FileCheck %s

// Tests that dispatch → expert_mlp → combine becomes one moe.fused_experts
// reading the layer input through the row tokens, with the output weights;
// the dispatch stays for its tokens, weights and offsets.
// CHECK-LABEL: func.func @mixtral
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[IDS:.*]]: tensor<?x2xi32>, %[[W:.*]]: tensor<?x2xf32>, %[[G:.*]]: tensor<8x128x64xf32>, %[[U:.*]]: tensor<8x128x64xf32>, %[[D:.*]]: tensor<8x64x128xf32>)
// CHECK: %[[ROWS:.*]], %[[TOK:.*]], %[[RW:.*]], %[[OFF:.*]] = moe.dispatch %[[X]], %[[IDS]], %[[W]]
// CHECK-NEXT: %[[Y:.*]] = moe.fused_experts swiglu %[[X]] tokens(%[[TOK]]) weights(%[[RW]]) offsets(%[[OFF]]) experts(gate %[[G]], up %[[U]], down %[[D]]) :
// CHECK-NOT: scale_expert_input
// CHECK-NEXT: return %[[Y]]
func.func @mixtral(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                   %g: tensor<8x128x64xf32>, %u: tensor<8x128x64xf32>, %d: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that a shared expert added to the routed sum, in either operand
// order, joins the fused op.
// CHECK-LABEL: func.func @deepseek
// CHECK: %[[Y:.*]] = moe.fused_experts swiglu %{{.*}} tokens(%{{.*}}) weights(%{{.*}}) offsets(%{{.*}}) experts(gate %{{.*}}, up %{{.*}}, down %{{.*}}) shared(gate %[[SG:.*]], up %[[SU:.*]], down %[[SD:.*]]) :
// CHECK-NOT: moe.shared_mlp
// CHECK-NOT: arith.addf
// CHECK: return %[[Y]]
func.func @deepseek(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                    %g: tensor<8x32x64xf32>, %u: tensor<8x32x64xf32>, %d: tensor<8x64x32xf32>,
                    %sg: tensor<96x64xf32>, %su: tensor<96x64xf32>, %sd: tensor<64x96xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %s = moe.shared_mlp swiglu %x weights(gate %sg, up %su, down %sd) : (tensor<?x64xf32>, tensor<96x64xf32>, tensor<96x64xf32>, tensor<64x96xf32>) -> tensor<?x64xf32>
  %z = arith.addf %s, %y : tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}

// -----

// Tests that the routing weight on the expert input (Llama 4) becomes
// scale_expert_input with an unweighted combine, and that a sigmoid-gated
// shared expert (Qwen2-MoE) is left beside the fused routed experts.
// CHECK-LABEL: func.func @scaled_input_gated_shared
// CHECK: %[[ROWS:.*]], %[[TOK:.*]], %[[RW:.*]], %[[OFF:.*]] = moe.dispatch
// CHECK: %[[Y:.*]] = moe.fused_experts swiglu %{{.*}} tokens(%[[TOK]]) weights(%[[RW]]) offsets(%[[OFF]]) experts({{.*}}) {scale_expert_input}
// CHECK: %[[S:.*]] = moe.shared_mlp swiglu
// CHECK: arith.addf %[[Y]], %[[S]]
func.func @scaled_input_gated_shared(%x: tensor<?x64xf32>, %ids: tensor<?x1xi32>, %w: tensor<?x1xf32>,
    %g: tensor<4x32x64xf32>, %u: tensor<4x32x64xf32>, %d: tensor<4x64x32xf32>,
    %sg: tensor<32x64xf32>, %su: tensor<32x64xf32>, %sd: tensor<64x32xf32>, %gate: tensor<1x64xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x1xi32>, tensor<?x1xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) scale(%rw) : (tensor<?x64xf32>, tensor<5xi32>, tensor<4x32x64xf32>, tensor<4x32x64xf32>, tensor<4x64x32xf32>, tensor<?xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %s = moe.shared_mlp swiglu %x weights(gate %sg, up %su, down %sd) sigmoid_gate(%gate) : (tensor<?x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>, tensor<64x32xf32>, tensor<1x64xf32>) -> tensor<?x64xf32>
  %z = arith.addf %y, %s : tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}

// -----

// Tests that expert-choice rows fuse the same way (GELU, no gate).
// CHECK-LABEL: func.func @expert_choice
// CHECK: %[[ROWS:.*]], %[[TOK:.*]], %[[RW:.*]], %[[OFF:.*]] = moe.expert_choice
// CHECK: moe.fused_experts gelu %{{.*}} tokens(%[[TOK]]) weights(%[[RW]]) offsets(%[[OFF]]) experts(up %{{.*}}, down %{{.*}})
// CHECK-NOT: moe.combine
func.func @expert_choice(%x: tensor<?x64xf32>, %l: tensor<?x4xf32>, %u: tensor<4x32x64xf32>, %d: tensor<4x64x32xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.expert_choice %x, %l {routing = #moe.expert_choice<capacity_factor = 2.0>} : tensor<?x64xf32>, tensor<?x4xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  %out = moe.expert_mlp gelu %rows offsets(%off) weights(up %u, down %d) : (tensor<?x64xf32>, tensor<5xi32>, tensor<4x32x64xf32>, tensor<4x64x32xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that dropped slots passing their input through fuse: the fused op
// carries dropped = input and reads those rows through the token list.
// CHECK-LABEL: func.func @fused_dropped_input
// CHECK: moe.fused_experts swiglu
// CHECK-SAME: dropped = #moe<dropped input>
// CHECK-NOT: moe.combine
func.func @fused_dropped_input(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                               %g: tensor<8x32x64xf32>, %u: tensor<8x32x64xf32>, %d: tensor<8x64x32xf32>)
    -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<factor = 1.0, dropped = input>} : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) {dropped = #moe<dropped input>} : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests what is not fused: rows gathered from another tensor than the
// combine's input, and an expert output with a second use.
// CHECK-LABEL: func.func @not_fused
// CHECK-NOT: moe.fused_experts
// CHECK-COUNT-2: moe.combine
func.func @not_fused(%x: tensor<?x64xf32>, %x2: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                     %g: tensor<8x32x64xf32>, %u: tensor<8x32x64xf32>, %d: tensor<8x64x32xf32>)
    -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %rows2, %tok2, %rw2, %off2 = moe.dispatch %x2, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out2 = moe.expert_mlp swiglu %rows2 offsets(%off2) weights(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<?x64xf32>
  %y2 = moe.combine %out2 tokens(%tok2) weights(%rw2) offsets(%off2) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %out3 = moe.expert_mlp swiglu %rows2 offsets(%off2) weights(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<?x64xf32>
  %y3 = moe.combine %out3 tokens(%tok2) weights(%rw2) offsets(%off2) input(%x2) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y2, %y3, %out3 : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// Tests that fusion keeps clamped_swiglu's glu_clamp on the fused op, with
// a shared expert of the same clamp, and leaves a shared expert of another
// clamp beside it.
// CHECK-LABEL: func.func @clamped_swiglu
// CHECK: %[[Y:.*]] = moe.fused_experts clamped_swiglu %{{.*}} shared(gate %{{.*}}, up %{{.*}}, down %{{.*}}) {glu_clamp = #moe.glu_clamp<limit = 0.5>}
// CHECK-NOT: moe.expert_mlp
// CHECK: return %[[Y]]
// CHECK-LABEL: func.func @clamped_swiglu_other_shared
// CHECK: %[[Y:.*]] = moe.fused_experts clamped_swiglu %{{.*}} experts(gate %{{.*}}, up %{{.*}}, down %{{.*}}) {glu_clamp = #moe.glu_clamp<limit = 0.5>}
// CHECK: %[[S:.*]] = moe.shared_mlp clamped_swiglu %{{.*}} {glu_clamp = #moe.glu_clamp<limit = 1.0>}
// CHECK: arith.addf %[[S]], %[[Y]]
func.func @clamped_swiglu(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                          %g: tensor<8x32x64xf32>, %u: tensor<8x32x64xf32>, %d: tensor<8x64x32xf32>,
                          %sg: tensor<96x64xf32>, %su: tensor<96x64xf32>, %sd: tensor<64x96xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp clamped_swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) {glu_clamp = #moe.glu_clamp<limit = 0.5>} : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %s = moe.shared_mlp clamped_swiglu %x weights(gate %sg, up %su, down %sd) {glu_clamp = #moe.glu_clamp<limit = 0.5>} : (tensor<?x64xf32>, tensor<96x64xf32>, tensor<96x64xf32>, tensor<64x96xf32>) -> tensor<?x64xf32>
  %z = arith.addf %s, %y : tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}
func.func @clamped_swiglu_other_shared(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                          %g: tensor<8x32x64xf32>, %u: tensor<8x32x64xf32>, %d: tensor<8x64x32xf32>,
                          %sg: tensor<96x64xf32>, %su: tensor<96x64xf32>, %sd: tensor<64x96xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp clamped_swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) {glu_clamp = #moe.glu_clamp<limit = 0.5>} : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %s = moe.shared_mlp clamped_swiglu %x weights(gate %sg, up %su, down %sd) {glu_clamp = #moe.glu_clamp<limit = 1.0>} : (tensor<?x64xf32>, tensor<96x64xf32>, tensor<96x64xf32>, tensor<64x96xf32>) -> tensor<?x64xf32>
  %z = arith.addf %s, %y : tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}
