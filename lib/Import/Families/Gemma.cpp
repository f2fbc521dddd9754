//===- Gemma.cpp - Gemma 4 and block-diffusion Gemma -----------------------===//
//
// Gemma 4's feed-forward half as one moe.layer: the router reads the
// residual stream x through an unweighted RMSNorm × router.scale × H^-0.5,
// softmax top-k renormalised then × per_expert_scale; the experts (fused
// GeGLU-tanh gate_up_proj) see pre_feedforward_layernorm_2(x) and their sum
// goes through post_feedforward_layernorm_2; the dense MLP beside them is
// the shared expert, between pre_feedforward_layernorm and
// post_feedforward_layernorm_1; post_feedforward_layernorm normalises the
// sum. The residual and layer_scalar stay in the host model.
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

namespace {
/// What Gemma 4 and diffusion Gemma share; `prefix` holds "{L}".
LogicalResult readGemma4Block(const ConfigReader &config, LayerPlan &plan,
                              std::string prefix) {
  if (failed(readCommon(config, plan, "num_experts", "moe_intermediate_size")) ||
      failed(checkFusedGateUpSize(config, plan)))
    return failure();
  FailureOr<int64_t> dense =
      config.requireInt("intermediate_size", 1, limits::kMaxFfn);
  FailureOr<std::string> act =
      config.optionalString("hidden_activation", "gelu_pytorch_tanh");
  FailureOr<double> epsilon = config.optionalNumber("rms_norm_eps", 1e-6);
  if (failed(dense) || failed(act) || failed(epsilon))
    return failure();
  if (*act != "gelu_pytorch_tanh")
    return config.error("hidden_activation")
           << "config key 'hidden_activation' is " << quote(*act) << "; "
           << plan.modelType
           << " experts use 'gelu_pytorch_tanh' (GeGLU with tanh GELU)";
  if (!(*epsilon > 0.0 && *epsilon <= 1.0))
    return config.error("rms_norm_eps")
           << "config key 'rms_norm_eps' must be in (0, 1], got "
           << formatNumber(*epsilon);
  if (failed(setSharedWidth(config, plan, "intermediate_size", 1,
                            "intermediate_size", *dense)))
    return failure();

  plan.activation = Activation::geglu_tanh;
  plan.renormalize = true;
  plan.prefix = std::move(prefix);
  plan.routerName = "router.proj.weight";
  plan.routerInputNormEpsilon = *epsilon;
  plan.routerInputScaleName = "router.scale";
  plan.expertScaleName = "router.per_expert_scale";
  plan.naming = ExpertNaming::FusedChunked;
  plan.sharedPrefix = "mlp.";
  plan.sharedNaming = SharedNaming::Projections;
  plan.normEpsilon = *epsilon;
  plan.expertInputNormName = "pre_feedforward_layernorm_2.weight";
  plan.expertOutputNormName = "post_feedforward_layernorm_2.weight";
  plan.sharedInputNormName = "pre_feedforward_layernorm.weight";
  plan.sharedOutputNormName = "post_feedforward_layernorm_1.weight";
  plan.outputNormName = "post_feedforward_layernorm.weight";
  setEveryLayer(plan);
  return success();
}
} // namespace

LogicalResult mlir::moe::hf::readGemma4Text(const ConfigReader &config,
                                            LayerPlan &plan) {
  FailureOr<bool> moe = config.optionalBool("enable_moe_block", false);
  FailureOr<bool> doubleWide = config.optionalBool("use_double_wide_mlp", false);
  FailureOr<int64_t> kvShared =
      config.optionalInt("num_kv_shared_layers", 0, 0, limits::kMaxLayers);
  if (failed(moe) || failed(doubleWide) || failed(kvShared))
    return failure();
  if (!*moe)
    return config.error("enable_moe_block")
           << "config key 'enable_moe_block' is false: this " << plan.modelType
           << " model has no MoE layer";
  // The dense MLP of the KV-sharing layers is twice as wide: a shared
  // expert width per layer, which the plan does not have.
  if (*doubleWide && *kvShared > 0)
    return config.error("use_double_wide_mlp")
           << "config key 'use_double_wide_mlp' is true with "
              "'num_kv_shared_layers' "
           << *kvShared
           << ": moec's import gives every layer's dense MLP one width";
  // Gemma4ForConditionalGeneration nests the text model in language_model.
  return readGemma4Block(config, plan,
                         plan.modelType == "gemma4"
                             ? "model.language_model.layers.{L}."
                             : "model.layers.{L}.");
}

LogicalResult mlir::moe::hf::readDiffusionGemma(const ConfigReader &config,
                                                LayerPlan &plan) {
  // Every text layer has the MoE branch; the encoder's are tied to the
  // decoder's and saved once, under the decoder.
  return readGemma4Block(config, plan, "model.decoder.layers.{L}.");
}
