// Qwen3-30B-A3B's expert layer (H 2048, F 768, E 128) at the kernel level,
// bufferized, weights in bf16 rows, with input scales on the gate/up GEMM.
func.func @qwen3(%x: memref<?x2048xf32>, %tok: memref<?xi32>, %s: memref<?xf32>, %off: memref<129xi32>,
                 %g: memref<128x768x2048xbf16>, %u: memref<128x768x2048xbf16>,
                 %a: memref<?x768xf32>, %d: memref<128x2048x768xbf16>,
                 %w: memref<?xf32>, %o: memref<?x2048xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) offsets(%off) weights(gate %g, up %u) layout <rows> outs(%a)
      : (memref<?x2048xf32>, memref<?xi32>, memref<?xf32>, memref<129xi32>, memref<128x768x2048xbf16>,
         memref<128x768x2048xbf16>, memref<?x768xf32>) -> ()
  moe.down_scatter_add %a offsets(%off) weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%o)
      : (memref<?x768xf32>, memref<129xi32>, memref<128x2048x768xbf16>, memref<?xi32>,
         memref<?xf32>, memref<?x2048xf32>) -> ()
  return
}
