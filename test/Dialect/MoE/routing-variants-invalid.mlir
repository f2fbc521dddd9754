// RUN: moe-opt %s -split-input-file -verify-diagnostics

// Every verifier error of the routing variants (scorings, weights,
// renormalisation, router bias, input normalisation, expert scale).

// Tests that a non-positive renorm_p is rejected.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{renorm_p must be a positive finite number, got 0}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, renormalize = true, renorm_p = 0.0>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that a negative renorm_epsilon is rejected.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{renorm_epsilon must be a finite number at least 0, got -1}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, renormalize = true, renorm_epsilon = -1.0>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that the renorm_* parameters need renormalize = true.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{renorm_p, renorm_epsilon and renorm_clamp need renormalize = true}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, renorm_clamp = true>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that softmax_selected weights are not renormalised again.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{renormalize = true does not combine with weights = softmax_selected, whose weights sum to 1 already}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, renormalize = true, weights = softmax_selected>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that a negative jitter_eps is rejected.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{jitter_eps must be a finite number at least 0, got -5.000000e-01}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, scoring = sparsemixer, select_on = logits, jitter_eps = -0.5>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that jitter_eps belongs to sparsemixer.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{jitter_eps needs scoring = sparsemixer}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, jitter_eps = 0.01>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that sparsemixer must say it selects on the logits.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{scoring = sparsemixer selects on the logits: it needs select_on = logits}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, scoring = sparsemixer, jitter_eps = 0.01>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that sparsemixer keeps its own weights.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{scoring = sparsemixer computes its own weights: it needs weights = scores}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, scoring = sparsemixer, select_on = logits, weights = softmax_selected>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that an expert scale of the wrong size is rejected by moe.route.
func.func @f(%l: tensor<?x4xf32>, %s: tensor<5xf32>) {
  // expected-error @+1 {{'expert_scale' expert count (dimension 0) is 5, expected 4}}
  %w, %ids = moe.route %l expert_scale(%s : tensor<5xf32>) {routing = #moe.routing<top_k = 2>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that a negative router input epsilon is rejected.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) {
  // expected-error @+1 {{epsilon must be a finite number at least 0, got -1}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation gelu>, router_input_norm = #moe.router_input_norm<epsilon = -1.0>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that a non-positive router input multiplier is rejected.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) {
  // expected-error @+1 {{multiplier must be a positive finite number, got 0}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation gelu>, router_input_norm = #moe.router_input_norm<epsilon = 1.0e-6, multiplier = 0.0>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that a router bias of the wrong size is rejected.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %rb: tensor<3xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) {
  // expected-error @+1 {{'router_bias' expert count (dimension 0) is 3, expected 4}}
  %y = moe.layer %x router(%wg, router_bias %rb) experts(up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation gelu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<3xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that a router input scale needs the normalisation it scales.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %is: tensor<8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) {
  // expected-error @+1 {{'router_input_scale' needs a 'router_input_norm' attribute}}
  %y = moe.layer %x router(%wg, input_scale %is) experts(up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation gelu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that a router input scale of the wrong size is rejected.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %is: tensor<4xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) {
  // expected-error @+1 {{'router_input_scale' hidden size (dimension 0) is 4, expected 8}}
  %y = moe.layer %x router(%wg, input_scale %is) experts(up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation gelu>, router_input_norm = #moe.router_input_norm<epsilon = 1.0e-6>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that a layer's expert scale of the wrong size is rejected.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %es: tensor<8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) {
  // expected-error @+1 {{'expert_scale' expert count (dimension 0) is 8, expected 4}}
  %y = moe.layer %x router(%wg, expert_scale %es) experts(up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation gelu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that an expert scale needs token-choice routing.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %es: tensor<4xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) {
  // expected-error @+1 {{'expert_scale' applies to token-choice routing only}}
  %y = moe.layer %x router(%wg, expert_scale %es) experts(up %u, down %d) {router = #moe.expert_choice<capacity_factor = 1.0>, activation = #moe<activation gelu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that the router operands are parsed in their printed order only.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %b: tensor<4xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) {
  // expected-error @+1 {{expected one of 'bias', 'router_bias', 'input_scale', 'expert_scale' (each at most once, in this order), got 'bias'}}
  %y = moe.layer %x router(%wg, router_bias %b, bias %b) experts(up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation gelu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that routing statistics take softmax or sigmoid probabilities only.
func.func @f(%l: tensor<?x4xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'scoring' must be softmax or sigmoid, got sqrtsoftplus}}
  %load, %h, %max, %conf, %aux, %hist = moe.routing_stats %l, %ids, %w sqrtsoftplus : tensor<?x4xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<4xi64>, tensor<20xi64>
  return
}
