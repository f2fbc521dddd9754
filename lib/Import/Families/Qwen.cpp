//===- Qwen.cpp - Qwen2-MoE and Qwen3-MoE ===//
//
// The Qwen MoE generations: Qwen2-MoE (with a sigmoid-gated shared
// expert), Qwen3-MoE, Qwen3-VL-MoE (text; fused experts in either
// orientation), Qwen3-Next, Qwen3.5-MoE, Qwen4-Exp (text), Qwen3-Omni
// (the thinker), and Flint (Qwen2's block scored by sigmoid, its shared
// expert ungated).
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

#include "llvm/ADT/STLExtras.h"

#include <cfloat>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

namespace {
/// Where the Qwen-MoE generations differ.
struct QwenOptions {
  /// A shared expert of `shared_expert_intermediate_size`, sigmoid-gated.
  bool sharedExpert = false;
  /// `norm_topk_prob` when absent (true from Qwen3-Next on).
  bool normDefault = false;
  /// Renormalised whatever the config says (Qwen3.5's block has no flag).
  bool alwaysRenormalize = false;
  /// Every layer MoE (no decoder_sparse_step / mlp_only_layers).
  bool everyLayer = false;
  /// The multimodal checkpoints nest the language model.
  StringRef prefix = "model.layers.{L}.mlp.";
  /// `mlp_only_layers` when absent (Flint's config makes it [0, 1]).
  std::vector<int64_t> defaultMlpOnly;
  /// Scores by sigmoid, no correction bias (Flint).
  bool sigmoid = false;
  /// The shared expert is added as it is, without Qwen2's sigmoid gate.
  bool ungatedShared = false;
  /// The experts are fused tensors stored either way round (Qwen3-VL-MoE).
  bool fusedEitherOrientation = false;
};

LogicalResult readQwen(const ConfigReader &config, LayerPlan &plan,
                       const QwenOptions &options) {
  if (failed(readCommon(config, plan, "num_experts", "moe_intermediate_size")))
    return failure();
  FailureOr<bool> norm =
      options.alwaysRenormalize
          ? FailureOr<bool>(true)
          : config.optionalBool("norm_topk_prob", options.normDefault);
  if (failed(norm))
    return failure();
  plan.renormalize = *norm;
  if (options.sigmoid)
    plan.scoring = ScoringFunc::sigmoid;
  if (options.sharedExpert) {
    FailureOr<int64_t> shared = config.requireInt(
        "shared_expert_intermediate_size", 0, limits::kMaxFfn);
    if (failed(shared))
      return failure();
    plan.sharedFfn = *shared;
    plan.sharedSigmoidGate = *shared > 0 && !options.ungatedShared;
    plan.sharedPrefix = "shared_expert.";
  }
  plan.prefix = options.prefix.str();
  plan.routerName = "gate.weight";
  if (options.fusedEitherOrientation) {
    if (failed(checkFusedGateUpSize(config, plan)))
      return failure();
    plan.naming = ExpertNaming::FusedChunked;
    plan.fusedEitherOrientation = true;
  }
  if (options.everyLayer) {
    setEveryLayer(plan);
    return success();
  }
  FailureOr<int64_t> step =
      config.optionalInt("decoder_sparse_step", 1, 1, limits::kMaxLayers);
  FailureOr<std::vector<int64_t>> mlpOnly =
      config.optionalLayerList("mlp_only_layers", plan.numLayers);
  if (failed(step) || failed(mlpOnly))
    return failure();
  int64_t sparseStep = *step;
  std::vector<int64_t> dense =
      config.has("mlp_only_layers") ? *mlpOnly : options.defaultMlpOnly;
  plan.isMoELayer = [sparseStep, dense](int64_t layer) {
    return llvm::find(dense, layer) == dense.end() &&
           (layer + 1) % sparseStep == 0;
  };
  plan.denseRule = "'decoder_sparse_step' = " + std::to_string(sparseStep) +
                   " and 'mlp_only_layers'";
  return success();
}
} // namespace

LogicalResult mlir::moe::hf::readQwen2Moe(const ConfigReader &config,
                                          LayerPlan &plan) {
  QwenOptions options;
  options.sharedExpert = true;
  return readQwen(config, plan, options);
}

LogicalResult mlir::moe::hf::readQwen3Moe(const ConfigReader &config,
                                          LayerPlan &plan) {
  return readQwen(config, plan, QwenOptions());
}

LogicalResult mlir::moe::hf::readQwen3Next(const ConfigReader &config,
                                           LayerPlan &plan) {
  QwenOptions options;
  options.sharedExpert = true;
  options.normDefault = true;
  return readQwen(config, plan, options);
}

LogicalResult mlir::moe::hf::readQwen35Moe(const ConfigReader &config,
                                           LayerPlan &plan) {
  QwenOptions options;
  options.sharedExpert = true;
  options.alwaysRenormalize = true;
  options.everyLayer = true;
  options.prefix = "model.language_model.layers.{L}.mlp.";
  return readQwen(config, plan, options);
}

LogicalResult mlir::moe::hf::readQwen4Exp(const ConfigReader &config,
                                          LayerPlan &plan) {
  QwenOptions options;
  options.sharedExpert = true;
  options.normDefault = true;
  options.everyLayer = true;
  options.prefix = "model.language_model.layers.{L}.mlp.";
  return readQwen(config, plan, options);
}

LogicalResult mlir::moe::hf::readQwen3VLMoe(const ConfigReader &config,
                                            LayerPlan &plan) {
  // Qwen3VLMoeTextSparseMoeBlock always renormalises; transformers 5 saves
  // gate_up_proj [E, 2F, H], the published checkpoints hold [E, H, 2F].
  QwenOptions options;
  options.alwaysRenormalize = true;
  options.fusedEitherOrientation = true;
  options.prefix = "model.language_model.layers.{L}.mlp.";
  return readQwen(config, plan, options);
}

LogicalResult mlir::moe::hf::readQwen3OmniMoe(const ConfigReader &config,
                                              LayerPlan &plan) {
  // The thinker's language model (the talker is a speech decoder).
  QwenOptions options;
  options.normDefault = true;
  options.prefix = "thinker.model.layers.{L}.mlp.";
  return readQwen(config, plan, options);
}

LogicalResult mlir::moe::hf::readFlint(const ConfigReader &config,
                                       LayerPlan &plan) {
  QwenOptions options;
  options.sharedExpert = true;
  options.ungatedShared = true;
  options.sigmoid = true;
  options.normDefault = true;
  options.defaultMlpOnly = {0, 1};
  return readQwen(config, plan, options);
}
