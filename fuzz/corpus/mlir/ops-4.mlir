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
