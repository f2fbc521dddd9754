// RUN: moe-opt %s -moe-linalg-to-ukernels -verify-diagnostics

// Tests that a kernel-level op the micro-kernels cannot take (here a weight
// slice whose rows are not contiguous) is a located error: it has no other
// lowering.
func.func @strided_weight(%x: memref<?x64xf32>, %u: memref<16x64xf32, strided<[128, 2]>>,
                          %a: memref<?x16xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op has no micro-kernel for these operand types}}
  moe.gather_gate_up relu %x weights(up %u) outs(%a)
      : (memref<?x64xf32>, memref<16x64xf32, strided<[128, 2]>>, memref<?x16xf32>) -> ()
  return
}
