// Expert weights written in bf16 (the checkpoint's type): the IR keeps f32,
// moe-compile --weight-type=bf16 makes the bf16 panels.
func.func @bf16_weights(
    %x: tensor<?x8xf32>,
    %gate: tensor<4x8xf32> {moe.weight = "gate.weight"},
    %w1: tensor<4x6x8xbf16> {moe.weight = "experts.{e}.w1.weight"},
    %w3: tensor<4x6x8xbf16> {moe.weight = "experts.{e}.w3.weight"},
    %w2: tensor<4x8x6xbf16> {moe.weight = "experts.{e}.w2.weight"})
    -> tensor<?x8xf32> {
  %y = moe.layer %x router(%gate) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xbf16>,
            tensor<4x6x8xbf16>, tensor<4x8x6xbf16>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
