//===- ClampedSwiGlu.cpp - families with GLM-5's or Step-3.7's clamp ------===//
//
// Families whose experts clamp their SwiGLU in a form other than GPT-OSS's
// (`#moe.glu_clamp` forms clamp_gate and clamp_silu): GLM-5 (glm5_next,
// DeepSeek-V3's router, routed and shared experts clamped alike), Hy-V4
// (hy_v4 and hy_v4_vl, DeepSeek-V3's router, only the routed experts
// clamped) and Step-3.7 (step3p7, sigmoid with a correction bias, per-layer
// limits for the routed and the shared experts).
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

#include <cfloat>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

namespace {
/// Whether `limit` can be a `#moe.glu_clamp` limit: positive and within f32.
bool isClampLimit(double limit) { return limit > 0.0 && limit <= FLT_MAX; }

/// Step-3.7's per-layer limits `key`: a number or null per decoder layer
/// (0 or null: no clamp), possibly followed by the MTP layers' entries,
/// which are not read. Empty when the key is absent (no clamp anywhere).
FailureOr<std::vector<double>>
readLayerLimits(const ConfigReader &config, StringRef key, int64_t numLayers) {
  std::vector<double> values;
  const llvm::json::Value *value = config.get(key);
  if (!value)
    return values;
  const llvm::json::Array *array = value->getAsArray();
  if (!array || static_cast<int64_t>(array->size()) < numLayers ||
      array->size() > size_t(limits::kMaxLayers) + size_t(numLayers)) {
    config.error(key) << "config key '" << key << "' must be a list of "
                      << numLayers
                      << " limits (one per 'num_hidden_layers', then any MTP "
                         "layers'), got "
                      << (array ? std::to_string(array->size()) + " items"
                                : describe(*value));
    return failure();
  }
  for (int64_t layer = 0; layer < numLayers; ++layer) {
    const llvm::json::Value &item = (*array)[layer];
    if (item.getAsNull()) {
      values.push_back(0.0);
      continue;
    }
    std::optional<double> limit = item.getAsNumber();
    if (!limit || !(*limit == 0.0 || isClampLimit(*limit))) {
      config.error(key) << "config key '" << key << "' holds " << describe(item)
                        << " at index " << layer
                        << "; expected 0 or null (no clamp) or a positive "
                           "limit within f32";
      return failure();
    }
    values.push_back(*limit);
  }
  return values;
}

/// Step-3.7's layer rule: `mlp_layer_types`, else the legacy hub key
/// `moe_layers_enum` (MoE layer indexes, a comma-separated string or a
/// list), else layers 3 on.
LogicalResult readStepLayerRule(const ConfigReader &config, LayerPlan &plan) {
  if (config.has("mlp_layer_types") || !config.has("moe_layers_enum"))
    return readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/false,
                             /*defaultDense=*/3);
  const llvm::json::Value &value = *config.get("moe_layers_enum");
  std::vector<int64_t> moeLayers;
  if (std::optional<StringRef> text = value.getAsString()) {
    SmallVector<StringRef> items;
    text->split(items, ',', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
    for (StringRef item : items) {
      int64_t layer = 0;
      if (item.trim().getAsInteger(10, layer) || layer < 0 ||
          layer >= plan.numLayers + limits::kMaxLayers)
        return config.error("moe_layers_enum")
               << "config key 'moe_layers_enum' holds " << quote(item)
               << "; expected comma-separated layer indexes";
      moeLayers.push_back(layer);
    }
  } else {
    // A list of indexes: MTP layers past num_hidden_layers are allowed and
    // not read.
    FailureOr<std::vector<int64_t>> layers = config.optionalLayerList(
        "moe_layers_enum", plan.numLayers + limits::kMaxLayers);
    if (failed(layers))
      return failure();
    moeLayers = *layers;
  }
  std::vector<bool> sparse(plan.numLayers, false);
  for (int64_t layer : moeLayers)
    if (layer < plan.numLayers)
      sparse[layer] = true;
  plan.isMoELayer = [sparse](int64_t layer) { return bool(sparse[layer]); };
  plan.denseRule = "'moe_layers_enum'";
  return success();
}
} // namespace

