//===- DeepSeekLike.cpp - families with DeepSeek-V3's router
//---------------===//
//
// Families whose transformers block is DeepSeek-V3's (sigmoid scores, a
// score-correction bias for selection, top-2-sum groups, renormalised and
// scaled weights, ungated shared experts one MLP wide) under other key
// names, tensor names or layer rules: GLM-4.5 (glm4_moe, its multimodal
// glm4v_moe, glm4_moe_lite, glm_moe_dsa), EXAONE-MoE, Kimi-Linear,
// MiMo-V2-Flash and MiniMax-M2.
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

#include <cfloat>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

static LogicalResult readGlm4MoeLayers(const ConfigReader &config,
                                       LayerPlan &plan, bool multimodal) {
  if (failed(readDeepSeekRouting(config, plan,
                                 DeepSeekDefaults::renormalizing())) ||
      failed(readFirstDense(config, plan, "first_k_dense_replace", 1)))
    return failure();
  if (multimodal)
    plan.prefix = "model.language_model.layers.{L}.mlp.";
  return success();
}

LogicalResult mlir::moe::hf::readGlm4Moe(const ConfigReader &config,
                                         LayerPlan &plan) {
  return readGlm4MoeLayers(config, plan, /*multimodal=*/false);
}

LogicalResult mlir::moe::hf::readGlm4vMoe(const ConfigReader &config,
                                          LayerPlan &plan) {
  return readGlm4MoeLayers(config, plan, /*multimodal=*/true);
}

LogicalResult mlir::moe::hf::readGlm4MoeLite(const ConfigReader &config,
                                             LayerPlan &plan) {
  if (failed(
          readDeepSeekRouting(config, plan, DeepSeekDefaults::renormalizing())))
    return failure();
  // Glm4MoeLiteConfig has no first_k_dense_replace: one dense layer.
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/false,
                           /*defaultDense=*/1);
}

LogicalResult mlir::moe::hf::readGlmMoeDsa(const ConfigReader &config,
                                           LayerPlan &plan) {
  if (failed(
          readDeepSeekRouting(config, plan, DeepSeekDefaults::renormalizing())))
    return failure();
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/true,
                           /*defaultDense=*/3);
}

LogicalResult mlir::moe::hf::readExaoneMoe(const ConfigReader &config,
                                           LayerPlan &plan) {
  if (failed(
          readDeepSeekRouting(config, plan, DeepSeekDefaults::renormalizing())))
    return failure();
  plan.correctionBiasName = "e_score_correction_bias";
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/true,
                           /*defaultDense=*/1);
}

LogicalResult mlir::moe::hf::readKimiLinear(const ConfigReader &config,
                                            LayerPlan &plan) {
  if (failed(
          readDeepSeekRouting(config, plan, DeepSeekDefaults::renormalizing())))
    return failure();
  plan.naming = ExpertNaming::Mixtral;
  plan.prefix = "model.layers.{L}.block_sparse_moe.";
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/true,
                           /*defaultDense=*/1);
}

LogicalResult mlir::moe::hf::readMiMoV2Flash(const ConfigReader &config,
                                             LayerPlan &plan) {
  DeepSeekDefaults defaults = DeepSeekDefaults::renormalizing();
  defaults.sharedExperts = false;
  if (failed(readDeepSeekRouting(config, plan, defaults)))
    return failure();
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/false,
                           /*defaultDense=*/1);
}

LogicalResult mlir::moe::hf::readMiniMaxM2(const ConfigReader &config,
                                           LayerPlan &plan) {
  DeepSeekDefaults defaults;
  defaults.sharedExperts = false;
  if (failed(readDeepSeekRouting(config, plan, defaults)))
    return failure();
  // MiniMaxM2SparseMoeBlock always renormalises and never scales; it has
  // no norm_topk_prob or routed_scaling_factor to read.
  plan.renormalize = true;
  plan.scalingFactor = 1.0;
  plan.naming = ExpertNaming::Mixtral;
  plan.prefix = "model.layers.{L}.block_sparse_moe.";
  plan.correctionBiasName = "e_score_correction_bias";
  setEveryLayer(plan);
  return success();
}

LogicalResult mlir::moe::hf::readDots1(const ConfigReader &config,
                                       LayerPlan &plan) {
  // Dots1Config defaults norm_topk_prob to false and has no
  // moe_layer_freq.
  if (failed(readDeepSeekRouting(config, plan, DeepSeekDefaults())))
    return failure();
  return readFirstDense(config, plan, "first_k_dense_replace", 0);
}

