// RUN: moe-opt %s -split-input-file -canonicalize | FileCheck %s

// Tests that a capacity no expert can reach (factor · K >= E) is dropped:
// the layer is dropless.
// CHECK-LABEL: func.func @unreachable_capacity
// CHECK: moe.layer
// CHECK-NOT: capacity
// CHECK-SAME: router = #moe.routing<top_k = 2>
func.func @unreachable_capacity(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
    %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>)
    -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
      {router = #moe.routing<top_k = 2>, capacity = #moe.capacity<factor = 2.0>}
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// Tests that a capacity that can bind is kept.
// CHECK-LABEL: func.func @binding_capacity
// CHECK: moe.layer
// CHECK-SAME: capacity = #moe.capacity<factor = 1.5>
func.func @binding_capacity(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
    %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>)
    -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
      {router = #moe.routing<top_k = 2>, capacity = #moe.capacity<factor = 1.5>}
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that dispatch drops an unreachable capacity and keeps a binding one.
// CHECK-LABEL: func.func @dispatch_capacity
// CHECK: moe.dispatch %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} :
// CHECK: moe.dispatch %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} {capacity = #moe.capacity<factor = 1.0, drop_order = lowest_weight>}
func.func @dispatch_capacity(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>,
                             %w: tensor<?x2xf32>) -> (tensor<?xi32>, tensor<?xi32>) {
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<factor = 4.0, dropped = input>}
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %r2, %t2, %rw2, %o2 = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<factor = 1.0, drop_order = lowest_weight>}
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %t, %t2 : tensor<?xi32>, tensor<?xi32>
}

// -----

// Tests that group-limited routing keeping every group becomes ungrouped
// routing, on moe.route and moe.layer, and that real grouping stays.
// CHECK-LABEL: func.func @trivial_groups
// CHECK: moe.route %{{[a-z0-9_]+}} {routing = #moe.routing<top_k = 2, scoring = sigmoid>}
// CHECK: moe.route %{{[a-z0-9_]+}} {routing = #moe.routing<top_k = 2, n_group = 4, topk_group = 2, group_score = top2_sum>}
func.func @trivial_groups(%l: tensor<?x8xf32>) -> (tensor<?x2xi32>, tensor<?x2xi32>) {
  %w, %ids = moe.route %l
      {routing = #moe.routing<top_k = 2, scoring = sigmoid, n_group = 4, topk_group = 4, group_score = top2_sum>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w2, %ids2 = moe.route %l
      {routing = #moe.routing<top_k = 2, n_group = 4, topk_group = 2, group_score = top2_sum>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %ids, %ids2 : tensor<?x2xi32>, tensor<?x2xi32>
}
// CHECK-LABEL: func.func @trivial_groups_layer
// CHECK: moe.layer
// CHECK-SAME: router = #moe.routing<top_k = 2, renormalize = true>}
func.func @trivial_groups_layer(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
    %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>)
    -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
      {router = #moe.routing<top_k = 2, renormalize = true, n_group = 2, topk_group = 2>}
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that rank-limited routing keeping every rank (rank_limit = R)
// becomes unlimited routing, on moe.route and moe.layer, while a limit
// below R stays, the rank map with it.
// CHECK-LABEL: func.func @trivial_rank_limit
// CHECK: moe.route %{{[a-z0-9_]+}} {routing = #moe.routing<top_k = 2, scoring = sigmoid>}
// CHECK: moe.route %{{[a-z0-9_]+}} {routing = #moe.routing<top_k = 2, group_score = top2_sum, rank_limit = 1, expert_ranks = [0, 1, 0, 1, 0, 1, 0, 1]>}
func.func @trivial_rank_limit(%l: tensor<?x8xf32>) -> (tensor<?x2xi32>, tensor<?x2xi32>) {
  %w, %ids = moe.route %l
      {routing = #moe.routing<top_k = 2, scoring = sigmoid, group_score = top2_sum,
                              rank_limit = 2, expert_ranks = [0, 1, 0, 1, 0, 1, 0, 1]>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w2, %ids2 = moe.route %l
      {routing = #moe.routing<top_k = 2, group_score = top2_sum,
                              rank_limit = 1, expert_ranks = [0, 1, 0, 1, 0, 1, 0, 1]>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %ids, %ids2 : tensor<?x2xi32>, tensor<?x2xi32>
}
// CHECK-LABEL: func.func @trivial_rank_limit_layer
// CHECK: moe.layer
// CHECK-SAME: router = #moe.routing<top_k = 2, renormalize = true>}
func.func @trivial_rank_limit_layer(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
    %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>)
    -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
      {router = #moe.routing<top_k = 2, renormalize = true, rank_limit = 3,
                             expert_ranks = [2, 1, 0, 1]>}
      : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>,
         tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that an exchange within a single rank folds away, while a real one
// stays.
// CHECK-LABEL: func.func @single_rank_exchange
// CHECK-SAME: (%[[R:.*]]: tensor<?x8xf32>, %[[C:.*]]: tensor<1x4xi32>, %[[R2:.*]]: tensor<?x8xf32>, %[[C2:.*]]: tensor<2x2xi32>)
// CHECK: %[[X:.*]], %{{.*}} = moe.all_to_all %[[R2]], %[[C2]]
// CHECK: return %[[R]], %[[C]], %[[X]]
func.func @single_rank_exchange(%r: tensor<?x8xf32>, %c: tensor<1x4xi32>,
                                %r2: tensor<?x8xf32>, %c2: tensor<2x2xi32>)
    -> (tensor<?x8xf32>, tensor<1x4xi32>, tensor<?x8xf32>) {
  %a, %b = moe.all_to_all %r, %c : tensor<?x8xf32>, tensor<1x4xi32>
  %x, %y = moe.all_to_all %r2, %c2 : tensor<?x8xf32>, tensor<2x2xi32>
  return %a, %b, %x : tensor<?x8xf32>, tensor<1x4xi32>, tensor<?x8xf32>
}

// -----

// Tests that a token fraction of 1 (C = T, more than any expert can get)
// is dropped, that a count is kept (it binds once T > count), and that a
// capacity with a weight rule is kept even when nothing can drop.
// CHECK-LABEL: func.func @capacity_forms
// CHECK: moe.dispatch %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}} :
// CHECK: moe.dispatch {{.*}} {capacity = #moe.capacity<count = 64>}
// CHECK: moe.dispatch {{.*}} {capacity = #moe.capacity<drop_order = choice_order, token_fraction = 1.0, renormalize = true>}
// CHECK: moe.dispatch {{.*}} {capacity = #moe.capacity<token_fraction = 2.0, output_scale = 0.8>}
func.func @capacity_forms(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>,
                          %w: tensor<?x2xf32>)
    -> (tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>) {
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<drop_order = choice_order, token_fraction = 1.0>}
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %r2, %t2, %rw2, %o2 = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<count = 64>}
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %r3, %t3, %rw3, %o3 = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<token_fraction = 1.0, drop_order = choice_order, renormalize = true>}
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %r4, %t4, %rw4, %o4 = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<token_fraction = 2.0, output_scale = 0.8>}
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %rw, %rw2, %rw3, %rw4 : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>, tensor<?xf32>
}
