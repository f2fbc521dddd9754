// RUN: moe-opt %s -split-input-file -convert-moe-to-runtime -verify-diagnostics | FileCheck %s

// Tests that the exchanges on buffers become calls of the embedded runtime
// with the buffers' addresses (aligned base + offset · element bytes), the
// rank and slot counts and the bytes of a row (16 f32 = 64), declared once;
// the start and the wait of the asynchronous form name the same receive
// buffer; the returning exchanges (results back) pass 1 last, the others 0;
// moe.rank becomes the runtime's rank.
// CHECK-DAG: func.func private @moe_rt_rank() -> i32
// CHECK-DAG: func.func private @moe_rt_exchange_counts(i64, i64, i64, i64, i64)
// CHECK-DAG: func.func private @moe_rt_exchange_rows(i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-DAG: func.func private @moe_rt_exchange_rows_start(i64, i64, i64, i64, i64, i64, i64, i64)
// CHECK-DAG: func.func private @moe_rt_exchange_wait(i64)
// CHECK-LABEL: func.func @exchanges
// CHECK-SAME: (%[[ROWS:[^:]*]]: memref<?x16xf32>, %[[SC:[^:]*]]: memref<2x3xi32>, %[[RC:[^:]*]]: memref<2x3xi32>, %[[RECV:[^:]*]]: memref<?x16xf32>
// CHECK: %[[RANK:.*]] = call @moe_rt_rank() : () -> i32
// CHECK: arith.index_cast %[[RANK]] : i32 to index
// CHECK: %[[BASE:.*]], %[[OFFSET:.*]], %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %[[SC]]
// CHECK: %[[PTR:.*]] = memref.extract_aligned_pointer_as_index %[[BASE]]
// CHECK: %[[BYTES:.*]] = arith.muli %[[OFFSET]], %c4
// CHECK: %[[ADDR:.*]] = arith.addi %[[PTR]], %[[BYTES]]
// CHECK: %[[SCA:.*]] = arith.index_cast %[[ADDR]] : index to i64
// CHECK: %[[RCA:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK: call @moe_rt_exchange_counts(%[[SCA]], %[[RCA]], %c2_i64, %c3_i64, %c0_i64)
// CHECK: call @moe_rt_exchange_rows(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c2_i64{{.*}}, %c3_i64{{.*}}, %c64_i64, %c0_i64{{.*}})
// CHECK: call @moe_rt_exchange_rows_start(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c2_i64{{.*}}, %c3_i64{{.*}}, %c64_i64{{.*}}, %c1_i64)
// CHECK: call @moe_rt_exchange_wait(%{{.*}}) : (i64) -> ()
func.func @exchanges(%rows: memref<?x16xf32>, %sc: memref<2x3xi32>, %rc: memref<2x3xi32>, %recv: memref<?x16xf32>) -> index {
  %r = moe.rank
  moe.exchange_counts %sc, %rc : (memref<2x3xi32>, memref<2x3xi32>) -> ()
  moe.exchange_rows %rows, %sc, %rc, %recv : (memref<?x16xf32>, memref<2x3xi32>, memref<2x3xi32>, memref<?x16xf32>) -> ()
  moe.exchange_rows_start %rows, %sc, %rc, %recv {returning} : (memref<?x16xf32>, memref<2x3xi32>, memref<2x3xi32>, memref<?x16xf32>) -> ()
  moe.exchange_wait %rows, %recv : (memref<?x16xf32>, memref<?x16xf32>) -> ()
  return %r : index
}

// -----

// Tests that a strided buffer that is read is copied to a row-major one
// first.
// CHECK-LABEL: func.func @strided
// CHECK: %[[COPY:.*]] = memref.alloc(%{{.*}}) : memref<?x16xf32>
// CHECK: memref.copy %{{.*}}, %[[COPY]]
// CHECK: memref.extract_strided_metadata %[[COPY]]
func.func @strided(%rows: memref<?x16xf32, strided<[32, 1], offset: ?>>, %sc: memref<2x3xi32>, %rc: memref<2x3xi32>, %recv: memref<?x16xf32>) {
  moe.exchange_rows %rows, %sc, %rc, %recv : (memref<?x16xf32, strided<[32, 1], offset: ?>>, memref<2x3xi32>, memref<2x3xi32>, memref<?x16xf32>) -> ()
  return
}

// -----

// Tests that a strided buffer an exchange writes is refused, and that
// exchanges on tensors are (they must be bufferized first).
func.func @strided_init(%rows: memref<?x16xf32>, %sc: memref<2x3xi32>, %rc: memref<2x3xi32>, %recv: memref<?x16xf32, strided<[32, 1]>>) {
  // expected-error @below {{writes a buffer that is not row-major: 'memref<?x16xf32, strided<[32, 1]>>'}}
  moe.exchange_rows %rows, %sc, %rc, %recv : (memref<?x16xf32>, memref<2x3xi32>, memref<2x3xi32>, memref<?x16xf32, strided<[32, 1]>>) -> ()
  return
}

// -----

func.func @tensors(%sc: tensor<2x3xi32>, %init: tensor<2x3xi32>) -> tensor<2x3xi32> {
  // expected-error @below {{must be bufferized before convert-moe-to-runtime}}
  %rc = moe.exchange_counts %sc, %init : (tensor<2x3xi32>, tensor<2x3xi32>) -> tensor<2x3xi32>
  return %rc : tensor<2x3xi32>
}
