//===- MoEOps.td - moe dialect operations ------------------*- tablegen -*-===//
//
// The whole-layer op and the stages it decomposes into: routing, dispatch,
// the grouped expert FFN, combine, the shared expert, the expert-parallel
// exchange and routing statistics. Semantics are those of DESIGN.md §4.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEOPS_TD
#define MOE_DIALECT_MOE_IR_MOEOPS_TD

include "moe/Dialect/MoE/IR/MoEBase.td"
include "moe/Dialect/MoE/IR/MoEAttrs.td"
include "moe/Dialect/MoE/IR/MoETypes.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

defvar MoE_Activations = 2DTensorOf<[AnyFloat]>;
defvar MoE_Index1D = 1DTensorOf<[I32]>;
defvar MoE_Weight1D = 1DTensorOf<[F32]>;
// Expert ids by token id, `[V,K]`: routing by token id (hash layers).
defvar MoE_ExpertTable = 2DTensorOf<[I32]>;

//===----------------------------------------------------------------------===//
// moe.layer
//===----------------------------------------------------------------------===//

def MoE_LayerOp : MoE_Op<"layer", [Pure, AttrSizedOperandSegments]> {
  let summary = "a whole MoE FFN block: router, experts, combine, shared expert";
  let description = [{
    One Mixture-of-Experts block as importers emit it: the configuration as
    attributes, the weights as operands (stacked per expert, each in the
    checkpoint's `[out, in]` layout). `moe-decompose` expands it into
    `moe.route`/`moe.expert_choice`, `moe.dispatch`, `moe.expert_mlp`,
    `moe.combine` and `moe.shared_mlp` (Soft MoE: `moe.soft_dispatch`,
    `moe.expert_mlp`, `moe.soft_combine`).

    * `router_weight` `[E,H]` gives logits `l = x·Wgᵀ`; `router` is a
      `#moe.routing` (token choice), `#moe.expert_choice` or `#moe.soft_moe`
      attribute (whose router weight has `E·S` rows, one per slot);
      `correction_bias` `[E]` (`bias`) is DeepSeek-V3's score-correction
      bias, added to the scores for selection only.
    * `router_bias` `[E]` is the router's own `nn.Linear` bias (GPT-OSS):
      `l = x·Wgᵀ + b`, seen by everything downstream of the logits.
    * `router_input_norm` (`#moe.router_input_norm`) normalises what the
      router GEMM reads (Gemma 4), with `router_input_scale` (`input_scale`)
      `[H]` as its per-channel scale.
    * `expert_scale` `[E]` multiplies each token-choice routing weight by its
      expert's entry, last (Gemma 4's `per_expert_scale`; see `moe.route`).
    * `table(%t)` `[V,K]` with `token_ids(%ids)` `[T]` (i32, both or
      neither): routing by token id (hash layers, DeepSeek-V4's
      `tid2eid`): token t's experts are row `ids[t]` of the table instead of
      the top-k, weighted as `moe.route` says. A pure hash layer (weight 1)
      is `top_k = 1, renormalize = true`.
    * `experts(gate, up, down)`: `[E,F,H]`, `[E,F,H]`, `[E,H,F]`; `gate` is
      present exactly for the gated activations (`swiglu`, `geglu`,
      `geglu_tanh`, `clamped_swiglu`). The expert linears' biases follow
      them, each optional: `gate_bias` (`expert_gate_bias`, gated only) and
      `up_bias` `[E,F]`, `down_bias` `[E,H]`: expert e computes
      `act(gate·x + b_g, up·x + b_u)·downᵀ + b_d`, the routing weight
      multiplying all of it, `b_d` included (GPT-OSS).
    * `shared(gate, up, down, sigmoid_gate)`: an always-on dense FFN of width
      `Fs` (`[Fs,H]`, `[Fs,H]`, `[H,Fs]`) added to the routed sum, scaled by
      `sigmoid(x·w)` when `sigmoid_gate` `[1,H]` is present (Qwen2-MoE).
    * `capacity`: an optional per-expert limit (token choice only).
    * `scale_expert_input`: the routing weight multiplies the expert
      *input* instead of its output (Llama 4).
    * `glu_clamp`: the parameters of `clamped_swiglu` (`#moe.glu_clamp`:
      GPT-OSS's, GLM-5's or Step-3.7's form), present exactly for that
      activation.
    * `output_bias(%b)` `[H]`: added once to every token's output, after
      the routed (and shared) experts, not scaled by any routing weight
      (JetMoE's block `bias`). Token- and expert-choice routing only.
    * `shared_activation` (with `shared_glu_clamp`, present exactly when it
      is `clamped_swiglu`): the shared expert's own activation, where it
      differs from the routed experts' (Hy-V4 clamps only the routed
      experts, Step-3.7 the shared expert with its own limit). Absent, the
      shared expert takes `activation` and `glu_clamp`.
    * `shared_combine` (`#moe<shared_combine average>`): the output is
      `(routed + shared) / 2` (Cohere2-MoE's "average") instead of the sum;
      it needs a shared expert.
    * `norms(...)`: Gemma 4's RMSNorms around the FFNs, each an optional
      weight `[H]`, all with epsilon `norm_epsilon`, where
      `N(v, w) = v / sqrt(mean_h(v²) + epsilon) · w` in f32 (weight as is):
      `expert_input` normalises what the routed experts see (the router
      still reads `x`), `expert_output` the routed sum, `shared_input` and
      `shared_output` the shared expert's input and output (Gemma 4's dense
      MLP beside the experts), and `output` the sum of the two. A token's
      normalisation reads that token's row only. Token choice or expert
      choice without capacity; no output bias or averaging with them.
    * `zero_experts = Z` (LongCat-Flash's zero-computation experts): the
      router routes over `E + Z` experts, the last `Z` of them identity
      experts. `router_weight` has `E + Z` rows, and `correction_bias`,
      `router_bias` and `expert_scale` `E + Z` entries, while the expert
      weights stay `[E,...]`. A slot whose expert id `j ≥ E` adds `w · x`
      (the token's input times its routing weight); `j < E` adds
      `w · FFN_j(x)`. Token-choice routing by top-k only: no expert choice,
      Soft MoE, routing by token id, capacity or `scale_expert_input`.

    Weights are f32. The verifier (rather than the operand types) says so,
    to point at what a bf16 weight most likely wants: f32 in the IR and
    `moe-compile --weight-type=bf16`, which keeps bf16 panels at run time.

    Example (Mixtral-style, 8 experts, top-2):
    ```mlir
    %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2)
           {router = #moe.routing<top_k = 2, renormalize = true>}
           : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
              tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
    MoE_Activations:$input,
    2DTensorOf<[AnyFloat]>:$router_weight,
    Optional<MoE_Weight1D>:$correction_bias,
    Optional<MoE_Weight1D>:$router_bias,
    Optional<MoE_Weight1D>:$router_input_scale,
    Optional<MoE_Weight1D>:$expert_scale,
    Optional<MoE_ExpertTable>:$expert_table,
    Optional<MoE_Index1D>:$token_ids,
    Optional<3DTensorOf<[AnyFloat]>>:$expert_gate,
    3DTensorOf<[AnyFloat]>:$expert_up,
    3DTensorOf<[AnyFloat]>:$expert_down,
    Optional<2DTensorOf<[AnyFloat]>>:$shared_gate,
    Optional<2DTensorOf<[AnyFloat]>>:$shared_up,
    Optional<2DTensorOf<[AnyFloat]>>:$shared_down,
    Optional<2DTensorOf<[AnyFloat]>>:$shared_sigmoid_gate,
    Optional<2DTensorOf<[AnyFloat]>>:$expert_gate_bias,
    Optional<2DTensorOf<[AnyFloat]>>:$expert_up_bias,
    Optional<2DTensorOf<[AnyFloat]>>:$expert_down_bias,
    Optional<1DTensorOf<[AnyFloat]>>:$output_bias,
    AnyAttrOf<[MoE_RoutingAttr, MoE_ExpertChoiceAttr, MoE_SoftMoEAttr]>:$router,
    DefaultValuedAttr<MoE_ActivationAttr, "::mlir::moe::Activation::swiglu">:$activation,
    OptionalAttr<MoE_CapacityAttr>:$capacity,
    UnitAttr:$scale_expert_input,
    OptionalAttr<MoE_GluClampAttr>:$glu_clamp,
    OptionalAttr<MoE_RouterInputNormAttr>:$router_input_norm,
    OptionalAttr<MoE_ActivationAttr>:$shared_activation,
    OptionalAttr<MoE_GluClampAttr>:$shared_glu_clamp,
    OptionalAttr<MoE_SharedCombineAttr>:$shared_combine,
    Optional<MoE_Weight1D>:$expert_input_norm,
    Optional<MoE_Weight1D>:$expert_output_norm,
    Optional<MoE_Weight1D>:$shared_input_norm,
    Optional<MoE_Weight1D>:$shared_output_norm,
    Optional<MoE_Weight1D>:$output_norm,
    OptionalAttr<F64Attr>:$norm_epsilon,
    OptionalAttr<I64Attr>:$zero_experts
  );
  let results = (outs MoE_Activations:$output);
  let assemblyFormat = [{
    $input `router` `(` $router_weight ``
        custom<RouterOperands>($correction_bias, $router_bias,
                               $router_input_scale, $expert_scale) `)`
    (`table` `(` $expert_table^ `)`)? (`token_ids` `(` $token_ids^ `)`)?
    `experts` `(` custom<FfnWeights>($expert_gate, $expert_up, $expert_down)
        `` custom<FfnBiases>($expert_gate_bias, $expert_up_bias,
                          $expert_down_bias) `)`
    (`shared` `(` custom<FfnWeights>($shared_gate, $shared_up, $shared_down)^
        (`,` `sigmoid_gate` $shared_sigmoid_gate^)? `)`)?
    (`output_bias` `(` $output_bias^ `)`)?
    (`norms` `(` custom<LayerNorms>($expert_input_norm, $expert_output_norm,
                                    $shared_input_norm, $shared_output_norm,
                                    $output_norm)^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let builders = [
    // The layer without the router's bias, input normalisation, expert scale,
    // routing by token id and linear biases, whose activation takes no
    // parameters: what importers of learned routers call.
    OpBuilder<(ins "Type":$output, "Value":$input, "Value":$router_weight,
        "Value":$correction_bias, "Value":$expert_gate, "Value":$expert_up,
        "Value":$expert_down, "Value":$shared_gate, "Value":$shared_up,
        "Value":$shared_down, "Value":$shared_sigmoid_gate,
        "Attribute":$router, "ActivationAttr":$activation,
        "CapacityAttr":$capacity, "UnitAttr":$scale_expert_input), [{
      build($_builder, $_state, output, input, router_weight, correction_bias,
            /*router_bias=*/Value(), /*router_input_scale=*/Value(),
            /*expert_scale=*/Value(), /*expert_table=*/Value(),
            /*token_ids=*/Value(), expert_gate, expert_up, expert_down,
            shared_gate, shared_up, shared_down, shared_sigmoid_gate,
            /*expert_gate_bias=*/Value(), /*expert_up_bias=*/Value(),
            /*expert_down_bias=*/Value(), /*output_bias=*/Value(), router,
            activation, capacity, scale_expert_input,
            /*glu_clamp=*/GluClampAttr(),
            /*router_input_norm=*/RouterInputNormAttr(),
            /*shared_activation=*/ActivationAttr(),
            /*shared_glu_clamp=*/GluClampAttr(),
            /*shared_combine=*/SharedCombineAttr(),
            /*expert_input_norm=*/Value(), /*expert_output_norm=*/Value(),
            /*shared_input_norm=*/Value(), /*shared_output_norm=*/Value(),
            /*output_norm=*/Value(), /*norm_epsilon=*/FloatAttr(),
            /*zero_experts=*/IntegerAttr());
    }]>
  ];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    /// E, the experts with weights (zero experts excluded).
    int64_t getNumExperts() {
      return getNumRoutedExperts() - getNumZeroExperts();
    }
    /// E + Z, the ids the router chooses among: one per router row (Soft
    /// MoE: per S rows).
    int64_t getNumRoutedExperts() {
      return getRouterWeight().getType().getDimSize(0) / getRouterRowsPerExpert();
    }
    /// Z, the identity experts routed to after the E real ones.
    int64_t getNumZeroExperts() { return getZeroExperts().value_or(0); }
    /// Soft MoE's router has a row per slot; the other routers one per expert.
    int64_t getRouterRowsPerExpert() {
      auto soft = ::llvm::dyn_cast<SoftMoEAttr>(getRouter());
      return soft ? soft.getSlotsPerExpert() : 1;
    }
    int64_t getHiddenSize() { return getInput().getType().getDimSize(1); }
    bool hasSharedExpert() { return static_cast<bool>(getSharedUp()); }
    /// Whether the output is the average of the routed and shared outputs.
    bool averagesSharedExpert() {
      return getSharedCombine() == SharedCombine::average;
    }
    /// The shared expert's activation: its own, else the routed experts'.
    Activation getSharedExpertActivation() {
      return getSharedActivation().value_or(getActivation());
    }
    /// The parameters of getSharedExpertActivation().
    GluClampAttr getSharedExpertGluClamp() {
      return getSharedActivation() ? getSharedGluClampAttr()
                                   : getGluClampAttr();
    }
    /// `shared_activation` and `shared_glu_clamp` agree and need a shared
    /// expert.
    LogicalResult verifySharedActivation();
    /// Whether any of the RMSNorms around the FFNs is present.
    bool hasNorms() {
      return getExpertInputNorm() || getExpertOutputNorm() ||
             getSharedInputNorm() || getSharedOutputNorm() || getOutputNorm();
    }
    /// The norms' weights, their epsilon and where they sit.
    LogicalResult verifyNorms();
    /// `zero_experts` is positive, leaves an expert with weights and comes
    /// with plain token-choice routing.
    LogicalResult verifyZeroExperts();
  }];
}

//===----------------------------------------------------------------------===//
// Routing
//===----------------------------------------------------------------------===//

def MoE_RouteOp : MoE_Op<"route", [Pure, AttrSizedOperandSegments]> {
  let summary = "token-choice routing: logits to per-token experts and weights";
  let description = [{
    Turns router logits `[T,E]` into, for each token, `K = top_k` expert ids
    (`[T,K]`, i32, in decreasing order of the selection value) and their
    routing weights (`[T,K]`, f32), following the `#moe.routing` attribute:
    softmax or sigmoid scores, optional score-correction `bias` `[E]`
    (DeepSeek-V3), group-limited selection, selection on raw logits
    (Llama 4), renormalisation and scaling. With `expert_scale` `[E]`
    (Gemma 4's `per_expert_scale`) each weight is finally multiplied by its
    expert's entry: `weights[t,k] *= expert_scale[experts[t,k]]`.

    Routing by token id: with `table(%t : tensor<VxKxi32>)` and
    `token_ids(%ids : tensor<?xi32>)` (both or neither) token t's experts
    are row `ids[t]` of the table, in its order, instead of the top-k
    (hash layers: a hash, random or clustering table; DeepSeek-V4's
    `tid2eid`); the weights are the scores at those experts, renormalised
    and scaled as the attribute says. Ids must lie in [0, V) and entries in
    [0, E): a compiled entry refuses other ids
    (MOE_STATUS_INVALID_ARGUMENT) and the loader other tables; the lowering
    clamps both into range, so even unchecked values never read or write
    out of bounds. Selection settings (bias, groups) do not apply.

    Example (DeepSeek-V3):
    ```mlir
    %w, %ids = moe.route %logits bias(%b)
        {routing = #moe.routing<top_k = 8, scoring = sigmoid,
                                renormalize = true, scaling_factor = 2.5,
                                n_group = 8, topk_group = 4,
                                group_score = top2_sum>}
        : tensor<?x256xf32>, tensor<256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
    ```
  }];
  let arguments = (ins
    2DTensorOf<[F32]>:$logits,
    Optional<MoE_Weight1D>:$correction_bias,
    Optional<MoE_Weight1D>:$expert_scale,
    Optional<MoE_ExpertTable>:$expert_table,
    Optional<MoE_Index1D>:$token_ids,
    MoE_RoutingAttr:$routing
  );
  let results = (outs 2DTensorOf<[F32]>:$weights, 2DTensorOf<[I32]>:$experts);
  let assemblyFormat = [{
    $logits (`bias` `(` $correction_bias^ `)`)?
    (`expert_scale` `(` $expert_scale^ `:` type($expert_scale) `)`)?
    (`table` `(` $expert_table^ `:` type($expert_table) `)`)?
    (`token_ids` `(` $token_ids^ `:` type($token_ids) `)`)? attr-dict
    `:` type($logits) (`,` type($correction_bias)^)? `->` type($weights) `,` type($experts)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def MoE_ExpertChoiceOp : MoE_Op<"expert_choice", [Pure]> {
  let summary = "expert-choice routing: each expert gathers its top tokens";
  let description = [{
    Each of the `E` experts takes its top `C` tokens by `softmax(l)` over
    experts (see `#moe.expert_choice`) and gathers them into an expert-major
    row bundle: `rows` `[E·C,H]`, `row_token`, `row_weight` (the
    probability) and `expert_offsets` `[E+1]` (`e·C`). Routing and dispatch
    are one op here because expert choice is expert-major by nature.

    Example:
    ```mlir
    %rows, %tok, %w, %off = moe.expert_choice %x, %logits
        {routing = #moe.expert_choice<capacity_factor = 2.0>}
        : tensor<?x64xf32>, tensor<?x8xf32>
        -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
    ```
  }];
  let arguments = (ins
    MoE_Activations:$input,
    2DTensorOf<[F32]>:$logits,
    MoE_ExpertChoiceAttr:$routing
  );
  let results = (outs MoE_Activations:$rows, MoE_Index1D:$row_token,
                      MoE_Weight1D:$row_weight, MoE_Index1D:$expert_offsets);
  let assemblyFormat = [{
    $input `,` $logits attr-dict
    `:` type($input) `,` type($logits) `->` type(results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Soft MoE
//===----------------------------------------------------------------------===//

def MoE_SoftDispatchOp : MoE_Op<"soft_dispatch", [Pure]> {
  let summary = "Soft MoE's slot inputs: softmax over tokens, mixed rows";
  let description = [{
    With router logits `L` `[T,E·S]` (`S` from `#moe.soft_moe`), the
    dispatch weights are `D = softmax(L)` over the tokens, per column, and
    slot `j`'s input is `rows[j] = Σ_t D[t,j]·input[t]` (`[E·S,H]`, in
    token order). `expert_offsets` `[E+1]` is `e·S`: expert `e` owns rows
    `[e·S, (e+1)·S)`, the row bundle `moe.expert_mlp` reads. With no token
    the rows are zero.

    Example:
    ```mlir
    %rows, %off = moe.soft_dispatch %x, %logits
        {routing = #moe.soft_moe<slots_per_expert = 2>}
        : tensor<?x64xf32>, tensor<?x16xf32> -> tensor<?x64xf32>, tensor<9xi32>
    ```
  }];
  let arguments = (ins
    MoE_Activations:$input,
    2DTensorOf<[F32]>:$logits,
    MoE_SoftMoEAttr:$routing
  );
  let results = (outs MoE_Activations:$rows, MoE_Index1D:$expert_offsets);
  let assemblyFormat = [{
    $input `,` $logits attr-dict
    `:` type($input) `,` type($logits) `->` type(results)
  }];
  let hasVerifier = 1;
}

def MoE_SoftCombineOp : MoE_Op<"soft_combine", [Pure]> {
  let summary = "Soft MoE's output: slot outputs mixed by softmax over slots";
  let description = [{
    With router logits `L` `[T,E·S]`, the combine weights are
    `C = softmax(L)` over the slots, per token, and token `t`'s output is
    `output[t] = Σ_j C[t,j]·expert_out[j]` (in slot order) over the `E·S`
    slot outputs `[E·S,H]` of `moe.expert_mlp`.

    Example:
    ```mlir
    %y = moe.soft_combine %out, %logits
        : (tensor<?x64xf32>, tensor<?x16xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins MoE_Activations:$expert_out, 2DTensorOf<[F32]>:$logits);
  let results = (outs MoE_Activations:$output);
  let assemblyFormat = [{
    $expert_out `,` $logits attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Dispatch and combine
//===----------------------------------------------------------------------===//

def MoE_DispatchOp : MoE_Op<"dispatch", [Pure]> {
  let summary = "permute (token, slot) pairs from token-major to expert-major";
  let description = [{
    Sorts the `T·K` (token, slot) pairs of a token-choice route by expert
    (stable: token order within an expert) and gathers the token rows into
    an expert-major bundle: `rows` `[T·K,H]`, `row_token` `[T·K]`,
    `row_weight` `[T·K]` and `expert_offsets` `[E+1]`.

    Dropless by default: every slot is kept and `offsets[E] = T·K`. With a
    `capacity` each expert keeps at most `C` slots (see `#moe.capacity`); the
    dropped slots follow the kept ones, from `offsets[E]` on, in
    (expert, token) order, so no slot is ever lost from the bundle. Kept
    rows stay in token order within an expert whatever the drop order.
    `row_weight` is the slot's routing weight, or with the capacity's
    `renormalize` and `output_scale` the weight those make of it.

    With `zero_experts = Z` expert ids lie in `[0, E + Z)` and the slots
    routed to ids `≥ E` (identity experts) follow the kept rows from
    `offsets[E]` on, in (id, token) order, where `moe.combine`'s
    `dropped = input` adds their weighted input. Dropless only.

    Example:
    ```mlir
    %rows, %tok, %w, %off = moe.dispatch %x, %ids, %weights
        {capacity = #moe.capacity<factor = 1.25>}
        : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32>
        -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
    ```
  }];
  let arguments = (ins
    MoE_Activations:$input,
    2DTensorOf<[I32]>:$experts,
    2DTensorOf<[F32]>:$weights,
    OptionalAttr<MoE_CapacityAttr>:$capacity,
    OptionalAttr<I64Attr>:$zero_experts
  );
  let results = (outs MoE_Activations:$rows, MoE_Index1D:$row_token,
                      MoE_Weight1D:$row_weight, MoE_Index1D:$expert_offsets);
  let assemblyFormat = [{
    $input `,` $experts `,` $weights attr-dict
    `:` type($input) `,` type($experts) `,` type($weights) `->` type(results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    int64_t getNumExperts() {
      return getExpertOffsets().getType().getDimSize(0) - 1;
    }
    /// Z, the identity experts after the E of the offsets.
    int64_t getNumZeroExperts() { return getZeroExperts().value_or(0); }
  }];
}

def MoE_CombineOp : MoE_Op<"combine", [Pure, AttrSizedOperandSegments]> {
  let summary = "weighted scatter-add of expert rows back to token order";
  let description = [{
    `out[t] = Σ row_weight[r] · expert_out[r]` over the kept rows
    `r < offsets[E]` with `row_token[r] = t`; without `weights` the rows are
    summed as they are (their weight was applied to the expert input).
    Dropped rows (`r ≥ offsets[E]`) add nothing under `dropped = zero` and
    `row_weight[r] · input[row_token[r]]` under `dropped = input`. `input`
    is the layer input: it also gives the token count of the result. With
    `output_bias` `[H]` every token's output starts from it instead of zero
    (moe.layer's `output_bias`).

    Example:
    ```mlir
    %y = moe.combine %out tokens(%tok) weights(%w) offsets(%off) input(%x)
        : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>,
           tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
    MoE_Activations:$expert_out,
    MoE_Index1D:$row_token,
    Optional<MoE_Weight1D>:$row_weight,
    MoE_Index1D:$expert_offsets,
    MoE_Activations:$input,
    Optional<MoE_Weight1D>:$output_bias,
    DefaultValuedAttr<MoE_DroppedSlotAttr, "::mlir::moe::DroppedSlot::zero">:$dropped
  );
  let results = (outs MoE_Activations:$output);
  let assemblyFormat = [{
    $expert_out `tokens` `(` $row_token `)` (`weights` `(` $row_weight^ `)`)?
    `offsets` `(` $expert_offsets `)` `input` `(` $input `)`
    (`output_bias` `(` $output_bias^ `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Expert computation
//===----------------------------------------------------------------------===//

def MoE_ExpertMlpOp : MoE_Op<"expert_mlp", [Pure, AttrSizedOperandSegments]> {
  let summary = "the grouped expert FFN over expert-major rows";
  let description = [{
    Row `r` in `[offsets[e], offsets[e+1])` goes through expert `e`:
    `down(act(gate·x, up·x))` with `gate`/`up` `[E,F,H]`, `down` `[E,H,F]`
    and, elementwise, for `g = gate·x`, `u = up·x`:

    | activation | act(g, u) | transformers' name |
    | --- | --- | --- |
    | `swiglu` | `silu(g) · u` | `silu` (gated) |
    | `geglu` | `gelu(g) · u` | `gelu` (gated) |
    | `geglu_tanh` | `gelu_tanh(g) · u` | `gelu_pytorch_tanh` (gated) |
    | `gelu` | `gelu(u)` | `gelu` |
    | `gelu_tanh` | `gelu_tanh(u)` | `gelu_pytorch_tanh` |
    | `relu` | `max(u, 0)` | `relu` |
    | `relu2` | `max(u, 0)²` | `relu2` (Nemotron-H) |
    | `silu` | `silu(u)` | `silu` |
    | `clamped_swiglu` | `(u' + 1) · g' · sigmoid(α · g')` | GPT-OSS (`form = gpt_oss`) |
    | `clamped_swiglu` | `silu(min(g, limit)) · u'` | GLM-5, Hy-V4 (`form = clamp_gate`) |
    | `clamped_swiglu` | `min(silu(g), limit) · u'` | Step-3.7 (`form = clamp_silu`) |

    where `silu(v) = v · sigmoid(v)`, `gelu(v) = v/2 · (1 + erf(v/√2))` (the
    exact form) and `gelu_tanh(v) = v/2 · (1 + tanh(√(2/π) · (v + 0.044715 ·
    v³)))`. `clamped_swiglu` takes `g' = min(g, limit)`, `u' = clamp(u,
    -limit, limit)`, `α` and the form from its `glu_clamp` attribute
    (`#moe.glu_clamp`), which is present exactly for that activation, on
    this op as on every op carrying an activation.
    With `scale`, row `r` is first multiplied by `scale[r]` (Llama 4 applies
    the routing weight to the expert input). Rows at or past `offsets[E]`
    (dropped slots) produce zeros.

    The linears' biases follow the weights, each optional: `gate_bias`
    (gated only) and `up_bias` `[E,F]`, `down_bias` `[E,H]`, added to
    expert e's projections: `act(gate·x + b_g, up·x + b_u)·downᵀ + b_d`
    (after the input scaling).

    Example:
    ```mlir
    %out = moe.expert_mlp swiglu %rows offsets(%off)
        weights(gate %wg, up %wu, down %wd)
        : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>,
           tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
    MoE_Activations:$rows,
    MoE_Index1D:$expert_offsets,
    Optional<3DTensorOf<[AnyFloat]>>:$gate,
    3DTensorOf<[AnyFloat]>:$up,
    3DTensorOf<[AnyFloat]>:$down,
    Optional<MoE_Weight1D>:$scale,
    Optional<2DTensorOf<[AnyFloat]>>:$gate_bias,
    Optional<2DTensorOf<[AnyFloat]>>:$up_bias,
    Optional<2DTensorOf<[AnyFloat]>>:$down_bias,
    MoE_ActivationAttr:$activation,
    OptionalAttr<MoE_GluClampAttr>:$glu_clamp
  );
  let results = (outs MoE_Activations:$output);
  let assemblyFormat = [{
    $activation $rows `offsets` `(` $expert_offsets `)`
    `weights` `(` custom<FfnWeights>($gate, $up, $down)
        `` custom<FfnBiases>($gate_bias, $up_bias, $down_bias) `)`
    (`scale` `(` $scale^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def MoE_SharedMlpOp : MoE_Op<"shared_mlp", [Pure, AttrSizedOperandSegments]> {
  let summary = "an always-on dense FFN, optionally sigmoid-gated";
  let description = [{
    Applies one dense FFN (`gate`/`up` `[F,H]`, `down` `[H,F]`, activation as
    in `moe.expert_mlp`) to every token. With `sigmoid_gate` `[1,H]` the
    result is scaled per token by `sigmoid(x·wᵀ)` (Qwen2-MoE's
    `shared_expert_gate`); without it, it is added as is (DeepSeek's
    `shared_experts`).

    Example:
    ```mlir
    %s = moe.shared_mlp swiglu %x weights(gate %g, up %u, down %d)
        sigmoid_gate(%sg)
        : (tensor<?x64xf32>, tensor<256x64xf32>, tensor<256x64xf32>,
           tensor<64x256xf32>, tensor<1x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
    MoE_Activations:$input,
    Optional<2DTensorOf<[AnyFloat]>>:$gate,
    2DTensorOf<[AnyFloat]>:$up,
    2DTensorOf<[AnyFloat]>:$down,
    Optional<2DTensorOf<[AnyFloat]>>:$sigmoid_gate,
    MoE_ActivationAttr:$activation,
    OptionalAttr<MoE_GluClampAttr>:$glu_clamp
  );
  let results = (outs MoE_Activations:$output);
  let assemblyFormat = [{
    $activation $input `weights` `(` custom<FfnWeights>($gate, $up, $down) `)`
    (`sigmoid_gate` `(` $sigmoid_gate^ `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fused expert computation
//===----------------------------------------------------------------------===//

def MoE_FusedExpertsOp : MoE_Op<"fused_experts", [Pure, AttrSizedOperandSegments]> {
  let summary = "expert FFNs on gathered tokens, combined into token order";
  let description = [{
    What `moe-fuse-experts` makes of `moe.expert_mlp` between a dispatch
    and its `moe.combine` (and of a `moe.shared_mlp` added to the result):
    for each kept row `r < offsets[E]` of expert `e`,
    `out[row_token[r]] += w_r · FFN_e(x[row_token[r]])`, plus, with
    `shared`, `FFN_shared(x[t])` for every token. No row bundle is
    gathered and no per-row result is kept: lowering reads each row's input
    through `row_token` and adds the down projection into the output.

    `row_weight` scales the expert output; with `scale_expert_input` it
    scales the expert input instead (Llama 4), and is required. Without
    `row_weight` rows are summed as they are. The experts' linear biases
    (`gate_bias`, `up_bias` `[E,F]`, `down_bias` `[E,H]`) are as in
    `moe.expert_mlp`, `w_r` scaling `b_d` too; `output_bias(%b)` `[H]` is
    what every token's output starts from (moe.combine's). Rows at or past
    `offsets[E]` (dropped slots, identity experts) add nothing under
    `dropped = zero` and `w_r · x[row_token[r]]` under `dropped = input`,
    as in `moe.combine`. Weights are laid out as in
    `moe.expert_mlp` and `moe.shared_mlp` (the checkpoint's); a target
    chooses another layout on the kernel layer it lowers to
    (`#moe.weight_layout`).

    Example:
    ```mlir
    %y = moe.fused_experts swiglu %x tokens(%tok) weights(%w) offsets(%off)
        experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd)
        : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>,
           tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>,
           tensor<256x64xf32>, tensor<256x64xf32>, tensor<64x256xf32>)
        -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins
    MoE_Activations:$input,
    MoE_Index1D:$row_token,
    Optional<MoE_Weight1D>:$row_weight,
    MoE_Index1D:$expert_offsets,
    Optional<3DTensorOf<[AnyFloat]>>:$expert_gate,
    3DTensorOf<[AnyFloat]>:$expert_up,
    3DTensorOf<[AnyFloat]>:$expert_down,
    Optional<2DTensorOf<[AnyFloat]>>:$shared_gate,
    Optional<2DTensorOf<[AnyFloat]>>:$shared_up,
    Optional<2DTensorOf<[AnyFloat]>>:$shared_down,
    Optional<2DTensorOf<[AnyFloat]>>:$expert_gate_bias,
    Optional<2DTensorOf<[AnyFloat]>>:$expert_up_bias,
    Optional<2DTensorOf<[AnyFloat]>>:$expert_down_bias,
    Optional<MoE_Weight1D>:$output_bias,
    MoE_ActivationAttr:$activation,
    UnitAttr:$scale_expert_input,
    OptionalAttr<MoE_GluClampAttr>:$glu_clamp,
    DefaultValuedAttr<MoE_DroppedSlotAttr, "::mlir::moe::DroppedSlot::zero">:$dropped
  );
  let results = (outs MoE_Activations:$output);
  let assemblyFormat = [{
    $activation $input `tokens` `(` $row_token `)`
    (`weights` `(` $row_weight^ `)`)? `offsets` `(` $expert_offsets `)`
    `experts` `(` custom<FfnWeights>($expert_gate, $expert_up, $expert_down)
        `` custom<FfnBiases>($expert_gate_bias, $expert_up_bias,
                          $expert_down_bias) `)`
    (`shared` `(` custom<FfnWeights>($shared_gate, $shared_up, $shared_down)^ `)`)?
    (`output_bias` `(` $output_bias^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumExperts() {
      return getExpertOffsets().getType().getDimSize(0) - 1;
    }
    bool hasSharedExpert() { return static_cast<bool>(getSharedUp()); }
    /// F, the width of the expert FFN.
    int64_t getFfnWidth() { return getExpertUp().getType().getDimSize(1); }
  }];
}

// Pure: the count is fixed for the length of one call of the function.
def MoE_NumWorkersOp : MoE_Op<"num_workers", [Pure]> {
  let summary = "how many workers the function's parallel loops run on";
  let description = [{
    The number of workers (threads on the CPU) that an `scf.forall` in the
    enclosing function is spread over, at least 1. Lowering divides work
    into this many equal parts when fewer, larger parts run faster than
    many small ones (the fused experts' column chunks: each kernel call
    then keeps its rows in cache across more output columns).
    `moe-cpu-num-workers-to-openmp` makes it `omp_get_max_threads()`.

    Example:
    ```mlir
    %n = moe.num_workers
    ```
  }];
  let results = (outs Index:$result);
  let assemblyFormat = "attr-dict";
  let builders = [OpBuilder<(ins), [{
    build($_builder, $_state, $_builder.getIndexType());
  }]>];
}

//===----------------------------------------------------------------------===//
// Expert-parallel exchange
//===----------------------------------------------------------------------===//

// Not Pure: a collective must run on every rank, in program order.
def MoE_AllToAllOp : MoE_Op<"all_to_all", [
    AllTypesMatch<["rows", "received_rows"]>,
    AllTypesMatch<["send_counts", "received_counts"]>]> {
  let summary = "expert-parallel exchange of expert-major rows between ranks";
  let description = [{
    An all-to-all-v over the `N` ranks of the expert-parallel group, with
    `N` the leading dimension of `send_counts` `[N,G]`. The rows are sorted
    by (destination rank, group) and `send_counts[n][g]` rows go to rank `n`
    in group `g`. Each rank receives `received_counts[n][g]` rows from rank
    `n` for group `g`, sorted the same way. For dispatch, `g` is the local
    expert of the destination (`G = E/N`); sending results back uses the same
    op with `g` the local expert of the sender, which yields rows in global
    expert order (`returning` marks that exchange, for the per-phase times
    of a run). With `N = 1` the exchange is the identity and folds away.

    Example:
    ```mlir
    %rows2, %counts2 = moe.all_to_all %rows, %counts
        : tensor<?x4096xf32>, tensor<4x2xi32>
    ```
  }];
  let arguments = (ins MoE_Activations:$rows, 2DTensorOf<[I32]>:$send_counts,
                       UnitAttr:$returning);
  let results = (outs MoE_Activations:$received_rows,
                      2DTensorOf<[I32]>:$received_counts);
  let assemblyFormat = [{
    $rows `,` $send_counts attr-dict `:` type($rows) `,` type($send_counts)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def MoE_RankOp : MoE_Op<"rank", [Pure]> {
  let summary = "this process's rank in the expert-parallel group";
  let description = [{
    The rank, in `[0, N)`, of the process running the function among the
    `N` ranks of expert parallelism (0 alone). Pure: it is fixed for the
    length of a call. Lowering reads it from the communicator the library
    was given (`moe_context`).

    Example:
    ```mlir
    %r = moe.rank
    ```
  }];
  let results = (outs Index:$result);
  let assemblyFormat = "attr-dict";
  let builders = [OpBuilder<(ins), [{
    build($_builder, $_state, $_builder.getIndexType());
  }]>];
}

def MoE_PlaceOp : MoE_Op<"place", [Pure,
    AllTypesMatch<["experts", "physical_experts"]>]> {
  let summary = "routed experts to the physical experts that compute them";
  let description = [{
    Maps each selected expert id `e` of token `t` (`[T,K]`) to the physical
    expert `r·G + s` (rank `r`, slot `s` of `#moe.placement`) that computes
    it: its only replica, or, for a replicated expert with replicas
    `p_0 < ... < p_{m-1}`, `p_{(rank + t) mod m}` with `rank` the sending
    rank. Dispatching by the physical ids sorts rows by destination rank and
    slot, the order `moe.all_to_all` sends them in.

    Example:
    ```mlir
    %p = moe.place %ids rank(%r)
        {placement = #moe.placement<experts = 4, slots = 2,
                                    table = [0, 1, 2, 3]>}
        : tensor<?x2xi32>
    ```
  }];
  let arguments = (ins 2DTensorOf<[I32]>:$experts, Index:$rank,
                       MoE_PlacementAttr:$placement);
  let results = (outs 2DTensorOf<[I32]>:$physical_experts);
  let assemblyFormat = "$experts `rank` `(` $rank `)` attr-dict `:` type($experts)";
}

def MoE_ReceivedOrderOp : MoE_Op<"received_order", [Pure]> {
  let summary = "the expert-major order of rows an exchange delivered";
  let description = [{
    `moe.all_to_all` delivers rows sorted by (source rank, slot), with
    `counts[n][g]` rows from rank `n` for local slot `g` (`[N,G]`). This op
    gives the same rows in (slot, source rank) order, what a grouped expert
    op reads: `order[i]` is the received row at expert-major position `i`
    and `offsets` `[G+1]` the prefix sums of the slots' row counts.

    Example:
    ```mlir
    %order, %off = moe.received_order %counts
        : tensor<4x2xi32> -> tensor<?xi32>, tensor<3xi32>
    ```
  }];
  let arguments = (ins 2DTensorOf<[I32]>:$counts);
  let results = (outs MoE_Index1D:$order, MoE_Index1D:$offsets);
  let assemblyFormat = [{
    $counts attr-dict `:` type($counts) `->` type($order) `,` type($offsets)
  }];
  let hasVerifier = 1;
}

def MoE_AllToAllStartOp : MoE_Op<"all_to_all_start", [
    TypesMatchWith<"rows match the exchange", "exchange", "rows",
                   "::llvm::cast<::mlir::moe::ExchangeType>($_self).getRowsType()">,
    TypesMatchWith<"counts match the exchange", "exchange", "send_counts",
                   "::llvm::cast<::mlir::moe::ExchangeType>($_self).getCountsType()">]> {
  let summary = "start an all-to-all exchange (async form)";
  let description = [{
    The asynchronous form of `moe.all_to_all`: starts the exchange and
    returns a handle; `moe.all_to_all_wait` completes it. Expert compute
    scheduled between the two overlaps the communication.

    Example:
    ```mlir
    %h = moe.all_to_all_start %rows, %counts
        : !moe.exchange<tensor<?x4096xf32>, tensor<4x2xi32>>
    ```
  }];
  let arguments = (ins MoE_Activations:$rows, 2DTensorOf<[I32]>:$send_counts,
                       UnitAttr:$returning);
  let results = (outs MoE_ExchangeType:$exchange);
  let assemblyFormat = "$rows `,` $send_counts attr-dict `:` qualified(type($exchange))";
  let hasVerifier = 1;
}

def MoE_AllToAllWaitOp : MoE_Op<"all_to_all_wait", [
    TypesMatchWith<"rows come from the exchange", "exchange", "received_rows",
                   "::llvm::cast<::mlir::moe::ExchangeType>($_self).getRowsType()">,
    TypesMatchWith<"counts come from the exchange", "exchange", "received_counts",
                   "::llvm::cast<::mlir::moe::ExchangeType>($_self).getCountsType()">]> {
  let summary = "complete an all-to-all exchange";
  let description = [{
    Waits for the exchange started by `moe.all_to_all_start` and returns
    what `moe.all_to_all` would have.

    Example:
    ```mlir
    %rows2, %counts2 = moe.all_to_all_wait %h
        : !moe.exchange<tensor<?x4096xf32>, tensor<4x2xi32>>
    ```
  }];
  let arguments = (ins MoE_ExchangeType:$exchange);
  let results = (outs MoE_Activations:$received_rows,
                      2DTensorOf<[I32]>:$received_counts);
  let assemblyFormat = "$exchange attr-dict `:` qualified(type($exchange))";
}

//===----------------------------------------------------------------------===//
// Statistics
//===----------------------------------------------------------------------===//

def MoE_RoutingStatsOp : MoE_Op<"routing_stats", [Pure]> {
  let summary = "how evenly a router spreads its tokens";
  let description = [{
    From router logits `[T,E]`, the selected experts `[T,K]` and their
    routing weights `[T,K]` (what `moe.route` returns):

    * `load` `[E]`: slots routed to each expert;
    * `entropy`: entropy of the load distribution divided by `log E`
      (1 = perfectly even, 0 = every slot on one expert);
    * `max_share`: the largest expert's share of all slots (collapse shows
      as 1);
    * `confidence`: the mean over tokens of the largest router probability;
    * `aux_loss`: the Switch/Mixtral load-balancing loss
      `E · Σ_e (load[e]/T) · P_e`, `P_e` the mean router probability of
      expert `e` (`K` when perfectly balanced);
    * `weight_histogram` `[B]`: the selected routing weights counted in `B`
      equal bins over `[0, weight_range]`. Weight `w` falls in bin
      `floor(w · (B / weight_range))`, the product in f32, clamped to
      `[0, B-1]`: `weight_range` itself and anything above it in the last
      bin, negatives (and NaN) in the first, so the bins always sum to
      `T·K`. Routing weights lie in `[0, 1]` times the routing's
      `scaling_factor`, which is the range to give.

    Router probabilities are `softmax(l)`, or `sigmoid(l)` normalised to sum
    1 per token with `scoring = sigmoid`.

    Example:
    ```mlir
    %load, %h, %max, %conf, %aux, %hist = moe.routing_stats %logits, %ids,
        %weights softmax {weight_range = 2.5 : f64}
        : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32>
        -> tensor<8xi64>, tensor<20xi64>
    ```
  }];
  let arguments = (ins
    2DTensorOf<[F32]>:$logits,
    2DTensorOf<[I32]>:$experts,
    2DTensorOf<[F32]>:$weights,
    DefaultValuedAttr<MoE_ScoringFuncAttr, "::mlir::moe::ScoringFunc::softmax">:$scoring,
    DefaultValuedAttr<F64Attr, "1.0">:$weight_range
  );
  let results = (outs 1DTensorOf<[I64]>:$load, F32:$entropy, F32:$max_share,
                      F32:$confidence, F32:$aux_loss,
                      1DTensorOf<[I64]>:$weight_histogram);
  let assemblyFormat = [{
    $logits `,` $experts `,` $weights $scoring attr-dict
    `:` type($logits) `,` type($experts) `,` type($weights)
    `->` type($load) `,` type($weight_histogram)
  }];
  let hasVerifier = 1;
}

#endif // MOE_DIALECT_MOE_IR_MOEOPS_TD
