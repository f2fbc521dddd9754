func.func @trivial_groups(%l: tensor<?x8xf32>) -> (tensor<?x2xi32>, tensor<?x2xi32>) {
  %w, %ids = moe.route %l
      {routing = #moe.routing<top_k = 2, scoring = sigmoid, n_group = 4, topk_group = 4, group_score = top2_sum>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w2, %ids2 = moe.route %l
      {routing = #moe.routing<top_k = 2, n_group = 4, topk_group = 2, group_score = top2_sum>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %ids, %ids2 : tensor<?x2xi32>, tensor<?x2xi32>
}
func.func @trivial_groups_layer(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
    %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>)
    -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
      {router = #moe.routing<top_k = 2, renormalize = true, n_group = 2, topk_group = 2>}
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
