// RUN: moe-opt %s -split-input-file -convert-moe-to-linalg -canonicalize | FileCheck %s

// The router GEMM in the routing loop. Canonicalization removes the whole
// GEMM the lowering leaves dead.

// Tests that the router GEMM (and its zero fill) that only the routing uses
// moves into the routing loop, on each part's tokens: the router is one
// kernel per worker.
// CHECK-LABEL: func.func @route_fuses_router_gemm
// CHECK-SAME: (%[[X:.*]]: tensor<?x16xf32>, %[[WG:.*]]: tensor<8x16xf32>)
// CHECK-NOT: linalg.matmul
// CHECK: scf.forall
// CHECK: %[[ROWS:.*]] = tensor.extract_slice %[[X]][%{{.*}}, 0] [%{{.*}}, 16] [1, 1] : tensor<?x16xf32> to tensor<?x16xf32>
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?x8xf32>)
// CHECK: linalg.matmul {{.*}} ins(%[[ROWS]], %[[WG]] : tensor<?x16xf32>, tensor<8x16xf32>) outs(%[[ZERO]] : tensor<?x8xf32>)
// CHECK: scf.forall.in_parallel
func.func @route_fuses_router_gemm(%x: tensor<?x16xf32>, %wg: tensor<8x16xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %t = tensor.dim %x, %c0 : tensor<?x16xf32>
  %empty = tensor.empty(%t) : tensor<?x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<?x8xf32>) -> tensor<?x8xf32>
  %l = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                      affine_map<(m, n, k) -> (n, k)>,
                                      affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %wg : tensor<?x16xf32>, tensor<8x16xf32>) outs(%init : tensor<?x8xf32>) -> tensor<?x8xf32>
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w, %ids : tensor<?x2xf32>, tensor<?x2xi32>
}

// -----

// Tests that a router GEMM whose logits are used elsewhere too stays whole,
// outside the routing loop (fusing it would compute the logits twice).
// CHECK-LABEL: func.func @route_keeps_shared_router_gemm
// CHECK: %[[L:.*]] = linalg.matmul
// CHECK: scf.forall
// CHECK-NOT: linalg.matmul
// CHECK: scf.forall.in_parallel
// CHECK: return %[[L]],
func.func @route_keeps_shared_router_gemm(%x: tensor<?x16xf32>, %wg: tensor<8x16xf32>, %init: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x2xi32>) {
  %l = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                      affine_map<(m, n, k) -> (n, k)>,
                                      affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %wg : tensor<?x16xf32>, tensor<8x16xf32>) outs(%init : tensor<?x8xf32>) -> tensor<?x8xf32>
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %l, %ids : tensor<?x8xf32>, tensor<?x2xi32>
}
