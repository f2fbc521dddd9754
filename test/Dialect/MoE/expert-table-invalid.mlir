// RUN: moe-opt %s -split-input-file -verify-diagnostics

// The verifier rules of routing by token id (moe.route and moe.layer's
// `expert_table` and `token_ids`).

// Tests that a table without token ids is rejected (generic form: the
// custom form cannot spell it).
func.func @f(%l: tensor<?x4xf32>, %t: tensor<16x2xi32>) {
  // expected-error @+1 {{'expert_table' and 'token_ids' go together: routing by token id needs both}}
  %w, %e = "moe.route"(%l, %t) <{operandSegmentSizes = array<i32: 1, 0, 0, 1, 0>, routing = #moe.routing<top_k = 2>}> : (tensor<?x4xf32>, tensor<16x2xi32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return
}

// -----

// Tests that token ids without a table are rejected.
func.func @f(%l: tensor<?x4xf32>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{'expert_table' and 'token_ids' go together}}
  %w, %e = moe.route %l token_ids(%ids : tensor<?xi32>) {routing = #moe.routing<top_k = 2>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that a table whose rows do not hold top_k experts is rejected.
func.func @f(%l: tensor<?x4xf32>, %t: tensor<16x3xi32>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{'expert_table' top_k (dimension 1) is 3, expected 2}}
  %w, %e = moe.route %l table(%t : tensor<16x3xi32>) token_ids(%ids : tensor<?xi32>) {routing = #moe.routing<top_k = 2>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that a table of dynamic shape is rejected.
func.func @f(%l: tensor<?x4xf32>, %t: tensor<?x2xi32>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{'expert_table' must have a static shape, got 'tensor<?x2xi32>'}}
  %w, %e = moe.route %l table(%t : tensor<?x2xi32>) token_ids(%ids : tensor<?xi32>) {routing = #moe.routing<top_k = 2>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that token ids of another token count than the logits are rejected.
func.func @f(%l: tensor<5x4xf32>, %t: tensor<16x2xi32>, %ids: tensor<6xi32>) {
  // expected-error @+1 {{'token_ids' token count (dimension 0) is 6, expected 5}}
  %w, %e = moe.route %l table(%t : tensor<16x2xi32>) token_ids(%ids : tensor<6xi32>) {routing = #moe.routing<top_k = 2>} : tensor<5x4xf32> -> tensor<5x2xf32>, tensor<5x2xi32>
  return
}

// -----

// Tests that a correction bias, which only changes the selection, is
// rejected beside a table.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>, %t: tensor<16x2xi32>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{'correction_bias' only changes the selection, which 'expert_table' replaces}}
  %w, %e = moe.route %l bias(%b) table(%t : tensor<16x2xi32>) token_ids(%ids : tensor<?xi32>) {routing = #moe.routing<top_k = 2, scoring = sigmoid>} : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that group-limited selection is rejected beside a table.
func.func @f(%l: tensor<?x4xf32>, %t: tensor<16x2xi32>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{group- or rank-limited selection does not apply to routing by 'expert_table'}}
  %w, %e = moe.route %l table(%t : tensor<16x2xi32>) token_ids(%ids : tensor<?xi32>) {routing = #moe.routing<top_k = 2, n_group = 2, topk_group = 1>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that moe.layer checks its table against top_k too.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %t: tensor<32x1xi32>, %ids: tensor<?xi32>, %w1: tensor<4x6x8xf32>, %w3: tensor<4x6x8xf32>, %w2: tensor<4x8x6xf32>) {
  // expected-error @+1 {{'expert_table' top_k (dimension 1) is 1, expected 2}}
  %y = moe.layer %x router(%wg) table(%t) token_ids(%ids) experts(gate %w1, up %w3, down %w2) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<32x1xi32>, tensor<?xi32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that moe.layer rejects a table without token ids.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %t: tensor<32x1xi32>, %w1: tensor<4x6x8xf32>, %w3: tensor<4x6x8xf32>, %w2: tensor<4x8x6xf32>) {
  // expected-error @+1 {{'expert_table' and 'token_ids' go together}}
  %y = moe.layer %x router(%wg) table(%t) experts(gate %w1, up %w3, down %w2) {router = #moe.routing<top_k = 1>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<32x1xi32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that expert choice, which has no per-token experts, rejects a table.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %t: tensor<32x1xi32>, %ids: tensor<?xi32>, %w1: tensor<4x6x8xf32>, %w3: tensor<4x6x8xf32>, %w2: tensor<4x8x6xf32>) {
  // expected-error @+1 {{'expert_table' and 'token_ids' apply to token-choice routing only}}
  %y = moe.layer %x router(%wg) table(%t) token_ids(%ids) experts(gate %w1, up %w3, down %w2) {router = #moe.expert_choice<capacity_factor = 1.0>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<32x1xi32>, tensor<?xi32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
  return
}
