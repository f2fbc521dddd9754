//===- CompiledLayerTest.cpp - compiled layers against the reference ------===//
//
// Differential execution tests: each case writes one moe.layer, lowers it
// with moe-lower-to-cpu, JIT-compiles it, runs it on seeded random inputs
// and weights, and compares with lib/Reference. Tolerance: the largest
// absolute difference must be within 1e-5 of the largest reference value
// (normwise relative error; f32 accumulation vs. the oracle's double).
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Pipelines/Pipelines.h"
#include "moe/Reference/Reference.h"

#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

using namespace moe::reference;

namespace {

/// One test layer: the configuration in both the dialect's words and the
/// reference's.
struct LayerSpec {
  int64_t hidden = 16, ffn = 12, numExperts = 8, sharedFfn = 0;
  Activation activation = Activation::SwiGLU;
  std::optional<RoutingConfig> routing = RoutingConfig{2};
  double expertChoiceFactor = 1.0;
  std::optional<CapacityConfig> capacity;
  bool bias = false, sharedSigmoidGate = false, scaleExpertInput = false;
  /// Adds this to router column 0 so that every token picks expert 0.
  float collapseBoost = 0.0f;
};

const char *activationName(Activation a) {
  switch (a) {
  case Activation::SwiGLU: return "swiglu";
  case Activation::GeGLU: return "geglu";
  case Activation::GELU: return "gelu";
  case Activation::ReLU: return "relu";
  }
  return "";
}

bool gated(Activation a) {
  return a == Activation::SwiGLU || a == Activation::GeGLU;
}

std::string routerAttr(const LayerSpec &spec) {
  std::ostringstream os;
  if (!spec.routing) {
    os << "#moe.expert_choice<capacity_factor = " << std::fixed
       << spec.expertChoiceFactor << ">";
    return os.str();
  }
  const RoutingConfig &r = *spec.routing;
  os << "#moe.routing<top_k = " << r.topK
     << ", scoring = " << (r.scoring == Scoring::Softmax ? "softmax" : "sigmoid")
     << ", select_on = " << (r.selectOn == SelectOn::Scores ? "scores" : "logits")
     << ", renormalize = " << (r.renormalize ? "true" : "false")
     << ", scaling_factor = " << std::fixed << r.scalingFactor
     << ", n_group = " << r.nGroup << ", topk_group = " << r.topkGroup
     << ", group_score = " << (r.groupScore == GroupScore::Max ? "max" : "top2_sum")
     << ">";
  return os.str();
}

/// The moe.layer function for `spec`, arguments in the order
/// x, router, [bias], [gate], up, down, [shared gate], [shared up, down],
/// [shared sigmoid gate].
std::string layerSource(const LayerSpec &spec) {
  int64_t H = spec.hidden, F = spec.ffn, E = spec.numExperts,
          Fs = spec.sharedFfn;
  auto t2 = [](int64_t a, int64_t b) {
    return "tensor<" + std::to_string(a) + "x" + std::to_string(b) + "xf32>";
  };
  auto t3 = [](int64_t a, int64_t b, int64_t c) {
    return "tensor<" + std::to_string(a) + "x" + std::to_string(b) + "x" +
           std::to_string(c) + "xf32>";
  };
  std::string xType = "tensor<?x" + std::to_string(H) + "xf32>";
  std::vector<std::pair<std::string, std::string>> args = {
      {"%x", xType}, {"%wg", t2(E, H)}};
  if (spec.bias)
    args.push_back({"%b", "tensor<" + std::to_string(E) + "xf32>"});
  if (gated(spec.activation))
    args.push_back({"%g", t3(E, F, H)});
  args.push_back({"%u", t3(E, F, H)});
  args.push_back({"%d", t3(E, H, F)});
  if (Fs) {
    if (gated(spec.activation))
      args.push_back({"%sg", t2(Fs, H)});
    args.push_back({"%su", t2(Fs, H)});
    args.push_back({"%sd", t2(H, Fs)});
    if (spec.sharedSigmoidGate)
      args.push_back({"%ssg", t2(1, H)});
  }
  std::ostringstream os;
  os << "func.func @layer(";
  for (size_t i = 0; i < args.size(); ++i)
    os << (i ? ", " : "") << args[i].first << ": " << args[i].second;
  os << ") -> " << xType << " attributes {llvm.emit_c_interface} {\n";
  os << "  %y = moe.layer %x router(%wg" << (spec.bias ? ", bias %b" : "")
     << ") experts(" << (gated(spec.activation) ? "gate %g, " : "")
     << "up %u, down %d)";
  if (Fs)
    os << " shared(" << (gated(spec.activation) ? "gate %sg, " : "")
       << "up %su, down %sd"
       << (spec.sharedSigmoidGate ? ", sigmoid_gate %ssg" : "") << ")";
  os << " {router = " << routerAttr(spec)
     << ", activation = #moe<activation " << activationName(spec.activation)
     << ">";
  if (spec.capacity)
    os << ", capacity = #moe.capacity<factor = " << std::fixed
       << spec.capacity->factor << ", drop_order = "
       << (spec.capacity->dropOrder == DropOrder::TokenOrder ? "token_order"
                                                             : "lowest_weight")
       << ", dropped = "
       << (spec.capacity->dropped == DroppedSlot::Zero ? "zero" : "input")
       << ">";
  if (spec.scaleExpertInput)
    os << ", scale_expert_input";
  os << "} : (";
  for (size_t i = 0; i < args.size(); ++i)
    os << (i ? ", " : "") << args[i].second;
  os << ") -> " << xType << "\n  return %y : " << xType << "\n}\n";
  return os.str();
}

/// A JIT-compiled layer.
class CompiledLayer {
public:
  explicit CompiledLayer(const std::string &source) {
    mlir::DialectRegistry registry;
    mlir::registerAllDialects(registry);
    mlir::registerAllExtensions(registry);
    registry.insert<mlir::moe::MoEDialect>();
    mlir::registerBuiltinDialectTranslation(registry);
    mlir::registerLLVMDialectTranslation(registry);
    context.appendDialectRegistry(registry);
    module = mlir::parseSourceString<mlir::ModuleOp>(source, &context);
    if (!module) {
      error = "parse failed:\n" + source;
      return;
    }
    mlir::PassManager pm(&context);
    mlir::moe::buildMoELowerToCPUPipeline(pm);
    if (mlir::failed(pm.run(*module))) {
      error = "lowering failed:\n" + source;
      return;
    }
    mlir::ExecutionEngineOptions options;
    llvm::StringRef libs[] = {MOEC_C_RUNNER_UTILS};
    options.sharedLibPaths = libs;
    options.transformer = mlir::makeOptimizingTransformer(2, 0, nullptr);
    auto maybeEngine = mlir::ExecutionEngine::create(*module, options);
    if (!maybeEngine) {
      error = llvm::toString(maybeEngine.takeError());
      return;
    }
    engine = std::move(*maybeEngine);
  }

