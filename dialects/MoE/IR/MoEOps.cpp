//===- MoEOps.cpp - moe dialect operations --------------------------------===//
//
// Verifiers, folders and canonicalization patterns of the moe ops. Every
// verifier message names the operand or attribute at fault.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "OpVerification.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::detail;

//===----------------------------------------------------------------------===//
// Shape checks shared by the verifiers
//===----------------------------------------------------------------------===//

namespace {
/// Requires a static hidden size (dimension 1) on an activation tensor.
LogicalResult staticHidden(Operation *op, Value value, StringRef name) {
  if (!ShapedType::isDynamic(dimOf(value, 1)))
    return success();
  return op->emitOpError() << "'" << name
                           << "' hidden size must be static, got "
                           << value.getType();
}

/// The row bundle that expert choice and dispatch gather from `input`: the
/// rows keep its hidden size and element type.
LogicalResult verifyGatheredBundle(Operation *op, Value input, Value rows,
                                   Value rowToken, Value rowWeight,
                                   Value offsets) {
  if (failed(ShapeChecker(op).rowBundle(rows, "rows", rowToken, rowWeight,
                                        offsets, dimOf(input, 1))))
    return failure();
  if (cast<ShapedType>(rows.getType()).getElementType() !=
      cast<ShapedType>(input.getType()).getElementType())
    return op->emitOpError("'rows' element type must match 'input'");
  return success();
}

/// A correction bias `[E]` adds to the selection scores, so it needs
/// `select_on = scores`.
LogicalResult verifyCorrectionBias(Operation *op, RoutingAttr routing,
                                   Value bias, int64_t numExperts) {
  if (!bias)
    return success();
  if (routing.getSelectOn() != SelectionSource::scores)
    return op->emitOpError("'correction_bias' needs select_on = scores in the "
                           "#moe.routing attribute");
  return ShapeChecker(op).dim(bias, "correction_bias", 0, numExperts,
                              "expert count");
}

/// An expert scale `[E]` multiplies the routing weights.
LogicalResult verifyExpertScale(Operation *op, Value scale,
                                int64_t numExperts) {
  if (!scale)
    return success();
  return ShapeChecker(op).dim(scale, "expert_scale", 0, numExperts,
                              "expert count");
}

/// Routing by token id: `expert_table` `[V,K]` (static, K = top_k) and
/// `token_ids` `[T]` together; the table replaces selection, so selection
/// settings that would be silently ignored are errors.
LogicalResult verifyExpertTable(Operation *op, RoutingAttr routing, Value table,
                                Value tokenIds, Value bias, int64_t numTokens) {
  if (!table && !tokenIds)
    return success();
  if (!table || !tokenIds)
    return op->emitOpError("'expert_table' and 'token_ids' go together: "
                           "routing by token id needs both");
  ShapeChecker check(op);
  if (failed(check.isStatic(table, "expert_table")) ||
      failed(check.dim(table, "expert_table", 1, routing.getTopK(), "top_k")) ||
      failed(check.dim(tokenIds, "token_ids", 0, numTokens, "token count")))
    return failure();
  if (dimOf(table, 0) < 1)
    return op->emitOpError("'expert_table' needs at least one row");
  if (bias)
    return op->emitOpError("'correction_bias' only changes the selection, "
                           "which 'expert_table' replaces");
  if (routing.isGrouped() || routing.isRankLimited())
    return op->emitOpError("group- or rank-limited selection does not apply "
                           "to routing by 'expert_table'");
  // Sparsemixer's weights follow the order of its own top-k on the logits.
  if (routing.getScoring() == ScoringFunc::sparsemixer)
    return op->emitOpError("scoring = sparsemixer weighs its own top-k of the "
                           "logits, which 'expert_table' replaces");
  return success();
}

/// A weight operand for verifyF32Weights.
struct NamedWeight {
  Value value;
  StringRef name;
};

/// The weights of the graph ops are f32: moe-compile keeps them so, or
/// gives the kernel layer bf16 panels itself (--weight-type=bf16, on the
/// CPU moe-cpu-pack-weights), and the runtime binds checkpoint tensors to
/// them. A bf16 tensor written into the IR would otherwise fail far
/// downstream, at an op the user never wrote.
LogicalResult verifyF32Weights(Operation *op, ArrayRef<NamedWeight> weights) {
  for (const NamedWeight &weight : weights) {
    if (!weight.value)
      continue;
    Type element = cast<ShapedType>(weight.value.getType()).getElementType();
    if (element.isF32())
      continue;
    // Printed bare: a type in a diagnostic would be quoted.
    std::string got;
    llvm::raw_string_ostream(got) << element;
    return op->emitOpError()
           << "'" << weight.name << "' weights must be f32 (got " << got
           << "); to run with bf16 weights keep f32 in the IR and compile "
              "with --weight-type=bf16";
  }
  return success();
}

/// A Soft MoE layer's router has one row per slot, and its slots carry no
/// per-row routing weight that a capacity or input scaling would use.
LogicalResult verifySoftMoELayer(LayerOp op, SoftMoEAttr soft) {
  int64_t rows = op.getRouterWeight().getType().getDimSize(0);
  int64_t slots = soft.getSlotsPerExpert();
  if (rows % slots != 0)
    return op.emitOpError() << "'router_weight' must have a row per slot "
                               "(E·S rows with slots_per_expert = "
                            << slots << "), got " << rows << " rows";
  if (op.getCapacity())
    return op.emitOpError("'capacity' does not apply to #moe.soft_moe: every "
                          "slot is computed");
  if (op.getCorrectionBias())
    return op.emitOpError("'correction_bias' applies to token-choice routing "
                          "only");
  if (op.getScaleExpertInput())
    return op.emitOpError("'scale_expert_input' does not apply to "
                          "#moe.soft_moe: its slots carry no routing weight");
  if (op.getExpertScale())
    return op.emitOpError("'expert_scale' applies to token-choice routing "
                          "only");
  if (op.getExpertTable() || op.getTokenIds())
    return op.emitOpError("'expert_table' and 'token_ids' apply to "
                          "token-choice routing only");
  // An [E] bias has no entry per slot.
  if (op.getRouterBias())
    return op.emitOpError("'router_bias' does not apply to #moe.soft_moe: its "
                          "logits have a column per slot");
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// Custom assembly: FFN weights `gate %g, up %u, down %d`
//===----------------------------------------------------------------------===//

/// Parses `(gate %g,)? up %u, down %d`. `up`/`down` are required operands of
/// moe.expert_mlp and optional ones (present with the group) of moe.layer's
/// shared expert, hence the template.
template <typename UpT, typename DownT>
static ParseResult
parseFfnWeights(OpAsmParser &parser,
                std::optional<OpAsmParser::UnresolvedOperand> &gate, UpT &up,
                DownT &down) {
  OpAsmParser::UnresolvedOperand downOperand;
  if (parseGateUpWeights(parser, gate, up) || parser.parseComma() ||
      parser.parseKeyword("down") || parser.parseOperand(downOperand))
    return failure();
  down = downOperand;
  return success();
}

static void printFfnWeights(OpAsmPrinter &printer, Operation *op, Value gate,
                            Value up, Value down) {
  printGateUpWeights(printer, op, gate, up);
  printer << ", down " << down;
}

//===----------------------------------------------------------------------===//
// Custom assembly: the router's optional operands
//===----------------------------------------------------------------------===//

namespace {
/// The keyword of each optional router operand of moe.layer, in printing
/// order: `router(%wg, bias %b, router_bias %rb, input_scale %s,
/// expert_scale %es)`.
constexpr llvm::StringLiteral kRouterOperandKeywords[] = {
    "bias", "router_bias", "input_scale", "expert_scale"};
} // namespace

static ParseResult parseRouterOperands(
    OpAsmParser &parser, std::optional<OpAsmParser::UnresolvedOperand> &bias,
    std::optional<OpAsmParser::UnresolvedOperand> &routerBias,
    std::optional<OpAsmParser::UnresolvedOperand> &inputScale,
    std::optional<OpAsmParser::UnresolvedOperand> &expertScale) {
  return parseKeywordOperands(parser, kRouterOperandKeywords,
                              {&bias, &routerBias, &inputScale, &expertScale});
}

static void printRouterOperands(OpAsmPrinter &printer, Operation *, Value bias,
                                Value routerBias, Value inputScale,
                                Value expertScale) {
  printKeywordOperands(printer, kRouterOperandKeywords,
                       {bias, routerBias, inputScale, expertScale});
}

//===----------------------------------------------------------------------===//
// Custom assembly: the FFN biases `, gate_bias %bg, up_bias %bu, down_bias %bd`
//===----------------------------------------------------------------------===//

static ParseResult
parseFfnBiases(OpAsmParser &parser,
               std::optional<OpAsmParser::UnresolvedOperand> &gateBias,
               std::optional<OpAsmParser::UnresolvedOperand> &upBias,
               std::optional<OpAsmParser::UnresolvedOperand> &downBias) {
  return parseKeywordOperands(parser, kFfnBiasKeywords,
                              {&gateBias, &upBias, &downBias});
}

static void printFfnBiases(OpAsmPrinter &printer, Operation *, Value gateBias,
                           Value upBias, Value downBias) {
  printKeywordOperands(printer, kFfnBiasKeywords, {gateBias, upBias, downBias});
}

//===----------------------------------------------------------------------===//
// Custom assembly: moe.layer's norms `norms(expert_input %a, output %b)`
//===----------------------------------------------------------------------===//

namespace {
/// The keyword of each of moe.layer's norms, in printing order.
constexpr llvm::StringLiteral kLayerNormKeywords[] = {
    "expert_input", "expert_output", "shared_input", "shared_output",
    "output"};
} // namespace

static ParseResult
parseLayerNorms(OpAsmParser &parser,
                std::optional<OpAsmParser::UnresolvedOperand> &expertInput,
                std::optional<OpAsmParser::UnresolvedOperand> &expertOutput,
                std::optional<OpAsmParser::UnresolvedOperand> &sharedInput,
                std::optional<OpAsmParser::UnresolvedOperand> &sharedOutput,
                std::optional<OpAsmParser::UnresolvedOperand> &output) {
  return parseKeywordOperands(
      parser, kLayerNormKeywords,
      {&expertInput, &expertOutput, &sharedInput, &sharedOutput, &output},
      /*list=*/true);
}

static void printLayerNorms(OpAsmPrinter &printer, Operation *,
                            Value expertInput, Value expertOutput,
                            Value sharedInput, Value sharedOutput,
                            Value output) {
  printKeywordOperands(
      printer, kLayerNormKeywords,
      {expertInput, expertOutput, sharedInput, sharedOutput, output},
      /*list=*/true);
}

//===----------------------------------------------------------------------===//
// LayerOp
//===----------------------------------------------------------------------===//

LogicalResult LayerOp::verifyNorms() {
  FloatAttr epsilon = getNormEpsilonAttr();
  if (!hasNorms()) {
    if (epsilon)
      return emitOpError("'norm_epsilon' needs a norm");
    return success();
  }
  if (!epsilon)
    return emitOpError("norms need a 'norm_epsilon'");
  double eps = epsilon.getValueAsDouble();
  if (!(eps > 0.0 && eps <= 1.0))
    return emitOpError() << "'norm_epsilon' must be in (0, 1], got " << eps;
  ShapeChecker check(*this);
  int64_t hidden = getHiddenSize();
  for (auto [value, name] :
       {std::pair<Value, StringRef>{getExpertInputNorm(), "expert_input_norm"},
        {getExpertOutputNorm(), "expert_output_norm"},
        {getSharedInputNorm(), "shared_input_norm"},
        {getSharedOutputNorm(), "shared_output_norm"},
        {getOutputNorm(), "output_norm"}})
    if (value && failed(check.dim(value, name, 0, hidden, "hidden size")))
      return failure();
  if ((getSharedInputNorm() || getSharedOutputNorm()) && !hasSharedExpert())
    return emitOpError("'shared_input' and 'shared_output' norms need a "
                       "shared expert");
  if (isa<SoftMoEAttr>(getRouter()))
    return emitOpError("norms do not apply to #moe.soft_moe");
  if (getCapacity())
    return emitOpError("norms do not combine with a capacity: a dropped slot "
                       "would pass a normalised input through");
  if (getOutputBias() || getSharedCombine() || getZeroExperts())
    return emitOpError("norms do not combine with 'output_bias', "
                       "'shared_combine' or 'zero_experts'");
  return success();
}

LogicalResult LayerOp::verify() {
  ShapeChecker check(*this);
  if (failed(staticHidden(*this, getInput(), "input")) ||
      failed(check.isStatic(getRouterWeight(), "router_weight")))
    return failure();
  if (failed(verifyF32Weights(
          *this, {{getRouterWeight(), "router_weight"},
                  {getExpertGate(), "expert_gate"},
                  {getExpertUp(), "expert_up"},
                  {getExpertDown(), "expert_down"},
                  {getSharedGate(), "shared_gate"},
                  {getSharedUp(), "shared_up"},
                  {getSharedDown(), "shared_down"},
                  {getSharedSigmoidGate(), "shared_sigmoid_gate"},
                  {getOutputBias(), "output_bias"}})))
    return failure();
  int64_t hidden = getHiddenSize();
  if (failed(check.dim(getRouterWeight(), "router_weight", 1, hidden,
                       "hidden size")) ||
      failed(verifyZeroExperts()))
    return failure();
  // The router's rows and per-expert vectors cover the zero experts too;
  // the expert weights do not.
  int64_t numRouted = getNumRoutedExperts();
  int64_t numExperts = getNumExperts();

  if (Value routerBias = getRouterBias();
      routerBias && !isa<SoftMoEAttr>(getRouter()) &&
      failed(
          check.dim(routerBias, "router_bias", 0, numRouted, "expert count")))
    return failure();
  if (Value inputScale = getRouterInputScale()) {
    if (!getRouterInputNormAttr())
      return emitOpError("'router_input_scale' needs a 'router_input_norm' "
                         "attribute: it scales the normalised router input");
    if (failed(check.dim(inputScale, "router_input_scale", 0, hidden,
                         "hidden size")))
      return failure();
  }

  auto emitError = [&] { return emitOpError(); };
  if (auto routing = dyn_cast<RoutingAttr>(getRouter())) {
    if (failed(routing.verifyForExperts(emitError, numRouted)) ||
        failed(verifyCorrectionBias(*this, routing, getCorrectionBias(),
                                    numRouted)) ||
        failed(verifyExpertScale(*this, getExpertScale(), numRouted)) ||
        failed(verifyExpertTable(*this, routing, getExpertTable(),
                                 getTokenIds(), getCorrectionBias(),
                                 dimOf(getInput(), 0))))
      return failure();
    if (CapacityAttr capacity = getCapacityAttr();
        capacity && capacity.getDropped() == DroppedSlot::input &&
        getScaleExpertInput())
      return emitOpError("capacity dropped = input does not combine with "
                         "'scale_expert_input': the weight is applied to the "
                         "expert input, so there is none left for the "
                         "passed-through input");
    if (CapacityAttr capacity = getCapacityAttr();
        capacity && !capacity.getOutputScale().isExactlyValue(1.0) &&
        getScaleExpertInput())
      return emitOpError("capacity output_scale does not combine with "
                         "'scale_expert_input': it scales the routed output, "
                         "and the row weight would scale the expert input");
  } else if (auto soft = dyn_cast<SoftMoEAttr>(getRouter())) {
    if (failed(verifySoftMoELayer(*this, soft)))
      return failure();
  } else {
    if (getCapacity())
      return emitOpError("'capacity' applies to token-choice routing only; "
                         "#moe.expert_choice sets its own capacity");
    if (getCorrectionBias())
      return emitOpError("'correction_bias' applies to token-choice routing "
                         "only");
    if (getExpertScale())
      return emitOpError("'expert_scale' applies to token-choice routing "
                         "only");
    if (getExpertTable() || getTokenIds())
      return emitOpError("'expert_table' and 'token_ids' apply to "
                         "token-choice routing only");
  }

  if (failed(check.gluClamp(getActivation(), getGluClampAttr())) ||
      failed(check.ffnWeights(getActivation(), getExpertGate(), getExpertUp(),
                              getExpertDown(), "expert_", numExperts, hidden)) ||
      failed(check.ffnBiases(getActivation(), getExpertGateBias(),
                             getExpertUpBias(), getExpertDownBias(), "expert_",
                             numExperts, dimOf(getExpertUp(), 1), hidden)))
    return failure();
  if (Value outputBias = getOutputBias()) {
    // Soft MoE's combine has no per-token start value to put it in.
    if (isa<SoftMoEAttr>(getRouter()))
      return emitOpError("'output_bias' applies to token- and expert-choice "
                         "routing only");
    if (failed(check.dim(outputBias, "output_bias", 0, hidden, "hidden size")))
      return failure();
  }

  if (failed(verifySharedActivation()))
    return failure();
  if (getSharedUp()) {
    if (!getSharedDown())
      return emitOpError("'shared_up' needs 'shared_down'");
    if (failed(check.ffnWeights(getSharedExpertActivation(), getSharedGate(),
                                getSharedUp(), getSharedDown(), "shared_",
                                std::nullopt, hidden)))
      return failure();
  } else if (getSharedGate() || getSharedDown() || getSharedSigmoidGate()) {
    return emitOpError("shared expert weights need 'shared_up'");
  }
  if (getSharedCombine() && !hasSharedExpert())
    return emitOpError("'shared_combine' needs a shared expert");
  if (failed(verifyNorms()))
    return failure();
  // No model has both; refusing keeps "the bias is added once, after the
  // average" from needing a third place in the lowering.
  if (getSharedCombine() && getOutputBias())
    return emitOpError("'shared_combine' = average with an 'output_bias' is "
                       "not supported");
  if (Value sigmoidGate = getSharedSigmoidGate()) {
    if (failed(check.dim(sigmoidGate, "shared_sigmoid_gate", 0, 1, "size")) ||
        failed(check.dim(sigmoidGate, "shared_sigmoid_gate", 1, hidden,
                         "hidden size")))
      return failure();
  }
  return check.sameType(getOutput(), getInput(), "input");
}

LogicalResult LayerOp::verifyZeroExperts() {
  std::optional<int64_t> zero = getZeroExperts();
  if (!zero)
    return success();
  if (*zero <= 0)
    return emitOpError() << "'zero_experts' must be positive, got " << *zero;
  if (!isa<RoutingAttr>(getRouter()))
    return emitOpError("'zero_experts' applies to token-choice routing "
                       "(#moe.routing) only: expert choice and Soft MoE have "
                       "no identity experts");
  if (getExpertTable())
    return emitOpError("'zero_experts' does not combine with routing by "
                       "token id ('expert_table')");
  if (getCapacity())
    return emitOpError("'zero_experts' does not combine with 'capacity': "
                       "identity-expert slots take the rows that dropped "
                       "slots would");
  if (getScaleExpertInput())
    return emitOpError("'zero_experts' does not combine with "
                       "'scale_expert_input': an identity expert's weight "
                       "scales its output");
  if (getRouterWeight().getType().getDimSize(0) <= *zero)
    return emitOpError() << "'zero_experts' (" << *zero
                         << ") leaves no expert with weights: 'router_weight' "
                            "has "
                         << getRouterWeight().getType().getDimSize(0)
                         << " rows (E + Z)";
  return success();
}

LogicalResult LayerOp::verifySharedActivation() {
  std::optional<Activation> activation = getSharedActivation();
  GluClampAttr clamp = getSharedGluClampAttr();
  if (!activation) {
    if (clamp)
      return emitOpError("'shared_glu_clamp' needs 'shared_activation' = "
                         "clamped_swiglu");
    return success();
  }
  if (!hasSharedExpert())
    return emitOpError("'shared_activation' needs a shared expert");
  bool wanted = *activation == Activation::clamped_swiglu;
  if (wanted && !clamp)
    return emitOpError("shared activation 'clamped_swiglu' needs a "
                       "'shared_glu_clamp' attribute "
                       "(#moe.glu_clamp<limit = ...>)");
  if (!wanted && clamp)
    return emitOpError() << "'shared_glu_clamp' applies to shared activation "
                            "'clamped_swiglu' only, got '"
                         << stringifyActivation(*activation) << "'";
  return success();
}

namespace {
/// A capacity no expert can reach (factor · K >= E, token_fraction >= 1)
/// and with no weight rule is dropless routing.
template <typename OpTy>
struct EraseUnreachableCapacity : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    CapacityAttr capacity = op.getCapacityAttr();
    std::optional<int64_t> topK = getTopK(op);
    if (!capacity || !topK || !capacity.neverDrops(*topK, op.getNumExperts()))
      return failure();
    rewriter.modifyOpInPlace(op, [&] { op.removeCapacityAttr(); });
    return success();
  }

  static std::optional<int64_t> getTopK(LayerOp op) {
    if (auto routing = dyn_cast<RoutingAttr>(op.getRouter()))
      return routing.getTopK();
    return std::nullopt;
  }
  static std::optional<int64_t> getTopK(DispatchOp op) {
    int64_t k = dimOf(op.getExperts(), 1);
    if (ShapedType::isDynamic(k))
      return std::nullopt;
    return k;
  }
};

/// Group-limited routing that keeps every group selects as ungrouped routing.
template <typename OpTy> struct DropTrivialGrouping : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    auto routing = dyn_cast<RoutingAttr>(getRouting(op));
    RoutingAttr ungrouped = routing ? routing.getUngroupedIfTrivial() : nullptr;
    if (!ungrouped)
      return failure();
    rewriter.modifyOpInPlace(op, [&] { setRouting(op, ungrouped); });
    return success();
  }

  static Attribute getRouting(LayerOp op) { return op.getRouter(); }
  static Attribute getRouting(RouteOp op) { return op.getRouting(); }
  static void setRouting(LayerOp op, RoutingAttr attr) {
    op.setRouterAttr(attr);
  }
  static void setRouting(RouteOp op, RoutingAttr attr) {
    op.setRoutingAttr(attr);
  }
};
} // namespace

void LayerOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<EraseUnreachableCapacity<LayerOp>, DropTrivialGrouping<LayerOp>>(
      context);
}

//===----------------------------------------------------------------------===//
// RouteOp
//===----------------------------------------------------------------------===//

LogicalResult RouteOp::verify() {
  ShapeChecker check(*this);
  int64_t numExperts = dimOf(getLogits(), 1);
  if (ShapedType::isDynamic(numExperts))
    return emitOpError() << "'logits' expert count must be static, got "
                         << getLogits().getType();
  RoutingAttr routing = getRouting();
  auto emitError = [&] { return emitOpError(); };
  if (failed(routing.verifyForExperts(emitError, numExperts)) ||
      failed(verifyCorrectionBias(*this, routing, getCorrectionBias(),
                                  numExperts)) ||
      failed(verifyExpertScale(*this, getExpertScale(), numExperts)) ||
      failed(verifyExpertTable(*this, routing, getExpertTable(), getTokenIds(),
                               getCorrectionBias(), dimOf(getLogits(), 0))))
    return failure();
  if (getWeights().getType().getShape() != getExperts().getType().getShape())
    return emitOpError() << "'weights' shape " << getWeights().getType()
                         << " differs from 'experts' shape "
                         << getExperts().getType();
  int64_t numTokens = dimOf(getLogits(), 0);
  if (failed(check.dim(getWeights(), "weights", 0, numTokens, "token count")))
    return failure();
  if (dimOf(getWeights(), 1) != routing.getTopK())
    return emitOpError() << "'weights' and 'experts' must have top_k = "
                         << routing.getTopK() << " columns, got "
                         << getWeights().getType();
  return success();
}

void RouteOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<DropTrivialGrouping<RouteOp>>(context);
}

//===----------------------------------------------------------------------===//
// ExpertChoiceOp
//===----------------------------------------------------------------------===//

LogicalResult ExpertChoiceOp::verify() {
  ShapeChecker check(*this);
  if (failed(staticHidden(*this, getInput(), "input")))
    return failure();
  int64_t numExperts = dimOf(getLogits(), 1);
  if (ShapedType::isDynamic(numExperts))
    return emitOpError() << "'logits' expert count must be static, got "
                         << getLogits().getType();
  if (failed(check.dim(getLogits(), "logits", 0, dimOf(getInput(), 0),
                       "token count")) ||
      failed(verifyGatheredBundle(*this, getInput(), getRows(), getRowToken(),
                                  getRowWeight(), getExpertOffsets())))
    return failure();
  return check.dim(getExpertOffsets(), "expert_offsets", 0, numExperts + 1,
                   "size");
}

//===----------------------------------------------------------------------===//
// SoftDispatchOp, SoftCombineOp
//===----------------------------------------------------------------------===//

/// Soft MoE's logits `[T,E·S]`: a static slot count. Returns it, or the
/// dynamic marker after reporting.
static int64_t verifySlotLogits(Operation *op, Value logits) {
  int64_t numSlots = dimOf(logits, 1);
  if (ShapedType::isDynamic(numSlots))
    op->emitOpError() << "'logits' slot count must be static, got "
                      << logits.getType();
  return numSlots;
}

