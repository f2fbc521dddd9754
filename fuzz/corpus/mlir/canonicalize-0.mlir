func.func @unreachable_capacity(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
    %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>)
    -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
      {router = #moe.routing<top_k = 2>, capacity = #moe.capacity<factor = 2.0>}
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
func.func @binding_capacity(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
    %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>)
    -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
      {router = #moe.routing<top_k = 2>, capacity = #moe.capacity<factor = 1.5>}
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
