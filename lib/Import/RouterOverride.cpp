//===- RouterOverride.cpp - moec's own router key in any family's config ===//
//
// No published model uses expert-choice routing or Soft MoE, so moec
// defines a config key that puts either in place of a family's token-choice
// router, in every MoE layer:
//
//   "moec_router": {"type": "expert_choice", "capacity_factor": 2.0}
//   "moec_router": {"type": "soft_moe", "slots_per_expert": 2}
//
// The router weight keeps the family's checkpoint name; under Soft MoE it
// holds Φᵀ, one row per slot ([E·S, H], which the weight binder checks
// against the checkpoint). The family's token-choice settings (top-k,
// scoring, groups, correction bias) no longer apply; its experts and shared
// expert stay.
//
//===----------------------------------------------------------------------===//

#include "LayerPlan.h"

#include "moe/Support/Limits.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

namespace {
constexpr llvm::StringLiteral kRouterKey = "moec_router";

/// `moec_router.<member>`, as messages name it.
std::string memberName(StringRef member) {
  return "'" + kRouterKey.str() + "." + member.str() + "'";
}

LogicalResult readExpertChoice(const ConfigReader &router, LayerPlan &plan) {
  const llvm::json::Value *value = router.get("capacity_factor");
  if (!value)
    return router.error("capacity_factor")
           << "config key " << memberName("capacity_factor")
           << " is missing: expert choice needs its capacity factor "
              "(average experts per token)";
  std::optional<double> factor = value->getAsNumber();
  if (!factor || !std::isfinite(*factor) || *factor <= 0.0)
    return router.error("capacity_factor")
           << "config key " << memberName("capacity_factor")
           << " must be a positive finite number, got " << describe(*value);
  plan.routerKind = RouterKind::ExpertChoice;
  plan.expertChoiceFactor = *factor;
  return success();
}

LogicalResult readSoftMoE(const ConfigReader &router, LayerPlan &plan) {
  const llvm::json::Value *value = router.get("slots_per_expert");
  if (!value)
    return router.error("slots_per_expert")
           << "config key " << memberName("slots_per_expert")
           << " is missing: Soft MoE needs its slots per expert";
  int64_t slots = 0;
  if (checkInteger(*value, 1, limits::kMaxExperts, slots) != hf::Range::Inside)
    return router.error("slots_per_expert")
           << "config key " << memberName("slots_per_expert")
           << " must be an integer in [1, " << limits::kMaxExperts
           << "], got " << describe(*value);
  // The E·S slots are router rows and expert offsets: bounded as experts.
  if (plan.numExperts > limits::kMaxExperts / slots)
    return router.error("slots_per_expert")
           << "config key " << memberName("slots_per_expert") << " (" << slots
           << ") times '" << plan.expertsKey << "' (" << plan.numExperts
           << ") gives more slots than moec supports (at most "
           << limits::kMaxExperts << ")";
  if (plan.scaleExpertInput)
    return router.error("type")
           << "config key " << memberName("type") << " 'soft_moe' does not "
           << "combine with " << plan.modelType
           << "'s routing weight on the expert input: Soft MoE's slots carry "
              "no routing weight";
  plan.routerKind = RouterKind::SoftMoE;
  plan.softMoESlots = slots;
  return success();
}
} // namespace

LogicalResult mlir::moe::hf::readRouterOverride(const ConfigReader &config,
                                                LayerPlan &plan) {
  const llvm::json::Value *value = config.get(kRouterKey);
  if (!value)
    return success();
  const llvm::json::Object *object = value->getAsObject();
  if (!object)
    return config.error(kRouterKey)
           << "config key '" << kRouterKey << "' must be an object, got "
           << describe(*value);
  ConfigReader router = config.nested(kRouterKey, *object);

  const llvm::json::Value *typeValue = router.get("type");
  std::optional<StringRef> type =
      typeValue ? typeValue->getAsString() : std::nullopt;
  if (!type || (*type != "expert_choice" && *type != "soft_moe"))
    return router.error("type")
           << "config key " << memberName("type")
           << (typeValue ? " is " + describe(*typeValue) + ";"
                         : std::string(" is missing:"))
           << " expected 'expert_choice' or 'soft_moe'";
  // A misspelt member would otherwise be ignored: name the first (in sorted
  // order, so that the message is the same on every run).
  StringRef parameter =
      *type == "expert_choice" ? "capacity_factor" : "slots_per_expert";
  std::optional<std::string> unknown;
  for (const auto &member : *object) {
    StringRef key = member.first;
    if (key != "type" && key != parameter && (!unknown || key < *unknown))
      unknown = key.str();
  }
  if (unknown)
    return router.error(*unknown)
           << "config key " << memberName(*unknown) << " is not known for "
           << "type '" << *type << "' (it takes " << memberName(parameter)
           << ")";

  if (failed(*type == "expert_choice" ? readExpertChoice(router, plan)
                                      : readSoftMoE(router, plan)))
    return failure();
  // The replaced router's score-correction bias is not read.
  plan.correctionBias = false;
  return success();
}
