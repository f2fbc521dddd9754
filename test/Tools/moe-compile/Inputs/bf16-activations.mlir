// Activations in bf16: entry points take and return f32 activations.
func.func @bf16_activations(
    %x: tensor<?x8xbf16>,
    %gate: tensor<4x8xf32> {moe.weight = "gate.weight"},
    %w1: tensor<4x6x8xf32> {moe.weight = "experts.{e}.w1.weight"},
    %w3: tensor<4x6x8xf32> {moe.weight = "experts.{e}.w3.weight"},
    %w2: tensor<4x8x6xf32> {moe.weight = "experts.{e}.w2.weight"})
    -> tensor<?x8xbf16> {
  %y = moe.layer %x router(%gate) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2>}
         : (tensor<?x8xbf16>, tensor<4x8xf32>, tensor<4x6x8xf32>,
            tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xbf16>
  return %y : tensor<?x8xbf16>
}
