//===- Qwen.cpp - Qwen2-MoE and Qwen3-MoE ===//
//
// Qwen2-MoE (with a sigmoid-gated shared expert) and Qwen3-MoE.
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

LogicalResult mlir::moe::hf::readQwen(const ConfigReader &config,
                                      LayerPlan &plan, bool sharedExpert) {
  if (failed(readCommon(config, plan, "num_experts", "moe_intermediate_size")))
    return failure();
  FailureOr<bool> norm = config.optionalBool("norm_topk_prob", false);
  FailureOr<int64_t> step =
      config.optionalInt("decoder_sparse_step", 1, 1, limits::kMaxLayers);
  FailureOr<std::vector<int64_t>> mlpOnly =
      config.optionalLayerList("mlp_only_layers", plan.numLayers);
  if (failed(norm) || failed(step) || failed(mlpOnly))
    return failure();
  plan.renormalize = *norm;
  if (sharedExpert) {
    FailureOr<int64_t> shared = config.requireInt(
        "shared_expert_intermediate_size", 0, limits::kMaxFfn);
    if (failed(shared))
      return failure();
    plan.sharedFfn = *shared;
    plan.sharedSigmoidGate = *shared > 0;
    plan.sharedPrefix = "shared_expert.";
  }
  plan.prefix = "model.layers.{L}.mlp.";
  plan.routerName = "gate.weight";
  int64_t sparseStep = *step;
  std::vector<int64_t> dense = *mlpOnly;
  plan.isMoELayer = [sparseStep, dense](int64_t layer) {
    return llvm::find(dense, layer) == dense.end() &&
           (layer + 1) % sparseStep == 0;
  };
  plan.denseRule = "'decoder_sparse_step' = " + std::to_string(sparseStep) +
                   " and 'mlp_only_layers'";
  return success();
}
