// RUN: moe-opt %s -moe-lower-to-cpu | %mlir_runner -e main -entry-point-result=void %mlir_runner_libs | FileCheck %s
// The micro-kernels' other instruction sets compute the same numbers.
// RUN: moe-opt %s -moe-lower-to-cpu | env MOE_UKERNEL_ISA=avx2 %mlir_runner -e main -entry-point-result=void %mlir_runner_libs | FileCheck %s
// RUN: moe-opt %s -moe-lower-to-cpu | env MOE_UKERNEL_ISA=portable %mlir_runner -e main -entry-point-result=void %mlir_runner_libs | FileCheck %s

// Tests that a compiled top-2 renormalised SwiGLU layer computes the right
// numbers. All experts are equal (gate rows 0.25, up rows 0.5, down rows
// 0.125, F = 5), so with weights summing to 1 token t gives
//   0.625 · silu(0.25 s) · 0.5 s,   s = Σ_h x[t,h]
// in every column: s = 1.6, 2.1, -0.4 → 0.119738, 0.216475, 0.00593776
// (checked to the 6 digits printed).

// CHECK: sizes = [3, 4]
// CHECK-NEXT: {{\[\[}}0.119738, 0.119738, 0.119738, 0.119738],
// CHECK-NEXT: [0.216475, 0.216475, 0.216475, 0.216475],
// CHECK-NEXT: [0.00593776, 0.00593776, 0.00593776, 0.00593776]]

func.func @layer(%x: tensor<?x4xf32>, %wg: tensor<3x4xf32>, %g: tensor<3x5x4xf32>,
                 %u: tensor<3x5x4xf32>, %d: tensor<3x4x5xf32>) -> tensor<?x4xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 2, renormalize = true>}
         : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3x5x4xf32>,
            tensor<3x5x4xf32>, tensor<3x4x5xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

func.func private @printMemrefF32(tensor<*xf32>)

func.func @main() {
  %x0 = arith.constant dense<[[0.5, -1.0, 2.0, 0.1], [1.5, 0.2, -0.3, 0.7],
                              [-0.4, 0.9, 0.3, -1.2]]> : tensor<3x4xf32>
  %x = tensor.cast %x0 : tensor<3x4xf32> to tensor<?x4xf32>
  %wg = arith.constant dense<[[0.3, -0.2, 0.5, 0.1], [-0.4, 0.6, 0.2, 0.3],
                              [0.1, 0.1, -0.5, 0.8]]> : tensor<3x4xf32>
  %g = arith.constant dense<0.25> : tensor<3x5x4xf32>
  %u = arith.constant dense<0.5> : tensor<3x5x4xf32>
  %d = arith.constant dense<0.125> : tensor<3x4x5xf32>
  %y = call @layer(%x, %wg, %g, %u, %d)
      : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3x5x4xf32>,
         tensor<3x5x4xf32>, tensor<3x4x5xf32>) -> tensor<?x4xf32>
  %printable = tensor.cast %y : tensor<?x4xf32> to tensor<*xf32>
  call @printMemrefF32(%printable) : (tensor<*xf32>) -> ()
  return
}
