func.func @llama4(%x: tensor<?x32xf32>, %wg: tensor<16x32xf32>,
                  %g: tensor<16x64x32xf32>, %u: tensor<16x64x32xf32>,
                  %d: tensor<16x32x64xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 1, scoring = sigmoid, select_on = logits>,
          scale_expert_input}
         : (tensor<?x32xf32>, tensor<16x32xf32>, tensor<16x64x32xf32>,
            tensor<16x64x32xf32>, tensor<16x32x64xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
func.func @qwen2_moe(%x: tensor<?x32xf32>, %wg: tensor<8x32xf32>,
                     %g: tensor<8x16x32xf32>, %u: tensor<8x16x32xf32>,
                     %d: tensor<8x32x16xf32>, %sg: tensor<64x32xf32>,
                     %su: tensor<64x32xf32>, %sd: tensor<32x64xf32>,
                     %seg: tensor<1x32xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd, sigmoid_gate %seg)
         {router = #moe.routing<top_k = 4>}
         : (tensor<?x32xf32>, tensor<8x32xf32>, tensor<8x16x32xf32>,
            tensor<8x16x32xf32>, tensor<8x32x16xf32>, tensor<64x32xf32>,
            tensor<64x32xf32>, tensor<32x64xf32>, tensor<1x32xf32>)
         -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
