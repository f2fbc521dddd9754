// RUN: moe-opt %s -moe-cuda-lower-grouped-gemm | FileCheck %s
// REQUIRES: ptxas
// RUN: moe-opt %s -moe-cuda-lower-grouped-gemm \
// RUN:   | moe-opt -gpu-lower-to-nvvm-pipeline="cubin-chip=sm_90a cubin-features=+ptx80 opt-level=3 cubin-format=isa" \
// RUN:   | %check-ptx - --arch sm_90a --require wgmma.mma_async --require cp.async.bulk.tensor

// On branch i15-sm90 buildCombineLaunches is CombineStubForSm90.cpp, which
// reports an error, so this test fails as expected there. At merge, with
// Combine.cpp: delete the stub and the XFAIL line below.

// Tests that a down GEMM with tokens writes its weighted rows into a
// zeroed [R, N] device buffer (gpu.alloc, gpu.memset), launches the
// rows kernel on it, hands it to the combine and frees it, in both tile
// variants; the kernel's epilogue multiplies by row_weight and stores the
// pair without reading it back; the kernels assemble without spills.
// CHECK-LABEL: func.func @down_tokens
// CHECK-SAME: (%[[ROWS:[a-z0-9]+]]: memref<?x128xf32>, %[[OFF:[a-z0-9]+]]: memref<3xi32>, %[[D:[a-z0-9]+]]: memref<2x64x128xbf16>, %[[TOK:[a-z0-9]+]]: memref<?xi32>, %[[W:[a-z0-9]+]]: memref<?xf32>, %[[ACC:[a-z0-9]+]]: memref<?x64xf32>)
// CHECK: scf.if
// CHECK: %[[R:.*]] = memref.dim %[[ROWS]], %c0
// CHECK: %[[BUF:.*]] = gpu.alloc (%[[R]]) : memref<?x64xf32>
// CHECK: gpu.memset %[[BUF]], %{{.*}} : memref<?x64xf32>, f32
// CHECK: gpu.launch_func @moe_kernels::@down_rows_sm90_64x64 {{.*}} args(%{{.*}} : !llvm.ptr, %[[ROWS]] : memref<?x128xf32>, %[[W]] : memref<?xf32>, %[[OFF]] : memref<3xi32>, %[[BUF]] : memref<?x64xf32>)
// CHECK: gpu.launch_func
// CHECK-SAME: %[[TOK]]
// CHECK: gpu.dealloc %[[BUF]]
// CHECK: gpu.launch_func @moe_kernels::@down_rows_sm90_128x128
// CHECK: gpu.dealloc
// CHECK-LABEL: gpu.func @down_rows_sm90_64x64
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: %[[WR:.*]] = memref.load
// CHECK: %[[V:.*]] = llvm.extractvalue
// CHECK: arith.mulf %[[WR]], %[[V]]
// CHECK-NOT: vector.load
// CHECK: vector.store
func.func @down_tokens(%rows: memref<?x128xf32>, %off: memref<3xi32>, %d: memref<2x64x128xbf16>, %tok: memref<?xi32>, %w: memref<?xf32>, %acc: memref<?x64xf32>) {
  moe.down_scatter_add %rows offsets(%off) weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%acc) : (memref<?x128xf32>, memref<3xi32>, memref<2x64x128xbf16>, memref<?xi32>, memref<?xf32>, memref<?x64xf32>) -> ()
  return
}
