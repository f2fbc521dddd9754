// Mixtral-tiny's layer (hidden 64, 8 experts of FFN width 128, softmax
// top-2) with a capacity in each drop order (dropped slots add nothing):
// what moe.dispatch's parallel form lowers differently (2·E buckets under
// lowest_weight, the dropped rows' starts).
func.func @capacity_token_order(
    %x: tensor<?x64xf32>, %gate: tensor<8x64xf32>, %w1: tensor<8x128x64xf32>,
    %w3: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %out = moe.layer %x router(%gate) experts(gate %w1, up %w3, down %w2)
           {router = #moe.routing<top_k = 2, renormalize = true>,
            capacity = #moe.capacity<factor = 1.0, drop_order = token_order, dropped = zero>}
           : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
              tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}

func.func @capacity_lowest_weight(
    %x: tensor<?x64xf32>, %gate: tensor<8x64xf32>, %w1: tensor<8x128x64xf32>,
    %w3: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %out = moe.layer %x router(%gate) experts(gate %w1, up %w3, down %w2)
           {router = #moe.routing<top_k = 2, renormalize = true>,
            capacity = #moe.capacity<factor = 1.0, drop_order = lowest_weight, dropped = zero>}
           : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
              tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}
