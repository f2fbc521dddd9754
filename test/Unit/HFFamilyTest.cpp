//===- HFFamilyTest.cpp - the Hugging Face user path per family -----------===//
//
// config.json → moe-translate → moe-compile → weights under the family's
// checkpoint names (in the family's own layout) → runtime loader, compared
// with lib/Reference configured by hand from each family's published
// modeling code (not from the importer), at odd token counts; the
// checkpoint stored as the config says (bfloat16) and the library keeping
// bf16 panels (--weight-type=auto). Tolerance:
// normwise relative error ≤ 1e-5.
//
//===----------------------------------------------------------------------===//

#include "LayerCases.h"

#include "moe/Runtime/Loader.h"
#include "moe/Support/SafeTensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <numeric>
#include <unistd.h>

using namespace moe;
using namespace moe::test;
namespace reference = moe::reference;

namespace {
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
using TensorMap = std::map<std::string, Tensor>;

std::string scratch(const std::string &name) {
  return ::testing::TempDir() + "moe-hf-" + std::to_string(getpid()) + "-" +
         name;
}

void run(const std::string &command) {
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

/// Builds the reference weights from checkpoint tensors in the family's
/// layout; the second argument keeps converted copies alive.
using WeightsFn = std::function<reference::LayerWeights(
    const TensorMap &, std::vector<std::vector<float>> &)>;

/// What the family's modeling code computes, written out by hand.
struct Family {
  std::string configDir;
  int64_t layer;
  reference::LayerConfig config;
  WeightsFn weights;
  /// When positive, the scale of the random 1-D tensors (biases) instead
  /// of 1/sqrt(size): a correction bias on softmax probabilities
  /// (LongCat-Flash) would otherwise decide every token's selection alike.
  float vectorScale = 0.0f;
};

const float *get(const TensorMap &tensors, const std::string &name) {
  auto it = tensors.find(name);
  EXPECT_NE(it, tensors.end()) << "no checkpoint tensor " << name;
  return it == tensors.end() ? nullptr : it->second.values.data();
}

/// Stacks tensors `pattern` with "{e}" replaced by 0..E-1.
const float *stack(const TensorMap &tensors, std::string pattern, int64_t E,
                   std::vector<std::vector<float>> &owned) {
  std::vector<float> all;
  size_t at = pattern.find("{e}");
  for (int64_t e = 0; e < E; ++e) {
    std::string name = pattern;
    name.replace(at, 3, std::to_string(e));
    const Tensor &t = tensors.at(name);
    all.insert(all.end(), t.values.begin(), t.values.end());
  }
  owned.push_back(std::move(all));
  return owned.back().data();
}

reference::LayerConfig config(int64_t H, int64_t E, reference::RoutingConfig r,
                              bool scaleInput = false) {
  reference::LayerConfig c;
  c.hidden = H;
  c.numExperts = E;
  c.routing = r;
  c.scaleExpertInput = scaleInput;
  return c;
}

/// The shared expert `<prefix><shared>{gate,up,down}_proj.weight` of width
/// `sharedF` (none when 0), σ-gated by `<prefix>shared_expert_gate.weight`
/// when `sigmoidGate`.
void addShared(reference::LayerWeights &w, const TensorMap &t,
               const std::string &prefix, const std::string &shared,
               int64_t sharedF, bool sigmoidGate) {
  if (sharedF)
    w.shared = reference::FfnWeights{
        get(t, prefix + shared + "gate_proj.weight"),
        get(t, prefix + shared + "up_proj.weight"),
        get(t, prefix + shared + "down_proj.weight"), sharedF};
  if (sigmoidGate)
    w.sharedSigmoidGate = get(t, prefix + "shared_expert_gate.weight");
}

/// Experts named `<prefix>experts.{e}.<gate|up|down>` (or w1/w3/w2); `bias`
/// names the correction bias below `prefix` (none when empty).
WeightsFn perExpertWeights(std::string prefix, std::string router, int64_t E,
                           int64_t F, std::string gate, std::string up,
                           std::string down, std::string shared = "",
                           int64_t sharedF = 0, bool sigmoidGate = false,
                           std::string bias = "") {
  return [=](const TensorMap &t, std::vector<std::vector<float>> &owned) {
    reference::LayerWeights w;
    w.router = get(t, prefix + router);
    w.correctionBias = bias.empty() ? nullptr : get(t, prefix + bias);
    w.experts = {stack(t, prefix + "experts.{e}." + gate, E, owned),
                 stack(t, prefix + "experts.{e}." + up, E, owned),
                 stack(t, prefix + "experts.{e}." + down, E, owned), F};
    addShared(w, t, prefix, shared, sharedF, sigmoidGate);
    return w;
  };
}

/// The Qwen/DeepSeek per-expert names (gate_proj/up_proj/down_proj).
WeightsFn projWeights(std::string prefix, int64_t E, int64_t F,
                      std::string shared = "", int64_t sharedF = 0,
                      bool sigmoidGate = false, std::string bias = "",
                      std::string router = "gate.weight") {
  return perExpertWeights(prefix, router, E, F, "gate_proj.weight",
                          "up_proj.weight", "down_proj.weight", shared, sharedF,
                          sigmoidGate, bias);
}

/// Gate and up of each expert from a fused `[E,2F,H]` tensor (gate rows
/// first), into the reference's `[E,F,H]` stacks.
std::pair<const float *, const float *>
splitGateUpRows(const float *gateUp, int64_t E, int64_t F, int64_t H,
                std::vector<std::vector<float>> &owned) {
  std::vector<float> g(E * F * H), u(E * F * H);
  for (int64_t e = 0; e < E; ++e)
    for (int64_t i = 0; i < F * H; ++i) {
      g[e * F * H + i] = gateUp[e * 2 * F * H + i];
      u[e * F * H + i] = gateUp[e * 2 * F * H + F * H + i];
    }
  owned.push_back(std::move(g));
  owned.push_back(std::move(u));
  return {owned[owned.size() - 2].data(), owned.back().data()};
}

/// Experts stored as the modeling code multiplies them (x · W):
/// gate_up `[E,H,2F]` (gate columns first) and down `[E,F,H]`, into the
/// reference's `[out, in]` stacks.
reference::FfnWeights fromInputMajor(const float *gateUp, const float *down,
                                     int64_t E, int64_t F, int64_t H,
                                     std::vector<std::vector<float>> &owned) {
  std::vector<float> g(E * F * H), u(E * F * H), d(E * H * F);
  for (int64_t e = 0; e < E; ++e)
    for (int64_t f = 0; f < F; ++f)
      for (int64_t h = 0; h < H; ++h) {
        g[(e * F + f) * H + h] = gateUp[(e * H + h) * 2 * F + f];
        u[(e * F + f) * H + h] = gateUp[(e * H + h) * 2 * F + F + f];
        d[(e * H + h) * F + f] = down[(e * F + f) * H + h];
      }
  owned.push_back(std::move(g));
  owned.push_back(std::move(u));
  owned.push_back(std::move(d));
  return {owned[owned.size() - 3].data(), owned[owned.size() - 2].data(),
          owned.back().data(), F};
}

void checkFamily(const Family &family, bool sharded = false) {
  std::string name = family.configDir + "-" + std::to_string(family.layer);
  std::string mlir = scratch(name + ".mlir"), lib = scratch(name + ".so");
  run(std::string(MOEC_MOE_TRANSLATE) + " --import-hf-config " +
      MOEC_SOURCE_DIR "/examples/configs/" + family.configDir +
      "/config.json --layer=" + std::to_string(family.layer) + " -o " + mlir);
  run(std::string(MOEC_MOE_COMPILE) + " " + mlir + " --target=cpu -o " + lib);

  std::string error;
  auto library = runtime::Library::open(lib, error);
  ASSERT_TRUE(library) << error;
  const runtime::Entry *entry = library->findEntry("", error);
  ASSERT_TRUE(entry) << error;

  // --weight-type=auto (the default) follows the config's torch_dtype:
  // the expert weights are bf16 panels, the router stays f32.
  bool bf16Panels = false;
  for (const runtime::WeightSlot &slot : entry->weights)
    bf16Panels = bf16Panels || (!slot.pack.empty() && slot.dtype == "bf16");
  EXPECT_TRUE(bf16Panels) << family.configDir;

  // Random checkpoint tensors under every name the manifest asks for, in
  // the checkpoint's own shapes.
  std::mt19937 rng(11);
  TensorMap tensors;
  std::map<std::string, TensorData> files[2];
  for (const runtime::WeightSlot &slot : entry->weights) {
    int64_t first = slot.stacked ? slot.expertBegin : 0;
    int64_t last = slot.stacked ? slot.expertEnd : 1;
    for (int64_t e = first; e < last; ++e) {
      std::string tensorName = slot.tensorName(e);
      if (tensors.count(tensorName))
        continue; // Llama 4's gate_up_proj feeds two slots
      // As stored: DBRX's [E·F, H], Ernie's [1, E] (the same elements).
      std::vector<int64_t> shape = slot.checkpointShape();
      int64_t count = 1;
      for (int64_t d : shape)
        count *= d;
      float scale = shape.size() == 1 && family.vectorScale > 0.0f
                        ? family.vectorScale
                        : 1.0f / std::sqrt(static_cast<float>(shape.back()));
      // Stored as the config's torch_dtype says (bfloat16, every tiny
      // config): the reference sees the values the checkpoint holds.
      Tensor tensor{shape, randomTensor(rng, count, scale)};
      TensorData data{DType::BF16, shape, std::vector<uint8_t>(count * 2)};
      for (int64_t i = 0; i < count; ++i) {
        uint16_t half = floatToBF16(tensor.values[i]);
        uint32_t bits = static_cast<uint32_t>(half) << 16;
        std::memcpy(&tensor.values[i], &bits, 4);
        std::memcpy(data.bytes.data() + 2 * i, &half, 2);
      }
      files[sharded ? tensors.size() % 2 : 0][tensorName] = std::move(data);
      tensors[tensorName] = std::move(tensor);
    }
  }
  std::string weightsPath;
  if (!sharded) {
    weightsPath = scratch(name + ".safetensors");
    ASSERT_TRUE(writeSafeTensors(weightsPath, files[0], error)) << error;
  } else {
    // An HF shard set: model-0000k-of-00002.safetensors and the index.
    std::string dir = scratch(name + "-ckpt");
    ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
    std::string index = "{\"metadata\": {}, \"weight_map\": {";
    bool firstEntry = true;
    for (int s = 0; s < 2; ++s) {
      std::string shard =
          "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
      ASSERT_TRUE(writeSafeTensors(dir + "/" + shard, files[s], error))
          << error;
      for (auto &item : files[s]) {
        index +=
            (firstEntry ? "\"" : ", \"") + item.first + "\": \"" + shard + "\"";
        firstEntry = false;
      }
    }
    index += "}}";
    weightsPath = dir + "/model.safetensors.index.json";
    std::ofstream(weightsPath) << index;
  }

  auto checkpoint = Checkpoint::open(weightsPath, error);
  ASSERT_TRUE(checkpoint) << error;
  auto bound = runtime::BoundEntry::bind(*entry, *checkpoint, error);
  ASSERT_TRUE(bound) << error;

  std::vector<std::vector<float>> owned;
  reference::LayerWeights weights = family.weights(tensors, owned);
  const runtime::Entry *statsEntry = library->findStatsEntry(entry->name);
  // moe.routing_stats defines router probabilities for softmax and sigmoid
  // scores only, so sqrtsoftplus layers (DeepSeek-V4) get no entry.
  bool hasStats = family.config.routing->scoring !=
                  reference::Scoring::SqrtSoftplus;
  ASSERT_EQ(static_cast<bool>(statsEntry), hasStats)
      << "routing-statistics entry";
  std::unique_ptr<runtime::BoundEntry> boundStats;
  if (hasStats) {
    boundStats = runtime::BoundEntry::bind(*statsEntry, *checkpoint, error);
    ASSERT_TRUE(boundStats) << error;
  }
  for (int64_t tokens : {1, 7, 37}) {
    std::vector<float> x =
        randomTensor(rng, tokens * family.config.hidden, 1.0f);
    std::vector<float> expected =
        reference::runLayer(family.config, weights, x.data(), tokens);
    std::vector<float> actual(expected.size());
    ASSERT_TRUE(bound->forward(x.data(), actual.data(), tokens, error))
        << error;
    EXPECT_LE(normwiseError(expected, actual), 1e-5f)
        << family.configDir << " layer " << family.layer << ", T = " << tokens;

    // The routing statistics, against the reference's on the same routing:
    // over every routed id, zero (identity) experts included.
    if (!boundStats)
      continue;
    int64_t E = family.config.numExperts + family.config.zeroExperts;
    // The router may read a normalised input (Gemma 4).
    std::vector<float> routerInput =
        family.config.routerInputNorm
            ? reference::normaliseRouterInput(
                  x.data(), tokens, family.config.hidden,
                  *family.config.routerInputNorm, weights.routerInputScale)
            : x;
    std::vector<float> logits = reference::routerLogits(
        routerInput.data(), weights.router, tokens, family.config.hidden, E);
    // The router's own bias (GPT-OSS) is part of the logits.
    if (weights.routerBias)
      for (int64_t t = 0; t < tokens; ++t)
        for (int64_t e = 0; e < E; ++e)
          logits[t * E + e] += weights.routerBias[e];
    reference::TokenRouting routing =
        reference::routeTokens(logits.data(), tokens, E, *family.config.routing,
                               weights.correctionBias);
    // The weights' histogram spans [0, 1] times the scaling factor.
    double scaling = family.config.routing->scalingFactor;
    double weightRange = scaling > 0 ? scaling : 1.0;
    reference::RoutingStats want = reference::routingStats(
        logits.data(), routing, E, family.config.routing->scoring, weightRange,
        MOE_ROUTING_STATS_WEIGHT_BINS);
    std::vector<float> got;
    ASSERT_TRUE(boundStats->routingStats(x.data(), tokens, got, error))
        << error;
    ASSERT_EQ(got.size(), static_cast<size_t>(E + MOE_ROUTING_STATS_TAIL));
    for (int64_t e = 0; e < E; ++e)
      EXPECT_EQ(got[e], static_cast<float>(want.load[e])) << "load of " << e;
    EXPECT_NEAR(got[E], want.entropy, 1e-5f);
    EXPECT_NEAR(got[E + 1], want.maxShare, 1e-6f);
    EXPECT_NEAR(got[E + 2], want.confidence, 1e-5f);
    EXPECT_NEAR(got[E + 3], want.auxLoss, 1e-5f * std::max(1.0f, want.auxLoss));
    EXPECT_EQ(got[E + 4], static_cast<float>(weightRange));
    // Counts of the same routing: exact, but for a weight within rounding
    // of a bin edge, which may count in the neighbouring bin.
    int64_t moved = 0;
    for (int64_t bin = 0; bin < MOE_ROUTING_STATS_WEIGHT_BINS; ++bin)
      moved += std::abs(static_cast<int64_t>(got[E + 5 + bin]) -
                        want.weightHistogram[bin]);
    EXPECT_LE(moved, 2) << "weight histogram of " << tokens << " tokens";
    EXPECT_EQ(std::accumulate(got.begin() + E + 5, got.end(), 0.0f),
              static_cast<float>(tokens * family.config.routing->topK));
  }
}

// Tests Mixtral: softmax top-2 renormalised over w1/w3/w2 experts.
TEST(HFFamily, Mixtral) {
  checkFamily(
      {"mixtral-tiny", 1, config(64, 8, softmaxTopK(2, true)),
       perExpertWeights("model.layers.1.block_sparse_moe.", "gate.weight", 8,
                        96, "w1.weight", "w3.weight", "w2.weight")});
}

// Tests Qwen2-MoE: softmax top-4 without renorm; the shared expert scaled
// by sigmoid(x · shared_expert_gate).
TEST(HFFamily, Qwen2Moe) {
  checkFamily({"qwen2-moe-tiny", 2, config(48, 8, softmaxTopK(4, false)),
               perExpertWeights("model.layers.2.mlp.", "gate.weight", 8, 32,
                                "gate_proj.weight", "up_proj.weight",
                                "down_proj.weight", "shared_expert.", 80,
                                /*sigmoidGate=*/true)});
}

// Tests Qwen3-MoE: norm_topk_prob renormalises; read from a sharded
// checkpoint through model.safetensors.index.json.
TEST(HFFamily, Qwen3MoeSharded) {
  checkFamily({"qwen3-moe-tiny", 3, config(48, 16, softmaxTopK(4, true)),
               perExpertWeights("model.layers.3.mlp.", "gate.weight", 16, 24,
                                "gate_proj.weight", "up_proj.weight",
                                "down_proj.weight")},
              /*sharded=*/true);
}

// Tests DeepSeek-V2 group_limited_greedy: group max, topk_group of n_group
// kept, no renorm so the weights are × routed_scaling_factor; two shared
// experts as one FFN of twice the width.
TEST(HFFamily, DeepSeekV2) {
  reference::RoutingConfig r = softmaxTopK(3, false);
  r.nGroup = 4;
  r.topkGroup = 2;
  r.scalingFactor = 16.0f;
  checkFamily({"deepseek-v2-tiny", 1, config(48, 16, r),
               perExpertWeights("model.layers.1.mlp.", "gate.weight", 16, 16,
                                "gate_proj.weight", "up_proj.weight",
                                "down_proj.weight", "shared_experts.", 32)});
}

// Tests DeepSeek-V3 noaux_tc: sigmoid, bias for selection only, group top-2
// sums, renormalised and × 2.5; one shared expert.
TEST(HFFamily, DeepSeekV3) {
  checkFamily({"deepseek-v3-tiny", 2, config(48, 16, deepSeekV3Routing()),
               perExpertWeights("model.layers.2.mlp.", "gate.weight", 16, 24,
                                "gate_proj.weight", "up_proj.weight",
                                "down_proj.weight", "shared_experts.", 24,
                                false, "gate.e_score_correction_bias")});
}

// Tests Llama 4: top-1 on logits, sigmoid weight on the expert input, the
// fused gate_up_proj [E,H,2F] (gate first) and down_proj [E,F,H] as the
// modeling code multiplies them (x · W), plus the shared expert.
TEST(HFFamily, Llama4) {
  reference::RoutingConfig r = llama4Routing();
  const int64_t H = 48, E = 8, F = 32;
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    std::string prefix = "model.layers.3.feed_forward.";
    reference::LayerWeights w;
    w.router = get(t, prefix + "router.weight");
    w.experts =
        fromInputMajor(get(t, prefix + "experts.gate_up_proj"),
                       get(t, prefix + "experts.down_proj"), E, F, H, owned);
    w.shared = reference::FfnWeights{
        get(t, prefix + "shared_expert.gate_proj.weight"),
        get(t, prefix + "shared_expert.up_proj.weight"),
        get(t, prefix + "shared_expert.down_proj.weight"), F};
    return w;
  };
  checkFamily(
      {"llama4-tiny", 3, config(H, E, r, /*scaleInput=*/true), weights});
}

// The families added by issue 16. Each configures the reference from the
// family's modeling code (transformers 5.24, models/<family>/modeling_*.py)
// with the sizes of its examples/configs/<family>-tiny config; families that
// share a router or a tiny configuration share one helper below.

/// transformers' DeepseekV3TopkRouter (noaux_tc), which glm4_moe, glm4v_moe,
/// glm4_moe_lite, glm_moe_dsa, exaone_moe, kimi_linear, mimo_v2_flash,
/// dots1, dots3_note, deepseek_v32, solar_open, bailing_hybrid and beam copy
/// and afmoe and minimax_m2 restate: σ scores, selection on score +
/// correction bias within the `topkGroup` best of `nGroup` groups (top-2
/// sums), weights renormalised (its 1e-20 is below f32 resolution here) and
/// × `scale`.
reference::RoutingConfig noauxTc(int64_t k, bool renormalize, float scale,
                                 int64_t nGroup = 1, int64_t topkGroup = 1) {
  reference::RoutingConfig r;
  r.topK = k;
  r.scoring = reference::Scoring::Sigmoid;
  r.renormalize = renormalize;
  r.scalingFactor = scale;
  r.nGroup = nGroup;
  r.topkGroup = topkGroup;
  r.groupScore = reference::GroupScore::Top2Sum;
  return r;
}

/// transformers' DeepSeek-V2 router (deepseek_ocr2, unlimited_ocr): softmax,
/// greedy or group-limited (group max), never renormalised, × `scale`.
reference::RoutingConfig deepSeekV2Softmax(int64_t k, float scale,
                                           int64_t nGroup = 1,
                                           int64_t topkGroup = 1) {
  reference::RoutingConfig r = softmaxTopK(k, false);
  r.scalingFactor = scale;
  r.nGroup = nGroup;
  r.topkGroup = topkGroup;
  return r;
}

/// The GLM tiny configs (glm4_moe, glm4v_moe, glm4_moe_lite, glm_moe_dsa)
/// and exaone_moe's: H 32, 16 experts of 48, top-4 in 4 groups keeping 2,
/// renormalised × 2.5, two shared experts (one FFN of 96) at layer 1.
Family glmTiny(std::string configDir, std::string prefix, std::string bias) {
  return {configDir, 1, config(32, 16, noauxTc(4, true, 2.5f, 4, 2)),
          projWeights(prefix, 16, 48, "shared_experts.", 96, false, bias)};
}

// Tests GLM-4.5 (glm4_moe): the DeepSeek-V3 router and names; layer 0 dense
// by first_k_dense_replace.
TEST(HFFamily, Glm4Moe) {
  checkFamily(glmTiny("glm4-moe-tiny", "model.layers.1.mlp.",
                      "gate.e_score_correction_bias"));
}

// Tests GLM-4.5V (glm4v_moe): the same block from text_config, its tensors
// under model.language_model.
TEST(HFFamily, Glm4vMoe) {
  checkFamily(glmTiny("glm4v-moe-tiny", "model.language_model.layers.1.mlp.",
                      "gate.e_score_correction_bias"));
}

// Tests GLM-4.7-Flash (glm4_moe_lite): layer rule from mlp_layer_types.
TEST(HFFamily, Glm4MoeLite) {
  checkFamily(glmTiny("glm4-moe-lite-tiny", "model.layers.1.mlp.",
                      "gate.e_score_correction_bias"));
}

// Tests GLM-5 (glm_moe_dsa): the block is DeepSeek-V3's (DSA attention is
// outside it).
TEST(HFFamily, GlmMoeDsa) {
  checkFamily(glmTiny("glm-moe-dsa-tiny", "model.layers.1.mlp.",
                      "gate.e_score_correction_bias"));
}

// Tests K-EXAONE (exaone_moe): the correction bias is saved on the block
// (mlp.e_score_correction_bias), not under gate.
TEST(HFFamily, ExaoneMoe) {
  checkFamily(glmTiny("exaone-moe-tiny", "model.layers.1.mlp.",
                      "e_score_correction_bias"));
}

// Tests Kimi-Linear (kimi_linear): Bailing key names, Mixtral tensor names
// (block_sparse_moe, w1/w3/w2), 2 groups keeping 1, two shared experts.
TEST(HFFamily, KimiLinear) {
  std::string prefix = "model.layers.1.block_sparse_moe.";
  checkFamily({"kimi-linear-tiny", 1, config(32, 8, noauxTc(2, true, 2.5f, 2)),
               perExpertWeights(prefix, "gate.weight", 8, 16, "w1.weight",
                                "w3.weight", "w2.weight", "shared_experts.", 32,
                                false, "gate.e_score_correction_bias")});
}

// Tests MiMo-V2-Flash (mimo_v2_flash): noaux_tc without a shared expert.
TEST(HFFamily, MiMoV2Flash) {
  checkFamily({"mimo-v2-flash-tiny", 1,
               config(32, 8, noauxTc(2, true, 2.5f, 2)),
               projWeights("model.layers.1.mlp.", 8, 16, "", 0, false,
                           "gate.e_score_correction_bias")});
}

// Tests MiniMax-M2 (minimax_m2): σ + correction bias (on the block),
// renormalised, no scale, no groups, no shared expert; Mixtral names.
TEST(HFFamily, MiniMaxM2) {
  checkFamily(
      {"minimax-m2-tiny", 1, config(32, 8, noauxTc(2, true, 1.0f)),
       perExpertWeights("model.layers.1.block_sparse_moe.", "gate.weight", 8,
                        16, "w1.weight", "w3.weight", "w2.weight", "", 0, false,
                        "e_score_correction_bias")});
}

// Tests dots.llm1 (dots1): DeepSeek-V3's block and names, 2 groups keeping 1.
TEST(HFFamily, Dots1) {
  checkFamily({"dots1-tiny", 1, config(32, 8, noauxTc(2, true, 2.5f, 2)),
               projWeights("model.layers.1.mlp.", 8, 16, "shared_experts.", 16,
                           false, "gate.e_score_correction_bias")});
}

// Tests dots3 note (dots3_note_text): the shared expert's width is
// shared_experts_intermediate_size (24), not moe_intermediate_size (16).
TEST(HFFamily, Dots3Note) {
  checkFamily({"dots3-note-tiny", 1, config(32, 8, noauxTc(2, true, 2.5f, 2)),
               projWeights("model.layers.1.mlp.", 8, 16, "shared_experts.", 24,
                           false, "gate.e_score_correction_bias")});
}

// Tests DeepSeek-V3.2 (deepseek_v32): DeepSeek-V3's block, 4 groups keeping
// 2; layer rule from mlp_layer_types.
TEST(HFFamily, DeepSeekV32) {
  checkFamily({"deepseek-v32-tiny", 1,
               config(32, 8, noauxTc(2, true, 2.5f, 4, 2)),
               projWeights("model.layers.1.mlp.", 8, 16, "shared_experts.", 16,
                           false, "gate.e_score_correction_bias")});
}

// Tests Solar-Open (solar_open): every layer MoE; two shared experts.
TEST(HFFamily, SolarOpen) {
  checkFamily({"solar-open-tiny", 1, config(32, 8, noauxTc(2, true, 2.5f, 2)),
               projWeights("model.layers.1.mlp.", 8, 48, "shared_experts.", 96,
                           false, "gate.e_score_correction_bias")});
}

// Tests Ling (bailing_hybrid): Bailing key names (num_expert_group,
// moe_renormalize); the correction bias saved as gate.expert_bias.
TEST(HFFamily, BailingHybrid) {
  checkFamily({"bailing-hybrid-tiny", 1,
               config(32, 8, noauxTc(2, true, 2.5f, 4, 2)),
               projWeights("model.layers.1.mlp.", 8, 16, "shared_experts.", 16,
                           false, "gate.expert_bias")});
}

// Tests Beam (beam): the first three layers dense, no shared expert.
TEST(HFFamily, Beam) {
  checkFamily({"beam-tiny", 3, config(32, 8, noauxTc(2, true, 2.5f, 4, 2)),
               projWeights("model.layers.3.mlp.", 8, 16, "", 0, false,
                           "gate.e_score_correction_bias")});
}

// Tests AFMoE (afmoe): router at router.gate, expert_bias on the block,
// always renormalised, × route_scale; two shared experts (one FFN of 32).
TEST(HFFamily, Afmoe) {
  checkFamily({"afmoe-tiny", 1, config(32, 8, noauxTc(2, true, 2.5f)),
               projWeights("model.layers.1.mlp.", 8, 16, "shared_experts.", 32,
                           false, "expert_bias", "router.gate.weight")});
}

// Tests DeepSeek-OCR-2 (deepseek_ocr2): DeepSeek-V2's greedy softmax top-2,
// not renormalised, × 2; text_config, tensors under model.layers.
TEST(HFFamily, DeepSeekOcr2) {
  checkFamily(
      {"deepseek-ocr2-tiny", 1, config(32, 8, deepSeekV2Softmax(2, 2.0f)),
       projWeights("model.layers.1.mlp.", 8, 16, "shared_experts.", 32)});
}

// Tests Unlimited-OCR (unlimited_ocr): DeepSeek-V2's group_limited_greedy
// (group max, 2 groups keeping 1), × 2.
TEST(HFFamily, UnlimitedOcr) {
  checkFamily(
      {"unlimited-ocr-tiny", 1, config(32, 8, deepSeekV2Softmax(2, 2.0f, 2, 1)),
       projWeights("model.layers.1.mlp.", 8, 48, "shared_experts.", 96)});
}

/// The Qwen3-Next block (qwen3_next, qwen3_5_moe, qwen4_exp): softmax top-2
/// renormalised, 8 experts of 48, a σ-gated shared expert of 40 at layer 1.
Family qwenNextTiny(std::string configDir, std::string prefix) {
  return {configDir, 1, config(32, 8, softmaxTopK(2, true)),
          projWeights(prefix, 8, 48, "shared_expert.", 40,
                      /*sigmoidGate=*/true)};
}

// Tests Qwen3-Next (qwen3_next): qwen2_moe's block with norm_topk_prob.
TEST(HFFamily, Qwen3Next) {
  checkFamily(qwenNextTiny("qwen3-next-tiny", "model.layers.1.mlp."));
}

// Tests Qwen3.5 (qwen3_5_moe): always renormalised; text_config, tensors
// under model.language_model.
TEST(HFFamily, Qwen35Moe) {
  checkFamily(
      qwenNextTiny("qwen3-5-moe-tiny", "model.language_model.layers.1.mlp."));
}

// Tests Qwen4-Exp (qwen4_exp): Qwen3-Next's block under text_config.
TEST(HFFamily, Qwen4Exp) {
  checkFamily(
      qwenNextTiny("qwen4-exp-tiny", "model.language_model.layers.1.mlp."));
}

// Tests FlexOlmo (flex_olmo): softmax top-2, renormalised (norm_topk_prob),
// expert width intermediate_size.
TEST(HFFamily, FlexOlmo) {
  checkFamily({"flex-olmo-tiny", 1, config(32, 8, softmaxTopK(2, true)),
               projWeights("model.layers.1.mlp.", 8, 48)});
}

// Tests OLMoE (olmoe): softmax top-2 not renormalised.
TEST(HFFamily, Olmoe) {
  checkFamily({"olmoe-tiny", 1, config(32, 8, softmaxTopK(2, false)),
               projWeights("model.layers.1.mlp.", 8, 48)});
}

// Tests Jamba (jamba): odd layers MoE; softmax top-2 never renormalised;
// router under feed_forward.router.
TEST(HFFamily, Jamba) {
  checkFamily({"jamba-tiny", 1, config(32, 8, softmaxTopK(2, false)),
               projWeights("model.layers.1.feed_forward.", 8, 48, "", 0, false,
                           "", "router.weight")});
}

// Tests Mellum (mellum): softmax top-2 renormalised; mlp_layer_types.
TEST(HFFamily, Mellum) {
  checkFamily({"mellum-tiny", 1, config(32, 8, softmaxTopK(2, true)),
               projWeights("model.layers.1.mlp.", 8, 16)});
}

// Tests MiniMax-Text-01 (minimax): Mixtral's block and names.
TEST(HFFamily, MiniMax) {
  checkFamily(
      {"minimax-tiny", 1, config(32, 8, softmaxTopK(2, true)),
       perExpertWeights("model.layers.1.block_sparse_moe.", "gate.weight", 8,
                        16, "w1.weight", "w3.weight", "w2.weight")});
}

/// Experts fused as saved below `prefix`: experts.gate_up_proj [E,2F,H]
/// (gate rows first) and experts.down_proj [E,H,F]; the router gate.weight;
/// the shared expert `<shared>{gate,up,down}_proj.weight` of `sharedF`.
WeightsFn fusedRowsWeights(std::string prefix, int64_t E, int64_t F, int64_t H,
                           std::string shared, int64_t sharedF) {
  return [=](const TensorMap &t, std::vector<std::vector<float>> &owned) {
    auto [gate, up] = splitGateUpRows(get(t, prefix + "experts.gate_up_proj"),
                                      E, F, H, owned);
    reference::LayerWeights w;
    w.router = get(t, prefix + "gate.weight");
    w.experts = {gate, up, get(t, prefix + "experts.down_proj"), F};
    addShared(w, t, prefix, shared, sharedF, false);
    return w;
  };
}

// Tests Lara-4-Mini (lara_mini): softmax top-2 renormalised; the experts
// fused as saved; an ungated shared expert (shared_expert., singular) of 24.
TEST(HFFamily, LaraMini) {
  checkFamily({"lara-mini-tiny", 1, config(32, 8, softmaxTopK(2, true)),
               fusedRowsWeights("model.layers.1.mlp.", 8, 16, 32,
                                "shared_expert.", 24)});
}

// Tests Flint (flint): sigmoid scores renormalised, no correction bias; a
// shared expert (shared_expert., singular) of 40.
TEST(HFFamily, Flint) {
  reference::RoutingConfig r;
  r.topK = 2;
  r.scoring = reference::Scoring::Sigmoid;
  r.renormalize = true;
  checkFamily(
      {"flint-tiny", 1, config(32, 8, r),
       projWeights("model.layers.1.mlp.", 8, 48, "shared_expert.", 40)});
}

// Tests Hunyuan-A13B (hunyuan_v1_moe): always renormalised; the router
// under gate.wg; a shared MLP (shared_mlp.) as wide as an expert.
TEST(HFFamily, HunYuanV1Moe) {
  checkFamily({"hunyuan-v1-moe-tiny", 0, config(32, 8, softmaxTopK(2, true)),
               projWeights("model.layers.0.mlp.", 8, 48, "shared_mlp.", 48,
                           false, "", "gate.wg.weight")});
}

// Tests Hy3 (hy_v3): σ scores with expert_bias for selection, renormalised
// × 2.826; router under router.gate; shared_mlp. of 96.
TEST(HFFamily, HyV3) {
  checkFamily({"hy-v3-tiny", 1, config(32, 8, noauxTc(2, true, 2.826f)),
               projWeights("model.layers.1.mlp.", 8, 48, "shared_mlp.", 96,
                           false, "expert_bias", "router.gate.weight")});
}

/// Mistral 4's router: softmax, top-2 of the best group of 2 by top-2
/// sums, renormalised × 2.
reference::RoutingConfig mistral4Routing() {
  reference::RoutingConfig r = softmaxTopK(2, true);
  r.scalingFactor = 2.0f;
  r.nGroup = 2;
  r.groupScore = reference::GroupScore::Top2Sum;
  return r;
}

// Tests Mistral-Small-4 (mistral4): grouped softmax routing; the experts
// fused as gate_up_proj [E,2F,H] and down_proj [E,H,F]; shared_experts. of
// 96.
TEST(HFFamily, Mistral4) {
  checkFamily({"mistral4-tiny", 1, config(32, 8, mistral4Routing()),
               fusedRowsWeights("model.layers.1.mlp.", 8, 48, 32,
                                "shared_experts.", 96)});
}

// Tests Mistral-Large-4 (mistral_large4): Mistral 4's router; Mistral's
// native names (layers.{L}.experts.{e}.w1/w3/w2, shared_experts.w1/w3/w2).
TEST(HFFamily, MistralLarge4) {
  WeightsFn experts = perExpertWeights("layers.1.", "gate.weight", 8, 48,
                                       "w1.weight", "w3.weight", "w2.weight");
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    reference::LayerWeights w = experts(t, owned);
    w.shared =
        reference::FfnWeights{get(t, "layers.1.shared_experts.w1.weight"),
                              get(t, "layers.1.shared_experts.w3.weight"),
                              get(t, "layers.1.shared_experts.w2.weight"), 96};
    return w;
  };
  checkFamily(
      {"mistral-large4-tiny", 1, config(32, 8, mistral4Routing()), weights});
}

