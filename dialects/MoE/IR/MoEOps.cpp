//===- MoEOps.cpp - moe dialect operations --------------------------------===//
//
// Verifiers, folders and canonicalization patterns of the moe ops. Every
// verifier message names the operand or attribute at fault.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moe;

//===----------------------------------------------------------------------===//
// Shape checks shared by the verifiers
//===----------------------------------------------------------------------===//

namespace {
/// Checks operands' shapes against what an op expects. Each check names the
/// operand, the dimension's meaning and both sizes; dynamic sizes are
/// accepted wherever the op allows them.
class ShapeChecker {
public:
  explicit ShapeChecker(Operation *op) : op(op) {}

  /// Requires every dimension of `value`'s type to be static.
  LogicalResult isStatic(Value value, StringRef name) {
    auto type = cast<ShapedType>(value.getType());
    if (type.hasStaticShape())
      return success();
    return op->emitOpError()
           << "'" << name << "' must have a static shape, got " << type;
  }

  /// Requires dimension `dim` of `value` to be `expected` unless either is
  /// dynamic.
  LogicalResult dim(Value value, StringRef name, unsigned dim, int64_t expected,
                    StringRef meaning) {
    int64_t actual = cast<ShapedType>(value.getType()).getDimSize(dim);
    if (ShapedType::isDynamic(actual) || ShapedType::isDynamic(expected) ||
        actual == expected)
      return success();
    return op->emitOpError()
           << "'" << name << "' " << meaning << " (dimension " << dim << ") is "
           << actual << ", expected " << expected;
  }

  /// The FFN weights of `activation`: `gate` exactly when gated; `gate`/`up`
  /// `[(E,) F, H]`, `down` `[(E,) H, F]`, all static. `numExperts` is
  /// std::nullopt for a dense (unstacked) FFN.
  LogicalResult ffnWeights(Activation activation, Value gate, Value up,
                           Value down, StringRef prefix,
                           std::optional<int64_t> numExperts, int64_t hidden) {
    std::string gateName = (prefix + "gate").str();
    std::string upName = (prefix + "up").str();
    std::string downName = (prefix + "down").str();
    if (isGated(activation) && !gate)
      return op->emitOpError()
             << "activation '" << stringifyActivation(activation) << "' needs '"
             << gateName << "' weights";
    if (!isGated(activation) && gate)
      return op->emitOpError()
             << "activation '" << stringifyActivation(activation)
             << "' takes no '" << gateName << "' weights";
    unsigned lead = numExperts ? 1 : 0;
    if (failed(isStatic(up, upName)) || failed(isStatic(down, downName)))
      return failure();
    if (cast<ShapedType>(up.getType()).getRank() == lead + 3)
      return packedFfnWeights(gate, up, down, gateName, upName, downName,
                              numExperts, hidden);
    int64_t ffn = cast<ShapedType>(up.getType()).getDimSize(lead);
    if (numExperts &&
        (failed(dim(up, upName, 0, *numExperts, "expert count")) ||
         failed(dim(down, downName, 0, *numExperts, "expert count"))))
      return failure();
    if (failed(dim(up, upName, lead + 1, hidden, "hidden size")) ||
        failed(dim(down, downName, lead, hidden, "hidden size")) ||
        failed(dim(down, downName, lead + 1, ffn, "FFN width")))
      return failure();
    if (gate && cast<ShapedType>(gate.getType()).getShape() !=
                    cast<ShapedType>(up.getType()).getShape())
      return op->emitOpError()
             << "'" << gateName << "' shape " << gate.getType()
             << " differs from '" << upName << "' shape " << up.getType();
    return success();
  }

  /// Packed FFN weights (see moe.fused_experts): gate/up
  /// `[(E,) ceil(F/P), H, P]`, down `[(E,) ceil(H/P), F, P]`.
  LogicalResult packedFfnWeights(Value gate, Value up, Value down,
                                 StringRef gateName, StringRef upName,
                                 StringRef downName,
                                 std::optional<int64_t> numExperts,
                                 int64_t hidden) {
    unsigned lead = numExperts ? 1 : 0;
    auto upType = cast<ShapedType>(up.getType());
    auto downType = cast<ShapedType>(down.getType());
    if (downType.getRank() != lead + 3)
      return op->emitOpError() << "'" << upName << "' is packed but '"
                               << downName << "' is not: " << down.getType();
    int64_t panel = upType.getDimSize(lead + 2);
    int64_t ffn = downType.getDimSize(lead + 1);
    auto panels = [&](int64_t width) { return (width + panel - 1) / panel; };
    if (numExperts &&
        (failed(dim(up, upName, 0, *numExperts, "expert count")) ||
         failed(dim(down, downName, 0, *numExperts, "expert count"))))
      return failure();
    if (failed(dim(down, downName, lead + 2, panel, "panel width")) ||
        failed(dim(up, upName, lead + 1, hidden, "hidden size")) ||
        failed(dim(up, upName, lead, panels(ffn), "panel count")) ||
        failed(dim(down, downName, lead, panels(hidden), "panel count")))
      return failure();
    if (gate &&
        cast<ShapedType>(gate.getType()).getShape() != upType.getShape())
      return op->emitOpError()
             << "'" << gateName << "' shape " << gate.getType()
             << " differs from '" << upName << "' shape " << up.getType();
    return success();
  }

