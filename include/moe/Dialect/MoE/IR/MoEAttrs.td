//===- MoEAttrs.td - moe dialect attributes ----------------*- tablegen -*-===//
//
// Enums and configuration attributes: routing variants, expert-choice, Soft
// MoE and capacity settings, activations.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEATTRS_TD
#define MOE_DIALECT_MOE_IR_MOEATTRS_TD

include "moe/Dialect/MoE/IR/MoEBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

class MoE_I32Enum<string name, string summary, list<I32EnumAttrCase> cases>
    : I32EnumAttr<name, summary, cases> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

class MoE_EnumAttr<EnumAttrInfo info, string mnemonic>
    : EnumAttr<MoE_Dialect, info, mnemonic>;

def MoE_ScoringFunc : MoE_I32Enum<"ScoringFunc",
    "how router logits become scores", [
      I32EnumAttrCase<"softmax", 0>,
      I32EnumAttrCase<"sigmoid", 1>,
      I32EnumAttrCase<"sqrtsoftplus", 2>,
      I32EnumAttrCase<"sparsemixer", 3>]>;
def MoE_ScoringFuncAttr : MoE_EnumAttr<MoE_ScoringFunc, "scoring">;

def MoE_SelectionSource : MoE_I32Enum<"SelectionSource",
    "what top-k selects on", [
      I32EnumAttrCase<"scores", 0>,
      I32EnumAttrCase<"logits", 1>]>;

def MoE_RoutingWeights : MoE_I32Enum<"RoutingWeights",
    "what the routing weights of the selected experts are", [
      I32EnumAttrCase<"scores", 0>,
      I32EnumAttrCase<"softmax_selected", 1>]>;

def MoE_GroupScore : MoE_I32Enum<"GroupScore",
    "how a group of experts is scored for group-limited routing", [
      I32EnumAttrCase<"max", 0>,
      I32EnumAttrCase<"top2_sum", 1>]>;

def MoE_Activation : MoE_I32Enum<"Activation",
    "the expert FFN's activation", [
      I32EnumAttrCase<"swiglu", 0>,
      I32EnumAttrCase<"geglu", 1>,
      I32EnumAttrCase<"gelu", 2>,
      I32EnumAttrCase<"relu", 3>,
      I32EnumAttrCase<"relu2", 4>,
      I32EnumAttrCase<"gelu_tanh", 5>,
      I32EnumAttrCase<"geglu_tanh", 6>,
      I32EnumAttrCase<"silu", 7>,
      I32EnumAttrCase<"clamped_swiglu", 8>]>;
def MoE_ActivationAttr : MoE_EnumAttr<MoE_Activation, "activation">;

def MoE_DropOrder : MoE_I32Enum<"DropOrder",
    "which slots an expert over capacity drops", [
      I32EnumAttrCase<"token_order", 0>,
      I32EnumAttrCase<"lowest_weight", 1>,
      I32EnumAttrCase<"choice_order", 2>]>;

def MoE_DroppedSlot : MoE_I32Enum<"DroppedSlot",
    "what a dropped slot contributes to the output", [
      I32EnumAttrCase<"zero", 0>,
      I32EnumAttrCase<"input", 1>]>;
def MoE_DroppedSlotAttr : MoE_EnumAttr<MoE_DroppedSlot, "dropped">;

def MoE_GluClampForm : MoE_I32Enum<"GluClampForm",
    "where a clamped SwiGLU clamps its gate", [
      I32EnumAttrCase<"gpt_oss", 0>,
      I32EnumAttrCase<"clamp_gate", 1>,
      I32EnumAttrCase<"clamp_silu", 2>]>;

def MoE_SharedCombine : MoE_I32Enum<"SharedCombine",
    "how the shared expert joins the routed sum", [
      I32EnumAttrCase<"sum", 0>,
      I32EnumAttrCase<"average", 1>]>;
def MoE_SharedCombineAttr : MoE_EnumAttr<MoE_SharedCombine, "shared_combine">;

//===----------------------------------------------------------------------===//
// Configuration attributes
//===----------------------------------------------------------------------===//

