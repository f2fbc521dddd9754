// A Mixtral-style MoE block (layer 0) at toy size: hidden 64, 8 experts of
// FFN width 128, softmax top-2 with renormalisation, SwiGLU experts.
// Weights are arguments in the checkpoint's [out, in] layout, bound by their
// Hugging Face names (`moe.weight`; "{e}" is the expert index, and those
// per-expert tensors are stacked): w1 (gate) and w3 (up) [E,F,H], w2 (down)
// [E,H,F].
func.func @mixtral_layer0(
    %hidden_states: tensor<?x64xf32>,
    %gate: tensor<8x64xf32> {moe.weight = "model.layers.0.block_sparse_moe.gate.weight"},
    %w1: tensor<8x128x64xf32> {moe.weight = "model.layers.0.block_sparse_moe.experts.{e}.w1.weight"},
    %w3: tensor<8x128x64xf32> {moe.weight = "model.layers.0.block_sparse_moe.experts.{e}.w3.weight"},
    %w2: tensor<8x64x128xf32> {moe.weight = "model.layers.0.block_sparse_moe.experts.{e}.w2.weight"})
    -> tensor<?x64xf32> {
  %out = moe.layer %hidden_states router(%gate) experts(gate %w1, up %w3, down %w2)
           {router = #moe.routing<top_k = 2, renormalize = true>}
           : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
              tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}
