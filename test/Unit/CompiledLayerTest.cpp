//===- CompiledLayerTest.cpp - compiled layers against the reference ------===//
//
// Differential execution tests: each case writes one moe.layer, lowers it
// with moe-lower-to-cpu, JIT-compiles it, runs it on seeded random inputs
// and weights, and compares with lib/Reference. Tolerance: the largest
// absolute difference must be within 1e-5 of the largest reference value
// (normwise relative error; f32 accumulation vs. the oracle's double).
//
//===----------------------------------------------------------------------===//

#include "JitLayer.h"
#include "LayerCases.h"

#include "moe/Pipelines/Pipelines.h"

#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

using namespace moe::reference;
using namespace moe::test;
namespace reference = moe::reference;

namespace {

/// The shared libraries a layer lowered for the CPU calls into.
const llvm::StringRef kCPULibs[] = {MOEC_C_RUNNER_UTILS,
                                    MOEC_EMBEDDED_RUNTIME_SO, MOEC_LIBOMP};

/// A layer JIT-compiled from moe-lower-to-cpu, with or without
/// moe-fuse-experts.
class CompiledLayer : public JitLayer {
public:
  CompiledLayer(const std::string &source, bool fuseExperts)
      : JitLayer(
            source,
            [fuseExperts](mlir::OpPassManager &pm) {
              mlir::moe::MoELoweringOptions lowering;
              lowering.fuseExperts = fuseExperts;
              mlir::moe::buildMoELowerToCPUPipeline(pm, lowering);
            },
            kCPULibs) {}
};

/// Compiles `layer`, runs it for each token count, and compares with the
/// reference.
void checkAgainstReference(const LayerSpec &spec,
                           std::vector<int64_t> tokenCounts = {1, 37},
                           bool fuseExperts = true) {
  initialiseJit();
  TestLayer layer = makeTestLayer(spec);
  std::string source = layer.source();
  CompiledLayer compiled(source, fuseExperts);
  ASSERT_TRUE(compiled.error.empty()) << compiled.error;
  reference::LayerConfig config = layer.referenceConfig();
  reference::LayerWeights weights = layer.referenceWeights();
  std::mt19937 rng(99);
  for (int64_t T : tokenCounts) {
    std::vector<float> x = randomTensor(rng, T * spec.hidden, 1.0f);
    std::vector<float> expected =
        reference::runLayer(config, weights, x.data(), T);
    std::vector<float> actual = compiled.run(x, T, spec.hidden, layer.weights);
    ASSERT_EQ(actual.size(), expected.size()) << "T = " << T;
    EXPECT_LE(normwiseError(expected, actual), 1e-5f) << "T = " << T << "\n"
                                                      << source;
  }
}

// Tests Mixtral: softmax top-2, renormalised, SwiGLU.
TEST(CompiledLayer, MixtralSoftmaxTop2Renormalised) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  checkAgainstReference(spec, {1, 37, 64});
}

// Tests softmax top-k without renormalisation (Qwen2-MoE default), GeGLU.
TEST(CompiledLayer, SoftmaxTopKPlainGeGlu) {
  LayerSpec spec;
  spec.routing = softmaxTopK(3, false);
  spec.activation = Activation::GeGLU;
  checkAgainstReference(spec);
}

// Tests DeepSeek-V2 group-limited greedy with a scaling factor.
TEST(CompiledLayer, DeepSeekV2GroupLimited) {
  LayerSpec spec;
  spec.routing = softmaxTopK(3, false);
  spec.routing->nGroup = 4;
  spec.routing->topkGroup = 2;
  spec.routing->scalingFactor = 16.0f;
  spec.sharedFfn = 24;
  checkAgainstReference(spec);
}

/// DeepSeek-V2 device-limited routing: 16 experts round-robin on 4 ranks
/// (rank = e % 4), top-4 on at most 2 ranks, scaled.
LayerSpec rankLimitedSpec() {
  LayerSpec spec;
  spec.numExperts = 16;
  spec.routing = softmaxTopK(4, false);
  spec.routing->scalingFactor = 16.0f;
  spec.routing->rankLimit = 2;
  for (int64_t e = 0; e < spec.numExperts; ++e)
    spec.routing->expertRanks.push_back(e % 4);
  spec.sharedFfn = 24;
  return spec;
}

