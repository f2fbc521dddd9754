// RUN: moe-opt %s -split-input-file | moe-opt -split-input-file | FileCheck %s
// RUN: moe-opt %s -split-input-file -mlir-print-op-generic | moe-opt -split-input-file | FileCheck %s

// Tests that the expert-parallel ops and the placement attribute round-trip.
// CHECK-LABEL: func.func @graph
// CHECK: %[[R:.*]] = moe.rank
// CHECK: moe.place %{{.*}} rank(%[[R]]) {placement = #moe.placement<experts = 4, slots = 3, table = [0, 1, 3, 2, 3, -1]>} : tensor<?x2xi32>
// CHECK: moe.received_order %{{.*}} : tensor<2x3xi32> -> tensor<?xi32>, tensor<4xi32>
func.func @graph(%ids: tensor<?x2xi32>, %counts: tensor<2x3xi32>) -> (tensor<?x2xi32>, tensor<?xi32>, tensor<4xi32>) {
  %r = moe.rank
  %p = moe.place %ids rank(%r) {placement = #moe.placement<experts = 4, slots = 3, table = [0, 1, 3, 2, 3, -1]>} : tensor<?x2xi32>
  %order, %off = moe.received_order %counts : tensor<2x3xi32> -> tensor<?xi32>, tensor<4xi32>
  return %p, %order, %off : tensor<?x2xi32>, tensor<?xi32>, tensor<4xi32>
}

// -----

// Tests that the exchange ops take tensors (with a result) or buffers.
// CHECK-LABEL: func.func @exchanges
// CHECK: %[[RC:.*]] = moe.exchange_counts %{{.*}}, %{{.*}} : (tensor<2x3xi32>, tensor<2x3xi32>) -> tensor<2x3xi32>
// CHECK: moe.exchange_rows %{{.*}}, %{{.*}}, %[[RC]], %{{.*}} : (tensor<?x16xf32>, tensor<2x3xi32>, tensor<2x3xi32>, tensor<?x16xf32>) -> tensor<?x16xf32>
// CHECK: moe.exchange_rows %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (memref<?x16xf32>, memref<2x3xi32>, memref<2x3xi32>, memref<?x16xf32>) -> ()
func.func @exchanges(%rows: tensor<?x16xf32>, %sc: tensor<2x3xi32>, %init: tensor<2x3xi32>, %recv: tensor<?x16xf32>,
                     %mrows: memref<?x16xf32>, %msc: memref<2x3xi32>, %mrc: memref<2x3xi32>, %mrecv: memref<?x16xf32>) -> tensor<?x16xf32> {
  %rc = moe.exchange_counts %sc, %init : (tensor<2x3xi32>, tensor<2x3xi32>) -> tensor<2x3xi32>
  %r = moe.exchange_rows %rows, %sc, %rc, %recv : (tensor<?x16xf32>, tensor<2x3xi32>, tensor<2x3xi32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  moe.exchange_rows %mrows, %msc, %mrc, %mrecv : (memref<?x16xf32>, memref<2x3xi32>, memref<2x3xi32>, memref<?x16xf32>) -> ()
  return %r : tensor<?x16xf32>
}