  /// An expert-major row bundle: rows `[R,H]`, per-row tokens and weights
  /// `[R]`, offsets `[E+1]` static with E >= 1.
  LogicalResult rowBundle(Value rows, StringRef rowsName, Value rowToken,
                          Value rowWeight, Value offsets, int64_t hidden) {
    int64_t numRows = cast<ShapedType>(rows.getType()).getDimSize(0);
    if (failed(dim(rows, rowsName, 1, hidden, "hidden size")) ||
        failed(dim(rowToken, "row_token", 0, numRows, "row count")))
      return failure();
    if (rowWeight &&
        failed(dim(rowWeight, "row_weight", 0, numRows, "row count")))
      return failure();
    return expertOffsets(offsets);
  }

  LogicalResult expertOffsets(Value offsets) {
    if (failed(isStatic(offsets, "expert_offsets")))
      return failure();
    if (cast<ShapedType>(offsets.getType()).getDimSize(0) < 2)
      return op->emitOpError()
             << "'expert_offsets' must hold E+1 >= 2 entries, got "
             << offsets.getType();
    return success();
  }

  /// Requires a result type equal to an operand's.
  LogicalResult sameType(Value result, Value operand, StringRef name) {
    if (result.getType() == operand.getType())
      return success();
    return op->emitOpError()
           << "result type " << result.getType() << " must match '" << name
           << "' type " << operand.getType();
  }

private:
  Operation *op;
};

int64_t dimOf(Value value, unsigned dim) {
  return cast<ShapedType>(value.getType()).getDimSize(dim);
}

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

/// A weight operand for verifyF32Weights; `packed` when it holds panels.
struct NamedWeight {
  Value value;
  StringRef name;
  bool packed = false;
};

/// The weights of the user-level ops are f32: moe-compile keeps them so, or
/// packs the experts' into bf16 panels itself (--weight-type=bf16), and the
/// runtime binds f32 checkpoint tensors (or those panels) only. A bf16
/// tensor written into the IR would otherwise fail far downstream, at an
/// op the user never wrote. Packed weights (moe.fused_experts after
/// moe-pack-weights) may be bf16 panels.
LogicalResult verifyF32Weights(Operation *op, ArrayRef<NamedWeight> weights) {
  for (const NamedWeight &weight : weights) {
    if (!weight.value)
      continue;
    Type element = cast<ShapedType>(weight.value.getType()).getElementType();
    if (element.isF32() || (weight.packed && element.isBF16()))
      continue;
    // Printed bare: a type in a diagnostic would be quoted.
    std::string got;
    llvm::raw_string_ostream(got) << element;
    if (weight.packed)
      return op->emitOpError()
             << "'" << weight.name
             << "' packed weights must be f32 or bf16 panels (got " << got
             << ")";
    return op->emitOpError()
           << "'" << weight.name << "' weights must be f32 (got " << got
           << "); to run with bf16 weights keep f32 in the IR and compile "
              "with --weight-type=bf16";
  }
  return success();
}
} // namespace

//===----------------------------------------------------------------------===//
// Custom assembly: FFN weights `gate %g, up %u, down %d`
//===----------------------------------------------------------------------===//

/// Parses `(gate %g,)? up %u` (moe.gather_gate_up, and the start of
/// FfnWeights). `up` is a required or an optional operand, hence the
/// template.
template <typename UpT>
static ParseResult
parseGateUpWeights(OpAsmParser &parser,
                   std::optional<OpAsmParser::UnresolvedOperand> &gate,
                   UpT &up) {
  if (succeeded(parser.parseOptionalKeyword("gate"))) {
    OpAsmParser::UnresolvedOperand gateOperand;
    if (parser.parseOperand(gateOperand) || parser.parseComma())
      return failure();
    gate = gateOperand;
  }
  OpAsmParser::UnresolvedOperand upOperand;
  if (parser.parseKeyword("up") || parser.parseOperand(upOperand))
    return failure();
  up = upOperand;
  return success();
}