// Tests DeepSeek-V2 device-limited routing (rank score: the max), fused and
// unfused, and the same with V3-style scoring (sigmoid, bias, top-2-sum rank
// scores, renormalised).
TEST(CompiledLayer, DeepSeekV2RankLimited) {
  LayerSpec spec = rankLimitedSpec();
  checkAgainstReference(spec, {1, 37, 64});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);
  spec.routing->scoring = Scoring::Sigmoid;
  spec.routing->groupScore = GroupScore::Top2Sum;
  spec.routing->renormalize = true;
  spec.routing->scalingFactor = 2.5f;
  spec.bias = true;
  checkAgainstReference(spec, {1, 37});
}

// Tests that the compiled layer applies the rank limit: on tokens where it
// binds (some token's unlimited top-4 spans 3 or 4 ranks) the output
// matches the limited reference and not the unlimited one. The limited
// reference's experts lie on at most 2 ranks per token.
TEST(CompiledLayer, RankLimitBinds) {
  initialiseJit();
  LayerSpec spec = rankLimitedSpec();
  TestLayer layer = makeTestLayer(spec);
  CompiledLayer compiled(layer.source(), /*fuseExperts=*/true);
  ASSERT_TRUE(compiled.error.empty()) << compiled.error;
  constexpr int64_t T = 37, K = 4, M = 2;
  std::mt19937 rng(5);
  std::vector<float> x = randomTensor(rng, T * spec.hidden, 1.0f);
  reference::LayerConfig limited = layer.referenceConfig();
  reference::RoutingConfig unlimitedRouting = *spec.routing;
  unlimitedRouting.rankLimit = 0;
  unlimitedRouting.expertRanks.clear();
  reference::LayerConfig unlimited = limited;
  unlimited.routing = unlimitedRouting;
  reference::LayerWeights weights = layer.referenceWeights();

  std::vector<float> logits =
      routerLogits(x.data(), weights.router, T, spec.hidden, spec.numExperts);
  auto spans = [&](const reference::RoutingConfig &config, int64_t t) {
    TokenRouting r = routeTokens(logits.data() + t * spec.numExperts, 1,
                                 spec.numExperts, config);
    std::set<int32_t> ranks;
    for (int32_t e : r.experts)
      ranks.insert(e % 4);
    EXPECT_EQ(static_cast<int64_t>(r.experts.size()), K);
    return static_cast<int64_t>(ranks.size());
  };
  int64_t bound = 0;
  for (int64_t t = 0; t < T; ++t) {
    EXPECT_LE(spans(*limited.routing, t), M) << "token " << t;
    bound += spans(unlimitedRouting, t) > M;
  }
  EXPECT_GT(bound, 0);

  std::vector<float> actual = compiled.run(x, T, spec.hidden, layer.weights);
  EXPECT_LE(normwiseError(runLayer(limited, weights, x.data(), T), actual),
            1e-5f);
  EXPECT_GT(normwiseError(runLayer(unlimited, weights, x.data(), T), actual),
            1e-3f);
}

// Tests DeepSeek-V3: sigmoid + bias + group top-2 sum + renorm + scaling +
// a shared expert.
TEST(CompiledLayer, DeepSeekV3) { checkAgainstReference(deepSeekV3Spec()); }

// Tests Qwen2-MoE: softmax top-4 without renorm and a sigmoid-gated shared
// expert.
TEST(CompiledLayer, Qwen2SigmoidGatedShared) {
  LayerSpec spec;
  spec.routing = softmaxTopK(4, false);
  spec.sharedFfn = 20;
  spec.sharedSigmoidGate = true;
  checkAgainstReference(spec);
}

// Tests Llama 4: top-1 on logits, sigmoid weight on the expert input, and a
// shared expert.
TEST(CompiledLayer, Llama4InputScaling) { checkAgainstReference(llama4Spec()); }

// Tests expert choice with GELU and ReLU experts.
TEST(CompiledLayer, ExpertChoice) {
  LayerSpec spec;
  spec.routing.reset();
  spec.expertChoiceFactor = 2.0;
  spec.activation = Activation::GELU;
  checkAgainstReference(spec);
  spec.expertChoiceFactor = 0.5;
  spec.activation = Activation::ReLU;
  checkAgainstReference(spec);
}