// Tests Qwen3-Omni (qwen3_omni_moe): the thinker's text_config, tensors
// under thinker.model.
TEST(HFFamily, Qwen3OmniMoe) {
  checkFamily({"qwen3-omni-moe-tiny", 1, config(32, 8, softmaxTopK(2, true)),
               projWeights("thinker.model.layers.1.mlp.", 8, 48)});
}

/// A Granite-MoE block at layer 0: softmax top-2 renormalised, 8 experts of
/// 48 fused as `gateUpName` [E,2F,H] (gate rows first) and `downName`
/// [E,H,F]; IBM's shared_mlp input_linear [2·40,H] / output_linear when
/// `shared`.
Family graniteTiny(std::string configDir, std::string router,
                   std::string gateUpName, std::string downName, bool shared) {
  const int64_t H = 32, E = 8, F = 48, sharedF = 40;
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    std::string prefix = "model.layers.0.block_sparse_moe.";
    auto [gate, up] =
        splitGateUpRows(get(t, prefix + gateUpName), E, F, H, owned);
    reference::LayerWeights w;
    w.router = get(t, prefix + router);
    w.experts = {gate, up, get(t, prefix + downName), F};
    if (shared) {
      const float *in = get(t, "model.layers.0.shared_mlp.input_linear.weight");
      w.shared = reference::FfnWeights{
          in, in + sharedF * H,
          get(t, "model.layers.0.shared_mlp.output_linear.weight"), sharedF};
    }
    return w;
  };
  return {configDir, 0, config(H, E, softmaxTopK(2, true)), weights};
}