LogicalResult SoftDispatchOp::verify() {
  ShapeChecker check(*this);
  if (failed(staticHidden(*this, getInput(), "input")))
    return failure();
  int64_t numSlots = verifySlotLogits(*this, getLogits());
  if (ShapedType::isDynamic(numSlots))
    return failure();
  int64_t perExpert = getRouting().getSlotsPerExpert();
  if (numSlots % perExpert != 0)
    return emitOpError() << "'logits' must have E·S columns with "
                            "slots_per_expert = "
                         << perExpert << ", got " << numSlots;
  if (failed(check.dim(getLogits(), "logits", 0, dimOf(getInput(), 0),
                       "token count")) ||
      failed(check.dim(getRows(), "rows", 0, numSlots, "slot count")) ||
      failed(check.dim(getRows(), "rows", 1, dimOf(getInput(), 1),
                       "hidden size")) ||
      failed(check.isStatic(getExpertOffsets(), "expert_offsets")) ||
      failed(check.dim(getExpertOffsets(), "expert_offsets", 0,
                       numSlots / perExpert + 1, "expert count + 1")))
    return failure();
  if (getRows().getType().getElementType() !=
      getInput().getType().getElementType())
    return emitOpError("'rows' element type must match 'input'");
  return success();
}

LogicalResult SoftCombineOp::verify() {
  ShapeChecker check(*this);
  if (failed(staticHidden(*this, getExpertOut(), "expert_out")))
    return failure();
  int64_t numSlots = verifySlotLogits(*this, getLogits());
  if (ShapedType::isDynamic(numSlots) ||
      failed(check.dim(getExpertOut(), "expert_out", 0, numSlots,
                       "slot count")) ||
      failed(check.dim(getOutput(), "output", 0, dimOf(getLogits(), 0),
                       "token count")) ||
      failed(check.dim(getOutput(), "output", 1, dimOf(getExpertOut(), 1),
                       "hidden size")))
    return failure();
  if (getOutput().getType().getElementType() !=
      getExpertOut().getType().getElementType())
    return emitOpError("'output' element type must match 'expert_out'");
  return success();
}