// Tests the transformers activations beyond SwiGLU (relu2: Nemotron-H,
// gelu_tanh and geglu_tanh: gelu_pytorch_tanh, plain silu), fused (the CPU
// target's generated epilogue, tanh as a polynomial) and unfused (the
// linalg lowering of moe.expert_mlp), each with a shared expert.
TEST(CompiledLayer, TransformersActivations) {
  for (Activation activation : {Activation::ReLU2, Activation::GELUTanh,
                                Activation::GeGLUTanh, Activation::SiLU}) {
    LayerSpec spec;
    spec.routing = softmaxTopK(2, true);
    spec.activation = activation;
    spec.sharedFfn = 20;
    checkAgainstReference(spec, {1, 37});
    checkAgainstReference(spec, {37}, /*fuseExperts=*/false);
  }
}

// Tests GPT-OSS's clamped SwiGLU, fused and unfused, with a shared expert:
// with limit 7 (GPT-OSS's) nothing clamps at these sizes; with limit 0.1
// most projections clamp, and the output differs from the unclamped one.
TEST(CompiledLayer, ClampedSwiGlu) {
  LayerSpec spec;
  spec.routing = softmaxTopK(4, false);
  spec.activation = Activation::ClampedSwiGLU;
  spec.sharedFfn = 20;
  checkAgainstReference(spec, {1, 37});
  spec.gluClamp.limit = 0.1f;
  checkAgainstReference(spec, {1, 37});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);

  TestLayer layer = makeTestLayer(spec);
  std::mt19937 rng(3);
  std::vector<float> x = randomTensor(rng, 37 * spec.hidden, 1.0f);
  reference::LayerConfig clamped = layer.referenceConfig();
  reference::LayerConfig loose = clamped;
  loose.gluClamp.limit = 7.0f;
  EXPECT_GT(
      normwiseError(runLayer(loose, layer.referenceWeights(), x.data(), 37),
                    runLayer(clamped, layer.referenceWeights(), x.data(), 37)),
      1e-2f);
}

/// GPT-OSS's block: a router bias, top-4 on the logits weighted by the
/// softmax of the selected logits, clamped SwiGLU experts with biases on
/// every linear.
LayerSpec gptOssSpec() {
  LayerSpec spec;
  spec.routing = softmaxTopK(4, false);
  spec.routing->selectOn = SelectOn::Logits;
  spec.routing->weights = RoutingWeights::SoftmaxSelected;
  spec.routerBias = true;
  spec.activation = Activation::ClampedSwiGLU;
  spec.gluClamp.limit = 1.0f;
  spec.expertBiases = true;
  return spec;
}

// Tests the expert linears' biases (GPT-OSS), fused (in the kernels'
// epilogues) and unfused; the biases move the output, so a compiler that
// dropped one would fail.
TEST(CompiledLayer, ExpertLinearBiases) {
  LayerSpec spec = gptOssSpec();
  checkAgainstReference(spec, {1, 37, 64});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);

  TestLayer layer = makeTestLayer(spec);
  std::mt19937 rng(3);
  std::vector<float> x = randomTensor(rng, 37 * spec.hidden, 1.0f);
  reference::LayerWeights biased = layer.referenceWeights();
  for (int which = 0; which < 3; ++which) {
    reference::LayerWeights dropped = biased;
    (which == 0   ? dropped.experts.gateBias
     : which == 1 ? dropped.experts.upBias
                  : dropped.experts.downBias) = nullptr;
    EXPECT_GT(normwiseError(
                  runLayer(layer.referenceConfig(), biased, x.data(), 37),
                  runLayer(layer.referenceConfig(), dropped, x.data(), 37)),
              1e-2f)
        << "bias " << which;
  }
}

// Tests the biases with the other expert variants: an ungated activation
// (up and down biases only) with a shared expert and capacity passing
// dropped slots through; Llama 4's input scaling (the bias is added after
// the scaled projection); expert choice.
TEST(CompiledLayer, ExpertLinearBiasVariants) {
  LayerSpec gelu;
  gelu.activation = Activation::GELU;
  gelu.expertBiases = true;
  gelu.sharedFfn = 20;
  checkAgainstReference(gelu);
  gelu.capacity =
      CapacityConfig{0.75, DropOrder::LowestWeight, DroppedSlot::Input};
  checkAgainstReference(gelu, {37});
  LayerSpec llama4 = llama4Spec();
  llama4.expertBiases = true;
  checkAgainstReference(llama4);
  checkAgainstReference(llama4, {37}, /*fuseExperts=*/false);
  LayerSpec choice;
  choice.routing.reset();
  choice.expertChoiceFactor = 2.0;
  choice.expertBiases = true;
  checkAgainstReference(choice, {37});
}

