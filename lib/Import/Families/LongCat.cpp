//===- LongCat.cpp - LongCat-Flash ----------------------------------------===//
//
// LongCat-Flash's MoE block: softmax over E real and Z zero (identity)
// experts, top-k selected on the probabilities plus a correction bias,
// weights the probabilities × routed_scaling_factor without
// renormalisation; SwiGLU experts. Every logical decoder layer
// (`num_layers` of them: the config has no `num_hidden_layers`) holds one
// such block at `model.layers.{L}.mlp`.
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

LogicalResult mlir::moe::hf::readLongCatFlash(const ConfigReader &config,
                                              LayerPlan &plan) {
  // num_hidden_layers is a property (2 · num_layers, the attention
  // sublayers); the MoE layers are the num_layers logical ones.
  plan.layerCountKey = "num_layers";
  if (failed(readCommon(config, plan, "n_routed_experts",
                        "expert_ffn_hidden_size")))
    return failure();
  // zero_expert_num: null means none, as transformers reads it.
  FailureOr<int64_t> zero =
      config.optionalInt("zero_expert_num", 0, 0, limits::kMaxExperts);
  FailureOr<double> scaling =
      config.optionalNumber("routed_scaling_factor", 6.0);
  FailureOr<bool> routerBias = config.optionalBool("router_bias", false);
  if (failed(zero) || failed(scaling) || failed(routerBias))
    return failure();
  if (plan.numExperts + *zero > limits::kMaxExperts)
    return config.error("zero_expert_num")
           << "config keys 'n_routed_experts' (" << plan.numExperts
           << ") + 'zero_expert_num' (" << *zero
           << ") give the router more experts than moec supports (at most "
           << limits::kMaxExperts << ")";
  // The weights are f32 probabilities times the factor: a normal f32 keeps
  // them finite and nonzero.
  if (failed(checkScalingFactor(config, "routed_scaling_factor", *scaling)))
    return failure();
  // With router_bias true transformers builds the classifier's bias but
  // computes F.linear(x, classifier.weight): the bias is never added.
  // moec follows transformers and reads no router bias.
  plan.zeroExperts = *zero;
  plan.scoring = ScoringFunc::softmax;
  plan.correctionBias = true;
  plan.renormalize = false;
  plan.scalingFactor = *scaling;
  plan.prefix = "model.layers.{L}.mlp.";
  plan.routerName = "router.classifier.weight";
  plan.correctionBiasName = "router.e_score_correction_bias";
  // experts.{e} for e < E; the experts.{e >= E} gate/up tensors
  // save_pretrained writes for the zero experts are never read.
  plan.naming = ExpertNaming::Projections;
  setEveryLayer(plan);
  return success();
}
