// RUN: moe-opt %s -split-input-file -convert-moe-to-linalg | FileCheck %s

// Tests that moe.fused_experts hands its expert biases to the kernels
// (gate/up biases to gather_gate_up, the down bias to down_scatter_add) and
// starts the output from the output bias broadcast over the tokens.
// CHECK-LABEL: func.func @fused
// CHECK-SAME: %[[BG:[a-z0-9_]+]]: tensor<2x32xf32>, %[[BU:[a-z0-9_]+]]: tensor<2x32xf32>, %[[BD:[a-z0-9_]+]]: tensor<2x64xf32>, %[[B:[a-z0-9_]+]]: tensor<64xf32>)
// CHECK: moe.gather_gate_up swiglu %{{.*}} weights(gate %{{.*}}, up %{{.*}}, gate_bias %[[BG]], up_bias %[[BU]]) layout <rows>
// CHECK: %[[START:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<64xf32>)
// CHECK: moe.down_scatter_add %{{.*}} weights(down %{{.*}}, down_bias %[[BD]]) tokens(%{{.*}}) row_weight(%{{.*}}) layout <rows> outs(%[[START]]
func.func @fused(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %w: tensor<?xf32>, %off: tensor<3xi32>,
                 %g: tensor<2x32x64xf32>, %u: tensor<2x32x64xf32>, %d: tensor<2x64x32xf32>,
                 %bg: tensor<2x32xf32>, %bu: tensor<2x32xf32>, %bd: tensor<2x64xf32>,
                 %b: tensor<64xf32>) -> tensor<?x64xf32> {
  %y = moe.fused_experts swiglu %x tokens(%tok) weights(%w) offsets(%off)
      experts(gate %g, up %u, down %d, gate_bias %bg, up_bias %bu, down_bias %bd)
      output_bias(%b)
      : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<3xi32>,
         tensor<2x32x64xf32>, tensor<2x32x64xf32>, tensor<2x64x32xf32>,
         tensor<2x32xf32>, tensor<2x32xf32>, tensor<2x64xf32>, tensor<64xf32>)
      -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that moe.combine starts every token's sum from its output bias.
// CHECK-LABEL: func.func @combine
// CHECK-SAME: %[[B:[a-z0-9_]+]]: tensor<8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[B]] : tensor<8xf32>)
// CHECK-NOT: linalg.fill
// CHECK: scf.for
func.func @combine(%x: tensor<?x8xf32>, %out: tensor<?x8xf32>, %tok: tensor<?xi32>,
                   %w: tensor<?xf32>, %off: tensor<5xi32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %y = moe.combine %out tokens(%tok) weights(%w) offsets(%off) input(%x) output_bias(%b)
      : (tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>, tensor<?x8xf32>,
         tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