// Tests the block's output bias (JetMoE: softmax over the selected logits,
// a bias [H] added once per token, unscaled), fused and unfused, with a
// shared expert and with expert biases too.
TEST(CompiledLayer, OutputBias) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, false);
  spec.routing->selectOn = SelectOn::Logits;
  spec.routing->weights = RoutingWeights::SoftmaxSelected;
  spec.outputBias = true;
  checkAgainstReference(spec, {1, 37});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);
  spec.sharedFfn = 20;
  spec.expertBiases = true;
  checkAgainstReference(spec, {1, 37});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);
}

/// LongCat-Flash's router: softmax over 8 real and 4 zero (identity)
/// experts, top-3 selected on the probabilities plus a correction bias,
/// weights × 6 without renormalisation.
LayerSpec longCatSpec() {
  LayerSpec spec;
  spec.zeroExperts = 4;
  spec.routing = softmaxTopK(3, false);
  spec.routing->scalingFactor = 6.0f;
  spec.bias = true;
  return spec;
}

// Tests zero (identity) experts, fused and unfused, with and without a
// shared expert: slots routed to ids >= E add their weighted input. The
// layer must route some slots to zero experts and some to real ones, or
// the case would not test the pass-through.
TEST(CompiledLayer, ZeroExperts) {
  LayerSpec spec = longCatSpec();
  checkAgainstReference(spec, {1, 37});
  checkAgainstReference(spec, {1, 37}, /*fuseExperts=*/false);
  spec.sharedFfn = 20;
  checkAgainstReference(spec, {1, 37});
  checkAgainstReference(spec, {1, 37}, /*fuseExperts=*/false);

  TestLayer layer = makeTestLayer(spec);
  std::mt19937 rng(99);
  std::vector<float> x = randomTensor(rng, 37 * spec.hidden, 1.0f);
  reference::LayerWeights weights = layer.referenceWeights();
  std::vector<float> logits =
      routerLogits(x.data(), weights.router, 37, spec.hidden,
                   spec.numExperts + spec.zeroExperts);
  TokenRouting routing =
      routeTokens(logits.data(), 37, spec.numExperts + spec.zeroExperts,
                  *spec.routing, weights.correctionBias);
  int64_t toZero = 0;
  for (int32_t e : routing.experts)
    toZero += e >= spec.numExperts;
  EXPECT_GT(toZero, 0);
  EXPECT_LT(toZero, static_cast<int64_t>(routing.experts.size()));
}

// Tests the other clamped SwiGLU forms, fused and unfused: GLM-5's
// silu(min(g, l)) · clamp(u) on routed and shared experts; Hy-V4's on the
// routed experts with a plain SwiGLU shared expert; Step-3.7's
// min(silu(g), l) · clamp(u) with the shared expert's own limit. Limit 0.1
// clamps most projections at these sizes.
TEST(CompiledLayer, ClampedSwiGluForms) {
  LayerSpec spec = deepSeekV3Spec();
  spec.activation = Activation::ClampedSwiGLU;
  spec.gluClamp = {1.702f, 0.1f, GluClampForm::ClampGate};
  checkAgainstReference(spec, {1, 37});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);
  spec.sharedActivation = Activation::SwiGLU;
  checkAgainstReference(spec, {1, 37});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);
  spec.gluClamp = {1.702f, 0.1f, GluClampForm::ClampSilu};
  spec.sharedActivation = Activation::ClampedSwiGLU;
  spec.sharedGluClamp = {1.702f, 0.05f, GluClampForm::ClampSilu};
  checkAgainstReference(spec, {1, 37});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);
}

// Tests Cohere2-MoE's average of routed and shared experts, fused (the
// shared expert folds into moe.fused_experts, the halving stays after it)
// and unfused, against the reference and unlike the plain sum.
TEST(CompiledLayer, SharedAverage) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  spec.sharedFfn = 16;
  spec.sharedAverage = true;
  checkAgainstReference(spec, {1, 37});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);

  TestLayer layer = makeTestLayer(spec);
  std::mt19937 rng(5);
  std::vector<float> x = randomTensor(rng, 37 * spec.hidden, 1.0f);
  reference::LayerConfig average = layer.referenceConfig();
  reference::LayerConfig sum = average;
  sum.sharedAverage = false;
  EXPECT_GT(
      normwiseError(runLayer(sum, layer.referenceWeights(), x.data(), 37),
                    runLayer(average, layer.referenceWeights(), x.data(), 37)),
      0.1f);
}

