// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case for every verifier error of the moe dialect, each naming the
// attribute or operand at fault.

// Tests that top_k below 1 is rejected.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{top_k must be at least 1, got 0}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 0>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that a non-positive scaling factor is rejected.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{scaling_factor must be a positive finite number}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, scaling_factor = -1.0>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that n_group below 1 is rejected.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{n_group must be at least 1, got 0}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, n_group = 0>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that topk_group above n_group is rejected.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{topk_group must be in [1, n_group = 2], got 3}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, n_group = 2, topk_group = 3>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that selecting on logits with expert groups is rejected.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{select_on = logits does not combine with group-limited routing}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, select_on = logits, n_group = 2>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that a non-positive expert-choice capacity factor is rejected.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{capacity_factor must be a positive finite number}}
  %r, %t, %w, %o = moe.expert_choice %x, %l {routing = #moe.expert_choice<capacity_factor = 0.0>} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that a non-positive capacity factor is rejected.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{capacity factor must be a positive finite number}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<factor = -2.0>} : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that top_k above the expert count is rejected.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{top_k (5) exceeds the number of experts (4)}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 5>} : tensor<?x4xf32> -> tensor<?x5xf32>, tensor<?x5xi32>
  return
}

// -----

// Tests that n_group must divide the expert count.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{n_group (3) does not divide the number of experts (4)}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, n_group = 3, topk_group = 1>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that top_k must fit in the groups kept.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{top_k (3) exceeds the 2 experts in the topk_group = 2 groups kept}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 3, n_group = 4, topk_group = 2>} : tensor<?x4xf32> -> tensor<?x3xf32>, tensor<?x3xi32>
  return
}

// -----

// Tests that top2_sum group scores need two experts per group.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{group_score = top2_sum needs at least 2 experts per group, got 1}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, n_group = 4, topk_group = 2, group_score = top2_sum>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that a negative rank_limit is rejected.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{rank_limit must be at least 0 (0: no limit), got -1}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, rank_limit = -1>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that rank_limit needs expert_ranks.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{rank_limit = 2 needs expert_ranks, the rank of each expert}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, rank_limit = 2>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that expert_ranks needs rank_limit.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{expert_ranks needs a rank_limit above 0}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, expert_ranks = [0, 0, 1, 1]>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that rank-limited routing does not combine with expert groups.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{rank_limit does not combine with group-limited routing (n_group = 2)}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, n_group = 2, rank_limit = 1, expert_ranks = [0, 0, 1, 1]>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that rank-limited routing does not select on logits.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{select_on = logits does not combine with rank-limited routing (rank_limit = 1)}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, select_on = logits, rank_limit = 1, expert_ranks = [0, 0, 1, 1]>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that a negative entry of expert_ranks is rejected.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{expert_ranks[2] must be a rank (at least 0), got -1}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, rank_limit = 1, expert_ranks = [0, 0, -1, 1]>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that a rank without experts is rejected.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{expert_ranks gives rank 1 no experts; every rank up to the largest entry (2) must hold one}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, rank_limit = 1, expert_ranks = [0, 2, 0, 2]>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that a rank far past the expert count (the largest int64) is
// rejected without counting up to it or overflowing.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{expert_ranks gives rank 2 no experts; every rank up to the largest entry (9223372036854775807) must hold one}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, rank_limit = 1, expert_ranks = [0, 1, 9223372036854775807, 1]>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that rank_limit above the number of ranks is rejected.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{rank_limit (3) exceeds the number of ranks in expert_ranks (2)}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, rank_limit = 3, expert_ranks = [0, 0, 1, 1]>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that top_k must fit on the rank_limit ranks with the fewest experts (here
// ranks 1 and 2, three experts), not only on the largest ones.
func.func @f(%l: tensor<?x6xf32>) {
  // expected-error @+1 {{top_k (4) exceeds the 3 experts on the rank_limit = 2 ranks with the fewest experts in expert_ranks}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 4, rank_limit = 2, expert_ranks = [0, 0, 0, 1, 2, 2]>} : tensor<?x6xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

// Tests that top2_sum rank scores need two experts on every rank.
func.func @f(%l: tensor<?x5xf32>) {
  // expected-error @+1 {{group_score = top2_sum needs at least 2 experts per rank; expert_ranks gives rank 2 only 1}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, group_score = top2_sum, rank_limit = 2, expert_ranks = [0, 0, 1, 1, 2]>} : tensor<?x5xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that expert_ranks needs one entry per expert.
func.func @f(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{expert_ranks has 3 entries, expected one per expert (4)}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 1, rank_limit = 1, expert_ranks = [0, 1, 1]>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  return
}

// -----

// Tests that route needs a static expert count.
func.func @f(%l: tensor<?x?xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'logits' expert count must be static}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2>} : tensor<?x?xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that the correction bias needs selection on scores.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'correction_bias' needs select_on = scores}}
  %w, %ids = moe.route %l bias(%b) {routing = #moe.routing<top_k = 2, select_on = logits>} : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that the correction bias must have one entry per expert.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<5xf32>) {
  // expected-error @+1 {{'correction_bias' expert count (dimension 0) is 5, expected 4}}
  %w, %ids = moe.route %l bias(%b) {routing = #moe.routing<top_k = 2>} : tensor<?x4xf32>, tensor<5xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that route weights and experts must have the same shape.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'weights' shape 'tensor<?x2xf32>' differs from 'experts' shape 'tensor<?x3xi32>'}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x3xi32>
  return
}

// -----

// Tests that route results keep the token count.
func.func @f(%l: tensor<3x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'weights' token count (dimension 0) is 7, expected 3}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2>} : tensor<3x4xf32> -> tensor<7x2xf32>, tensor<7x2xi32>
  return
}

