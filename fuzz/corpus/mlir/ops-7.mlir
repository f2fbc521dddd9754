func.func @exchange_and_stats(%rows: tensor<?x32xf32>, %counts: tensor<4x2xi32>,
                              %l: tensor<?x8xf32>, %ids: tensor<?x2xi32>)
    -> (tensor<?x32xf32>, tensor<4x2xi32>, tensor<?x32xf32>, tensor<8xi64>, f32) {
  %r, %c = moe.all_to_all %rows, %counts : tensor<?x32xf32>, tensor<4x2xi32>
  %h = moe.all_to_all_start %r, %c : !moe.exchange<tensor<?x32xf32>, tensor<4x2xi32>>
  %r2, %c2 = moe.all_to_all_wait %h : !moe.exchange<tensor<?x32xf32>, tensor<4x2xi32>>
  %load, %ent, %max, %conf, %aux = moe.routing_stats %l, %ids sigmoid
      : tensor<?x8xf32>, tensor<?x2xi32> -> tensor<8xi64>
  return %r2, %c2, %r, %load, %aux : tensor<?x32xf32>, tensor<4x2xi32>, tensor<?x32xf32>, tensor<8xi64>, f32
}
