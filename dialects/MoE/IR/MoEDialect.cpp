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
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
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

FailureOr<SmallVector<int64_t>>
mlir::moe::parseRankMapParameter(AsmParser &parser) {
  SmallVector<int64_t> ranks;
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        return parser.parseInteger(ranks.emplace_back());
      }))
    return failure();
  return ranks;
}

void mlir::moe::printRankMapParameter(AsmPrinter &printer,
                                      ArrayRef<int64_t> ranks) {
  printer << '[';
  llvm::interleaveComma(ranks, printer);
  printer << ']';
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

/// Checks an expert-to-rank map on its own: every entry a rank in [0, R)
/// with R = max + 1, every such rank holding at least one expert, and
/// enough experts (and, for top2_sum, members) on the ranks a token may
/// keep. Counting needs R bounded first: an entry at or past the map's
/// size leaves some rank in [0, size) empty, which the first scan finds.
static LogicalResult verifyRankMap(function_ref<InFlightDiagnostic()> emitError,
                                   int64_t topK, int64_t rankLimit,
                                   GroupScore groupScore,
                                   ArrayRef<int64_t> expertRanks) {
  int64_t size = static_cast<int64_t>(expertRanks.size());
  int64_t maxRank = 0;
  for (auto [expert, rank] : llvm::enumerate(expertRanks)) {
    if (rank < 0)
      return emitError() << "expert_ranks[" << expert
                         << "] must be a rank (at least 0), got " << rank;
    maxRank = std::max(maxRank, rank);
  }
  SmallVector<int64_t> perRank(size, 0);
  for (int64_t rank : expertRanks)
    if (rank < size)
      ++perRank[rank];
  for (int64_t rank = 0; rank < std::min(maxRank, size); ++rank)
    if (perRank[rank] == 0)
      return emitError() << "expert_ranks gives rank " << rank
                         << " no experts; every rank up to the largest entry ("
                         << maxRank << ") must hold one";
  // Now maxRank < size: an entry at or past size would leave a rank below
  // it empty, which the scan above found.
  int64_t numRanks = maxRank + 1;
  perRank.resize(numRanks);
  if (rankLimit > numRanks)
    return emitError() << "rank_limit (" << rankLimit
                       << ") exceeds the number of ranks in expert_ranks ("
                       << numRanks << ")";
  // Whichever ranks a token keeps, top-k must find k eligible experts.
  SmallVector<int64_t> sizes(perRank);
  llvm::sort(sizes);
  int64_t fewest = 0;
  for (int64_t kept = 0; kept < rankLimit; ++kept)
    fewest += sizes[kept];
  if (topK > fewest)
    return emitError() << "top_k (" << topK << ") exceeds the " << fewest
                       << " experts on the rank_limit = " << rankLimit
                       << " ranks with the fewest experts in expert_ranks";
  if (groupScore == GroupScore::top2_sum)
    for (auto [rank, count] : llvm::enumerate(perRank))
      if (count < 2)
        return emitError() << "group_score = top2_sum needs at least 2 "
                              "experts per rank; expert_ranks gives rank "
                           << rank << " only " << count;
  return success();
}

/// The renorm_* parameters shape `renormalize`'s denominator, so they need
/// it; softmax_selected weights sum to 1 already.
static LogicalResult
verifyRenormalization(function_ref<InFlightDiagnostic()> emitError,
                      bool renormalize, RoutingWeights weights,
                      const APFloat &renormP, const APFloat &renormEpsilon,
                      bool renormClamp) {
  if (failed(verifyPositiveFinite(emitError, "renorm_p", renormP)))
    return failure();
  double epsilon = renormEpsilon.convertToDouble();
  if (!(epsilon >= 0.0 && std::isfinite(epsilon)))
    return emitError() << "renorm_epsilon must be a finite number at least 0, "
                          "got "
                       << epsilon;
  if (renormalize && weights == RoutingWeights::softmax_selected)
    return emitError() << "renormalize = true does not combine with weights = "
                          "softmax_selected, whose weights sum to 1 already";
  if (renormalize)
    return success();
  bool defaultEpsilon = renormEpsilon.convertToDouble() == 1e-20;
  if (renormP.convertToDouble() != 1.0 || !defaultEpsilon || renormClamp)
    return emitError() << "renorm_p, renorm_epsilon and renorm_clamp need "
                          "renormalize = true";
  return success();
}

/// Sparsemixer ranks the raw logits and computes its own weights; its
/// jitter_eps means nothing to the other scorings.
static LogicalResult
verifySparseMixer(function_ref<InFlightDiagnostic()> emitError,
                  ScoringFunc scoring, SelectionSource selectOn,
                  RoutingWeights weights, const APFloat &jitterEps) {
  double jitter = jitterEps.convertToDouble();
  if (!(jitter >= 0.0 && std::isfinite(jitter)))
    return emitError() << "jitter_eps must be a finite number at least 0, got "
                       << jitter;
  if (scoring != ScoringFunc::sparsemixer) {
    if (jitter != 0.0)
      return emitError() << "jitter_eps needs scoring = sparsemixer";
    return success();
  }
  if (selectOn != SelectionSource::logits)
    return emitError() << "scoring = sparsemixer selects on the logits: it "
                          "needs select_on = logits";
  if (weights != RoutingWeights::scores)
    return emitError() << "scoring = sparsemixer computes its own weights: it "
                          "needs weights = scores";
  return success();
}

LogicalResult
RoutingAttr::verify(function_ref<InFlightDiagnostic()> emitError, int64_t topK,
                    ScoringFunc scoring, SelectionSource selectOn,
                    bool renormalize, APFloat scalingFactor, int64_t nGroup,
                    int64_t topkGroup, GroupScore groupScore, int64_t rankLimit,
                    ArrayRef<int64_t> expertRanks, RoutingWeights weights,
                    APFloat renormP, APFloat renormEpsilon, bool renormClamp,
                    APFloat jitterEps) {
  if (topK < 1)
    return emitError() << "top_k must be at least 1, got " << topK;
  if (failed(
          verifyPositiveFinite(emitError, "scaling_factor", scalingFactor)) ||
      failed(verifyRenormalization(emitError, renormalize, weights, renormP,
                                   renormEpsilon, renormClamp)) ||
      failed(
          verifySparseMixer(emitError, scoring, selectOn, weights, jitterEps)))
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
  if (rankLimit < 0)
    return emitError() << "rank_limit must be at least 0 (0: no limit), got "
                       << rankLimit;
  if (rankLimit == 0 && !expertRanks.empty())
    return emitError() << "expert_ranks needs a rank_limit above 0";
  if (rankLimit == 0)
    return success();
  if (expertRanks.empty())
    return emitError() << "rank_limit = " << rankLimit
                       << " needs expert_ranks, the rank of each expert";
  if (nGroup > 1)
    return emitError() << "rank_limit does not combine with group-limited "
                          "routing (n_group = "
                       << nGroup << ")";
  // As for groups: rank scores are defined on the scores, not raw logits.
  if (selectOn == SelectionSource::logits)
    return emitError() << "select_on = logits does not combine with "
                          "rank-limited routing (rank_limit = "
                       << rankLimit << ")";
  return verifyRankMap(emitError, topK, rankLimit, groupScore, expertRanks);
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
  if (isRankLimited() &&
      static_cast<int64_t>(getExpertRanks().size()) != numExperts)
    return emitError() << "expert_ranks has " << getExpertRanks().size()
                       << " entries, expected one per expert (" << numExperts
                       << ")";
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

int64_t RoutingAttr::getNumRanks() const {
  ArrayRef<int64_t> ranks = getExpertRanks();
  return ranks.empty() ? 0 : *llvm::max_element(ranks) + 1;
}

RoutingAttr RoutingAttr::getUngroupedIfTrivial() const {
  bool keepsEveryGroup = isGrouped() && getTopkGroup() == getNGroup();
  bool keepsEveryRank = isRankLimited() && getRankLimit() == getNumRanks();
  if (!keepsEveryGroup && !keepsEveryRank)
    return {};
  return RoutingAttr::get(getContext(), getTopK(), getScoring(), getSelectOn(),
                          getRenormalize(), getScalingFactor(), /*n_group=*/1,
                          /*topk_group=*/1, GroupScore::max, /*rank_limit=*/0,
                          ArrayRef<int64_t>(), getWeights(), getRenormP(),
                          getRenormEpsilon(), getRenormClamp(), getJitterEps());
}

LogicalResult
RouterInputNormAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                            APFloat epsilon, APFloat multiplier) {
  double value = epsilon.convertToDouble();
  if (!(value >= 0.0 && std::isfinite(value)))
    return emitError() << "epsilon must be a finite number at least 0, got "
                       << value;
  return verifyPositiveFinite(emitError, "multiplier", multiplier);
}

//===----------------------------------------------------------------------===//
// ExpertChoiceAttr, SoftMoEAttr and CapacityAttr
//===----------------------------------------------------------------------===//

LogicalResult
ExpertChoiceAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         APFloat capacityFactor) {
  return verifyPositiveFinite(emitError, "capacity_factor", capacityFactor);
}

