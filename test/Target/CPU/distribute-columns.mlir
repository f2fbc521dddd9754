// RUN: moe-opt %s -split-input-file -moe-cpu-distribute-columns -canonicalize | FileCheck %s

// Tests that each expert kernel's columns are split into one chunk per
// worker, each a multiple of two 32-column panels (2 panels of the
// domain's panel units): the gate/up projection's 10 panels (320 columns)
// and the down projection's 2 panels (64 columns), each in its own
// scf.forall writing its chunk's columns [32q, min(N, 32(q+s))) of every
// row, the experts' panels sliced to the chunk.
// CHECK-DAG: #[[UNITS:.*]] = affine_map<(d0)[s0] -> (-d0 + 10, s0)>
// CHECK-DAG: #[[FIRST:.*]] = affine_map<()[s0] -> (s0 * 32)>
// CHECK-DAG: #[[WIDTH:.*]] = affine_map<()[s0, s1] -> (s1 * -32 + 320, s0 * 32)>
// CHECK-LABEL: func.func @fused_experts
// CHECK-SAME: %[[G:[a-z0-9]+]]: tensor<8x10x64x32xf32>, %[[U:[a-z0-9]+]]: tensor<8x10x64x32xf32>, %[[D:[a-z0-9]+]]: tensor<8x2x320x32xf32>
// CHECK: %[[WORKERS:.*]] = moe.num_workers
// CHECK: %[[PER:.*]] = arith.ceildivui %c10, %[[WORKERS]] : index
// CHECK: %[[GRANULES:.*]] = arith.ceildivui %[[PER]], %c2 : index
// CHECK: %[[ROUNDED:.*]] = arith.muli %[[GRANULES]], %c2 : index
// CHECK: %[[CHUNK:.*]] = arith.maxui %[[ROUNDED]], %c2 : index
// CHECK: %[[ACT:.*]] = scf.forall (%[[Q:.*]]) = (0) to (10) step (%[[CHUNK]]) shared_outs(%[[A:.*]] = %{{.*}}) -> (tensor<?x320xf32>)
// CHECK: %[[S:.*]] = affine.min #[[UNITS]](%[[Q]])[%[[CHUNK]]]
// CHECK: %[[C0:.*]] = affine.apply #[[FIRST]]()[%[[Q]]]
// CHECK: %[[CW:.*]] = affine.min #[[WIDTH]]()[%[[S]], %[[Q]]]
// CHECK: %[[DEST:.*]] = tensor.extract_slice %[[A]][0, %[[C0]]] [%{{.*}}, %[[CW]]] [1, 1]
// CHECK-DAG: %[[UQ:.*]] = tensor.extract_slice %[[U]][0, %[[Q]], 0, 0] [8, %[[S]], 64, 32] [1, 1, 1, 1]
// CHECK-DAG: %[[GQ:.*]] = tensor.extract_slice %[[G]][0, %[[Q]], 0, 0] [8, %[[S]], 64, 32] [1, 1, 1, 1]
// CHECK: moe.gather_gate_up swiglu %{{.*}} weights(gate %[[GQ]], up %[[UQ]]) layout <panels = 32> outs(%[[DEST]])
// CHECK: tensor.parallel_insert_slice
// CHECK: moe.num_workers
// CHECK: scf.forall (%[[Q2:.*]]) = (0) to (2) step (%{{.*}})
// CHECK: %[[DQ:.*]] = tensor.extract_slice %[[D]][0, %[[Q2]], 0, 0] [8, %{{.*}}, 320, 32] [1, 1, 1, 1]
// CHECK: moe.down_scatter_add %[[ACT]] offsets(%{{.*}}) weights(down %[[DQ]]) {{.*}} layout <panels = 32>
func.func @fused_experts(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %w: tensor<?xf32>, %off: tensor<9xi32>,
                         %g: tensor<8x10x64x32xf32>, %u: tensor<8x10x64x32xf32>, %d: tensor<8x2x320x32xf32>,
                         %a: tensor<?x320xf32>, %o: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %h = moe.gather_gate_up swiglu %x tokens(%tok) offsets(%off) weights(gate %g, up %u) layout <panels = 32> outs(%a)
      : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x10x64x32xf32>, tensor<8x10x64x32xf32>, tensor<?x320xf32>) -> tensor<?x320xf32>
  %y = moe.down_scatter_add %h offsets(%off) weights(down %d) tokens(%tok) row_weight(%w) layout <panels = 32> outs(%o)
      : (tensor<?x320xf32>, tensor<9xi32>, tensor<8x2x320x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that in the rows layout the chunks are counted in columns (64 at a
// time), and that a kernel already in an scf.forall is left as it is.
// CHECK-LABEL: func.func @rows
// CHECK: arith.ceildivui %c96, %{{.*}} : index
// CHECK: arith.ceildivui %{{.*}}, %c64 : index
// CHECK: scf.forall (%{{.*}}) = (0) to (96) step (%{{.*}})
// CHECK: moe.gather_gate_up relu {{.*}} layout <rows>
// CHECK: scf.forall (%{{.*}}) in (2)
// CHECK-NOT: scf.forall
// CHECK: moe.gather_gate_up relu {{.*}} layout <rows>
func.func @rows(%x: tensor<?x64xf32>, %u: tensor<96x64xf32>, %a: tensor<?x96xf32>) -> (tensor<?x96xf32>, tensor<?x96xf32>) {
  %h = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a)
      : (tensor<?x64xf32>, tensor<96x64xf32>, tensor<?x96xf32>) -> tensor<?x96xf32>
  %k = scf.forall (%i) in (2) shared_outs(%o = %a) -> (tensor<?x96xf32>) {
    %r = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%o)
        : (tensor<?x64xf32>, tensor<96x64xf32>, tensor<?x96xf32>) -> tensor<?x96xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %r into %o[0, 0] [%i, 96] [1, 1] : tensor<?x96xf32> into tensor<?x96xf32>
    }
  }
  return %h, %k : tensor<?x96xf32>, tensor<?x96xf32>
}
