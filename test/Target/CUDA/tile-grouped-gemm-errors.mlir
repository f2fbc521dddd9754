// RUN: moe-opt %s -split-input-file -moe-cuda-tile-grouped-gemm -verify-diagnostics

// Tests that f32 weights are refused, naming the pass that makes bf16 rows.
func.func @f32_weights(%x: memref<?x64xf32>, %u: memref<32x64xf32>, %a: memref<?x32xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op needs bf16 weights in rows layout (moe-cuda-prepare-kernels) for the tiled form}}
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a)
      : (memref<?x64xf32>, memref<32x64xf32>, memref<?x32xf32>) -> ()
  return
}

// -----

// Tests that bf16 weights packed in panels (the CPU's layout) are refused.
func.func @panels(%x: memref<?x64xf32>, %off: memref<3xi32>, %u: memref<2x1x64x32xbf16>, %a: memref<?x32xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op needs bf16 weights in rows layout (moe-cuda-prepare-kernels) for the tiled form}}
  moe.gather_gate_up gelu %x offsets(%off) weights(up %u) layout <panels = 32> outs(%a)
      : (memref<?x64xf32>, memref<3xi32>, memref<2x1x64x32xbf16>, memref<?x32xf32>) -> ()
  return
}

// -----

// Tests that kernel ops still on tensors are refused.
func.func @tensors(%h: tensor<?x64xf32>, %d: tensor<32x64xbf16>, %o: tensor<?x32xf32>) -> tensor<?x32xf32> {
  // expected-error @+1 {{'moe.down_scatter_add' op must be on buffers for moe-cuda-tile-grouped-gemm (run moe-bufferize first)}}
  %r = moe.down_scatter_add %h weights(down %d) layout <rows> outs(%o)
      : (tensor<?x64xf32>, tensor<32x64xbf16>, tensor<?x32xf32>) -> tensor<?x32xf32>
  return %r : tensor<?x32xf32>
}

// -----

// Tests that weights of a dynamic shape are refused (the tile's columns
// and depth are static).
func.func @dynamic_weights(%h: memref<?x64xf32>, %d: memref<?x64xbf16>, %o: memref<?x32xf32>) {
  // expected-error @+1 {{'moe.down_scatter_add' op needs static weight shapes for the tiled form}}
  moe.down_scatter_add %h weights(down %d) layout <rows> outs(%o)
      : (memref<?x64xf32>, memref<?x64xbf16>, memref<?x32xf32>) -> ()
  return
}
