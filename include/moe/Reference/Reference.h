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

enum class Scoring { Softmax, Sigmoid };
enum class SelectOn { Scores, Logits };
enum class GroupScore { Max, Top2Sum };
enum class Activation { SwiGLU, GeGLU, GELU, ReLU };
enum class DropOrder { TokenOrder, LowestWeight };
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
};

/// A per-expert capacity, as `#moe.capacity`.
struct CapacityConfig {
  double factor = 1.0;
  DropOrder dropOrder = DropOrder::TokenOrder;
  DroppedSlot dropped = DroppedSlot::Zero;
};

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

/// `logits` is `[T,E]`; `bias` is `[E]` or null. `config` is one the
/// `#moe.routing` verifiers accept for `numExperts` experts.
TokenRouting routeTokens(const float *logits, int64_t numTokens,
                         int64_t numExperts, const RoutingConfig &config,
                         const float *bias = nullptr);

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
/// `[(E,) H, F]`; `gate` is null for ungated activations.
struct FfnWeights {
  const float *gate = nullptr;
  const float *up = nullptr;
  const float *down = nullptr;
  int64_t ffnSize = 0;
};

/// One FFN on one row `x` `[H]` into `out` `[H]`.
void applyFfn(const FfnWeights &weights, Activation activation, int64_t hidden,
              const float *x, float *out);

/// The whole-layer configuration and weights, as `moe.layer` holds them.
struct LayerConfig {
  int64_t hidden = 0;
  int64_t numExperts = 0;
  Activation activation = Activation::SwiGLU;
  /// Token choice when set, expert choice (with `expertChoiceFactor`) when
  /// not; Soft MoE with `softMoESlots` slots per expert when that is > 0.
  std::optional<RoutingConfig> routing;
  double expertChoiceFactor = 1.0;
  int64_t softMoESlots = 0;
  std::optional<CapacityConfig> capacity;
  bool scaleExpertInput = false;
};

struct LayerWeights {
  const float *router = nullptr;            // [E,H] (Soft MoE: [E·S,H])
  const float *correctionBias = nullptr;    // [E] or null
  FfnWeights experts;                       // stacked [E,...]
  std::optional<FfnWeights> shared;         // dense
  const float *sharedSigmoidGate = nullptr; // [1,H] or null
};

/// Soft MoE's routed output `[T,H]` (shared expert excluded) for input `x`
/// `[T,H]` and its logits `[T,E·S]`: slot inputs `Dᵀ·x` with `D` the
/// softmax over tokens of each column, expert e's FFN on slots
/// [e·S, (e+1)·S), outputs mixed by the softmax over slots of each row.
std::vector<float> softMoE(const float *x, const float *logits,
                           int64_t numTokens, int64_t hidden,
                           int64_t numExperts, int64_t slotsPerExpert,
                           const FfnWeights &experts, Activation activation);

/// The layer's output `[T,H]` for input `x` `[T,H]`.
std::vector<float> runLayer(const LayerConfig &config,
                            const LayerWeights &weights, const float *x,
                            int64_t numTokens);

/// `x·Wᵀ` for `x` `[T,H]` and `w` `[E,H]`, as float.
std::vector<float> routerLogits(const float *x, const float *w,
                                int64_t numTokens, int64_t hidden,
                                int64_t numExperts);

/// As moe.routing_stats.
struct RoutingStats {
  std::vector<int64_t> load;
  float entropy = 0.0f;
  float maxShare = 0.0f;
  float confidence = 0.0f;
  float auxLoss = 0.0f;
};
RoutingStats routingStats(const float *logits, const TokenRouting &routing,
                          int64_t numExperts, Scoring scoring);

} // namespace moe::reference

#endif // MOE_REFERENCE_REFERENCE_H
