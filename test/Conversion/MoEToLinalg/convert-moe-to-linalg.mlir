// RUN: moe-opt %s -split-input-file -convert-moe-to-linalg -verify-diagnostics | FileCheck %s

// Tests that softmax top-2 routing becomes linalg.generic ops: the softmax
// reductions, two argmax picks (the second excluding the first) and the
// renormalisation, with no moe op left but the worker count: they run in
// one parallel loop over parts of the tokens, one part per worker.
// CHECK-LABEL: func.func @route_softmax_top2
// CHECK-SAME: (%[[L:.*]]: tensor<?x8xf32>)
// CHECK: %[[WORKERS:.*]] = moe.num_workers
// CHECK: arith.ceildivui %{{.*}}, %[[WORKERS]] : index
// CHECK: %[[LOOP:.*]]:2 = scf.forall (%{{.*}}) in (%{{.*}}) shared_outs(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<?x2xf32>, tensor<?x2xi32>)
// CHECK: tensor.extract_slice %[[L]][%{{.*}}, 0] [%{{.*}}, 8] [1, 1] : tensor<?x8xf32> to tensor<?x8xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: math.exp
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: %[[FIRST:.*]]:2 = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: %[[SECOND:.*]]:2 = linalg.generic {{.*}} ins(%{{.*}}, %[[FIRST]]#1 : tensor<?x8xf32>, tensor<?xi32>)
// CHECK: linalg.generic {{.*}} ins(%[[FIRST]]#1, %[[SECOND]]#1 : tensor<?xi32>, tensor<?xi32>) outs(%{{.*}} : tensor<?x2xi32>)
// CHECK: arith.addf %{{.*}}, %{{.*}} : f32
// CHECK: arith.constant 9.99999968E-21 : f32
// CHECK: scf.forall.in_parallel
// CHECK-COUNT-2: tensor.parallel_insert_slice
// CHECK-NOT: moe.
// CHECK: return %[[LOOP]]#0, %[[LOOP]]#1
func.func @route_softmax_top2(%l: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, renormalize = true>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w, %ids : tensor<?x2xf32>, tensor<?x2xi32>
}

// -----

// Tests that group-limited routing views the experts as [T,G,P], scores the
// groups by their top two, and masks the experts of the groups not kept.
// CHECK-LABEL: func.func @route_grouped
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2]] output_shape [%{{.*}}, 4, 4] : tensor<?x16xf32> into tensor<?x4x4xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.constant 0xFF800000 : f32
// CHECK-NOT: moe.route
func.func @route_grouped(%l: tensor<?x16xf32>, %b: tensor<16xf32>) -> tensor<?x4xi32> {
  %w, %ids = moe.route %l bias(%b)
      {routing = #moe.routing<top_k = 4, scoring = sigmoid, renormalize = true,
                              scaling_factor = 2.5, n_group = 4, topk_group = 2,
                              group_score = top2_sum>}
      : tensor<?x16xf32>, tensor<16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return %ids : tensor<?x4xi32>
}

// -----

