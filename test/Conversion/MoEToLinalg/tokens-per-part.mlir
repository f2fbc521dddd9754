// RUN: moe-opt %s -convert-moe-to-linalg=tokens-per-part=1 -canonicalize | FileCheck %s
// RUN: moe-opt %s -convert-moe-to-linalg -canonicalize | FileCheck %s --check-prefix=WORKERS

// Tests that with tokens-per-part=1 the routing runs one statically sized
// part per token (what GPU threads take: no dynamic temporaries), and by
// default one part per worker.
// CHECK-LABEL: func.func @route
// CHECK: %[[T:.*]] = tensor.dim
// CHECK: scf.forall (%[[I:.*]]) in (%[[T]])
// CHECK: tensor.extract_slice %{{.*}}[%[[I]], 0] [1, 8] [1, 1] : tensor<?x8xf32> to tensor<1x8xf32>
// CHECK: tensor.parallel_insert_slice %{{.*}} into %{{.*}}[%[[I]], 0] [1, 2] [1, 1] : tensor<1x2xf32> into tensor<?x2xf32>
// CHECK-NOT: moe.num_workers
// WORKERS-LABEL: func.func @route
// WORKERS: moe.num_workers
// WORKERS: tensor.extract_slice %{{.*}} : tensor<?x8xf32> to tensor<?x8xf32>
func.func @route(%logits: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %w, %e = moe.route %logits {routing = #moe.routing<top_k = 2, renormalize = true>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w, %e : tensor<?x2xf32>, tensor<?x2xi32>
}
