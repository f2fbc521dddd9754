//===- MoEDialect.cpp - moe dialect, attributes and types -----------------===//
//
// Registers the dialect's ops, attributes and types, and implements the
// attribute verifiers that do not depend on an op.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/IR/PlacementAttr.h"
#include "moe/Support/Limits.h"

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
  addOperations<
#define GET_OP_LIST
#include "moe/Dialect/MoE/IR/MoEKernelOps.cpp.inc"
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

void mlir::moe::printF64Parameter(AsmPrinter &printer, const APFloat &apValue) {
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

/// Scaling and capacity factors: a zero, negative, infinite or NaN factor
/// has no meaning.
static LogicalResult
verifyPositiveFinite(function_ref<InFlightDiagnostic()> emitError,
                     StringRef name, const APFloat &value) {
  double number = value.convertToDouble();
  if (number > 0.0 && std::isfinite(number))
    return success();
  return emitError() << name << " must be a positive finite number, got "
                     << number;
}

//===----------------------------------------------------------------------===//
// RoutingAttr
//===----------------------------------------------------------------------===//

LogicalResult RoutingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t topK, ScoringFunc scoring,
                                  SelectionSource selectOn, bool renormalize,
                                  APFloat scalingFactor, int64_t nGroup,
                                  int64_t topkGroup, GroupScore groupScore) {
  if (topK < 1)
    return emitError() << "top_k must be at least 1, got " << topK;
  if (failed(verifyPositiveFinite(emitError, "scaling_factor", scalingFactor)))
    return failure();
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

LogicalResult
RoutingAttr::verifyForExperts(function_ref<InFlightDiagnostic()> emitError,
                              int64_t numExperts) const {
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
                         APFloat capacityFactor) {
  return verifyPositiveFinite(emitError, "capacity_factor", capacityFactor);
}

LogicalResult CapacityAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   APFloat factor, DropOrder, DroppedSlot) {
  return verifyPositiveFinite(emitError, "capacity factor", factor);
}

//===----------------------------------------------------------------------===//
// WeightLayoutAttr
//===----------------------------------------------------------------------===//

// Wider panels than this are no register tile's or load's width.
static constexpr int64_t kMaxPanelWidth = 1024;

static InFlightDiagnostic badPanelWidth(InFlightDiagnostic diag,
                                        int64_t panelWidth) {
  return std::move(diag << "panel width must be in [1, " << kMaxPanelWidth
                        << "], got " << panelWidth);
}

LogicalResult
WeightLayoutAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         int64_t panelWidth) {
  // 0 is the row layout.
  if (panelWidth < 0 || panelWidth > kMaxPanelWidth)
    return badPanelWidth(emitError(), panelWidth);
  return success();
}

/// `<rows>` or `<panels = P>`.
Attribute WeightLayoutAttr::parse(AsmParser &parser, Type) {
  StringRef kind;
  if (parser.parseLess() || parser.parseKeyword(&kind))
    return {};
  int64_t panelWidth = 0;
  if (kind == "panels") {
    SMLoc at = parser.getCurrentLocation();
    if (parser.parseEqual() || parser.parseInteger(panelWidth))
      return {};
    if (panelWidth < 1) {
      badPanelWidth(parser.emitError(at), panelWidth);
      return {};
    }
  } else if (kind != "rows") {
    parser.emitError(parser.getCurrentLocation(),
                     "expected 'rows' or 'panels = P', got '")
        << kind << "'";
    return {};
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<WeightLayoutAttr>(parser.getContext(), panelWidth);
}

void WeightLayoutAttr::print(AsmPrinter &printer) const {
  if (isPanels())
    printer << "<panels = " << getPanelWidth() << ">";
  else
    printer << "<rows>";
}

//===----------------------------------------------------------------------===//
// PlacementAttr
//===----------------------------------------------------------------------===//

LogicalResult
PlacementAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      int64_t experts, int64_t slots, ArrayRef<int64_t> table) {
  if (slots < 1 || slots > ::moe::limits::kMaxExperts)
    return emitError() << "placement 'slots' must be in [1, "
                       << ::moe::limits::kMaxExperts << "], got " << slots;
  if (table.empty() || table.size() % slots != 0)
    return emitError() << "placement 'table' must hold 'slots' (" << slots
                       << ") entries per rank, got " << table.size();
  ::moe::ExpertPlacement placement;
  placement.numExperts = experts;
  for (size_t r = 0; r < table.size() / slots; ++r) {
    std::vector<int64_t> &onRank = placement.rankExperts.emplace_back();
    bool ended = false;
    for (size_t s = 0; s < static_cast<size_t>(slots); ++s) {
      int64_t e = table[r * slots + s];
      if (e == -1) {
        ended = true;
        continue;
      }
      if (ended)
        return emitError() << "placement 'table': rank " << r
                           << " has an expert after an empty slot";
      onRank.push_back(e);
    }
  }
  if (std::string problem = placement.verify(); !problem.empty())
    return emitError() << "placement: " << problem;
  if (placement.slotsPerRank() != slots)
    return emitError() << "placement 'slots' is " << slots
                       << " but no rank fills more than "
                       << placement.slotsPerRank();
  return success();
}

::moe::ExpertPlacement mlir::moe::toPlacement(PlacementAttr attr) {
  ::moe::ExpertPlacement placement;
  placement.numExperts = attr.getExperts();
  int64_t slots = attr.getSlots();
  for (int64_t r = 0; r < attr.getRanks(); ++r) {
    std::vector<int64_t> &experts = placement.rankExperts.emplace_back();
    for (int64_t s = 0; s < slots; ++s)
      if (int64_t e = attr.getTable()[r * slots + s]; e >= 0)
        experts.push_back(e);
  }
  return placement;
}

PlacementAttr
mlir::moe::getPlacementAttr(MLIRContext *context,
                            const ::moe::ExpertPlacement &placement) {
  return PlacementAttr::get(context, placement.numExperts,
                            placement.slotsPerRank(), placement.table());
}
