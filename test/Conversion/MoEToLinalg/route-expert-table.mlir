// RUN: moe-opt %s -convert-moe-to-linalg=tokens-per-part=1 -canonicalize | FileCheck %s

// Tests that routing by token id slices each part's token ids beside its
// logits and reads the experts from the table row of each id, clamped
// into the table's rows and the expert range (unsigned minimum: negative
// values clamp too), with no top-k selection.
// CHECK-LABEL: func.func @route_by_table
// CHECK-SAME: (%[[L:.*]]: tensor<?x8xf32>, %[[TABLE:.*]]: tensor<16x2xi32>, %[[IDS:.*]]: tensor<?xi32>)
// CHECK-DAG: %[[LAST_ROW:.*]] = arith.constant 15 : i32
// CHECK-DAG: %[[LAST_EXPERT:.*]] = arith.constant 7 : i32
// CHECK: scf.forall (%[[I:.*]]) in
// CHECK-DAG: tensor.extract_slice %[[L]][%[[I]], 0] [1, 8] [1, 1]
// CHECK-DAG: %[[ID:.*]] = tensor.extract_slice %[[IDS]][%[[I]]] [1] [1] : tensor<?xi32> to tensor<1xi32>
// CHECK: linalg.generic {{.*}} ins(%[[ID]] : tensor<1xi32>) outs(%{{.*}} : tensor<1x2xi32>)
// CHECK: %[[ROW:.*]] = arith.minui %{{.*}}, %[[LAST_ROW]] : i32
// CHECK: %[[R:.*]] = arith.index_castui %[[ROW]] : i32 to index
// CHECK: %[[EXPERT:.*]] = tensor.extract %[[TABLE]][%[[R]], %{{.*}}] : tensor<16x2xi32>
// CHECK: arith.minui %[[EXPERT]], %[[LAST_EXPERT]] : i32
// CHECK-NOT: arith.cmpf ogt
// CHECK: tensor.parallel_insert_slice
func.func @route_by_table(%logits: tensor<?x8xf32>, %table: tensor<16x2xi32>,
                          %ids: tensor<?xi32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %w, %e = moe.route %logits table(%table : tensor<16x2xi32>) token_ids(%ids : tensor<?xi32>)
      {routing = #moe.routing<top_k = 2, renormalize = true>}
      : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w, %e : tensor<?x2xf32>, tensor<?x2xi32>
}
