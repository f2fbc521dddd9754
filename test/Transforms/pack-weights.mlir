// RUN: moe-opt %s -split-input-file -moe-pack-weights | FileCheck %s
// RUN: moe-opt %s -split-input-file -moe-pack-weights -convert-moe-to-linalg | FileCheck %s --check-prefix=LOWERED

// Tests that bound weights (public, named, used only by fused experts)
// change type to 32-column panels and record how, for the runtime to pack
// them at bind time: gate/up [8,40,64] → [8,2,64,32], down [8,64,40] →
// [8,2,40,32]; the source shape is kept, since the panels pad N.
// CHECK-LABEL: func.func @bound
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<8x2x64x32xf32> {moe.weight = "g.{e}", moe.weight_pack = array<i64: 1, 32>, moe.weight_source_shape = array<i64: 8, 40, 64>}
// CHECK-SAME: %[[U:[a-z0-9]+]]: tensor<8x2x64x32xf32> {moe.weight = "u.{e}", moe.weight_pack = array<i64: 1, 32>, moe.weight_source_shape = array<i64: 8, 40, 64>}
// CHECK-SAME: %[[D:[a-z0-9]+]]: tensor<8x2x40x32xf32> {moe.weight = "d.{e}", moe.weight_pack = array<i64: 1, 32>, moe.weight_source_shape = array<i64: 8, 64, 40>}
// CHECK-NOT: linalg.pack
// CHECK: moe.fused_experts swiglu %{{.*}} experts(gate %[[G]], up %[[U]], down %[[D]])
// CHECK-SAME: tensor<8x2x64x32xf32>, tensor<8x2x64x32xf32>, tensor<8x2x40x32xf32>
func.func @bound(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %w: tensor<?xf32>, %off: tensor<9xi32>,
                 %g: tensor<8x40x64xf32> {moe.weight = "g.{e}"},
                 %u: tensor<8x40x64xf32> {moe.weight = "u.{e}"},
                 %d: tensor<8x64x40xf32> {moe.weight = "d.{e}"}) -> tensor<?x64xf32> {
  %y = moe.fused_experts swiglu %x tokens(%tok) weights(%w) offsets(%off) experts(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<8x40x64xf32>, tensor<8x40x64xf32>, tensor<8x64x40xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that weights the runtime does not bind (no name, or another use
// than fused experts) are packed in the graph by linalg.pack, once each,
// with zero padding; a bound shared-expert weight is retyped (dimension 0).
// Lowered, the pack is a pad, a reshape and a transpose.
// CHECK-LABEL: func.func @in_graph
// CHECK-SAME: %[[U:[a-z0-9]+]]: tensor<4x8x16xf32>, %[[D:[a-z0-9]+]]: tensor<4x16x8xf32>
// CHECK-SAME: %[[PSU:[a-z0-9]+]]: tensor<2x16x32xf32> {moe.weight = "su", moe.weight_pack = array<i64: 0, 32>, moe.weight_source_shape = array<i64: 40, 16>}, %[[SD:[a-z0-9]+]]: tensor<16x40xf32> {moe.weight = "sd"}
// CHECK-DAG: %[[PU:.*]] = linalg.pack %[[U]] padding_value(%{{.*}} : f32) inner_dims_pos = [1] inner_tiles = [32] into %{{.*}} : tensor<4x8x16xf32> -> tensor<4x1x16x32xf32>
// CHECK-DAG: %[[PD:.*]] = linalg.pack %[[D]] padding_value(%{{.*}} : f32) inner_dims_pos = [1] inner_tiles = [32] into %{{.*}} : tensor<4x16x8xf32> -> tensor<4x1x8x32xf32>
// CHECK-DAG: %[[PSD:.*]] = linalg.pack %[[SD]] padding_value(%{{.*}} : f32) inner_dims_pos = [0] inner_tiles = [32] into %{{.*}} : tensor<16x40xf32> -> tensor<1x40x32xf32>
// CHECK: moe.fused_experts gelu %{{.*}} experts(up %[[PU]], down %[[PD]]) shared(up %[[PSU]], down %[[PSD]])
// CHECK: moe.fused_experts gelu %{{.*}} experts(up %[[PU]], down %[[PD]]) shared(up %[[PSU]], down %[[PSD]])
// LOWERED-LABEL: func.func @in_graph
// LOWERED-NOT: linalg.pack
// LOWERED: tensor.pad
// LOWERED: tensor.expand_shape
// LOWERED: linalg.transpose
// LOWERED: moe.gather_gate_up gelu
// LOWERED-SAME: tensor<?x16x32xf32>
func.func @in_graph(%x: tensor<?x16xf32>, %tok: tensor<?xi32>, %off: tensor<5xi32>,
                    %u: tensor<4x8x16xf32>, %d: tensor<4x16x8xf32>,
                    %su: tensor<40x16xf32> {moe.weight = "su"}, %sd: tensor<16x40xf32> {moe.weight = "sd"}) -> (tensor<?x16xf32>, tensor<16x40xf32>) {
  %y = moe.fused_experts gelu %x tokens(%tok) offsets(%off) experts(up %u, down %d) shared(up %su, down %sd) : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<40x16xf32>, tensor<16x40xf32>) -> tensor<?x16xf32>
  %z = moe.fused_experts gelu %y tokens(%tok) offsets(%off) experts(up %u, down %d) shared(up %su, down %sd) : (tensor<?x16xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x8x16xf32>, tensor<4x16x8xf32>, tensor<40x16xf32>, tensor<16x40xf32>) -> tensor<?x16xf32>
  return %z, %sd : tensor<?x16xf32>, tensor<16x40xf32>
}
