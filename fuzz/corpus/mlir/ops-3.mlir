func.func @llama4(%x: tensor<?x32xf32>, %wg: tensor<16x32xf32>,
                  %g: tensor<16x64x32xf32>, %u: tensor<16x64x32xf32>,
                  %d: tensor<16x32x64xf32>, %sg: tensor<64x32xf32>,
                  %su: tensor<64x32xf32>, %sd: tensor<32x64xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 1, scoring = sigmoid, select_on = logits>,
          scale_expert_input}
         : (tensor<?x32xf32>, tensor<16x32xf32>, tensor<16x64x32xf32>,
            tensor<16x64x32xf32>, tensor<16x32x64xf32>, tensor<64x32xf32>,
            tensor<64x32xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
