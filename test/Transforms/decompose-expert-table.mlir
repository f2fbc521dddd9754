// RUN: moe-opt %s -moe-decompose | FileCheck %s

// Tests that a layer routed by token id hands its table and token ids to
// moe.route, the rest of the decomposition unchanged.
// CHECK-LABEL: func.func @hash_layer
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[WG:.*]]: tensor<4x8xf32>, %[[TABLE:.*]]: tensor<32x2xi32>, %[[IDS:.*]]: tensor<?xi32>
// CHECK: %[[L:.*]] = linalg.matmul
// CHECK: %[[W:.*]], %[[E:.*]] = moe.route %[[L]] table(%[[TABLE]] : tensor<32x2xi32>) token_ids(%[[IDS]] : tensor<?xi32>) {routing = #moe.routing<top_k = 2, scoring = sigmoid, renormalize = true, scaling_factor = 1.5>}
// CHECK: moe.dispatch %[[X]], %[[E]], %[[W]]
// CHECK-NOT: moe.layer
func.func @hash_layer(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
                      %table: tensor<32x2xi32>, %ids: tensor<?xi32>,
                      %w1: tensor<4x6x8xf32>, %w3: tensor<4x6x8xf32>,
                      %w2: tensor<4x8x6xf32>) -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) table(%table) token_ids(%ids)
         experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, scoring = sigmoid, renormalize = true, scaling_factor = 1.5>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<32x2xi32>, tensor<?xi32>,
            tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
