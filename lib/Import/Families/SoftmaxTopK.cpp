//===- SoftmaxTopK.cpp - families routing by softmax then top-k -----------===//
//
// Families whose transformers block is Qwen3-MoE's or Mixtral's (softmax
// over the experts, top-k, renormalised or not, SwiGLU experts) under
// other key names, tensor names or layer rules: FlexOlmo, Jamba, Mellum,
// MiniMax, LaraMini (with an ungated shared expert and fused experts), OLMoE,
// HunYuan-V1-MoE.
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

namespace {
/// Softmax top-k with the sizes from `expertsKey` / `ffnKey`, renormalised
/// by `norm_topk_prob` (default `normDefault`), in the Qwen3 naming.
LogicalResult readSoftmaxTopK(const ConfigReader &config, LayerPlan &plan,
                              StringRef expertsKey, StringRef ffnKey,
                              bool normDefault) {
  if (failed(readCommon(config, plan, expertsKey, ffnKey)))
    return failure();
  FailureOr<bool> norm = config.optionalBool("norm_topk_prob", normDefault);
  if (failed(norm))
    return failure();
  plan.renormalize = *norm;
  plan.prefix = "model.layers.{L}.mlp.";
  plan.routerName = "gate.weight";
  return success();
}
} // namespace

LogicalResult mlir::moe::hf::readFlexOlmo(const ConfigReader &config,
                                          LayerPlan &plan) {
  if (failed(readSoftmaxTopK(config, plan, "num_experts", "intermediate_size",
                             /*normDefault=*/false)))
    return failure();
  setEveryLayer(plan);
  return success();
}

LogicalResult mlir::moe::hf::readJamba(const ConfigReader &config,
                                       LayerPlan &plan) {
  // JambaSparseMoeBlock never renormalises.
  if (failed(readCommon(config, plan, "num_experts", "intermediate_size")))
    return failure();
  FailureOr<int64_t> period =
      config.optionalInt("expert_layer_period", 2, 1, limits::kMaxLayers);
  FailureOr<int64_t> offset =
      config.optionalInt("expert_layer_offset", 1, 0, limits::kMaxLayers);
  if (failed(period) || failed(offset))
    return failure();
  plan.prefix = "model.layers.{L}.feed_forward.";
  plan.routerName = "router.weight";
  int64_t every = *period, at = *offset;
  plan.isMoELayer = [every, at](int64_t layer) { return layer % every == at; };
  plan.denseRule = "'expert_layer_period' = " + std::to_string(every) +
                   " and 'expert_layer_offset' = " + std::to_string(at);
  return success();
}

LogicalResult mlir::moe::hf::readMellum(const ConfigReader &config,
                                        LayerPlan &plan) {
  if (failed(readSoftmaxTopK(config, plan, "num_local_experts",
                             "moe_intermediate_size", /*normDefault=*/true)))
    return failure();
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/false,
                           /*defaultDense=*/0);
}

LogicalResult mlir::moe::hf::readMiniMax(const ConfigReader &config,
                                         LayerPlan &plan) {
  // MiniMaxSparseMoeBlock is Mixtral's (jitter noise is training-only).
  return readMixtral(config, plan);
}

LogicalResult mlir::moe::hf::readLaraMini(const ConfigReader &config,
                                          LayerPlan &plan) {
  if (failed(readSoftmaxTopK(config, plan, "num_experts",
                             "moe_intermediate_size", /*normDefault=*/true)))
    return failure();
  FailureOr<int64_t> shared = config.optionalInt(
      "shared_expert_intermediate_size", 0, 0, limits::kMaxFfn);
  if (failed(shared) || failed(checkFusedGateUpSize(config, plan)))
    return failure();
  // The shared expert is added as it is (no sigmoid gate, unlike Qwen2).
  plan.sharedFfn = *shared;
  plan.sharedPrefix = "shared_expert.";
  plan.naming = ExpertNaming::FusedChunked;
  setEveryLayer(plan);
  return success();
}

LogicalResult mlir::moe::hf::readOlmoe(const ConfigReader &config,
                                       LayerPlan &plan) {
  if (failed(readSoftmaxTopK(config, plan, "num_experts", "intermediate_size",
                             /*normDefault=*/false)))
    return failure();
  setEveryLayer(plan);
  return success();
}

LogicalResult mlir::moe::hf::readHunYuanV1Moe(const ConfigReader &config,
                                              LayerPlan &plan) {
  // The experts and the shared MLP are both intermediate_size wide;
  // HunYuanMoEV1Gate always renormalises. A per-layer list of moe_topk or
  // num_experts is an error at its key (not an integer).
  if (failed(readSoftmaxTopK(config, plan, "num_experts", "intermediate_size",
                             /*normDefault=*/true)))
    return failure();
  plan.renormalize = true;
  plan.routerName = "gate.wg.weight";
  plan.sharedFfn = plan.ffn;
  plan.sharedPrefix = "shared_mlp.";
  setEveryLayer(plan);
  return success();
}
