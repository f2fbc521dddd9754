// RUN: moe-opt %s -split-input-file -moe-lower-to-cuda -verify-diagnostics

// Tests that moe-lower-to-cuda refuses capacity with dropped = input at its
// first stage (moe-cuda-check-layers), naming the layer, rather than failing
// in moe-cuda-map-to-kernels on an allocation inside a GPU kernel.
func.func @dropped_input(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>,
                         %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op capacity with dropped = input is not supported by the CUDA target}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 2>,
          capacity = #moe.capacity<factor = 1.25, dropped = input>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