LogicalResult mlir::moe::hf::readDots3Note(const ConfigReader &config,
                                           LayerPlan &plan) {
  if (failed(
          readDeepSeekRouting(config, plan, DeepSeekDefaults::renormalizing())))
    return failure();
  // The shared experts' width has a key of its own here.
  FailureOr<int64_t> shared =
      config.optionalInt("n_shared_experts", 0, 0, limits::kMaxExperts);
  FailureOr<int64_t> width = config.optionalInt(
      "shared_experts_intermediate_size", plan.ffn, 1, limits::kMaxFfn);
  if (failed(shared) || failed(width) ||
      failed(setSharedWidth(config, plan, "n_shared_experts", *shared,
                            "shared_experts_intermediate_size", *width,
                            "shared_experts_intermediate_size")))
    return failure();
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/true,
                           /*defaultDense=*/1);
}

LogicalResult mlir::moe::hf::readDeepSeekV32(const ConfigReader &config,
                                             LayerPlan &plan) {
  if (failed(
          readDeepSeekRouting(config, plan, DeepSeekDefaults::renormalizing())))
    return failure();
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/true,
                           /*defaultDense=*/3);
}

LogicalResult mlir::moe::hf::readSolarOpen(const ConfigReader &config,
                                           LayerPlan &plan) {
  if (failed(
          readDeepSeekRouting(config, plan, DeepSeekDefaults::renormalizing())))
    return failure();
  setEveryLayer(plan);
  return success();
}

LogicalResult mlir::moe::hf::readBailingHybrid(const ConfigReader &config,
                                               LayerPlan &plan) {
  if (failed(
          readDeepSeekRouting(config, plan, DeepSeekDefaults::renormalizing())))
    return failure();
  plan.correctionBiasName = "gate.expert_bias";
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/true,
                           /*defaultDense=*/2);
}

LogicalResult mlir::moe::hf::readBeam(const ConfigReader &config,
                                      LayerPlan &plan) {
  DeepSeekDefaults defaults = DeepSeekDefaults::renormalizing();
  defaults.sharedExperts = false;
  if (failed(readDeepSeekRouting(config, plan, defaults)))
    return failure();
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/false,
                           /*defaultDense=*/3);
}

LogicalResult mlir::moe::hf::readAfmoe(const ConfigReader &config,
                                       LayerPlan &plan) {
  if (failed(readDeepSeekRouting(config, plan, DeepSeekDefaults())))
    return failure();
  // AfmoeTokenChoiceRouter always renormalises (it has no flag).
  plan.renormalize = true;
  plan.routerName = "router.gate.weight";
  plan.correctionBiasName = "expert_bias";
  return readFirstDense(config, plan, "num_dense_layers", 1);
}

LogicalResult mlir::moe::hf::readDeepSeekV2Ocr(const ConfigReader &config,
                                               LayerPlan &plan) {
  DeepSeekDefaults defaults;
  defaults.v3 = false;
  if (failed(readDeepSeekRouting(config, plan, defaults)))
    return failure();
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/true,
                           /*defaultDense=*/1);
}

LogicalResult mlir::moe::hf::readHyV3(const ConfigReader &config,
                                      LayerPlan &plan) {
  if (failed(readDeepSeekRouting(config, plan, DeepSeekDefaults())) ||
      failed(refuseSharedMlpBias(config, plan)))
    return failure();
  // HYV3MoE always renormalises.
  plan.renormalize = true;
  plan.routerName = "router.gate.weight";
  plan.correctionBiasName = "expert_bias";
  plan.sharedPrefix = "shared_mlp.";
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/false,
                           /*defaultDense=*/1);
}

namespace {
/// Mistral 4's router: DeepSeek-V3's groups (top-two sums) over softmax
/// scores, without a correction bias.
LogicalResult readMistralRouting(const ConfigReader &config, LayerPlan &plan) {
  if (failed(
          readDeepSeekRouting(config, plan, DeepSeekDefaults::renormalizing())))
    return failure();
  plan.scoring = ScoringFunc::softmax;
  plan.correctionBias = false;
  return success();
}
} // namespace

LogicalResult mlir::moe::hf::readMistral4(const ConfigReader &config,
                                          LayerPlan &plan) {
  if (failed(readMistralRouting(config, plan)) ||
      failed(checkFusedGateUpSize(config, plan)) ||
      failed(readFirstDense(config, plan, "first_k_dense_replace", 0)))
    return failure();
  plan.naming = ExpertNaming::FusedChunked;
  return success();
}

LogicalResult mlir::moe::hf::readMistralLarge4(const ConfigReader &config,
                                               LayerPlan &plan) {
  if (failed(readMistralRouting(config, plan)))
    return failure();
  // Always renormalised; Mistral's own checkpoint names.
  plan.renormalize = true;
  plan.naming = ExpertNaming::Mixtral;
  plan.prefix = "layers.{L}.";
  plan.sharedNaming = SharedNaming::Mixtral;
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/true,
                           /*defaultDense=*/1);
}

