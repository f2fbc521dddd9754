func.func @single_rank_exchange(%r: tensor<?x8xf32>, %c: tensor<1x4xi32>,
                                %r2: tensor<?x8xf32>, %c2: tensor<2x2xi32>)
    -> (tensor<?x8xf32>, tensor<1x4xi32>, tensor<?x8xf32>) {
  %a, %b = moe.all_to_all %r, %c : tensor<?x8xf32>, tensor<1x4xi32>
  %x, %y = moe.all_to_all %r2, %c2 : tensor<?x8xf32>, tensor<2x2xi32>
  return %a, %b, %x : tensor<?x8xf32>, tensor<1x4xi32>, tensor<?x8xf32>
}
