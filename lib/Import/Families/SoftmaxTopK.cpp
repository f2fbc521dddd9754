//===- SoftmaxTopK.cpp - families routing by softmax then top-k -----------===//
//
// Families whose transformers block is Qwen3-MoE's or Mixtral's (softmax
// over the experts, top-k, renormalised or not, SwiGLU experts) under
// other key names, tensor names or layer rules: FlexOlmo, Jamba, Mellum,
// MiniMax, LaraMini (with an ungated shared expert and fused experts), OLMoE,
// HunYuan-V1-MoE. And the families whose router takes the top-k logits
// and a softmax over them (Granite-MoE, Aria, Cohere2-MoE): that is the
// renormalised softmax top-k exactly (softmax is monotonic, and
// e^l_i / sum_sel e^l_j = p_i / sum_sel p_j), to the last bits of rounding.
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

namespace {
/// Granite-MoE's experts and router; `fusedNames`: IBM's input_linear /
/// output_linear / router.layer (granitemoe, -shared, -hybrid) or
/// transformers' own names (granitemoe_swa saves what it holds).
LogicalResult readGraniteBlock(const ConfigReader &config, LayerPlan &plan,
                               bool ibmNames, bool sharedMlp) {
  if (failed(
          readCommon(config, plan, "num_local_experts", "intermediate_size")) ||
      failed(checkFusedGateUpSize(config, plan)))
    return failure();
  plan.renormalize = true;
  plan.prefix = "model.layers.{L}.block_sparse_moe.";
  plan.naming = ExpertNaming::FusedChunked;
  if (ibmNames) {
    plan.routerName = "router.layer.weight";
    plan.gateUpName = "input_linear.weight";
    plan.downName = "output_linear.weight";
  } else {
    plan.routerName = "router.weight";
  }
  if (sharedMlp) {
    FailureOr<int64_t> shared =
        config.optionalInt("shared_intermediate_size", 0, 0, limits::kMaxFfn);
    if (failed(shared))
      return failure();
    // Added to the block's output in the decoder layer, ungated.
    plan.sharedFfn = *shared;
    plan.sharedNaming = SharedNaming::FusedInput;
    plan.sharedLayerPrefix = "model.layers.{L}.shared_mlp.";
  }
  setEveryLayer(plan);
  return success();
}
} // namespace

LogicalResult mlir::moe::hf::readGraniteMoe(const ConfigReader &config,
                                            LayerPlan &plan) {
  return readGraniteBlock(config, plan, /*ibmNames=*/true,
                          /*sharedMlp=*/false);
}

LogicalResult mlir::moe::hf::readGraniteMoeShared(const ConfigReader &config,
                                                  LayerPlan &plan) {
  return readGraniteBlock(config, plan, /*ibmNames=*/true,
                          /*sharedMlp=*/true);
}

LogicalResult mlir::moe::hf::readGraniteMoeSwa(const ConfigReader &config,
                                               LayerPlan &plan) {
  return readGraniteBlock(config, plan, /*ibmNames=*/false,
                          /*sharedMlp=*/true);
}

LogicalResult mlir::moe::hf::readAria(const ConfigReader &config,
                                      LayerPlan &plan) {
  if (failed(
          readCommon(config, plan, "moe_num_experts", "intermediate_size")) ||
      failed(checkFusedGateUpSize(config, plan)))
    return failure();
  FailureOr<int64_t> shared =
      config.optionalInt("moe_num_shared_experts", 2, 0, limits::kMaxExperts);
  if (failed(shared) || failed(refuseSharedMlpBias(config, plan)))
    return failure();
  if (failed(setSharedWidth(config, plan, "moe_num_shared_experts", *shared,
                            "intermediate_size", plan.ffn)))
    return failure();
  plan.renormalize = true;
  plan.prefix = "language_model.model.layers.{L}.mlp.";
  plan.routerName = "router.weight";
  plan.naming = ExpertNaming::FusedTransposed;
  plan.gateUpName = "experts.fc1.weight";
  plan.downName = "experts.fc2.weight";
  plan.sharedPrefix = "shared_experts.";
  setEveryLayer(plan);
  return success();
}

LogicalResult mlir::moe::hf::readCohere2Moe(const ConfigReader &config,
                                            LayerPlan &plan) {
  if (failed(readCommon(config, plan, "num_experts", "intermediate_size")))
    return failure();
  FailureOr<std::string> selection =
      config.optionalString("expert_selection_fn", "softmax");
  FailureOr<bool> norm = config.optionalBool("norm_topk_prob", true);
  FailureOr<int64_t> shared =
      config.optionalInt("num_shared_experts", 0, 0, limits::kMaxExperts);
  FailureOr<std::string> combination =
      config.optionalString("shared_expert_combination_strategy", "average");
  if (failed(selection) || failed(norm) || failed(shared) ||
      failed(combination))
    return failure();
  if (*selection == "softmax") {
    plan.renormalize = true;
  } else if (*selection == "sigmoid") {
    // The sigmoid of the top-k logits, renormalised by norm_topk_prob.
    plan.scoring = ScoringFunc::sigmoid;
    plan.selectOn = SelectionSource::logits;
    plan.renormalize = *norm;
  } else {
    return config.error("expert_selection_fn")
           << "config key 'expert_selection_fn' is " << quote(*selection)
           << "; cohere2_moe selects by 'softmax' or 'sigmoid'";
  }
  if (failed(setSharedWidth(config, plan, "num_shared_experts", *shared,
                            "intermediate_size", plan.ffn)))
    return failure();
  if (plan.sharedFfn > 0 && *combination != "sum") {
    if (*combination != "average")
      return config.error("shared_expert_combination_strategy")
             << "config key 'shared_expert_combination_strategy' is "
             << quote(*combination) << "; cohere2_moe combines by 'sum' or "
             << "'average'";
    plan.sharedAverage = true;
  }
  plan.prefix = "model.layers.{L}.mlp.";
  plan.routerName = "gate.weight";
  plan.sharedPrefix = "shared_experts.";
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/true,
                           /*defaultDense=*/0);
}

LogicalResult mlir::moe::hf::readPhimoe(const ConfigReader &config,
                                        LayerPlan &plan) {
  // Mixtral's block with PhiMoE's sparsemixer router in its inference form,
  // whose threshold is router_jitter_noise; it always picks two experts.
  if (failed(readMixtral(config, plan)))
    return failure();
  FailureOr<double> jitter = config.optionalNumber("router_jitter_noise", 0.01);
  if (failed(jitter))
    return failure();
  if (plan.topK != 2)
    return config.error("num_experts_per_tok")
           << "config key 'num_experts_per_tok' is " << plan.topK
           << "; phimoe's sparsemixer always selects 2 experts";
  if (!(*jitter >= 0 && *jitter <= 1))
    return config.error("router_jitter_noise")
           << "config key 'router_jitter_noise' must be in [0, 1], got "
           << formatNumber(*jitter);
  plan.scoring = ScoringFunc::sparsemixer;
  plan.selectOn = SelectionSource::logits;
  plan.renormalize = false;
  plan.jitterEps = *jitter;
  return success();
}
