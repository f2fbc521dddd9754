// RUN: moe-opt %s -split-input-file -convert-moe-to-linalg="parallel-dispatch" -verify-diagnostics | FileCheck %s
// RUN: moe-opt %s -split-input-file -convert-moe-to-linalg -verify-diagnostics | FileCheck %s --check-prefix=SERIAL
// RUN: moe-opt %s -split-input-file --pass-pipeline="builtin.module(convert-moe-to-linalg{tokens-per-part=1 parallel-dispatch},canonicalize,cse,moe-bufferize,moe-cuda-map-to-gpu)" \
// RUN:   | FileCheck %s --check-prefix=KERNELS

// Tests that dropless dispatch with parallel-dispatch has no loop over the
// slots: each slot's bucket (its expert) in chunks of 256, the bucket counts
// per chunk (a reduction over the chunk), their exclusive sums over chunks
// and the expert offsets (masked reductions), then one generic over rows
// writing row_token and row_weight, where each row binary-searches its
// expert and chunk and scans that chunk; no dropped rows' starts. On the
// CUDA target (KERNELS) no launch of it is a single thread: the serial
// form (SERIAL) has four.
// CHECK-LABEL: func.func @dropless
// CHECK-NOT: scf.for
// CHECK: %[[CHUNKS:.*]] = arith.ceildivui %{{.*}}, %c256
// CHECK: %[[BUCKETS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}} outs(%{{.*}} : tensor<?x256xi32>)
// CHECK: %[[COUNTS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%[[BUCKETS]] : tensor<?x256xi32>) outs(%{{.*}} : tensor<?x8xi32>)
// CHECK: %[[BEFORE:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%[[COUNTS]] : tensor<?x8xi32>) outs(%{{.*}} : tensor<?x8xi32>)
// CHECK: %[[TOTALS:.*]] = tensor.extract_slice %[[BEFORE]][%[[CHUNKS]], 0] [1, 8] [1, 1] : tensor<?x8xi32> to tensor<8xi32>
// CHECK: %[[KEPT:.*]] = linalg.generic {{.*}}ins(%[[TOTALS]] : tensor<8xi32>)
// CHECK: arith.minui
// CHECK: %[[OFFSETS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} ins(%[[KEPT]] : tensor<8xi32>) outs(%{{.*}} : tensor<9xi32>)
// CHECK-NOT: iterator_types = ["parallel", "reduction"]
// CHECK: %[[ROWS:.*]]:2 = linalg.generic {{.*}}iterator_types = ["parallel"]{{.*}} outs(%{{.*}}, %{{.*}} : tensor<?xi32>, tensor<?xf32>)
// CHECK: scf.while
// CHECK: tensor.extract %[[OFFSETS]]
// CHECK: scf.while
// CHECK: tensor.extract %[[BEFORE]]
// CHECK: scf.while
// CHECK: tensor.extract %[[BUCKETS]]
// CHECK: linalg.yield %{{.*}}, %{{.*}} : i32, f32
// CHECK-NOT: scf.for
// CHECK: return %{{.*}}, %[[ROWS]]#0, %[[ROWS]]#1, %[[OFFSETS]]
// SERIAL-LABEL: func.func @dropless
// SERIAL: scf.for
// KERNELS-LABEL: func.func @dropless
// KERNELS-NOT: threads({{.*}}) in (%{{[a-z0-9_]+}} = %c1{{(_[0-9]+)?}},
// KERNELS: gpu.launch blocks
// KERNELS-NOT: threads({{.*}}) in (%{{[a-z0-9_]+}} = %c1{{(_[0-9]+)?}},
// KERNELS: return
func.func @dropless(%x: tensor<?x32xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>)
    -> (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>) {
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w
      : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %r, %t, %rw, %o : tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
}

// -----

