func.func @mixtral(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>,
                   %w1: tensor<8x128x64xf32>, %w3: tensor<8x128x64xf32>,
                   %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, renormalize = true>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
            tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
