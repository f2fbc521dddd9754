// RUN: moe-opt %s -split-input-file -moe-linalg-to-ukernels | FileCheck %s

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
