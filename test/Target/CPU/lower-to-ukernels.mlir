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

// Tests that the kernel-level ops on buffers call their micro-kernels with
// the activation code (0: swiglu, 3: relu) and flag bits (1: tokens, 2:
// weights); an absent
// optional operand is passed as an empty buffer and the ungated kernel gets
// `up` in the gate position.
// CHECK-DAG: func.func private @moe_ukernel_gather_gate_up_f32(memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?xi32, strided<[?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, i32, i32) attributes {llvm.emit_c_interface}
// CHECK-DAG: func.func private @moe_ukernel_down_scatter_add_f32(memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?xi32, strided<[?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, i32) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @kernel_ops
// CHECK-SAME: (%[[X:[a-z0-9]+]]: memref<?x64xf32>, %[[TOK:[a-z0-9]+]]: memref<?xi32, strided<[1], offset: ?>>, %[[W:[a-z0-9]+]]: memref<?xf32, strided<[1], offset: ?>>, %[[G:[a-z0-9]+]]: memref<?x64xf32, strided<[64, 1], offset: ?>>, %[[U:[a-z0-9]+]]: memref<?x64xf32, strided<[64, 1], offset: ?>>, %[[A:[a-z0-9]+]]: memref<?x?xf32, strided<[128, 1], offset: ?>>, %[[D:[a-z0-9]+]]: memref<?x128xf32, strided<[128, 1], offset: ?>>, %[[O:[a-z0-9]+]]: memref<?x?xf32, strided<[64, 1], offset: ?>>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : i32
// CHECK: %[[NOSCALE:.*]] = memref.alloca() : memref<0xf32>
// CHECK: %[[NOSCALECAST:.*]] = memref.cast %[[NOSCALE]]
// CHECK: call @moe_ukernel_gather_gate_up_f32(%{{.*}}, %{{.*}}, %[[NOSCALECAST]], %{{.*}}, %{{.*}}, %{{.*}}, %[[C0]], %[[C1]])
// CHECK: call @moe_ukernel_down_scatter_add_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[C3]])
// CHECK: memref.alloca() : memref<0xi32>
// CHECK: %[[UP1:.*]] = memref.cast %[[U]]
// CHECK: %[[UP2:.*]] = memref.cast %[[U]]
// CHECK: call @moe_ukernel_gather_gate_up_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[UP1]], %[[UP2]], %{{.*}}, %[[C3]], %[[C0]])
// CHECK-NOT: moe.gather_gate_up
// CHECK-NOT: moe.down_scatter_add
func.func @kernel_ops(%x: memref<?x64xf32>, %tok: memref<?xi32, strided<[1], offset: ?>>,
                      %w: memref<?xf32, strided<[1], offset: ?>>,
                      %g: memref<?x64xf32, strided<[64, 1], offset: ?>>,
                      %u: memref<?x64xf32, strided<[64, 1], offset: ?>>,
                      %a: memref<?x?xf32, strided<[128, 1], offset: ?>>,
                      %d: memref<?x128xf32, strided<[128, 1], offset: ?>>,
                      %o: memref<?x?xf32, strided<[64, 1], offset: ?>>) {
  moe.gather_gate_up swiglu %x tokens(%tok) weights(gate %g, up %u) layout <rows> outs(%a)
      : (memref<?x64xf32>, memref<?xi32, strided<[1], offset: ?>>,
         memref<?x64xf32, strided<[64, 1], offset: ?>>, memref<?x64xf32, strided<[64, 1], offset: ?>>,
         memref<?x?xf32, strided<[128, 1], offset: ?>>) -> ()
  moe.down_scatter_add %a weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%o)
      : (memref<?x?xf32, strided<[128, 1], offset: ?>>, memref<?x128xf32, strided<[128, 1], offset: ?>>,
         memref<?xi32, strided<[1], offset: ?>>, memref<?xf32, strided<[1], offset: ?>>,
         memref<?x?xf32, strided<[64, 1], offset: ?>>) -> ()
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a)
      : (memref<?x64xf32>, memref<?x64xf32, strided<[64, 1], offset: ?>>,
         memref<?x?xf32, strided<[128, 1], offset: ?>>) -> ()
  return
}

// -----

