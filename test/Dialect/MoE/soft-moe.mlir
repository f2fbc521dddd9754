// RUN: moe-opt %s -split-input-file | moe-opt -split-input-file | FileCheck %s
// RUN: moe-opt %s -split-input-file -mlir-print-op-generic | moe-opt -split-input-file | FileCheck %s

// Tests that a Soft MoE layer (4 experts of 2 slots: 8 router rows) with a
// shared expert round-trips.
// CHECK-LABEL: func.func @soft_moe_layer
// CHECK: moe.layer %{{.*}} router(%{{.*}}) experts(gate %{{.*}}, up %{{.*}}, down %{{.*}}) shared(gate %{{.*}}, up %{{.*}}, down %{{.*}}) {router = #moe.soft_moe<slots_per_expert = 2>}
func.func @soft_moe_layer(%x: tensor<?x8xf32>, %wg: tensor<8x8xf32>,
    %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>,
    %sg: tensor<32x8xf32>, %su: tensor<32x8xf32>, %sd: tensor<8x32xf32>) -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd)
      {router = #moe.soft_moe<slots_per_expert = 2>}
      : (tensor<?x8xf32>, tensor<8x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>,
         tensor<32x8xf32>, tensor<32x8xf32>, tensor<8x32xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that soft dispatch and soft combine round-trip, with a static slot
// row count and a dynamic one.
// CHECK-LABEL: func.func @soft_ops
// CHECK: %[[ROWS:.*]], %[[OFF:.*]] = moe.soft_dispatch %{{.*}}, %[[L:.*]] {routing = #moe.soft_moe<slots_per_expert = 3>} : tensor<?x8xf32>, tensor<?x6xf32> -> tensor<6x8xf32>, tensor<3xi32>
// CHECK: moe.soft_combine %{{.*}}, %[[L]] : (tensor<?x8xf32>, tensor<?x6xf32>) -> tensor<?x8xf32>
func.func @soft_ops(%x: tensor<?x8xf32>, %l: tensor<?x6xf32>, %out: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %rows, %off = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 3>}
      : tensor<?x8xf32>, tensor<?x6xf32> -> tensor<6x8xf32>, tensor<3xi32>
  %y = moe.soft_combine %out, %l : (tensor<?x8xf32>, tensor<?x6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
