// RUN: moe-opt %s -split-input-file -moe-cpu-lower-to-ukernels | FileCheck %s

// Tests that x·Wᵀ on f32 buffers with contiguous rows calls the micro-kernel
// (declared once, with a C interface) and that the operands are cast to its
// dynamic strided type.
// CHECK: func.func private @moe_ukernel_matmul_nt_f32(memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: memref<?x64xf32, strided<[64, 1], offset: ?>>, %[[W:.*]]: memref<128x64xf32>, %[[Y:.*]]: memref<?x128xf32>)
// CHECK: %[[A:.*]] = memref.cast %[[X]]
// CHECK: %[[B:.*]] = memref.cast %[[W]]
// CHECK: %[[C:.*]] = memref.cast %[[Y]]
// CHECK: call @moe_ukernel_matmul_nt_f32(%[[A]], %[[B]], %[[C]])
// CHECK-NOT: linalg.matmul
func.func @linear(%x: memref<?x64xf32, strided<[64, 1], offset: ?>>, %w: memref<128x64xf32>,
                  %y: memref<?x128xf32>) {
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                 affine_map<(m, n, k) -> (n, k)>,
                                 affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : memref<?x64xf32, strided<[64, 1], offset: ?>>, memref<128x64xf32>)
      outs(%y : memref<?x128xf32>)
  return
}

// -----

// Tests that what the kernel cannot take stays a linalg.matmul: a plain
// (non-transposed) matmul, tensors, bf16 weights and a strided inner
// dimension.
// CHECK-LABEL: func.func @not_matched
// CHECK-COUNT-4: linalg.matmul
// CHECK-NOT: call @moe_ukernel
func.func @not_matched(%x: memref<4x8xf32>, %w: memref<8x16xf32>, %wt: memref<16x8xf32>,
                       %wb: memref<16x8xbf16>, %ws: memref<16x8xf32, strided<[1, 16]>>,
                       %y: memref<4x16xf32>, %t: tensor<4x8xf32>, %tw: tensor<16x8xf32>,
                       %ty: tensor<4x16xf32>) -> tensor<4x16xf32> {
  linalg.matmul ins(%x, %w : memref<4x8xf32>, memref<8x16xf32>) outs(%y : memref<4x16xf32>)
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                 affine_map<(m, n, k) -> (n, k)>,
                                 affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %wb : memref<4x8xf32>, memref<16x8xbf16>) outs(%y : memref<4x16xf32>)
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                 affine_map<(m, n, k) -> (n, k)>,
                                 affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %ws : memref<4x8xf32>, memref<16x8xf32, strided<[1, 16]>>) outs(%y : memref<4x16xf32>)
  %r = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                      affine_map<(m, n, k) -> (n, k)>,
                                      affine_map<(m, n, k) -> (m, n)>]
      ins(%t, %tw : tensor<4x8xf32>, tensor<16x8xf32>) outs(%ty : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

// Tests that a grouped kernel op on buffers becomes a loop over its
// experts in order, each expert's rows [offsets[e], offsets[e+1]) and its
// matrix of the stacked weights a subview, then the generated loops around
// the register tile.
// CHECK-LABEL: func.func @grouped
// CHECK-SAME: %[[OFF:[a-z0-9]+]]: memref<3xi32>
// CHECK: scf.for %[[E:.*]] = %c0 to %c2 step %c1 {
// CHECK: %[[FIRST:.*]] = memref.load %[[OFF]][%[[E]]] : memref<3xi32>
// CHECK: %[[NEXT:.*]] = arith.addi %[[E]], %c1
// CHECK: memref.load %[[OFF]][%[[NEXT]]] : memref<3xi32>
// CHECK: memref.subview %{{.*}}[%[[E]], 0, 0, 0] [1, 2, 64, 32] [1, 1, 1, 1] : memref<2x2x64x32xf32> to memref<2x64x32xf32, strided<[2048, 32, 1], offset: ?>>
// CHECK: call @moe_ukernel_tile_f32
// CHECK: scf.for
// CHECK: call @moe_ukernel_tile_f32
// CHECK-NOT: moe.gather_gate_up
// CHECK-NOT: moe.down_scatter_add
func.func @grouped(%x: memref<?x64xf32>, %tok: memref<?xi32>, %off: memref<3xi32>,
                   %u: memref<2x2x64x32xf32>, %a: memref<?x40xf32>,
                   %d: memref<2x2x40x32xf32>, %o: memref<?x64xf32>) {
  moe.gather_gate_up gelu %x tokens(%tok) offsets(%off) weights(up %u) layout <panels = 32> outs(%a)
      : (memref<?x64xf32>, memref<?xi32>, memref<3xi32>, memref<2x2x64x32xf32>, memref<?x40xf32>) -> ()
  moe.down_scatter_add %a offsets(%off) weights(down %d) tokens(%tok) layout <panels = 32> outs(%o)
      : (memref<?x40xf32>, memref<3xi32>, memref<2x2x40x32xf32>, memref<?xi32>, memref<?x64xf32>) -> ()
  return
}
