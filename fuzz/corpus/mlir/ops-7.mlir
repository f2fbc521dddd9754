func.func @exchange_and_stats(%rows: tensor<?x32xf32>, %counts: tensor<4x2xi32>,
                              %l: tensor<?x8xf32>, %ids: tensor<?x2xi32>,
                              %w: tensor<?x2xf32>)
    -> (tensor<?x32xf32>, tensor<4x2xi32>, tensor<?x32xf32>, tensor<8xi64>, f32,
        tensor<20xi64>) {
  %r, %c = moe.all_to_all %rows, %counts : tensor<?x32xf32>, tensor<4x2xi32>
  %h = moe.all_to_all_start %r, %c : !moe.exchange<tensor<?x32xf32>, tensor<4x2xi32>>
  %r2, %c2 = moe.all_to_all_wait %h : !moe.exchange<tensor<?x32xf32>, tensor<4x2xi32>>
  %load, %ent, %max, %conf, %aux, %hist = moe.routing_stats %l, %ids, %w sigmoid
      {weight_range = 2.5 : f64}
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<8xi64>, tensor<20xi64>
  return %r2, %c2, %r, %load, %aux, %hist : tensor<?x32xf32>, tensor<4x2xi32>, tensor<?x32xf32>, tensor<8xi64>, f32, tensor<20xi64>
}
