// RUN: moe-opt %s -moe-expert-parallel="ep-size=3 placement=round-robin" | FileCheck %s --check-prefix=RR
// RUN: moe-opt %s -moe-expert-parallel="ep-size=3 placement=%S/Inputs/replicated-8x3.json" | FileCheck %s --check-prefix=REP
// RUN: moe-opt %s -moe-expert-parallel="ep-size=3" | FileCheck %s --check-prefix=UNEVEN
// RUN: moe-opt %s -moe-expert-parallel="ep-size=1" | FileCheck %s --check-prefix=ONE

// Tests the placements: round-robin over 3 ranks deals 8 experts as 3, 3
// and 2 (an empty slot, -1); a file may replicate experts (expert 0 on
// every rank, 7 on two); contiguous blocks give the remainder to the first
// ranks; ep-size=1 leaves the function alone.
// RR-LABEL: func.func @layer
// RR-SAME: tensor<3x128x64xf32> {moe.placement = #moe.placement<experts = 8, slots = 3, table = [0, 3, 6, 1, 4, 7, 2, 5, -1]>
// RR: moe.dispatch {{.*}} -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<10xi32>
// RR: moe.received_order %{{.*}} : tensor<3x3xi32> -> tensor<?xi32>, tensor<4xi32>
// REP-LABEL: func.func @layer
// REP-SAME: tensor<4x128x64xf32> {moe.placement = #moe.placement<experts = 8, slots = 4, table = [0, 1, 2, 7, 3, 4, 5, 0, 6, 7, 0, -1]>
// REP: moe.place {{.*}}table = [0, 1, 2, 7, 3, 4, 5, 0, 6, 7, 0, -1]
// REP: moe.dispatch {{.*}} tensor<13xi32>
// UNEVEN-LABEL: func.func @layer
// UNEVEN-SAME: table = [0, 1, 2, 3, 4, 5, 6, 7, -1]
// ONE-LABEL: func.func @layer
// ONE-NOT: moe.ep_size
// ONE: moe.expert_mlp
func.func @layer(%x: tensor<?x64xf32>, %logits: tensor<?x8xf32>,
    %g: tensor<8x128x64xf32> {moe.weight = "e.{e}.w1"},
    %u: tensor<8x128x64xf32> {moe.weight = "e.{e}.w3"},
    %d: tensor<8x64x128xf32> {moe.weight = "e.{e}.w2"}) -> tensor<?x64xf32> {
  %w, %ids = moe.route %logits {routing = #moe.routing<top_k = 2, renormalize = true>} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