static void printGateUpWeights(OpAsmPrinter &printer, Operation *, Value gate,
                               Value up) {
  if (gate)
    printer << "gate " << gate << ", ";
  printer << "up " << up;
}

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
// LayerOp
//===----------------------------------------------------------------------===//

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
                  {getSharedSigmoidGate(), "shared_sigmoid_gate"}})))
    return failure();
  int64_t hidden = getHiddenSize();
  int64_t numExperts = getNumExperts();
  if (failed(check.dim(getRouterWeight(), "router_weight", 1, hidden,
                       "hidden size")))
    return failure();

  auto emitError = [&] { return emitOpError(); };
  if (auto routing = dyn_cast<RoutingAttr>(getRouter())) {
    if (failed(routing.verifyForExperts(emitError, numExperts)) ||
        failed(verifyCorrectionBias(*this, routing, getCorrectionBias(),
                                    numExperts)))
      return failure();
    if (CapacityAttr capacity = getCapacityAttr();
        capacity && capacity.getDropped() == DroppedSlot::input &&
        getScaleExpertInput())
      return emitOpError("capacity dropped = input does not combine with "
                         "'scale_expert_input': the weight is applied to the "
                         "expert input, so there is none left for the "
                         "passed-through input");
  } else {
    if (getCapacity())
      return emitOpError("'capacity' applies to token-choice routing only; "
                         "#moe.expert_choice sets its own capacity");
    if (getCorrectionBias())
      return emitOpError("'correction_bias' applies to token-choice routing "
                         "only");
  }

  if (failed(check.ffnWeights(getActivation(), getExpertGate(), getExpertUp(),
                              getExpertDown(), "expert_", numExperts, hidden)))
    return failure();

  if (getSharedUp()) {
    if (!getSharedDown())
      return emitOpError("'shared_up' needs 'shared_down'");
    if (failed(check.ffnWeights(getActivation(), getSharedGate(), getSharedUp(),
                                getSharedDown(), "shared_", std::nullopt,
                                hidden)))
      return failure();
  } else if (getSharedGate() || getSharedDown() || getSharedSigmoidGate()) {
    return emitOpError("shared expert weights need 'shared_up'");
  }
  if (Value sigmoidGate = getSharedSigmoidGate()) {
    if (failed(check.dim(sigmoidGate, "shared_sigmoid_gate", 0, 1, "size")) ||
        failed(check.dim(sigmoidGate, "shared_sigmoid_gate", 1, hidden,
                         "hidden size")))
      return failure();
  }
  return check.sameType(getOutput(), getInput(), "input");
}

