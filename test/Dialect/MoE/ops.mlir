// RUN: moe-opt %s -split-input-file | moe-opt -split-input-file | FileCheck %s
// RUN: moe-opt %s -split-input-file -mlir-print-op-generic | moe-opt -split-input-file | FileCheck %s
// RUN: moe-opt %s -split-input-file -mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// Tests that a Mixtral-style layer (softmax top-2, renormalised, SwiGLU)
// round-trips, with the default activation elided.
// CHECK-LABEL: func.func @mixtral
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[WG:.*]]: tensor<8x64xf32>, %[[W1:.*]]: tensor<8x128x64xf32>, %[[W3:.*]]: tensor<8x128x64xf32>, %[[W2:.*]]: tensor<8x64x128xf32>)
// CHECK: moe.layer %[[X]] router(%[[WG]]) experts(gate %[[W1]], up %[[W3]], down %[[W2]])
// CHECK-SAME: {router = #moe.routing<top_k = 2, renormalize = true>}
// GENERIC-LABEL: sym_name = "mixtral"
// GENERIC: "moe.layer"
// GENERIC-SAME: operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>
// GENERIC-SAME: router = #moe.routing<top_k = 2, renormalize = true>
func.func @mixtral(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>,
                   %w1: tensor<8x128x64xf32>, %w3: tensor<8x128x64xf32>,
                   %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, renormalize = true>,
          activation = #moe<activation swiglu>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
            tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that a DeepSeek-V3 layer round-trips: sigmoid scores, correction
// bias, group top-2-sum routing, scaling and an ungated shared expert.
// CHECK-LABEL: func.func @deepseek_v3
// CHECK: moe.layer %{{[a-z0-9_]+}} router(%{{[a-z0-9_]+}}, bias %[[B:.*]]) experts(gate %{{[a-z0-9_]+}}, up %{{[a-z0-9_]+}}, down %{{[a-z0-9_]+}}) shared(gate %{{[a-z0-9_]+}}, up %{{[a-z0-9_]+}}, down %{{[a-z0-9_]+}})
// CHECK-SAME: router = #moe.routing<top_k = 4, scoring = sigmoid, renormalize = true, scaling_factor = 2.5, n_group = 4, topk_group = 2, group_score = top2_sum>
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

// Tests that a DeepSeek-V2 layer (group-limited greedy, group max) and a
// Qwen2-MoE layer (sigmoid-gated shared expert) round-trip.
// CHECK-LABEL: func.func @deepseek_v2
// CHECK: moe.layer
// CHECK-SAME: router = #moe.routing<top_k = 2, scaling_factor = 16.0, n_group = 4, topk_group = 2>
func.func @deepseek_v2(%x: tensor<?x32xf32>, %wg: tensor<8x32xf32>,
                       %g: tensor<8x16x32xf32>, %u: tensor<8x16x32xf32>,
                       %d: tensor<8x32x16xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 2, scaling_factor = 16.0, n_group = 4,
                                topk_group = 2, group_score = max>}
         : (tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x16x32xf32>,
            tensor<8x16x32xf32>, tensor<8x32x16xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
// CHECK-LABEL: func.func @qwen2_moe
// CHECK: shared(gate %{{[a-z0-9_]+}}, up %{{[a-z0-9_]+}}, down %{{[a-z0-9_]+}}, sigmoid_gate %{{[a-z0-9_]+}})
// CHECK-SAME: router = #moe.routing<top_k = 4>
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

// Tests that a Llama 4 layer round-trips: top-1 on logits, sigmoid weights
// applied to the expert input, shared expert.
// CHECK-LABEL: func.func @llama4
// CHECK: moe.layer
// CHECK-SAME: router = #moe.routing<top_k = 1, scoring = sigmoid, select_on = logits>
// CHECK-SAME: scale_expert_input
func.func @llama4(%x: tensor<?x32xf32>, %wg: tensor<16x32xf32>,
                  %g: tensor<16x64x32xf32>, %u: tensor<16x64x32xf32>,
                  %d: tensor<16x32x64xf32>, %sg: tensor<64x32xf32>,
                  %su: tensor<64x32xf32>, %sd: tensor<32x64xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 1, scoring = sigmoid, select_on = logits>,
          scale_expert_input}
         : (tensor<?x32xf32>, tensor<16x32xf32>, tensor<16x64x32xf32>,
            tensor<16x64x32xf32>, tensor<16x32x64xf32>, tensor<64x32xf32>,
            tensor<64x32xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that expert-choice routing with an ungated GELU FFN and a
// token-choice layer with a capacity limit round-trip.
// CHECK-LABEL: func.func @expert_choice_gelu
// CHECK: experts(up %{{[a-z0-9_]+}}, down %{{[a-z0-9_]+}})
// CHECK-SAME: activation = #moe<activation gelu>
// CHECK-SAME: router = #moe.expert_choice<capacity_factor = 2.0>
func.func @expert_choice_gelu(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                              %u: tensor<4x16x32xf32>,
                              %d: tensor<4x32x16xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(up %u, down %d)
         {router = #moe.expert_choice<capacity_factor = 2.0>,
          activation = #moe<activation gelu>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x32x16xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
// CHECK-LABEL: func.func @capacity_geglu
// CHECK: moe.layer
// CHECK-SAME: activation = #moe<activation geglu>
// CHECK-SAME: capacity = #moe.capacity<factor = 1.25, drop_order = lowest_weight, dropped = input>
func.func @capacity_geglu(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                          %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                          %d: tensor<4x32x16xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 1>, activation = #moe<activation geglu>,
          capacity = #moe.capacity<factor = 1.25, drop_order = lowest_weight,
                                   dropped = input>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that the decomposed stages round-trip: route with a bias, dispatch
// with a capacity, the expert FFN, combine and the shared expert.
// CHECK-LABEL: func.func @stages
// CHECK: %[[W:.*]], %[[IDS:.*]] = moe.route %{{[a-z0-9_]+}} bias(%{{[a-z0-9_]+}}) {routing = #moe.routing<top_k = 2, scoring = sigmoid>}
// CHECK: %[[ROWS:.*]], %[[TOK:.*]], %[[RW:.*]], %[[OFF:.*]] = moe.dispatch %{{[a-z0-9_]+}}, %[[IDS]], %[[W]] {capacity = #moe.capacity<factor = 1.5>}
// CHECK: %[[OUT:.*]] = moe.expert_mlp swiglu %[[ROWS]] offsets(%[[OFF]]) weights(gate %{{[a-z0-9_]+}}, up %{{[a-z0-9_]+}}, down %{{[a-z0-9_]+}})
// CHECK: %[[Y:.*]] = moe.combine %[[OUT]] tokens(%[[TOK]]) weights(%[[RW]]) offsets(%[[OFF]]) input(%{{[a-z0-9_]+}})
// CHECK: moe.shared_mlp swiglu %{{[a-z0-9_]+}} weights(gate %{{[a-z0-9_]+}}, up %{{[a-z0-9_]+}}, down %{{[a-z0-9_]+}}) sigmoid_gate(%{{[a-z0-9_]+}})
func.func @stages(%x: tensor<?x32xf32>, %l: tensor<?x8xf32>, %b: tensor<8xf32>,
                  %g: tensor<8x16x32xf32>, %u: tensor<8x16x32xf32>,
                  %d: tensor<8x32x16xf32>, %sg: tensor<16x32xf32>,
                  %su: tensor<16x32xf32>, %sd: tensor<32x16xf32>,
                  %seg: tensor<1x32xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %w, %ids = moe.route %l bias(%b) {routing = #moe.routing<top_k = 2, scoring = sigmoid>}
      : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<factor = 1.5>}
      : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d)
      : (tensor<?x32xf32>, tensor<9xi32>, tensor<8x16x32xf32>,
         tensor<8x16x32xf32>, tensor<8x32x16xf32>) -> tensor<?x32xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x)
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>,
         tensor<?x32xf32>) -> tensor<?x32xf32>
  %s = moe.shared_mlp swiglu %x weights(gate %sg, up %su, down %sd) sigmoid_gate(%seg)
      : (tensor<?x32xf32>, tensor<16x32xf32>, tensor<16x32xf32>,
         tensor<32x16xf32>, tensor<1x32xf32>) -> tensor<?x32xf32>
  return %y, %s : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Tests that expert choice, an input-scaled ReLU FFN and an unweighted
// combine that passes dropped slots' input through round-trip.
// CHECK-LABEL: func.func @expert_choice_stages
// CHECK: moe.expert_choice %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} {routing = #moe.expert_choice<capacity_factor = 1.0>}
// CHECK: moe.expert_mlp relu %{{[a-z0-9_]+}} offsets(%{{[a-z0-9_]+}}) weights(up %{{[a-z0-9_]+}}, down %{{[a-z0-9_]+}}) scale(%{{[a-z0-9_]+}})
// CHECK: moe.combine %{{[a-z0-9_]+}} tokens(%{{[a-z0-9_]+}}) offsets(%{{[a-z0-9_]+}}) input(%{{[a-z0-9_]+}}) :
// CHECK: moe.combine %{{[a-z0-9_]+}} tokens(%{{[a-z0-9_]+}}) weights(%{{[a-z0-9_]+}}) offsets(%{{[a-z0-9_]+}}) input(%{{[a-z0-9_]+}}) {dropped = #moe<dropped input>}
func.func @expert_choice_stages(%x: tensor<?x32xf32>, %l: tensor<?x4xf32>,
                                %u: tensor<4x16x32xf32>, %d: tensor<4x32x16xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %rows, %tok, %rw, %off = moe.expert_choice %x, %l
      {routing = #moe.expert_choice<capacity_factor = 1.0>}
      : tensor<?x32xf32>, tensor<?x4xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  %out = moe.expert_mlp relu %rows offsets(%off) weights(up %u, down %d) scale(%rw)
      : (tensor<?x32xf32>, tensor<5xi32>, tensor<4x16x32xf32>,
         tensor<4x32x16xf32>, tensor<?xf32>) -> tensor<?x32xf32>
  %y = moe.combine %out tokens(%tok) offsets(%off) input(%x)
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x32xf32>)
      -> tensor<?x32xf32>
  %z = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x)
      {dropped = #moe<dropped input>}
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>,
         tensor<?x32xf32>) -> tensor<?x32xf32>
  return %y, %z : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Tests that rank-limited routing (DeepSeek-V2 device-limited) round-trips
// with its bracketed rank map, on moe.route and moe.layer, and that an
// explicitly empty map reads as no map.
// CHECK-LABEL: func.func @rank_limited
// CHECK: moe.route %{{[a-z0-9_]+}} {routing = #moe.routing<top_k = 3, group_score = top2_sum, rank_limit = 2, expert_ranks = [0, 1, 2, 3, 0, 1, 2, 3]>}
// CHECK: moe.route %{{[a-z0-9_]+}} {routing = #moe.routing<top_k = 2>}
// CHECK: moe.layer
// CHECK-SAME: router = #moe.routing<top_k = 2, renormalize = true, rank_limit = 1, expert_ranks = [1, 0, 1, 0]>
// GENERIC-LABEL: sym_name = "rank_limited"
// GENERIC: "moe.route"(%{{.*}}) <{operandSegmentSizes = array<i32: 1, 0, 0, 0, 0>, routing = #moe.routing<top_k = 3, group_score = top2_sum, rank_limit = 2, expert_ranks = [0, 1, 2, 3, 0, 1, 2, 3]>
func.func @rank_limited(%l: tensor<?x8xf32>, %x: tensor<?x8xf32>,
    %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>,
    %d: tensor<4x8x16xf32>)
    -> (tensor<?x3xi32>, tensor<?x2xi32>, tensor<?x8xf32>) {
  %w, %ids = moe.route %l
      {routing = #moe.routing<top_k = 3, group_score = top2_sum, rank_limit = 2,
                              expert_ranks = [0, 1, 2, 3, 0, 1, 2, 3]>}
      : tensor<?x8xf32> -> tensor<?x3xf32>, tensor<?x3xi32>
  %w2, %ids2 = moe.route %l {routing = #moe.routing<top_k = 2, expert_ranks = []>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
      {router = #moe.routing<top_k = 2, renormalize = true, rank_limit = 1,
                             expert_ranks = [1, 0, 1, 0]>}
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %ids, %ids2, %y : tensor<?x3xi32>, tensor<?x2xi32>, tensor<?x8xf32>
}

// -----

// Tests that the expert-parallel exchange, in its blocking and async forms,
// and routing statistics round-trip.
// CHECK-LABEL: func.func @exchange_and_stats
// CHECK: moe.all_to_all %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} : tensor<?x32xf32>, tensor<4x2xi32>
// CHECK: %[[H:.*]] = moe.all_to_all_start %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} : !moe.exchange<tensor<?x32xf32>, tensor<4x2xi32>>
// CHECK: moe.all_to_all_wait %[[H]] : !moe.exchange<tensor<?x32xf32>, tensor<4x2xi32>>
// CHECK: moe.routing_stats %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} sigmoid {weight_range = 2.500000e+00 : f64} : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<8xi64>, tensor<20xi64>
func.func @exchange_and_stats(%rows: tensor<?x32xf32>, %counts: tensor<4x2xi32>,
                              %l: tensor<?x8xf32>, %ids: tensor<?x2xi32>,
                              %w: tensor<?x2xf32>)
    -> (tensor<?x32xf32>, tensor<4x2xi32>, tensor<?x32xf32>, tensor<8xi64>, f32,
        tensor<20xi64>) {
  %r, %c = moe.all_to_all %rows, %counts : tensor<?x32xf32>, tensor<4x2xi32>
  %h = moe.all_to_all_start %r, %c : !moe.exchange<tensor<?x32xf32>, tensor<4x2xi32>>
  %r2, %c2 = moe.all_to_all_wait %h : !moe.exchange<tensor<?x32xf32>, tensor<4x2xi32>>
  %load, %ent, %max, %conf, %aux, %hist = moe.routing_stats %l, %ids, %w sigmoid
      {weight_range = 2.5 : f64}
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<8xi64>, tensor<20xi64>
  return %r2, %c2, %r, %load, %aux, %hist : tensor<?x32xf32>, tensor<4x2xi32>, tensor<?x32xf32>, tensor<8xi64>, f32, tensor<20xi64>
}


// -----

// Tests that float parameters print in their shortest exact form and read
// back to the same value.
// CHECK-LABEL: func.func @float_parameters
// CHECK: moe.route %{{[a-z0-9_]+}} {routing = #moe.routing<top_k = 1, scaling_factor = 0.1>}
// CHECK: moe.route %{{[a-z0-9_]+}} {routing = #moe.routing<top_k = 1, scaling_factor = 1.0e-07>}
// CHECK: moe.route %{{[a-z0-9_]+}} {routing = #moe.routing<top_k = 1, scaling_factor = 3.0>}
func.func @float_parameters(%l: tensor<?x4xf32>) {
  %w0, %i0 = moe.route %l {routing = #moe.routing<top_k = 1, scaling_factor = 0.1>}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %w1, %i1 = moe.route %l {routing = #moe.routing<top_k = 1, scaling_factor = 0.0000001>}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %w2, %i2 = moe.route %l {routing = #moe.routing<top_k = 1, scaling_factor = 3.0>}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that the fused experts round-trip, with and without a shared
// expert and with the weight on the expert input.
// CHECK-LABEL: func.func @fused_experts
// CHECK: moe.fused_experts swiglu %{{[a-z0-9_]+}} tokens(%{{[a-z0-9_]+}}) weights(%{{[a-z0-9_]+}}) offsets(%{{[a-z0-9_]+}}) experts(gate %{{[a-z0-9_]+}}, up %{{[a-z0-9_]+}}, down %{{[a-z0-9_]+}}) shared(gate %{{[a-z0-9_]+}}, up %{{[a-z0-9_]+}}, down %{{[a-z0-9_]+}}) :
// CHECK: moe.fused_experts relu %{{[a-z0-9_]+}} tokens(%{{[a-z0-9_]+}}) weights(%{{[a-z0-9_]+}}) offsets(%{{[a-z0-9_]+}}) experts(up %{{[a-z0-9_]+}}, down %{{[a-z0-9_]+}}) {scale_expert_input} :
// GENERIC-LABEL: sym_name = "fused_experts"
// GENERIC: "moe.fused_experts"
// GENERIC-SAME: operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0>
func.func @fused_experts(%x: tensor<?x32xf32>, %tok: tensor<?xi32>, %w: tensor<?xf32>,
                         %off: tensor<9xi32>, %g: tensor<8x16x32xf32>,
                         %u: tensor<8x16x32xf32>, %d: tensor<8x32x16xf32>,
                         %sg: tensor<24x32xf32>, %su: tensor<24x32xf32>,
                         %sd: tensor<32x24xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %y = moe.fused_experts swiglu %x tokens(%tok) weights(%w) offsets(%off)
      experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd)
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>,
         tensor<8x16x32xf32>, tensor<8x16x32xf32>, tensor<8x32x16xf32>,
         tensor<24x32xf32>, tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  %z = moe.fused_experts relu %x tokens(%tok) weights(%w) offsets(%off)
      experts(up %u, down %d) {scale_expert_input}
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>,
         tensor<8x16x32xf32>, tensor<8x32x16xf32>) -> tensor<?x32xf32>
  return %y, %z : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Tests that the worker count round-trips.
// CHECK-LABEL: func.func @num_workers
// CHECK: %[[N:.*]] = moe.num_workers
// CHECK: return %[[N]] : index
// GENERIC: sym_name = "num_workers"
// GENERIC: "moe.num_workers"() : () -> index
func.func @num_workers() -> index {
  %n = moe.num_workers
  return %n : index
}

// -----

// Tests that the transformers activations beyond SwiGLU round-trip: the
// ungated relu2 (with an ungated shared expert), gelu_tanh and silu, and the
// gated geglu_tanh.
// CHECK-LABEL: func.func @transformers_activations
// CHECK: moe.layer
// CHECK-SAME: activation = #moe<activation relu2>
// CHECK: moe.expert_mlp gelu_tanh %{{[a-z0-9_]+}} offsets(%{{[a-z0-9_]+}}) weights(up
// CHECK: moe.expert_mlp silu %{{[a-z0-9_]+}} offsets(%{{[a-z0-9_]+}}) weights(up
// CHECK: moe.shared_mlp geglu_tanh %{{[a-z0-9_]+}} weights(gate
func.func @transformers_activations(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                                    %off: tensor<5xi32>,
                                    %u: tensor<4x16x32xf32>, %d: tensor<4x32x16xf32>,
                                    %sg: tensor<24x32xf32>, %su: tensor<24x32xf32>,
                                    %sd: tensor<32x24xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %y = moe.layer %x router(%wg) experts(up %u, down %d) shared(up %su, down %sd)
         {router = #moe.routing<top_k = 2>, activation = #moe<activation relu2>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x32x16xf32>, tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  %a = moe.expert_mlp gelu_tanh %x offsets(%off) weights(up %u, down %d)
      : (tensor<?x32xf32>, tensor<5xi32>, tensor<4x16x32xf32>,
         tensor<4x32x16xf32>) -> tensor<?x32xf32>
  %b = moe.expert_mlp silu %x offsets(%off) weights(up %u, down %d)
      : (tensor<?x32xf32>, tensor<5xi32>, tensor<4x16x32xf32>,
         tensor<4x32x16xf32>) -> tensor<?x32xf32>
  %c = moe.shared_mlp geglu_tanh %x weights(gate %sg, up %su, down %sd)
      : (tensor<?x32xf32>, tensor<24x32xf32>, tensor<24x32xf32>,
         tensor<32x24xf32>) -> tensor<?x32xf32>
  return %y, %a, %b, %c : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Tests that GPT-OSS's clamped SwiGLU and its #moe.glu_clamp round-trip on
// the layer, the expert and shared FFNs and the fused op; alpha defaults
// to 1.702 and is then not printed.
// CHECK-LABEL: func.func @clamped_swiglu
// CHECK: moe.layer
// CHECK-SAME: activation = #moe<activation clamped_swiglu>
// CHECK-SAME: glu_clamp = #moe.glu_clamp<limit = 7.0>
// CHECK: moe.expert_mlp clamped_swiglu
// CHECK-SAME: {glu_clamp = #moe.glu_clamp<alpha = 1.5, limit = 0.25>}
// CHECK: moe.shared_mlp clamped_swiglu
// CHECK-SAME: {glu_clamp = #moe.glu_clamp<limit = 7.0>}
// CHECK: moe.fused_experts clamped_swiglu
// CHECK-SAME: {glu_clamp = #moe.glu_clamp<limit = 7.0>}
func.func @clamped_swiglu(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                          %tok: tensor<?xi32>, %w: tensor<?xf32>, %off: tensor<5xi32>,
                          %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                          %d: tensor<4x32x16xf32>, %sg: tensor<24x32xf32>,
                          %su: tensor<24x32xf32>, %sd: tensor<32x24xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 2>, activation = #moe<activation clamped_swiglu>,
          glu_clamp = #moe.glu_clamp<limit = 7.0>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>) -> tensor<?x32xf32>
  %a = moe.expert_mlp clamped_swiglu %x offsets(%off) weights(gate %g, up %u, down %d)
      {glu_clamp = #moe.glu_clamp<alpha = 1.5, limit = 0.25>}
      : (tensor<?x32xf32>, tensor<5xi32>, tensor<4x16x32xf32>, tensor<4x16x32xf32>,
         tensor<4x32x16xf32>) -> tensor<?x32xf32>
  %b = moe.shared_mlp clamped_swiglu %x weights(gate %sg, up %su, down %sd)
      {glu_clamp = #moe.glu_clamp<alpha = 1.702, limit = 7.0>}
      : (tensor<?x32xf32>, tensor<24x32xf32>, tensor<24x32xf32>,
         tensor<32x24xf32>) -> tensor<?x32xf32>
  %c = moe.fused_experts clamped_swiglu %x tokens(%tok) weights(%w) offsets(%off)
      experts(gate %g, up %u, down %d) {glu_clamp = #moe.glu_clamp<limit = 7.0>}
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>,
         tensor<4x16x32xf32>, tensor<4x16x32xf32>, tensor<4x32x16xf32>) -> tensor<?x32xf32>
  return %y, %a, %b, %c : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Tests that the other clamped SwiGLU forms (GLM-5's clamp_gate, Step-3.7's
// clamp_silu) and a shared expert's own activation round-trip; form
// gpt_oss is the default and is not printed.
// CHECK-LABEL: func.func @glu_clamp_forms
// CHECK: moe.layer
// CHECK-SAME: glu_clamp = #moe.glu_clamp<limit = 1.0, form = clamp_gate>
// CHECK-SAME: shared_activation = #moe<activation swiglu>
// CHECK: moe.layer
// CHECK-SAME: glu_clamp = #moe.glu_clamp<limit = 1.0, form = clamp_silu>
// CHECK-SAME: shared_activation = #moe<activation clamped_swiglu>
// CHECK-SAME: shared_glu_clamp = #moe.glu_clamp<limit = 0.5, form = clamp_silu>
// CHECK: moe.shared_mlp clamped_swiglu
// CHECK-SAME: {glu_clamp = #moe.glu_clamp<limit = 7.0>}
func.func @glu_clamp_forms(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                           %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                           %d: tensor<4x32x16xf32>, %sg: tensor<24x32xf32>,
                           %su: tensor<24x32xf32>, %sd: tensor<32x24xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 2>, activation = #moe<activation clamped_swiglu>,
          glu_clamp = #moe.glu_clamp<limit = 1.0, form = clamp_gate>,
          shared_activation = #moe<activation swiglu>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<24x32xf32>,
            tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  %z = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 2>, activation = #moe<activation clamped_swiglu>,
          glu_clamp = #moe.glu_clamp<limit = 1.0, form = clamp_silu>,
          shared_activation = #moe<activation clamped_swiglu>,
          shared_glu_clamp = #moe.glu_clamp<limit = 0.5, form = clamp_silu>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<24x32xf32>,
            tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  %s = moe.shared_mlp clamped_swiglu %x weights(gate %sg, up %su, down %sd)
      {glu_clamp = #moe.glu_clamp<limit = 7.0, form = gpt_oss>}
      : (tensor<?x32xf32>, tensor<24x32xf32>, tensor<24x32xf32>,
         tensor<32x24xf32>) -> tensor<?x32xf32>
  return %y, %z, %s : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Tests that shared_combine round-trips in both spellings.
// CHECK-LABEL: func.func @shared_combine
// CHECK: moe.layer
// CHECK-SAME: shared_combine = #moe<shared_combine average>
// CHECK: moe.layer
// CHECK-SAME: shared_combine = #moe<shared_combine sum>
func.func @shared_combine(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                          %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                          %d: tensor<4x32x16xf32>, %sg: tensor<24x32xf32>,
                          %su: tensor<24x32xf32>, %sd: tensor<32x24xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 2>, shared_combine = #moe<shared_combine average>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<24x32xf32>,
            tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  %z = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 2>, shared_combine = #moe<shared_combine sum>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<24x32xf32>,
            tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  return %y, %z : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Tests that moe.layer's norms round-trip, all five and a subset, in
// operand order, with their epsilon.
// CHECK-LABEL: func.func @layer_norms
// CHECK: moe.layer %{{.*}} shared(gate %{{.*}}, up %{{.*}}, down %{{.*}}) norms(expert_input %{{.*}}, expert_output %{{.*}}, shared_input %{{.*}}, shared_output %{{.*}}, output %{{.*}}) {{{.*}}norm_epsilon = 9.9999999999999995E-7
// CHECK: moe.layer %{{.*}} experts(gate %{{.*}}, up %{{.*}}, down %{{.*}}) norms(expert_input %{{.*}}, output %{{.*}}) {
// GENERIC-LABEL: sym_name = "layer_norms"
// GENERIC: "moe.layer"
// GENERIC-SAME: operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1>
func.func @layer_norms(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                       %g: tensor<4x16x32xf32>, %u: tensor<4x16x32xf32>,
                       %d: tensor<4x32x16xf32>, %sg: tensor<24x32xf32>,
                       %su: tensor<24x32xf32>, %sd: tensor<32x24xf32>,
                       %n1: tensor<32xf32>, %n2: tensor<32xf32>, %n3: tensor<32xf32>,
                       %n4: tensor<32xf32>, %n5: tensor<32xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         norms(expert_input %n1, expert_output %n2, shared_input %n3, shared_output %n4, output %n5)
         {router = #moe.routing<top_k = 2>, norm_epsilon = 1.0e-06}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<24x32xf32>,
            tensor<24x32xf32>, tensor<32x24xf32>, tensor<32xf32>, tensor<32xf32>,
            tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  %z = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         norms(expert_input %n1, output %n5)
         {router = #moe.routing<top_k = 2>, norm_epsilon = 1.0e-05}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x16x32xf32>, tensor<4x32x16xf32>, tensor<32xf32>,
            tensor<32xf32>) -> tensor<?x32xf32>
  return %y, %z : tensor<?x32xf32>, tensor<?x32xf32>
}
// -----

// Tests that a LongCat-Flash layer with zero (identity) experts round-trips:
// the router and its correction bias cover E + Z = 6 ids, the expert
// weights the E = 4 real experts.
// CHECK-LABEL: func.func @longcat_zero_experts
// CHECK: moe.layer %{{[^ ]*}} router(%{{[^,]*}}, bias %{{[^)]*}}) experts(gate
// CHECK-SAME: {router = #moe.routing<top_k = 3, scaling_factor = 6.0>, zero_experts = 2 : i64}
// GENERIC-LABEL: sym_name = "longcat_zero_experts"
// GENERIC: "moe.layer"
// GENERIC-SAME: zero_experts = 2 : i64
func.func @longcat_zero_experts(%x: tensor<?x64xf32>, %wg: tensor<6x64xf32>,
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

// -----

// Tests that a dispatch routing to zero experts and fused experts passing
// dropped rows' input through round-trip.
// CHECK-LABEL: func.func @zero_expert_dispatch
// CHECK: moe.dispatch %{{.*}}, %{{.*}}, %{{.*}} {zero_experts = 2 : i64}
// CHECK: moe.fused_experts swiglu
// CHECK-SAME: dropped = #moe<dropped input>
func.func @zero_expert_dispatch(%x: tensor<?x64xf32>, %ids: tensor<?x3xi32>,
                                %w: tensor<?x3xf32>, %g: tensor<4x128x64xf32>,
                                %u: tensor<4x128x64xf32>,
                                %d: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w {zero_experts = 2}
      : tensor<?x64xf32>, tensor<?x3xi32>, tensor<?x3xf32>
      -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  %y = moe.fused_experts swiglu %x tokens(%tok) weights(%rw) offsets(%off)
      experts(gate %g, up %u, down %d) {dropped = #moe<dropped input>}
      : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>,
         tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>)
      -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
