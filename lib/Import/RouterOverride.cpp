//===- RouterOverride.cpp - moec's own router key in any family's config ===//
//
// No published model uses expert-choice routing or Soft MoE, so moec
// defines a config key that puts either in place of a family's token-choice
// router, in every MoE layer:
//
//   "moec_router": {"type": "expert_choice", "capacity_factor": 2.0}
//   "moec_router": {"type": "soft_moe", "slots_per_expert": 2}
//   "moec_router": {"type": "hash", "table": "gate.tid2eid",
//                   "vocab_size": 32000}
//
// `hash` routes by token id (hash layers, Roller et al. 2021; a random or
// clustered assignment is the same with another table): token t's experts
// are row ids[t] of the checkpoint's [vocab_size, top_k] int table (name
// relative to the layer's prefix; vocab_size defaults to the config's), and
// the family's router weights them as its moe.route says (top-k 1 with
// renormalisation gives weight 1). The layer then takes the token ids.
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
           << " must be an integer in [1, " << limits::kMaxExperts << "], got "
           << describe(*value);
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
LogicalResult readHash(const ConfigReader &router, const ConfigReader &config,
                       LayerPlan &plan) {
  std::string table = "gate.tid2eid";
  if (const llvm::json::Value *value = router.get("table")) {
    std::optional<StringRef> name = value->getAsString();
    if (!name || name->empty())
      return router.error("table")
             << "config key " << memberName("table")
             << " must name the expert table's tensor, got "
             << describe(*value);
    table = name->str();
  }
  if (!router.has("vocab_size") && !config.has("vocab_size"))
    return router.error("type")
           << "config key " << memberName("vocab_size")
           << " is missing and the config has no 'vocab_size': the hash "
              "table has a row per token id";
  FailureOr<int64_t> vocab =
      router.has("vocab_size")
          ? router.requireInt("vocab_size", 1, limits::kMaxVocab)
          : config.requireInt("vocab_size", 1, limits::kMaxVocab);
  if (failed(vocab))
    return failure();
  plan.expertTableName = table;
  plan.vocabSize = *vocab;
  // The table picks the experts: no group-limited selection.
  plan.nGroup = plan.topkGroup = 1;
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
  if (!type ||
      (*type != "expert_choice" && *type != "soft_moe" && *type != "hash"))
    return router.error("type")
           << "config key " << memberName("type")
           << (typeValue ? " is " + describe(*typeValue) + ";"
                         : std::string(" is missing:"))
           << " expected 'expert_choice', 'soft_moe' or 'hash'";
  // A misspelt member would otherwise be ignored: name the first (in sorted
  // order, so that the message is the same on every run).
  SmallVector<StringRef, 2> parameters;
  if (*type == "expert_choice")
    parameters = {"capacity_factor"};
  else if (*type == "soft_moe")
    parameters = {"slots_per_expert"};
  else
    parameters = {"table", "vocab_size"};
  std::optional<std::string> unknown;
  for (const auto &member : *object) {
    StringRef key = member.first;
    if (key != "type" && !llvm::is_contained(parameters, key) &&
        (!unknown || key < *unknown))
      unknown = key.str();
  }
  if (unknown) {
    std::string takes;
    for (StringRef parameter : parameters)
      takes += (takes.empty() ? "" : ", ") + memberName(parameter);
    return router.error(*unknown)
           << "config key " << memberName(*unknown) << " is not known for "
           << "type '" << *type << "' (it takes " << takes << ")";
  }

  LogicalResult read = *type == "expert_choice" ? readExpertChoice(router, plan)
                       : *type == "soft_moe"    ? readSoftMoE(router, plan)
                                             : readHash(router, config, plan);
  if (failed(read))
    return failure();
  // Expert choice and Soft MoE replace a family's hash layers too.
  if (*type != "hash")
    plan.expertTableName.clear();
  // The replaced router's score-correction bias is not read.
  plan.correctionBias = false;
  return success();
}
