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
func.func @qwen2_moe(%x: tensor<?x32xf32>, %wg: tensor<8x32xbf16>,
                     %g: tensor<8x16x32xbf16>, %u: tensor<8x16x32xbf16>,
                     %d: tensor<8x32x16xbf16>, %sg: tensor<64x32xbf16>,
                     %su: tensor<64x32xbf16>, %sd: tensor<32x64xbf16>,
                     %seg: tensor<1x32xbf16>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd, sigmoid_gate %seg)
         {router = #moe.routing<top_k = 4>}
         : (tensor<?x32xf32>, tensor<8x32xbf16>, tensor<8x16x32xbf16>,
            tensor<8x16x32xbf16>, tensor<8x32x16xbf16>, tensor<64x32xbf16>,
            tensor<64x32xbf16>, tensor<32x64xbf16>, tensor<1x32xbf16>)
         -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
