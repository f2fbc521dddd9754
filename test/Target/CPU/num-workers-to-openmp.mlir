// RUN: moe-opt %s -split-input-file -moe-cpu-num-workers-to-openmp | FileCheck %s

// Tests that each worker count becomes the OpenMP runtime's thread count,
// at least 1, with omp_get_max_threads declared once.
// CHECK: func.func private @omp_get_max_threads() -> i32
// CHECK-NOT: func.func private @omp_get_max_threads
// CHECK-LABEL: func.func @parts
// CHECK: %[[T:.*]] = call @omp_get_max_threads() : () -> i32
// CHECK: %[[I:.*]] = arith.index_cast %[[T]] : i32 to index
// CHECK: %[[ONE:.*]] = arith.constant 1 : index
// CHECK: %[[N:.*]] = arith.maxsi %[[I]], %[[ONE]] : index
// CHECK: call @omp_get_max_threads()
// CHECK-NOT: moe.num_workers
// CHECK: return %[[N]], %{{.*}} : index, index
func.func @parts() -> (index, index) {
  %n = moe.num_workers
  %m = moe.num_workers
  return %n, %m : index, index
}

// -----

// Tests that a module without worker counts is left alone: nothing declared.
// CHECK-LABEL: func.func @none
// CHECK-NOT: omp_get_max_threads
func.func @none() {
  return
}
