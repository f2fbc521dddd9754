func.func @bf16_static(%x: tensor<5x32xbf16>, %wg: tensor<8x32xbf16>,
                       %g: tensor<8x16x32xbf16>, %u: tensor<8x16x32xbf16>,
                       %d: tensor<8x32x16xbf16>) -> tensor<5x32xbf16> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 2>}
         : (tensor<5x32xbf16>, tensor<8x32xbf16>, tensor<8x16x32xbf16>,
            tensor<8x16x32xbf16>, tensor<8x32x16xbf16>) -> tensor<5x32xbf16>
  return %y : tensor<5x32xbf16>
}