// Tests Granite-MoE (granitemoe): IBM's router.layer, input_linear and
// output_linear names.
TEST(HFFamily, GraniteMoe) {
  checkFamily(graniteTiny("granitemoe-tiny", "router.layer.weight",
                          "input_linear.weight", "output_linear.weight",
                          false));
}

// Tests granitemoeshared: the same block plus IBM's fused shared MLP.
TEST(HFFamily, GraniteMoeShared) {
  checkFamily(graniteTiny("granitemoeshared-tiny", "router.layer.weight",
                          "input_linear.weight", "output_linear.weight", true));
}

// Tests granitemoehybrid: granitemoeshared's block in the hybrid model.
TEST(HFFamily, GraniteMoeHybrid) {
  checkFamily(graniteTiny("granitemoehybrid-tiny", "router.layer.weight",
                          "input_linear.weight", "output_linear.weight", true));
}

// Tests granitemoe_swa: transformers' own expert names (router.weight,
// experts.gate_up_proj, experts.down_proj) with IBM's shared MLP.
TEST(HFFamily, GraniteMoeSwa) {
  checkFamily(graniteTiny("granitemoe-swa-tiny", "router.weight",
                          "experts.gate_up_proj", "experts.down_proj", true));
}

// Tests Aria (aria): softmax top-2 renormalised; the experts as the modeling
// code multiplies them, fc1 [E,H,2F] and fc2 [E,F,H]; shared_experts. of 32;
// text_config under language_model.model.
TEST(HFFamily, Aria) {
  const int64_t H = 32, E = 8, F = 16;
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    std::string prefix = "language_model.model.layers.0.mlp.";
    reference::LayerWeights w;
    w.router = get(t, prefix + "router.weight");
    w.experts =
        fromInputMajor(get(t, prefix + "experts.fc1.weight"),
                       get(t, prefix + "experts.fc2.weight"), E, F, H, owned);
    addShared(w, t, prefix, "shared_experts.", 32, false);
    return w;
  };
  checkFamily({"aria-tiny", 0, config(H, E, softmaxTopK(2, true)), weights});
}

