// RUN: moe-opt %s -split-input-file -transform-interpreter -canonicalize | FileCheck %s

// Tests that tiling a grouped gather_gate_up on packed panels along its
// columns (TilingInterface, one panel per tile) slices every expert's
// panels and writes columns [32q, min(40, 32q+32)) of the destination;
// the whole rows keep their tokens and offsets.
// CHECK-DAG: #[[FIRST:.*]] = affine_map<()[s0] -> (s0 * 32)>
// CHECK-DAG: #[[WIDTH:.*]] = affine_map<()[s0] -> (s0 * -32 + 40, 32)>
// CHECK-LABEL: func.func @columns
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[TOK:.*]]: tensor<?xi32>, %[[OFF:.*]]: tensor<9xi32>, %[[U:.*]]: tensor<8x2x64x32xf32>, %[[A:.*]]: tensor<?x40xf32>)
// CHECK: scf.for %[[Q:.*]] = %c0 to %c2 step %c1 iter_args(%[[ACC:.*]] = %[[A]])
// CHECK: %[[C0:.*]] = affine.apply #[[FIRST]]()[%[[Q]]]
// CHECK: %[[CW:.*]] = affine.min #[[WIDTH]]()[%[[Q]]]
// CHECK: %[[DEST:.*]] = tensor.extract_slice %[[ACC]][0, %[[C0]]] [%{{.*}}, %[[CW]]] [1, 1]
// CHECK: %[[UQ:.*]] = tensor.extract_slice %[[U]][0, %[[Q]], 0, 0] [8, 1, 64, 32] [1, 1, 1, 1]
// CHECK: moe.gather_gate_up gelu %[[X]] tokens(%[[TOK]]) offsets(%[[OFF]]) weights(up %[[UQ]]) layout <panels = 32> outs(%[[DEST]])
func.func @columns(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %off: tensor<9xi32>,
                   %u: tensor<8x2x64x32xf32>, %a: tensor<?x40xf32>) -> tensor<?x40xf32> {
  %h = moe.gather_gate_up gelu %x tokens(%tok) offsets(%off) weights(up %u) layout <panels = 32> outs(%a)
      : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x2x64x32xf32>, tensor<?x40xf32>) -> tensor<?x40xf32>
  return %h : tensor<?x40xf32>
}
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %op = transform.structured.match ops{["moe.gather_gate_up"]} in %root : (!transform.any_op) -> !transform.any_op
    %tiled, %loop = transform.structured.tile_using_for %op tile_sizes [0, 1] : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}

// -----

// Tests that tiling the rows of a grouped gather_gate_up (parallel, in an
// scf.forall) slices the rows' tokens, scales and destination and shifts
// the expert offsets into the tile: each clamped into [0, size] after
// subtracting the tile's first row.
// CHECK-LABEL: func.func @rows
// CHECK: scf.forall (%[[I:.*]]) in (4) shared_outs(%[[ACC:.*]] = %{{.*}})
// CHECK: %[[R:.*]] = affine.apply #{{.*}}(%[[I]])
// CHECK: %[[OFFR:.*]] = tensor.generate
// CHECK: %[[O:.*]] = tensor.extract %{{.*}}[%{{.*}}] : tensor<3xi32>
// CHECK: %[[OI:.*]] = arith.index_cast %[[O]] : i32 to index
// CHECK: %[[SHIFT:.*]] = arith.subi %[[OI]], %[[R]] : index
// CHECK: %[[LOW:.*]] = arith.maxsi %[[SHIFT]], %c0 : index
// CHECK: arith.minsi %[[LOW]], %c4 : index
// CHECK: %[[SR:.*]] = tensor.extract_slice %{{.*}}[%[[R]]] [4] [1] : tensor<16xf32> to tensor<4xf32>
// CHECK: %[[TOKR:.*]] = tensor.extract_slice %{{.*}}[%[[R]]] [4] [1] : tensor<16xi32> to tensor<4xi32>
// CHECK: moe.gather_gate_up swiglu %{{.*}} tokens(%[[TOKR]]) scale(%[[SR]]) offsets(%[[OFFR]]) weights(gate %{{.*}}, up %{{.*}}) layout <rows> outs(%{{.*}}) : (tensor<?x8xf32>, tensor<4xi32>, tensor<4xf32>, tensor<3xi32>, tensor<2x6x8xf32>, tensor<2x6x8xf32>, tensor<4x6xf32>) -> tensor<4x6xf32>
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[ACC]][%[[R]], 0] [4, 6] [1, 1]
func.func @rows(%x: tensor<?x8xf32>, %tok: tensor<16xi32>, %s: tensor<16xf32>, %off: tensor<3xi32>,
                %g: tensor<2x6x8xf32>, %u: tensor<2x6x8xf32>, %a: tensor<16x6xf32>) -> tensor<16x6xf32> {
  %h = moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) offsets(%off) weights(gate %g, up %u) layout <rows> outs(%a)
      : (tensor<?x8xf32>, tensor<16xi32>, tensor<16xf32>, tensor<3xi32>, tensor<2x6x8xf32>, tensor<2x6x8xf32>, tensor<16x6xf32>) -> tensor<16x6xf32>
  return %h : tensor<16x6xf32>
}
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %op = transform.structured.match ops{["moe.gather_gate_up"]} in %root : (!transform.any_op) -> !transform.any_op
    %tiled, %loop = transform.structured.tile_using_forall %op tile_sizes [4, 0] : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}

// -----

// Tests that tiling the rows of a down_scatter_add that scatters into
// tokens is a sequential reduction (scf.for): each tile of rows adds into
// all of the destination's rows, tile after tile, so every output element
// is summed in row order as untiled.
// CHECK-LABEL: func.func @scatter_rows
// CHECK: scf.for %[[R:.*]] = %c0 to %c16 step %c4 iter_args(%[[ACC:.*]] = %{{.*}})
// CHECK: %[[DEST:.*]] = tensor.extract_slice %[[ACC]][0, 0] [%{{.*}}, 8] [1, 1]
// CHECK: %[[HR:.*]] = tensor.extract_slice %{{.*}}[%[[R]], 0] [4, 6] [1, 1]
// CHECK: %[[Y:.*]] = moe.down_scatter_add %[[HR]] weights(down %{{.*}}) tokens(%{{.*}}) row_weight(%{{.*}}) layout <rows> outs(%[[DEST]])
// CHECK: tensor.insert_slice %[[Y]] into %[[ACC]][0, 0] [%{{.*}}, 8] [1, 1]
func.func @scatter_rows(%h: tensor<16x6xf32>, %d: tensor<8x6xf32>, %tok: tensor<16xi32>, %w: tensor<16xf32>,
                        %o: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %y = moe.down_scatter_add %h weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%o)
      : (tensor<16x6xf32>, tensor<8x6xf32>, tensor<16xi32>, tensor<16xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %op = transform.structured.match ops{["moe.down_scatter_add"]} in %root : (!transform.any_op) -> !transform.any_op
    %tiled, %loop = transform.structured.tile_using_for %op tile_sizes [4, 0] : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}
