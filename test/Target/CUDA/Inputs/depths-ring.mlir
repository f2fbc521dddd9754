// The kernels of depths.mlir at K = 328: six 64-deep tiles, the last
// partial, through sm_90a's ring of four stages (the ring wraps).

func.func @depth_328(%x: memref<?x328xf32>, %tok: memref<?xi32>, %s: memref<?xf32>, %off: memref<5xi32>,
                   %g: memref<4x72x328xbf16>, %u: memref<4x72x328xbf16>, %act: memref<?x72xf32>,
                   %rows: memref<?x328xf32>, %d: memref<4x48x328xbf16>, %w: memref<?xf32>, %y: memref<?x48xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) offsets(%off) weights(gate %g, up %u) layout <rows> outs(%act)
      : (memref<?x328xf32>, memref<?xi32>, memref<?xf32>, memref<5xi32>, memref<4x72x328xbf16>, memref<4x72x328xbf16>, memref<?x72xf32>) -> ()
  moe.down_scatter_add %rows offsets(%off) weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%y)
      : (memref<?x328xf32>, memref<5xi32>, memref<4x48x328xbf16>, memref<?xi32>, memref<?xf32>, memref<?x48xf32>) -> ()
  return
}