// Tests that rank-limited routing with a round-robin rank map scores each
// rank over [T,R,E] from the map as a constant (experts of other ranks
// counting as -inf), keeps the rank_limit = 2 best ranks (two argmax picks
// over the [T,4] rank scores) and masks the other experts through the
// same map.
// CHECK-DAG: #[[TE:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[E:.*]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-DAG: #[[TR:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[COL:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @route_rank_limited
// CHECK-NOT: tensor.expand_shape
// CHECK: %[[MAP:.*]] = arith.constant dense<[0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]> : tensor<16xi32>
// CHECK: %[[TOP2:.*]]:2 = linalg.generic {indexing_maps = [#[[TE]], #[[E]], #[[TR]], #[[TR]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}}, %[[MAP]] : tensor<?x16xf32>, tensor<16xi32>) outs(%{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<?x4xf32>)
// CHECK-NEXT: ^bb0(%[[V:.*]]: f32, %[[RANK:.*]]: i32,
// CHECK: %[[SELF:.*]] = arith.index_cast %{{.*}} : index to i32
// CHECK: %[[MEMBER:.*]] = arith.cmpi eq, %[[RANK]], %[[SELF]] : i32
// CHECK: arith.select %[[MEMBER]], %[[V]], %{{.*}} : f32
// CHECK: %[[SCORES:.*]] = linalg.generic {{.*}} ins(%[[TOP2]]#0, %[[TOP2]]#1 : tensor<?x4xf32>, tensor<?x4xf32>)
// CHECK: arith.addf
// CHECK: %[[KEEP1:.*]]:2 = linalg.generic {{.*}} ins(%[[SCORES]] : tensor<?x4xf32>)
// CHECK: %[[KEEP2:.*]]:2 = linalg.generic {{.*}} ins(%[[SCORES]], %[[KEEP1]]#1 : tensor<?x4xf32>, tensor<?xi32>)
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[COL]], #[[ROW]], #[[ROW]], #[[ID]]], iterator_types = ["parallel", "parallel"]} ins(%{{.*}}, %[[MAP]], %[[KEEP1]]#1, %[[KEEP2]]#1 : tensor<?x16xf32>, tensor<16xi32>, tensor<?xi32>, tensor<?xi32>)
// CHECK-NEXT: ^bb0(%[[S:.*]]: f32, %[[R:.*]]: i32, %[[K1:.*]]: i32, %[[K2:.*]]: i32,
// CHECK: arith.cmpi eq, %[[R]], %[[K1]] : i32
// CHECK: arith.cmpi eq, %[[R]], %[[K2]] : i32
// CHECK: arith.select %{{.*}}, %[[S]], %{{.*}} : f32
// CHECK-NOT: moe.route
func.func @route_rank_limited(%l: tensor<?x16xf32>) -> tensor<?x4xi32> {
  %w, %ids = moe.route %l
      {routing = #moe.routing<top_k = 4, renormalize = true,
                              group_score = top2_sum, rank_limit = 2,
                              expert_ranks = [0, 1, 2, 3, 0, 1, 2, 3,
                                              0, 1, 2, 3, 0, 1, 2, 3]>}
      : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return %ids : tensor<?x4xi32>
}

// -----

// Tests that a rank map that happens to be contiguous (experts 0..3 on rank
// 0, ...) lowers as group-limited routing does: the [T,G,P] view, no map.
// CHECK-LABEL: func.func @route_rank_limited_contiguous
// CHECK-NOT: arith.constant dense
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2]] output_shape [%{{.*}}, 4, 4] : tensor<?x16xf32> into tensor<?x4x4xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-NOT: arith.constant dense
// CHECK: arith.divui %{{.*}}, %{{.*}} : index
// CHECK-NOT: moe.route
func.func @route_rank_limited_contiguous(%l: tensor<?x16xf32>) -> tensor<?x4xi32> {
  %w, %ids = moe.route %l
      {routing = #moe.routing<top_k = 4, rank_limit = 2,
                              expert_ranks = [0, 0, 0, 0, 1, 1, 1, 1,
                                              2, 2, 2, 2, 3, 3, 3, 3]>}
      : tensor<?x16xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return %ids : tensor<?x4xi32>
}

// -----

// Tests that dispatch counts, prefix-sums and scatters in scf.for loops and
// gathers the rows with a linalg.generic.
// CHECK-LABEL: func.func @dispatch
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<?x2xi32> into tensor<?xi32>
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for {{.*}} -> (tensor<?xi32>, tensor<?xf32>, tensor<8xi32>, tensor<8xi32>, tensor<8xi32>)
// CHECK: linalg.generic
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<?x32xf32>
// CHECK-NOT: moe.dispatch
func.func @dispatch(%x: tensor<?x32xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>)
    -> (tensor<?x32xf32>, tensor<9xi32>) {
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w
      : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %r, %o : tensor<?x32xf32>, tensor<9xi32>
}

// -----

// Tests that lowest_weight capacity ranks slots by weight with a
// slot-by-slot reduction and a capacity computed at run time.
// CHECK-LABEL: func.func @dispatch_lowest_weight
// CHECK: math.ceil
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK-SAME: ins(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<?xi32>, tensor<?xf32>, tensor<?xi32>, tensor<?xf32>)
func.func @dispatch_lowest_weight(%x: tensor<?x32xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>)
    -> tensor<?xi32> {
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<factor = 1.0, drop_order = lowest_weight>}
      : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %t : tensor<?xi32>
}

// -----

