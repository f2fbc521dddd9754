//===- DeepSeek.cpp - DeepSeek-V2, V3 and V4 ===//
//
// DeepSeek-V2 (greedy or group-limited softmax), V3 (noaux_tc: sigmoid
// with a correction bias, groups by their top two), with shared experts;
// V4 (sqrtsoftplus with a correction bias, hash layers routed by token id).
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

LogicalResult
mlir::moe::hf::readDeepSeekRouting(const ConfigReader &config, LayerPlan &plan,
                                   const DeepSeekDefaults &defaults) {
  bool v3 = defaults.v3;
  if (failed(readCommon(config, plan, "n_routed_experts",
                        "moe_intermediate_size")))
    return failure();
  FailureOr<int64_t> shared =
      defaults.sharedExperts
          ? config.optionalInt("n_shared_experts", 0, 0, limits::kMaxExperts)
          : FailureOr<int64_t>(0);
  FailureOr<double> scaling =
      config.optionalNumber("routed_scaling_factor", 1.0);
  FailureOr<bool> norm =
      config.optionalBool("norm_topk_prob", defaults.renormalize);
  FailureOr<std::string> method =
      config.optionalString("topk_method", v3 ? "noaux_tc" : "greedy");
  FailureOr<std::string> scoring =
      config.optionalString("scoring_func", v3 ? "sigmoid" : "softmax");
  FailureOr<int64_t> nGroup =
      config.optionalInt("n_group", 1, 1, limits::kMaxExperts);
  FailureOr<int64_t> topkGroup =
      config.optionalInt("topk_group", 1, 1, limits::kMaxExperts);
  if (failed(shared) || failed(scaling) || failed(norm) || failed(method) ||
      failed(scoring) || failed(nGroup) || failed(topkGroup))
    return failure();
  if (failed(checkScalingFactor(config, "routed_scaling_factor", *scaling)))
    return failure();

  StringRef expectedMethods =
      v3 ? "noaux_tc" : "greedy or group_limited_greedy";
  bool grouped;
  if (v3 && *method == "noaux_tc") {
    grouped = true;
    plan.groupScore = GroupScore::top2_sum;
    plan.correctionBias = true;
  } else if (!v3 &&
             (*method == "greedy" || *method == "group_limited_greedy")) {
    grouped = *method == "group_limited_greedy";
    plan.groupScore = GroupScore::max;
  } else {
    return config.error("topk_method")
           << "config key 'topk_method' is " << quote(*method) << "; "
           << plan.modelType << " supports " << expectedMethods;
  }
  StringRef expectedScoring = v3 ? "sigmoid" : "softmax";
  if (*scoring != expectedScoring)
    return config.error("scoring_func")
           << "config key 'scoring_func' is " << quote(*scoring) << "; "
           << plan.modelType << " with topk_method '" << *method
           << "' scores with " << expectedScoring;
  plan.scoring = v3 ? ScoringFunc::sigmoid : ScoringFunc::softmax;

  if (grouped) {
    if (plan.numExperts % *nGroup != 0)
      return config.error("n_group")
             << "config key '" << config.spelling("n_routed_experts") << "' ("
             << plan.numExperts << ") is not divisible by 'n_group' ("
             << *nGroup << ")";
    if (*topkGroup > *nGroup)
      return config.error("topk_group")
             << "config key 'topk_group' (" << *topkGroup
             << ") exceeds 'n_group' (" << *nGroup << ")";
    int64_t reachable = 0;
    if (!limits::checkedMul(*topkGroup, plan.numExperts / *nGroup, reachable))
      llvm_unreachable("topk_group <= n_group bounds the product by E");
    if (plan.topK > reachable)
      return config.error("num_experts_per_tok")
             << "config key 'num_experts_per_tok' (" << plan.topK
             << ") exceeds the " << reachable
             << " experts of the 'topk_group' groups kept";
    if (v3 && plan.numExperts / *nGroup < 2)
      return config.error("n_group")
             << "config key 'n_group' (" << *nGroup
             << ") leaves fewer than 2 experts per group; noaux_tc scores "
                "groups by their top two";
    plan.nGroup = *nGroup;
    plan.topkGroup = *topkGroup;
  }

  // DeepSeek's shared experts are one MLP n_shared_experts times as wide.
  if (failed(setSharedWidth(config, plan, "n_shared_experts", *shared,
                            "moe_intermediate_size", plan.ffn)))
    return failure();

  // As transformers computes the weights (the README's family table says
  // where DeepSeek's own code differs): V2 never renormalises (its
  // norm_topk_prob is read but unused) and always scales; V3 renormalises
  // whenever norm_topk_prob is set, k = 1 included, and always scales.
  plan.renormalize = v3 && *norm;
  plan.scalingFactor = *scaling;
  plan.sharedPrefix = "shared_experts.";
  plan.prefix = "model.layers.{L}.mlp.";
  plan.routerName = "gate.weight";
  return success();
}

