func.func @dispatch_capacity(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>,
                             %w: tensor<?x2xf32>) -> (tensor<?xi32>, tensor<?xi32>) {
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<factor = 4.0, dropped = input>}
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %r2, %t2, %rw2, %o2 = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<factor = 1.0, drop_order = lowest_weight>}
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %t, %t2 : tensor<?xi32>, tensor<?xi32>
}
