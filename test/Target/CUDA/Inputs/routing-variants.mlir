// Layers using every routing variant of the transformers MoE families, at
// mixtral-tiny's size, for the CUDA pipeline's codegen test.

// GPT-OSS: router bias, top-2 on the logits, softmax of the selected.
func.func @gpt_oss(
    %x: tensor<?x64xf32>,
    %wg: tensor<8x64xf32> {moe.weight = "model.layers.0.mlp.router.weight"},
    %rb: tensor<8xf32> {moe.weight = "model.layers.0.mlp.router.bias"},
    %w1: tensor<8x128x64xf32> {moe.weight = "model.layers.0.mlp.experts.{e}.gate_proj.weight"},
    %w3: tensor<8x128x64xf32> {moe.weight = "model.layers.0.mlp.experts.{e}.up_proj.weight"},
    %w2: tensor<8x64x128xf32> {moe.weight = "model.layers.0.mlp.experts.{e}.down_proj.weight"})
    -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg, router_bias %rb) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, select_on = logits, weights = softmax_selected>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8xf32>, tensor<8x128x64xf32>,
            tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// Gemma 4's router (normalised input, expert scale) with DeepSeek-V4's
// scoring and a clamped 3-norm renormalisation.
func.func @gemma4(
    %x: tensor<?x64xf32>,
    %wg: tensor<8x64xf32> {moe.weight = "model.layers.0.router.proj.weight"},
    %is: tensor<64xf32> {moe.weight = "model.layers.0.router.scale"},
    %es: tensor<8xf32> {moe.weight = "model.layers.0.router.per_expert_scale"},
    %w1: tensor<8x128x64xf32> {moe.weight = "model.layers.0.experts.{e}.gate_proj.weight"},
    %w3: tensor<8x128x64xf32> {moe.weight = "model.layers.0.experts.{e}.up_proj.weight"},
    %w2: tensor<8x64x128xf32> {moe.weight = "model.layers.0.experts.{e}.down_proj.weight"})
    -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg, input_scale %is, expert_scale %es) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, scoring = sqrtsoftplus, renormalize = true,
                                renorm_p = 3.0, renorm_epsilon = 0.5, renorm_clamp = true>,
          router_input_norm = #moe.router_input_norm<epsilon = 1.0e-6, multiplier = 0.125>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<64xf32>, tensor<8xf32>,
            tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// PhiMoE's sparsemixer.
func.func @phimoe(
    %x: tensor<?x64xf32>,
    %wg: tensor<8x64xf32> {moe.weight = "model.layers.0.block_sparse_moe.gate.weight"},
    %w1: tensor<8x128x64xf32> {moe.weight = "model.layers.0.block_sparse_moe.experts.{e}.w1.weight"},
    %w3: tensor<8x128x64xf32> {moe.weight = "model.layers.0.block_sparse_moe.experts.{e}.w3.weight"},
    %w2: tensor<8x64x128xf32> {moe.weight = "model.layers.0.block_sparse_moe.experts.{e}.w2.weight"})
    -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, scoring = sparsemixer, select_on = logits, jitter_eps = 0.01>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
            tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
