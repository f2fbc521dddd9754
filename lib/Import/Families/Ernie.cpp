//===- Ernie.cpp - ERNIE 4.5 MoE ===//
//
// ERNIE 4.5 (ernie4_5_moe): softmax scores, top-k on the scores plus a
// correction bias stored [1, E], the selected scores divided by
// max(their sum, moe_norm_min); an ungated shared MLP of
// moe_num_shared_experts * moe_intermediate_size; MoE layers from
// moe_layer_start_index to moe_layer_end_index every moe_layer_interval.
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

LogicalResult mlir::moe::hf::readErnie45Moe(const ConfigReader &config,
                                            LayerPlan &plan) {
  if (failed(readCommon(config, plan, "moe_num_experts",
                        "moe_intermediate_size")))
    return failure();
  FailureOr<bool> useBias = config.optionalBool("use_bias", false);
  FailureOr<int64_t> shared =
      config.optionalInt("moe_num_shared_experts", 2, 0, limits::kMaxExperts);
  FailureOr<double> normMin = config.optionalNumber("moe_norm_min", 1e-12);
  FailureOr<int64_t> start = config.optionalInt("moe_layer_start_index", 1, 0,
                                                limits::kMaxLayers);
  FailureOr<int64_t> end =
      config.optionalInt("moe_layer_end_index", -1, -1, limits::kMaxLayers);
  FailureOr<int64_t> interval =
      config.optionalInt("moe_layer_interval", 1, 1, limits::kMaxLayers);
  if (failed(useBias) || failed(shared) || failed(normMin) || failed(start) ||
      failed(end) || failed(interval))
    return failure();
  // HF's fused experts never have biases, but its shared MLP then does.
  if (*useBias)
    return config.error("use_bias")
           << "config key 'use_bias' is true: the shared experts' linears "
              "then have biases, which moec's ernie4_5_moe import does not "
              "read (every published ERNIE 4.5 MoE config has false)";
  if (*normMin < 0)
    return config.error("moe_norm_min")
           << "config key 'moe_norm_min' must be at least 0, got "
           << formatNumber(*normMin);
  if (*shared > 0 &&
      failed(setSharedWidth(config, plan, "moe_num_shared_experts", *shared,
                            "moe_intermediate_size", plan.ffn)))
    return failure();
  plan.sharedPrefix = "shared_experts.";
  plan.renormalize = true;
  plan.renormEpsilon = *normMin;
  plan.renormClamp = true;
  plan.correctionBias = true;
  plan.correctionBiasName = "moe_statics.e_score_correction_bias";
  plan.correctionBiasRow = true;
  plan.prefix = "model.layers.{L}.mlp.";
  plan.routerName = "gate.weight";

  // Ernie4_5_MoeConfig resolves an end of -1 to the last layer.
  int64_t first = *start, every = *interval;
  int64_t last = *end == -1 ? plan.numLayers - 1 : *end;
  plan.isMoELayer = [first, last, every](int64_t layer) {
    return (layer + 1) % every == 0 && first <= layer && layer <= last;
  };
  plan.denseRule = "'moe_layer_start_index' = " + std::to_string(first) +
                   ", 'moe_layer_end_index' = " + std::to_string(last) +
                   " and 'moe_layer_interval' = " + std::to_string(every);
  return success();
}
