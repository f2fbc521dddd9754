// RUN: moe-opt %s -split-input-file -moe-cpu-pack-weights -verify-diagnostics

// Tests that a weight of dynamic shape is refused with the reason: panels
// are sized at compile time.
func.func @dynamic(%x: tensor<?x?xf32>, %u: tensor<?x?xf32>, %a: tensor<?x?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{'moe.gather_gate_up' op moe-cpu-pack-weights: weights must have a static shape to be packed, got 'tensor<?x?xf32>'}}
  %h = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a) : (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return %h : tensor<?x?xf32>
}

// -----

// Tests that the panel width and the weight type are checked.
// RUN: not moe-opt %s -split-input-file -moe-cpu-pack-weights=panel-width=0 2>&1 | FileCheck %s --check-prefix=WIDTH
// WIDTH: moe-cpu-pack-weights: panel-width must be >= 1
func.func @empty() {
  return
}
