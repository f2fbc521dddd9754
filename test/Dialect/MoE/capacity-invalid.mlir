// RUN: moe-opt %s -split-input-file -verify-diagnostics

// Tests that a capacity with no form (factor, count, token_fraction) is
// rejected.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{capacity needs exactly one of factor, count and token_fraction, got 0}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<drop_order = choice_order>} : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that two capacity forms at once are rejected.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{capacity needs exactly one of factor, count and token_fraction, got 2}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<factor = 1.0, count = 4>} : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that a negative count is rejected.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{capacity count must be in [1, 2147483647], got -3}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<count = -3>} : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that a count past the i32 row indices is rejected.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{capacity count must be in [1, 2147483647], got 2147483648}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<count = 2147483648>} : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that a negative token fraction is rejected.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{capacity token_fraction must be a positive finite number, got -5.000000e-01}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<token_fraction = -0.5>} : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that renormalising after dropping is rejected with dropped = input.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{capacity renormalize needs dropped = zero}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<factor = 1.0, dropped = input, renormalize = true>} : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that a non-positive output scale is rejected.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{capacity output_scale must be a positive finite number, got 0}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<count = 2, output_scale = 0.0>} : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that an output scale is rejected when weights scale the expert input.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{capacity output_scale does not combine with 'scale_expert_input'}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 1>, capacity = #moe.capacity<count = 4, output_scale = 0.8>, scale_expert_input} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
