// RUN: moe-opt %s -split-input-file | moe-opt -split-input-file | FileCheck %s
// RUN: moe-opt %s -split-input-file -mlir-print-op-generic | moe-opt -split-input-file | FileCheck %s

// Tests that the kernel ops round-trip on tensors and on buffers, in both
// layouts, grouped or not, with every optional operand present or absent.
// CHECK-LABEL: func.func @kernel_ops
// CHECK: moe.gather_gate_up swiglu %{{[a-z0-9_]+}} tokens(%{{[a-z0-9_]+}}) scale(%{{[a-z0-9_]+}}) weights(gate %{{[a-z0-9_]+}}, up %{{[a-z0-9_]+}}) layout <rows> outs(%{{[a-z0-9_]+}}) : ({{.*}}) -> tensor<?x16xf32>
// CHECK: moe.down_scatter_add %{{[a-z0-9_]+}} weights(down %{{[a-z0-9_]+}}) tokens(%{{[a-z0-9_]+}}) row_weight(%{{[a-z0-9_]+}}) layout <rows> outs(%{{[a-z0-9_]+}}) : ({{.*}}) -> tensor<?x32xf32>
// CHECK: moe.gather_gate_up gelu %{{[a-z0-9_]+}} weights(up %{{[a-z0-9_]+}}) layout <rows> outs(%{{[a-z0-9_]+}}) : ({{.*}}) -> ()
// CHECK: moe.down_scatter_add %{{[a-z0-9_]+}} weights(down %{{[a-z0-9_]+}}) layout <rows> outs(%{{[a-z0-9_]+}}) : ({{.*}}) -> ()
func.func @kernel_ops(%x: tensor<?x32xf32>, %tok: tensor<?xi32>, %s: tensor<?xf32>,
                      %g: tensor<16x32xf32>, %u: tensor<16x32xf32>, %a: tensor<?x16xf32>,
                      %d: tensor<32x16xf32>, %out: tensor<?x32xf32>,
                      %xb: memref<?x32xf32>, %ub: memref<16x32xf32>, %ab: memref<?x16xf32>,
                      %db: memref<32x16xf32>, %ob: memref<?x32xf32>) -> (tensor<?x16xf32>, tensor<?x32xf32>) {
  %h = moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) weights(gate %g, up %u) layout <rows> outs(%a)
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<16x32xf32>,
         tensor<16x32xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  %y = moe.down_scatter_add %h weights(down %d) tokens(%tok) row_weight(%s) layout <rows> outs(%out)
      : (tensor<?x16xf32>, tensor<32x16xf32>, tensor<?xi32>, tensor<?xf32>,
         tensor<?x32xf32>) -> tensor<?x32xf32>
  moe.gather_gate_up gelu %xb weights(up %ub) layout <rows> outs(%ab)
      : (memref<?x32xf32>, memref<16x32xf32>, memref<?x16xf32>) -> ()
  moe.down_scatter_add %ab weights(down %db) layout <rows> outs(%ob)
      : (memref<?x16xf32>, memref<32x16xf32>, memref<?x32xf32>) -> ()
  return %h, %y : tensor<?x16xf32>, tensor<?x32xf32>
}

// -----

// Tests that grouped kernel ops (expert offsets, stacked weights) on bf16
// and f16 panels round-trip.
// CHECK-LABEL: func.func @grouped_panels
// CHECK: moe.gather_gate_up swiglu %{{.*}} tokens(%{{.*}}) offsets(%{{.*}}) weights(gate %{{.*}}, up %{{.*}}) layout <panels = 32> outs(%{{.*}}) : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x2x64x32xbf16>, tensor<8x2x64x32xbf16>, tensor<?x40xf32>) -> tensor<?x40xf32>
// CHECK: moe.down_scatter_add %{{.*}} offsets(%{{.*}}) weights(down %{{.*}}) tokens(%{{.*}}) layout <panels = 16> outs(%{{.*}}) : (tensor<?x40xf32>, tensor<9xi32>, tensor<8x4x40x16xf16>, tensor<?xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
func.func @grouped_panels(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %off: tensor<9xi32>,
                          %g: tensor<8x2x64x32xbf16>, %u: tensor<8x2x64x32xbf16>, %a: tensor<?x40xf32>,
                          %d: tensor<8x4x40x16xf16>, %o: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %h = moe.gather_gate_up swiglu %x tokens(%tok) offsets(%off) weights(gate %g, up %u) layout <panels = 32> outs(%a)
      : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x2x64x32xbf16>, tensor<8x2x64x32xbf16>, tensor<?x40xf32>) -> tensor<?x40xf32>
  %y = moe.down_scatter_add %h offsets(%off) weights(down %d) tokens(%tok) layout <panels = 16> outs(%o)
      : (tensor<?x40xf32>, tensor<9xi32>, tensor<8x4x40x16xf16>, tensor<?xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