// Tests Cohere2-MoE with expert_selection_fn sigmoid (cohere2_moe): top-2 on
// the logits, σ weights renormalised; the shared expert added (sum).
TEST(HFFamily, Cohere2Moe) {
  reference::RoutingConfig r;
  r.topK = 2;
  r.scoring = reference::Scoring::Sigmoid;
  r.selectOn = reference::SelectOn::Logits;
  r.renormalize = true;
  checkFamily(
      {"cohere2-moe-sigmoid-tiny", 1, config(32, 8, r),
       projWeights("model.layers.1.mlp.", 8, 16, "shared_experts.", 32)});
}

// Tests LFM2-MoE (lfm2_moe): σ scores with expert_bias for selection,
// renormalised with LFM2's epsilon 1e-6, × 2.5; feed_forward. w1/w3/w2.
TEST(HFFamily, Lfm2Moe) {
  reference::RoutingConfig r = noauxTc(2, true, 2.5f);
  r.renormEpsilon = 1e-6;
  checkFamily({"lfm2-moe-tiny", 1, config(32, 8, r),
               perExpertWeights("model.layers.1.feed_forward.", "gate.weight",
                                8, 16, "w1.weight", "w3.weight", "w2.weight",
                                "", 0, false, "expert_bias")});
}

// Tests Phi-3.5-MoE (phimoe): sparsemixer in its inference form (top-2 on
// the logits, each weight a softmax over the logits within jitter_eps of the
// selected one), not renormalised; Mixtral's names.
TEST(HFFamily, PhiMoe) {
  reference::RoutingConfig r = softmaxTopK(2, false);
  r.scoring = reference::Scoring::SparseMixer;
  r.selectOn = reference::SelectOn::Logits;
  r.jitterEps = 0.01;
  checkFamily(
      {"phimoe-tiny", 0, config(32, 8, r),
       perExpertWeights("model.layers.0.block_sparse_moe.", "gate.weight", 8,
                        48, "w1.weight", "w3.weight", "w2.weight")});
}

