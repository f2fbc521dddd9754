// RUN: moe-opt %s -split-input-file -moe-routing-stats-entries | FileCheck %s

// Tests that a token-choice layer gets a statistics entry taking the input,
// the router weight and the bias with their checkpoint names, routing as the
// layer does and packing the load, the four scalars, the weights' range (1
// without a scaling factor) and their 20-bin histogram into E+25 floats.
// CHECK-LABEL: func.func @layer(
// CHECK-LABEL: func.func @layer_routing_stats(
// CHECK-SAME: %[[X:.*]]: tensor<?x16xf32>, %[[WG:.*]]: tensor<8x16xf32> {moe.weight = "gate.weight"}, %[[B:.*]]: tensor<8xf32> {moe.weight = "gate.bias"})
// CHECK-SAME: -> tensor<33xf32> attributes {moe.entry_kind = "routing_stats", moe.stats_of = "layer"}
// CHECK: %[[L:.*]] = linalg.matmul {{.*}} ins(%[[X]], %[[WG]] :
// CHECK: %[[W:.*]], %[[IDS:.*]] = moe.route %[[L]] bias(%[[B]]) {routing = #moe.routing<top_k = 2, scoring = sigmoid, renormalize = true>}
// CHECK: %[[LOAD:.*]], %[[H:.*]], %[[MAX:.*]], %[[CONF:.*]], %[[AUX:.*]], %[[HIST:.*]] = moe.routing_stats %[[L]], %[[IDS]], %[[W]] sigmoid : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<8xi64>, tensor<20xi64>
// CHECK: %[[RANGE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK: tensor.from_elements %[[H]], %[[MAX]], %[[CONF]], %[[AUX]], %[[RANGE]] : tensor<5xf32>
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0] [8] [1] : tensor<8xf32> into tensor<33xf32>
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[8] [5] [1] : tensor<5xf32> into tensor<33xf32>
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[13] [20] [1] : tensor<20xf32> into tensor<33xf32>
func.func @layer(%x: tensor<?x16xf32>, %wg: tensor<8x16xf32> {moe.weight = "gate.weight"},
                 %b: tensor<8xf32> {moe.weight = "gate.bias"},
                 %u: tensor<8x8x16xf32>, %d: tensor<8x16x8xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%wg, bias %b) experts(up %u, down %d)
         {router = #moe.routing<top_k = 2, scoring = sigmoid, renormalize = true>,
          activation = #moe<activation relu>}
         : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x8x16xf32>,
            tensor<8x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that expert choice and private functions get no statistics entry.
// CHECK-LABEL: func.func @expert_choice(
// CHECK-NOT: routing_stats
func.func @expert_choice(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>,
                         %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%wg) experts(up %u, down %d)
         {router = #moe.expert_choice<capacity_factor = 1.0>,
          activation = #moe<activation relu>}
         : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>,
            tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
func.func private @helper(%x: tensor<?x16xf32>, %wg: tensor<4x16xf32>,
                          %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%wg) experts(up %u, down %d)
         {router = #moe.routing<top_k = 1>, activation = #moe<activation relu>}
         : (tensor<?x16xf32>, tensor<4x16xf32>, tensor<4x8x16xf32>,
            tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that the statistics entry computes the layer's logits: it takes the
// router bias and input scale too (the bias the GEMM's initial value, the
// scale that of the normalised input), routes without the expert scale
// (which changes no selection) and, for sparsemixer, reports softmax
// probabilities.
// CHECK-LABEL: func.func @gpt_oss_routing_stats(
// CHECK-SAME: %[[X:.*]]: tensor<?x16xf32>, %[[WG:.*]]: tensor<8x16xf32> {moe.weight = "router.weight"}, %[[RB:.*]]: tensor<8xf32> {moe.weight = "router.bias"}, %[[IS:.*]]: tensor<16xf32> {moe.weight = "router.scale"})
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[X]], %{{.*}}, %[[IS]] :
// CHECK: %[[INIT:.*]] = linalg.broadcast ins(%[[RB]] : tensor<8xf32>)
// CHECK: %[[L:.*]] = linalg.matmul {{.*}} ins(%[[R]], %[[WG]] : {{.*}}) outs(%[[INIT]] :
// CHECK: %{{.*}}, %[[IDS:.*]] = moe.route %[[L]] {routing = #moe.routing<top_k = 2, scoring = sparsemixer, select_on = logits, jitter_eps = 0.01>}
// CHECK: moe.routing_stats %[[L]], %[[IDS]], %{{.*}} softmax
func.func @gpt_oss(%x: tensor<?x16xf32>, %wg: tensor<8x16xf32> {moe.weight = "router.weight"},
                   %rb: tensor<8xf32> {moe.weight = "router.bias"},
                   %is: tensor<16xf32> {moe.weight = "router.scale"},
                   %es: tensor<8xf32> {moe.weight = "router.per_expert_scale"},
                   %u: tensor<8x8x16xf32>, %d: tensor<8x16x8xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%wg, router_bias %rb, input_scale %is, expert_scale %es) experts(up %u, down %d)
         {router = #moe.routing<top_k = 2, scoring = sparsemixer, select_on = logits, jitter_eps = 0.01>,
          router_input_norm = #moe.router_input_norm<epsilon = 1.0e-6>,
          activation = #moe<activation relu>}
         : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<16xf32>, tensor<8xf32>,
            tensor<8x8x16xf32>, tensor<8x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that sqrtsoftplus routing, whose router probabilities
// moe.routing_stats does not define, gets no statistics entry.
// CHECK-LABEL: func.func @deepseek_v4(
// CHECK-NOT: routing_stats
func.func @deepseek_v4(%x: tensor<?x16xf32>, %wg: tensor<8x16xf32>,
                       %u: tensor<8x8x16xf32>, %d: tensor<8x16x8xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%wg) experts(up %u, down %d)
         {router = #moe.routing<top_k = 2, scoring = sqrtsoftplus, renormalize = true>,
          activation = #moe<activation relu>}
         : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8x8x16xf32>,
            tensor<8x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// Tests that a layer routed by token id gets no statistics entry (it would
// need the token ids as an input too).
// CHECK-LABEL: func.func @hash
// CHECK-NOT: func.func @hash_routing_stats
func.func @hash(%x: tensor<?x8xf32>, %ids: tensor<?xi32>,
                %wg: tensor<4x8xf32>, %table: tensor<16x1xi32>,
                %w1: tensor<4x6x8xf32>, %w3: tensor<4x6x8xf32>,
                %w2: tensor<4x8x6xf32>) -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) table(%table) token_ids(%ids)
         experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 1, renormalize = true>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<16x1xi32>, tensor<?xi32>,
            tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that with zero (identity) experts the statistics cover every routed
// id: 4 real + 2 zero experts give a load of 6 and 31 floats; and that the
// weights' histogram spans the scaling factor.
// CHECK-LABEL: func.func @zero_experts_routing_stats(
// CHECK-SAME: -> tensor<31xf32>
// CHECK: moe.routing_stats %{{.*}}, %{{.*}}, %{{.*}} softmax {weight_range = 6.000000e+00 : f64} : tensor<?x6xf32>, tensor<?x3xi32>, tensor<?x3xf32> -> tensor<6xi64>, tensor<20xi64>
// CHECK: arith.constant 6.000000e+00 : f32
func.func @zero_experts(%x: tensor<?x16xf32>, %wg: tensor<6x16xf32> {moe.weight = "router.classifier.weight"},
                        %b: tensor<6xf32> {moe.weight = "router.e_score_correction_bias"},
                        %g: tensor<4x8x16xf32>, %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%wg, bias %b) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 3, scaling_factor = 6.0>, zero_experts = 2}
         : (tensor<?x16xf32>, tensor<6x16xf32>, tensor<6xf32>, tensor<4x8x16xf32>,
            tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
