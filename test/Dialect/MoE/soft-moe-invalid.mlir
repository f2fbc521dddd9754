// RUN: moe-opt %s -split-input-file -verify-diagnostics

// The verifier errors of Soft MoE (#moe.soft_moe, moe.soft_dispatch,
// moe.soft_combine and a moe.layer using it), each naming the attribute or
// operand at fault.

// Tests that fewer than one slot per expert is rejected.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{slots_per_expert must be in [1, 65536], got 0}}
  %r, %o = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 0>} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>, tensor<5xi32>
  return
}

// -----

// Tests that a router whose rows are not a multiple of the slots per expert
// is rejected.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<6x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'router_weight' must have a row per slot (E·S rows with slots_per_expert = 4), got 6 rows}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d) {router = #moe.soft_moe<slots_per_expert = 4>, activation = #moe<activation relu>} : (tensor<?x8xf32>, tensor<6x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that E·S router rows must match the experts' E (here 8 rows of 2
// slots: 4 experts, but the expert weights stack 2).
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<8x8xf32>, %u: tensor<2x16x8xf32>, %d: tensor<2x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'expert_up' expert count (dimension 0) is 2, expected 4}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d) {router = #moe.soft_moe<slots_per_expert = 2>, activation = #moe<activation relu>} : (tensor<?x8xf32>, tensor<8x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a capacity is rejected with Soft MoE.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'capacity' does not apply to #moe.soft_moe: every slot is computed}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d) {router = #moe.soft_moe<slots_per_expert = 1>, activation = #moe<activation relu>, capacity = #moe.capacity<factor = 1.0>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a correction bias is rejected with Soft MoE.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %b: tensor<4xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'correction_bias' applies to token-choice routing only}}
  %y = moe.layer %x router(%wg, bias %b) experts(up %u, down %d) {router = #moe.soft_moe<slots_per_expert = 1>, activation = #moe<activation relu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that weights on the expert input are rejected with Soft MoE.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'scale_expert_input' does not apply to #moe.soft_moe: its slots carry no routing weight}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d) {router = #moe.soft_moe<slots_per_expert = 1>, activation = #moe<activation relu>, scale_expert_input} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that soft dispatch needs a static slot count.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x?xf32>) {
  // expected-error @+1 {{'logits' slot count must be static}}
  %r, %o = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 1>} : tensor<?x8xf32>, tensor<?x?xf32> -> tensor<?x8xf32>, tensor<5xi32>
  return
}

// -----

// Tests that soft dispatch's logits have E·S columns.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x5xf32>) {
  // expected-error @+1 {{'logits' must have E·S columns with slots_per_expert = 2, got 5}}
  %r, %o = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 2>} : tensor<?x8xf32>, tensor<?x5xf32> -> tensor<?x8xf32>, tensor<3xi32>
  return
}

// -----

// Tests that soft dispatch's logits have a row per token.
func.func @f(%x: tensor<3x8xf32>, %l: tensor<2x4xf32>) {
  // expected-error @+1 {{'logits' token count (dimension 0) is 2, expected 3}}
  %r, %o = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 1>} : tensor<3x8xf32>, tensor<2x4xf32> -> tensor<?x8xf32>, tensor<5xi32>
  return
}

// -----

// Tests that soft dispatch gives a row per slot.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'rows' slot count (dimension 0) is 3, expected 4}}
  %r, %o = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 1>} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<3x8xf32>, tensor<5xi32>
  return
}

// -----

// Tests that soft dispatch's rows keep the hidden size.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'rows' hidden size (dimension 1) is 6, expected 8}}
  %r, %o = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 1>} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x6xf32>, tensor<5xi32>
  return
}

// -----

// Tests that soft dispatch's offsets are static.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'expert_offsets' must have a static shape}}
  %r, %o = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 1>} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>, tensor<?xi32>
  return
}

// -----

// Tests that soft dispatch's offsets have E+1 entries.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'expert_offsets' expert count + 1 (dimension 0) is 5, expected 3}}
  %r, %o = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 2>} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>, tensor<5xi32>
  return
}

// -----

// Tests that soft dispatch's rows keep the input's element type.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'rows' element type must match 'input'}}
  %r, %o = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 1>} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xbf16>, tensor<5xi32>
  return
}

// -----

// Tests that soft dispatch needs a static hidden size.
func.func @f(%x: tensor<?x?xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'input' hidden size must be static}}
  %r, %o = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 1>} : tensor<?x?xf32>, tensor<?x4xf32> -> tensor<?x?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that soft combine needs a static hidden size.
func.func @f(%out: tensor<?x?xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'expert_out' hidden size must be static}}
  %y = moe.soft_combine %out, %l : (tensor<?x?xf32>, tensor<?x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that soft combine needs a static slot count.
func.func @f(%out: tensor<?x8xf32>, %l: tensor<?x?xf32>) {
  // expected-error @+1 {{'logits' slot count must be static}}
  %y = moe.soft_combine %out, %l : (tensor<?x8xf32>, tensor<?x?xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that soft combine reads a row per slot.
func.func @f(%out: tensor<3x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'expert_out' slot count (dimension 0) is 3, expected 4}}
  %y = moe.soft_combine %out, %l : (tensor<3x8xf32>, tensor<?x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that soft combine gives a row per token.
func.func @f(%out: tensor<?x8xf32>, %l: tensor<2x4xf32>) {
  // expected-error @+1 {{'output' token count (dimension 0) is 3, expected 2}}
  %y = moe.soft_combine %out, %l : (tensor<?x8xf32>, tensor<2x4xf32>) -> tensor<3x8xf32>
  return
}

// -----

// Tests that soft combine keeps the hidden size.
func.func @f(%out: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'output' hidden size (dimension 1) is 6, expected 8}}
  %y = moe.soft_combine %out, %l : (tensor<?x8xf32>, tensor<?x4xf32>) -> tensor<?x6xf32>
  return
}

// -----

// Tests that soft combine keeps the element type.
func.func @f(%out: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'output' element type must match 'expert_out'}}
  %y = moe.soft_combine %out, %l : (tensor<?x8xf32>, tensor<?x4xf32>) -> tensor<?x8xbf16>
  return
}