// Tests Nemotron-H without latent projections (nemotron_h): DeepSeek-V3's
// router (two groups) × 2; ungated relu² experts and shared expert
// (up/down only) under backbone.layers.{L}.mixer.
TEST(HFFamily, NemotronH) {
  reference::LayerConfig c = config(32, 8, noauxTc(2, true, 2.0f, 2, 1));
  c.activation = reference::Activation::ReLU2;
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    std::string prefix = "backbone.layers.1.mixer.";
    reference::LayerWeights w;
    w.router = get(t, prefix + "gate.weight");
    w.correctionBias = get(t, prefix + "gate.e_score_correction_bias");
    w.experts = {
        nullptr, stack(t, prefix + "experts.{e}.up_proj.weight", 8, owned),
        stack(t, prefix + "experts.{e}.down_proj.weight", 8, owned), 48};
    w.shared = reference::FfnWeights{
        nullptr, get(t, prefix + "shared_experts.up_proj.weight"),
        get(t, prefix + "shared_experts.down_proj.weight"), 40};
    return w;
  };
  checkFamily({"nemotron-h-tiny", 1, c, weights});
}

// Tests MiniMax-M3 (minimax_m3_vl): σ scores with a correction bias,
// renormalised × 2; GPT-OSS's clamped SwiGLU (α 1.702, the tiny config's
// swiglu_limit 1 so the clamps bite) on the routed and shared experts.
TEST(HFFamily, MiniMaxM3Vl) {
  reference::LayerConfig c = config(32, 8, noauxTc(2, true, 2.0f));
  c.activation = reference::Activation::ClampedSwiGLU;
  c.gluClamp = reference::GluClamp{1.702f, 1.0f};
  checkFamily({"minimax-m3-vl-tiny", 1, c,
               perExpertWeights(
                   "language_model.model.layers.1.block_sparse_moe.",
                   "gate.weight", 8, 48, "w1.weight", "w3.weight", "w2.weight",
                   "shared_experts.", 40, false, "e_score_correction_bias")});
}

