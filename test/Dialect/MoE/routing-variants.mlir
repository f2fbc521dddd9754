// RUN: moe-opt %s -split-input-file | moe-opt -split-input-file | FileCheck %s
// RUN: moe-opt %s -split-input-file -mlir-print-op-generic | moe-opt -split-input-file | FileCheck %s

// The routing variants of the transformers MoE families: scorings, weights,
// renormalisation, the router's bias, input normalisation and expert scale.

// Tests that DeepSeek-V4's sqrtsoftplus scoring round-trips.
// CHECK-LABEL: func.func @sqrtsoftplus
// CHECK: routing = #moe.routing<top_k = 2, scoring = sqrtsoftplus, renormalize = true, scaling_factor = 1.5>
func.func @sqrtsoftplus(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, scoring = sqrtsoftplus, renormalize = true, scaling_factor = 1.5>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}

// -----

// Tests that GPT-OSS's weights (softmax of the selected logits) round-trip.
// CHECK-LABEL: func.func @softmax_selected
// CHECK: routing = #moe.routing<top_k = 4, select_on = logits, weights = softmax_selected>
func.func @softmax_selected(%l: tensor<?x8xf32>) -> tensor<?x4xf32> {
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 4, select_on = logits, weights = softmax_selected>}
      : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return %w : tensor<?x4xf32>
}

// -----

// Tests that the renormalisation variants round-trip (DBRX's p-norm without
// epsilon, Ernie 4.5's clamp), and that their defaults are elided.
// CHECK-LABEL: func.func @renorm
// CHECK: routing = #moe.routing<top_k = 2, renormalize = true, renorm_p = 2.0, renorm_epsilon = 0.0>
// CHECK: routing = #moe.routing<top_k = 2, renormalize = true, renorm_epsilon = 1.0e-12, renorm_clamp = true>
// CHECK: routing = #moe.routing<top_k = 2, renormalize = true>}
func.func @renorm(%l: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>) {
  %w0, %i0 = moe.route %l {routing = #moe.routing<top_k = 2, renormalize = true, renorm_p = 2.0, renorm_epsilon = 0.0>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w1, %i1 = moe.route %l {routing = #moe.routing<top_k = 2, renormalize = true, renorm_epsilon = 1.0e-12, renorm_clamp = true>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w2, %i2 = moe.route %l {routing = #moe.routing<top_k = 2, renormalize = true, renorm_p = 1.0, renorm_epsilon = 1.0e-20, renorm_clamp = false>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w0, %w1, %w2 : tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x2xf32>
}

// -----

// Tests that PhiMoE's sparsemixer round-trips.
// CHECK-LABEL: func.func @sparsemixer
// CHECK: routing = #moe.routing<top_k = 2, scoring = sparsemixer, select_on = logits, jitter_eps = 0.01>
func.func @sparsemixer(%l: tensor<?x16xf32>) -> tensor<?x2xf32> {
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, scoring = sparsemixer, select_on = logits, jitter_eps = 0.01>}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}

// -----

// Tests that moe.route's expert scale round-trips, alone and with a
// correction bias.
// CHECK-LABEL: func.func @route_expert_scale
// CHECK-SAME: (%[[L:.*]]: tensor<?x8xf32>, %[[B:.*]]: tensor<8xf32>, %[[S:.*]]: tensor<8xf32>)
// CHECK: moe.route %[[L]] expert_scale(%[[S]] : tensor<8xf32>) {routing = #moe.routing<top_k = 2, renormalize = true>} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
// CHECK: moe.route %[[L]] bias(%[[B]]) expert_scale(%[[S]] : tensor<8xf32>) {routing = #moe.routing<top_k = 2, scoring = sigmoid>} : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
func.func @route_expert_scale(%l: tensor<?x8xf32>, %b: tensor<8xf32>, %s: tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
  %w0, %i0 = moe.route %l expert_scale(%s : tensor<8xf32>) {routing = #moe.routing<top_k = 2, renormalize = true>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w1, %i1 = moe.route %l bias(%b) expert_scale(%s : tensor<8xf32>) {routing = #moe.routing<top_k = 2, scoring = sigmoid>}
      : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w0, %w1 : tensor<?x2xf32>, tensor<?x2xf32>
}

// -----

// Tests that a GPT-OSS-style layer (router bias) round-trips.
// CHECK-LABEL: func.func @gpt_oss
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[WG:.*]]: tensor<8x64xf32>, %[[RB:.*]]: tensor<8xf32>,
// CHECK: moe.layer %[[X]] router(%[[WG]], router_bias %[[RB]]) experts(
// CHECK-SAME: router = #moe.routing<top_k = 2, select_on = logits, weights = softmax_selected>
func.func @gpt_oss(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>, %rb: tensor<8xf32>,
                   %w1: tensor<8x128x64xf32>, %w3: tensor<8x128x64xf32>,
                   %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg, router_bias %rb) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, select_on = logits, weights = softmax_selected>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8xf32>, tensor<8x128x64xf32>,
            tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that a Gemma 4-style layer round-trips: router input normalisation
// with its scale, expert scale; and every router operand together, in
// order.
// CHECK-LABEL: func.func @gemma4
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[WG:.*]]: tensor<8x64xf32>, %[[IS:.*]]: tensor<64xf32>, %[[ES:.*]]: tensor<8xf32>,
// CHECK: moe.layer %[[X]] router(%[[WG]], input_scale %[[IS]], expert_scale %[[ES]]) experts(
// CHECK-SAME: router_input_norm = #moe.router_input_norm<epsilon = 1.0e-06, multiplier = 0.125>
// CHECK-LABEL: func.func @all_router_operands
// CHECK: router(%{{[a-z0-9]+}}, bias %{{[a-z0-9]+}}, router_bias %{{[a-z0-9]+}}, input_scale %{{[a-z0-9]+}}, expert_scale %{{[a-z0-9]+}})
// CHECK-SAME: router_input_norm = #moe.router_input_norm<epsilon = 0.0>
func.func @gemma4(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>, %is: tensor<64xf32>,
                  %es: tensor<8xf32>, %w1: tensor<8x128x64xf32>,
                  %w3: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg, input_scale %is, expert_scale %es) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, renormalize = true>,
          activation = #moe<activation geglu>,
          router_input_norm = #moe.router_input_norm<epsilon = 1.0e-6, multiplier = 0.125>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<64xf32>, tensor<8xf32>,
            tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

func.func @all_router_operands(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>, %b: tensor<8xf32>,
                  %rb: tensor<8xf32>, %is: tensor<64xf32>, %es: tensor<8xf32>,
                  %w1: tensor<8x128x64xf32>, %w3: tensor<8x128x64xf32>,
                  %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg, bias %b, router_bias %rb, input_scale %is, expert_scale %es)
         experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, scoring = sigmoid>,
          router_input_norm = #moe.router_input_norm<epsilon = 0.0>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8xf32>, tensor<8xf32>, tensor<64xf32>,
            tensor<8xf32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
