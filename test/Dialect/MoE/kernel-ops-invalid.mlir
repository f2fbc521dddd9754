// RUN: moe-opt %s -split-input-file -verify-diagnostics

// Tests that a kernel-level op takes tensors or buffers, not both.
func.func @f(%x: memref<?x8xf32>, %u: tensor<4x8xf32>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{'input' must be a ranked tensor like 'init', got 'memref<?x8xf32>'}}
  %h = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a) : (memref<?x8xf32>, tensor<4x8xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that kernel-level operands have their rank and element type.
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<?xi64>, %u: tensor<4x8xf32>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{'row_token' must be a rank-1 shaped value of i32, got 'tensor<?xi64>'}}
  %h = moe.gather_gate_up relu %x tokens(%tok) weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<?xi64>, tensor<4x8xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that weights are f32, bf16 or f16, in either layout.
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf64>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{'up' must be a rank-2 shaped value of f32, bf16 or f16, got 'tensor<4x8xf64>'}}
  %h = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<4x8xf64>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that a weight's rank is its layout's: panels are [ceil(N/P), K, P].
func.func @f(%h: tensor<?x8xf32>, %d: tensor<4x8xf32>, %o: tensor<?x4xf32>) {
  // expected-error @+1 {{'down' must be a rank-3 shaped value of f32, bf16 or f16, got 'tensor<4x8xf32>'}}
  %y = moe.down_scatter_add %h weights(down %d) layout <panels = 32> outs(%o) : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that a kernel-level op on buffers returns nothing.
func.func @f(%x: memref<?x8xf32>, %u: memref<4x8xf32>, %a: memref<?x4xf32>) {
  // expected-error @+1 {{on buffers returns no result}}
  %h = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a) : (memref<?x8xf32>, memref<4x8xf32>, memref<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that a kernel-level op on tensors returns the init's type.
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf32>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{result type 'tensor<3x4xf32>' must match 'init' type 'tensor<?x4xf32>'}}
  %h = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<?x4xf32>) -> tensor<3x4xf32>
  return
}

// -----

// Tests that moe.gather_gate_up has gate weights exactly when gated.
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf32>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{activation 'swiglu' needs 'gate' weights}}
  %h = moe.gather_gate_up swiglu %x weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that an ungated moe.gather_gate_up takes no gate weights.
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf32>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{activation 'gelu' takes no 'gate' weights}}
  %h = moe.gather_gate_up gelu %x weights(gate %u, up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that moe.gather_gate_up weights have the input's hidden size.
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x6xf32>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{'up' hidden size (dimension 1) is 6, expected 8}}
  %h = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<4x6xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that moe.gather_gate_up writes as many columns as it projects to.
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf32>, %a: tensor<?x5xf32>) {
  // expected-error @+1 {{'init' width (dimension 1) is 5, expected 4}}
  %h = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<?x5xf32>) -> tensor<?x5xf32>
  return
}

// -----

// Tests that moe.gather_gate_up has one token per row.
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<3xi32>, %u: tensor<4x8xf32>, %a: tensor<2x4xf32>) {
  // expected-error @+1 {{'row_token' row count (dimension 0) is 3, expected 2}}
  %h = moe.gather_gate_up relu %x tokens(%tok) weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<3xi32>, tensor<4x8xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return
}

// -----

// Tests that moe.gather_gate_up has one scale per row.
func.func @f(%x: tensor<?x8xf32>, %s: tensor<3xf32>, %u: tensor<4x8xf32>, %a: tensor<2x4xf32>) {
  // expected-error @+1 {{'scale' row count (dimension 0) is 3, expected 2}}
  %h = moe.gather_gate_up relu %x scale(%s) weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<3xf32>, tensor<4x8xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return
}

// -----

// Tests that without tokens moe.gather_gate_up reads one input row per row.
func.func @f(%x: tensor<3x8xf32>, %u: tensor<4x8xf32>, %a: tensor<2x4xf32>) {
  // expected-error @+1 {{'input' row count (dimension 0) is 3, expected 2}}
  %h = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a) : (tensor<3x8xf32>, tensor<4x8xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return
}

// -----