/// Top-k on the logits, weighted by the softmax over the k selected.
reference::RoutingConfig softmaxOfSelectedLogits(int64_t k) {
  reference::RoutingConfig r = softmaxTopK(k, false);
  r.selectOn = reference::SelectOn::Logits;
  r.weights = reference::RoutingWeights::SoftmaxSelected;
  return r;
}

/// GPT-OSS's experts as saved (x · W): gate_up_proj [E,H,2F] and its bias
/// [E,2F], gate and up the even and odd columns when `interleaved`, else
/// the first and second halves; down_proj [E,F,H] and its bias [E,H].
WeightsFn gptOssWeights(int64_t H, int64_t E, int64_t F, bool interleaved) {
  return [=](const TensorMap &t, std::vector<std::vector<float>> &owned) {
    std::string prefix = "model.layers.1.mlp.";
    const float *gateUp = get(t, prefix + "experts.gate_up_proj");
    const float *gateUpBias = get(t, prefix + "experts.gate_up_proj_bias");
    const float *down = get(t, prefix + "experts.down_proj");
    auto gateColumn = [&](int64_t f) { return interleaved ? 2 * f : f; };
    auto upColumn = [&](int64_t f) { return interleaved ? 2 * f + 1 : F + f; };
    // Into the reference's [E,F,H] / [E,H,F] (out, in) layout by hand.
    std::vector<float> g(E * F * H), u(E * F * H), d(E * H * F), bg(E * F),
        bu(E * F);
    for (int64_t e = 0; e < E; ++e)
      for (int64_t f = 0; f < F; ++f) {
        bg[e * F + f] = gateUpBias[e * 2 * F + gateColumn(f)];
        bu[e * F + f] = gateUpBias[e * 2 * F + upColumn(f)];
        for (int64_t h = 0; h < H; ++h) {
          g[(e * F + f) * H + h] = gateUp[(e * H + h) * 2 * F + gateColumn(f)];
          u[(e * F + f) * H + h] = gateUp[(e * H + h) * 2 * F + upColumn(f)];
          d[(e * H + h) * F + f] = down[(e * F + f) * H + h];
        }
      }
    for (std::vector<float> *v : {&g, &u, &d, &bg, &bu})
      owned.push_back(std::move(*v));
    size_t n = owned.size();
    reference::LayerWeights w;
    w.router = get(t, prefix + "router.weight");
    w.routerBias = get(t, prefix + "router.bias");
    w.experts = {owned[n - 5].data(),
                 owned[n - 4].data(),
                 owned[n - 3].data(),
                 F,
                 owned[n - 2].data(),
                 owned[n - 1].data(),
                 get(t, prefix + "experts.down_proj_bias")};
    return w;
  };
}

/// GPT-OSS's block: clamped SwiGLU with α = 1.702 and the tiny config's
/// limit of 1.
reference::LayerConfig gptOssConfig(int64_t H, int64_t E) {
  reference::LayerConfig c = config(H, E, softmaxOfSelectedLogits(2));
  c.activation = reference::Activation::ClampedSwiGLU;
  c.gluClamp = {1.702f, 1.0f};
  return c;
}

// Tests GPT-OSS (gpt_oss): a router bias, top-2 on the logits weighted by
// their softmax, clamped SwiGLU (limit 1), gate_up_proj [E,H,2F] with gate
// and up interleaved, and biases on every expert linear.
TEST(HFFamily, GptOss) {
  checkFamily({"gpt-oss-tiny", 1, gptOssConfig(32, 8),
               gptOssWeights(32, 8, 48, /*interleaved=*/true)});
}

