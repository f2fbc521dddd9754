// RUN: moe-opt %s -split-input-file -convert-moe-to-linalg | FileCheck %s

// Tests that moe.place reads each expert's replicas from constant tables:
// the first replica of expert e at first[e], the replicas in rank order
// (expert 3 is physical 2, rank 0 slot 2, and 4, rank 1 slot 1), and a
// replicated expert's turn (rank + token) mod replicas.
// CHECK-LABEL: func.func @place_replicated
// CHECK-SAME: (%[[IDS:.*]]: tensor<?x2xi32>, %[[RANK:.*]]: index)
// CHECK-DAG: %[[FIRST:.*]] = arith.constant dense<[0, 1, 2, 3, 5]> : tensor<5xi32>
// CHECK-DAG: %[[REPLICAS:.*]] = arith.constant dense<[0, 1, 3, 2, 4]> : tensor<5xi32>
// CHECK: linalg.generic {{.*}} ins(%[[IDS]] : tensor<?x2xi32>)
// CHECK: %[[E:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK: tensor.extract %[[FIRST]][%[[E]]]
// CHECK: %[[T:.*]] = linalg.index 0 : index
// CHECK: %[[SUM:.*]] = arith.addi %[[RANK]], %[[T]] : index
// CHECK: %[[TURN:.*]] = arith.remui %[[SUM]], %{{.*}} : index
// CHECK: tensor.extract %[[REPLICAS]]
func.func @place_replicated(%ids: tensor<?x2xi32>, %r: index) -> tensor<?x2xi32> {
  %p = moe.place %ids rank(%r) {placement = #moe.placement<experts = 4, slots = 3, table = [0, 1, 3, 2, 3, -1]>} : tensor<?x2xi32>
  return %p : tensor<?x2xi32>
}

// -----

// Tests that without replicas the physical expert is a table lookup only.
// CHECK-LABEL: func.func @place_round_robin
// CHECK-DAG: arith.constant dense<[0, 1, 2, 3, 4]> : tensor<5xi32>
// CHECK-DAG: arith.constant dense<[0, 2, 1, 3]> : tensor<4xi32>
// CHECK-NOT: arith.remui
// CHECK: return
func.func @place_round_robin(%ids: tensor<?x2xi32>, %r: index) -> tensor<?x2xi32> {
  %p = moe.place %ids rank(%r) {placement = #moe.placement<experts = 4, slots = 2, table = [0, 2, 1, 3]>} : tensor<?x2xi32>
  return %p : tensor<?x2xi32>
}

// -----

// Tests that the received order sums each slot's rows over the sources
// into offsets, then walks (source, slot) in order, placing each row at
// its slot's next place.
// CHECK-LABEL: func.func @order
// CHECK-SAME: (%[[C:.*]]: tensor<2x3xi32>)
// CHECK: %[[OFF:.*]] = scf.for %[[G:.*]] = %{{.*}} to %c3
// CHECK: scf.for %[[N:.*]] = %{{.*}} to %c2
// CHECK: tensor.extract %[[C]][%[[N]], %[[G]]]
// CHECK: %[[TOTAL:.*]] = tensor.extract %[[OFF]][%c3
// CHECK: %[[ORDER:.*]] = tensor.empty(%{{.*}}) : tensor<?xi32>
// CHECK: %[[CURSOR:.*]] = tensor.extract_slice %[[OFF]][0] [3] [1]
// CHECK: %[[WALK:.*]]:3 = scf.for {{.*}} iter_args(%{{.*}} = %[[ORDER]], %{{.*}} = %[[CURSOR]], %{{.*}} = %c0
// CHECK: tensor.insert
// CHECK: return %[[WALK]]#0, %[[OFF]]
func.func @order(%counts: tensor<2x3xi32>) -> (tensor<?xi32>, tensor<4xi32>) {
  %order, %off = moe.received_order %counts : tensor<2x3xi32> -> tensor<?xi32>, tensor<4xi32>
  return %order, %off : tensor<?xi32>, tensor<4xi32>
}

// -----

// Tests that a start and its wait become the counts' exchange and the start
// of the rows into a buffer of the announced size, then the wait on that
// buffer (holding the sent rows until it returns).
// CHECK-LABEL: func.func @async
// CHECK-SAME: (%[[ROWS:.*]]: tensor<?x16xf32>, %[[SC:.*]]: tensor<2x3xi32>)
// CHECK: %[[RC:.*]] = moe.exchange_counts %[[SC]], %{{.*}}
// CHECK: %[[TOTAL:.*]] = scf.for
// CHECK: %[[BUF:.*]] = tensor.empty(%[[TOTAL]]) : tensor<?x16xf32>
// CHECK: %[[STARTED:.*]] = moe.exchange_rows_start %[[ROWS]], %[[SC]], %[[RC]], %[[BUF]]
// CHECK: %[[DONE:.*]] = moe.exchange_wait %[[ROWS]], %[[STARTED]]
// CHECK: return %[[DONE]], %[[RC]]
func.func @async(%rows: tensor<?x16xf32>, %sc: tensor<2x3xi32>) -> (tensor<?x16xf32>, tensor<2x3xi32>) {
  %h = moe.all_to_all_start %rows, %sc : !moe.exchange<tensor<?x16xf32>, tensor<2x3xi32>>
  %r, %c = moe.all_to_all_wait %h : !moe.exchange<tensor<?x16xf32>, tensor<2x3xi32>>
  return %r, %c : tensor<?x16xf32>, tensor<2x3xi32>
}