class MoE_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<MoE_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

// A double-precision float parameter printed in its shortest exact decimal
// form. Stored as an APFloat, which (unlike double) hashes.
// An empty `default` makes the parameter required.
class MoE_F64Parameter<string default, string desc> : APFloatParameter<desc> {
  let defaultValue = !if(!empty(default), "", "::llvm::APFloat(" # default # ")");
  let parser = "::mlir::moe::parseF64Parameter($_parser)";
  let printer = "::mlir::moe::printF64Parameter($_printer, $_self)";
}

class MoE_EnumParameter<EnumAttrInfo info, string default, string desc>
    : DefaultValuedParameter<info.cppNamespace # "::" # info.className,
                             info.cppNamespace # "::" # info.className
                               # "::" # default, desc>;

// A list of non-negative integers printed in square brackets, empty by
// default (and then omitted from the struct format).
class MoE_RankMapParameter<string desc> : OptionalArrayRefParameter<"int64_t", desc> {
  let parser = "::mlir::moe::parseRankMapParameter($_parser)";
  let printer = "::mlir::moe::printRankMapParameter($_printer, $_self)";
}

def MoE_RoutingAttr : MoE_Attr<"Routing", "routing"> {
  let summary = "token-choice routing: how each token picks k experts";
  let description = [{
    Configures `moe.route` (and a `moe.layer` using token-choice routing).
    With logits `l = x·Wgᵀ` (`[T,E]`):

    * `scoring`: `softmax` (over experts), `sigmoid` (per expert) or
      `sqrtsoftplus` (per expert, DeepSeek-V4: `s = sqrt(softplus(l))` with
      `softplus(l) = l` for `l > 20`, else `log1p(exp(l))`, PyTorch's
      threshold) scores `s`; or `sparsemixer` (PhiMoE, inference form; see
      below).
    * `select_on`: top-k selects on the `scores` (adding the correction bias
      when the op has one: `c = s + bias`) or on the raw `logits` (Llama 4).
    * `n_group`, `topk_group`, `group_score`: group-limited routing. Experts
      split into `n_group` equal groups; each group is scored by its `max`
      selection value (DeepSeek-V2) or the sum of its top two (`top2_sum`,
      DeepSeek-V3); only the `topk_group` best groups stay eligible.
      DeepSeek-V2's `group_limited_greedy` is device-limited routing with
      contiguous groups (its `n_group` devices hold `E / n_group` experts
      each, in order), which is why HF configs import to these parameters.
    * `rank_limit`, `expert_ranks`: rank-limited (device-limited) routing,
      DeepSeek-V2's M: each token's experts lie on at most `rank_limit`
      ranks. `expert_ranks[e]` is the rank holding expert `e` (one entry per
      expert; ranks `0..R-1`, each holding at least one expert, need not be
      contiguous: round-robin placement puts experts 0, R, 2R, ... on rank
      0). Each rank is scored by `group_score` over its experts' selection
      values; the `rank_limit` best ranks (ties to the lower rank) stay
      eligible and top-k runs over their experts. Group-limited routing is
      the case `expert_ranks[e] = e / (E / n_group)`; the two do not
      combine. Any `rank_limit` ranks must hold at least `top_k` experts,
      and with `top2_sum` every rank two. `rank_limit = R` keeps every rank
      and canonicalises away.
    * `weights`: the routing weights are the scores `s` at the selected
      experts (`scores`, never the biased `c`), or the softmax of the logits
      at the `k` selected experts (`softmax_selected`, GPT-OSS:
      `w_j = exp(l_{e_j}) / Σ_i exp(l_{e_i})`, which already sums to 1).
    * `renormalize` divides the weights by a norm of them: with
      `n = (Σ_j |w_j|^renorm_p)^(1/renorm_p)` (`renorm_p = 1`: their sum;
      DBRX's `moe_normalize_expert_weights` is `p`), the denominator is
      `n + renorm_epsilon` (default 1e-20; LFM2-MoE 1e-6, DBRX 0), or
      `max(n, renorm_epsilon)` with `renorm_clamp = true` (Ernie 4.5's
      `moe_norm_min`). Then the weights are multiplied by `scaling_factor`.
    * `sparsemixer` (PhiMoE's `sparsemixer`, `training = False`) selects the
      top-k of the logits (`select_on = logits`) one by one; the `j`-th
      selected expert `e_j` (the largest remaining logit `m_j`) weighs
      `w_j = 1 / Σ_e exp(l_e - m_j)` over the experts `e` not selected
      before it with `(m_j - l_e) / max(|l_e|, m_j) <= 2·jitter_eps`, the
      softmax at `e_j` of the remaining logits with the others masked. For
      `top_k = 2` that is PhiMoE's form exactly.

    Ties in top-k go to the lower expert id.

    Example (DeepSeek-V3):
    ```mlir
    #moe.routing<top_k = 8, scoring = sigmoid, renormalize = true,
                 scaling_factor = 2.5, n_group = 8, topk_group = 4,
                 group_score = top2_sum>
    ```

    Examples (GPT-OSS; DBRX; PhiMoE):
    ```mlir
    #moe.routing<top_k = 4, select_on = logits, weights = softmax_selected>
    #moe.routing<top_k = 4, renormalize = true, renorm_p = 1.0,
                 renorm_epsilon = 0.0>
    #moe.routing<top_k = 2, scoring = sparsemixer, select_on = logits,
                 jitter_eps = 0.01>
    ```

    Example (8 experts round-robin on 4 ranks, each token on at most 2):
    ```mlir
    #moe.routing<top_k = 3, rank_limit = 2,
                 expert_ranks = [0, 1, 2, 3, 0, 1, 2, 3]>
    ```
  }];
  let parameters = (ins
    "int64_t":$top_k,
    MoE_EnumParameter<MoE_ScoringFunc, "softmax", "score function">:$scoring,
    MoE_EnumParameter<MoE_SelectionSource, "scores", "what top-k ranks">:$select_on,
    DefaultValuedParameter<"bool", "false", "renormalise the selected weights">:$renormalize,
    MoE_F64Parameter<"1.0", "multiplies the final weights">:$scaling_factor,
    DefaultValuedParameter<"int64_t", "1", "expert groups">:$n_group,
    DefaultValuedParameter<"int64_t", "1", "groups kept">:$topk_group,
    MoE_EnumParameter<MoE_GroupScore, "max", "group (or rank) score rule">:$group_score,
    DefaultValuedParameter<"int64_t", "0", "ranks kept per token (0: no limit)">:$rank_limit,
    MoE_RankMapParameter<"the rank holding each expert">:$expert_ranks,
    MoE_EnumParameter<MoE_RoutingWeights, "scores", "what the weights are">:$weights,
    MoE_F64Parameter<"1.0", "the p of the renormalising p-norm">:$renorm_p,
    MoE_F64Parameter<"1e-20", "added to (or the floor of) the norm">:$renorm_epsilon,
    DefaultValuedParameter<"bool", "false", "max(norm, epsilon), not norm + epsilon">:$renorm_clamp,
    MoE_F64Parameter<"0.0", "sparsemixer's mask threshold">:$jitter_eps
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let builders = [
    // Routing without a rank limit, as importers build it.
    AttrBuilder<(ins "int64_t":$top_k, "ScoringFunc":$scoring,
                     "SelectionSource":$select_on, "bool":$renormalize,
                     "::llvm::APFloat":$scaling_factor, "int64_t":$n_group,
                     "int64_t":$topk_group, "GroupScore":$group_score), [{
      return $_get($_ctxt, top_k, scoring, select_on, renormalize,
                   scaling_factor, n_group, topk_group, group_score,
                   /*rank_limit=*/0, ::llvm::ArrayRef<int64_t>(),
                   RoutingWeights::scores, ::llvm::APFloat(1.0),
                   ::llvm::APFloat(1e-20), /*renorm_clamp=*/false,
                   ::llvm::APFloat(0.0));
    }]>
  ];
  let extraClassDeclaration = [{
    /// Whether experts are grouped (group-limited routing).
    bool isGrouped() const { return getNGroup() > 1; }
    /// Whether each token's experts are limited to `rank_limit` ranks.
    bool isRankLimited() const { return getRankLimit() > 0; }
    /// The number of ranks `expert_ranks` spreads the experts over (0
    /// without a map).
    int64_t getNumRanks() const;
    /// Checks the configuration against an expert count; reports through
    /// `emitError` with the attribute's parameter names.
    ::mlir::LogicalResult verifyForExperts(
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError,
        int64_t numExperts) const;
    /// Keeping every group (or every rank) is the same as not grouping:
    /// returns the ungrouped form of such an attribute, or null when the
    /// grouping or rank limit matters.
    RoutingAttr getUngroupedIfTrivial() const;
  }];
}

def MoE_RouterInputNormAttr : MoE_Attr<"RouterInputNorm", "router_input_norm"> {
  let summary = "an RMS normalisation of what the router sees (Gemma 4)";
  let description = [{
    On `moe.layer`, the router GEMM reads, instead of `x`,
    `r = x / sqrt(mean_h(x²) + epsilon) · scale · multiplier`: an RMSNorm
    without weight, then the layer's `router_input_scale` `[H]` (1 when
    absent) and the scalar `multiplier` (Gemma 4: `H^-0.5`). The experts
    and the shared expert still see `x`. All of it in f32.

    Example (Gemma 4, H = 2816):
    `#moe.router_input_norm<epsilon = 1.0e-06, multiplier = 0.018844459036110917>`
  }];
  let parameters = (ins
    MoE_F64Parameter<"", "added to the mean square">:$epsilon,
    MoE_F64Parameter<"1.0", "multiplies the normalised input">:$multiplier
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def MoE_ExpertChoiceAttr : MoE_Attr<"ExpertChoice", "expert_choice"> {
  let summary = "expert-choice routing: each expert picks its top tokens";
  let description = [{
    Each expert takes its top `C = min(T, ceil(capacity_factor · T / E))`
    tokens ranked by `softmax(l)` over experts, weighted by that probability.
    A token may be taken by 0..E experts. Ties go to the lower token index.

    Example: `#moe.expert_choice<capacity_factor = 2.0>`
  }];
  let parameters = (ins
    MoE_F64Parameter<"", "average experts per token">:$capacity_factor
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def MoE_SoftMoEAttr : MoE_Attr<"SoftMoE", "soft_moe"> {
  let summary = "Soft MoE routing: experts work on soft mixtures of all tokens";
  let description = [{
    Soft MoE (Puigcerver et al. 2023, "From Sparse to Soft Mixtures of
    Experts"). Each of the `E` experts has `S = slots_per_expert` slots; the
    router weight has `E·S` rows (Φᵀ, slot `j = e·S + s` is slot `s` of
    expert `e`), so the logits `L = x·Φ` are `[T,E·S]`:

    * dispatch weights `D = softmax(L)` over the tokens (each column), slot
      inputs `x̃ = Dᵀ·x` `[E·S,H]`;
    * expert `e` applies its FFN to its `S` slot inputs, giving `ỹ`;
    * combine weights `C = softmax(L)` over the slots (each row), output
      `y = C·ỹ`.

    Every slot mixes every token of the call, so a token's output depends
    on the whole batch (as with expert choice); sums run in a fixed order,
    so it is deterministic. The paper's l2 normalisation of `x` and `Φ` is
    not part of it (a checkpoint that uses it would fold it elsewhere).

    Example: `#moe.soft_moe<slots_per_expert = 2>`
  }];
  let parameters = (ins "int64_t":$slots_per_expert);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def MoE_CapacityAttr : MoE_Attr<"Capacity", "capacity"> {
  let summary = "a per-expert capacity limit for token-choice dispatch";
  let description = [{
    Each expert keeps at most `C` of its slots, with `C` given by exactly one
    of (for `T` tokens, `K` experts per token, `E` experts):

    * `factor`: `C = ceil(factor · T · K / E)`;
    * `count`: `C = count`, an absolute number (Switch Transformers'
      `expert_capacity`);
    * `token_fraction`: `C = ceil(token_fraction · T)` (NLLB-MoE's
      `moe_eval_capacity_token_fraction`).

    The input `[T,H]` of one call is one sequence: Switch counts capacity
    per sequence, so a batch of sequences is one call each.

    `drop_order` picks which slots go past `C`: the latest in token order
    (`token_order`), those of lowest routing weight (`lowest_weight`, ties
    drop the later token), or by choice then token (`choice_order`, GShard's
    and NLLB's priority: every token's first choice takes its place in an
    expert's queue before any second choice, each choice in token order).
    `dropped` says what a dropped slot contributes: nothing (`zero`), or its
    routing weight times the token's input (`input`, as if the expert were
    the identity).

    After dropping, `renormalize = true` (NLLB) divides each token's kept
    weights by their sum, clamped below at the f32 epsilon
    (`w_i = w_i·m_i / max(Σ_j w_j·m_j, 2^-23)`, `m` the kept mask; a dropped
    slot weighs 0); it needs `dropped = zero`. `renormalize` in
    `#moe.routing` happens before dropping and is a different rule.
    `output_scale` then multiplies every row weight: NLLB's eval-time
    `1 − moe_token_dropout`, which scales the routed output (not a shared
    expert's).

    With a capacity a token's output may depend on the other tokens of the
    call (which of them came first, or weigh more); that is the semantics.
    It never depends on the thread count. Without a capacity attribute
    dispatch is dropless and never loses a slot.

    Examples (GShard-style; Switch Transformers; NLLB-MoE at eval):
    ```mlir
    #moe.capacity<factor = 1.25, drop_order = lowest_weight>
    #moe.capacity<count = 64>
    #moe.capacity<drop_order = choice_order, token_fraction = 1.0,
                  renormalize = true, output_scale = 0.8>
    ```
  }];
  let parameters = (ins
    MoE_F64Parameter<"0.0", "capacity factor (0: not given)">:$factor,
    MoE_EnumParameter<MoE_DropOrder, "token_order", "which slots drop">:$drop_order,
    MoE_EnumParameter<MoE_DroppedSlot, "zero", "what a dropped slot adds">:$dropped,
    DefaultValuedParameter<"int64_t", "0", "slots per expert (0: not given)">:$count,
    MoE_F64Parameter<"0.0", "capacity per token (0: not given)">:$token_fraction,
    DefaultValuedParameter<"bool", "false", "renormalise the kept weights">:$renormalize,
    MoE_F64Parameter<"1.0", "multiplies every row weight">:$output_scale
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True when the attribute changes nothing with `topK` of `numExperts`
    /// experts: no weight rule, and no expert can ever exceed C (C >= T for
    /// every T, since a token's experts are distinct): factor * K >= E or
    /// token_fraction >= 1. A count binds for a long enough call.
    bool neverDrops(int64_t topK, int64_t numExperts) const {
      if (getRenormalize() || !getOutputScale().isExactlyValue(1.0))
        return false;
      if (getCount() > 0)
        return false;
      if (!getTokenFraction().isZero())
        return getTokenFraction().convertToDouble() >= 1.0;
      return getFactor().convertToDouble() * static_cast<double>(topK) >=
             static_cast<double>(numExperts);
    }
  }];
}

def MoE_WeightLayoutAttr : MoE_Attr<"WeightLayout", "weight_layout"> {
  let summary = "how a kernel-level op holds a weight: checkpoint rows or packed panels";
  let description = [{
    The layout of the weight operands of `moe.gather_gate_up` and
    `moe.down_scatter_add`, for a weight `W` of `N` output rows over depth
    `K` (one expert's; a grouped op stacks `E` of them first):

    * `rows`: the checkpoint's own `[N, K]` (`nn.Linear`'s `[out, in]`);
    * `panels = P`: `[ceil(N/P), K, P]`, element `[q, p, c] = W[q·P + c, p]`
      (zero past `N`), as `linalg.pack inner_dims_pos = [0]
      inner_tiles = [P]` gives: a step along `K` reads `P` consecutive
      output columns, which is what register tiles and tensor-core loads
      stream.

    The element type is the weight operand's own (f32, bf16 or f16);
    activations and accumulation are f32 whatever it is. Targets choose a
    layout (the CPU packs in panels of `MOE_UKERNEL_PANEL`); the ops'
    semantics do not depend on it.

    Examples: `#moe.weight_layout<rows>`, `#moe.weight_layout<panels = 32>`
  }];
  let parameters = (ins "int64_t":$panel_width);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The checkpoint's row-major layout.
    static WeightLayoutAttr getRows(::mlir::MLIRContext *context) {
      return get(context, 0);
    }
    bool isPanels() const { return getPanelWidth() > 0; }
    /// The rank of one expert's weight in this layout (2 or 3).
    int64_t getWeightRank() const { return isPanels() ? 3 : 2; }
    /// The units a grouped op's column dimension is tiled in: output
    /// columns, or panels of them.
    int64_t getColumnsPerUnit() const {
      return isPanels() ? getPanelWidth() : 1;
    }
  }];
}

def MoE_PlacementAttr : MoE_Attr<"Placement", "placement"> {
  let summary = "which experts each rank of expert parallelism holds";
  let description = [{
    `N = table size / slots` ranks each hold up to `slots` experts (`G`);
    `table[r·G + s]` is the expert in rank `r`'s slot `s` (its physical
    expert `r·G + s`), or -1 for an empty slot. Every expert of
    `[0, experts)` is on at least one rank and at most once per rank; an
    expert on several ranks is replicated, and the tokens routed to it are
    spread over its replicas in rank order by `(source rank + token) mod
    replicas` (moe/Parallel/Placement.h keeps that rule).

    Example (10 experts, contiguous on 4 ranks):
    `#moe.placement<experts = 10, slots = 3,
                    table = [0, 1, 2, 3, 4, 5, 6, 7, -1, 8, 9, -1]>`
  }];
  let parameters = (ins "int64_t":$experts, "int64_t":$slots,
                        ArrayRefParameter<"int64_t">:$table);
  let assemblyFormat = [{
    `<` `experts` `=` $experts `,` `slots` `=` $slots `,` `table` `=` `[`
    $table `]` `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// N, the ranks of expert parallelism.
    int64_t getRanks() const {
      return static_cast<int64_t>(getTable().size()) / getSlots();
    }
  }];
}

//===----------------------------------------------------------------------===//
// Expert FFN parameters
//===----------------------------------------------------------------------===//

def MoE_GluClampAttr : MoE_Attr<"GluClamp", "glu_clamp"> {
  let summary = "the form, slope and clamp of a clamped SwiGLU";
  let description = [{
    The parameters of activation `clamped_swiglu`, on `g = gate·x`,
    `u = up·x`, with `u' = clamp(u, -limit, limit)` in every form:

    | `form` | `act(g, u)` | models |
    | --- | --- | --- |
    | `gpt_oss` (default) | `(u' + 1) · g' · sigmoid(alpha · g')`, `g' = min(g, limit)` | GPT-OSS (`GptOssExperts._apply_gate`) |
    | `clamp_gate` | `silu(min(g, limit)) · u'` | GLM-5, Hy-V4 |
    | `clamp_silu` | `min(silu(g), limit) · u'` | Step-3.7 |

    `alpha` is GPT-OSS's slope (default 1.702) and only form `gpt_oss`
    takes another; `limit` is the config's `swiglu_limit` (7.0 in
    GPT-OSS). Both are positive and finite; the compiled code uses them as
    f32.

    Examples: `#moe.glu_clamp<alpha = 1.702, limit = 7.0>`,
    `#moe.glu_clamp<limit = 10.0, form = clamp_gate>`
  }];
  let parameters = (ins
    MoE_F64Parameter<"1.702", "sigmoid slope">:$alpha,
    MoE_F64Parameter<"", "clamp bound">:$limit,
    MoE_EnumParameter<MoE_GluClampForm, "gpt_oss", "where the gate is clamped">:$form
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // MOE_DIALECT_MOE_IR_MOEATTRS_TD
