// RUN: moe-opt %s -split-input-file -moe-decompose | FileCheck %s
// RUN: moe-opt %s -split-input-file -moe-decompose -moe-fuse-experts | FileCheck %s --check-prefix=FUSE

// Tests that a Soft MoE layer (4 experts of 2 slots) becomes the router GEMM
// over its 8 slot rows, soft dispatch, the grouped FFN over the slot rows
// (offsets e·S from the dispatch), soft combine on the same logits, and the
// shared expert added; moe-fuse-experts leaves the slot FFN alone (its rows
// are not gathered tokens).
// CHECK-LABEL: func.func @soft_moe
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[WG:.*]]: tensor<8x16xf32>, %[[G:.*]]: tensor<4x32x16xf32>, %[[U:.*]]: tensor<4x32x16xf32>, %[[D:.*]]: tensor<4x16x32xf32>
// CHECK: %[[L:.*]] = linalg.matmul {{.*}} ins(%[[X]], %[[WG]] : tensor<?x16xf32>, tensor<8x16xf32>) outs(%{{.*}} : tensor<?x8xf32>)
// CHECK: %[[ROWS:.*]], %[[OFF:.*]] = moe.soft_dispatch %[[X]], %[[L]] {routing = #moe.soft_moe<slots_per_expert = 2>} : tensor<?x16xf32>, tensor<?x8xf32> -> tensor<?x16xf32>, tensor<5xi32>
// CHECK: %[[OUT:.*]] = moe.expert_mlp swiglu %[[ROWS]] offsets(%[[OFF]]) weights(gate %[[G]], up %[[U]], down %[[D]])
// CHECK: %[[Y:.*]] = moe.soft_combine %[[OUT]], %[[L]] : (tensor<?x16xf32>, tensor<?x8xf32>) -> tensor<?x16xf32>
// CHECK: %[[S:.*]] = moe.shared_mlp swiglu %[[X]]
// CHECK: %[[SUM:.*]] = arith.addf %[[Y]], %[[S]]
// CHECK-NOT: moe.layer
// CHECK: return %[[SUM]]
// FUSE-LABEL: func.func @soft_moe
// FUSE-NOT: moe.fused_experts
// FUSE: moe.soft_dispatch
// FUSE: moe.expert_mlp
// FUSE: moe.soft_combine
func.func @soft_moe(%x: tensor<?x16xf32>, %wg: tensor<8x16xf32>,
                    %g: tensor<4x32x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>,
                    %sg: tensor<24x16xf32>, %su: tensor<24x16xf32>, %sd: tensor<16x24xf32>) -> tensor<?x16xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd)
         {router = #moe.soft_moe<slots_per_expert = 2>}
         : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<4x32x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>,
            tensor<24x16xf32>, tensor<24x16xf32>, tensor<16x24xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}