//===----------------------------------------------------------------------===//
// DispatchOp
//===----------------------------------------------------------------------===//

LogicalResult DispatchOp::verify() {
  ShapeChecker check(*this);
  if (failed(staticHidden(*this, getInput(), "input")))
    return failure();
  if (getExperts().getType().getShape() != getWeights().getType().getShape())
    return emitOpError() << "'experts' shape " << getExperts().getType()
                         << " differs from 'weights' shape "
                         << getWeights().getType();
  if (failed(check.dim(getExperts(), "experts", 0, dimOf(getInput(), 0),
                       "token count")) ||
      failed(verifyGatheredBundle(*this, getInput(), getRows(), getRowToken(),
                                  getRowWeight(), getExpertOffsets())))
    return failure();
  int64_t topK = dimOf(getExperts(), 1);
  if (ShapedType::isDynamic(topK))
    return emitOpError() << "'experts' must have a static top-k width, got "
                         << getExperts().getType();
  if (std::optional<int64_t> zero = getZeroExperts()) {
    if (*zero <= 0)
      return emitOpError() << "'zero_experts' must be positive, got " << *zero;
    if (getCapacity())
      return emitOpError("'zero_experts' does not combine with 'capacity': "
                         "identity-expert slots take the rows that dropped "
                         "slots would");
  }
  if (topK > getNumExperts() + getNumZeroExperts())
    return emitOpError() << "'experts' top-k width (" << topK
                         << ") exceeds the expert count ("
                         << getNumExperts() + getNumZeroExperts()
                         << ") given by 'expert_offsets' and 'zero_experts'";
  return success();
}

void DispatchOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                             MLIRContext *context) {
  results.add<EraseUnreachableCapacity<DispatchOp>>(context);
}

//===----------------------------------------------------------------------===//
// CombineOp
//===----------------------------------------------------------------------===//

LogicalResult CombineOp::verify() {
  ShapeChecker check(*this);
  if (failed(staticHidden(*this, getInput(), "input")) ||
      failed(check.rowBundle(getExpertOut(), "expert_out", getRowToken(),
                             getRowWeight(), getExpertOffsets(),
                             dimOf(getInput(), 1))))
    return failure();
  if (getDropped() == DroppedSlot::input && !getRowWeight())
    return emitOpError("dropped = input needs 'row_weight' to weight the "
                       "passed-through input");
  if (Value outputBias = getOutputBias())
    if (failed(check.dim(outputBias, "output_bias", 0, dimOf(getInput(), 1),
                         "hidden size")))
      return failure();
  return check.sameType(getOutput(), getInput(), "input");
}

//===----------------------------------------------------------------------===//
// ExpertMlpOp
//===----------------------------------------------------------------------===//

LogicalResult ExpertMlpOp::verify() {
  ShapeChecker check(*this);
  if (failed(staticHidden(*this, getRows(), "rows")) ||
      failed(check.expertOffsets(getExpertOffsets())))
    return failure();
  if (failed(verifyF32Weights(
          *this, {{getGate(), "gate"}, {getUp(), "up"}, {getDown(), "down"}})))
    return failure();
  int64_t numExperts = dimOf(getExpertOffsets(), 0) - 1;
  int64_t hidden = dimOf(getRows(), 1);
  if (failed(check.gluClamp(getActivation(), getGluClampAttr())) ||
      failed(check.ffnWeights(getActivation(), getGate(), getUp(), getDown(),
                              "", numExperts, hidden)) ||
      failed(check.ffnBiases(getActivation(), getGateBias(), getUpBias(),
                             getDownBias(), "", numExperts, dimOf(getUp(), 1),
                             hidden)))
    return failure();
  if (Value scale = getScale())
    if (failed(check.dim(scale, "scale", 0, dimOf(getRows(), 0), "row count")))
      return failure();
  return check.sameType(getOutput(), getRows(), "rows");
}