namespace {
/// A capacity no expert can reach (factor · K >= E) is dropless routing.
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
                                  numExperts)))
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
  if (topK > getNumExperts())
    return emitOpError() << "'experts' top-k width (" << topK
                         << ") exceeds the expert count (" << getNumExperts()
                         << ") given by 'expert_offsets'";
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
  if (failed(check.ffnWeights(getActivation(), getGate(), getUp(), getDown(),
                              "", numExperts, hidden)))
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
  if (failed(check.ffnWeights(getActivation(), getGate(), getUp(), getDown(),
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
  // Panels have one dimension more than the checkpoint layout.
  auto packed = [](Value weight, int64_t panelRank) {
    return weight && cast<ShapedType>(weight.getType()).getRank() == panelRank;
  };
  if (failed(verifyF32Weights(
          *this,
          {{getExpertGate(), "expert_gate", packed(getExpertGate(), 4)},
           {getExpertUp(), "expert_up", packed(getExpertUp(), 4)},
           {getExpertDown(), "expert_down", packed(getExpertDown(), 4)},
           {getSharedGate(), "shared_gate", packed(getSharedGate(), 3)},
           {getSharedUp(), "shared_up", packed(getSharedUp(), 3)},
           {getSharedDown(), "shared_down", packed(getSharedDown(), 3)}})))
    return failure();
  int64_t hidden = dimOf(getInput(), 1);
  if (Value weight = getRowWeight())
    if (failed(check.dim(weight, "row_weight", 0, dimOf(getRowToken(), 0),
                         "row count")))
      return failure();
  if (failed(check.ffnWeights(getActivation(), getExpertGate(), getExpertUp(),
                              getExpertDown(), "expert_", getNumExperts(),
                              hidden)))
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
// Kernel-level ops: GatherGateUpOp, DownScatterAddOp
//===----------------------------------------------------------------------===//

namespace {
/// One operand of a kernel op: what it is called, its rank, and whether it
/// holds token indices (i32) rather than values (f32).
struct KernelOperand {
  Value value;
  StringRef name;
  int64_t rank;
  bool isIndex = false;
};

/// A kernel op's operands are all tensors, with one result typed like
/// `init`, or all buffers, with none; each operand has its rank and
/// element type (rank 3 is a weight in packed panels, which may be bf16).
LogicalResult verifyKernelOperands(Operation *op, Value init,
                                   ArrayRef<KernelOperand> operands) {
  Builder b(op->getContext());
  bool onTensors = isa<RankedTensorType>(init.getType());
  for (const KernelOperand &operand : operands) {
    Value value = operand.value;
    if (!value)
      continue;
    if (isa<RankedTensorType>(value.getType()) != onTensors ||
        !(isa<RankedTensorType, MemRefType>(value.getType())))
      return op->emitOpError() << "'" << operand.name << "' must be a "
                               << (onTensors ? "ranked tensor" : "memref")
                               << " like 'init', got " << value.getType();
    auto type = cast<ShapedType>(value.getType());
    Type element = operand.isIndex ? Type(b.getI32Type()) : b.getF32Type();
    bool panels = operand.rank == 3;
    bool bf16Panels = panels && type.getElementType().isBF16();
    if (type.getRank() != operand.rank ||
        (type.getElementType() != element && !bf16Panels))
      return op->emitOpError()
             << "'" << operand.name << "' must be a rank-" << operand.rank
             << " " << element << (panels ? " or bf16" : "")
             << " shaped value, got " << value.getType();
  }
  if (onTensors != (op->getNumResults() == 1) || op->getNumResults() > 1)
    return op->emitOpError(onTensors ? "on tensors returns one result"
                                     : "on buffers returns no result");
  if (onTensors && op->getResult(0).getType() != init.getType())
    return op->emitOpError() << "result type " << op->getResult(0).getType()
                             << " must match 'init' type " << init.getType();
  return success();
}

/// Memory effects of a kernel op on buffers: inputs are read; `init` is
/// written, and read too when `initIsRead`.
void getKernelEffects(
    Operation *op, OpOperand &init, bool initIsRead,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      continue;
    if (&operand != &init || initIsRead)
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
    if (&operand == &init)
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
  }
}

/// Rebuilds a kernel op on the buffers of its tensor operands, without
/// results; the result is `init`'s buffer.
LogicalResult
bufferizeKernelOp(Operation *op, OpOperand &init, RewriterBase &rewriter,
                  const bufferization::BufferizationOptions &options,
                  bufferization::BufferizationState &state) {
  SmallVector<Value> operands;
  Value initBuffer;
  for (OpOperand &operand : op->getOpOperands()) {
    FailureOr<Value> buffer =
        bufferization::getBuffer(rewriter, operand.get(), options, state);
    if (failed(buffer))
      return failure();
    operands.push_back(*buffer);
    if (&operand == &init)
      initBuffer = *buffer;
  }
  OperationState rebuilt(op->getLoc(), op->getName(), operands, TypeRange{},
                         op->getAttrs());
  rewriter.setInsertionPoint(op);
  rewriter.create(rebuilt);
  bufferization::replaceOpWithBufferizedValues(rewriter, op, initBuffer);
  return success();
}

/// A kernel op's weight in packed panels `[ceil(N/P), K, P]` (rank 3)
/// rather than `[N, K]`.
bool isPackedWeight(Value weight) {
  return cast<ShapedType>(weight.getType()).getRank() == 3;
}

/// `init`'s width N against the weight's `[N, K]` rows or the
/// `ceil(N/P)` panels of a packed weight.
LogicalResult verifyKernelWidth(ShapeChecker &check, Value weight,
                                StringRef name, Value init) {
  int64_t width = dimOf(init, 1);
  if (!isPackedWeight(weight))
    return check.dim(init, "init", 1, dimOf(weight, 0), "width");
  int64_t panel = dimOf(weight, 2);
  if (ShapedType::isDynamic(width) || ShapedType::isDynamic(panel))
    return success();
  return check.dim(weight, name, 0, (width + panel - 1) / panel,
                   "panel count for init's width");
}

/// The rows `[R,H]` (or `[R]`) dimension checks both kernel ops share.
LogicalResult verifyPerRow(ShapeChecker &check, Value value, StringRef name,
                           int64_t rows) {
  return value ? check.dim(value, name, 0, rows, "row count") : success();
}
} // namespace

LogicalResult GatherGateUpOp::verify() {
  int64_t weightRank = isPackedWeight(getUp()) ? 3 : 2;
  if (failed(verifyKernelOperands(*this, getInit(),
                                  {{getInput(), "input", 2},
                                   {getRowToken(), "row_token", 1, true},
                                   {getScale(), "scale", 1},
                                   {getGate(), "gate", weightRank},
                                   {getUp(), "up", weightRank},
                                   {getInit(), "init", 2}})))
    return failure();
  if (isGated(getActivation()) != static_cast<bool>(getGate()))
    return emitOpError() << "activation '"
                         << stringifyActivation(getActivation())
                         << (getGate() ? "' takes no 'gate' weights"
                                       : "' needs 'gate' weights");
  ShapeChecker check(*this);
  int64_t rows = dimOf(getInit(), 0);
  if (failed(
          check.dim(getUp(), "up", 1, dimOf(getInput(), 1), "hidden size")) ||
      failed(verifyKernelWidth(check, getUp(), "up", getInit())) ||
      failed(verifyPerRow(check, getRowToken(), "row_token", rows)) ||
      failed(verifyPerRow(check, getScale(), "scale", rows)))
    return failure();
  if (!getRowToken() &&
      failed(check.dim(getInput(), "input", 0, rows, "row count")))
    return failure();
  if (Value gate = getGate())
    if (cast<ShapedType>(gate.getType()).getShape() !=
        cast<ShapedType>(getUp().getType()).getShape())
      return emitOpError() << "'gate' shape " << gate.getType()
                           << " differs from 'up' shape " << getUp().getType();
  return success();
}

void GatherGateUpOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getKernelEffects(*this, getInitMutable(), /*initIsRead=*/false, effects);
}

bool GatherGateUpOp::bufferizesToMemoryRead(
    OpOperand &operand, const bufferization::AnalysisState &) {
  return &operand != &getInitMutable(); // init is overwritten
}

bool GatherGateUpOp::bufferizesToMemoryWrite(
    OpOperand &operand, const bufferization::AnalysisState &) {
  return &operand == &getInitMutable();
}

bufferization::AliasingValueList
GatherGateUpOp::getAliasingValues(OpOperand &operand,
                                  const bufferization::AnalysisState &) {
  if (&operand != &getInitMutable())
    return {};
  return {{getResult()[0], bufferization::BufferRelation::Equivalent}};
}

LogicalResult
GatherGateUpOp::bufferize(RewriterBase &rewriter,
                          const bufferization::BufferizationOptions &options,
                          bufferization::BufferizationState &state) {
  return bufferizeKernelOp(*this, getInitMutable(), rewriter, options, state);
}

LogicalResult DownScatterAddOp::verify() {
  if (failed(verifyKernelOperands(
          *this, getInit(),
          {{getRows(), "rows", 2},
           {getDown(), "down", isPackedWeight(getDown()) ? 3 : 2},
           {getRowToken(), "row_token", 1, true},
           {getRowWeight(), "row_weight", 1},
           {getInit(), "init", 2}})))
    return failure();
  ShapeChecker check(*this);
  int64_t rows = dimOf(getRows(), 0);
  if (failed(
          check.dim(getDown(), "down", 1, dimOf(getRows(), 1), "FFN width")) ||
      failed(verifyKernelWidth(check, getDown(), "down", getInit())) ||
      failed(verifyPerRow(check, getRowToken(), "row_token", rows)) ||
      failed(verifyPerRow(check, getRowWeight(), "row_weight", rows)))
    return failure();
  if (!getRowToken())
    return check.dim(getInit(), "init", 0, rows, "row count");
  return success();
}

void DownScatterAddOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getKernelEffects(*this, getInitMutable(), /*initIsRead=*/true, effects);
}

bool DownScatterAddOp::bufferizesToMemoryRead(
    OpOperand &, const bufferization::AnalysisState &) {
  return true; // init accumulates
}

bool DownScatterAddOp::bufferizesToMemoryWrite(
    OpOperand &operand, const bufferization::AnalysisState &) {
  return &operand == &getInitMutable();
}

bufferization::AliasingValueList
DownScatterAddOp::getAliasingValues(OpOperand &operand,
                                    const bufferization::AnalysisState &) {
  if (&operand != &getInitMutable())
    return {};
  return {{getResult()[0], bufferization::BufferRelation::Equivalent}};
}

LogicalResult
DownScatterAddOp::bufferize(RewriterBase &rewriter,
                            const bufferization::BufferizationOptions &options,
                            bufferization::BufferizationState &state) {
  return bufferizeKernelOp(*this, getInitMutable(), rewriter, options, state);
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
  return check.dim(getLoad(), "load", 0, numExperts, "expert count");
}

#define GET_OP_CLASSES
#include "moe/Dialect/MoE/IR/MoEOps.cpp.inc"