// -----

// Tests that route results have top_k columns.
func.func @f(%l: tensor<?x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'weights' and 'experts' must have top_k = 2 columns}}
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2>} : tensor<?x4xf32> -> tensor<?x3xf32>, tensor<?x3xi32>
  return
}

// -----

// Tests that a layer needs a static hidden size.
func.func @f(%x: tensor<?x?xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'input' hidden size must be static}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>} : (tensor<?x?xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a layer needs a static router weight.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<?x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'router_weight' must have a static shape}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the router weight's hidden size must match the input.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x9xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'router_weight' hidden size (dimension 1) is 9, expected 8}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x9xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a layer checks its routing against the expert count.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{top_k (8) exceeds the number of experts (4)}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 8>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a capacity limit is rejected with expert-choice routing.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'capacity' applies to token-choice routing only}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.expert_choice<capacity_factor = 1.0>, capacity = #moe.capacity<factor = 1.0>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a correction bias is rejected with expert-choice routing.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %b: tensor<4xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'correction_bias' applies to token-choice routing only}}
  %y = moe.layer %x router(%wg, bias %b) experts(gate %g, up %u, down %d) {router = #moe.expert_choice<capacity_factor = 1.0>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that passing dropped input through is rejected when weights scale the expert input.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{capacity dropped = input does not combine with 'scale_expert_input'}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 1>, capacity = #moe.capacity<factor = 1.0, dropped = input>, scale_expert_input} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a gated activation needs gate weights.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{activation 'swiglu' needs 'expert_gate' weights}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that geglu_tanh is gated: it needs gate weights.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{activation 'geglu_tanh' needs 'expert_gate' weights}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation geglu_tanh>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that relu2 is ungated: it takes no gate weights.
func.func @f(%x: tensor<?x8xf32>, %g: tensor<16x8xf32>, %u: tensor<16x8xf32>, %d: tensor<8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{activation 'relu2' takes no 'gate' weights}}
  %y = moe.shared_mlp relu2 %x weights(gate %g, up %u, down %d) : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that clamped_swiglu needs its glu_clamp parameters.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{activation 'clamped_swiglu' needs a 'glu_clamp' attribute}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation clamped_swiglu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that glu_clamp belongs to clamped_swiglu only.
func.func @f(%r: tensor<?x8xf32>, %o: tensor<5xi32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'glu_clamp' applies to activation 'clamped_swiglu' only, got 'swiglu'}}
  %y = moe.expert_mlp swiglu %r offsets(%o) weights(gate %g, up %u, down %d) {glu_clamp = #moe.glu_clamp<limit = 7.0>} : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the shared FFN checks glu_clamp too.
func.func @f(%x: tensor<?x8xf32>, %g: tensor<16x8xf32>, %u: tensor<16x8xf32>, %d: tensor<8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{activation 'clamped_swiglu' needs a 'glu_clamp' attribute}}
  %y = moe.shared_mlp clamped_swiglu %x weights(gate %g, up %u, down %d) : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the fused op checks glu_clamp too.
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<?xi32>, %off: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error @+1 {{'glu_clamp' applies to activation 'clamped_swiglu' only, got 'relu'}}
  %y = moe.fused_experts relu %x tokens(%tok) offsets(%off) experts(up %u, down %d) {glu_clamp = #moe.glu_clamp<limit = 7.0>} : (tensor<?x8xf32>, tensor<?xi32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that the clamp limit must be positive and finite.
func.func @f(%r: tensor<?x8xf32>, %o: tensor<5xi32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{glu_clamp limit must be a positive finite number, got -1}}
  %y = moe.expert_mlp clamped_swiglu %r offsets(%o) weights(gate %g, up %u, down %d) {glu_clamp = #moe.glu_clamp<limit = -1.0>} : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the clamp's alpha must be positive and finite.
func.func @f(%r: tensor<?x8xf32>, %o: tensor<5xi32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{glu_clamp alpha must be a positive finite number, got 0}}
  %y = moe.expert_mlp clamped_swiglu %r offsets(%o) weights(gate %g, up %u, down %d) {glu_clamp = #moe.glu_clamp<alpha = 0.0, limit = 7.0>} : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that an ungated activation takes no gate weights.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{activation 'relu' takes no 'expert_gate' weights}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation relu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that expert weights need static shapes.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x?x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'expert_up' must have a static shape}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x?x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that stacked expert weights have one slice per expert.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<3x16x8xf32>, %u: tensor<3x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'expert_up' expert count (dimension 0) is 3, expected 4}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<3x16x8xf32>, tensor<3x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the down projection's width must match the up projection.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x12xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'expert_down' FFN width (dimension 2) is 12, expected 16}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x12xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that gate and up weights must have the same shape.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x12x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'expert_gate' shape 'tensor<4x12x8xf32>' differs from 'expert_up' shape 'tensor<4x16x8xf32>'}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x12x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the shared expert's hidden size must match the input.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %sg: tensor<32x6xf32>, %su: tensor<32x6xf32>, %sd: tensor<8x32xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'shared_up' hidden size (dimension 1) is 6, expected 8}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<32x6xf32>, tensor<32x6xf32>, tensor<8x32xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the shared expert's sigmoid gate is one row of the hidden size.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %sg: tensor<32x8xf32>, %su: tensor<32x8xf32>, %sd: tensor<8x32xf32>, %seg: tensor<2x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'shared_sigmoid_gate' size (dimension 0) is 2, expected 1}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd, sigmoid_gate %seg) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<32x8xf32>, tensor<32x8xf32>, tensor<8x32xf32>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the layer's result type must match its input.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf16> {
  // expected-error @+1 {{result type 'tensor<?x8xf16>' must match 'input' type 'tensor<?x8xf32>'}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf16>
  return %y : tensor<?x8xf16>
}

// -----

// Tests that shared expert weights without 'shared_up' are rejected (generic form).
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %sd: tensor<8x32xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{shared expert weights need 'shared_up'}}
  %y = "moe.layer"(%x, %wg, %u, %d, %sd) <{activation = #moe<activation relu>, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, router = #moe.routing<top_k = 2>}> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<8x32xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that 'shared_up' without 'shared_down' is rejected (generic form).
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %su: tensor<32x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'shared_up' needs 'shared_down'}}
  %y = "moe.layer"(%x, %wg, %u, %d, %su) <{activation = #moe<activation relu>, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, router = #moe.routing<top_k = 2>}> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<32x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that ODS type constraints name the operand.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{operand #3 must be 3D tensor of floating-point values}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation relu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that expert choice needs a static expert count.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x?xf32>) {
  // expected-error @+1 {{'logits' expert count must be static}}
  %r, %t, %w, %o = moe.expert_choice %x, %l {routing = #moe.expert_choice<capacity_factor = 1.0>} : tensor<?x8xf32>, tensor<?x?xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that expert choice offsets have E+1 entries.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'expert_offsets' size (dimension 0) is 4, expected 5}}
  %r, %t, %w, %o = moe.expert_choice %x, %l {routing = #moe.expert_choice<capacity_factor = 1.0>} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<4xi32>
  return
}

// -----

// Tests that expert choice rows keep the input element type.
func.func @f(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'rows' element type must match 'input'}}
  %r, %t, %w, %o = moe.expert_choice %x, %l {routing = #moe.expert_choice<capacity_factor = 1.0>} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xbf16>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that expert choice logits have the input's token count.
func.func @f(%x: tensor<3x8xf32>, %l: tensor<5x4xf32>) {
  // expected-error @+1 {{'logits' token count (dimension 0) is 5, expected 3}}
  %r, %t, %w, %o = moe.expert_choice %x, %l {routing = #moe.expert_choice<capacity_factor = 1.0>} : tensor<3x8xf32>, tensor<5x4xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that dispatch needs experts and weights of one shape.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x3xf32>) {
  // expected-error @+1 {{'experts' shape 'tensor<?x2xi32>' differs from 'weights' shape 'tensor<?x3xf32>'}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x3xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that dispatch needs a static top-k width.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x?xi32>, %w: tensor<?x?xf32>) {
  // expected-error @+1 {{'experts' must have a static top-k width}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w : tensor<?x8xf32>, tensor<?x?xi32>, tensor<?x?xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that dispatch rejects a top-k width above the expert count.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x5xi32>, %w: tensor<?x5xf32>) {
  // expected-error @+1 {{'experts' top-k width (5) exceeds the expert count (4) given by 'expert_offsets'}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w : tensor<?x8xf32>, tensor<?x5xi32>, tensor<?x5xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that dispatch offsets hold at least two entries.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'expert_offsets' must hold E+1 >= 2 entries}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<1xi32>
  return
}

// -----

// Tests that dispatch offsets are static.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'expert_offsets' must have a static shape}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<?xi32>
  return
}

// -----

// Tests that dispatch rows keep the hidden size.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'rows' hidden size (dimension 1) is 9, expected 8}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x9xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that dispatch rows and row tokens agree on the row count.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'row_token' row count (dimension 0) is 7, expected 6}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<6x8xf32>, tensor<7xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that dispatch rows keep the input element type.
func.func @f(%x: tensor<?x8xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'rows' element type must match 'input'}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf16>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that dispatch slots have the input's token count.
func.func @f(%x: tensor<3x8xf32>, %ids: tensor<4x2xi32>, %w: tensor<4x2xf32>) {
  // expected-error @+1 {{'experts' token count (dimension 0) is 4, expected 3}}
  %r, %t, %rw, %o = moe.dispatch %x, %ids, %w : tensor<3x8xf32>, tensor<4x2xi32>, tensor<4x2xf32> -> tensor<?x8xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that combine needs row weights to pass dropped input through.
func.func @f(%y: tensor<?x8xf32>, %t: tensor<?xi32>, %o: tensor<5xi32>, %x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{dropped = input needs 'row_weight'}}
  %z = moe.combine %y tokens(%t) offsets(%o) input(%x) {dropped = #moe<dropped input>} : (tensor<?x8xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %z : tensor<?x8xf32>
}

// -----

// Tests that combine's row weights have one entry per row.
func.func @f(%y: tensor<6x8xf32>, %t: tensor<6xi32>, %w: tensor<5xf32>, %o: tensor<5xi32>, %x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'row_weight' row count (dimension 0) is 5, expected 6}}
  %z = moe.combine %y tokens(%t) weights(%w) offsets(%o) input(%x) : (tensor<6x8xf32>, tensor<6xi32>, tensor<5xf32>, tensor<5xi32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %z : tensor<?x8xf32>
}

// -----

// Tests that combine's expert rows have the input's hidden size.
func.func @f(%y: tensor<?x4xf32>, %t: tensor<?xi32>, %o: tensor<5xi32>, %x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'expert_out' hidden size (dimension 1) is 4, expected 8}}
  %z = moe.combine %y tokens(%t) offsets(%o) input(%x) : (tensor<?x4xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %z : tensor<?x8xf32>
}

// -----

// Tests that the expert FFN's weights match the offsets' expert count.
func.func @f(%r: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'up' expert count (dimension 0) is 4, expected 2}}
  %y = moe.expert_mlp gelu %r offsets(%o) weights(up %u, down %d) : (tensor<?x8xf32>, tensor<3xi32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the expert FFN's input scale has one entry per row.
func.func @f(%r: tensor<6x8xf32>, %o: tensor<5xi32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %s: tensor<7xf32>) -> tensor<6x8xf32> {
  // expected-error @+1 {{'scale' row count (dimension 0) is 7, expected 6}}
  %y = moe.expert_mlp relu %r offsets(%o) weights(up %u, down %d) scale(%s) : (tensor<6x8xf32>, tensor<5xi32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<7xf32>) -> tensor<6x8xf32>
  return %y : tensor<6x8xf32>
}

// -----

// Tests that the expert FFN needs a static hidden size.
func.func @f(%r: tensor<?x?xf32>, %o: tensor<5xi32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{'rows' hidden size must be static}}
  %y = moe.expert_mlp relu %r offsets(%o) weights(up %u, down %d) : (tensor<?x?xf32>, tensor<5xi32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x?xf32>
  return %y : tensor<?x?xf32>
}

// -----

// Tests that the expert FFN's result has the rows' type.
func.func @f(%r: tensor<?x8xf32>, %o: tensor<5xi32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xbf16> {
  // expected-error @+1 {{result type 'tensor<?x8xbf16>' must match 'rows' type 'tensor<?x8xf32>'}}
  %y = moe.expert_mlp relu %r offsets(%o) weights(up %u, down %d) : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xbf16>
  return %y : tensor<?x8xbf16>
}

// -----

// Tests that the shared FFN's gate needs a gated activation.
func.func @f(%x: tensor<?x8xf32>, %g: tensor<16x8xf32>, %u: tensor<16x8xf32>, %d: tensor<8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{activation 'gelu' takes no 'gate' weights}}
  %y = moe.shared_mlp gelu %x weights(gate %g, up %u, down %d) : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the shared FFN's sigmoid gate matches the hidden size.
func.func @f(%x: tensor<?x8xf32>, %g: tensor<16x8xf32>, %u: tensor<16x8xf32>, %d: tensor<8x16xf32>, %s: tensor<1x4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'sigmoid_gate' hidden size (dimension 1) is 4, expected 8}}
  %y = moe.shared_mlp swiglu %x weights(gate %g, up %u, down %d) sigmoid_gate(%s) : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>, tensor<1x4xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the shared FFN's down projection returns to the hidden size.
func.func @f(%x: tensor<?x8xf32>, %u: tensor<16x8xf32>, %d: tensor<6x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'down' hidden size (dimension 0) is 6, expected 8}}
  %y = moe.shared_mlp relu %x weights(up %u, down %d) : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<6x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the exchange needs a dynamic row count.
func.func @f(%r: tensor<6x8xf32>, %c: tensor<2x2xi32>) {
  // expected-error @+1 {{'rows' must have a dynamic row count}}
  %r2, %c2 = moe.all_to_all %r, %c : tensor<6x8xf32>, tensor<2x2xi32>
  return
}

// -----

// Tests that the exchange needs static counts.
func.func @f(%r: tensor<?x8xf32>, %c: tensor<?x2xi32>) {
  // expected-error @+1 {{'send_counts' must have a static shape}}
  %r2, %c2 = moe.all_to_all %r, %c : tensor<?x8xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that the async exchange checks its operands too.
func.func @f(%r: tensor<?x?xf32>, %c: tensor<2x2xi32>) {
  // expected-error @+1 {{'rows' hidden size must be static}}
  %h = moe.all_to_all_start %r, %c : !moe.exchange<tensor<?x?xf32>, tensor<2x2xi32>>
  return
}

// -----

// Tests that waiting yields the exchange's types (generic form).
func.func @f(%h: !moe.exchange<tensor<?x8xf32>, tensor<2x2xi32>>) {
  // expected-error @+1 {{failed to verify that rows come from the exchange}}
  %r, %c = "moe.all_to_all_wait"(%h) : (!moe.exchange<tensor<?x8xf32>, tensor<2x2xi32>>) -> (tensor<?x4xf32>, tensor<2x2xi32>)
  return
}

// -----

// Tests that routing statistics need a static expert count.
func.func @f(%l: tensor<?x?xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'logits' expert count must be static}}
  %load, %h, %m, %c, %a, %hist = moe.routing_stats %l, %ids, %w softmax : tensor<?x?xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<4xi64>, tensor<20xi64>
  return
}