//===----------------------------------------------------------------------===//
// SharedMlpOp
//===----------------------------------------------------------------------===//

LogicalResult SharedMlpOp::verify() {
  ShapeChecker check(*this);
  if (failed(staticHidden(*this, getInput(), "input")) ||
      failed(verifyF32Weights(*this, {{getGate(), "gate"},
                                      {getUp(), "up"},
                                      {getDown(), "down"},
                                      {getSigmoidGate(), "sigmoid_gate"}})))
    return failure();
  int64_t hidden = dimOf(getInput(), 1);
  if (failed(check.gluClamp(getActivation(), getGluClampAttr())) ||
      failed(check.ffnWeights(getActivation(), getGate(), getUp(), getDown(),
                              "", std::nullopt, hidden)))
    return failure();
  if (Value sigmoidGate = getSigmoidGate())
    if (failed(check.dim(sigmoidGate, "sigmoid_gate", 0, 1, "size")) ||
        failed(
            check.dim(sigmoidGate, "sigmoid_gate", 1, hidden, "hidden size")))
      return failure();
  return check.sameType(getOutput(), getInput(), "input");
}

//===----------------------------------------------------------------------===//
// FusedExpertsOp
//===----------------------------------------------------------------------===//

LogicalResult FusedExpertsOp::verify() {
  ShapeChecker check(*this);
  if (failed(staticHidden(*this, getInput(), "input")) ||
      failed(check.expertOffsets(getExpertOffsets())))
    return failure();
  if (failed(verifyF32Weights(*this, {{getExpertGate(), "expert_gate"},
                                      {getExpertUp(), "expert_up"},
                                      {getExpertDown(), "expert_down"},
                                      {getSharedGate(), "shared_gate"},
                                      {getSharedUp(), "shared_up"},
                                      {getSharedDown(), "shared_down"}})))
    return failure();
  int64_t hidden = dimOf(getInput(), 1);
  if (getDropped() == DroppedSlot::input &&
      (!getRowWeight() || getScaleExpertInput()))
    return emitOpError("dropped = input needs 'row_weight' scaling the "
                       "output to weight the passed-through input");
  if (Value weight = getRowWeight())
    if (failed(check.dim(weight, "row_weight", 0, dimOf(getRowToken(), 0),
                         "row count")))
      return failure();
  if (failed(check.gluClamp(getActivation(), getGluClampAttr())) ||
      failed(check.ffnWeights(getActivation(), getExpertGate(), getExpertUp(),
                              getExpertDown(), "expert_", getNumExperts(),
                              hidden)) ||
      failed(check.ffnBiases(getActivation(), getExpertGateBias(),
                             getExpertUpBias(), getExpertDownBias(), "expert_",
                             getNumExperts(), getFfnWidth(), hidden)))
    return failure();
  if (Value outputBias = getOutputBias())
    if (failed(check.dim(outputBias, "output_bias", 0, hidden, "hidden size")))
      return failure();
  if (hasSharedExpert() &&
      failed(check.ffnWeights(getActivation(), getSharedGate(), getSharedUp(),
                              getSharedDown(), "shared_", std::nullopt,
                              hidden)))
    return failure();
  if (getScaleExpertInput() && !getRowWeight())
    return emitOpError("'scale_expert_input' needs 'row_weight'");
  return check.sameType(getOutput(), getInput(), "input");
}

