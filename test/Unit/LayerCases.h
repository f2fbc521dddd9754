//===- LayerCases.h - test layers shared by the execution tests -*- C++ -*-===//
//
// A test layer in one place: its configuration (LayerSpec), the moe.layer
// source it compiles from, seeded random weights in argument order with
// checkpoint names, and the matching lib/Reference configuration. The JIT
// tests and the compiled-library tests both draw from it.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TEST_UNIT_LAYERCASES_H
#define MOE_TEST_UNIT_LAYERCASES_H

#include "moe/Reference/Reference.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace moe::test {

struct LayerSpec {
  int64_t hidden = 16, ffn = 12, numExperts = 8, sharedFfn = 0;
  reference::Activation activation = reference::Activation::SwiGLU;
  /// ClampedSwiGLU's `#moe.glu_clamp` (written only for that activation).
  reference::GluClamp gluClamp;
  /// The shared expert's own activation (`shared_activation`) and its
  /// `shared_glu_clamp`; unset: the routed experts'.
  std::optional<reference::Activation> sharedActivation;
  reference::GluClamp sharedGluClamp;
  /// `shared_combine = average`: (routed + shared) / 2.
  bool sharedAverage = false;
  std::optional<reference::RoutingConfig> routing = reference::RoutingConfig{2};
  double expertChoiceFactor = 1.0;
  /// Soft MoE with this many slots per expert when > 0 (routing unset).
  int64_t softMoESlots = 0;
  std::optional<reference::CapacityConfig> capacity;
  bool bias = false, sharedSigmoidGate = false, scaleExpertInput = false;
  /// The router's own bias `[E]` and per-expert weight scale `[E]`.
  bool routerBias = false, expertScale = false;
  /// The router input's RMS normalisation, with an `[H]` scale operand.
  std::optional<reference::RouterInputNorm> routerInputNorm;
  /// Added to router row 0 so that every token picks expert 0.
  float collapseBoost = 0.0f;
  /// Routing by token id when positive: a random expert table of this many
  /// rows (token ids in [0, tableRows)).
  int64_t tableRows = 0;
  /// The expert linears' biases (GPT-OSS; the gate's only when gated) and
  /// the block's output bias `[H]` (JetMoE).
  bool expertBiases = false, outputBias = false;
  /// moe.layer's norms (Gemma 4), each a weight [H] named
  /// `mlp.<name>_norm.weight`, with epsilon `normEpsilon`: a subset of
  /// kLayerNormNames, in that order.
  std::vector<std::string> norms;
  double normEpsilon = 1e-6;
  /// Identity experts after the numExperts real ones (`zero_experts`): the
  /// router, correction bias, router bias and expert scale have
  /// numExperts + zeroExperts rows.
  int64_t zeroExperts = 0;
};

/// moe.layer's norms in operand order.
inline constexpr const char *kLayerNormNames[] = {
    "expert_input", "expert_output", "shared_input", "shared_output",
    "output"};

/// One weight argument: its checkpoint name ("{e}" for per-expert tensors),
/// its full (stacked) shape and values.
struct WeightArg {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
  bool stacked() const { return name.find("{e}") != std::string::npos; }
};

/// A layer ready to run: weights in the entry's argument order (after the
/// input).
struct TestLayer {
  LayerSpec spec;
  std::vector<WeightArg> weights;
  /// Routing by token id: the table `[tableRows, K]`, each row K distinct
  /// experts; the entry takes `%ids: tensor<?xi32>` after the input and
  /// the table (checkpoint name kExpertTableName) after the weights.
  std::vector<int32_t> expertTable;

  /// The `func.func @layer` holding the moe.layer, weights named by
  /// `moe.weight` argument attributes.
  std::string source() const;
  reference::LayerConfig referenceConfig() const;
  /// With routing by token id, the table without ids: set
  /// `expertTable->tokenIds` before running.
  reference::LayerWeights referenceWeights() const;
};

/// The checkpoint name of a test layer's expert table.
inline constexpr const char *kExpertTableName = "mlp.gate.tid2eid";

/// `count` token ids in [0, rows), uniform.
std::vector<int32_t> randomTokenIds(std::mt19937 &rng, int64_t count,
                                    int64_t rows);

TestLayer makeTestLayer(const LayerSpec &spec, uint32_t seed = 1234);

std::vector<float> randomTensor(std::mt19937 &rng, size_t n, float scale);

/// max |expected - actual| / max |expected|: the normwise relative error.
float normwiseError(const std::vector<float> &expected,
                    const std::vector<float> &actual);

/// Softmax top-k routing, renormalised or not.
reference::RoutingConfig softmaxTopK(int64_t k, bool renormalize);
/// DeepSeek-V3 noaux_tc: sigmoid, top-4 of 16 experts in 4 groups keeping 2
/// (group score: top-2 sum), renormalised, × 2.5.
reference::RoutingConfig deepSeekV3Routing();
/// Llama 4: top-1 on the logits, sigmoid weight.
reference::RoutingConfig llama4Routing();
/// The DeepSeek-V3 test layer: 16 experts, correction bias, shared expert.
LayerSpec deepSeekV3Spec();
/// The Llama 4 test layer: weights on the expert input, shared expert.
LayerSpec llama4Spec();

} // namespace moe::test

#endif // MOE_TEST_UNIT_LAYERCASES_H
