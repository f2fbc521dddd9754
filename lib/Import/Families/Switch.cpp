//===- Switch.cpp - Switch Transformers -----------------------------------===//
//
// Switch Transformers' encoder MoE layers: softmax top-1 without
// renormalisation, an absolute per-sequence expert capacity (token order,
// dropped tokens add nothing), ReLU experts `wi`/`wo` without biases.
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

LogicalResult mlir::moe::hf::readSwitchTransformers(const ConfigReader &config,
                                                    LayerPlan &plan) {
  // One expert per token, and no key for it.
  plan.topK = 1;
  if (failed(readCommon(config, plan, "num_experts", "d_ff")))
    return failure();
  FailureOr<int64_t> sparseLayers =
      config.optionalInt("num_sparse_encoder_layers", 3, 0, limits::kMaxLayers);
  FailureOr<int64_t> capacity =
      config.requireInt("expert_capacity", 1, limits::kMaxTokens - 1);
  FailureOr<std::string> act = config.optionalString("dense_act_fn", "relu");
  FailureOr<bool> routerBias = config.optionalBool("router_bias", false);
  FailureOr<std::string> routerType =
      config.optionalString("router_dtype", "float32");
  if (failed(sparseLayers) || failed(capacity) || failed(act) ||
      failed(routerBias) || failed(routerType))
    return failure();
  if (*act != "relu")
    return config.error("dense_act_fn")
           << "config key 'dense_act_fn' is " << quote(*act)
           << "; moec imports switch_transformers experts with 'relu'";
  // A float16 or bfloat16 router rounds its logits and probabilities.
  if (*routerType != "float32")
    return config.error("router_dtype")
           << "config key 'router_dtype' is " << quote(*routerType)
           << "; moec routes in f32, expected 'float32'";

  plan.renormalize = false;
  plan.activation = Activation::relu;
  plan.naming = ExpertNaming::UngatedPerExpert;
  plan.prefix = "encoder.block.{L}.layer.1.mlp.";
  plan.routerName = "router.classifier.weight";
  if (*routerBias)
    plan.routerBiasName = "router.classifier.bias";
  // Capacity counts the tokens of one sequence: one moec call.
  plan.capacity = CapacityPlan{};
  plan.capacity->count = *capacity;
  // transformers recomputes the sparse step from num_sparse_encoder_layers
  // (the saved encoder_sparse_step is not read back); block i is sparse
  // when i % step == 1, or every block when step == 1.
  int64_t step =
      *sparseLayers > 0 ? plan.numLayers / *sparseLayers : plan.numLayers;
  plan.isMoELayer = [step](int64_t layer) {
    return step > 0 && (step == 1 || layer % step == 1);
  };
  plan.denseRule =
      "'num_sparse_encoder_layers' = " + std::to_string(*sparseLayers) +
      ": encoder blocks i % " + std::to_string(step) + " == 1";
  return success();
}
