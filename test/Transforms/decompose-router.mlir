// RUN: moe-opt %s -split-input-file -moe-decompose | FileCheck %s

// The router operands of moe.layer under moe-decompose: the router bias,
// the router input normalisation and the per-expert weight scale.

// Tests that the router bias is the router GEMM's initial value, broadcast
// over the tokens, instead of the zero fill.
// CHECK-LABEL: func.func @router_bias
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[WG:.*]]: tensor<8x64xf32>, %[[RB:.*]]: tensor<8xf32>
// CHECK-NOT: linalg.fill
// CHECK: %[[INIT:.*]] = linalg.broadcast ins(%[[RB]] : tensor<8xf32>) outs(%{{.*}} : tensor<?x8xf32>) dimensions = [0]
// CHECK: %[[L:.*]] = linalg.matmul {{.*}} ins(%[[X]], %[[WG]] : tensor<?x64xf32>, tensor<8x64xf32>) outs(%[[INIT]] : tensor<?x8xf32>)
// CHECK: moe.route %[[L]] {routing = #moe.routing<top_k = 2, select_on = logits, weights = softmax_selected>}
func.func @router_bias(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>, %rb: tensor<8xf32>,
                       %w1: tensor<8x128x64xf32>, %w3: tensor<8x128x64xf32>,
                       %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg, router_bias %rb) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, select_on = logits, weights = softmax_selected>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8xf32>, tensor<8x128x64xf32>,
            tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that the router reads the RMS-normalised input (a row reduction of
// squares, then x / sqrt(mean + eps) · scale · multiplier) while dispatch
// and the experts read x, and that the expert scale moves to moe.route.
// CHECK-LABEL: func.func @gemma4
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>, %[[WG:.*]]: tensor<8x64xf32>, %[[IS:.*]]: tensor<64xf32>, %[[ES:.*]]: tensor<8xf32>
// CHECK-DAG: %[[MULT:.*]] = arith.constant 1.250000e-01 : f32
// CHECK-DAG: %[[EPS:.*]] = arith.constant 9.99999997E-7 : f32
// CHECK-DAG: %[[H:.*]] = arith.constant 6.400000e+01 : f32
// CHECK: %[[SS:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} ins(%[[X]] : tensor<?x64xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: %[[R:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]{{.*}} ins(%[[X]], %[[SS]], %[[IS]] : tensor<?x64xf32>, tensor<?xf32>, tensor<64xf32>)
// CHECK: arith.divf %{{.*}}, %[[H]] : f32
// CHECK: arith.addf %{{.*}}, %[[EPS]] : f32
// CHECK: math.sqrt
// CHECK: arith.mulf %{{.*}}, %[[MULT]] : f32
// CHECK: %[[L:.*]] = linalg.matmul {{.*}} ins(%[[R]], %[[WG]] : tensor<?x64xf32>, tensor<8x64xf32>)
// CHECK: %[[W:.*]], %[[IDS:.*]] = moe.route %[[L]] expert_scale(%[[ES]] : tensor<8xf32>)
// CHECK: moe.dispatch %[[X]], %[[IDS]], %[[W]]
func.func @gemma4(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>, %is: tensor<64xf32>,
                  %es: tensor<8xf32>, %w1: tensor<8x128x64xf32>,
                  %w3: tensor<8x128x64xf32>, %w2: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg, input_scale %is, expert_scale %es) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, renormalize = true>,
          router_input_norm = #moe.router_input_norm<epsilon = 1.0e-6, multiplier = 0.125>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<64xf32>, tensor<8xf32>,
            tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
