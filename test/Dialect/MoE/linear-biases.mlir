// RUN: moe-opt %s -split-input-file | moe-opt -split-input-file | FileCheck %s

// The expert linears' biases (GPT-OSS) and the block's output bias
// (JetMoE) round-trip on every op that carries them.

// Tests that moe.layer prints the expert biases after the weights, inside
// experts(...), and the output bias after them.
// CHECK-LABEL: func.func @layer
// CHECK: moe.layer %{{.*}} router(%{{.*}}) experts(gate %{{.*}}, up %{{.*}}, down %{{.*}}, gate_bias %{{.*}}, up_bias %{{.*}}, down_bias %{{.*}}) output_bias(%{{.*}}) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6xf32>, tensor<4x6xf32>, tensor<4x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
func.func @layer(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x6x8xf32>,
                 %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %bg: tensor<4x6xf32>,
                 %bu: tensor<4x6xf32>, %bd: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg)
         experts(gate %g, up %u, down %d, gate_bias %bg, up_bias %bu, down_bias %bd)
         output_bias(%b) {router = #moe.routing<top_k = 2>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>,
            tensor<4x8x6xf32>, tensor<4x6xf32>, tensor<4x6xf32>, tensor<4x8xf32>,
            tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that an ungated layer takes an up bias alone.
// CHECK-LABEL: func.func @layer_ungated
// CHECK: experts(up %{{.*}}, down %{{.*}}, up_bias %{{.*}})
func.func @layer_ungated(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
                         %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>,
                         %bu: tensor<4x6xf32>) -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(up %u, down %d, up_bias %bu)
         {router = #moe.routing<top_k = 1>, activation = #moe<activation gelu>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>,
            tensor<4x6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that moe.expert_mlp, moe.combine and moe.fused_experts print theirs.
// CHECK-LABEL: func.func @stages
// CHECK: moe.expert_mlp swiglu %{{.*}} offsets(%{{.*}}) weights(gate %{{.*}}, up %{{.*}}, down %{{.*}}, up_bias %{{.*}}, down_bias %{{.*}})
// CHECK: moe.combine %{{.*}} tokens(%{{.*}}) weights(%{{.*}}) offsets(%{{.*}}) input(%{{.*}}) output_bias(%{{.*}})
// CHECK: moe.fused_experts swiglu %{{.*}} tokens(%{{.*}}) weights(%{{.*}}) offsets(%{{.*}}) experts(gate %{{.*}}, up %{{.*}}, down %{{.*}}, gate_bias %{{.*}}, down_bias %{{.*}}) output_bias(%{{.*}})
func.func @stages(%x: tensor<?x8xf32>, %rows: tensor<?x8xf32>, %tok: tensor<?xi32>,
                  %w: tensor<?xf32>, %off: tensor<5xi32>, %g: tensor<4x6x8xf32>,
                  %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %bg: tensor<4x6xf32>,
                  %bu: tensor<4x6xf32>, %bd: tensor<4x8xf32>, %b: tensor<8xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %out = moe.expert_mlp swiglu %rows offsets(%off)
      weights(gate %g, up %u, down %d, up_bias %bu, down_bias %bd)
      : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>,
         tensor<4x8x6xf32>, tensor<4x6xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  %y = moe.combine %out tokens(%tok) weights(%w) offsets(%off) input(%x) output_bias(%b)
      : (tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>, tensor<?x8xf32>,
         tensor<8xf32>) -> tensor<?x8xf32>
  %f = moe.fused_experts swiglu %x tokens(%tok) weights(%w) offsets(%off)
      experts(gate %g, up %u, down %d, gate_bias %bg, down_bias %bd) output_bias(%b)
      : (tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>, tensor<4x6x8xf32>,
         tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6xf32>, tensor<4x8xf32>,
         tensor<8xf32>) -> tensor<?x8xf32>
  return %y, %f : tensor<?x8xf32>, tensor<?x8xf32>
}

// -----

// Tests that the kernel ops print their biases inside weights(...).
// CHECK-LABEL: func.func @kernels
// CHECK: moe.gather_gate_up swiglu %{{.*}} tokens(%{{.*}}) offsets(%{{.*}}) weights(gate %{{.*}}, up %{{.*}}, gate_bias %{{.*}}, up_bias %{{.*}}) layout <rows>
// CHECK: moe.down_scatter_add %{{.*}} offsets(%{{.*}}) weights(down %{{.*}}, down_bias %{{.*}}) tokens(%{{.*}}) layout <rows>
func.func @kernels(%x: tensor<?x8xf32>, %tok: tensor<?xi32>, %off: tensor<5xi32>,
                   %g: tensor<4x6x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>,
                   %bg: tensor<4x6xf32>, %bu: tensor<4x6xf32>, %bd: tensor<4x8xf32>,
                   %a: tensor<?x6xf32>, %acc: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %h = moe.gather_gate_up swiglu %x tokens(%tok) offsets(%off)
      weights(gate %g, up %u, gate_bias %bg, up_bias %bu) layout <rows> outs(%a)
      : (tensor<?x8xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x6x8xf32>,
         tensor<4x6x8xf32>, tensor<?x6xf32>, tensor<4x6xf32>, tensor<4x6xf32>) -> tensor<?x6xf32>
  %y = moe.down_scatter_add %h offsets(%off) weights(down %d, down_bias %bd) tokens(%tok)
      layout <rows> outs(%acc)
      : (tensor<?x6xf32>, tensor<5xi32>, tensor<4x8x6xf32>, tensor<?xi32>,
         tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
