//===- MoEDialect.cpp - moe dialect, attributes and types -----------------===//
//
// Registers the dialect's ops, attributes and types, and implements the
// attribute verifiers that do not depend on an op.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace mlir;
using namespace mlir::moe;

#include "moe/Dialect/MoE/IR/MoEDialect.cpp.inc"
#include "moe/Dialect/MoE/IR/MoEEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/MoE/IR/MoEAttrs.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "moe/Dialect/MoE/IR/MoETypes.cpp.inc"

void MoEDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "moe/Dialect/MoE/IR/MoEOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "moe/Dialect/MoE/IR/MoEAttrs.cpp.inc"
      >();
  addTypes<
#define GET_TYPEDEF_LIST
#include "moe/Dialect/MoE/IR/MoETypes.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Float parameters
//===----------------------------------------------------------------------===//

FailureOr<APFloat> mlir::moe::parseF64Parameter(AsmParser &parser) {
  double value;
  if (parser.parseFloat(value))
    return failure();
  return APFloat(value);
}

void mlir::moe::printF64Parameter(AsmPrinter &printer,
                                  const APFloat &apValue) {
  double value = apValue.convertToDouble();
  // The shortest "%.*g" form that reads back to the same double.
  char buffer[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value)
      break;
  }
  // MLIR float literals need a '.' in the mantissa: "2" and "1e-07" would
  // lex as integers, so they print as "2.0" and "1.0e-07".
  StringRef text(buffer);
  if (!std::isfinite(value) || text.contains('.')) {
    printer << text;
    return;
  }
  auto [mantissa, exponent] = text.split('e');
  printer << mantissa << ".0";
  if (!exponent.empty())
    printer << "e" << exponent;
}

//===----------------------------------------------------------------------===//
// RoutingAttr
//===----------------------------------------------------------------------===//

LogicalResult
RoutingAttr::verify(function_ref<InFlightDiagnostic()> emitError, int64_t topK,
                    ScoringFunc scoring, SelectionSource selectOn,
                    bool renormalize, APFloat scalingFactorAp,
                    int64_t nGroup, int64_t topkGroup, GroupScore groupScore) {
  double scalingFactor = scalingFactorAp.convertToDouble();
  if (topK < 1)
    return emitError() << "top_k must be at least 1, got " << topK;
  if (!(scalingFactor > 0.0) || !std::isfinite(scalingFactor))
    return emitError() << "scaling_factor must be a positive finite number, got "
                       << scalingFactor;
  if (nGroup < 1)
    return emitError() << "n_group must be at least 1, got " << nGroup;
  if (topkGroup < 1 || topkGroup > nGroup)
    return emitError() << "topk_group must be in [1, n_group = " << nGroup
                       << "], got " << topkGroup;
  if (selectOn == SelectionSource::logits && nGroup > 1)
    return emitError() << "select_on = logits does not combine with "
                          "group-limited routing (n_group = "
                       << nGroup << ")";
  return success();
}

LogicalResult RoutingAttr::verifyForExperts(
    function_ref<InFlightDiagnostic()> emitError, int64_t numExperts) const {
  if (getTopK() > numExperts)
    return emitError() << "top_k (" << getTopK()
                       << ") exceeds the number of experts (" << numExperts
                       << ")";
  if (numExperts % getNGroup() != 0)
    return emitError() << "n_group (" << getNGroup()
                       << ") does not divide the number of experts ("
                       << numExperts << ")";
  if (!isGrouped())
    return success();
  int64_t perGroup = numExperts / getNGroup();
  if (getTopK() > getTopkGroup() * perGroup)
    return emitError() << "top_k (" << getTopK() << ") exceeds the "
                       << getTopkGroup() * perGroup
                       << " experts in the topk_group = " << getTopkGroup()
                       << " groups kept";
  if (getGroupScore() == GroupScore::top2_sum && perGroup < 2)
    return emitError() << "group_score = top2_sum needs at least 2 experts "
                          "per group, got "
                       << perGroup;
  return success();
}

RoutingAttr RoutingAttr::getUngroupedIfTrivial() const {
  if (!isGrouped() || getTopkGroup() != getNGroup())
    return {};
  return RoutingAttr::get(getContext(), getTopK(), getScoring(), getSelectOn(),
                          getRenormalize(), getScalingFactor(), /*n_group=*/1,
                          /*topk_group=*/1, GroupScore::max);
}

//===----------------------------------------------------------------------===//
// ExpertChoiceAttr and CapacityAttr
//===----------------------------------------------------------------------===//

LogicalResult
ExpertChoiceAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         APFloat capacityFactorAp) {
  double capacityFactor = capacityFactorAp.convertToDouble();
  if (!(capacityFactor > 0.0) || !std::isfinite(capacityFactor))
    return emitError() << "capacity_factor must be a positive finite number, "
                          "got "
                       << capacityFactor;
  return success();
}

LogicalResult CapacityAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   APFloat factorAp, DropOrder,
                                   DroppedSlot) {
  double factor = factorAp.convertToDouble();
  if (!(factor > 0.0) || !std::isfinite(factor))
    return emitError() << "capacity factor must be a positive finite number, "
                          "got "
                       << factor;
  return success();
}
