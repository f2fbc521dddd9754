// RUN: moe-opt %s -split-input-file -moe-cuda-check-layers -verify-diagnostics | FileCheck %s

// Tests that a layer with capacity and dropped = input is refused, naming
// what is unsupported, at the first stage of the CUDA pipeline.
func.func @layer_dropped_input(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>,
                               %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op capacity with dropped = input is not supported by the CUDA target: the passed-through input of dropped slots is added by loops that do not map to GPU kernels}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 1>,
          capacity = #moe.capacity<factor = 1.0, drop_order = lowest_weight, dropped = input>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a decomposed combine with dropped = input is refused too.
func.func @combine_dropped_input(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                                 %g: tensor<8x32x64xf32>, %u: tensor<8x32x64xf32>, %d: tensor<8x64x32xf32>)
    -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<factor = 1.0, dropped = input>} : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>) -> tensor<?x64xf32>
  // expected-error @+1 {{'moe.combine' op capacity with dropped = input is not supported by the CUDA target}}
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) {dropped = #moe<dropped input>} : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that dropped = zero passes unchanged.
// CHECK-LABEL: func.func @layer_dropped_zero
// CHECK: moe.layer {{.*}}capacity = #moe.capacity<factor = 1.0>
func.func @layer_dropped_zero(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>,
                              %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 1>, capacity = #moe.capacity<factor = 1.0>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that GPT-OSS's clamped SwiGLU is refused on the layer, naming the
// activation.
func.func @layer_clamped_swiglu(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>,
                                %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op activation 'clamped_swiglu' is not supported by the CUDA target}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 1>, activation = #moe<activation clamped_swiglu>,
          glu_clamp = #moe.glu_clamp<limit = 7.0>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a Soft MoE layer is refused, naming what is unsupported.
func.func @layer_soft_moe(%x: tensor<?x8xf32>, %wg: tensor<8x8xf32>, %g: tensor<4x16x8xf32>,
                          %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op Soft MoE (#moe.soft_moe) is not supported by the CUDA target: its slot mixing and unfused moe.expert_mlp do not map to GPU kernels (use --target=cpu)}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.soft_moe<slots_per_expert = 2>}
         : (tensor<?x8xf32>, tensor<8x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a layer routed by token id is refused: CUDA entries take no
// token ids.
func.func @layer_by_table(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %t: tensor<32x1xi32>, %ids: tensor<?xi32>,
                          %g: tensor<4x16x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op routing by token id ('expert_table', 'token_ids') is not supported by the CUDA target: its entries take no token ids (use --target=cpu)}}
  %y = moe.layer %x router(%wg) table(%t) token_ids(%ids) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 1, renormalize = true>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<32x1xi32>, tensor<?xi32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a decomposed route by token id is refused too.
func.func @route_by_table(%l: tensor<?x4xf32>, %t: tensor<16x2xi32>, %ids: tensor<?xi32>) -> tensor<?x2xi32> {
  // expected-error @+1 {{'moe.route' op routing by token id}}
  %w, %e = moe.route %l table(%t : tensor<16x2xi32>) token_ids(%ids : tensor<?xi32>) {routing = #moe.routing<top_k = 2>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %e : tensor<?x2xi32>
}

// -----

// Tests that decomposed Soft MoE ops are refused too.
func.func @soft_ops(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>, %out: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.soft_dispatch' op Soft MoE (#moe.soft_moe) is not supported by the CUDA target}}
  %rows, %off = moe.soft_dispatch %x, %l {routing = #moe.soft_moe<slots_per_expert = 1>} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>, tensor<5xi32>
  // expected-error @+1 {{'moe.soft_combine' op Soft MoE (#moe.soft_moe) is not supported by the CUDA target}}
  %y = moe.soft_combine %out, %l : (tensor<?x8xf32>, tensor<?x4xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a layer with expert linear biases (GPT-OSS) is refused, naming
// the biases.
func.func @layer_expert_biases(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>,
                               %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>,
                               %bu: tensor<4x16xf32>, %bd: tensor<4x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op the experts' linear biases ('gate_bias', 'up_bias', 'down_bias') and the block's 'output_bias' are not supported by the CUDA target}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d, up_bias %bu, down_bias %bd)
         {router = #moe.routing<top_k = 1>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>,
            tensor<4x16xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a layer with an output bias (JetMoE) is refused too.
func.func @layer_output_bias(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>,
                             %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>,
                             %b: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op the experts' linear biases}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) output_bias(%b)
         {router = #moe.routing<top_k = 1>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>,
            tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a decomposed expert FFN with a down bias is refused.
func.func @expert_mlp_bias(%rows: tensor<?x64xf32>, %off: tensor<9xi32>, %g: tensor<8x32x64xf32>,
                           %u: tensor<8x32x64xf32>, %d: tensor<8x64x32xf32>, %bd: tensor<8x64xf32>)
    -> tensor<?x64xf32> {
  // expected-error @+1 {{'moe.expert_mlp' op the experts' linear biases}}
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d, down_bias %bd) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<8x64x32xf32>, tensor<8x64xf32>) -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}
// -----

// Tests that NLLB's capacity rules (choice order, renormalisation after
// dropping, output scale) are refused on the layer, naming them.
func.func @layer_nllb_capacity(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
                               %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op capacity with drop_order = choice_order, renormalize or output_scale is not supported by the CUDA target}}
  %y = moe.layer %x router(%wg) experts(up %u, down %d)
         {router = #moe.routing<top_k = 2>, activation = #moe<activation relu>,
          capacity = #moe.capacity<drop_order = choice_order, token_fraction = 0.5, renormalize = true, output_scale = 0.8>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a decomposed dispatch with an output scale alone is refused too.
func.func @dispatch_output_scale(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>)
    -> tensor<?xf32> {
  // expected-error @+1 {{'moe.dispatch' op capacity with drop_order = choice_order, renormalize or output_scale is not supported by the CUDA target}}
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w {capacity = #moe.capacity<factor = 1.0, output_scale = 0.5>} : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %rw : tensor<?xf32>
}

// -----

// Tests that Switch's absolute count passes unchanged: only the scalar C
// differs from the factor form.
// CHECK-LABEL: func.func @layer_count_capacity
// CHECK: moe.layer {{.*}}capacity = #moe.capacity<count = 6>
func.func @layer_count_capacity(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>,
                                %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  %y = moe.layer %x router(%wg) experts(up %u, down %d)
         {router = #moe.routing<top_k = 1>, activation = #moe<activation relu>,
          capacity = #moe.capacity<count = 6>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
// -----

// Tests that a shared expert's own clamp is refused like the routed one's.
func.func @shared_glu_clamp(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>,
                            %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %sg: tensor<16x8xf32>,
                            %su: tensor<16x8xf32>, %sd: tensor<8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op activation 'clamped_swiglu' is not supported by the CUDA target}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 1>, shared_activation = #moe<activation clamped_swiglu>,
          shared_glu_clamp = #moe.glu_clamp<limit = 7.0, form = clamp_silu>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>,
            tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a shared expert with an activation of its own is refused.
func.func @shared_activation(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>,
                             %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %sg: tensor<16x8xf32>,
                             %su: tensor<16x8xf32>, %sd: tensor<8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op a shared expert with an activation of its own ('shared_activation') is not supported by the CUDA target}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 1>, activation = #moe<activation geglu>,
          shared_activation = #moe<activation swiglu>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>,
            tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that averaging the shared expert in is refused.
func.func @shared_average(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>,
                          %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %sg: tensor<16x8xf32>,
                          %su: tensor<16x8xf32>, %sd: tensor<8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op shared_combine = average is not supported by the CUDA target}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 1>, shared_combine = #moe<shared_combine average>}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>,
            tensor<16x8xf32>, tensor<16x8xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that moe.layer's norms (Gemma 4) are refused.
func.func @layer_norms(%x: tensor<?x8xf32>, %wg: tensor<4x8xf32>, %g: tensor<4x16x8xf32>,
                       %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %n: tensor<8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op moe.layer's norms ('norms(...)', Gemma 4) are not supported by the CUDA target}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d) norms(expert_input %n)
         {router = #moe.routing<top_k = 1>, norm_epsilon = 1.0e-06}
         : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>,
            tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
// -----

// Tests that a layer with zero (identity) experts is refused, naming what is
// unsupported.
func.func @layer_zero_experts(%x: tensor<?x8xf32>, %wg: tensor<6x8xf32>, %g: tensor<4x16x8xf32>,
                              %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'moe.layer' op zero (identity) experts ('zero_experts') are not supported by the CUDA target: the passed-through input of their slots is added by loops that do not map to GPU kernels (use --target=cpu)}}
  %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
         {router = #moe.routing<top_k = 2>, zero_experts = 2}
         : (tensor<?x8xf32>, tensor<6x8xf32>, tensor<4x16x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>)
         -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Tests that a decomposed dispatch to zero experts and fused experts passing
// dropped rows' input through are refused too.
func.func @fused_zero_experts(%x: tensor<?x64xf32>, %ids: tensor<?x3xi32>, %w: tensor<?x3xf32>,
                              %g: tensor<4x128x64xf32>, %u: tensor<4x128x64xf32>, %d: tensor<4x64x128xf32>)
    -> tensor<?x64xf32> {
  // expected-error @+1 {{'moe.dispatch' op zero (identity) experts ('zero_experts') are not supported by the CUDA target}}
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w {zero_experts = 2} : tensor<?x64xf32>, tensor<?x3xi32>, tensor<?x3xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  // expected-error @+1 {{'moe.fused_experts' op capacity with dropped = input is not supported by the CUDA target}}
  %y = moe.fused_experts swiglu %x tokens(%tok) weights(%rw) offsets(%off) experts(gate %g, up %u, down %d) {dropped = #moe<dropped input>} : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
