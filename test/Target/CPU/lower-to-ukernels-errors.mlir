// RUN: moe-opt %s -split-input-file -moe-cpu-lower-to-ukernels -verify-diagnostics

// Tests that an expert kernel the CPU cannot take (here weights in the rows
// layout, which moe-cpu-pack-weights would have packed) is a located error
// saying what it takes: it has no other lowering.
func.func @strided_weight(%x: memref<?x64xf32>, %u: memref<16x64xf32, strided<[128, 2]>>,
                          %a: memref<?x16xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op has no CPU lowering for these operands: the CPU runs expert kernels on buffers of f32 or bf16 panels of 32 with dense rows (moe-cpu-pack-weights makes them)}}
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a)
      : (memref<?x64xf32>, memref<16x64xf32, strided<[128, 2]>>, memref<?x16xf32>) -> ()
  return
}

// -----

// Tests that packed panels whose rows are not dense (stride 64, not 32)
// are refused the same way.
func.func @strided_panels(%h: memref<?x40xf32>, %d: memref<2x40x32xf32, strided<[2560, 64, 1]>>,
                          %o: memref<?x64xf32>) {
  // expected-error @+1 {{'moe.down_scatter_add' op has no CPU lowering for these operands: the CPU runs expert kernels on buffers of f32 or bf16 panels of 32 with dense rows (moe-cpu-pack-weights makes them)}}
  moe.down_scatter_add %h weights(down %d) layout <panels = 32> outs(%o)
      : (memref<?x40xf32>, memref<2x40x32xf32, strided<[2560, 64, 1]>>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that a kernel op still on tensors (packed weights) is reported,
// not taken.
func.func @on_tensors(%x: tensor<?x64xf32>, %u: tensor<2x64x32xf32>, %a: tensor<?x64xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'moe.gather_gate_up' op has no CPU lowering for these operands: the CPU runs expert kernels on buffers of f32 or bf16 panels of 32 with dense rows (moe-cpu-pack-weights makes them)}}
  %r = moe.gather_gate_up relu %x weights(up %u) layout <panels = 32> outs(%a)
      : (tensor<?x64xf32>, tensor<2x64x32xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// -----

// Tests that bf16 weights in the rows layout are refused the same way.
func.func @bf16_rows(%x: memref<?x64xf32>, %u: memref<16x64xbf16>, %a: memref<?x16xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op has no CPU lowering for these operands: the CPU runs expert kernels on buffers of f32 or bf16 panels of 32 with dense rows (moe-cpu-pack-weights makes them)}}
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a)
      : (memref<?x64xf32>, memref<16x64xbf16>, memref<?x16xf32>) -> ()
  return
}
