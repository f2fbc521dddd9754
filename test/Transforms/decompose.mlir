// RUN: moe-opt %s -split-input-file -moe-decompose | FileCheck %s

// Tests that a Mixtral-style layer becomes the router GEMM, route, dispatch,
// the expert FFN and a weighted combine.
// CHECK-LABEL: func.func @mixtral
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[WG:.*]]: tensor<8x64xf32>, %[[W1:.*]]: tensor<8x128x64xf32>, %[[W3:.*]]: tensor<8x128x64xf32>, %[[W2:.*]]: tensor<8x64x128xf32>)
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[T:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x64xf32>
// CHECK: %[[EMPTY:.*]] = tensor.empty(%[[T]]) : tensor<?x8xf32>
// CHECK: %[[FILL:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[EMPTY]] : tensor<?x8xf32>)
// CHECK: %[[L:.*]] = linalg.matmul indexing_maps = [#{{.*}}, #{{.*}}, #{{.*}}] ins(%[[X]], %[[WG]] : tensor<?x64xf32>, tensor<8x64xf32>) outs(%[[FILL]] : tensor<?x8xf32>)
// CHECK: %[[W:.*]], %[[IDS:.*]] = moe.route %[[L]] {routing = #moe.routing<top_k = 2, renormalize = true>} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
// CHECK: %[[ROWS:.*]], %[[TOK:.*]], %[[RW:.*]], %[[OFF:.*]] = moe.dispatch %[[X]], %[[IDS]], %[[W]] : {{.*}} -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
// CHECK: %[[OUT:.*]] = moe.expert_mlp swiglu %[[ROWS]] offsets(%[[OFF]]) weights(gate %[[W1]], up %[[W3]], down %[[W2]])
// CHECK: %[[Y:.*]] = moe.combine %[[OUT]] tokens(%[[TOK]]) weights(%[[RW]]) offsets(%[[OFF]]) input(%[[X]])
// CHECK-NOT: moe.layer
// CHECK: return %[[Y]]
func.func @mixtral(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>,
                   %w1: tensor<8x128x64xf32>, %w3: tensor<8x128x64xf32>,
                   %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, renormalize = true>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
            tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that DeepSeek-V3 keeps its bias on the route and adds the shared
// expert to the routed sum.
// CHECK-LABEL: func.func @deepseek_v3
// CHECK-SAME: (%[[X:.*]]: tensor<?x32xf32>, %[[WG:.*]]: tensor<16x32xf32>, %[[B:.*]]: tensor<16xf32>
// CHECK: %[[W:.*]], %[[IDS:.*]] = moe.route %{{.*}} bias(%[[B]]) {routing = #moe.routing<top_k = 4, scoring = sigmoid, renormalize = true, scaling_factor = 2.5, n_group = 4, topk_group = 2, group_score = top2_sum>}
// CHECK: moe.dispatch %[[X]], %[[IDS]], %[[W]]
// CHECK: %[[ROUTED:.*]] = moe.combine
// CHECK: %[[SHARED:.*]] = moe.shared_mlp swiglu %[[X]] weights(gate %{{.*}}, up %{{.*}}, down %{{.*}}) :
// CHECK: %[[SUM:.*]] = arith.addf %[[ROUTED]], %[[SHARED]] : tensor<?x32xf32>
// CHECK: return %[[SUM]]
func.func @deepseek_v3(%x: tensor<?x32xf32>, %wg: tensor<16x32xf32>,
                       %b: tensor<16xf32>, %g: tensor<16x24x32xf32>,
                       %u: tensor<16x24x32xf32>, %d: tensor<16x32x24xf32>,
                       %sg: tensor<48x32xf32>, %su: tensor<48x32xf32>,
                       %sd: tensor<32x48xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg, bias %b) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 4, scoring = sigmoid, renormalize = true,
                                scaling_factor = 2.5, n_group = 4, topk_group = 2,
                                group_score = top2_sum>}
         : (tensor<?x32xf32>, tensor<16x32xf32>, tensor<16xf32>,
            tensor<16x24x32xf32>, tensor<16x24x32xf32>, tensor<16x32x24xf32>,
            tensor<48x32xf32>, tensor<48x32xf32>, tensor<32x48xf32>)
         -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that Llama 4's input scaling moves the routing weight onto the
// expert input and leaves the combine unweighted; a Qwen2-MoE shared expert
// keeps its sigmoid gate.
// CHECK-LABEL: func.func @llama4
// CHECK: %[[ROWS:.*]], %[[TOK:.*]], %[[RW:.*]], %[[OFF:.*]] = moe.dispatch
// CHECK: %[[OUT:.*]] = moe.expert_mlp swiglu %[[ROWS]] offsets(%[[OFF]]) weights(gate %{{.*}}, up %{{.*}}, down %{{.*}}) scale(%[[RW]])
// CHECK: moe.combine %[[OUT]] tokens(%[[TOK]]) offsets(%[[OFF]]) input(%{{.*}}) :
func.func @llama4(%x: tensor<?x32xf32>, %wg: tensor<16x32xf32>,
                  %g: tensor<16x64x32xf32>, %u: tensor<16x64x32xf32>,
                  %d: tensor<16x32x64xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 1, scoring = sigmoid, select_on = logits>,
          scale_expert_input}
         : (tensor<?x32xf32>, tensor<16x32xf32>, tensor<16x64x32xf32>,
            tensor<16x64x32xf32>, tensor<16x32x64xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
// CHECK-LABEL: func.func @qwen2_moe
// CHECK: moe.shared_mlp swiglu %{{.*}} weights(gate %{{.*}}, up %{{.*}}, down %{{.*}}) sigmoid_gate(%{{.*}})
func.func @qwen2_moe(%x: tensor<?x32xf32>, %wg: tensor<8x32xf32>,
                     %g: tensor<8x16x32xf32>, %u: tensor<8x16x32xf32>,
                     %d: tensor<8x32x16xf32>, %sg: tensor<64x32xf32>,
                     %su: tensor<64x32xf32>, %sd: tensor<32x64xf32>,
                     %seg: tensor<1x32xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd, sigmoid_gate %seg)
         {router = #moe.routing<top_k = 4>}
         : (tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x16x32xf32>,
            tensor<8x16x32xf32>, tensor<8x32x16xf32>, tensor<64x32xf32>,
            tensor<64x32xf32>, tensor<32x64xf32>, tensor<1x32xf32>)
         -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that expert choice routes and dispatches in one moe.expert_choice,
// and that a capacity goes to dispatch and its drop policy to combine.
// CHECK-LABEL: func.func @expert_choice
// CHECK: %[[ROWS:.*]], %[[TOK:.*]], %[[RW:.*]], %[[OFF:.*]] = moe.expert_choice %{{.*}}, %{{.*}} {routing = #moe.expert_choice<capacity_factor = 2.0>}
// CHECK: moe.expert_mlp gelu %[[ROWS]] offsets(%[[OFF]]) weights(up %{{.*}}, down %{{.*}}) :
// CHECK: moe.combine %{{.*}} tokens(%[[TOK]]) weights(%[[RW]]) offsets(%[[OFF]])
// CHECK-NOT: moe.dispatch
func.func @expert_choice(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                         %u: tensor<4x16x32xf32>,
                         %d: tensor<4x32x16xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(up %u, down %d)
         {router = #moe.expert_choice<capacity_factor = 2.0>,
          activation = #moe<activation gelu>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x32x16xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
// CHECK-LABEL: func.func @capacity
// CHECK: moe.dispatch %{{.*}} {capacity = #moe.capacity<factor = 1.25, drop_order = lowest_weight, dropped = input>}
// CHECK: moe.combine {{.*}} {dropped = #moe<dropped input>}
func.func @capacity(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                    %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                    %d: tensor<4x32x16xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 1>,
          capacity = #moe.capacity<factor = 1.25, drop_order = lowest_weight,
                                   dropped = input>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that the router GEMM of bf16 activations still produces f32
// logits, and that a static token count needs no tensor.dim.
// CHECK-LABEL: func.func @bf16_static
// CHECK-NOT: tensor.dim
// CHECK: tensor.empty() : tensor<5x8xf32>
// CHECK: linalg.matmul {{.*}} ins(%{{.*}}, %{{.*}} : tensor<5x32xbf16>, tensor<8x32xf32>) outs(%{{.*}} : tensor<5x8xf32>)
// CHECK: moe.route {{.*}} : tensor<5x8xf32> -> tensor<5x2xf32>, tensor<5x2xi32>
func.func @bf16_static(%x: tensor<5x32xbf16>, %wg: tensor<8x32xf32>,
                       %g: tensor<8x16x32xf32>, %u: tensor<8x16x32xf32>,
                       %d: tensor<8x32x16xf32>) -> tensor<5x32xbf16> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 2>}
         : (tensor<5x32xbf16>, tensor<8x32xf32>, tensor<8x16x32xf32>,
            tensor<8x16x32xf32>, tensor<8x32x16xf32>) -> tensor<5x32xbf16>
  return %y : tensor<5x32xbf16>
}

// -----

// Tests that GPT-OSS's clamped SwiGLU keeps its glu_clamp on the expert and
// shared FFNs the layer becomes.
// CHECK-LABEL: func.func @clamped_swiglu
// CHECK: moe.expert_mlp clamped_swiglu %{{.*}} {glu_clamp = #moe.glu_clamp<limit = 7.0>}
// CHECK: moe.shared_mlp clamped_swiglu %{{.*}} {glu_clamp = #moe.glu_clamp<limit = 7.0>}
func.func @clamped_swiglu(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                          %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                          %d: tensor<4x32x16xf32>, %sg: tensor<24x32xf32>,
                          %su: tensor<24x32xf32>, %sd: tensor<32x24xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 2>, activation = #moe<activation clamped_swiglu>,
          glu_clamp = #moe.glu_clamp<limit = 7.0>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<24x32xf32>,
            tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that a shared expert's own activation (Hy-V4: routed experts
// clamped in GLM-5's form, shared expert plain SwiGLU) goes to its
// moe.shared_mlp, and the routed one to moe.expert_mlp.
// CHECK-LABEL: func.func @shared_activation
// CHECK: moe.expert_mlp clamped_swiglu %{{.*}} {glu_clamp = #moe.glu_clamp<limit = 1.0e+01, form = clamp_gate>}
// CHECK: moe.shared_mlp swiglu
// CHECK-NOT: glu_clamp
// CHECK: return
func.func @shared_activation(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                             %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                             %d: tensor<4x32x16xf32>, %sg: tensor<24x32xf32>,
                             %su: tensor<24x32xf32>, %sd: tensor<32x24xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 2>, activation = #moe<activation clamped_swiglu>,
          glu_clamp = #moe.glu_clamp<limit = 10.0, form = clamp_gate>,
          shared_activation = #moe<activation swiglu>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<24x32xf32>,
            tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that a shared expert with its own clamp (Step-3.7) takes
// shared_glu_clamp, not the routed experts' glu_clamp.
// CHECK-LABEL: func.func @shared_glu_clamp
// CHECK: moe.expert_mlp swiglu
// CHECK: moe.shared_mlp clamped_swiglu %{{.*}} {glu_clamp = #moe.glu_clamp<limit = 0.5, form = clamp_silu>}
func.func @shared_glu_clamp(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                            %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                            %d: tensor<4x32x16xf32>, %sg: tensor<24x32xf32>,
                            %su: tensor<24x32xf32>, %sd: tensor<32x24xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 2>,
          shared_activation = #moe<activation clamped_swiglu>,
          shared_glu_clamp = #moe.glu_clamp<limit = 0.5, form = clamp_silu>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<24x32xf32>,
            tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that a layer averaging its shared expert in (Cohere2-MoE) becomes
// the sum of routed and shared outputs times a fill of 0.5; the sum alone
// without the attribute.
// CHECK-LABEL: func.func @shared_average
// CHECK-DAG: %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: %[[C:.*]] = moe.combine
// CHECK: %[[S:.*]] = moe.shared_mlp swiglu
// CHECK: %[[SUM:.*]] = arith.addf %[[C]], %[[S]] : tensor<?x32xf32>
// CHECK: %[[FILL:.*]] = linalg.fill ins(%[[HALF]] : f32)
// CHECK: %[[Y:.*]] = arith.mulf %[[SUM]], %[[FILL]] : tensor<?x32xf32>
// CHECK: return %[[Y]]
// CHECK-LABEL: func.func @shared_sum
// CHECK: %[[SUM2:.*]] = arith.addf
// CHECK-NOT: arith.mulf
// CHECK: return %[[SUM2]]
func.func @shared_average(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                          %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                          %d: tensor<4x32x16xf32>, %sg: tensor<24x32xf32>,
                          %su: tensor<24x32xf32>, %sd: tensor<32x24xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 2>, shared_combine = #moe<shared_combine average>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<24x32xf32>,
            tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
func.func @shared_sum(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                      %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                      %d: tensor<4x32x16xf32>, %sg: tensor<24x32xf32>,
                      %su: tensor<24x32xf32>, %sd: tensor<32x24xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 2>, shared_combine = #moe<shared_combine sum>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<24x32xf32>,
            tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that moe.layer's norms (Gemma 4) wrap the FFNs: the experts see the
// normalised input (dispatch and combine alike) while the router reads %x;
// the routed sum, the shared expert's input and output and their sum are
// each normalised, with the norm's own weight.
// CHECK-LABEL: func.func @norms(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x32xf32>, %[[WG:[a-z0-9]+]]: tensor<4x32xf32>
// CHECK-SAME: %[[N1:[a-z0-9]+]]: tensor<32xf32>, %[[N2:[a-z0-9]+]]: tensor<32xf32>, %[[N3:[a-z0-9]+]]: tensor<32xf32>, %[[N4:[a-z0-9]+]]: tensor<32xf32>, %[[N5:[a-z0-9]+]]: tensor<32xf32>)
// CHECK: linalg.matmul {{.*}} ins(%[[X]], %[[WG]] :
// CHECK: %[[XE:.*]] = linalg.generic {{.*}} ins(%[[X]], %{{.*}}, %[[N1]] :
// CHECK: moe.dispatch %[[XE]],
// CHECK: %[[ROUTED:.*]] = moe.combine {{.*}} input(%[[XE]])
// CHECK: %[[ROUTEDN:.*]] = linalg.generic {{.*}} ins(%[[ROUTED]], %{{.*}}, %[[N2]] :
// CHECK: %[[XS:.*]] = linalg.generic {{.*}} ins(%[[X]], %{{.*}}, %[[N3]] :
// CHECK: %[[SHARED:.*]] = moe.shared_mlp swiglu %[[XS]]
// CHECK: %[[SHAREDN:.*]] = linalg.generic {{.*}} ins(%[[SHARED]], %{{.*}}, %[[N4]] :
// CHECK: %[[SUM:.*]] = arith.addf %[[ROUTEDN]], %[[SHAREDN]]
// CHECK: %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[SUM]], %{{.*}}, %[[N5]] :
// CHECK: return %[[OUT]]
func.func @norms(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                 %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                 %d: tensor<4x32x16xf32>, %sg: tensor<24x32xf32>,
                 %su: tensor<24x32xf32>, %sd: tensor<32x24xf32>,
                 %n1: tensor<32xf32>, %n2: tensor<32xf32>, %n3: tensor<32xf32>,
                 %n4: tensor<32xf32>, %n5: tensor<32xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         norms(expert_input %n1, expert_output %n2, shared_input %n3, shared_output %n4, output %n5)
         {router = #moe.routing<top_k = 2>, norm_epsilon = 1.0e-06}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<24x32xf32>,
            tensor<24x32xf32>, tensor<32x24xf32>, tensor<32xf32>, tensor<32xf32>,
            tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
// -----

// Tests that a layer with zero (identity) experts routes over the E + Z
// router rows, dispatches with zero_experts (those slots after the real
// experts' rows) and passes their input through in the combine.
// CHECK-LABEL: func.func @zero_experts
// CHECK: %[[W:.*]], %[[IDS:.*]] = moe.route %{{.*}} bias(%{{.*}}) {routing = #moe.routing<top_k = 3, scaling_factor = 6.0>} : tensor<?x6xf32>, tensor<6xf32> -> tensor<?x3xf32>, tensor<?x3xi32>
// CHECK: moe.dispatch %{{.*}}, %[[IDS]], %[[W]] {zero_experts = 2 : i64}
// CHECK-SAME: tensor<5xi32>
// CHECK: moe.expert_mlp swiglu
// CHECK: moe.combine
// CHECK-SAME: dropped = #moe<dropped input>
func.func @zero_experts(%x: tensor<?x64xf32>, %wg: tensor<6x64xf32>,
                        %b: tensor<6xf32>, %w1: tensor<4x128x64xf32>,
                        %w3: tensor<4x128x64xf32>,
                        %w2: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg, bias %b) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 3, scaling_factor = 6.0>,
          zero_experts = 2}
         : (tensor<?x64xf32>, tensor<6x64xf32>, tensor<6xf32>,
            tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>)
         -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
