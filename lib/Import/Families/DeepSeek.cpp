//===- DeepSeek.cpp - DeepSeek-V2 and V3 ===//
//
// DeepSeek-V2 (greedy or group-limited softmax) and V3 (noaux_tc: sigmoid
// with a correction bias, groups by their top two), with shared experts.
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
  // The factor multiplies f32 routing weights: a normal f32 keeps them
  // finite and nonzero.
  if (!(*scaling >= FLT_MIN && *scaling <= FLT_MAX))
    return config.error("routed_scaling_factor")
           << "config key 'routed_scaling_factor' must be positive and within "
              "f32 ("
           << formatNumber(FLT_MIN) << " to " << formatNumber(FLT_MAX)
           << "), got " << formatNumber(*scaling);

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
