// RUN: moe-opt %s -split-input-file | moe-opt -split-input-file | FileCheck %s

// Routing by token id (hash layers): the table and the token ids on
// moe.route and moe.layer round-trip.

// Tests that moe.route prints its table and token ids with their types.
// CHECK-LABEL: func.func @route_by_table
// CHECK: moe.route %{{.*}} table(%{{.*}} : tensor<16x2xi32>) token_ids(%{{.*}} : tensor<?xi32>) {routing = #moe.routing<top_k = 2, renormalize = true>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
func.func @route_by_table(%l: tensor<?x4xf32>, %table: tensor<16x2xi32>,
                          %ids: tensor<?xi32>) -> tensor<?x2xi32> {
  %w, %e = moe.route %l table(%table : tensor<16x2xi32>) token_ids(%ids : tensor<?xi32>)
      {routing = #moe.routing<top_k = 2, renormalize = true>}
      : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %e : tensor<?x2xi32>
}

// -----

// Tests that moe.layer prints its table and token ids inside router(...).
// CHECK-LABEL: func.func @layer_by_table
// CHECK: moe.layer %{{.*}} router(%{{.*}}) table(%{{.*}}) token_ids(%{{.*}}) experts(gate %{{.*}}, up %{{.*}}, down %{{.*}}) {router = #moe.routing<top_k = 1, renormalize = true>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<32x1xi32>, tensor<?xi32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
func.func @layer_by_table(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
                          %table: tensor<32x1xi32>, %ids: tensor<?xi32>,
                          %w1: tensor<4x6x8xf32>, %w3: tensor<4x6x8xf32>,
                          %w2: tensor<4x8x6xf32>) -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) table(%table) token_ids(%ids)
         experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 1, renormalize = true>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<32x1xi32>, tensor<?xi32>,
            tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