// Tests OpenAI's privacy filter (openai_privacy_filter): GPT-OSS's block
// with gate and up chunked (first half gate) instead of interleaved; its
// 1/k on the weights and k on the output cancel.
TEST(HFFamily, OpenAIPrivacyFilter) {
  checkFamily({"openai-privacy-filter-tiny", 1, gptOssConfig(32, 8),
               gptOssWeights(32, 8, 48, /*interleaved=*/false)});
}

// Tests JetMoE (jetmoe): top-2 on the logits weighted by their softmax,
// SwiGLU experts fused as input_linear [E,2F,H] (gate rows first) and
// output_linear [E,H,F], and the block's bias [H] added once per token.
TEST(HFFamily, JetMoe) {
  const int64_t H = 32, E = 8, F = 24;
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    std::string prefix = "model.layers.1.mlp.";
    const float *gateUp = get(t, prefix + "input_linear.weight");
    std::vector<float> g(E * F * H), u(E * F * H);
    for (int64_t e = 0; e < E; ++e)
      for (int64_t i = 0; i < F * H; ++i) {
        g[e * F * H + i] = gateUp[e * 2 * F * H + i];
        u[e * F * H + i] = gateUp[e * 2 * F * H + F * H + i];
      }
    owned.push_back(std::move(g));
    owned.push_back(std::move(u));
    reference::LayerWeights w;
    w.router = get(t, prefix + "router.layer.weight");
    w.experts = {owned[owned.size() - 2].data(), owned.back().data(),
                 get(t, prefix + "output_linear.weight"), F};
    w.outputBias = get(t, prefix + "bias");
    return w;
  };
  checkFamily(
      {"jetmoe-tiny", 1, config(H, E, softmaxOfSelectedLogits(2)), weights});
}

// Tests Switch Transformers (switch_transformers): encoder block 1, softmax
// top-1 not renormalised, ReLU experts experts.expert_{e}.wi/wo, at most 6
// tokens per expert in token order (37 tokens: drops are likely).
TEST(HFFamily, SwitchTransformers) {
  const int64_t H = 32, E = 8, F = 48;
  reference::LayerConfig c = config(H, E, softmaxTopK(1, false));
  c.activation = reference::Activation::ReLU;
  reference::CapacityConfig capacity;
  capacity.count = 6;
  c.capacity = capacity;
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    std::string prefix = "encoder.block.1.layer.1.mlp.";
    reference::LayerWeights w;
    w.router = get(t, prefix + "router.classifier.weight");
    w.experts = {
        nullptr, stack(t, prefix + "experts.expert_{e}.wi.weight", E, owned),
        stack(t, prefix + "experts.expert_{e}.wo.weight", E, owned), F};
    return w;
  };
  checkFamily({"switch-transformers-tiny", 1, c, weights});
}

// Tests NLLB-MoE (nllb-moe) at encoder layer 1: a router bias, softmax
// top-2 weights, capacity ceil(0.25 T) with every first choice queued
// before any second choice, the kept weights renormalised, × (1 - 0.2);
// ReLU experts fc1/fc2 with biases. At T = 37 the capacity drops slots.
TEST(HFFamily, NllbMoe) {
  const int64_t H = 32, E = 8, F = 48;
  reference::LayerConfig c = config(H, E, softmaxTopK(2, false));
  c.activation = reference::Activation::ReLU;
  reference::CapacityConfig capacity;
  capacity.dropOrder = reference::DropOrder::ChoiceOrder;
  capacity.tokenFraction = 0.25;
  capacity.renormalize = true;
  capacity.outputScale = 0.8;
  c.capacity = capacity;
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    std::string prefix = "model.encoder.layers.1.ffn.";
    std::string expert = prefix + "experts.expert_{e}.";
    reference::LayerWeights w;
    w.router = get(t, prefix + "router.classifier.weight");
    w.routerBias = get(t, prefix + "router.classifier.bias");
    w.experts = {nullptr, stack(t, expert + "fc1.weight", E, owned),
                 stack(t, expert + "fc2.weight", E, owned), F};
    w.experts.upBias = stack(t, expert + "fc1.bias", E, owned);
    w.experts.downBias = stack(t, expert + "fc2.bias", E, owned);
    return w;
  };
  checkFamily({"nllb-moe-tiny", 1, c, weights});
}

// Tests DBRX (dbrx): softmax top-2 divided by the selected weights' 1-norm
// with nothing added (moe_normalize_expert_weights 1.0); w1 (gate), v1 (up)
// and w2 each one [E·F, H] tensor, w2[e] the down projection transposed
// ([F, H]: DbrxExpertGLU computes h · w2[e]).
TEST(HFFamily, Dbrx) {
  const int64_t H = 32, E = 8, F = 16;
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    std::string prefix = "transformer.blocks.1.ffn.";
    const float *w2 = get(t, prefix + "experts.mlp.w2");
    std::vector<float> down(E * H * F);
    for (int64_t e = 0; e < E; ++e)
      for (int64_t f = 0; f < F; ++f)
        for (int64_t h = 0; h < H; ++h)
          down[(e * H + h) * F + f] = w2[(e * F + f) * H + h];
    owned.push_back(std::move(down));
    reference::LayerWeights w;
    w.router = get(t, prefix + "router.layer.weight");
    w.experts = {get(t, prefix + "experts.mlp.w1"),
                 get(t, prefix + "experts.mlp.v1"), owned.back().data(), F};
    return w;
  };
  reference::RoutingConfig r = softmaxTopK(2, true);
  r.renormP = 1.0;
  r.renormEpsilon = 0.0;
  checkFamily({"dbrx-tiny", 1, config(H, E, r), weights});
}

// Tests ERNIE 4.5 (ernie4_5_moe): softmax scores, top-2 on the scores plus
// the correction bias (stored [1, E] under moe_statics.), the selected
// scores divided by max(their sum, moe_norm_min = 1e-12); an ungated
// shared MLP of 2 x 48.
TEST(HFFamily, Ernie45Moe) {
  reference::RoutingConfig r = softmaxTopK(2, true);
  r.renormEpsilon = 1e-12;
  r.renormClamp = true;
  checkFamily({"ernie4-5-moe-tiny", 1, config(32, 8, r),
               projWeights("model.layers.1.mlp.", 8, 48, "shared_experts.", 96,
                           false, "moe_statics.e_score_correction_bias")});
}

/// Gemma 4's feed-forward half, tiny (gemma4, gemma4_text, diffusion_gemma
/// at layer 1 under `prefix`): the router reads RMSNorm(x) · router.scale ·
/// 32^-0.5, softmax top-2 renormalised × per_expert_scale; GeGLU-tanh
/// experts (fused gate_up_proj [E,2F,H]) between pre_feedforward_layernorm_2
/// and post_feedforward_layernorm_2; the dense mlp (64) between
/// pre_feedforward_layernorm and post_feedforward_layernorm_1;
/// post_feedforward_layernorm on the sum.
Family gemma4Tiny(std::string configDir, std::string prefix, int64_t F) {
  const int64_t H = 32, E = 8;
  reference::LayerConfig c = config(H, E, softmaxTopK(2, true));
  c.activation = reference::Activation::GeGLUTanh;
  c.routerInputNorm =
      reference::RouterInputNorm{1e-6, 1.0 / std::sqrt(static_cast<double>(H))};
  c.normEpsilon = 1e-6;
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    auto [gate, up] = splitGateUpRows(
        get(t, prefix + "experts.gate_up_proj"), E, F, H, owned);
    reference::LayerWeights w;
    w.router = get(t, prefix + "router.proj.weight");
    w.routerInputScale = get(t, prefix + "router.scale");
    w.expertScale = get(t, prefix + "router.per_expert_scale");
    w.experts = {gate, up, get(t, prefix + "experts.down_proj"), F};
    addShared(w, t, prefix, "mlp.", 64, false);
    w.expertInputNorm = get(t, prefix + "pre_feedforward_layernorm_2.weight");
    w.expertOutputNorm = get(t, prefix + "post_feedforward_layernorm_2.weight");
    w.sharedInputNorm = get(t, prefix + "pre_feedforward_layernorm.weight");
    w.sharedOutputNorm = get(t, prefix + "post_feedforward_layernorm_1.weight");
    w.outputNorm = get(t, prefix + "post_feedforward_layernorm.weight");
    return w;
  };
  return {configDir, 1, c, weights};
}