// Tests that moe.gather_gate_up gate and up slices agree.
func.func @f(%x: tensor<?x8xf32>, %g: tensor<?x8xf32>, %u: tensor<4x8xf32>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{'gate' type 'tensor<?x8xf32>' differs from 'up' type 'tensor<4x8xf32>'}}
  %h = moe.gather_gate_up swiglu %x weights(gate %g, up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<4x8xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that moe.down_scatter_add weights have the rows' FFN width.
func.func @f(%h: tensor<?x4xf32>, %d: tensor<8x5xf32>, %o: tensor<?x8xf32>) {
  // expected-error @+1 {{'down' FFN width (dimension 1) is 5, expected 4}}
  %y = moe.down_scatter_add %h weights(down %d) layout <rows> outs(%o) : (tensor<?x4xf32>, tensor<8x5xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that moe.down_scatter_add adds into as many columns as it projects to.
func.func @f(%h: tensor<?x4xf32>, %d: tensor<8x4xf32>, %o: tensor<?x7xf32>) {
  // expected-error @+1 {{'init' width (dimension 1) is 7, expected 8}}
  %y = moe.down_scatter_add %h weights(down %d) layout <rows> outs(%o) : (tensor<?x4xf32>, tensor<8x4xf32>, tensor<?x7xf32>) -> tensor<?x7xf32>
  return
}

// -----

// Tests that moe.down_scatter_add has one token per row.
func.func @f(%h: tensor<2x4xf32>, %d: tensor<8x4xf32>, %tok: tensor<3xi32>, %o: tensor<?x8xf32>) {
  // expected-error @+1 {{'row_token' row count (dimension 0) is 3, expected 2}}
  %y = moe.down_scatter_add %h weights(down %d) tokens(%tok) layout <rows> outs(%o) : (tensor<2x4xf32>, tensor<8x4xf32>, tensor<3xi32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that moe.down_scatter_add has one weight per row.
func.func @f(%h: tensor<2x4xf32>, %d: tensor<8x4xf32>, %w: tensor<3xf32>, %o: tensor<2x8xf32>) {
  // expected-error @+1 {{'row_weight' row count (dimension 0) is 3, expected 2}}
  %y = moe.down_scatter_add %h weights(down %d) row_weight(%w) layout <rows> outs(%o) : (tensor<2x4xf32>, tensor<8x4xf32>, tensor<3xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

// Tests that without tokens moe.down_scatter_add adds row r into row r.
func.func @f(%h: tensor<2x4xf32>, %d: tensor<8x4xf32>, %o: tensor<3x8xf32>) {
  // expected-error @+1 {{'init' row count (dimension 0) is 3, expected 2}}
  %y = moe.down_scatter_add %h weights(down %d) layout <rows> outs(%o) : (tensor<2x4xf32>, tensor<8x4xf32>, tensor<3x8xf32>) -> tensor<3x8xf32>
  return
}

// -----

func.func @packed_kernel_width(%x: tensor<?x64xf32>, %u: tensor<2x64x32xf32>, %init: tensor<?x80xf32>) -> tensor<?x80xf32> {
  // expected-error @+1 {{'up' panel count for init's width (dimension 0) is 2, expected 3}}
  %a = moe.gather_gate_up gelu %x weights(up %u) layout <panels = 32> outs(%init) : (tensor<?x64xf32>, tensor<2x64x32xf32>, tensor<?x80xf32>) -> tensor<?x80xf32>
  return %a : tensor<?x80xf32>
}


// -----

// Tests that a grouped op's weights are stacked [E, ...] (rank one more).
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<?xi32>, %off: tensor<3xi32>, %u: tensor<4x8xf32>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{'up' must be a rank-3 shaped value of f32, bf16 or f16, got 'tensor<4x8xf32>'}}
  %h = moe.gather_gate_up relu %x tokens(%tok) offsets(%off) weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<?xi32>, tensor<3xi32>, tensor<4x8xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that a grouped op's stacked weights hold one matrix per expert.
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<?xi32>, %off: tensor<3xi32>, %u: tensor<3x4x8xf32>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{'up' expert count (dimension 0) is 3, expected 2}}
  %h = moe.gather_gate_up relu %x tokens(%tok) offsets(%off) weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<?xi32>, tensor<3xi32>, tensor<3x4x8xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that expert offsets are static with E+1 >= 2 entries.
func.func @f(%h: tensor<?x4xf32>, %off: tensor<1xi32>, %d: tensor<0x8x4xf32>, %o: tensor<?x8xf32>) {
  // expected-error @+1 {{'expert_offsets' must hold E+1 >= 2 entries, got 'tensor<1xi32>'}}
  %y = moe.down_scatter_add %h offsets(%off) weights(down %d) layout <rows> outs(%o) : (tensor<?x4xf32>, tensor<1xi32>, tensor<0x8x4xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that panels have the layout's width.
func.func @f(%x: tensor<?x64xf32>, %u: tensor<2x64x16xf32>, %init: tensor<?x40xf32>) {
  // expected-error @+1 {{'up' panel width (dimension 2) is 16, expected 32}}
  %a = moe.gather_gate_up gelu %x weights(up %u) layout <panels = 32> outs(%init) : (tensor<?x64xf32>, tensor<2x64x16xf32>, tensor<?x40xf32>) -> tensor<?x40xf32>
  return
}

// -----

// Tests that a gate of another element type than up is refused.
func.func @f(%x: tensor<?x64xf32>, %g: tensor<2x64x32xf32>, %u: tensor<2x64x32xbf16>, %init: tensor<?x40xf32>) {
  // expected-error @+1 {{'gate' type 'tensor<2x64x32xf32>' differs from 'up' type 'tensor<2x64x32xbf16>'}}
  %a = moe.gather_gate_up swiglu %x weights(gate %g, up %u) layout <panels = 32> outs(%init) : (tensor<?x64xf32>, tensor<2x64x32xf32>, tensor<2x64x32xbf16>, tensor<?x40xf32>) -> tensor<?x40xf32>
  return
}

// -----

// Tests that the layout's panel width is bounded.
func.func @f(%x: tensor<?x64xf32>, %u: tensor<1x64x2048xf32>, %init: tensor<?x40xf32>) {
  // expected-error @+1 {{panel width must be in [1, 1024], got 2048}}
  %a = moe.gather_gate_up gelu %x weights(up %u) layout <panels = 2048> outs(%init) : (tensor<?x64xf32>, tensor<1x64x2048xf32>, tensor<?x40xf32>) -> tensor<?x40xf32>
  return
}

// -----

// Tests that a panel layout needs a width of at least 1.
func.func @f(%x: tensor<?x64xf32>, %u: tensor<1x64x2048xf32>, %init: tensor<?x40xf32>) {
  // expected-error @+1 {{panel width must be in [1, 1024], got 0}}
  %a = moe.gather_gate_up gelu %x weights(up %u) layout <panels = 0> outs(%init) : (tensor<?x64xf32>, tensor<1x64x2048xf32>, tensor<?x40xf32>) -> tensor<?x40xf32>
  return
}

// -----

// Tests that the layout is rows or panels.
func.func @f(%x: tensor<?x64xf32>, %u: tensor<40x64xf32>, %init: tensor<?x40xf32>) {
  // expected-error @+1 {{expected 'rows' or 'panels = P', got 'columns'}}
  %a = moe.gather_gate_up gelu %x weights(up %u) layout <columns> outs(%init) : (tensor<?x64xf32>, tensor<40x64xf32>, tensor<?x40xf32>) -> tensor<?x40xf32>
  return
}

// -----

// Tests that a kernel op on tensors returns its updated destination.
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf32>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{on tensors returns one result}}
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<?x4xf32>) -> ()
  return
}

// -----

// Tests that activations are f32 whatever the weights hold.
func.func @f(%x: tensor<?x8xf16>, %u: tensor<4x8xf16>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{'input' must be a rank-2 shaped value of f32, got 'tensor<?x8xf16>'}}
  %h = moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%a) : (tensor<?x8xf16>, tensor<4x8xf16>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

// Tests that the expert count is static (the stacked weights' first
// dimension).
func.func @f(%h: tensor<?x4xf32>, %off: tensor<?xi32>, %d: tensor<2x8x4xf32>, %o: tensor<?x8xf32>) {
  // expected-error @+1 {{'expert_offsets' must have a static shape, got 'tensor<?xi32>'}}
  %y = moe.down_scatter_add %h offsets(%off) weights(down %d) layout <rows> outs(%o) : (tensor<?x4xf32>, tensor<?xi32>, tensor<2x8x4xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that moe.gather_gate_up carries glu_clamp exactly for
// clamped_swiglu.
func.func @f(%x: tensor<?x8xf32>, %g: tensor<4x8xf32>, %u: tensor<4x8xf32>, %a: tensor<?x4xf32>) {
  // expected-error @+1 {{activation 'clamped_swiglu' needs a 'glu_clamp' attribute}}
  %h = moe.gather_gate_up clamped_swiglu %x weights(gate %g, up %u) layout <rows> outs(%a) : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}
