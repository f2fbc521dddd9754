// RUN: moe-opt %s -split-input-file -convert-moe-to-linalg | FileCheck %s

// The lowering of the routing variants of the transformers MoE families;
// execution tests (CompiledLayerTest) check their numbers against
// lib/Reference.

// Tests that sqrtsoftplus scores are sqrt(log1p(exp(l))) below the
// threshold 20 and sqrt(l) above it, log1p through log(1 + y) corrected.
// CHECK-LABEL: func.func @sqrtsoftplus
// CHECK: arith.constant 2.000000e+01 : f32
// CHECK: arith.cmpf ogt
// CHECK: math.exp
// CHECK: math.log
// CHECK: arith.select
// CHECK: math.sqrt
// CHECK-NOT: moe.route
func.func @sqrtsoftplus(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, scoring = sqrtsoftplus, renormalize = true>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}

// -----

// Tests that softmax_selected weights are the softmax over the k slots of
// the logits gathered at the chosen experts, and computes no softmax over
// the experts.
// CHECK-LABEL: func.func @softmax_selected
// CHECK: %[[PICKED:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<?x4xf32>)
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<?x8xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} ins(%[[PICKED]] : tensor<?x4xf32>)
// CHECK: math.exp
// CHECK-NOT: moe.route
func.func @softmax_selected(%l: tensor<?x8xf32>) -> tensor<?x4xf32> {
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 4, select_on = logits, weights = softmax_selected>}
      : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return %w : tensor<?x4xf32>
}

// -----

// Tests the renormalisation variants: the 2-norm (squares, sqrt, no
// epsilon added), a 3-norm through powf, and the clamp's maximumf.
// CHECK-LABEL: func.func @renorm_p2
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: math.sqrt
// CHECK: arith.constant 0.000000e+00 : f32
// CHECK-LABEL: func.func @renorm_p3
// CHECK: math.absf
// CHECK: math.powf
// CHECK: arith.constant 0.333333343 : f32
// CHECK: math.powf
// CHECK-LABEL: func.func @renorm_clamp
// CHECK: arith.constant 5.000000e-01 : f32
// CHECK-NEXT: arith.maximumf
func.func @renorm_p2(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, renormalize = true, renorm_p = 2.0, renorm_epsilon = 0.0>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}
func.func @renorm_p3(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, renormalize = true, renorm_p = 3.0>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}
func.func @renorm_clamp(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, renormalize = true, renorm_epsilon = 0.5, renorm_clamp = true>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}

// -----

// Tests that sparsemixer's weights are one reduction over (token, slot,
// expert): the relative gap (m - l) / max(|l|, m) against 2·jitter_eps,
// the experts of earlier slots left out, 1 / the sum of exp(l - m).
// CHECK-LABEL: func.func @sparsemixer
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: math.absf
// CHECK: arith.maximumf
// CHECK: arith.divf
// CHECK: arith.constant 2.000000e-02 : f32
// CHECK: arith.cmpf ogt
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<?x2xi32>
// CHECK: math.exp
// CHECK: arith.constant 1.000000e+00 : f32
// CHECK: arith.divf
// CHECK-NOT: moe.route
func.func @sparsemixer(%l: tensor<?x16xf32>) -> tensor<?x2xf32> {
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, scoring = sparsemixer, select_on = logits, jitter_eps = 0.01>}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}

// -----

// Tests that the expert scale multiplies each weight by its expert's entry,
// last.
// CHECK-LABEL: func.func @expert_scale
// CHECK-SAME: %[[S:[a-z0-9]+]]: tensor<8xf32>
// CHECK: arith.constant 9.99999968E-21 : f32
// CHECK: tensor.extract %[[S]][%{{.*}}] : tensor<8xf32>
// CHECK-NEXT: arith.mulf
// CHECK: scf.forall.in_parallel
func.func @expert_scale(%l: tensor<?x8xf32>, %s: tensor<8xf32>) -> tensor<?x2xf32> {
  %w, %ids = moe.route %l expert_scale(%s : tensor<8xf32>) {routing = #moe.routing<top_k = 2, renormalize = true>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}