// Tests that Switch's count capacity is a constant C (no run-time ceil).
// CHECK-LABEL: func.func @dispatch_count
// CHECK-NOT: math.ceil
// CHECK: arith.constant 6 : {{index|i32}}
// CHECK-NOT: math.ceil
// CHECK: return
func.func @dispatch_count(%x: tensor<?x32xf32>, %ids: tensor<?x1xi32>, %w: tensor<?x1xf32>)
    -> tensor<?xi32> {
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<count = 6>}
      : tensor<?x32xf32>, tensor<?x1xi32>, tensor<?x1xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %t : tensor<?xi32>
}

// -----

// Tests that NLLB's capacity ranks slots by choice (the slot index mod K),
// computes C from the token count, and renormalises the kept weights over
// max(sum, f32 epsilon) before scaling them.
// CHECK-LABEL: func.func @dispatch_nllb
// CHECK: math.ceil
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.remui
// CHECK: linalg.generic
// CHECK: arith.select
// CHECK: linalg.generic
// CHECK: arith.addf
// CHECK: linalg.generic
// CHECK: arith.maximumf %{{.*}}, %{{.*}} : f32
// CHECK: arith.divf
// CHECK: arith.mulf
func.func @dispatch_nllb(%x: tensor<?x32xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>)
    -> tensor<?xf32> {
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<drop_order = choice_order, token_fraction = 0.5,
                                renormalize = true, output_scale = 0.8>}
      : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %rw : tensor<?xf32>
}

// -----

