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
