//===- Nllb.cpp - NLLB-MoE ------------------------------------------------===//
//
// NLLB-MoE's encoder MoE layers as transformers' NllbMoeSparseMLP means
// them (fairseq's top-2 gating): softmax top-2, GShard's capacity with
// every first choice queued before any second choice, the kept weights
// renormalised after dropping, `1 - moe_token_dropout` on the output at
// eval, and ReLU experts `fc1`/`fc2` with biases.
//
// transformers 5.24's NllbMoeExperts runs each slot's expert through a
// one-hot of the already one-hot top-1 mask, so it only ever runs experts 0
// and 1; moec follows the router's top-2 math instead (the README's family
// table says so).
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

namespace {
/// Refuses `key` unless it holds `expected`: a routing option moec does not
/// implement.
LogicalResult requireString(const ConfigReader &config, StringRef key,
                            StringRef defaultValue, StringRef expected,
                            StringRef why) {
  FailureOr<std::string> value = config.optionalString(key, defaultValue);
  if (failed(value))
    return failure();
  if (*value != expected)
    return config.error(key) << "config key '" << key << "' is "
                             << quote(*value) << "; " << why;
  return success();
}

LogicalResult requireFalse(const ConfigReader &config, StringRef key,
                           StringRef why) {
  FailureOr<bool> value = config.optionalBool(key, false);
  if (failed(value))
    return failure();
  if (*value)
    return config.error(key) << "config key '" << key << "' is true; " << why;
  return success();
}
} // namespace

LogicalResult mlir::moe::hf::readNllbMoe(const ConfigReader &config,
                                         LayerPlan &plan) {
  // Top-2 gating, and no key for it.
  plan.topK = 2;
  if (failed(readCommon(config, plan, "num_experts", "encoder_ffn_dim")))
    return failure();
  FailureOr<int64_t> step =
      config.optionalInt("encoder_sparse_step", 4, 0, limits::kMaxLayers);
  FailureOr<double> fraction =
      config.optionalNumber("moe_eval_capacity_token_fraction", 1.0);
  FailureOr<double> tokenDropout =
      config.optionalNumber("moe_token_dropout", 0.2);
  FailureOr<bool> routerBias = config.optionalBool("router_bias", false);
  if (failed(step) || failed(fraction) || failed(tokenDropout) ||
      failed(routerBias) ||
      failed(requireString(config, "activation_function", "relu", "relu",
                           "moec imports nllb-moe experts with 'relu'")) ||
      failed(requireString(config, "router_dtype", "float32", "float32",
                           "moec routes in f32, expected 'float32'")) ||
      failed(requireString(
          config, "second_expert_policy", "all", "all",
          "moec implements the deterministic policy 'all' only ('sampling' "
          "and 'random' draw random numbers at inference)")) ||
      failed(requireFalse(config, "normalize_router_prob_before_dropping",
                          "moec renormalises the weights after dropping")) ||
      failed(requireFalse(config, "batch_prioritized_routing",
                          "moec queues slots in token order")))
    return failure();
  if (!(*tokenDropout >= 0.0 && *tokenDropout < 1.0))
    return config.error("moe_token_dropout")
           << "config key 'moe_token_dropout' must be in [0, 1), got "
           << formatNumber(*tokenDropout);

  plan.capacity = CapacityPlan{};
  plan.capacity->dropOrder = DropOrder::choice_order;
  plan.capacity->renormalize = true;
  plan.capacity->outputScale = 1.0 - *tokenDropout;
  if (*fraction > 0.0) {
    if (!(*fraction <= limits::kMaxTokens))
      return config.error("moe_eval_capacity_token_fraction")
             << "config key 'moe_eval_capacity_token_fraction' is "
             << formatNumber(*fraction) << "; expected at most "
             << limits::kMaxTokens;
    plan.capacity->tokenFraction = *fraction;
  } else {
    // At eval a fraction <= 0 falls back to expert_capacity; transformers'
    // own fallback (2 * ceil(T / E) when that is null) is not a moec rule.
    if (!config.has("expert_capacity"))
      return config.error("moe_eval_capacity_token_fraction")
             << "config key 'moe_eval_capacity_token_fraction' is "
             << formatNumber(*fraction)
             << " and 'expert_capacity' is missing: moec has no capacity "
                "2 * ceil(T / E)";
    FailureOr<int64_t> count =
        config.requireInt("expert_capacity", 1, limits::kMaxTokens - 1);
    if (failed(count))
      return failure();
    plan.capacity->count = *count;
  }

  plan.renormalize = false;
  plan.activation = Activation::relu;
  plan.naming = ExpertNaming::UngatedPerExpert;
  plan.perExpertUpName = "fc1.weight";
  plan.perExpertDownName = "fc2.weight";
  plan.upBiasName = "experts.expert_{e}.fc1.bias";
  plan.downBiasName = "experts.expert_{e}.fc2.bias";
  plan.prefix = "model.encoder.layers.{L}.ffn.";
  plan.routerName = "router.classifier.weight";
  if (*routerBias)
    plan.routerBiasName = "router.classifier.bias";
  // Encoder layer i is sparse when (i + 1) % encoder_sparse_step == 0.
  int64_t every = *step;
  plan.isMoELayer = [every](int64_t layer) {
    return every > 0 && (layer + 1) % every == 0;
  };
  plan.denseRule = "'encoder_sparse_step' = " + std::to_string(every) +
                   ": encoder layers (i + 1) % " + std::to_string(every) +
                   " == 0";
  return success();
}