// Tests Soft MoE: one and three slots per expert, SwiGLU and GELU experts,
// with a sigmoid-gated shared expert; one token (each slot is that token)
// and a batch that the slots mix.
TEST(CompiledLayer, SoftMoE) {
  LayerSpec spec;
  spec.routing.reset();
  spec.softMoESlots = 1;
  checkAgainstReference(spec, {1, 37});
  spec.numExperts = 4;
  spec.softMoESlots = 3;
  spec.activation = Activation::GELU;
  spec.sharedFfn = 20;
  spec.sharedSigmoidGate = true;
  checkAgainstReference(spec, {1, 37, 64});
}

// Tests each capacity drop order with each dropped-slot policy.
TEST(CompiledLayer, CapacityPolicies) {
  for (DropOrder order : {DropOrder::TokenOrder, DropOrder::LowestWeight})
    for (DroppedSlot dropped : {DroppedSlot::Zero, DroppedSlot::Input}) {
      LayerSpec spec;
      spec.routing = softmaxTopK(2, true);
      spec.capacity = CapacityConfig{0.75, order, dropped};
      checkAgainstReference(spec);
    }
}

// Tests Switch Transformers' capacity: top-1 softmax without
// renormalisation, ReLU experts, an absolute count of 6 slots per expert
// over 4 experts. With 37 and 64 tokens at most 24 slots are kept, so
// drops happen (pigeonhole); one token never drops.
TEST(CompiledLayer, SwitchCountCapacity) {
  LayerSpec spec;
  spec.numExperts = 4;
  spec.routing = softmaxTopK(1, false);
  spec.activation = Activation::ReLU;
  CapacityConfig capacity;
  capacity.count = 6;
  spec.capacity = capacity;
  checkAgainstReference(spec, {1, 37, 64});
}

// Tests NLLB-MoE's eval capacity: top-2 softmax weights, first choices
// queued before second choices, C = ceil(T/8) of 8 experts (37 tokens: C =
// 5, at most 40 of 74 slots kept, so drops happen), the kept weights
// renormalised with the f32-epsilon clamp and scaled by 1 - 0.2; with
// SwiGLU experts too, and with the plain token order.
TEST(CompiledLayer, NllbChoiceOrderCapacity) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, false);
  spec.activation = Activation::ReLU;
  CapacityConfig capacity;
  capacity.tokenFraction = 0.125;
  capacity.dropOrder = DropOrder::ChoiceOrder;
  capacity.renormalize = true;
  capacity.outputScale = 0.8;
  spec.capacity = capacity;
  checkAgainstReference(spec, {1, 37, 64});
  spec.activation = Activation::SwiGLU;
  checkAgainstReference(spec, {37});
  spec.capacity->dropOrder = DropOrder::TokenOrder;
  checkAgainstReference(spec, {37});
  spec.capacity->dropOrder = DropOrder::LowestWeight;
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);
}

// Tests a collapsed router (every token on expert 0, the others empty):
// dropless keeps every token; a capacity drops most.
TEST(CompiledLayer, CollapsedRouter) {
  LayerSpec spec;
  spec.routing = softmaxTopK(1, false);
  spec.collapseBoost = 50.0f;
  checkAgainstReference(spec, {1, 37});
  spec.capacity =
      CapacityConfig{1.0, DropOrder::TokenOrder, DroppedSlot::Input};
  checkAgainstReference(spec, {37});
}

// Tests the unfused lowering (each stage on its own: row bundle, grouped
// FFN, combine, shared expert), which the fused path replaces, on the
// layers whose stages fusion would otherwise take over.
TEST(CompiledLayer, UnfusedStages) {
  LayerSpec mixtral;
  mixtral.routing = softmaxTopK(2, true);
  checkAgainstReference(mixtral, {1, 37}, /*fuseExperts=*/false);
  checkAgainstReference(deepSeekV3Spec(), {37}, /*fuseExperts=*/false);
  checkAgainstReference(llama4Spec(), {37}, /*fuseExperts=*/false);
  LayerSpec choice;
  choice.routing.reset();
  choice.expertChoiceFactor = 2.0;
  choice.activation = Activation::GELU;
  checkAgainstReference(choice, {37}, /*fuseExperts=*/false);
}

