// A tiny named layer for the moe-run tests: hidden 8, 4 experts, top-2.
func.func @tiny(
    %x: tensor<?x8xf32>,
    %gate: tensor<4x8xf32> {moe.weight = "model.layers.0.mlp.gate.weight"},
    %w1: tensor<4x6x8xf32> {moe.weight = "model.layers.0.mlp.experts.{e}.gate_proj.weight"},
    %w3: tensor<4x6x8xf32> {moe.weight = "model.layers.0.mlp.experts.{e}.up_proj.weight"},
    %w2: tensor<4x8x6xf32> {moe.weight = "model.layers.0.mlp.experts.{e}.down_proj.weight"})
    -> tensor<?x8xf32> {
  %y = moe.layer %x router(%gate) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, renormalize = true>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>,
            tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
