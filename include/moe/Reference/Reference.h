//===- Reference.h - plain C++ MoE semantics (test oracle) ------*- C++ -*-===//
//
// A direct, unoptimised implementation of every routing variant, capacity and
// drop policy, activation and shared expert of DESIGN.md §4. Execution tests
// compare compiled code against it; it is never linked into a compiled
// library. Dot products accumulate in double; routing math is float32.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_REFERENCE_REFERENCE_H
#define MOE_REFERENCE_REFERENCE_H

#include <cstdint>
#include <optional>
#include <vector>

namespace moe::reference {

enum class Scoring { Softmax, Sigmoid, SqrtSoftplus, SparseMixer };
enum class SelectOn { Scores, Logits };
enum class GroupScore { Max, Top2Sum };
enum class RoutingWeights { Scores, SoftmaxSelected };
enum class Activation {
  SwiGLU,
  GeGLU,
  GELU,
  ReLU,
  ReLU2,         // max(u, 0)², ungated
  GELUTanh,      // the tanh approximation, ungated
  GeGLUTanh,     // gelu_tanh(g) · u
  SiLU,          // u · sigmoid(u), ungated
  ClampedSwiGLU, // GPT-OSS: (clamp(u, ±limit) + 1) · g'·sigmoid(α·g'), gated
};

/// Where ClampedSwiGLU clamps, as `#moe.glu_clamp`'s form; every form takes
/// u' = clamp(u, ±limit).
enum class GluClampForm {
  GptOss,    // (u' + 1) · g' · sigmoid(α · g'), g' = min(g, limit)
  ClampGate, // GLM-5, Hy-V4: silu(min(g, limit)) · u'
  ClampSilu, // Step-3.7: min(silu(g), limit) · u'
};

/// The parameters of ClampedSwiGLU, as `#moe.glu_clamp`.
struct GluClamp {
  float alpha = 1.702f;
  float limit = 7.0f;
  GluClampForm form = GluClampForm::GptOss;
};

/// Whether the activation reads a gate projection.
bool isGated(Activation activation);
enum class DropOrder { TokenOrder, LowestWeight, ChoiceOrder };
enum class DroppedSlot { Zero, Input };

/// Token-choice routing, as `#moe.routing`.
struct RoutingConfig {
  int64_t topK = 1;
  Scoring scoring = Scoring::Softmax;
  SelectOn selectOn = SelectOn::Scores;
  bool renormalize = false;
  float scalingFactor = 1.0f;
  int64_t nGroup = 1;
  int64_t topkGroup = 1;
  GroupScore groupScore = GroupScore::Max;
  /// Rank-limited routing: each token's experts on at most `rankLimit`
  /// ranks (0: no limit), expert e on rank `expertRanks[e]`.
  int64_t rankLimit = 0;
  std::vector<int64_t> expertRanks;
  /// The scores at the selected experts, or the softmax of their logits.
  RoutingWeights weights = RoutingWeights::Scores;
  /// Renormalisation divides by `pnorm + renormEpsilon`, or by
  /// `max(pnorm, renormEpsilon)` with `renormClamp`.
  double renormP = 1.0;
  double renormEpsilon = 1e-20;
  bool renormClamp = false;
  /// Sparsemixer's mask threshold.
  double jitterEps = 0.0;
};

/// A per-expert capacity, as `#moe.capacity`: C from `count` when it is
/// positive, else from `tokenFraction` when that is, else from `factor`.
struct CapacityConfig {
  double factor = 1.0;
  DropOrder dropOrder = DropOrder::TokenOrder;
  DroppedSlot dropped = DroppedSlot::Zero;
  int64_t count = 0;
  double tokenFraction = 0.0;
  /// Each token's kept weights over max(their sum, f32 epsilon).
  bool renormalize = false;
  /// Multiplies every row weight (after renormalisation).
  double outputScale = 1.0;
};

/// C for `numTokens` tokens with `topK` slots each over `numExperts`.
int64_t capacityLimit(const CapacityConfig &capacity, int64_t numTokens,
                      int64_t topK, int64_t numExperts);

/// Per-token routing decisions, `[T,K]` row-major, in decreasing order of
/// the selection value.
struct TokenRouting {
  int64_t numTokens = 0;
  int64_t topK = 0;
  std::vector<int32_t> experts;
  std::vector<float> weights;
};

/// An expert-major row bundle, as moe.dispatch and moe.expert_choice
/// produce it (the rows themselves are `input[rowToken[r]]`).
struct RowBundle {
  std::vector<int32_t> rowToken;
  std::vector<float> rowWeight;
  std::vector<int32_t> expertOffsets; // E+1 prefix sums of kept rows
};

/// Routing by token id (moe.route's `table`/`token_ids`): token t's
/// experts are row `tokenIds[t]` of `table` `[rows, K]`. Ids must lie in
/// [0, rows) and entries in [0, E) (what the runtime enforces).
struct ExpertTable {
  const int32_t *table = nullptr;
  int64_t rows = 0;
  const int32_t *tokenIds = nullptr;
};

/// `logits` is `[T,E]`; `bias` (the score-correction bias) and
/// `expertScale` (multiplying each final weight by its expert's entry) are
/// `[E]` or null. `config` is one the `#moe.routing` verifiers accept for
/// `numExperts` experts. With `table`, its rows replace the selection and
/// the weights are the scores there, renormalised and scaled as `config`
/// says.
TokenRouting routeTokens(const float *logits, int64_t numTokens,
                         int64_t numExperts, const RoutingConfig &config,
                         const float *bias = nullptr,
                         const float *expertScale = nullptr,
                         const ExpertTable *table = nullptr);

/// Dropless without `capacity`; dropped rows follow `expertOffsets[E]`.
RowBundle dispatch(const TokenRouting &routing, int64_t numExperts,
                   const std::optional<CapacityConfig> &capacity);

/// Tokens per expert under expert choice: `min(T, ceil(cf · T / E))`.
int64_t expertChoiceCapacity(int64_t numTokens, int64_t numExperts,
                             double capacityFactor);

/// Each expert takes its top-C tokens by softmax probability (ties to the
/// lower token), in decreasing probability.
RowBundle expertChoice(const float *logits, int64_t numTokens,
                       int64_t numExperts, double capacityFactor);

/// Checkpoint-layout FFN weights: `gate`/`up` `[(E,) F, H]`, `down`
/// `[(E,) H, F]`; `gate` is null for ungated activations. The linears'
/// biases, each null when absent: `gateBias`/`upBias` `[(E,) F]`,
/// `downBias` `[(E,) H]`.
struct FfnWeights {
  const float *gate = nullptr;
  const float *up = nullptr;
  const float *down = nullptr;
  int64_t ffnSize = 0;
  const float *gateBias = nullptr;
  const float *upBias = nullptr;
  const float *downBias = nullptr;
};

/// Expert `e`'s FFN of stacked weights (and biases) `[E, ...]`.
FfnWeights expertFfn(const FfnWeights &stacked, int64_t e, int64_t hidden);

/// One FFN on one row `x` `[H]` into `out` `[H]`:
/// `act(gate·x + b_g, up·x + b_u)·downᵀ + b_d`; `clamp` is read by
/// ClampedSwiGLU only.
void applyFfn(const FfnWeights &weights, Activation activation, int64_t hidden,
              const float *x, float *out, const GluClamp &clamp = {});

/// The router input's RMS normalisation, as `#moe.router_input_norm`.
struct RouterInputNorm {
  double epsilon = 1e-6;
  double multiplier = 1.0;
};

/// The whole-layer configuration and weights, as `moe.layer` holds them.
struct LayerConfig {
  int64_t hidden = 0;
  int64_t numExperts = 0;
  Activation activation = Activation::SwiGLU;
  GluClamp gluClamp; // ClampedSwiGLU's parameters
  /// The shared expert's own activation and its parameters; unset, it takes
  /// `activation` and `gluClamp` (moe.layer's `shared_activation`).
  std::optional<Activation> sharedActivation;
  GluClamp sharedGluClamp;
  /// The output is (routed + shared) / 2 instead of the sum (Cohere2-MoE).
  bool sharedAverage = false;
  /// Token choice when set, expert choice (with `expertChoiceFactor`) when
  /// not; Soft MoE with `softMoESlots` slots per expert when that is > 0.
  std::optional<RoutingConfig> routing;
  double expertChoiceFactor = 1.0;
  int64_t softMoESlots = 0;
  std::optional<CapacityConfig> capacity;
  bool scaleExpertInput = false;
  std::optional<RouterInputNorm> routerInputNorm;
  /// The epsilon of the norms around the FFNs (LayerWeights' `*Norm`).
  double normEpsilon = 1e-6;
  /// Identity experts routed as ids numExperts..numExperts+zeroExperts-1
  /// (LongCat-Flash): such a slot adds its weight times the token's input.
  /// Token choice without capacity; the router has numExperts+zeroExperts
  /// rows.
  int64_t zeroExperts = 0;
};

struct LayerWeights {
  const float *router = nullptr;            // [E+Z,H] (Soft MoE: [E·S,H])
  const float *correctionBias = nullptr;    // [E+Z] or null
  const float *routerBias = nullptr;        // [E+Z] or null
  const float *routerInputScale = nullptr;  // [H] or null (norm's scale)
  const float *expertScale = nullptr;       // [E+Z] or null
  FfnWeights experts;                       // stacked [E,...]
  std::optional<FfnWeights> shared;         // dense
  const float *sharedSigmoidGate = nullptr; // [1,H] or null
  std::optional<ExpertTable> expertTable;   // routing by token id
  const float *outputBias = nullptr;        // [H] or null, added per token
  /// RMSNorm weights [H] around the FFNs (Gemma 4), each null when absent:
  /// the experts' input, the routed sum, the shared expert's input and
  /// output, and the sum of routed and shared.
  const float *expertInputNorm = nullptr;
  const float *expertOutputNorm = nullptr;
  const float *sharedInputNorm = nullptr;
  const float *sharedOutputNorm = nullptr;
  const float *outputNorm = nullptr;
};

/// Soft MoE's routed output `[T,H]` (shared expert excluded) for input `x`
/// `[T,H]` and its logits `[T,E·S]`: slot inputs `Dᵀ·x` with `D` the
/// softmax over tokens of each column, expert e's FFN on slots
/// [e·S, (e+1)·S), outputs mixed by the softmax over slots of each row.
std::vector<float> softMoE(const float *x, const float *logits,
                           int64_t numTokens, int64_t hidden,
                           int64_t numExperts, int64_t slotsPerExpert,
                           const FfnWeights &experts, Activation activation,
                           const GluClamp &clamp = {});

/// The layer's output `[T,H]` for input `x` `[T,H]`.
std::vector<float> runLayer(const LayerConfig &config,
                            const LayerWeights &weights, const float *x,
                            int64_t numTokens);

/// `x / sqrt(mean(x²) + epsilon) · scale · multiplier` per row of `x`
/// `[T,H]`; `scale` `[H]` may be null (ones).
std::vector<float> normaliseRouterInput(const float *x, int64_t numTokens,
                                        int64_t hidden,
                                        const RouterInputNorm &norm,
                                        const float *scale);

/// `x·Wᵀ` for `x` `[T,H]` and `w` `[E,H]`, as float.
std::vector<float> routerLogits(const float *x, const float *w,
                                int64_t numTokens, int64_t hidden,
                                int64_t numExperts);

/// As moe.routing_stats; `weightHistogram` has `weightBins` bins over
/// [0, weightRange] of `routing.weights`.
struct RoutingStats {
  std::vector<int64_t> load;
  float entropy = 0.0f;
  float maxShare = 0.0f;
  float confidence = 0.0f;
  float auxLoss = 0.0f;
  std::vector<int64_t> weightHistogram;
};
RoutingStats routingStats(const float *logits, const TokenRouting &routing,
                          int64_t numExperts, Scoring scoring,
                          double weightRange = 1.0, int64_t weightBins = 20);

} // namespace moe::reference

#endif // MOE_REFERENCE_REFERENCE_H