// -----

// Tests that routing statistics reject more slots than experts.
func.func @f(%l: tensor<?x4xf32>, %ids: tensor<?x5xi32>, %w: tensor<?x5xf32>) {
  // expected-error @+1 {{'experts' top-k width (5) exceeds the expert count (4)}}
  %load, %h, %m, %c, %a, %hist = moe.routing_stats %l, %ids, %w softmax : tensor<?x4xf32>, tensor<?x5xi32>, tensor<?x5xf32> -> tensor<4xi64>, tensor<20xi64>
  return
}

// -----

// Tests that routing statistics count one load per expert.
func.func @f(%l: tensor<?x4xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'load' expert count (dimension 0) is 3, expected 4}}
  %load, %h, %m, %c, %a, %hist = moe.routing_stats %l, %ids, %w softmax : tensor<?x4xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<3xi64>, tensor<20xi64>
  return
}

// -----

// Tests that routing statistics take slots for the logits' tokens.
func.func @f(%l: tensor<3x4xf32>, %ids: tensor<2x2xi32>, %w: tensor<2x2xf32>) {
  // expected-error @+1 {{'experts' token count (dimension 0) is 2, expected 3}}
  %load, %h, %m, %c, %a, %hist = moe.routing_stats %l, %ids, %w softmax : tensor<3x4xf32>, tensor<2x2xi32>, tensor<2x2xf32> -> tensor<4xi64>, tensor<20xi64>
  return
}

