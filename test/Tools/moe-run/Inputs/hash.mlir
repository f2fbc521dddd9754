// A tiny layer routed by token id for the moe-run tests (DeepSeek-V4's
// hash layers): hidden 8, 4 experts, top-2 from a table of 16 token ids,
// sigmoid scores renormalised and scaled.
func.func @hash(
    %x: tensor<?x8xf32>,
    %ids: tensor<?xi32>,
    %gate: tensor<4x8xf32> {moe.weight = "model.layers.0.ffn.gate.weight"},
    %table: tensor<16x2xi32> {moe.weight = "model.layers.0.ffn.gate.tid2eid"},
    %w1: tensor<4x6x8xf32> {moe.weight = "model.layers.0.ffn.experts.{e}.w1.weight"},
    %w3: tensor<4x6x8xf32> {moe.weight = "model.layers.0.ffn.experts.{e}.w3.weight"},
    %w2: tensor<4x8x6xf32> {moe.weight = "model.layers.0.ffn.experts.{e}.w2.weight"})
    -> tensor<?x8xf32> {
  %y = moe.layer %x router(%gate) table(%table) token_ids(%ids)
         experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, scoring = sigmoid, renormalize = true, scaling_factor = 1.5>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<16x2xi32>, tensor<?xi32>,
            tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
