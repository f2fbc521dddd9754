//===- CUDATiledLayerTest.cpp - the CUDA GEMMs' tiled form on the CPU -----===//
//
// The GPU kernels of the grouped GEMMs cannot run without a GPU; their
// tiled form (moe-cuda-tile-grouped-gemm) can. Each case lowers a layer
// with the CUDA target's stages (moe-lower-to-linalg with one routing part
// per token and the parallel dispatch, moe-cuda-prepare-kernels,
// moe-bufferize), then the tiled form of its GEMMs, then the CPU's loop
// lowering (serial), JIT-compiles it and compares with lib/Reference, for
// the wide and the narrow tile variants and token counts that leave
// partial tiles. The layers are sized so that
// both GEMMs have several column tiles, the last one partial.
//
// Tolerance: the reference gets the bf16-rounded expert weights the CUDA
// path uses, so what differs is the bf16 rounding of each row tile (the
// kernels multiply bf16 rows: x, and the gate/up results into the down
// GEMM), about 2^-9 relative per element: the normwise relative error must
// stay within kTolerance (1e-2). A wrong row, expert, column or combine
// order is an error of order 1.
//
//===----------------------------------------------------------------------===//

#include "JitLayer.h"
#include "LayerCases.h"

#include "moe/Pipelines/Pipelines.h"
#include "moe/Target/CUDA/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>

using namespace moe::reference;
using namespace moe::test;
namespace reference = moe::reference;

