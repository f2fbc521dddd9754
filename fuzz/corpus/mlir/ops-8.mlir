func.func @float_parameters(%l: tensor<?x4xf32>) {
  %w0, %i0 = moe.route %l {routing = #moe.routing<top_k = 1, scaling_factor = 0.1>}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %w1, %i1 = moe.route %l {routing = #moe.routing<top_k = 1, scaling_factor = 0.0000001>}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %w2, %i2 = moe.route %l {routing = #moe.routing<top_k = 1, scaling_factor = 3.0>}
      : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}