// Tests that capacity in token order keeps the expert buckets, computes
// the kept (min with C) and dropped counts per expert, the offsets and the
// dropped rows' starts (after every kept row: the kept counts are summed
// whole), and that each row picks its run (kept or dropped) by comparing
// with offsets[E]; a dropped row's index among its expert's slots comes
// after the kept ones; no single-thread launch on the CUDA target.
// CHECK-LABEL: func.func @capacity_token_order
// CHECK-NOT: scf.for
// CHECK: outs(%{{.*}} : tensor<?x256xi32>)
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8xi32>)
// CHECK: %[[BEFORE:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8xi32>)
// CHECK: %[[TOTALS:.*]] = tensor.extract_slice %[[BEFORE]]{{.*}} to tensor<8xi32>
// CHECK: %[[KEPT:.*]] = linalg.generic {{.*}}ins(%[[TOTALS]] : tensor<8xi32>)
// CHECK: arith.minui
// CHECK: %[[DROPPED:.*]] = linalg.generic {{.*}}ins(%[[TOTALS]], %[[KEPT]] : tensor<8xi32>, tensor<8xi32>)
// CHECK: arith.subi
// CHECK: %[[OFFSETS:.*]] = linalg.generic {{.*}}ins(%[[KEPT]] : tensor<8xi32>) outs(%{{.*}} : tensor<9xi32>)
// CHECK: %[[STARTS:.*]] = linalg.generic {{.*}}ins(%[[DROPPED]], %[[KEPT]] : tensor<8xi32>, tensor<8xi32>) outs(%{{.*}} : tensor<9xi32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel"]{{.*}} outs(%{{.*}}, %{{.*}} : tensor<?xi32>, tensor<?xf32>)
// CHECK: %[[NUMKEPT:.*]] = tensor.extract %[[OFFSETS]][%c8{{.*}}]
// CHECK: %[[INKEPT:.*]] = arith.cmpi ult, %{{.*}}, %[[NUMKEPT]]
// CHECK: scf.while
// CHECK: tensor.extract %[[STARTS]]
// CHECK: arith.select %[[INKEPT]]
// CHECK-NOT: scf.for
// CHECK: return
// KERNELS-LABEL: func.func @capacity_token_order
// KERNELS-NOT: threads({{.*}}) in (%{{[a-z0-9_]+}} = %c1{{(_[0-9]+)?}},
// KERNELS: gpu.launch blocks
// KERNELS-NOT: threads({{.*}}) in (%{{[a-z0-9_]+}} = %c1{{(_[0-9]+)?}},
// KERNELS: return
func.func @capacity_token_order(%x: tensor<?x32xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>)
    -> (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>) {
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<factor = 1.25, drop_order = token_order>}
      : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %r, %t, %rw, %o : tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
}

// -----

// Tests that capacity with lowest_weight buckets each slot by (expert,
// dropped?) from its weight rank (a reduction over slots): 2·E buckets,
// the kept and dropped counts being the two halves of the totals; no
// single-thread launch on the CUDA target.
// CHECK-LABEL: func.func @capacity_lowest_weight
// CHECK-NOT: scf.for
// CHECK: %[[RANK:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} outs(%{{.*}} : tensor<?xi32>)
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x256xi32>)
// CHECK: tensor.extract %[[RANK]]
// CHECK: arith.cmpi uge
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x16xi32>)
// CHECK: %[[BEFORE:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<?x16xi32>)
// CHECK: %[[TOTALS:.*]] = tensor.extract_slice %[[BEFORE]]{{.*}} to tensor<16xi32>
// CHECK: %[[KEPT:.*]] = tensor.extract_slice %[[TOTALS]][0] [8] [1]
// CHECK: %[[DROPPED:.*]] = tensor.extract_slice %[[TOTALS]][8] [8] [1]
// CHECK: linalg.generic {{.*}}ins(%[[KEPT]] : tensor<8xi32>) outs(%{{.*}} : tensor<9xi32>)
// CHECK: linalg.generic {{.*}}ins(%[[DROPPED]], %[[KEPT]] : tensor<8xi32>, tensor<8xi32>) outs(%{{.*}} : tensor<9xi32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel"]{{.*}} outs(%{{.*}}, %{{.*}} : tensor<?xi32>, tensor<?xf32>)
// CHECK-NOT: scf.for
// CHECK: return
// KERNELS-LABEL: func.func @capacity_lowest_weight
// KERNELS-NOT: threads({{.*}}) in (%{{[a-z0-9_]+}} = %c1{{(_[0-9]+)?}},
// KERNELS: gpu.launch blocks
// KERNELS-NOT: threads({{.*}}) in (%{{[a-z0-9_]+}} = %c1{{(_[0-9]+)?}},
// KERNELS: return
func.func @capacity_lowest_weight(%x: tensor<?x32xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>)
    -> (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>) {
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<factor = 1.25, drop_order = lowest_weight>}
      : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %r, %t, %rw, %o : tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
}

// -----

