func.func @kernel_ops(%x: tensor<?x32xf32>, %tok: tensor<?xi32>, %s: tensor<?xf32>,
                      %g: tensor<16x32xf32>, %u: tensor<16x32xf32>, %a: tensor<?x16xf32>,
                      %d: tensor<32x16xf32>, %out: tensor<?x32xf32>,
                      %xb: memref<?x32xf32>, %ub: memref<16x32xf32>, %ab: memref<?x16xf32>,
                      %db: memref<32x16xf32>, %ob: memref<?x32xf32>) -> (tensor<?x16xf32>, tensor<?x32xf32>) {
  %h = moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) weights(gate %g, up %u) outs(%a)
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<16x32xf32>,
         tensor<16x32xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  %y = moe.down_scatter_add %h weights(down %d) tokens(%tok) row_weight(%s) outs(%out)
      : (tensor<?x16xf32>, tensor<32x16xf32>, tensor<?xi32>, tensor<?xf32>,
         tensor<?x32xf32>) -> tensor<?x32xf32>
  moe.gather_gate_up gelu %xb weights(up %ub) outs(%ab)
      : (memref<?x32xf32>, memref<16x32xf32>, memref<?x16xf32>) -> ()
  moe.down_scatter_add %ab weights(down %db) outs(%ob)
      : (memref<?x16xf32>, memref<32x16xf32>, memref<?x32xf32>) -> ()
  return %h, %y : tensor<?x16xf32>, tensor<?x32xf32>
}
