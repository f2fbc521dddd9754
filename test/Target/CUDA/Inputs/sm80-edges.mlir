// Ungrouped kernels whose N and K are not multiples of the tiles (N 40,
// K 24 and N 200, K 40), one activation without gate, a down GEMM adding
// into its own rows.
func.func @edges(%x: memref<?x24xf32>, %u: memref<40x24xbf16>, %a: memref<?x40xf32>,
                 %h: memref<?x40xf32>, %d: memref<200x40xbf16>, %o: memref<?x200xf32>) {
  moe.gather_gate_up gelu %x weights(up %u) layout <rows> outs(%a)
      : (memref<?x24xf32>, memref<40x24xbf16>, memref<?x40xf32>) -> ()
  moe.down_scatter_add %h weights(down %d) layout <rows> outs(%o)
      : (memref<?x40xf32>, memref<200x40xbf16>, memref<?x200xf32>) -> ()
  return
}