// Tests that expert choice with parallel-dispatch places tokens by a gather,
// not a scatter: after the ranks (a reduction over rival tokens), one
// generic over (expert, slot, token) with the token dim a reduction writes
// row_token and row_weight as [E, C] (the token whose rank for the expert
// equals the slot; fills elsewhere), collapsed to the rows [E·C]; no loop.
// The serial form (SERIAL) scatters in scf.for loops. On the CUDA target
// (KERNELS) no launch is a single thread.
// CHECK-LABEL: func.func @expert_choice
// CHECK-NOT: scf.for
// CHECK: %[[CAP:.*]] = arith.minui
// CHECK: %[[RANK:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} outs(%{{.*}} : tensor<?x8xi32>)
// CHECK: tensor.empty(%[[CAP]]) : tensor<8x?xi32>
// CHECK: %[[TOKENS0:.*]] = linalg.fill {{.*}} -> tensor<8x?xi32>
// CHECK: %[[WEIGHTS0:.*]] = linalg.fill {{.*}} -> tensor<8x?xf32>
// CHECK: %[[GRID:.*]]:2 = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%[[RANK]], %{{.*}} : tensor<?x8xi32>, tensor<?x8xf32>) outs(%[[TOKENS0]], %[[WEIGHTS0]] : tensor<8x?xi32>, tensor<8x?xf32>)
// CHECK: ^bb0(%[[R:.*]]: i32, %[[P:.*]]: f32, %[[T:.*]]: i32, %[[W:.*]]: f32):
// CHECK: %[[SLOT:.*]] = linalg.index 1
// CHECK: %[[SLOTI32:.*]] = arith.index_cast %[[SLOT]]
// CHECK: %[[TOKEN:.*]] = linalg.index 2
// CHECK: %[[TOKENI32:.*]] = arith.index_cast %[[TOKEN]]
// CHECK: %[[MATCH:.*]] = arith.cmpi eq, %[[R]], %[[SLOTI32]]
// CHECK: %[[NEWT:.*]] = arith.select %[[MATCH]], %[[TOKENI32]], %[[T]]
// CHECK: %[[NEWW:.*]] = arith.select %[[MATCH]], %[[P]], %[[W]]
// CHECK: linalg.yield %[[NEWT]], %[[NEWW]] : i32, f32
// CHECK: %[[ROWTOKEN:.*]] = tensor.collapse_shape %[[GRID]]#0 {{\[\[}}0, 1]] : tensor<8x?xi32> into tensor<?xi32>
// CHECK: %[[ROWWEIGHT:.*]] = tensor.collapse_shape %[[GRID]]#1 {{\[\[}}0, 1]] : tensor<8x?xf32> into tensor<?xf32>
// CHECK-NOT: scf.for
// CHECK: return %{{.*}}, %[[ROWTOKEN]], %[[ROWWEIGHT]], %{{.*}}
// SERIAL-LABEL: func.func @expert_choice
// SERIAL: scf.for
// SERIAL: scf.for
// SERIAL: tensor.insert
// KERNELS-LABEL: func.func @expert_choice
// KERNELS-NOT: threads({{.*}}) in (%{{[a-z0-9_]+}} = %c1{{(_[0-9]+)?}},
// KERNELS: gpu.launch blocks
// KERNELS-NOT: threads({{.*}}) in (%{{[a-z0-9_]+}} = %c1{{(_[0-9]+)?}},
// KERNELS: return
func.func @expert_choice(%x: tensor<?x32xf32>, %logits: tensor<?x8xf32>)
    -> (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>) {
  %r, %t, %w, %o = moe.expert_choice %x, %logits
      {routing = #moe.expert_choice<capacity_factor = 2.0>}
      : tensor<?x32xf32>, tensor<?x8xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %r, %t, %w, %o : tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
}

// -----

// Tests that a dispatch to zero (identity) experts permutes over E + Z = 6
// buckets, both forms, and returns the E + 1 offsets of the real experts:
// the identity slots are the rows past offsets[E].
// CHECK-LABEL: func.func @zero_expert_dispatch
// CHECK: tensor<?x6xi32>
// CHECK: %[[OFF:.*]] = tensor.extract_slice %{{.*}}[0] [5] [1] : tensor<7xi32> to tensor<5xi32>
// CHECK: return %[[OFF]]
// SERIAL-LABEL: func.func @zero_expert_dispatch
// SERIAL: linalg.fill ins(%{{.*}} : i32) outs(%{{.*}} : tensor<6xi32>)
// SERIAL: %[[OFF:.*]] = tensor.extract_slice %{{.*}}[0] [5] [1] : tensor<7xi32> to tensor<5xi32>
// SERIAL: return %[[OFF]]
func.func @zero_expert_dispatch(%x: tensor<?x64xf32>, %ids: tensor<?x3xi32>, %w: tensor<?x3xf32>) -> tensor<5xi32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w {zero_experts = 2} : tensor<?x64xf32>, tensor<?x3xi32>, tensor<?x3xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return %off : tensor<5xi32>
}
