// RUN: moe-opt %s -split-input-file -moe-cuda-map-to-kernels -verify-diagnostics | FileCheck %s

// Tests that a parallel loop over tokens becomes a launch of one thread per
// iteration (blocks of 256, guarded), its static temporaries private
// arrays and its linalg ops loops; that buffers are allocated on the device
// (gpu-to-llvm takes the asynchronous forms); the result stays allocated.
// CHECK-LABEL: func.func @per_token
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %{{.*}}, %[[T1:.*]] = gpu.alloc async [%[[T0]]] (%{{.*}}) : memref<?x4xf32>
// CHECK: gpu.wait [%[[T1]]]
// CHECK: %[[BLOCKS:.*]] = arith.ceildivui %{{.*}}, %c256
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %{{.*}}, {{.*}}) threads({{.*}}) in ({{.*}} = %c256
// CHECK: arith.cmpi ult
// CHECK: scf.if
// CHECK: memref.alloca() : memref<1x4xf32>
// CHECK: scf.for
// CHECK-NOT: linalg.
// CHECK: gpu.terminator
// CHECK: return
func.func @per_token(%x: memref<?x4xf32>) -> memref<?x4xf32> {
  %c0 = arith.constant 0 : index
  %cst = arith.constant 2.0 : f32
  %n = memref.dim %x, %c0 : memref<?x4xf32>
  %out = memref.alloc(%n) : memref<?x4xf32>
  scf.forall (%t) in (%n) {
    %row = memref.subview %x[%t, 0] [1, 4] [1, 1] : memref<?x4xf32> to memref<1x4xf32, strided<[4, 1], offset: ?>>
    %tmp = memref.alloc() : memref<1x4xf32>
    linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                    iterator_types = ["parallel", "parallel"]}
        ins(%row : memref<1x4xf32, strided<[4, 1], offset: ?>>) outs(%tmp : memref<1x4xf32>) {
    ^bb0(%in: f32, %o: f32):
      %m = arith.mulf %in, %cst : f32
      linalg.yield %m : f32
    }
    %dst = memref.subview %out[%t, 0] [1, 4] [1, 1] : memref<?x4xf32> to memref<1x4xf32, strided<[4, 1], offset: ?>>
    memref.copy %tmp, %dst : memref<1x4xf32> to memref<1x4xf32, strided<[4, 1], offset: ?>>
    memref.dealloc %tmp : memref<1x4xf32>
  }
  return %out : memref<?x4xf32>
}

// -----

// Tests that sequential code runs in a single-thread launch, and that a
// scalar it computes for later code crosses the parallel kernel between
// them through a one-element device buffer.
// CHECK-LABEL: func.func @spill
// CHECK: %[[CARRY:.*]], %{{.*}} = gpu.alloc async [%{{.*}}] () : memref<1xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c1{{.*}}) threads({{.*}}) in ({{.*}} = %c1
// CHECK: %[[SUM:.*]] = memref.load
// CHECK: memref.store %[[SUM]], %[[CARRY]][%{{.*}}] : memref<1xf32>
// CHECK: gpu.terminator
// CHECK: gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c256
// CHECK: memref.store %cst, %arg1
// CHECK-NOT: gpu.terminator
// CHECK: gpu.terminator
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c1{{.*}}) threads({{.*}}) in ({{.*}} = %c1
// CHECK: %[[BACK:.*]] = memref.load %[[CARRY]][%{{.*}}] : memref<1xf32>
// CHECK: %[[TWICE:.*]] = arith.addf %[[BACK]], %[[BACK]] : f32
// CHECK: memref.store %[[TWICE]]
func.func @spill(%a: memref<8xf32>, %b: memref<8xf32>, %c: memref<1xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %sum = memref.load %a[%c0] : memref<8xf32>
  linalg.fill ins(%zero : f32) outs(%b : memref<8xf32>)
  %twice = arith.addf %sum, %sum : f32
  memref.store %twice, %c[%c0] : memref<1xf32>
  return
}

// -----

// Tests that the expert kernels must be lowered first.
func.func @gemm_first(%x: memref<?x64xf32>, %u: memref<32x64xbf16>, %a: memref<?x32xf32>) {
  // expected-error @below {{must be lowered by moe-cuda-lower-grouped-gemm before moe-cuda-map-to-kernels}}
  moe.gather_gate_up gelu %x weights(up %u) layout <rows> outs(%a)
    : (memref<?x64xf32>, memref<32x64xbf16>, memref<?x32xf32>) -> ()
  return
}

// -----

// Tests that a dynamically sized temporary in a parallel loop is refused:
// kernels cannot allocate.
func.func @dynamic_temporary(%n: index, %m: index) {
  scf.forall (%t) in (%n) {
    // expected-error @below {{of a dynamic size inside a GPU kernel}}
    %tmp = memref.alloc(%m) : memref<?xf32>
    memref.dealloc %tmp : memref<?xf32>
  }
  return
}

// -----

// Tests that a size host code needs cannot come from device memory.
func.func @device_size(%a: memref<4xindex>) -> memref<?xf32> {
  %c0 = arith.constant 0 : index
  // expected-error @below {{computes a value on the device that host code needs}}
  %n = memref.load %a[%c0] : memref<4xindex>
  %out = memref.alloc(%n) : memref<?xf32>
  return %out : memref<?xf32>
}

// -----

// Tests that a call of another host function (a bf16 twin calling its
// entry) stays on the host between the launches of the code around it,
// rather than going into a single-thread kernel.
// CHECK-LABEL: func.func @twin
// CHECK: gpu.alloc async
// CHECK: gpu.launch
// CHECK: arith.extf
// CHECK: gpu.terminator
// CHECK: %[[Y:.*]] = call @entry(%{{.*}}) : (memref<?x8xf32>) -> memref<?x8xf32>
// CHECK-NEXT: memref.dim %[[Y]]
// CHECK: gpu.launch
// CHECK: arith.truncf
// CHECK: gpu.terminator
// CHECK: gpu.dealloc async
func.func private @entry(%x: memref<?x8xf32>) -> memref<?x8xf32>
func.func @twin(%x: memref<?x8xbf16>) -> memref<?x8xbf16> {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x8xbf16>
  %wide = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x8xbf16>) outs(%wide : memref<?x8xf32>) {
  ^bb0(%a: bf16, %b: f32):
    %e = arith.extf %a : bf16 to f32
    linalg.yield %e : f32
  }
  %y = call @entry(%wide) : (memref<?x8xf32>) -> memref<?x8xf32>
  memref.dealloc %wide : memref<?x8xf32>
  %m = memref.dim %y, %c0 : memref<?x8xf32>
  %narrow = memref.alloc(%m) : memref<?x8xbf16>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%y : memref<?x8xf32>) outs(%narrow : memref<?x8xbf16>) {
  ^bb0(%a: f32, %b: bf16):
    %t = arith.truncf %a : f32 to bf16
    linalg.yield %t : bf16
  }
  memref.dealloc %y : memref<?x8xf32>
  return %narrow : memref<?x8xbf16>
}
