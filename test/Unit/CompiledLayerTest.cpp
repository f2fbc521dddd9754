//===- CompiledLayerTest.cpp - compiled layers against the reference ------===//
//
// Differential execution tests: each case writes one moe.layer, lowers it
// with moe-lower-to-cpu, JIT-compiles it, runs it on seeded random inputs
// and weights, and compares with lib/Reference. Tolerance: the largest
// absolute difference must be within 1e-5 of the largest reference value
// (normwise relative error; f32 accumulation vs. the oracle's double).
//
//===----------------------------------------------------------------------===//

#include "LayerCases.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

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
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <cstring>
#include <random>
#include <set>

using namespace moe::reference;
using namespace moe::test;
namespace reference = moe::reference;

namespace {

/// A JIT-compiled layer, lowered with or without moe-fuse-experts.
class CompiledLayer {
public:
  CompiledLayer(const std::string &source, bool fuseExperts) {
    mlir::DialectRegistry registry;
    mlir::registerAllDialects(registry);
    mlir::registerAllExtensions(registry);
    registry.insert<mlir::moe::MoEDialect>();
    mlir::registerBuiltinDialectTranslation(registry);
    mlir::registerLLVMDialectTranslation(registry);
    mlir::registerOpenMPDialectTranslation(registry);
    context.appendDialectRegistry(registry);
    module = mlir::parseSourceString<mlir::ModuleOp>(source, &context);
    if (!module) {
      error = "parse failed:\n" + source;
      return;
    }
    // A C interface for the call below; the weight names are not needed.
    for (auto func : module->getOps<mlir::func::FuncOp>()) {
      func->setAttr("llvm.emit_c_interface", mlir::UnitAttr::get(&context));
      for (unsigned i = 0; i < func.getNumArguments(); ++i)
        func.removeArgAttr(i, "moe.weight");
    }
    mlir::PassManager pm(&context);
    mlir::moe::MoELoweringOptions lowering;
    lowering.fuseExperts = fuseExperts;
    mlir::moe::buildMoELowerToCPUPipeline(pm, lowering);
    if (mlir::failed(pm.run(*module))) {
      error = "lowering failed:\n" + source;
      return;
    }
    mlir::ExecutionEngineOptions options;
    llvm::StringRef libs[] = {MOEC_C_RUNNER_UTILS, MOEC_EMBEDDED_RUNTIME_SO,
                              MOEC_LIBOMP};
    options.sharedLibPaths = libs;
    // `transformer` is a function_ref: the function it refers to must
    // outlive ExecutionEngine::create, so it is a named local.
    std::function<llvm::Error(llvm::Module *)> optimize =
        mlir::makeOptimizingTransformer(2, 0, nullptr);
    options.transformer = optimize;
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
                         int64_t hidden, std::vector<WeightArg> &weights) {
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
    for (WeightArg &weight : weights)
      describe(weight.values, weight.shape);
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

/// Compiles `layer`, runs it for each token count, and compares with the
/// reference.
void initialiseJit() {
  static bool initialised = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialised;
}

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
} // namespace