// -----

// Tests that routing statistics take one weight per selected expert: as
// many tokens...
func.func @f(%l: tensor<3x4xf32>, %ids: tensor<3x2xi32>, %w: tensor<2x2xf32>) {
  // expected-error @+1 {{'weights' token count (dimension 0) is 2, expected 3}}
  %load, %h, %m, %c, %a, %hist = moe.routing_stats %l, %ids, %w softmax : tensor<3x4xf32>, tensor<3x2xi32>, tensor<2x2xf32> -> tensor<4xi64>, tensor<20xi64>
  return
}

// -----

// ...and the same top-k width.
func.func @f(%l: tensor<?x4xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x3xf32>) {
  // expected-error @+1 {{'weights' top-k width (dimension 1) is 3, expected 2}}
  %load, %h, %m, %c, %a, %hist = moe.routing_stats %l, %ids, %w softmax : tensor<?x4xf32>, tensor<?x2xi32>, tensor<?x3xf32> -> tensor<4xi64>, tensor<20xi64>
  return
}

// -----

// Tests that the weights' histogram spans a positive, finite range...
func.func @f(%l: tensor<?x4xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'weight_range' must be finite and positive, got 0}}
  %load, %h, %m, %c, %a, %hist = moe.routing_stats %l, %ids, %w softmax {weight_range = 0.0 : f64} : tensor<?x4xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<4xi64>, tensor<20xi64>
  return
}

