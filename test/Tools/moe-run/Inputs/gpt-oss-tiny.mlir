// A tiny layer on GPT-OSS's expert tensors: gate_up_proj [E, H, 2F] holds
// gate and up interleaved along its last dimension (gate = [..., 0::2],
// up = [..., 1::2]: strided slices), down_proj is [E, F, H]; both are used
// transposed. Hidden 160 (five MXFP4 blocks of 32; FP8 blocks of 128 and a
// partial one), 4 experts, intermediate 32, top-2.
func.func @gptoss(
    %x: tensor<?x160xf32>,
    %gate: tensor<4x160xf32> {moe.weight = "model.layers.0.mlp.router.weight"},
    %w1: tensor<4x32x160xf32> {moe.weight = "model.layers.0.mlp.experts.gate_up_proj",
        moe.weight_source_shape = array<i64: 4, 160, 64>,
        moe.weight_slice = array<i64: 2, 0, 32, 2>,
        moe.weight_transpose = array<i64: 0, 2, 1>},
    %w3: tensor<4x32x160xf32> {moe.weight = "model.layers.0.mlp.experts.gate_up_proj",
        moe.weight_source_shape = array<i64: 4, 160, 64>,
        moe.weight_slice = array<i64: 2, 1, 32, 2>,
        moe.weight_transpose = array<i64: 0, 2, 1>},
    %w2: tensor<4x160x32xf32> {moe.weight = "model.layers.0.mlp.experts.down_proj",
        moe.weight_source_shape = array<i64: 4, 32, 160>,
        moe.weight_transpose = array<i64: 0, 2, 1>})
    -> tensor<?x160xf32> {
  %y = moe.layer %x router(%gate) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, renormalize = true>}
         : (tensor<?x160xf32>, tensor<4x160xf32>, tensor<4x32x160xf32>,
            tensor<4x32x160xf32>, tensor<4x160x32xf32>) -> tensor<?x160xf32>
  return %y : tensor<?x160xf32>
}
