// RUN: moe-opt %s -split-input-file -convert-moe-to-linalg=tokens-per-part=1 -canonicalize | FileCheck %s
// RUN: moe-opt %s -split-input-file "-convert-moe-to-linalg=tokens-per-part=1 fuse-router-gemm=false" -canonicalize | FileCheck %s --check-prefix=WHOLE

#x = affine_map<(t, e, h) -> (t, h)>
#w = affine_map<(t, e, h) -> (e, h)>
#o = affine_map<(t, e, h) -> (t, e)>

// Tests that by default each routing part computes its own token's row of
// the router GEMM, and that with fuse-router-gemm=false the GEMM stays one
// whole matmul, marked moe.router_gemm, whose rows the parts read.
// CHECK-LABEL: func.func @router
// CHECK-NOT: linalg.matmul
// CHECK: scf.forall
// CHECK: linalg.matmul {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x16xf32>, tensor<8x16xf32>) outs(%{{.*}} : tensor<1x8xf32>)
// CHECK-NOT: moe.router_gemm
// WHOLE-LABEL: func.func @router
// WHOLE: %[[LOGITS:.*]] = linalg.matmul {{.*}} {moe.router_gemm} ins(%{{.*}}, %{{.*}} : tensor<?x16xf32>, tensor<8x16xf32>) outs(%{{.*}} : tensor<?x8xf32>)
// WHOLE: scf.forall (%[[I:.*]]) in
// WHOLE-NOT: linalg.matmul
// WHOLE: tensor.extract_slice %[[LOGITS]][%[[I]], 0] [1, 8] [1, 1] : tensor<?x8xf32> to tensor<1x8xf32>
func.func @router(%x: tensor<?x16xf32>, %w: tensor<8x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %t = tensor.dim %x, %c0 : tensor<?x16xf32>
  %empty = tensor.empty(%t) : tensor<?x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x8xf32>) -> tensor<?x8xf32>
  %logits = linalg.matmul indexing_maps = [#x, #w, #o]
      ins(%x, %w : tensor<?x16xf32>, tensor<8x16xf32>) outs(%init : tensor<?x8xf32>) -> tensor<?x8xf32>
  %weights, %experts = moe.route %logits {routing = #moe.routing<top_k = 2, renormalize = true>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %weights, %experts : tensor<?x2xf32>, tensor<?x2xi32>
}

// -----

// Tests that logits no GEMM produced route the same way either way.
// CHECK-LABEL: func.func @given_logits
// CHECK: scf.forall
// WHOLE-LABEL: func.func @given_logits
// WHOLE-NOT: moe.router_gemm
// WHOLE: scf.forall
func.func @given_logits(%logits: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %weights, %experts = moe.route %logits {routing = #moe.routing<top_k = 2>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %weights, %experts : tensor<?x2xf32>, tensor<?x2xi32>
}