LogicalResult
SoftMoEAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                    int64_t slotsPerExpert) {
  // E·S router rows must fit an expert count's bound as E does.
  if (slotsPerExpert < 1 || slotsPerExpert > ::moe::limits::kMaxExperts)
    return emitError() << "slots_per_expert must be in [1, "
                       << ::moe::limits::kMaxExperts << "], got "
                       << slotsPerExpert;
  return success();
}

LogicalResult CapacityAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   APFloat factor, DropOrder,
                                   DroppedSlot dropped, int64_t count,
                                   APFloat tokenFraction, bool renormalize,
                                   APFloat outputScale) {
  // Each form's "not given" is its default, zero.
  int forms = !factor.isZero() + (count != 0) + !tokenFraction.isZero();
  if (forms != 1)
    return emitError() << "capacity needs exactly one of factor, count and "
                          "token_fraction, got "
                       << forms;
  if (!factor.isZero() &&
      failed(verifyPositiveFinite(emitError, "capacity factor", factor)))
    return failure();
  // C is an i32 like the row indices it bounds.
  if (count < 0 || count >= ::moe::limits::kMaxTokens)
    return emitError() << "capacity count must be in [1, "
                       << ::moe::limits::kMaxTokens - 1 << "], got " << count;
  if (!tokenFraction.isZero() &&
      failed(verifyPositiveFinite(emitError, "capacity token_fraction",
                                  tokenFraction)))
    return failure();
  if (renormalize && dropped == DroppedSlot::input)
    return emitError() << "capacity renormalize needs dropped = zero: the "
                          "weights are renormalised over the kept slots";
  return verifyPositiveFinite(emitError, "capacity output_scale", outputScale);
}

//===----------------------------------------------------------------------===//
// GluClampAttr
//===----------------------------------------------------------------------===//

LogicalResult GluClampAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   APFloat alpha, APFloat limit,
                                   GluClampForm form) {
  if (failed(verifyPositiveFinite(emitError, "glu_clamp alpha", alpha)))
    return failure();
  // Only GPT-OSS's form has a slope: another alpha elsewhere is a mistake,
  // not a setting that would be ignored.
  if (form != GluClampForm::gpt_oss && alpha != APFloat(1.702))
    return emitError() << "glu_clamp alpha applies to form 'gpt_oss' only, "
                          "not '"
                       << stringifyGluClampForm(form) << "'";
  return verifyPositiveFinite(emitError, "glu_clamp limit", limit);
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