// Tests a batch where some experts get no token (few tokens, many experts).
TEST(CompiledLayer, SomeExpertsEmpty) {
  LayerSpec spec;
  spec.numExperts = 32;
  spec.routing = softmaxTopK(2, true);
  checkAgainstReference(spec, {3});
}
// Tests DeepSeek-V4's scoring: sqrt(softplus(l)) with a correction bias,
// renormalised and scaled.
TEST(CompiledLayer, DeepSeekV4SqrtSoftplus) {
  LayerSpec spec;
  spec.routing = softmaxTopK(3, true);
  spec.routing->scoring = Scoring::SqrtSoftplus;
  spec.routing->scalingFactor = 1.5f;
  spec.bias = true;
  checkAgainstReference(spec);
}

// Tests GPT-OSS: a router bias, top-4 on the logits, weights the softmax of
// the selected logits; fused and unfused.
TEST(CompiledLayer, GptOssRouterBiasSoftmaxSelected) {
  LayerSpec spec;
  spec.routing = softmaxTopK(4, false);
  spec.routing->selectOn = SelectOn::Logits;
  spec.routing->weights = RoutingWeights::SoftmaxSelected;
  spec.routerBias = true;
  checkAgainstReference(spec, {1, 37, 64});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);
}

// Tests the renormalisation variants: DBRX's p-norm (p = 2 and p = 3, no
// epsilon), Ernie 4.5's clamp (max(sum, 0.5) binds on some tokens) and
// LFM2-MoE's sigmoid + bias + 1e-6.
TEST(CompiledLayer, RenormVariants) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  spec.routing->renormEpsilon = 0.0;
  for (double p : {2.0, 3.0}) {
    spec.routing->renormP = p;
    checkAgainstReference(spec);
  }
  spec.routing->renormP = 1.0;
  spec.routing->renormEpsilon = 0.5;
  spec.routing->renormClamp = true;
  checkAgainstReference(spec);
  LayerSpec lfm2;
  lfm2.routing = softmaxTopK(2, true);
  lfm2.routing->scoring = Scoring::Sigmoid;
  lfm2.routing->renormEpsilon = 1e-6;
  lfm2.bias = true;
  checkAgainstReference(lfm2);
}

// Tests Gemma 4's router: RMS-normalised input times a scale vector and
// H^-0.5, per-expert weight scales, GeGLU experts; fused and unfused.
TEST(CompiledLayer, Gemma4RouterInputNormExpertScale) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  spec.activation = Activation::GeGLU;
  spec.routerInputNorm =
      RouterInputNorm{1e-6, 1.0 / std::sqrt(static_cast<double>(spec.hidden))};
  spec.expertScale = true;
  checkAgainstReference(spec, {1, 37, 64});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);
}

// Tests Gemma 4's feed-forward half: its router, RMSNorms on the experts'
// input and on their sum, a dense MLP beside them as the shared expert with
// its own input and output norms, and the norm of the sum; fused and
// unfused. Then the norms one at a time (each moves the output: a compiler
// that dropped one would fail), and expert choice with the experts' norms.
TEST(CompiledLayer, Gemma4Norms) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  spec.activation = Activation::GeGLUTanh;
  spec.routerInputNorm =
      RouterInputNorm{1e-6, 1.0 / std::sqrt(static_cast<double>(spec.hidden))};
  spec.expertScale = true;
  spec.sharedFfn = 40;
  spec.norms = {"expert_input", "expert_output", "shared_input",
                "shared_output", "output"};
  checkAgainstReference(spec, {1, 37, 64});
  checkAgainstReference(spec, {37}, /*fuseExperts=*/false);
  for (const char *norm : kLayerNormNames) {
    LayerSpec one = spec;
    one.norms = {norm};
    checkAgainstReference(one, {37});
  }
  LayerSpec choice;
  choice.routing.reset();
  choice.expertChoiceFactor = 2.0;
  choice.norms = {"expert_input", "expert_output"};
  choice.normEpsilon = 1e-5;
  checkAgainstReference(choice, {37});
}

// Tests PhiMoE's sparsemixer (inference form), top-2, with a threshold
// that masks most experts (0.01) and one that often keeps a rival (0.1).
TEST(CompiledLayer, PhiMoESparseMixer) {
  LayerSpec spec;
  spec.numExperts = 16;
  spec.routing = softmaxTopK(2, false);
  spec.routing->scoring = Scoring::SparseMixer;
  spec.routing->selectOn = SelectOn::Logits;
  for (double jitter : {0.01, 0.1}) {
    spec.routing->jitterEps = jitter;
    checkAgainstReference(spec, {1, 37, 64});
  }
}