LogicalResult mlir::moe::hf::readNemotronH(const ConfigReader &config,
                                           LayerPlan &plan) {
  plan.layerListKey = "layers_block_type";
  if (failed(
          readDeepSeekRouting(config, plan, DeepSeekDefaults::renormalizing())))
    return failure();
  FailureOr<std::string> act = config.optionalString("mlp_hidden_act", "relu2");
  FailureOr<int64_t> shared = config.optionalInt(
      "moe_shared_expert_intermediate_size", 0, 0, limits::kMaxFfn);
  FailureOr<bool> mlpBias = config.optionalBool("mlp_bias", false);
  FailureOr<std::vector<std::string>> types =
      config.optionalLayerKinds("layers_block_type", plan.numLayers,
                                {"mamba", "linear_attention", "moe",
                                 "full_attention", "attention", "mlp"});
  if (failed(act) || failed(shared) || failed(mlpBias) || failed(types))
    return failure();
  if (*act != "relu2")
    return config.error("mlp_hidden_act")
           << "config key 'mlp_hidden_act' is " << quote(*act)
           << "; nemotron_h experts use 'relu2'";
  if (*mlpBias)
    return config.error("mlp_bias")
           << "config key 'mlp_bias' is true: moec's experts have no biases "
              "yet";
  if (config.has("moe_latent_size"))
    return config.error("moe_latent_size")
           << "config key 'moe_latent_size' is set: moec lacks the experts' "
              "latent projections";
  if (types->empty())
    return config.error("layers_block_type")
           << "config key 'layers_block_type' is missing: it says which "
              "layers are MoE";
  // One ungated relu^2 shared MLP of its own width (n_shared_experts is
  // not read by transformers).
  plan.activation = Activation::relu2;
  plan.sharedFfn = *shared;
  plan.prefix = "backbone.layers.{L}.mixer.";
  std::vector<std::string> kinds = *types;
  plan.isMoELayer = [kinds](int64_t layer) { return kinds[layer] == "moe"; };
  plan.denseRule = "'layers_block_type'";
  return success();
}

LogicalResult mlir::moe::hf::readMiniMaxM3VL(const ConfigReader &config,
                                             LayerPlan &plan) {
  DeepSeekDefaults defaults;
  defaults.sharedExperts = false;
  if (failed(readDeepSeekRouting(config, plan, defaults)))
    return failure();
  FailureOr<int64_t> shared =
      config.optionalInt("shared_intermediate_size", 0, 0, limits::kMaxFfn);
  FailureOr<double> alpha = config.optionalNumber("swiglu_alpha", 1.702);
  FailureOr<double> limit = config.optionalNumber("swiglu_limit", 7.0);
  if (failed(shared) || failed(alpha) || failed(limit))
    return failure();
  for (auto [key, value] :
       {std::pair<StringRef, double>("swiglu_alpha", *alpha),
        {"swiglu_limit", *limit}})
    if (!(value > 0 && value <= FLT_MAX))
      return config.error(key) << "config key '" << key
                               << "' must be positive and within f32, got "
                               << formatNumber(value);
  // Always renormalised, then scaled; GPT-OSS's clamped SwiGLU on chunked
  // gate/up, for the shared expert too.
  plan.renormalize = true;
  plan.activation = Activation::clamped_swiglu;
  plan.gluAlpha = *alpha;
  plan.gluLimit = *limit;
  plan.sharedFfn = *shared;
  plan.naming = ExpertNaming::Mixtral;
  plan.prefix = "language_model.model.layers.{L}.block_sparse_moe.";
  plan.correctionBiasName = "e_score_correction_bias";
  return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/false,
                           /*defaultDense=*/0);
}

LogicalResult mlir::moe::hf::readLfm2Moe(const ConfigReader &config,
                                         LayerPlan &plan) {
  DeepSeekDefaults defaults = DeepSeekDefaults::renormalizing();
  defaults.sharedExperts = false;
  if (failed(readDeepSeekRouting(config, plan, defaults)))
    return failure();
  FailureOr<bool> expertBias = config.optionalBool("use_expert_bias", true);
  if (failed(expertBias))
    return failure();
  // Lfm2MoeSparseMoeBlock: sigmoid, the expert bias for selection only,
  // renormalised with 1e-6 added, scaled; no groups.
  plan.correctionBias = *expertBias;
  plan.correctionBiasName = "expert_bias";
  plan.renormEpsilon = 1e-6;
  plan.naming = ExpertNaming::Mixtral;
  plan.prefix = "model.layers.{L}.feed_forward.";
  return readFirstDense(config, plan, "num_dense_layers", 2);
}
