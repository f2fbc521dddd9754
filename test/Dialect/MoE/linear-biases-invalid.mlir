// RUN: moe-opt %s -split-input-file -verify-diagnostics

// The verifier rules of the expert linears' biases and the block's output
// bias.

// Tests that a gate bias needs a gated activation.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x6x8xf32>,
             %d: tensor<4x8x6xf32>, %bg: tensor<4x6xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{activation 'gelu' takes no 'expert_gate_bias': it has no gate}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d, gate_bias %bg)
         {router = #moe.routing<top_k = 1>, activation = #moe<activation gelu>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>,
            tensor<4x6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that an up bias must have the FFN width.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x6x8xf32>,
             %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %bu: tensor<4x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'expert_up_bias' FFN width (dimension 1) is 8, expected 6}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d, up_bias %bu)
         {router = #moe.routing<top_k = 1>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>,
            tensor<4x8x6xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a down bias has its FFN's hidden size.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x6x8xf32>,
             %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %bd: tensor<4x6xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'expert_down_bias' hidden size (dimension 1) is 6, expected 8}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d, down_bias %bd)
         {router = #moe.routing<top_k = 1>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>,
            tensor<4x8x6xf32>, tensor<4x6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a bias has one row per expert.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x6x8xf32>,
             %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %bd: tensor<2x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'expert_down_bias' expert count (dimension 0) is 2, expected 4}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d, down_bias %bd)
         {router = #moe.routing<top_k = 1>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>,
            tensor<4x8x6xf32>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a bias must be a stacked [E, width] of f32.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x6x8xf32>,
             %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %bd: tensor<4x8xbf16>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'expert_down_bias' must be a rank-2 tensor of f32 ([E, hidden size]), got 'tensor<4x8xbf16>'}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d, down_bias %bd)
         {router = #moe.routing<top_k = 1>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>,
            tensor<4x8x6xf32>, tensor<4x8xbf16>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the biases are spelled in order, each once.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x6x8xf32>,
             %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %b: tensor<4x6xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{expected one of 'gate_bias', 'up_bias', 'down_bias' (each at most once, in this order), got 'gate_bias'}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d, up_bias %b, gate_bias %b)
         {router = #moe.routing<top_k = 1>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>,
            tensor<4x8x6xf32>, tensor<4x6xf32>, tensor<4x6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the output bias has the hidden size.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x6x8xf32>,
             %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %b: tensor<6xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'output_bias' hidden size (dimension 0) is 6, expected 8}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) output_bias(%b)
         {router = #moe.routing<top_k = 1>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>,
            tensor<4x8x6xf32>, tensor<6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that Soft MoE takes no output bias.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<8x8xf32>, %g: tensor<4x6x8xf32>,
             %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'output_bias' applies to token- and expert-choice routing only}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) output_bias(%b)
         {router = #moe.soft_moe<slots_per_expert = 2>}
         : (tensor<?x8xf32>, tensor<8x8xf32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>,
            tensor<4x8x6xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that moe.expert_mlp checks its biases as the layer does.
func.func @f(%rows: tensor<?x8xf32>, %off: tensor<5xi32>, %g: tensor<4x6x8xf32>,
             %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>, %bg: tensor<4x5xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'gate_bias' FFN width (dimension 1) is 5, expected 6}}
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d, gate_bias %bg)
      : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>,
         tensor<4x5xf32>) -> tensor<?x8xf32>
  return %out : tensor<?x8xf32>
}

// -----

// Tests that moe.combine's output bias has the hidden size.
func.func @f(%x: tensor<?x8xf32>, %out: tensor<?x8xf32>, %tok: tensor<?xi32>,
             %off: tensor<5xi32>, %b: tensor<4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'output_bias' hidden size (dimension 0) is 4, expected 8}}
  %y = moe.combine %out tokens(%tok) offsets(%off) input(%x) output_bias(%b)
      : (tensor<?x8xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x8xf32>, tensor<4xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that moe.fused_experts checks its down bias.
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<?xi32>, %off: tensor<5xi32>,
             %g: tensor<4x6x8xf32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>,
             %bd: tensor<4x6xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'expert_down_bias' hidden size (dimension 1) is 6, expected 8}}
  %f = moe.fused_experts swiglu %x tokens(%tok) offsets(%off)
      experts(gate %g, up %u, down %d, down_bias %bd)
      : (tensor<?x8xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x6x8xf32>,
         tensor<4x6x8xf32>, tensor<4x8x6xf32>, tensor<4x6xf32>) -> tensor<?x8xf32>
  return %f : tensor<?x8xf32>
}

// -----

// Tests that a kernel op's bias has one entry per output column.
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<?xi32>, %off: tensor<5xi32>,
             %g: tensor<4x6x8xf32>, %u: tensor<4x6x8xf32>, %bu: tensor<4x5xf32>,
             %a: tensor<?x6xf32>) -> tensor<?x6xf32> {
  // expected-error @+1 {{'up_bias' width (dimension 1) is 5, expected 6}}
  %h = moe.gather_gate_up swiglu %x tokens(%tok) offsets(%off)
      weights(gate %g, up %u, up_bias %bu) layout <rows> outs(%a)
      : (tensor<?x8xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x6x8xf32>,
         tensor<4x6x8xf32>, tensor<?x6xf32>, tensor<4x5xf32>) -> tensor<?x6xf32>
  return %h : tensor<?x6xf32>
}

// -----

// Tests that a grouped kernel op's bias is stacked per expert.
func.func @f(%h: tensor<?x6xf32>, %off: tensor<5xi32>, %d: tensor<4x8x6xf32>,
             %tok: tensor<?xi32>, %bd: tensor<8xf32>, %acc: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'down_bias' must be a rank-2 shaped value of f32, got 'tensor<8xf32>'}}
  %y = moe.down_scatter_add %h offsets(%off) weights(down %d, down_bias %bd) tokens(%tok)
      layout <rows> outs(%acc)
      : (tensor<?x6xf32>, tensor<5xi32>, tensor<4x8x6xf32>, tensor<?xi32>,
         tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