  std::string error;

  /// Runs the layer on `x` `[T,H]` with `weights` in argument order.
  std::vector<float> run(std::vector<float> &x, int64_t numTokens,
                         int64_t hidden,
                         std::vector<std::pair<std::vector<float> *,
                                               std::vector<int64_t>>> &weights) {
    std::vector<std::unique_ptr<char[]>> descriptors;
    std::vector<void *> pointers;
    auto describe = [&](std::vector<float> &data,
                        const std::vector<int64_t> &shape) {
      size_t rank = shape.size();
      // {allocated, aligned, offset, sizes[rank], strides[rank]}
      size_t bytes = 2 * sizeof(float *) + (1 + 2 * rank) * sizeof(int64_t);
      descriptors.emplace_back(new char[bytes]);
      char *d = descriptors.back().get();
      float *base = data.data();
      std::memcpy(d, &base, sizeof(base));
      std::memcpy(d + sizeof(base), &base, sizeof(base));
      auto *ints = reinterpret_cast<int64_t *>(d + 2 * sizeof(base));
      ints[0] = 0;
      int64_t stride = 1;
      for (size_t i = rank; i-- > 0;) {
        ints[1 + i] = shape[i];
        ints[1 + rank + i] = stride;
        stride *= shape[i];
      }
      pointers.push_back(d);
    };
    StridedMemRefType<float, 2> result{};
    pointers.push_back(&result);
    describe(x, {numTokens, hidden});
    for (auto &[data, shape] : weights)
      describe(*data, shape);
    std::vector<void *> packed;
    for (void *&p : pointers)
      packed.push_back(&p);
    llvm::Error err = engine->invokePacked("_mlir_ciface_layer", packed);
    if (err) {
      ADD_FAILURE() << llvm::toString(std::move(err));
      return {};
    }
    std::vector<float> out(result.data + result.offset,
                           result.data + result.offset + numTokens * hidden);
    free(result.basePtr);
    return out;
  }

private:
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::unique_ptr<mlir::ExecutionEngine> engine;
};

std::vector<float> randomTensor(std::mt19937 &rng, size_t n, float scale) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

/// Compiles `spec`, runs it for each token count, and compares with the
/// reference.
void checkAgainstReference(const LayerSpec &spec,
                           std::vector<int64_t> tokenCounts = {1, 37}) {
  static bool initialised = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialised;
  std::string source = layerSource(spec);
  CompiledLayer layer(source);
  ASSERT_TRUE(layer.error.empty()) << layer.error;

  int64_t H = spec.hidden, F = spec.ffn, E = spec.numExperts,
          Fs = spec.sharedFfn;
  std::mt19937 rng(1234);
  float wScale = 1.0f / std::sqrt(static_cast<float>(H));
  std::vector<float> router = randomTensor(rng, E * H, 1.0f);
  for (int64_t h = 0; h < H && spec.collapseBoost != 0.0f; ++h)
    router[h] = spec.collapseBoost;
  std::vector<float> bias = randomTensor(rng, E, 0.5f);
  std::vector<float> gate = randomTensor(rng, E * F * H, wScale);
  std::vector<float> up = randomTensor(rng, E * F * H, wScale);
  std::vector<float> down = randomTensor(rng, E * H * F, wScale);
  std::vector<float> sGate = randomTensor(rng, Fs * H, wScale);
  std::vector<float> sUp = randomTensor(rng, Fs * H, wScale);
  std::vector<float> sDown = randomTensor(rng, H * Fs, wScale);
  std::vector<float> sSig = randomTensor(rng, H, wScale);

  std::vector<std::pair<std::vector<float> *, std::vector<int64_t>>> weights =
      {{&router, {E, H}}};
  if (spec.bias)
    weights.push_back({&bias, {E}});
  if (gated(spec.activation))
    weights.push_back({&gate, {E, F, H}});
  weights.push_back({&up, {E, F, H}});
  weights.push_back({&down, {E, H, F}});
  if (Fs) {
    if (gated(spec.activation))
      weights.push_back({&sGate, {Fs, H}});
    weights.push_back({&sUp, {Fs, H}});
    weights.push_back({&sDown, {H, Fs}});
    if (spec.sharedSigmoidGate)
      weights.push_back({&sSig, {1, H}});
  }

  LayerConfig config;
  config.hidden = H;
  config.numExperts = E;
  config.activation = spec.activation;
  config.routing = spec.routing;
  config.expertChoiceFactor = spec.expertChoiceFactor;
  config.capacity = spec.capacity;
  config.scaleExpertInput = spec.scaleExpertInput;
  LayerWeights refWeights;
  refWeights.router = router.data();
  refWeights.correctionBias = spec.bias ? bias.data() : nullptr;
  refWeights.experts = {gated(spec.activation) ? gate.data() : nullptr,
                        up.data(), down.data(), F};
  if (Fs)
    refWeights.shared = FfnWeights{gated(spec.activation) ? sGate.data()
                                                          : nullptr,
                                   sUp.data(), sDown.data(), Fs};
  refWeights.sharedSigmoidGate = spec.sharedSigmoidGate ? sSig.data() : nullptr;

  for (int64_t T : tokenCounts) {
    std::vector<float> x = randomTensor(rng, T * H, 1.0f);
    std::vector<float> expected = runLayer(config, refWeights, x.data(), T);
    std::vector<float> actual = layer.run(x, T, H, weights);
    ASSERT_EQ(actual.size(), expected.size()) << "T = " << T;
    float maxRef = 0.0f, maxDiff = 0.0f;
    for (size_t i = 0; i < expected.size(); ++i) {
      maxRef = std::max(maxRef, std::fabs(expected[i]));
      maxDiff = std::max(maxDiff, std::fabs(expected[i] - actual[i]));
    }
    EXPECT_LE(maxDiff, 1e-5f * std::max(maxRef, 1e-30f))
        << "T = " << T << ", max |ref| = " << maxRef << "\n" << source;
  }
}

RoutingConfig softmaxTopK(int64_t k, bool renormalize) {
  RoutingConfig r;
  r.topK = k;
  r.renormalize = renormalize;
  return r;
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

// Tests DeepSeek-V3: sigmoid + bias + group top-2 sum + renorm + scaling +
// a shared expert.
TEST(CompiledLayer, DeepSeekV3) {
  LayerSpec spec;
  spec.numExperts = 16;
  RoutingConfig r;
  r.topK = 4;
  r.scoring = Scoring::Sigmoid;
  r.renormalize = true;
  r.scalingFactor = 2.5f;
  r.nGroup = 4;
  r.topkGroup = 2;
  r.groupScore = GroupScore::Top2Sum;
  spec.routing = r;
  spec.bias = true;
  spec.sharedFfn = 24;
  checkAgainstReference(spec);
}

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
TEST(CompiledLayer, Llama4InputScaling) {
  LayerSpec spec;
  RoutingConfig r;
  r.topK = 1;
  r.scoring = Scoring::Sigmoid;
  r.selectOn = SelectOn::Logits;
  spec.routing = r;
  spec.scaleExpertInput = true;
  spec.sharedFfn = 16;
  checkAgainstReference(spec);
}

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

// Tests a collapsed router (every token on expert 0, the others empty):
// dropless keeps every token; a capacity drops most.
TEST(CompiledLayer, CollapsedRouter) {
  LayerSpec spec;
  spec.routing = softmaxTopK(1, false);
  spec.collapseBoost = 50.0f;
  checkAgainstReference(spec, {1, 37});
  spec.capacity = CapacityConfig{1.0, DropOrder::TokenOrder, DroppedSlot::Input};
  checkAgainstReference(spec, {37});
}

// Tests a batch where some experts get no token (few tokens, many experts).
TEST(CompiledLayer, SomeExpertsEmpty) {
  LayerSpec spec;
  spec.numExperts = 32;
  spec.routing = softmaxTopK(2, true);
  checkAgainstReference(spec, {3});
}
} // namespace
