// RUN: moe-opt %s -split-input-file -convert-moe-to-linalg | FileCheck %s

// Tests that soft dispatch becomes the softmax over tokens of each logits
// column (the row softmax of the transposed logits: max and sum reductions),
// the slot rows as a weighted sum over the tokens (a reduction, in token
// order), and the offsets e·S; no moe op is left.
// CHECK-LABEL: func.func @soft_dispatch
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[L:.*]]: tensor<?x6xf32>)
// CHECK: %[[LT:.*]] = linalg.transpose ins(%[[L]] : tensor<?x6xf32>) outs(%{{.*}} : tensor<6x?xf32>) permutation = [1, 0]
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} ins(%[[LT]] : tensor<6x?xf32>)
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: arith.divf
// CHECK: %[[ROWS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%{{.*}}, %[[X]] : tensor<6x?xf32>, tensor<?x8xf32>) outs(%{{.*}} : tensor<6x8xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: %[[OFF:.*]] = linalg.generic {{.*}}outs(%{{.*}} : tensor<4xi32>)
// CHECK: linalg.index 0
// CHECK: arith.muli
// CHECK: %[[CAST:.*]] = tensor.cast %[[ROWS]] : tensor<6x8xf32> to tensor<?x8xf32>
// CHECK-NOT: moe.
// CHECK: return %[[CAST]], %[[OFF]]
func.func @soft_dispatch(%x: tensor<?x8xf32>, %l: tensor<?x6xf32>) -> (tensor<?x8xf32>, tensor<4xi32>) {
  %rows, %off = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 2>}
      : tensor<?x8xf32>, tensor<?x6xf32> -> tensor<?x8xf32>, tensor<4xi32>
  return %rows, %off : tensor<?x8xf32>, tensor<4xi32>
}

// -----

// Tests that soft combine becomes the softmax over the slots of each token
// and the weighted sum of the slot outputs (a reduction over the slots).
// CHECK-LABEL: func.func @soft_combine
// CHECK-SAME: (%[[OUT:.*]]: tensor<?x8xf32>, %[[L:.*]]: tensor<?x6xf32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} ins(%[[L]] : tensor<?x6xf32>)
// CHECK: math.exp
// CHECK: %[[C:.*]] = linalg.generic {{.*}}outs(%{{.*}} : tensor<?x6xf32>)
// CHECK: arith.divf
// CHECK: %[[Y:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%[[C]], %[[OUT]] : tensor<?x6xf32>, tensor<?x8xf32>) outs(%{{.*}} : tensor<?x8xf32>)
// CHECK-NOT: moe.
// CHECK: return %[[Y]]
func.func @soft_combine(%out: tensor<?x8xf32>, %l: tensor<?x6xf32>) -> tensor<?x8xf32> {
  %y = moe.soft_combine %out, %l : (tensor<?x8xf32>, tensor<?x6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
