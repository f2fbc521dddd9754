//===- Dbrx.cpp - DBRX ===//
//
// DBRX: softmax top-k, the selected weights divided by their p-norm
// (`moe_normalize_expert_weights`; null: not at all), GLU experts whose
// activation is `ffn_act_fn.name`, each of w1 (gate), v1 (up) and w2 one
// [E·F, H] tensor, w2 the down projection transposed. The MoE keys nest in
// `ffn_config`; every block is MoE.
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

/// The gated activation of ACT2FN[`name`] in DbrxExpertGLU.
static std::optional<Activation> dbrxActivation(StringRef name) {
  if (name == "silu" || name == "swish")
    return Activation::swiglu;
  if (name == "gelu")
    return Activation::geglu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new")
    return Activation::geglu_tanh;
  return std::nullopt;
}

LogicalResult mlir::moe::hf::readDbrx(const ConfigReader &config,
                                      LayerPlan &plan) {
  FailureOr<int64_t> hidden = config.requireInt("d_model", 1, limits::kMaxHidden);
  FailureOr<int64_t> layers =
      config.requireInt("n_layers", 1, limits::kMaxLayers);
  if (failed(hidden) || failed(layers))
    return failure();
  const llvm::json::Value *ffnValue = config.get("ffn_config");
  const llvm::json::Object *ffnObject =
      ffnValue ? ffnValue->getAsObject() : nullptr;
  if (!ffnObject)
    return config.error("ffn_config")
           << "config key 'ffn_config' "
           << (ffnValue ? "must be an object, got " + describe(*ffnValue)
                        : std::string("is missing"))
           << ": a dbrx config nests the MoE keys there";
  ConfigReader ffn = config.nested("ffn_config", *ffnObject);
  FailureOr<int64_t> experts =
      ffn.requireInt("moe_num_experts", 1, limits::kMaxExperts);
  FailureOr<int64_t> topK = ffn.requireInt("moe_top_k", 1, limits::kMaxExperts);
  FailureOr<int64_t> width =
      ffn.requireInt("ffn_hidden_size", 1, limits::kMaxFfn);
  if (failed(experts) || failed(topK) || failed(width))
    return failure();
  if (*topK > *experts)
    return ffn.error("moe_top_k")
           << "config key 'moe_top_k' (" << *topK
           << ") exceeds 'moe_num_experts' (" << *experts << ")";
  int64_t elements;
  if (!limits::checkedProduct({*experts, *width, *hidden},
                              limits::kMaxTensorElements, elements))
    return ffn.error("ffn_hidden_size")
           << "config keys 'moe_num_experts' (" << *experts
           << ") * 'ffn_hidden_size' (" << *width << ") * 'd_model' ("
           << *hidden
           << ") give one expert tensor more elements than moec supports (at "
              "most "
           << limits::kMaxTensorElements << ")";

  // DbrxFFNConfig: an absent p is 1.0, a null one means no renormalisation.
  bool pGiven = ffn.find("moe_normalize_expert_weights") != StringRef::npos;
  FailureOr<double> p = ffn.optionalNumber("moe_normalize_expert_weights", 1.0);
  if (failed(p))
    return failure();
  plan.renormalize = !pGiven || ffn.has("moe_normalize_expert_weights");
  if (plan.renormalize && !(*p > 0))
    return ffn.error("moe_normalize_expert_weights")
           << "config key 'moe_normalize_expert_weights' is "
           << formatNumber(*p)
           << "; moec renormalises by a p-norm with p > 0 (null: none)";
  plan.renormP = *p;
  // torch.norm alone: nothing added to the norm.
  plan.renormEpsilon = 0.0;

  std::string act = "silu";
  if (const llvm::json::Value *actValue = ffn.get("ffn_act_fn")) {
    const llvm::json::Object *actObject = actValue->getAsObject();
    if (!actObject)
      return ffn.error("ffn_act_fn")
             << "config key 'ffn_act_fn' must be an object like "
                "{\"name\": \"silu\"}, got "
             << describe(*actValue);
    FailureOr<std::string> name =
        ffn.nested("ffn_act_fn", *actObject).optionalString("name", "silu");
    if (failed(name))
      return failure();
    act = *name;
  }
  std::optional<Activation> activation = dbrxActivation(act);
  if (!activation)
    return ffn.error("ffn_act_fn")
           << "config key 'ffn_act_fn' names " << quote(act)
           << "; moec's DBRX experts take 'silu', 'gelu', "
              "'gelu_pytorch_tanh' or 'gelu_new'";

  plan.hidden = *hidden;
  plan.numLayers = *layers;
  plan.numExperts = *experts;
  plan.topK = *topK;
  plan.ffn = *width;
  plan.expertsKey = "moe_num_experts";
  plan.ffnKey = "ffn_hidden_size";
  plan.activation = *activation;
  plan.naming = ExpertNaming::DbrxStacked;
  plan.prefix = "transformer.blocks.{L}.ffn.";
  plan.routerName = "router.layer.weight";
  setEveryLayer(plan);
  return success();
}