// Tests Gemma 4 (gemma4, its text model in language_model).
TEST(HFFamily, Gemma4) {
  checkFamily(gemma4Tiny("gemma4-tiny", "model.language_model.layers.1.", 48));
}

// Tests text-only Gemma 4 (gemma4_text).
TEST(HFFamily, Gemma4Text) {
  checkFamily(gemma4Tiny("gemma4-text-tiny", "model.layers.1.", 48));
}

// Tests block-diffusion Gemma (diffusion_gemma): Gemma 4's block under the
// decoder.
TEST(HFFamily, DiffusionGemma) {
  checkFamily(
      gemma4Tiny("diffusion-gemma-tiny", "model.decoder.layers.1.", 16));
}

// Tests GLM-5.3-Flash (glm5_next): DeepSeek-V3's router (4 groups keeping 2)
// and Glm5NextMLP's clamp, silu(min(g, 1)) · clamp(u, ±1), on the routed
// and the shared experts alike; tensors under model.language_model.
TEST(HFFamily, Glm5Next) {
  Family family =
      glmTiny("glm5-next-tiny", "model.language_model.layers.1.mlp.",
              "gate.e_score_correction_bias");
  family.config.activation = reference::Activation::ClampedSwiGLU;
  family.config.gluClamp = {1.702f, 1.0f, reference::GluClampForm::ClampGate};
  checkFamily(family);
}

// Tests DeepSeek-V4 (deepseek_v4) at its learned layer: sqrtsoftplus scores,
// selection on score + gate.bias, renormalised × 1.5, Mixtral names under
// ffn., routed and shared experts clamped at 0.5 in GLM-5's form.
TEST(HFFamily, DeepSeekV4) {
  reference::RoutingConfig r = noauxTc(2, true, 1.5f);
  r.scoring = reference::Scoring::SqrtSoftplus;
  reference::LayerConfig c = config(32, 8, r);
  c.activation = reference::Activation::ClampedSwiGLU;
  c.gluClamp = {1.702f, 0.5f, reference::GluClampForm::ClampGate};
  std::string prefix = "model.layers.1.ffn.";
  WeightsFn experts =
      perExpertWeights(prefix, "gate.weight", 8, 16, "w1.weight", "w3.weight",
                       "w2.weight", "", 0, false, "gate.bias");
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    reference::LayerWeights w = experts(t, owned);
    w.shared = reference::FfnWeights{
        get(t, prefix + "shared_experts.w1.weight"),
        get(t, prefix + "shared_experts.w3.weight"),
        get(t, prefix + "shared_experts.w2.weight"), 16};
    return w;
  };
  checkFamily({"deepseek-v4-tiny", 1, c, weights});
}

/// Hy-V4's block (hy_v4, hy_v4_vl), tiny: DeepSeek-V3's router (2 groups
/// keeping 1) × 2.5, HYV4Experts fused as gate_up_proj [E,2F,H] and
/// clamped at 1 in GLM-5's form, a shared expert of 32 that is not clamped,
/// its gate saved as linear_gate.
Family hyV4Tiny(std::string configDir) {
  const int64_t H = 32, E = 8, F = 16;
  reference::LayerConfig c = config(H, E, noauxTc(2, true, 2.5f, 2, 1));
  c.activation = reference::Activation::ClampedSwiGLU;
  c.gluClamp = {1.702f, 1.0f, reference::GluClampForm::ClampGate};
  c.sharedActivation = reference::Activation::SwiGLU;
  auto weights = [=](const TensorMap &t,
                     std::vector<std::vector<float>> &owned) {
    std::string prefix = "model.layers.1.mlp.";
    auto [gate, up] = splitGateUpRows(
        get(t, prefix + "experts.gate_up_proj"), E, F, H, owned);
    reference::LayerWeights w;
    w.router = get(t, prefix + "gate.weight");
    w.correctionBias = get(t, prefix + "gate.e_score_correction_bias");
    w.experts = {gate, up, get(t, prefix + "experts.down_proj"), F};
    w.shared = reference::FfnWeights{
        get(t, prefix + "shared_experts.linear_gate.weight"),
        get(t, prefix + "shared_experts.up_proj.weight"),
        get(t, prefix + "shared_experts.down_proj.weight"), 32};
    return w;
  };
  return {configDir, 1, c, weights};
}

// Tests Hy-V4 (hy_v4): only the routed experts clamp.
TEST(HFFamily, HyV4) { checkFamily(hyV4Tiny("hy-v4-tiny")); }

// Tests Hy-V4-VL (hy_v4_vl): Hy-V4's block from text_config, its tensors
// still under model.layers.
TEST(HFFamily, HyV4Vl) { checkFamily(hyV4Tiny("hy-v4-vl-tiny")); }

// Tests Step-3.7 (step3p7): σ scores, selection on score + router_bias,
// renormalised × 2; layer 1's limits clamp min(silu(g), l) · clamp(u, ±l)
// at 0.5 on the routed experts (one stacked tensor per projection) and at
// 0.75 on the shared expert (share_expert., beside the block, 40 wide).
TEST(HFFamily, Step3p7) {
  const int64_t E = 8, F = 48;
  reference::LayerConfig c = config(32, E, noauxTc(2, true, 2.0f));
  c.activation = reference::Activation::ClampedSwiGLU;
  c.gluClamp = {1.702f, 0.5f, reference::GluClampForm::ClampSilu};
  c.sharedActivation = reference::Activation::ClampedSwiGLU;
  c.sharedGluClamp = {1.702f, 0.75f, reference::GluClampForm::ClampSilu};
  auto weights = [=](const TensorMap &t, std::vector<std::vector<float>> &) {
    std::string prefix = "model.layers.1.";
    reference::LayerWeights w;
    w.router = get(t, prefix + "moe.gate.weight");
    w.correctionBias = get(t, prefix + "moe.router_bias");
    w.experts = {get(t, prefix + "moe.gate_proj.weight"),
                 get(t, prefix + "moe.up_proj.weight"),
                 get(t, prefix + "moe.down_proj.weight"), F};
    addShared(w, t, prefix, "share_expert.", 40, false);
    return w;
  };
  checkFamily({"step3p7-tiny", 1, c, weights});
}

// Tests Cohere2-MoE (cohere2_moe) with "average": softmax over the top-2
// logits, one shared expert of 16, output (routed + shared) / 2.
TEST(HFFamily, Cohere2MoeAverage) {
  reference::LayerConfig c = config(32, 8, softmaxTopK(2, true));
  c.sharedAverage = true;
  checkFamily(
      {"cohere2-moe-tiny", 1, c,
       projWeights("model.layers.1.mlp.", 8, 16, "shared_experts.", 16)});
}

// Tests LongCat-Flash (longcat_flash): softmax over 8 real and 4 zero
// (identity) experts, top-3 on the probabilities plus the correction bias,
// × 2.5 without renormalisation; the router is router.classifier.
TEST(HFFamily, LongCatFlash) {
  reference::LayerConfig c = config(32, 8, softmaxTopK(3, false));
  c.routing->scalingFactor = 2.5f;
  c.zeroExperts = 4;
  checkFamily({"longcat-flash-tiny", 1, c,
               projWeights("model.layers.1.mlp.", 8, 16, "", 0, false,
                           "router.e_score_correction_bias",
                           "router.classifier.weight"),
               /*vectorScale=*/0.02f});
}
} // namespace
