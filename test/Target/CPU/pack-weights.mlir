// RUN: moe-opt %s -split-input-file -convert-moe-to-linalg -moe-cpu-pack-weights | FileCheck %s

// Tests that bound weights (public, named, used only by expert kernels)
// change type to 32-column panels and record how, for the runtime to pack
// them at bind time: gate/up [8,40,64] → [8,2,64,32], down [8,64,40] →
// [8,2,40,32]; the source shape is kept, since the panels pad N. The
// kernels' layout becomes panels of 32.
// CHECK-LABEL: func.func @bound
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<8x2x64x32xf32> {moe.weight = "g.{e}", moe.weight_pack = array<i64: 1, 32>, moe.weight_source_shape = array<i64: 8, 40, 64>}
// CHECK-SAME: %[[U:[a-z0-9]+]]: tensor<8x2x64x32xf32> {moe.weight = "u.{e}", moe.weight_pack = array<i64: 1, 32>, moe.weight_source_shape = array<i64: 8, 40, 64>}
// CHECK-SAME: %[[D:[a-z0-9]+]]: tensor<8x2x40x32xf32> {moe.weight = "d.{e}", moe.weight_pack = array<i64: 1, 32>, moe.weight_source_shape = array<i64: 8, 64, 40>}
// CHECK-NOT: linalg.pack
// CHECK: moe.gather_gate_up swiglu %{{.*}} weights(gate %[[G]], up %[[U]]) layout <panels = 32>
// CHECK: moe.down_scatter_add %{{.*}} weights(down %[[D]]) {{.*}} layout <panels = 32>
func.func @bound(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %w: tensor<?xf32>, %off: tensor<9xi32>,
                 %g: tensor<8x40x64xf32> {moe.weight = "g.{e}"},
                 %u: tensor<8x40x64xf32> {moe.weight = "u.{e}"},
                 %d: tensor<8x64x40xf32> {moe.weight = "d.{e}"}) -> tensor<?x64xf32> {
  %y = moe.fused_experts swiglu %x tokens(%tok) weights(%w) offsets(%off) experts(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<8x40x64xf32>, tensor<8x40x64xf32>, tensor<8x64x40xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that weights the runtime does not bind (no name, or another use
// than expert kernels) are packed in the graph, once each, with zero
// padding, as a pad, a reshape and a transpose (linalg.pack, lowered); a
// bound shared-expert weight is retyped (dimension 0).
// CHECK-LABEL: func.func @in_graph
// CHECK-SAME: %[[U:[a-z0-9]+]]: tensor<4x8x16xf32>, %[[D:[a-z0-9]+]]: tensor<4x16x8xf32>
// CHECK-SAME: %[[PSU:[a-z0-9]+]]: tensor<2x16x32xf32> {moe.weight = "su", moe.weight_pack = array<i64: 0, 32>, moe.weight_source_shape = array<i64: 40, 16>}, %[[SD:[a-z0-9]+]]: tensor<16x40xf32> {moe.weight = "sd"}
// CHECK-NOT: linalg.pack
// CHECK: %[[PADSD:.*]] = tensor.pad %[[SD]] low[0, 0] high[16, 0]
// CHECK: %[[PSD:.*]] = linalg.transpose ins(%{{.*}} : tensor<1x32x40xf32>) outs(%{{.*}} : tensor<1x40x32xf32>) permutation = [0, 2, 1]
// CHECK: tensor.pad %[[D]] low[0, 0, 0] high[0, 16, 0]
// CHECK: %[[PD:.*]] = linalg.transpose {{.*}} outs(%{{.*}} : tensor<4x1x8x32xf32>)
// CHECK: tensor.pad %[[U]] low[0, 0, 0] high[0, 24, 0]
// CHECK: %[[PU:.*]] = linalg.transpose {{.*}} outs(%{{.*}} : tensor<4x1x16x32xf32>)
// CHECK: moe.gather_gate_up gelu %{{.*}} weights(up %[[PU]]) layout <panels = 32>
// CHECK: moe.down_scatter_add %{{.*}} weights(down %[[PD]]) {{.*}} layout <panels = 32>
// CHECK: moe.gather_gate_up gelu %{{.*}} weights(up %[[PSU]]) layout <panels = 32>
// CHECK: moe.down_scatter_add %{{.*}} weights(down %[[PSD]]) layout <panels = 32>
// CHECK-NOT: tensor.pad
// CHECK: moe.gather_gate_up gelu %{{.*}} weights(up %[[PU]]) layout <panels = 32>
// CHECK: moe.down_scatter_add %{{.*}} weights(down %[[PD]]) {{.*}} layout <panels = 32>
// CHECK: moe.gather_gate_up gelu %{{.*}} weights(up %[[PSU]]) layout <panels = 32>
// CHECK: moe.down_scatter_add %{{.*}} weights(down %[[PSD]]) layout <panels = 32>
func.func @in_graph(%x: tensor<?x16xf32>, %tok: tensor<?xi32>, %off: tensor<5xi32>,
                    %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>,
                    %su: tensor<40x16xf32> {moe.weight = "su"}, %sd: tensor<16x40xf32> {moe.weight = "sd"}) -> (tensor<?x16xf32>, tensor<16x40xf32>) {
  %y = moe.fused_experts gelu %x tokens(%tok) offsets(%off) experts(up %u, down %d) shared(up %su, down %sd) : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<40x16xf32>, tensor<16x40xf32>) -> tensor<?x16xf32>
  %z = moe.fused_experts gelu %y tokens(%tok) offsets(%off) experts(up %u, down %d) shared(up %su, down %sd) : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<40x16xf32>, tensor<16x40xf32>) -> tensor<?x16xf32>
  return %z, %sd : tensor<?x16xf32>, tensor<16x40xf32>
}

