// Grouped GEMMs at depths K that are and are not multiples of the
// 64-element sm_90a stage: 8, 40, 96, 128 (4 experts; gated swiglu
// gate/up with tokens, scale and offsets into N = 72 columns, down GEMM
// with tokens into N = 48, so its combine).

func.func @depth_8(%x: memref<?x8xf32>, %tok: memref<?xi32>, %s: memref<?xf32>, %off: memref<5xi32>,
                   %g: memref<4x72x8xbf16>, %u: memref<4x72x8xbf16>, %act: memref<?x72xf32>,
                   %rows: memref<?x8xf32>, %d: memref<4x48x8xbf16>, %w: memref<?xf32>, %y: memref<?x48xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) offsets(%off) weights(gate %g, up %u) layout <rows> outs(%act)
      : (memref<?x8xf32>, memref<?xi32>, memref<?xf32>, memref<5xi32>, memref<4x72x8xbf16>, memref<4x72x8xbf16>, memref<?x72xf32>) -> ()
  moe.down_scatter_add %rows offsets(%off) weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%y)
      : (memref<?x8xf32>, memref<5xi32>, memref<4x48x8xbf16>, memref<?xi32>, memref<?xf32>, memref<?x48xf32>) -> ()
  return
}

func.func @depth_40(%x: memref<?x40xf32>, %tok: memref<?xi32>, %s: memref<?xf32>, %off: memref<5xi32>,
                   %g: memref<4x72x40xbf16>, %u: memref<4x72x40xbf16>, %act: memref<?x72xf32>,
                   %rows: memref<?x40xf32>, %d: memref<4x48x40xbf16>, %w: memref<?xf32>, %y: memref<?x48xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) offsets(%off) weights(gate %g, up %u) layout <rows> outs(%act)
      : (memref<?x40xf32>, memref<?xi32>, memref<?xf32>, memref<5xi32>, memref<4x72x40xbf16>, memref<4x72x40xbf16>, memref<?x72xf32>) -> ()
  moe.down_scatter_add %rows offsets(%off) weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%y)
      : (memref<?x40xf32>, memref<5xi32>, memref<4x48x40xbf16>, memref<?xi32>, memref<?xf32>, memref<?x48xf32>) -> ()
  return
}

func.func @depth_96(%x: memref<?x96xf32>, %tok: memref<?xi32>, %s: memref<?xf32>, %off: memref<5xi32>,
                   %g: memref<4x72x96xbf16>, %u: memref<4x72x96xbf16>, %act: memref<?x72xf32>,
                   %rows: memref<?x96xf32>, %d: memref<4x48x96xbf16>, %w: memref<?xf32>, %y: memref<?x48xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) offsets(%off) weights(gate %g, up %u) layout <rows> outs(%act)
      : (memref<?x96xf32>, memref<?xi32>, memref<?xf32>, memref<5xi32>, memref<4x72x96xbf16>, memref<4x72x96xbf16>, memref<?x72xf32>) -> ()
  moe.down_scatter_add %rows offsets(%off) weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%y)
      : (memref<?x96xf32>, memref<5xi32>, memref<4x48x96xbf16>, memref<?xi32>, memref<?xf32>, memref<?x48xf32>) -> ()
  return
}

func.func @depth_128(%x: memref<?x128xf32>, %tok: memref<?xi32>, %s: memref<?xf32>, %off: memref<5xi32>,
                   %g: memref<4x72x128xbf16>, %u: memref<4x72x128xbf16>, %act: memref<?x72xf32>,
                   %rows: memref<?x128xf32>, %d: memref<4x48x128xbf16>, %w: memref<?xf32>, %y: memref<?x48xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) offsets(%off) weights(gate %g, up %u) layout <rows> outs(%act)
      : (memref<?x128xf32>, memref<?xi32>, memref<?xf32>, memref<5xi32>, memref<4x72x128xbf16>, memref<4x72x128xbf16>, memref<?x72xf32>) -> ()
  moe.down_scatter_add %rows offsets(%off) weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%y)
      : (memref<?x128xf32>, memref<5xi32>, memref<4x48x128xbf16>, memref<?xi32>, memref<?xf32>, memref<?x48xf32>) -> ()
  return
}