namespace {

constexpr float kTolerance = 1e-2f;

/// The tile shapes moe-cuda-lower-grouped-gemm chooses between: prefill's
/// 128x128, and decode's narrow one (sm_80's 16 rows, sm_90a's 64
/// columns).
struct TileVariant {
  const char *name;
  int64_t rows, columns;
};
constexpr TileVariant kVariants[] = {{"wide", 128, 128}, {"narrow", 16, 64}};

const llvm::StringRef kLibs[] = {MOEC_C_RUNNER_UTILS};

/// The CUDA target's stages up to the GEMMs, their tiled form (the router
/// GEMM's as moe-cuda-lower-router-gemm's CPU twin), then loops
/// to the LLVM dialect (bf16 conversions expanded into integer ops, which
/// any CPU runs).
void lowerTiled(mlir::OpPassManager &pm, const TileVariant &tile) {
  mlir::moe::MoELoweringOptions lowering;
  mlir::moe::buildMoELowerToLinalgPipeline(pm, lowering,
                                           mlir::moe::getCUDALinalgForm());
  mlir::moe::buildMoECUDAPrepareKernelsPipeline(pm);
  mlir::moe::buildMoEBufferizePipeline(pm);
  // The router GEMM kernel's reduction order, as loops.
  mlir::moe::MoECUDALowerRouterGemmOptions router;
  router.cpuTwin = true;
  pm.addPass(mlir::moe::createMoECUDALowerRouterGemm(router));
  mlir::moe::MoECUDATileGroupedGemmOptions tiling;
  tiling.tileRows = tile.rows;
  tiling.tileColumns = tile.columns;
  pm.addPass(mlir::moe::createMoECUDATileGroupedGemm(tiling));
  pm.addPass(mlir::createForallToForLoopPass());
  pm.addNestedPass<mlir::func::FuncOp>(mlir::createConvertLinalgToLoopsPass());
  mlir::arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(mlir::arith::createArithExpandOpsPass(expand));
  pm.addPass(mlir::memref::createExpandStridedMetadataPass());
  pm.addPass(mlir::createLowerAffinePass());
  pm.addPass(mlir::createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(mlir::createSCFToControlFlowPass());
  pm.addPass(mlir::createConvertMathToLLVMPass());
  pm.addPass(mlir::createConvertMathToLibmPass());
  pm.addPass(mlir::createArithToLLVMConversionPass());
  pm.addPass(mlir::createConvertControlFlowToLLVMPass());
  pm.addPass(mlir::createConvertFuncToLLVMPass());
  pm.addPass(mlir::createConvertIndexToLLVMPass());
  pm.addPass(mlir::createReconcileUnrealizedCastsPass());
}

class TiledLayer : public JitLayer {
public:
  TiledLayer(const std::string &source, const TileVariant &tile)
      : JitLayer(
            source, [&tile](mlir::OpPassManager &pm) { lowerTiled(pm, tile); },
            kLibs) {}
};

/// `spec` with hidden 136 and FFNs of 72 (80 shared): every GEMM has a
/// partial column tile, and several column tiles in the narrow variant.
LayerSpec sized(LayerSpec spec) {
  spec.hidden = 136;
  spec.ffn = 72;
  if (spec.sharedFfn)
    spec.sharedFfn = 80;
  return spec;
}

/// To nearest even, as the runtime and `arith.truncf` round to bf16.
float roundToBF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return value;
  bits += 0x7fffu + ((bits >> 16) & 1u);
  bits &= 0xffff0000u;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

/// The layer as the CUDA path computes its weights: the expert FFNs'
/// (routed and shared) rounded to bf16; the router's and the shared
/// expert's sigmoid gate stay f32.
TestLayer withBF16Experts(TestLayer layer) {
  for (WeightArg &w : layer.weights)
    if (w.name.find("_proj.weight") != std::string::npos)
      for (float &v : w.values)
        v = roundToBF16(v);
  return layer;
}

void checkAgainstReference(const LayerSpec &given,
                           std::vector<int64_t> tokenCounts = {1, 7, 37, 300}) {
  LayerSpec spec = sized(given);
  TestLayer layer = makeTestLayer(spec);
  TestLayer rounded = withBF16Experts(layer);
  reference::LayerConfig config = rounded.referenceConfig();
  reference::LayerWeights weights = rounded.referenceWeights();
  std::string source = layer.source();
  for (const TileVariant &tile : kVariants) {
    TiledLayer compiled(source, tile);
    ASSERT_TRUE(compiled.error.empty()) << tile.name << ": " << compiled.error;
    std::mt19937 rng(99);
    for (int64_t T : tokenCounts) {
      std::vector<float> x = randomTensor(rng, T * spec.hidden, 1.0f);
      std::vector<float> expected =
          reference::runLayer(config, weights, x.data(), T);
      std::vector<float> actual =
          compiled.run(x, T, spec.hidden, layer.weights);
      ASSERT_EQ(actual.size(), expected.size()) << tile.name << ", T = " << T;
      EXPECT_LE(normwiseError(expected, actual), kTolerance)
          << tile.name << ", T = " << T << "\n"
          << source;
    }
  }
}

/// Checks that token 0's output has the same bits alone and first of 300
/// tokens, and that both tile variants give the same bits for all 300:
/// the depth is never split, and each token's rows are combined in row
/// order, whatever the batch and the grid.
void checkBatchInvariance(const LayerSpec &given) {
  LayerSpec spec = sized(given);
  TestLayer layer = makeTestLayer(spec);
  std::string source = layer.source();
  constexpr int64_t T = 300;
  std::mt19937 rng(7);
  std::vector<float> x = randomTensor(rng, T * spec.hidden, 1.0f);
  std::vector<float> first(x.begin(), x.begin() + spec.hidden);
  std::vector<std::vector<float>> batches;
  for (const TileVariant &tile : kVariants) {
    TiledLayer compiled(source, tile);
    ASSERT_TRUE(compiled.error.empty()) << tile.name << ": " << compiled.error;
    std::vector<float> batch = compiled.run(x, T, spec.hidden, layer.weights);
    std::vector<float> alone =
        compiled.run(first, 1, spec.hidden, layer.weights);
    ASSERT_EQ(batch.size(), static_cast<size_t>(T * spec.hidden));
    ASSERT_EQ(alone.size(), static_cast<size_t>(spec.hidden));
    EXPECT_EQ(
        std::memcmp(batch.data(), alone.data(), spec.hidden * sizeof(float)), 0)
        << tile.name << ": token 0's bits depend on the batch";
    batches.push_back(std::move(batch));
  }
  EXPECT_EQ(std::memcmp(batches[0].data(), batches[1].data(),
                        batches[0].size() * sizeof(float)),
            0)
      << "the tile variants give different bits";
}

// Tests Mixtral: softmax top-2, renormalised, SwiGLU.
TEST(CUDATiledLayer, Mixtral) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  checkAgainstReference(spec);
}

// Tests softmax top-k without renormalisation and GeGLU.
TEST(CUDATiledLayer, SoftmaxTopKPlainGeGlu) {
  LayerSpec spec;
  spec.routing = softmaxTopK(3, false);
  spec.activation = Activation::GeGLU;
  checkAgainstReference(spec);
}

// Tests Qwen2-MoE: softmax top-4 without renorm and a sigmoid-gated shared
// expert (the shared down GEMM's rows weighted by the gate).
TEST(CUDATiledLayer, Qwen2SigmoidGatedShared) {
  LayerSpec spec;
  spec.routing = softmaxTopK(4, false);
  spec.sharedFfn = 20;
  spec.sharedSigmoidGate = true;
  checkAgainstReference(spec);
}

// Tests Qwen3-MoE: softmax top-8 of 32 experts, renormalised, no shared
// expert (many small groups: tiles of a few rows).
TEST(CUDATiledLayer, Qwen3) {
  LayerSpec spec;
  spec.numExperts = 32;
  spec.routing = softmaxTopK(8, true);
  checkAgainstReference(spec);
}

// Tests DeepSeek-V2 group-limited greedy with a scaling factor and a shared
// expert.
TEST(CUDATiledLayer, DeepSeekV2GroupLimited) {
  LayerSpec spec;
  spec.routing = softmaxTopK(3, false);
  spec.routing->nGroup = 4;
  spec.routing->topkGroup = 2;
  spec.routing->scalingFactor = 16.0f;
  spec.sharedFfn = 24;
  checkAgainstReference(spec);
}

// Tests DeepSeek-V2 device-limited routing: 16 experts round-robin on 4
// ranks, top-4 on at most 2 ranks, scaled, with a shared expert.
TEST(CUDATiledLayer, DeepSeekV2RankLimited) {
  LayerSpec spec;
  spec.numExperts = 16;
  spec.routing = softmaxTopK(4, false);
  spec.routing->scalingFactor = 16.0f;
  spec.routing->rankLimit = 2;
  for (int64_t e = 0; e < spec.numExperts; ++e)
    spec.routing->expertRanks.push_back(e % 4);
  spec.sharedFfn = 24;
  checkAgainstReference(spec);
}

// Tests DeepSeek-V3: sigmoid + bias + group top-2 sum + renorm + scaling +
// a shared expert.
TEST(CUDATiledLayer, DeepSeekV3) { checkAgainstReference(deepSeekV3Spec()); }

// Tests Llama 4: top-1 on logits, the sigmoid weight scaling the expert
// input (the gate/up epilogue's scale), and a shared expert.
TEST(CUDATiledLayer, Llama4InputScaling) {
  checkAgainstReference(llama4Spec());
}

// Tests expert choice with the ungated activations (GELU, ReLU): one
// weight per gate/up GEMM.
TEST(CUDATiledLayer, ExpertChoiceUngated) {
  LayerSpec spec;
  spec.routing.reset();
  spec.expertChoiceFactor = 2.0;
  spec.activation = Activation::GELU;
  checkAgainstReference(spec);
  spec.expertChoiceFactor = 0.5;
  spec.activation = Activation::ReLU;
  checkAgainstReference(spec);
}

// Tests the transformers activations beyond SwiGLU (relu2, gelu_tanh,
// geglu_tanh, silu) through the grouped GEMMs' epilogue, which the GPU
// kernels share; clamped_swiglu is refused (moe-cuda-check-layers).
TEST(CUDATiledLayer, TransformersActivations) {
  for (Activation activation : {Activation::ReLU2, Activation::GELUTanh,
                                Activation::GeGLUTanh, Activation::SiLU}) {
    LayerSpec spec;
    spec.routing = softmaxTopK(2, true);
    spec.activation = activation;
    spec.sharedFfn = 20;
    checkAgainstReference(spec);
  }
}

// Tests capacity with each drop order and each dropped-slot policy.
TEST(CUDATiledLayer, CapacityPolicies) {
  for (DropOrder order : {DropOrder::TokenOrder, DropOrder::LowestWeight})
    for (DroppedSlot dropped : {DroppedSlot::Zero, DroppedSlot::Input}) {
      LayerSpec spec;
      spec.routing = softmaxTopK(2, true);
      spec.capacity = CapacityConfig{0.75, order, dropped};
      checkAgainstReference(spec);
    }
}

// Tests a collapsed router (most rows on one expert: several full row
// tiles of one expert, the others nearly empty).
TEST(CUDATiledLayer, CollapsedRouter) {
  LayerSpec spec;
  spec.routing = softmaxTopK(1, false);
  spec.collapseBoost = 50.0f;
  checkAgainstReference(spec);
}

// Tests a batch where most experts get no row (empty groups: the spare
// tiles of the grid).
TEST(CUDATiledLayer, SomeExpertsEmpty) {
  LayerSpec spec;
  spec.numExperts = 32;
  spec.routing = softmaxTopK(2, true);
  checkAgainstReference(spec, {1, 3});
}

// Tests that a token's output bits do not depend on the batch nor on the
// tile variant, for a plain, a shared-expert and an input-scaled layer.
TEST(CUDATiledLayer, BatchInvariant) {
  LayerSpec mixtral;
  mixtral.routing = softmaxTopK(2, true);
  checkBatchInvariance(mixtral);
  checkBatchInvariance(deepSeekV3Spec());
  checkBatchInvariance(llama4Spec());
}
/// Gemma 4's router (normalised input with its scale, per-expert weight
/// scales) with DeepSeek-V4's scores and a clamped 3-norm renormalisation.
LayerSpec gemma4RouterSpec() {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  spec.routing->scoring = Scoring::SqrtSoftplus;
  spec.routing->renormP = 3.0;
  spec.routing->renormEpsilon = 0.5;
  spec.routing->renormClamp = true;
  spec.routerInputNorm = RouterInputNorm{1e-6, 0.25};
  spec.expertScale = true;
  return spec;
}

// Tests the routing variants on the CUDA path's routing (one part per
// token, the router GEMM left whole): GPT-OSS (router bias, softmax of the
// selected logits), the Gemma 4 router, PhiMoE's sparsemixer.
TEST(CUDATiledLayer, RoutingVariants) {
  LayerSpec gptOss;
  gptOss.routing = softmaxTopK(4, false);
  gptOss.routing->selectOn = SelectOn::Logits;
  gptOss.routing->weights = RoutingWeights::SoftmaxSelected;
  gptOss.routerBias = true;
  checkAgainstReference(gptOss);
  checkAgainstReference(gemma4RouterSpec());
  LayerSpec phiMoE;
  phiMoE.numExperts = 16;
  phiMoE.routing = softmaxTopK(2, false);
  phiMoE.routing->scoring = Scoring::SparseMixer;
  phiMoE.routing->selectOn = SelectOn::Logits;
  phiMoE.routing->jitterEps = 0.1;
  checkAgainstReference(phiMoE);
}

// Tests that the router input normalisation (a reduction over each token's
// row) keeps a token's bits independent of the batch.
TEST(CUDATiledLayer, RouterInputNormBatchInvariant) {
  checkBatchInvariance(gemma4RouterSpec());
}
} // namespace
