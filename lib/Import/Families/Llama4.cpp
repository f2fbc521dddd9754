//===- Llama4.cpp - Llama 4 ===//
//
// Llama 4: sigmoid of the top-k logits scales the expert input; fused,
// transposed expert weights; one shared expert.
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

static LogicalResult readLlama4Layers(const ConfigReader &config,
                                      LayerPlan &plan, bool multimodal) {
  if (failed(
          readCommon(config, plan, "num_local_experts", "intermediate_size")))
    return failure();
  FailureOr<int64_t> step =
      config.optionalInt("interleave_moe_layer_step", 1, 1, limits::kMaxLayers);
  FailureOr<std::vector<int64_t>> moeLayers =
      config.optionalLayerList("moe_layers", plan.numLayers);
  if (failed(step) || failed(moeLayers))
    return failure();
  // gate_up_proj is one [E, H, 2F] tensor.
  if (failed(checkFusedGateUpSize(config, plan)))
    return failure();
  plan.scoring = ScoringFunc::sigmoid;
  plan.selectOn = SelectionSource::logits;
  plan.scaleExpertInput = true;
  plan.sharedFfn = plan.ffn;
  plan.sharedPrefix = "shared_expert.";
  plan.naming = ExpertNaming::FusedTransposed;
  plan.prefix = multimodal ? "language_model.model.layers.{L}.feed_forward."
                           : "model.layers.{L}.feed_forward.";
  plan.routerName = "router.weight";
  std::vector<int64_t> listed = *moeLayers;
  int64_t every = *step;
  // Like Llama4TextConfig, an unset (or null) 'moe_layers' falls back to
  // the interleave step.
  if (config.has("moe_layers")) {
    plan.isMoELayer = [listed](int64_t layer) {
      return llvm::find(listed, layer) != listed.end();
    };
    plan.denseRule = "'moe_layers'";
  } else {
    plan.isMoELayer = [every](int64_t layer) {
      return (layer + 1) % every == 0;
    };
    plan.denseRule = "'interleave_moe_layer_step' = " + std::to_string(every);
  }
  return success();
}

LogicalResult mlir::moe::hf::readLlama4Text(const ConfigReader &config,
                                            LayerPlan &plan) {
  return readLlama4Layers(config, plan, /*multimodal=*/false);
}

LogicalResult mlir::moe::hf::readLlama4(const ConfigReader &config,
                                        LayerPlan &plan) {
  return readLlama4Layers(config, plan, /*multimodal=*/true);
}
