// RUN: moe-opt %s -split-input-file -convert-moe-to-linalg -moe-cpu-pack-weights=weight-type=bf16 | FileCheck %s
// RUN: not moe-opt %s -split-input-file -moe-cpu-pack-weights=weight-type=f16 2>&1 | FileCheck %s --check-prefix=BADTYPE

// Tests that with weight-type=bf16 bound weights become bf16 panels (the
// runtime rounds them at bind time), weights packed in the graph are
// rounded there by arith.truncf, so each op's weights share one element
// type: the kernel ops take bf16 panels with f32 activations.
// CHECK-LABEL: func.func @bf16_panels
// CHECK-SAME: %[[U:[a-z0-9]+]]: tensor<4x1x16x32xbf16> {moe.weight = "u.{e}", moe.weight_pack = array<i64: 1, 32>, moe.weight_source_shape = array<i64: 4, 8, 16>}
// CHECK-SAME: %[[D:[a-z0-9]+]]: tensor<4x16x8xf32>
// CHECK: tensor.pad %[[D]]
// CHECK: %[[PD:.*]] = linalg.transpose {{.*}} outs(%{{.*}} : tensor<4x1x8x32xf32>)
// CHECK: %[[RD:.*]] = arith.truncf %[[PD]] : tensor<4x1x8x32xf32> to tensor<4x1x8x32xbf16>
// CHECK: moe.gather_gate_up gelu %{{.*}} weights(up %[[U]]) layout <panels = 32> outs(%{{.*}}) : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x1x16x32xbf16>, tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK: moe.down_scatter_add %{{.*}} weights(down %[[RD]]) {{.*}} layout <panels = 32> outs(%{{.*}}) : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x1x8x32xbf16>, tensor<?xi32>, tensor<?x16xf32>) -> tensor<?x16xf32>
// BADTYPE: moe-cpu-pack-weights: weight-type must be f32 or bf16, not 'f16'
func.func @bf16_panels(%x: tensor<?x16xf32>, %tok: tensor<?xi32>, %off: tensor<5xi32>,
                       %u: tensor<4x8x16xf32> {moe.weight = "u.{e}"},
                       %d: tensor<4x16x8xf32>) -> tensor<?x16xf32> {
  %y = moe.fused_experts gelu %x tokens(%tok) offsets(%off) experts(up %u, down %d) : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
