// Mixtral 8x7B's expert layer (H 4096, F 14336, E 8) at the kernel level,
// bufferized, weights in bf16 rows: the gated gate/up GEMM and the down
// GEMM with its combine.
func.func @mixtral(%x: memref<?x4096xf32>, %tok: memref<?xi32>, %off: memref<9xi32>,
                   %g: memref<8x14336x4096xbf16>, %u: memref<8x14336x4096xbf16>,
                   %a: memref<?x14336xf32>, %d: memref<8x4096x14336xbf16>,
                   %w: memref<?xf32>, %o: memref<?x4096xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) offsets(%off) weights(gate %g, up %u) layout <rows> outs(%a)
      : (memref<?x4096xf32>, memref<?xi32>, memref<9xi32>, memref<8x14336x4096xbf16>,
         memref<8x14336x4096xbf16>, memref<?x14336xf32>) -> ()
  moe.down_scatter_add %a offsets(%off) weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%o)
      : (memref<?x14336xf32>, memref<9xi32>, memref<8x4096x14336xbf16>, memref<?xi32>,
         memref<?xf32>, memref<?x4096xf32>) -> ()
  return
}