//===----------------------------------------------------------------------===//
// AllToAllOp, AllToAllStartOp
//===----------------------------------------------------------------------===//

/// The row count received is known only at run time, and the group size and
/// the per-rank split are fixed at compile time.
static LogicalResult verifyExchangeOperands(Operation *op, Value rows,
                                            Value sendCounts) {
  if (!ShapedType::isDynamic(dimOf(rows, 0)))
    return op->emitOpError() << "'rows' must have a dynamic row count (how "
                                "many arrive is known only at run time), got "
                             << rows.getType();
  if (failed(staticHidden(op, rows, "rows")))
    return failure();
  return ShapeChecker(op).isStatic(sendCounts, "send_counts");
}

LogicalResult AllToAllOp::verify() {
  return verifyExchangeOperands(*this, getRows(), getSendCounts());
}

LogicalResult AllToAllOp::fold(FoldAdaptor,
                               SmallVectorImpl<OpFoldResult> &results) {
  // A group of one rank sends everything to itself.
  if (dimOf(getSendCounts(), 0) != 1)
    return failure();
  results.push_back(getRows());
  results.push_back(getSendCounts());
  return success();
}

LogicalResult AllToAllStartOp::verify() {
  return verifyExchangeOperands(*this, getRows(), getSendCounts());
}

LogicalResult ReceivedOrderOp::verify() {
  ShapeChecker check(*this);
  if (failed(check.isStatic(getCounts(), "counts")))
    return failure();
  return check.dim(getOffsets(), "offsets", 0, dimOf(getCounts(), 1) + 1,
                   "slot count + 1");
}

//===----------------------------------------------------------------------===//
// RoutingStatsOp
//===----------------------------------------------------------------------===//

LogicalResult RoutingStatsOp::verify() {
  ShapeChecker check(*this);
  int64_t numExperts = dimOf(getLogits(), 1);
  if (ShapedType::isDynamic(numExperts))
    return emitOpError() << "'logits' expert count must be static, got "
                         << getLogits().getType();
  if (failed(check.dim(getExperts(), "experts", 0, dimOf(getLogits(), 0),
                       "token count")))
    return failure();
  if (dimOf(getExperts(), 1) > numExperts)
    return emitOpError() << "'experts' top-k width (" << dimOf(getExperts(), 1)
                         << ") exceeds the expert count (" << numExperts << ")";
  // Router probabilities are defined for these two only.
  if (getScoring() != ScoringFunc::softmax &&
      getScoring() != ScoringFunc::sigmoid)
    return emitOpError() << "'scoring' must be softmax or sigmoid, got "
                         << stringifyScoringFunc(getScoring());
  if (failed(check.dim(getLoad(), "load", 0, numExperts, "expert count")))
    return failure();
  for (unsigned dim : {0u, 1u})
    if (failed(check.dim(getWeights(), "weights", dim, dimOf(getExperts(), dim),
                         dim ? "top-k width" : "token count")))
      return failure();
  double range = getWeightRange().convertToDouble();
  if (!std::isfinite(range) || range <= 0)
    return emitOpError() << "'weight_range' must be finite and positive, got "
                         << range;
  int64_t bins = dimOf(getWeightHistogram(), 0);
  if (ShapedType::isDynamic(bins) || bins < 1)
    return emitOpError() << "'weight_histogram' must have a static, non-zero "
                            "bin count, got "
                         << getWeightHistogram().getType();
  return success();
}

#define GET_OP_CLASSES
#include "moe/Dialect/MoE/IR/MoEOps.cpp.inc"