/// DeepSeek-V4's hash layers: sigmoid scores, top-2 from a table of 50
/// token ids, renormalised, × 1.5.
LayerSpec hashLayerSpec() {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  spec.routing->scoring = Scoring::Sigmoid;
  spec.routing->scalingFactor = 1.5f;
  spec.tableRows = 50;
  spec.sharedFfn = 12;
  return spec;
}

/// Runs a layer routed by token id on `ids` against the reference.
void checkTableRouting(const LayerSpec &spec, bool fuseExperts = true) {
  initialiseJit();
  TestLayer layer = makeTestLayer(spec);
  CompiledLayer compiled(layer.source(), fuseExperts);
  ASSERT_TRUE(compiled.error.empty()) << compiled.error;
  reference::LayerConfig config = layer.referenceConfig();
  reference::LayerWeights weights = layer.referenceWeights();
  std::mt19937 rng(17);
  for (int64_t T : {1, 37}) {
    std::vector<float> x = randomTensor(rng, T * spec.hidden, 1.0f);
    std::vector<int32_t> ids = randomTokenIds(rng, T, spec.tableRows);
    weights.expertTable->tokenIds = ids.data();
    std::vector<float> expected = runLayer(config, weights, x.data(), T);
    std::vector<float> actual =
        compiled.run(x, T, spec.hidden, layer.weights, &ids, &layer.expertTable,
                     {spec.tableRows, spec.routing->topK});
    ASSERT_EQ(actual.size(), expected.size()) << "T = " << T;
    EXPECT_LE(normwiseError(expected, actual), 1e-5f) << "T = " << T;
  }
}

// Tests routing by token id (DeepSeek-V4's hash layers: the experts are
// the table's row, weighted by the sigmoid scores there, renormalised and
// scaled), fused and unfused, and a pure hash layer (softmax, K = 1,
// renormalised: weight 1) with GELU experts.
TEST(CompiledLayer, RoutingByTokenId) {
  checkTableRouting(hashLayerSpec());
  checkTableRouting(hashLayerSpec(), /*fuseExperts=*/false);
  LayerSpec pure;
  pure.routing = softmaxTopK(1, true);
  pure.activation = Activation::GELU;
  pure.tableRows = 20;
  checkTableRouting(pure);
}

// Tests that the table decides: the output follows the ids (two tokens
// with the same input and different rows differ; with the same id they are
// the same bits), and that ids outside [0, V) (which the entry refuses)
// read the last row, clamped, instead of memory past the table.
TEST(CompiledLayer, TokenIdsSelectRows) {
  initialiseJit();
  LayerSpec spec = hashLayerSpec();
  TestLayer layer = makeTestLayer(spec);
  CompiledLayer compiled(layer.source(), /*fuseExperts=*/true);
  ASSERT_TRUE(compiled.error.empty()) << compiled.error;
  std::mt19937 rng(3);
  std::vector<float> row = randomTensor(rng, spec.hidden, 1.0f);
  std::vector<float> x;
  for (int i = 0; i < 4; ++i)
    x.insert(x.end(), row.begin(), row.end());
  int32_t last = static_cast<int32_t>(spec.tableRows - 1);
  // Rows 0 and `last` hold different experts (seeded table).
  ASSERT_NE(std::vector<int32_t>(layer.expertTable.begin(),
                                 layer.expertTable.begin() + 2),
            std::vector<int32_t>(layer.expertTable.end() - 2,
                                 layer.expertTable.end()));
  std::vector<int32_t> ids = {0, last, -1, last + 7};
  std::vector<int64_t> tableShape = {spec.tableRows, spec.routing->topK};
  std::vector<float> y = compiled.run(x, 4, spec.hidden, layer.weights, &ids,
                                      &layer.expertTable, tableShape);
  ASSERT_EQ(y.size(), x.size());
  auto token = [&](int t) {
    return std::vector<float>(y.begin() + t * spec.hidden,
                              y.begin() + (t + 1) * spec.hidden);
  };
  EXPECT_NE(token(0), token(1));
  EXPECT_EQ(token(1), token(2));
  EXPECT_EQ(token(1), token(3));
}
} // namespace
