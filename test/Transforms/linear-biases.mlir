// RUN: moe-opt %s -split-input-file -moe-decompose -moe-fuse-experts | FileCheck %s
// RUN: moe-opt %s -split-input-file -moe-decompose | FileCheck %s --check-prefix=STAGES

// The expert linears' biases and the block's output bias travel from
// moe.layer through moe-decompose (moe.expert_mlp, moe.combine) into
// moe-fuse-experts' moe.fused_experts.

// Tests that a GPT-OSS-like layer keeps every bias at each stage.
// STAGES-LABEL: func.func @gpt_oss
// STAGES-SAME: %[[BG:[a-z0-9_]+]]: tensor<4x6xf32>, %[[BU:[a-z0-9_]+]]: tensor<4x6xf32>, %[[BD:[a-z0-9_]+]]: tensor<4x8xf32>, %[[B:[a-z0-9_]+]]: tensor<8xf32>)
// STAGES: moe.expert_mlp swiglu %{{.*}} weights(gate %{{.*}}, up %{{.*}}, down %{{.*}}, gate_bias %[[BG]], up_bias %[[BU]], down_bias %[[BD]])
// STAGES: moe.combine %{{.*}} output_bias(%[[B]])
// CHECK-LABEL: func.func @gpt_oss
// CHECK-SAME: %[[BG:[a-z0-9_]+]]: tensor<4x6xf32>, %[[BU:[a-z0-9_]+]]: tensor<4x6xf32>, %[[BD:[a-z0-9_]+]]: tensor<4x8xf32>, %[[B:[a-z0-9_]+]]: tensor<8xf32>)
// CHECK: moe.fused_experts swiglu %{{.*}} experts(gate %{{.*}}, up %{{.*}}, down %{{.*}}, gate_bias %[[BG]], up_bias %[[BU]], down_bias %[[BD]]) output_bias(%[[B]])
// CHECK-NOT: moe.combine
func.func @gpt_oss(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x6x8xf32>,
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

// Tests that a fused layer with a shared expert keeps its biases when the
// shared expert joins, and that Llama 4's input scaling keeps them too.
// CHECK-LABEL: func.func @shared_scaled
// CHECK: moe.fused_experts swiglu %{{.*}} experts(gate %{{.*}}, up %{{.*}}, down %{{.*}}, down_bias %{{.*}}) shared(gate %{{.*}}, up %{{.*}}, down %{{.*}}) output_bias(%{{.*}}) {scale_expert_input}
func.func @shared_scaled(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x6x8xf32>,
                         %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %bd: tensor<4x8xf32>,
                         %sg: tensor<5x8xf32>, %su: tensor<5x8xf32>, %sd: tensor<8x5xf32>,
                         %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d, down_bias %bd)
         shared(gate %sg, up %su, down %sd) output_bias(%b)
         {router = #moe.routing<top_k = 1, select_on = logits, scoring = sigmoid>, scale_expert_input}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>,
            tensor<4x8x6xf32>, tensor<5x8xf32>, tensor<5x8xf32>, tensor<8x5xf32>,
            tensor<4x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