LogicalResult mlir::moe::hf::readGlm5Clamp(const ConfigReader &config,
                                           LayerPlan &plan) {
  FailureOr<double> limit = config.optionalNumber("swiglu_limit", 10.0);
  if (failed(limit))
    return failure();
  if (!isClampLimit(*limit))
    return config.error("swiglu_limit")
           << "config key 'swiglu_limit' must be positive and within f32 (at "
              "most "
           << formatNumber(FLT_MAX) << "), got " << formatNumber(*limit) << "; "
           << plan.modelType << " clamps its experts with it";
  plan.activation = Activation::clamped_swiglu;
  plan.gluForm = GluClampForm::clamp_gate;
  plan.gluLimit = *limit;
  return success();
}

LogicalResult mlir::moe::hf::readGlm5Next(const ConfigReader &config,
                                          LayerPlan &plan) {
  if (failed(readDeepSeekRouting(config, plan,
                                 DeepSeekDefaults::renormalizing())) ||
      failed(readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/false,
                               /*defaultDense=*/3)))
    return failure();
  // Glm5NextMLP clamps the routed and the shared experts alike.
  if (failed(readGlm5Clamp(config, plan)))
    return failure();
  plan.prefix = "model.language_model.layers.{L}.mlp.";
  return success();
}

LogicalResult mlir::moe::hf::readHyV4(const ConfigReader &config,
                                      LayerPlan &plan) {
  if (failed(readDeepSeekRouting(config, plan,
                                 DeepSeekDefaults::renormalizing())) ||
      failed(checkFusedGateUpSize(config, plan)) ||
      failed(readMlpLayerTypes(config, plan, /*readFirstDenseKey=*/false,
                               /*defaultDense=*/1)))
    return failure();
  // HYV4Experts clamp; the shared MLP does not.
  if (failed(readGlm5Clamp(config, plan)))
    return failure();
  plan.sharedActivation = Activation::swiglu;
  plan.naming = ExpertNaming::FusedChunked;
  // save_pretrained reverses the load-time `.linear_gate -> .gate_proj`
  // rename (meant for attention gates) on the shared expert's gate too.
  plan.sharedNaming = SharedNaming::LinearGate;
  return success();
}

LogicalResult mlir::moe::hf::readStep3p7(const ConfigReader &config,
                                         LayerPlan &plan) {
  if (failed(readCommon(config, plan, "n_routed_experts",
                        "moe_intermediate_size")))
    return failure();
  FailureOr<int64_t> shared =
      config.optionalInt("share_expert_dim", 1280, 0, limits::kMaxFfn);
  FailureOr<double> scaling =
      config.optionalNumber("moe_router_scaling_factor", 1.0);
  if (failed(shared) || failed(scaling) ||
      failed(refuseSharedMlpBias(config, plan)))
    return failure();
  if (failed(checkScalingFactor(config, "moe_router_scaling_factor", *scaling)))
    return failure();
  FailureOr<std::vector<double>> routedLimits =
      readLayerLimits(config, "swiglu_limits", plan.numLayers);
  FailureOr<std::vector<double>> sharedLimits =
      readLayerLimits(config, "swiglu_limits_shared", plan.numLayers);
  if (failed(routedLimits) || failed(sharedLimits) ||
      failed(readStepLayerRule(config, plan)))
    return failure();

  // Step3p7TopKRouter: sigmoid scores, top-k of scores + router_bias,
  // weights renormalised (no epsilon: immaterial for sigmoid scores) and
  // the routed sum scaled.
  plan.scoring = ScoringFunc::sigmoid;
  plan.correctionBias = true;
  plan.renormalize = true;
  plan.scalingFactor = *scaling;
  plan.sharedFfn = *shared;
  // Step3p7's experts: act = min(silu(g), limit) · clamp(u, ±limit).
  plan.gluForm = GluClampForm::clamp_silu;
  plan.layerGluLimits = *routedLimits;
  plan.layerSharedGluLimits = *sharedLimits;
  if (plan.layerGluLimits.empty())
    plan.layerGluLimits.assign(plan.numLayers, 0.0);
  if (plan.layerSharedGluLimits.empty())
    plan.layerSharedGluLimits.assign(plan.numLayers, 0.0);
  // The checkpoint's native names (the published ones and what
  // save_pretrained writes back).
  plan.prefix = "model.layers.{L}.";
  plan.routerName = "moe.gate.weight";
  plan.correctionBiasName = "moe.router_bias";
  plan.naming = ExpertNaming::Stacked;
  plan.stackedPrefix = "moe.";
  plan.sharedLayerPrefix = "model.layers.{L}.share_expert.";
  return success();
}
