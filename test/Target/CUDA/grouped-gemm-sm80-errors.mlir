// RUN: moe-opt %s -split-input-file -moe-cuda-lower-grouped-gemm=gpu-arch=sm_80 -verify-diagnostics

// Tests that f32 weights are refused, naming the pass that makes bf16 rows.
func.func @f32_weights(%x: memref<?x64xf32>, %u: memref<32x64xf32>, %a: memref<?x32xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op needs bf16 weights in rows layout (moe-cuda-prepare-kernels) for the sm_80 kernels}}
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a)
      : (memref<?x64xf32>, memref<32x64xf32>, memref<?x32xf32>) -> ()
  return
}

// -----

// Tests that f16 weights are refused the same way.
func.func @f16_weights(%h: memref<?x64xf32>, %d: memref<32x64xf16>, %o: memref<?x32xf32>) {
  // expected-error @+1 {{'moe.down_scatter_add' op needs bf16 weights in rows layout (moe-cuda-prepare-kernels) for the sm_80 kernels}}
  moe.down_scatter_add %h weights(down %d) layout <rows> outs(%o)
      : (memref<?x64xf32>, memref<32x64xf16>, memref<?x32xf32>) -> ()
  return
}

// -----

// Tests that bf16 weights packed in panels (the CPU's layout) are refused.
func.func @panels(%x: memref<?x64xf32>, %off: memref<3xi32>, %u: memref<2x1x64x32xbf16>, %a: memref<?x32xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op needs bf16 weights in rows layout (moe-cuda-prepare-kernels) for the sm_80 kernels}}
  moe.gather_gate_up gelu %x offsets(%off) weights(up %u) layout <panels = 32> outs(%a)
      : (memref<?x64xf32>, memref<3xi32>, memref<2x1x64x32xbf16>, memref<?x32xf32>) -> ()
  return
}

// -----

// Tests that a depth K that is not a multiple of 8 (a 16-byte chunk of
// bf16, the unit the kernels load) is refused.
func.func @depth(%x: memref<?x60xf32>, %u: memref<32x60xbf16>, %a: memref<?x32xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op has depth K = 60, not a multiple of 8 as the sm_80 kernels need}}
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a)
      : (memref<?x60xf32>, memref<32x60xbf16>, memref<?x32xf32>) -> ()
  return
}

// -----

// Tests that weights whose rows are not contiguous are refused (cp.async
// copies 16 contiguous bytes).
func.func @strided(%x: memref<?x64xf32>, %u: memref<32x64xbf16, strided<[128, 2]>>, %a: memref<?x32xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op needs weights and rows with a contiguous innermost dimension for the sm_80 kernels}}
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a)
      : (memref<?x64xf32>, memref<32x64xbf16, strided<[128, 2]>>, memref<?x32xf32>) -> ()
  return
}

// -----

// Tests that a kernel op still on tensors is refused before any lowering.
func.func @on_tensors(%x: tensor<?x64xf32>, %u: tensor<32x64xbf16>, %a: tensor<?x32xf32>) -> tensor<?x32xf32> {
  // expected-error @+1 {{'moe.gather_gate_up' op must be bufferized before moe-cuda-lower-grouped-gemm (run moe-bufferize first)}}
  %r = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a)
      : (tensor<?x64xf32>, tensor<32x64xbf16>, tensor<?x32xf32>) -> tensor<?x32xf32>
  return %r : tensor<?x32xf32>
}