// Tests that kernel ops on packed panels ([P, K, 32], each panel dense)
// call the packed kernels with the panels cast to their C-interface type.
// CHECK-LABEL: func.func @packed_kernel_ops
// CHECK: %[[GP:.*]] = memref.cast %{{.*}} : memref<2x64x32xf32, strided<[2048, 32, 1], offset: ?>> to memref<?x?x32xf32, strided<[?, 32, 1], offset: ?>>
// CHECK: %[[UP:.*]] = memref.cast %{{.*}} : memref<2x64x32xf32, strided<[2048, 32, 1], offset: ?>> to memref<?x?x32xf32, strided<[?, 32, 1], offset: ?>>
// CHECK: call @moe_ukernel_gather_gate_up_packed_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[GP]], %[[UP]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK: %[[DP:.*]] = memref.cast %{{.*}} : memref<2x40x32xf32> to memref<?x?x32xf32, strided<[?, 32, 1], offset: ?>>
// CHECK: call @moe_ukernel_down_scatter_add_packed_f32(%{{.*}}, %[[DP]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}})
// CHECK-NOT: moe.gather_gate_up
// CHECK-NOT: moe.down_scatter_add
func.func @packed_kernel_ops(%x: memref<?x64xf32>, %tok: memref<?xi32>,
                             %g: memref<2x64x32xf32, strided<[2048, 32, 1], offset: ?>>,
                             %u: memref<2x64x32xf32, strided<[2048, 32, 1], offset: ?>>,
                             %a: memref<?x40xf32>, %d: memref<2x40x32xf32>, %o: memref<?x64xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) weights(gate %g, up %u) layout <panels = 32> outs(%a)
      : (memref<?x64xf32>, memref<?xi32>,
         memref<2x64x32xf32, strided<[2048, 32, 1], offset: ?>>, memref<2x64x32xf32, strided<[2048, 32, 1], offset: ?>>,
         memref<?x40xf32>) -> ()
  moe.down_scatter_add %a weights(down %d) tokens(%tok) layout <panels = 32> outs(%o)
      : (memref<?x40xf32>, memref<2x40x32xf32>, memref<?xi32>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that kernel ops on bf16 panels call the bf16 kernels, the panels
// cast to their bf16 C-interface type, activations staying f32.
// CHECK-DAG: func.func private @moe_ukernel_gather_gate_up_packed_bf16(memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?xi32, strided<[?], offset: ?>>, memref<?xf32, strided<[?], offset: ?>>, memref<?x?x32xbf16, strided<[?, 32, 1], offset: ?>>, memref<?x?x32xbf16, strided<[?, 32, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, i32, i32) attributes {llvm.emit_c_interface}
// CHECK-DAG: func.func private @moe_ukernel_down_scatter_add_packed_bf16(
// CHECK-LABEL: func.func @bf16_kernel_ops
// The up panels stand in for the absent gate, as in f32.
// CHECK: %[[GP:.*]] = memref.cast %{{.*}} : memref<2x64x32xbf16> to memref<?x?x32xbf16, strided<[?, 32, 1], offset: ?>>
// CHECK: %[[UP:.*]] = memref.cast %{{.*}} : memref<2x64x32xbf16> to memref<?x?x32xbf16, strided<[?, 32, 1], offset: ?>>
// CHECK: call @moe_ukernel_gather_gate_up_packed_bf16(%{{.*}}, %{{.*}}, %{{.*}}, %[[GP]], %[[UP]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK: %[[DP:.*]] = memref.cast %{{.*}} : memref<2x40x32xbf16> to memref<?x?x32xbf16, strided<[?, 32, 1], offset: ?>>
// CHECK: call @moe_ukernel_down_scatter_add_packed_bf16(%{{.*}}, %[[DP]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}})
func.func @bf16_kernel_ops(%x: memref<?x64xf32>, %tok: memref<?xi32>,
                           %u: memref<2x64x32xbf16>, %a: memref<?x40xf32>,
                           %d: memref<2x40x32xbf16>, %o: memref<?x64xf32>) {
  moe.gather_gate_up gelu %x tokens(%tok) weights(up %u) layout <panels = 32> outs(%a)
      : (memref<?x64xf32>, memref<?xi32>, memref<2x64x32xbf16>, memref<?x40xf32>) -> ()
  moe.down_scatter_add %a weights(down %d) tokens(%tok) layout <panels = 32> outs(%o)
      : (memref<?x40xf32>, memref<2x40x32xbf16>, memref<?xi32>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that a grouped kernel op on buffers becomes a loop over its
// experts in order, each expert's rows [offsets[e], offsets[e+1]) and its
// matrix of the stacked weights a subview, then the kernel call.
// CHECK-LABEL: func.func @grouped
// CHECK-SAME: %[[OFF:[a-z0-9]+]]: memref<3xi32>
// CHECK: scf.for %[[E:.*]] = %c0 to %c2 step %c1 {
// CHECK: %[[FIRST:.*]] = memref.load %[[OFF]][%[[E]]] : memref<3xi32>
// CHECK: %[[NEXT:.*]] = arith.addi %[[E]], %c1
// CHECK: memref.load %[[OFF]][%[[NEXT]]] : memref<3xi32>
// CHECK: memref.subview %{{.*}}[%[[E]], 0, 0, 0] [1, 2, 64, 32] [1, 1, 1, 1] : memref<2x2x64x32xf32> to memref<2x64x32xf32, strided<[2048, 32, 1], offset: ?>>
// CHECK: call @moe_ukernel_gather_gate_up_packed_f32
// CHECK: scf.for
// CHECK: call @moe_ukernel_down_scatter_add_packed_f32
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