static LogicalResult readDeepSeek(const ConfigReader &config, LayerPlan &plan,
                                  bool v3) {
  DeepSeekDefaults defaults;
  defaults.v3 = v3;
  if (failed(readDeepSeekRouting(config, plan, defaults)))
    return failure();
  FailureOr<int64_t> firstDense =
      config.optionalInt("first_k_dense_replace", 0, 0, limits::kMaxLayers);
  FailureOr<int64_t> freq =
      config.optionalInt("moe_layer_freq", 1, 1, limits::kMaxLayers);
  if (failed(firstDense) || failed(freq))
    return failure();
  int64_t first = *firstDense, every = *freq;
  plan.isMoELayer = [first, every](int64_t layer) {
    return layer >= first && layer % every == 0;
  };
  plan.denseRule = "'first_k_dense_replace' = " + std::to_string(first) +
                   " and 'moe_layer_freq' = " + std::to_string(every);
  return success();
}

LogicalResult mlir::moe::hf::readDeepSeekV2(const ConfigReader &config,
                                            LayerPlan &plan) {
  return readDeepSeek(config, plan, /*v3=*/false);
}

LogicalResult mlir::moe::hf::readDeepSeekV3(const ConfigReader &config,
                                            LayerPlan &plan) {
  return readDeepSeek(config, plan, /*v3=*/true);
}

LogicalResult mlir::moe::hf::readDeepSeekV4(const ConfigReader &config,
                                            LayerPlan &plan) {
  // transformers' DeepseekV4: one shared MLP as wide as an expert whatever
  // n_shared_experts says; always renormalised (norm_topk_prob is saved but
  // unused) and scaled; no groups.
  if (failed(readCommon(config, plan, "n_routed_experts",
                        "moe_intermediate_size")))
    return failure();
  FailureOr<double> scaling =
      config.optionalNumber("routed_scaling_factor", 1.0);
  FailureOr<std::string> scoring =
      config.optionalString("scoring_func", "sqrtsoftplus");
  FailureOr<int64_t> vocab =
      config.requireInt("vocab_size", 1, limits::kMaxVocab);
  FailureOr<std::vector<std::string>> kinds = config.optionalLayerKinds(
      "mlp_layer_types", plan.numLayers, {"hash_moe", "moe"});
  FailureOr<int64_t> hashLayers =
      config.optionalInt("num_hash_layers", 3, 0, limits::kMaxLayers);
  if (failed(scaling) || failed(scoring) || failed(vocab) || failed(kinds) ||
      failed(hashLayers))
    return failure();
  if (failed(checkScalingFactor(config, "routed_scaling_factor", *scaling)))
    return failure();
  if (*scoring == "sqrtsoftplus")
    plan.scoring = ScoringFunc::sqrtsoftplus;
  else if (*scoring == "sigmoid")
    plan.scoring = ScoringFunc::sigmoid;
  else
    return config.error("scoring_func")
           << "config key 'scoring_func' is " << quote(*scoring)
           << "; deepseek_v4 scores with sqrtsoftplus or sigmoid";
  // DeepseekV4Experts and DeepseekV4MLP (the shared expert) both compute
  // silu(min(g, L)) · clamp(u, ±L): GLM-5's form.
  if (failed(readGlm5Clamp(config, plan)) ||
      failed(refuseSharedMlpBias(config, plan)))
    return failure();
  plan.renormalize = true;
  plan.scalingFactor = *scaling;
  plan.correctionBias = true;
  plan.correctionBiasName = "gate.bias";
  plan.prefix = "model.layers.{L}.ffn.";
  plan.routerName = "gate.weight";
  plan.naming = ExpertNaming::Mixtral;
  plan.sharedFfn = plan.ffn;
  plan.sharedPrefix = "shared_experts.";
  plan.sharedNaming = SharedNaming::Mixtral;
  // Hash layers take their experts from gate.tid2eid [vocab, k] by token id
  // (mlp_layer_types, or the first num_hash_layers layers).
  plan.expertTableName = "gate.tid2eid";
  plan.vocabSize = *vocab;
  if (!kinds->empty()) {
    std::vector<std::string> types = *kinds;
    plan.isTableLayer = [types](int64_t layer) {
      return types[layer] == "hash_moe";
    };
  } else {
    int64_t first = *hashLayers;
    plan.isTableLayer = [first](int64_t layer) { return layer < first; };
  }
  setEveryLayer(plan);
  return success();
}
