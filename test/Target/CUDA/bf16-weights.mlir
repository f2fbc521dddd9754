// RUN: moe-opt %s -split-input-file -moe-cuda-bf16-weights -verify-diagnostics | FileCheck %s

// Tests that bound kernel weights become bf16 arguments (the runtime
// converts them at bind time), keeping their names, while the router's
// weight and the activations stay f32.
// CHECK-LABEL: func.func @bound
// CHECK-SAME: %{{.*}}: tensor<?x16xf32>, %{{.*}}: tensor<4x16xf32> {moe.weight = "gate"}
// CHECK-SAME: %[[UP:arg[0-9]+]]: tensor<4x8x16xbf16> {moe.weight = "up.{e}"}
// CHECK-SAME: %[[DOWN:arg[0-9]+]]: tensor<4x16x8xbf16> {moe.weight = "down.{e}"}
// CHECK: moe.gather_gate_up gelu %{{.*}} weights(up %[[UP]])
// CHECK: moe.down_scatter_add %{{.*}} weights(down %[[DOWN]])
func.func @bound(%x: tensor<?x16xf32>, %router: tensor<4x16xf32> {moe.weight = "gate"},
                 %up: tensor<4x8x16xf32> {moe.weight = "up.{e}"},
                 %down: tensor<4x16x8xf32> {moe.weight = "down.{e}"},
                 %tok: tensor<?xi32>, %off: tensor<5xi32>, %a: tensor<?x8xf32>,
                 %y: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = moe.gather_gate_up gelu %x tokens(%tok) offsets(%off) weights(up %up) layout <rows> outs(%a)
    : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  %1 = moe.down_scatter_add %0 offsets(%off) weights(down %down) tokens(%tok) layout <rows> outs(%y)
    : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x16x8xf32>, tensor<?xi32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %1 : tensor<?x16xf32>
}

// -----

// Tests that a weight the graph computes (or one read by other ops too) is
// rounded where a kernel uses it.
// CHECK-LABEL: func.func @computed
// CHECK-SAME: %[[W:arg[0-9]+]]: tensor<8x16xf32> {moe.weight = "w"}
// CHECK: %[[R:.*]] = arith.truncf %[[W]] : tensor<8x16xf32> to tensor<8x16xbf16>
// CHECK: moe.gather_gate_up relu %{{.*}} weights(up %[[R]])
func.func @computed(%x: tensor<?x16xf32>, %w: tensor<8x16xf32> {moe.weight = "w"},
                    %a: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<8x16xf32>) {
  %0 = moe.gather_gate_up relu %x weights(up %w) layout <rows> outs(%a)
    : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0, %w : tensor<?x8xf32>, tensor<8x16xf32>
}

// -----

// Tests that panels are refused: the tensor cores read rows.
func.func @panels(%x: tensor<?x16xf32>, %w: tensor<1x16x8xf32>, %a: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{moe-cuda-bf16-weights: weights must be in the rows layout}}
  %0 = moe.gather_gate_up relu %x weights(up %w) layout <panels = 8> outs(%a)
    : (tensor<?x16xf32>, tensor<1x16x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