// Tests that the grouped FFN is a parallel loop over experts, each slicing
// its rows and weights, running two transposed-B matmuls around the
// activation and inserting its rows into the shared output.
// CHECK-LABEL: func.func @expert_mlp
// CHECK: scf.forall (%[[E:.*]]) in (8) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x32xf32>)
// CHECK: %[[ROWS:.*]] = tensor.extract_slice %{{.*}}[%[[START:.*]], 0] [%[[COUNT:.*]], 32] [1, 1] : tensor<?x32xf32> to tensor<?x32xf32>
// CHECK: %[[GATE:.*]] = tensor.extract_slice %{{.*}}[%[[E]], 0, 0] [1, 16, 32] [1, 1, 1] : tensor<8x16x32xf32> to tensor<16x32xf32>
// CHECK: %[[UP:.*]] = tensor.extract_slice %{{.*}}[%[[E]], 0, 0] [1, 16, 32] [1, 1, 1] : tensor<8x16x32xf32> to tensor<16x32xf32>
// CHECK: %[[DOWN:.*]] = tensor.extract_slice %{{.*}}[%[[E]], 0, 0] [1, 32, 16] [1, 1, 1] : tensor<8x32x16xf32> to tensor<32x16xf32>
// CHECK: linalg.matmul {{.*}} ins(%[[ROWS]], %[[UP]] :
// CHECK: linalg.matmul {{.*}} ins(%[[ROWS]], %[[GATE]] :
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: %[[Y:.*]] = linalg.matmul {{.*}} ins(%{{.*}}, %[[DOWN]] :
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %[[Y]] into %[[OUT]][%[[START]], 0] [%[[COUNT]], 32] [1, 1]
func.func @expert_mlp(%rows: tensor<?x32xf32>, %off: tensor<9xi32>,
                      %g: tensor<8x16x32xf32>, %u: tensor<8x16x32xf32>,
                      %d: tensor<8x32x16xf32>) -> tensor<?x32xf32> {
  %y = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d)
      : (tensor<?x32xf32>, tensor<9xi32>, tensor<8x16x32xf32>,
         tensor<8x16x32xf32>, tensor<8x32x16xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that the ungated tanh GELU lowers to its tanh form in the
// activation's generic (one matmul before it: no gate), and relu2 to a
// max with zero and its square.
// CHECK-LABEL: func.func @expert_mlp_gelu_tanh_relu2
// CHECK: linalg.matmul
// CHECK-NOT: linalg.matmul
// CHECK: linalg.generic
// CHECK: arith.mulf
// CHECK: math.tanh
// CHECK-NOT: math.erf
// CHECK: linalg.matmul
// CHECK: linalg.generic
// CHECK: %[[R:.*]] = arith.maximumf
// CHECK-NEXT: arith.mulf %[[R]], %[[R]]
func.func @expert_mlp_gelu_tanh_relu2(%rows: tensor<?x32xf32>, %off: tensor<9xi32>,
                                      %u: tensor<8x16x32xf32>, %d: tensor<8x32x16xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %y = moe.expert_mlp gelu_tanh %rows offsets(%off) weights(up %u, down %d)
      : (tensor<?x32xf32>, tensor<9xi32>, tensor<8x16x32xf32>,
         tensor<8x32x16xf32>) -> tensor<?x32xf32>
  %z = moe.expert_mlp relu2 %rows offsets(%off) weights(up %u, down %d)
      : (tensor<?x32xf32>, tensor<9xi32>, tensor<8x16x32xf32>,
         tensor<8x32x16xf32>) -> tensor<?x32xf32>
  return %y, %z : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Tests that clamped_swiglu lowers with its glu_clamp's limit and alpha:
// min(gate, 0.25), up clamped to [-0.25, 0.25], sigmoid(1.5 · gate).
// CHECK-LABEL: func.func @expert_mlp_clamped_swiglu
// CHECK: linalg.generic
// CHECK-DAG: arith.constant 2.500000e-01 : f32
// CHECK-DAG: arith.constant 1.500000e+00 : f32
// CHECK: %[[G:.*]] = arith.minimumf %{{.*}}, %{{.*}} : f32
// CHECK: %[[U:.*]] = arith.minimumf
// CHECK: arith.maximumf %[[U]]
// CHECK: arith.mulf %{{.*}}, %[[G]]
// CHECK: math.exp
func.func @expert_mlp_clamped_swiglu(%rows: tensor<?x32xf32>, %off: tensor<9xi32>,
                                     %g: tensor<8x16x32xf32>, %u: tensor<8x16x32xf32>,
                                     %d: tensor<8x32x16xf32>) -> tensor<?x32xf32> {
  %y = moe.expert_mlp clamped_swiglu %rows offsets(%off) weights(gate %g, up %u, down %d)
      {glu_clamp = #moe.glu_clamp<alpha = 1.5, limit = 0.25>}
      : (tensor<?x32xf32>, tensor<9xi32>, tensor<8x16x32xf32>,
         tensor<8x16x32xf32>, tensor<8x32x16xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that moe.fused_experts passes its glu_clamp to both gather_gate_up
// kernels (routed and shared).
// CHECK-LABEL: func.func @fused_clamped_swiglu
// CHECK: moe.gather_gate_up clamped_swiglu {{.*}} layout <rows> outs(%{{.*}}) {glu_clamp = #moe.glu_clamp<limit = 7.0>}
// CHECK: moe.gather_gate_up clamped_swiglu {{.*}} layout <rows> outs(%{{.*}}) {glu_clamp = #moe.glu_clamp<limit = 7.0>}
func.func @fused_clamped_swiglu(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %w: tensor<?xf32>, %off: tensor<3xi32>,
                                %g: tensor<2x32x64xf32>, %u: tensor<2x32x64xf32>, %d: tensor<2x64x32xf32>,
                                %sg: tensor<96x64xf32>, %su: tensor<96x64xf32>, %sd: tensor<64x96xf32>) -> tensor<?x64xf32> {
  %y = moe.fused_experts clamped_swiglu %x tokens(%tok) weights(%w) offsets(%off)
      experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd)
      {glu_clamp = #moe.glu_clamp<limit = 7.0>}
      : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<3xi32>,
         tensor<2x32x64xf32>, tensor<2x32x64xf32>, tensor<2x64x32xf32>,
         tensor<96x64xf32>, tensor<96x64xf32>, tensor<64x96xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that a whole layer and routing statistics lower (the layer
// decomposed on the way) and that the exchange becomes the kernel layer's:
// the counts, a buffer of the rows they announce, the rows.
// CHECK-LABEL: func.func @layer_and_exchange
// CHECK-NOT: moe.layer
// CHECK-NOT: moe.all_to_all
// CHECK: %[[RC:.*]] = moe.exchange_counts %{{.*}}, %{{.*}} : (tensor<2x2xi32>, tensor<2x2xi32>) -> tensor<2x2xi32>
// CHECK: %[[TOTAL:.*]] = scf.for
// CHECK: tensor.extract %[[RC]]
// CHECK: %[[BUF:.*]] = tensor.empty(%[[TOTAL]]) : tensor<?x32xf32>
// CHECK: moe.exchange_rows %{{.*}}, %{{.*}}, %[[RC]], %[[BUF]] : (tensor<?x32xf32>, tensor<2x2xi32>, tensor<2x2xi32>, tensor<?x32xf32>) -> tensor<?x32xf32>
// CHECK-NOT: moe.routing_stats
// The loads and the weights' histogram (8 bins over [0, 1]) count in one
// loop over the slots.
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<?x1xf32> into tensor<?xf32>
// CHECK-DAG: %[[PER_WEIGHT:.*]] = arith.constant 8.000000e+00 : f32
// CHECK-DAG: %[[LAST_BIN:.*]] = arith.constant 7.000000e+00 : f32
// CHECK: scf.for {{.*}} -> (tensor<4xi64>, tensor<8xi64>)
// CHECK: %[[SCALED:.*]] = arith.mulf %{{.*}}, %[[PER_WEIGHT]] : f32
// CHECK: %[[ABOVE:.*]] = arith.maxnumf %[[SCALED]], %{{.*}} : f32
// CHECK: %[[BELOW:.*]] = arith.minnumf %[[ABOVE]], %[[LAST_BIN]] : f32
// CHECK: arith.fptoui %[[BELOW]] : f32 to i64
// CHECK: math.log
// CHECK: return
func.func @layer_and_exchange(%x: tensor<?x32xf32>, %wg: tensor<4x32xf32>,
                              %u: tensor<4x16x32xf32>, %d: tensor<4x32x16xf32>,
                              %c: tensor<2x2xi32>, %l: tensor<?x4xf32>, %ids: tensor<?x1xi32>,
                              %w: tensor<?x1xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>, f32, tensor<8xi64>) {
  %y = moe.layer %x router(%wg) experts(up %u, down %d)
         {router = #moe.expert_choice<capacity_factor = 2.0>,
          activation = #moe<activation gelu>}
         : (tensor<?x32xf32>, tensor<4x32xf32>, tensor<4x16x32xf32>,
            tensor<4x32x16xf32>) -> tensor<?x32xf32>
  %r, %c2 = moe.all_to_all %y, %c : tensor<?x32xf32>, tensor<2x2xi32>
  %load, %h, %m, %conf, %aux, %hist = moe.routing_stats %l, %ids, %w softmax
      : tensor<?x4xf32>, tensor<?x1xi32>, tensor<?x1xf32> -> tensor<4xi64>, tensor<8xi64>
  return %y, %r, %aux, %hist : tensor<?x32xf32>, tensor<?x32xf32>, f32, tensor<8xi64>
}

// -----

// Tests that non-f32 activations are reported, not silently mis-lowered.
func.func @bf16_rows(%rows: tensor<?x32xbf16>, %off: tensor<5xi32>,
                     %u: tensor<4x16x32xf32>, %d: tensor<4x32x16xf32>) -> tensor<?x32xbf16> {
  // expected-error @+1 {{failed to legalize operation 'moe.expert_mlp'}}
  %y = moe.expert_mlp relu %rows offsets(%off) weights(up %u, down %d)
      : (tensor<?x32xbf16>, tensor<5xi32>, tensor<4x16x32xf32>,
         tensor<4x32x16xf32>) -> tensor<?x32xbf16>
  return %y : tensor<?x32xbf16>
}

// -----

// Tests that moe.fused_experts becomes the kernel layer in the weights'
// own row layout: one grouped gather_gate_up over every kept row (read
// through its token, with its expert's weights) and its down projection
// added into a zeroed output, then the shared expert's pair on every token
// added after them. No row bundle or per-row output is built, and nothing
// is split among threads (a target does that).
// CHECK-LABEL: func.func @fused_experts
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<?x64xf32>, %[[TOK:[a-z0-9]+]]: tensor<?xi32>, %[[W:[a-z0-9]+]]: tensor<?xf32>, %[[OFF:[a-z0-9]+]]: tensor<9xi32>, %[[G:[a-z0-9]+]]: tensor<8x320x64xf32>, %[[U:[a-z0-9]+]]: tensor<8x320x64xf32>, %[[D:[a-z0-9]+]]: tensor<8x64x320xf32>, %[[SG:[a-z0-9]+]]: tensor<96x64xf32>, %[[SU:[a-z0-9]+]]: tensor<96x64xf32>, %[[SD:[a-z0-9]+]]: tensor<64x96xf32>)
// CHECK-NOT: scf.forall
// CHECK-NOT: moe.num_workers
// CHECK: %[[ACT:.*]] = moe.gather_gate_up swiglu %[[X]] tokens(%[[TOK]]) offsets(%[[OFF]]) weights(gate %[[G]], up %[[U]]) layout <rows> outs(%{{.*}}) : ({{.*}}) -> tensor<?x320xf32>
// CHECK: %[[ZERO:.*]] = linalg.fill
// CHECK: %[[ROUTED:.*]] = moe.down_scatter_add %[[ACT]] offsets(%[[OFF]]) weights(down %[[D]]) tokens(%[[TOK]]) row_weight(%[[W]]) layout <rows> outs(%[[ZERO]])
// CHECK: %[[SACT:.*]] = moe.gather_gate_up swiglu %[[X]] weights(gate %[[SG]], up %[[SU]]) layout <rows> outs(%{{.*}}) : ({{.*}}) -> tensor<?x96xf32>
// CHECK: moe.down_scatter_add %[[SACT]] weights(down %[[SD]]) layout <rows> outs(%[[ROUTED]])
// CHECK-NOT: moe.fused_experts
func.func @fused_experts(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %w: tensor<?xf32>, %off: tensor<9xi32>,
                         %g: tensor<8x320x64xf32>, %u: tensor<8x320x64xf32>, %d: tensor<8x64x320xf32>,
                         %sg: tensor<96x64xf32>, %su: tensor<96x64xf32>, %sd: tensor<64x96xf32>) -> tensor<?x64xf32> {
  %y = moe.fused_experts swiglu %x tokens(%tok) weights(%w) offsets(%off)
      experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd)
      : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>,
         tensor<8x320x64xf32>, tensor<8x320x64xf32>, tensor<8x64x320xf32>,
         tensor<96x64xf32>, tensor<96x64xf32>, tensor<64x96xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that with the weight on the expert input (Llama 4) the rows are
// scaled in the gate/up kernel and added unweighted.
// CHECK-LABEL: func.func @fused_scaled_input
// CHECK: moe.gather_gate_up relu %{{.*}} tokens(%{{.*}}) scale(%{{.*}}) offsets(%{{.*}}) weights(up %{{.*}}) layout <rows> outs
// CHECK: moe.down_scatter_add %{{.*}} offsets(%{{.*}}) weights(down %{{.*}}) tokens(%{{.*}}) layout <rows> outs
func.func @fused_scaled_input(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %w: tensor<?xf32>, %off: tensor<3xi32>,
                              %u: tensor<2x32x64xf32>, %d: tensor<2x64x32xf32>) -> tensor<?x64xf32> {
  %y = moe.fused_experts relu %x tokens(%tok) weights(%w) offsets(%off)
      experts(up %u, down %d) {scale_expert_input}
      : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<3xi32>,
         tensor<2x32x64xf32>, tensor<2x64x32xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that a shared expert on its own (Qwen2-MoE's sigmoid-gated one, or
// any beside an expert-parallel layer) becomes the kernel layer's
// ungrouped pair, added into a zeroed output, then the per-token gate.
// CHECK-LABEL: func.func @shared_mlp
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<?x64xf32>, %[[SG:[a-z0-9]+]]: tensor<96x64xf32>, %[[SU:[a-z0-9]+]]: tensor<96x64xf32>, %[[SD:[a-z0-9]+]]: tensor<64x96xf32>, %[[GATE:[a-z0-9]+]]: tensor<1x64xf32>)
// CHECK: %[[ZERO:.*]] = linalg.fill
// CHECK: %[[ACT:.*]] = moe.gather_gate_up swiglu %[[X]] weights(gate %[[SG]], up %[[SU]]) layout <rows>
// CHECK: %[[FFN:.*]] = moe.down_scatter_add %[[ACT]] weights(down %[[SD]]) layout <rows> outs(%[[ZERO]])
// CHECK: linalg.matmul {{.*}} ins(%[[X]], %[[GATE]]
// CHECK: linalg.generic {{.*}} ins(%[[FFN]], %{{.*}} : tensor<?x64xf32>, tensor<?x1xf32>)
// CHECK-NOT: moe.shared_mlp
func.func @shared_mlp(%x: tensor<?x64xf32>, %sg: tensor<96x64xf32>, %su: tensor<96x64xf32>, %sd: tensor<64x96xf32>, %gate: tensor<1x64xf32>) -> tensor<?x64xf32> {
  %s = moe.shared_mlp swiglu %x weights(gate %sg, up %su, down %sd) sigmoid_gate(%gate) : (tensor<?x64xf32>, tensor<96x64xf32>, tensor<96x64xf32>, tensor<64x96xf32>, tensor<1x64xf32>) -> tensor<?x64xf32>
  return %s : tensor<?x64xf32>
}

// -----

// Tests GLM-5's clamp form: the gate is clamped before SiLU, no slope, no +1:
// silu(min(gate, 0.25)) · clamp(up, -0.25, 0.25).
// CHECK-LABEL: func.func @expert_mlp_clamp_gate
// CHECK: linalg.generic
// CHECK: %[[G:.*]] = arith.minimumf %{{.*}}, %{{.*}} : f32
// CHECK: math.exp
// CHECK: %[[S:.*]] = arith.mulf %[[G]], %{{.*}} : f32
// CHECK: %[[U:.*]] = arith.minimumf
// CHECK: %[[C:.*]] = arith.maximumf %[[U]]
// CHECK: arith.mulf %[[S]], %[[C]] : f32
// CHECK-NOT: arith.addf
// CHECK: linalg.yield
func.func @expert_mlp_clamp_gate(%rows: tensor<?x32xf32>, %off: tensor<9xi32>,
                                 %g: tensor<8x16x32xf32>, %u: tensor<8x16x32xf32>,
                                 %d: tensor<8x32x16xf32>) -> tensor<?x32xf32> {
  %y = moe.expert_mlp clamped_swiglu %rows offsets(%off) weights(gate %g, up %u, down %d)
      {glu_clamp = #moe.glu_clamp<limit = 0.25, form = clamp_gate>}
      : (tensor<?x32xf32>, tensor<9xi32>, tensor<8x16x32xf32>,
         tensor<8x16x32xf32>, tensor<8x32x16xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests Step-3.7's clamp form: SiLU first, then its clamp from above:
// min(silu(gate), 0.25) · clamp(up, -0.25, 0.25).
// CHECK-LABEL: func.func @expert_mlp_clamp_silu
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: %[[S:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: %[[G:.*]] = arith.minimumf %[[S]], %{{.*}} : f32
// CHECK: %[[U:.*]] = arith.minimumf
// CHECK: %[[C:.*]] = arith.maximumf %[[U]]
// CHECK: arith.mulf %[[G]], %[[C]] : f32
// CHECK: linalg.yield
func.func @expert_mlp_clamp_silu(%rows: tensor<?x32xf32>, %off: tensor<9xi32>,
                                 %g: tensor<8x16x32xf32>, %u: tensor<8x16x32xf32>,
                                 %d: tensor<8x32x16xf32>) -> tensor<?x32xf32> {
  %y = moe.expert_mlp clamped_swiglu %rows offsets(%off) weights(gate %g, up %u, down %d)
      {glu_clamp = #moe.glu_clamp<limit = 0.25, form = clamp_silu>}
      : (tensor<?x32xf32>, tensor<9xi32>, tensor<8x16x32xf32>,
         tensor<8x16x32xf32>, tensor<8x32x16xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// Tests that fused experts with dropped = input first add each row past
// offsets[E] (dropped slots, zero experts) as its weight times its token's
// input, then the routed experts' down projections into the same output.
// CHECK-LABEL: func.func @fused_dropped_input
// CHECK: %[[GU:.*]] = moe.gather_gate_up swiglu
// CHECK: %[[PASSED:.*]] = scf.for
// CHECK: scf.for
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: moe.down_scatter_add %[[GU]] {{.*}} outs(%[[PASSED]])
func.func @fused_dropped_input(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %rw: tensor<?xf32>, %off: tensor<5xi32>,
                               %g: tensor<4x128x64xf32>, %u: tensor<4x128x64xf32>, %d: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.fused_experts swiglu %x tokens(%tok) weights(%rw) offsets(%off) experts(gate %g, up %u, down %d) {dropped = #moe<dropped input>} : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
