// RUN: moe-opt %s -moe-lower-to-linalg | FileCheck %s --check-prefix=FUSED
// RUN: moe-opt %s -moe-lower-to-linalg="fuse-experts=false" | FileCheck %s --check-prefix=STAGES

// Tests that the first stage decomposes the layer and, by default, fuses
// its experts: the gated projections read the input through the row
// tokens and the down projections add into the output, so the gathered row
// bundle is gone: grouped kernel ops in the checkpoint's row layout, not
// yet split among threads nor packed (a target's stage does that). With
// fuse-experts=false each stage is lowered on its own: a parallel loop over
// experts on the gathered rows, with matmuls.
// FUSED-LABEL: func.func @mixtral
// FUSED-NOT: moe.layer
// FUSED: moe.gather_gate_up swiglu %{{.*}} tokens(%{{.*}}) offsets(%{{.*}}) weights(gate %{{.*}}, up %{{.*}}) layout <rows>
// FUSED: moe.down_scatter_add %{{.*}} offsets(%{{.*}}) {{.*}} layout <rows>
// FUSED-NOT: moe.fused_experts
// FUSED-NOT: moe.num_workers
// STAGES-LABEL: func.func @mixtral
// STAGES-NOT: moe.gather_gate_up
// STAGES: scf.forall (%{{.*}}) in (8)
// STAGES-COUNT-3: linalg.matmul
// STAGES-NOT: moe.down_scatter_add
func.func @mixtral(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>, %w1: tensor<8x128x64xf32>,
                   %w3: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, renormalize = true>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
            tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