// -----

func.func @f(%l: tensor<?x4xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'weight_range' must be finite and positive, got INF}}
  %load, %h, %m, %c, %a, %hist = moe.routing_stats %l, %ids, %w softmax {weight_range = 0x7FF0000000000000 : f64} : tensor<?x4xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<4xi64>, tensor<20xi64>
  return
}

// -----

// ...in a static, non-zero number of bins.
func.func @f(%l: tensor<?x4xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'weight_histogram' must have a static, non-zero bin count, got 'tensor<?xi64>'}}
  %load, %h, %m, %c, %a, %hist = moe.routing_stats %l, %ids, %w softmax : tensor<?x4xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<4xi64>, tensor<?xi64>
  return
}

// -----

func.func @f(%l: tensor<?x4xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'weight_histogram' must have a static, non-zero bin count, got 'tensor<0xi64>'}}
  %load, %h, %m, %c, %a, %hist = moe.routing_stats %l, %ids, %w softmax : tensor<?x4xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<4xi64>, tensor<0xi64>
  return
}

// -----

// Tests that moe.fused_experts needs row weights to scale the expert input.
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<?xi32>, %off: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error @+1 {{'scale_expert_input' needs 'row_weight'}}
  %y = moe.fused_experts relu %x tokens(%tok) offsets(%off) experts(up %u, down %d) {scale_expert_input} : (tensor<?x8xf32>, tensor<?xi32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that moe.fused_experts row weights match the row tokens.
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<6xi32>, %w: tensor<5xf32>, %off: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error @+1 {{'row_weight' row count (dimension 0) is 5, expected 6}}
  %y = moe.fused_experts relu %x tokens(%tok) weights(%w) offsets(%off) experts(up %u, down %d) : (tensor<?x8xf32>, tensor<6xi32>, tensor<5xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that moe.fused_experts names its expert weights in errors.
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<?xi32>, %off: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error @+1 {{activation 'swiglu' needs 'expert_gate' weights}}
  %y = moe.fused_experts swiglu %x tokens(%tok) offsets(%off) experts(up %u, down %d) : (tensor<?x8xf32>, tensor<?xi32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that moe.fused_experts checks the shared expert's weights.
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<?xi32>, %off: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>, %su: tensor<6x8xf32>, %sd: tensor<8x5xf32>) {
  // expected-error @+1 {{'shared_down' FFN width (dimension 1) is 5, expected 6}}
  %y = moe.fused_experts relu %x tokens(%tok) offsets(%off) experts(up %u, down %d) shared(up %su, down %sd) : (tensor<?x8xf32>, tensor<?xi32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<6x8xf32>, tensor<8x5xf32>) -> tensor<?x8xf32>
  return
}

// -----

// Tests that moe.fused_experts returns the input's type.
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<?xi32>, %off: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error @+1 {{result type 'tensor<4x8xf32>' must match 'input' type 'tensor<?x8xf32>'}}
  %y = moe.fused_experts relu %x tokens(%tok) offsets(%off) experts(up %u, down %d) : (tensor<?x8xf32>, tensor<?xi32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<4x8xf32>
  return
}

// -----

// Tests that bf16 expert weights written into a moe.layer are rejected with
// the way to get them: f32 in the IR, bf16 from moe-compile.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xbf16>, %u: tensor<4x16x8xbf16>, %d: tensor<4x8x16xbf16>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op 'expert_gate' weights must be f32 (got bf16); to run with bf16 weights keep f32 in the IR and compile with --weight-type=bf16}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xbf16>, tensor<4x16x8xbf16>, tensor<4x8x16xbf16>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a moe.layer router weight must be f32 too.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xbf16>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'router_weight' weights must be f32 (got bf16)}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d) {router = #moe.routing<top_k = 2>, activation = #moe<activation relu>} : (tensor<?x8xf32>, tensor<4x8xbf16>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a moe.layer shared expert's weights must be f32 (any other
// float type: the hint is the same).
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %su: tensor<32x8xf16>, %sd: tensor<8x32xf16>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'shared_up' weights must be f32 (got f16); to run with bf16 weights keep f32 in the IR and compile with --weight-type=bf16}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d) shared(up %su, down %sd) {router = #moe.routing<top_k = 2>, activation = #moe<activation relu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<32x8xf16>, tensor<8x32xf16>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a moe.expert_mlp's weights must be f32.
func.func @f(%r: tensor<?x8xf32>, %o: tensor<5xi32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xbf16>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.expert_mlp' op 'down' weights must be f32 (got bf16); to run with bf16 weights keep f32 in the IR and compile with --weight-type=bf16}}
  %y = moe.expert_mlp relu %r offsets(%o) weights(up %u, down %d) : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x16x8xf32>, tensor<4x8x16xbf16>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a moe.shared_mlp's weights, its sigmoid gate included, must be
// f32.
func.func @f(%x: tensor<?x8xf32>, %u: tensor<16x8xf32>, %d: tensor<8x16xf32>, %sg: tensor<1x8xbf16>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.shared_mlp' op 'sigmoid_gate' weights must be f32 (got bf16)}}
  %y = moe.shared_mlp relu %x weights(up %u, down %d) sigmoid_gate(%sg) : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>, tensor<1x8xbf16>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that moe.fused_experts takes f32 weights (bf16 panels are the
// kernel layer's, made by moe-cpu-pack-weights).
func.func @f(%x: tensor<?x8xf32>, %tok: tensor<?xi32>, %off: tensor<3xi32>, %u: tensor<2x4x8xbf16>, %d: tensor<2x8x4xbf16>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.fused_experts' op 'expert_up' weights must be f32 (got bf16); to run with bf16 weights keep f32 in the IR and compile with --weight-type=bf16}}
  %y = moe.fused_experts relu %x tokens(%tok) offsets(%off) experts(up %u, down %d) : (tensor<?x8xf32>, tensor<?xi32>, tensor<3xi32>, tensor<2x4x8xbf16>, tensor<2x8x4xbf16>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}


// -----

// Tests that only GPT-OSS's clamp form takes a slope.
func.func @f(%r: tensor<?x8xf32>, %o: tensor<5xi32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{glu_clamp alpha applies to form 'gpt_oss' only, not 'clamp_gate'}}
  %y = moe.expert_mlp clamped_swiglu %r offsets(%o) weights(gate %g, up %u, down %d) {glu_clamp = #moe.glu_clamp<alpha = 1.0, limit = 7.0, form = clamp_gate>} : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a clamp form must be one of the known ones.
func.func @f(%r: tensor<?x8xf32>, %o: tensor<5xi32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+2 {{expected one of [gpt_oss, clamp_gate, clamp_silu] for where a clamped SwiGLU clamps its gate, got: clamp_up}}
  // expected-error @+1 {{failed to parse MoE_GluClampAttr parameter 'form'}}
  %y = moe.expert_mlp clamped_swiglu %r offsets(%o) weights(gate %g, up %u, down %d) {glu_clamp = #moe.glu_clamp<limit = 7.0, form = clamp_up>} : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that shared_glu_clamp needs shared_activation = clamped_swiglu.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %sg: tensor<16x8xf32>, %su: tensor<16x8xf32>, %sd: tensor<8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'shared_glu_clamp' needs 'shared_activation' = clamped_swiglu}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd) {router = #moe.routing<top_k = 2>, shared_glu_clamp = #moe.glu_clamp<limit = 7.0>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that shared_activation needs a shared expert.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'shared_activation' needs a shared expert}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>, shared_activation = #moe<activation swiglu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a clamped shared activation needs its shared_glu_clamp.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %sg: tensor<16x8xf32>, %su: tensor<16x8xf32>, %sd: tensor<8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{shared activation 'clamped_swiglu' needs a 'shared_glu_clamp' attribute}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd) {router = #moe.routing<top_k = 2>, shared_activation = #moe<activation clamped_swiglu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that shared_glu_clamp belongs to a clamped shared activation only.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %sg: tensor<16x8xf32>, %su: tensor<16x8xf32>, %sd: tensor<8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'shared_glu_clamp' applies to shared activation 'clamped_swiglu' only, got 'swiglu'}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd) {router = #moe.routing<top_k = 2>, shared_activation = #moe<activation swiglu>, shared_glu_clamp = #moe.glu_clamp<limit = 7.0>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the shared expert's weights follow its own activation: an
// ungated one takes no gate.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %sg: tensor<16x8xf32>, %su: tensor<16x8xf32>, %sd: tensor<8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{activation 'relu' takes no 'shared_gate' weights}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd) {router = #moe.routing<top_k = 2>, shared_activation = #moe<activation relu>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that averaging with the shared expert needs one.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'shared_combine' needs a shared expert}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>, shared_combine = #moe<shared_combine average>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that averaging with the shared expert refuses a block output bias.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %sg: tensor<16x8xf32>, %su: tensor<16x8xf32>, %sd: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'shared_combine' = average with an 'output_bias' is not supported}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd) output_bias(%b) {router = #moe.routing<top_k = 2>, shared_combine = #moe<shared_combine average>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a norm without its epsilon is refused.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %n: tensor<8xf32>, %n4: tensor<4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{norms need a 'norm_epsilon'}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) norms(expert_input %n) {router = #moe.routing<top_k = 2>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that an epsilon without a norm is refused.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %n: tensor<8xf32>, %n4: tensor<4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'norm_epsilon' needs a norm}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) {router = #moe.routing<top_k = 2>, norm_epsilon = 1.0e-06} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a non-positive epsilon is refused.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %n: tensor<8xf32>, %n4: tensor<4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'norm_epsilon' must be in (0, 1], got 0}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) norms(output %n) {router = #moe.routing<top_k = 2>, norm_epsilon = 0.0} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a norm weight must span the hidden size.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %n: tensor<8xf32>, %n4: tensor<4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{expert_output_norm}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) norms(expert_output %n4) {router = #moe.routing<top_k = 2>, norm_epsilon = 1.0e-06} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<4xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that the shared expert's norms need one.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %n: tensor<8xf32>, %n4: tensor<4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'shared_input' and 'shared_output' norms need a shared expert}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) norms(shared_input %n) {router = #moe.routing<top_k = 2>, norm_epsilon = 1.0e-06} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that norms refuse a capacity.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %n: tensor<8xf32>, %n4: tensor<4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{norms do not combine with a capacity}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) norms(expert_input %n) {router = #moe.routing<top_k = 2>, norm_epsilon = 1.0e-06, capacity = #moe.capacity<factor = 1.0>} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that norms are given in operand order.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %n: tensor<8xf32>, %n4: tensor<4xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{expected one of 'expert_input', 'expert_output', 'shared_input', 'shared_output', 'output' (each at most once, in this order), got 'expert_input'}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) norms(output %n, expert_input %n) {router = #moe.routing<top_k = 2>, norm_epsilon = 1.0e-06} : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
// -----

// Tests that a non-positive zero expert count is rejected.
func.func @f(%x: tensor<?x64xf32>, %wg: tensor<6x64xf32>, %w1: tensor<4x128x64xf32>, %w3: tensor<4x128x64xf32>, %w2: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'zero_experts' must be positive, got 0}}
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2) {router = #moe.routing<top_k = 2>, zero_experts = 0} : (tensor<?x64xf32>, tensor<6x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that zero experts with expert-choice routing are rejected.
func.func @f(%x: tensor<?x64xf32>, %wg: tensor<6x64xf32>, %w1: tensor<4x128x64xf32>, %w3: tensor<4x128x64xf32>, %w2: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'zero_experts' applies to token-choice routing (#moe.routing) only}}
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2) {router = #moe.expert_choice<capacity_factor = 1.0>, zero_experts = 2} : (tensor<?x64xf32>, tensor<6x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that zero experts with a capacity are rejected.
func.func @f(%x: tensor<?x64xf32>, %wg: tensor<6x64xf32>, %w1: tensor<4x128x64xf32>, %w3: tensor<4x128x64xf32>, %w2: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'zero_experts' does not combine with 'capacity'}}
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2) {router = #moe.routing<top_k = 2>, capacity = #moe.capacity<factor = 1.0>, zero_experts = 2} : (tensor<?x64xf32>, tensor<6x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that zero experts with the routing weight on the expert input are rejected.
func.func @f(%x: tensor<?x64xf32>, %wg: tensor<6x64xf32>, %w1: tensor<4x128x64xf32>, %w3: tensor<4x128x64xf32>, %w2: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'zero_experts' does not combine with 'scale_expert_input'}}
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2) {router = #moe.routing<top_k = 2>, scale_expert_input, zero_experts = 2} : (tensor<?x64xf32>, tensor<6x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that zero experts that leave no real expert are rejected.
func.func @f(%x: tensor<?x64xf32>, %wg: tensor<6x64xf32>, %w1: tensor<4x128x64xf32>, %w3: tensor<4x128x64xf32>, %w2: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'zero_experts' (6) leaves no expert with weights: 'router_weight' has 6 rows (E + Z)}}
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2) {router = #moe.routing<top_k = 2>, zero_experts = 6} : (tensor<?x64xf32>, tensor<6x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that expert weights counting the zero experts are rejected (the router has E + Z = 6 rows, so E = 3).
func.func @f(%x: tensor<?x64xf32>, %wg: tensor<6x64xf32>, %w1: tensor<4x128x64xf32>, %w3: tensor<4x128x64xf32>, %w2: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{expert}}
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2) {router = #moe.routing<top_k = 2>, zero_experts = 3} : (tensor<?x64xf32>, tensor<6x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that zero experts with Soft MoE are rejected.
func.func @f(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32>, %w1: tensor<4x128x64xf32>, %w3: tensor<4x128x64xf32>, %w2: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'zero_experts' applies to token-choice routing (#moe.routing) only}}
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2) {router = #moe.soft_moe<slots_per_expert = 2>, zero_experts = 1} : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that zero experts with routing by token id are rejected.
func.func @f(%x: tensor<?x64xf32>, %wg: tensor<6x64xf32>, %t: tensor<16x2xi32>, %ids: tensor<?xi32>, %w1: tensor<4x128x64xf32>, %w3: tensor<4x128x64xf32>, %w2: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'zero_experts' does not combine with routing by token id ('expert_table')}}
  %y = moe.layer %x router(%wg) table(%t) token_ids(%ids) experts(gate %w1, up %w3, down %w2) {router = #moe.routing<top_k = 2, renormalize = true>, zero_experts = 2} : (tensor<?x64xf32>, tensor<6x64xf32>, tensor<16x2xi32>, tensor<?xi32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that a correction bias sized for the real experts only is rejected:
// it covers the E + Z ids the router chooses among.
func.func @f(%x: tensor<?x64xf32>, %wg: tensor<6x64xf32>, %b: tensor<4xf32>, %w1: tensor<4x128x64xf32>, %w3: tensor<4x128x64xf32>, %w2: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{correction_bias}}
  %y = moe.layer %x router(%wg, bias %b) experts(gate %w1, up %w3, down %w2) {router = #moe.routing<top_k = 2>, zero_experts = 2} : (tensor<?x64xf32>, tensor<6x64xf32>, tensor<4xf32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that a dispatch to zero experts under a capacity is rejected.
func.func @f(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'zero_experts' does not combine with 'capacity'}}
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<factor = 1.0>, zero_experts = 2} : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that a dispatch with a non-positive zero expert count is rejected.
func.func @f(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) {
  // expected-error @+1 {{'zero_experts' must be positive, got -1}}
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w {zero_experts = -1} : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that a top-k wider than the real and zero experts together is
// rejected.
func.func @f(%x: tensor<?x64xf32>, %ids: tensor<?x7xi32>, %w: tensor<?x7xf32>) {
  // expected-error @+1 {{'experts' top-k width (7) exceeds the expert count (6) given by 'expert_offsets' and 'zero_experts'}}
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w {zero_experts = 2} : tensor<?x64xf32>, tensor<?x7xi32>, tensor<?x7xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  return
}

// -----

// Tests that fused experts passing dropped rows' input through without a
// row weight are rejected.
func.func @f(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %off: tensor<5xi32>, %g: tensor<4x128x64xf32>, %u: tensor<4x128x64xf32>, %d: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{dropped = input needs 'row_weight' scaling the output to weight the passed-through input}}
  %y = moe.fused_experts swiglu %x tokens(%tok) offsets(%off) experts(gate %g, up %u, down %d) {dropped = #moe<dropped input>} : (tensor<?x64xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that norms refuse zero experts.
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<6x8xf32>, %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %n: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{norms do not combine with 'output_bias', 'shared_combine' or 'zero_experts'}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) norms(expert_input %n) {router = #moe.routing<top_k = 2>, norm_epsilon = 1.0e-06, zero_experts = 2} : (tensor<?x8xf32>, tensor<6x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
