//===- MoEKernelOps.cpp - target-neutral expert kernels -------------------===//
//
// Verifiers, memory effects, bufferization and tiling of moe.gather_gate_up
// and moe.down_scatter_add. Every verifier message names the operand or
// attribute at fault.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEKernelOps.h"

#include "OpVerification.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::detail;

//===----------------------------------------------------------------------===//
// Verification
//===----------------------------------------------------------------------===//

namespace {
/// What an operand of a kernel op holds.
enum class OperandKind { Activations, Tokens, Weights };

/// One operand of a kernel op: its name, its rank and what it holds.
struct KernelOperand {
  Value value;
  StringRef name;
  int64_t rank;
  OperandKind kind = OperandKind::Activations;
};

bool isWeightElement(Type type) { return type.isF32() || type.isBF16() || type.isF16(); }

/// A kernel op's operands are all tensors, with one result typed like
/// `init`, or all buffers, with none; each has its rank and element type:
/// activations f32, tokens and offsets i32, weights f32, bf16 or f16.
LogicalResult verifyKernelOperands(Operation *op, Value init,
                                   ArrayRef<KernelOperand> operands) {
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
    Type element = type.getElementType();
    bool elementFits = false;
    StringRef expected;
    switch (operand.kind) {
    case OperandKind::Activations:
      elementFits = element.isF32(), expected = "f32";
      break;
    case OperandKind::Tokens:
      elementFits = element.isInteger(32), expected = "i32";
      break;
    case OperandKind::Weights:
      elementFits = isWeightElement(element), expected = "f32, bf16 or f16";
      break;
    }
    if (type.getRank() != operand.rank || !elementFits)
      return op->emitOpError()
             << "'" << operand.name << "' must be a rank-" << operand.rank
             << " shaped value of " << expected << ", got " << value.getType();
  }
  if (onTensors != (op->getNumResults() == 1) || op->getNumResults() > 1)
    return op->emitOpError(onTensors ? "on tensors returns one result"
                                     : "on buffers returns no result");
  if (onTensors && op->getResult(0).getType() != init.getType())
    return op->emitOpError() << "result type " << op->getResult(0).getType()
                             << " must match 'init' type " << init.getType();
  return success();
}

/// The rank of a weight operand: one expert's in `layout`, stacked when
/// grouped.
int64_t weightRank(WeightLayoutAttr layout, bool grouped) {
  return layout.getWeightRank() + (grouped ? 1 : 0);
}

/// The weight checks both ops share: the expert count of a grouped op, the
/// panel width, `init`'s width N against the weight's N rows (or its
/// `ceil(N/P)` panels) and the depth K.
LogicalResult verifyWeight(Operation *op, Value weight, StringRef name,
                           WeightLayoutAttr layout, Value offsets, Value init,
                           int64_t depth, StringRef depthMeaning) {
  ShapeChecker check(op);
  unsigned lead = offsets ? 1 : 0;
  if (offsets) {
    if (failed(check.expertOffsets(offsets)) ||
        failed(check.dim(weight, name, 0, dimOf(offsets, 0) - 1,
                         "expert count")))
      return failure();
  }
  if (failed(check.dim(weight, name, lead + 1, depth, depthMeaning)))
    return failure();
  int64_t width = dimOf(init, 1);
  if (!layout.isPanels())
    return check.dim(init, "init", 1, dimOf(weight, lead), "width");
  int64_t panel = layout.getPanelWidth();
  if (failed(check.dim(weight, name, lead + 2, panel, "panel width")))
    return failure();
  if (ShapedType::isDynamic(width))
    return success();
  return check.dim(weight, name, lead, llvm::divideCeil(width, panel),
                   "panel count for init's width");
}

/// A kernel op's optional bias `[(E,) N]`, N the width of `init`: one entry
/// per output column (of every expert when grouped).
LogicalResult verifyBias(ShapeChecker &check, Value bias, StringRef name,
                         Value offsets, Value init) {
  if (!bias)
    return success();
  unsigned lead = offsets ? 1 : 0;
  if (offsets && failed(check.dim(bias, name, 0, dimOf(offsets, 0) - 1,
                                  "expert count")))
    return failure();
  return check.dim(bias, name, lead, dimOf(init, 1), "width");
}

/// The per-row `[R]` operands of a kernel op.
LogicalResult verifyPerRow(ShapeChecker &check, Value value, StringRef name,
                           int64_t rows) {
  return value ? check.dim(value, name, 0, rows, "row count") : success();
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
} // namespace

//===----------------------------------------------------------------------===//
// Custom assembly: gather_gate_up's biases `, gate_bias %bg, up_bias %bu`
//===----------------------------------------------------------------------===//

namespace {
constexpr StringLiteral kGateUpBiasKeywords[] = {"gate_bias", "up_bias"};
} // namespace

static ParseResult
parseGateUpBiases(OpAsmParser &parser,
                  std::optional<OpAsmParser::UnresolvedOperand> &gateBias,
                  std::optional<OpAsmParser::UnresolvedOperand> &upBias) {
  return parseKeywordOperands(parser, kGateUpBiasKeywords,
                              {&gateBias, &upBias});
}

static void printGateUpBiases(OpAsmPrinter &printer, Operation *,
                              Value gateBias, Value upBias) {
  printKeywordOperands(printer, kGateUpBiasKeywords, {gateBias, upBias});
}

LogicalResult GatherGateUpOp::verify() {
  WeightLayoutAttr layout = getLayout();
  int64_t rank = weightRank(layout, isGrouped());
  if (failed(verifyKernelOperands(
          *this, getInit(),
          {{getInput(), "input", 2},
           {getRowToken(), "row_token", 1, OperandKind::Tokens},
           {getScale(), "scale", 1},
           {getExpertOffsets(), "expert_offsets", 1, OperandKind::Tokens},
           {getGate(), "gate", rank, OperandKind::Weights},
           {getUp(), "up", rank, OperandKind::Weights},
           {getInit(), "init", 2},
           {getGateBias(), "gate_bias", isGrouped() ? 2 : 1},
           {getUpBias(), "up_bias", isGrouped() ? 2 : 1}})))
    return failure();
  if (getGateBias() && !getGate())
    return emitOpError("'gate_bias' needs 'gate' weights");
  if (isGated(getActivation()) != static_cast<bool>(getGate()))
    return emitOpError() << "activation '"
                         << stringifyActivation(getActivation())
                         << (getGate() ? "' takes no 'gate' weights"
                                       : "' needs 'gate' weights");
  ShapeChecker check(*this);
  if (failed(check.gluClamp(getActivation(), getGluClampAttr())))
    return failure();
  int64_t rows = dimOf(getInit(), 0);
  if (failed(verifyWeight(*this, getUp(), "up", layout, getExpertOffsets(),
                          getInit(), dimOf(getInput(), 1), "hidden size")) ||
      failed(verifyPerRow(check, getRowToken(), "row_token", rows)) ||
      failed(verifyPerRow(check, getScale(), "scale", rows)) ||
      failed(verifyBias(check, getGateBias(), "gate_bias", getExpertOffsets(),
                        getInit())) ||
      failed(verifyBias(check, getUpBias(), "up_bias", getExpertOffsets(),
                        getInit())))
    return failure();
  if (!getRowToken() &&
      failed(check.dim(getInput(), "input", 0, rows, "row count")))
    return failure();
  if (Value gate = getGate())
    if (cast<ShapedType>(gate.getType()).getShape() !=
            cast<ShapedType>(getUp().getType()).getShape() ||
        cast<ShapedType>(gate.getType()).getElementType() !=
            cast<ShapedType>(getUp().getType()).getElementType())
      return emitOpError() << "'gate' type " << gate.getType()
                           << " differs from 'up' type " << getUp().getType();
  return success();
}

LogicalResult DownScatterAddOp::verify() {
  WeightLayoutAttr layout = getLayout();
  if (failed(verifyKernelOperands(
          *this, getInit(),
          {{getRows(), "rows", 2},
           {getExpertOffsets(), "expert_offsets", 1, OperandKind::Tokens},
           {getDown(), "down", weightRank(layout, isGrouped()),
            OperandKind::Weights},
           {getRowToken(), "row_token", 1, OperandKind::Tokens},
           {getRowWeight(), "row_weight", 1},
           {getInit(), "init", 2},
           {getDownBias(), "down_bias", isGrouped() ? 2 : 1}})))
    return failure();
  ShapeChecker check(*this);
  int64_t rows = dimOf(getRows(), 0);
  if (failed(verifyWeight(*this, getDown(), "down", layout,
                          getExpertOffsets(), getInit(), dimOf(getRows(), 1),
                          "FFN width")) ||
      failed(verifyPerRow(check, getRowToken(), "row_token", rows)) ||
      failed(verifyPerRow(check, getRowWeight(), "row_weight", rows)) ||
      failed(verifyBias(check, getDownBias(), "down_bias", getExpertOffsets(),
                        getInit())))
    return failure();
  if (!getRowToken())
    return check.dim(getInit(), "init", 0, rows, "row count");
  return success();
}

//===----------------------------------------------------------------------===//
// Memory effects and bufferization
//===----------------------------------------------------------------------===//

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
// Tiling
//===----------------------------------------------------------------------===//

namespace {
/// A tile of a kernel op's `[rows, column units]` iteration domain.
struct KernelTile {
  OpFoldResult rowOffset, rowSize, unitOffset, unitSize;
  /// The output columns the tile covers.
  OpFoldResult columnOffset, columnCount;
  /// Whether the rows are all of the domain's (no row slicing needed).
  bool allRows;
};

OpFoldResult mixedDim(OpBuilder &b, Location loc, Value value, int64_t dim) {
  return tensor::getMixedSize(b, loc, value, dim);
}

/// Whether `size` is dimension `dim` of `value`: the same constant, or
/// `tensor.dim` of it (what getIterationDomain gave an untiled dimension).
bool isWholeDim(OpFoldResult size, Value value, int64_t dim) {
  int64_t extent = cast<ShapedType>(value.getType()).getDimSize(dim);
  if (std::optional<int64_t> constant = getConstantIntValue(size))
    return !ShapedType::isDynamic(extent) && *constant == extent;
  auto dimOp = dyn_cast_or_null<tensor::DimOp>(
      dyn_cast<Value>(size) ? cast<Value>(size).getDefiningOp() : nullptr);
  return dimOp && dimOp.getSource() == value &&
         getConstantIntValue(dimOp.getIndex()) == dim;
}

/// The domain `[R, C]`: R rows, C output columns (rows layout) or panels.
SmallVector<Range> kernelDomain(OpBuilder &b, Location loc, Value rows,
                                Value init, WeightLayoutAttr layout) {
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  OpFoldResult columns = mixedDim(b, loc, init, 1);
  if (layout.isPanels()) {
    AffineExpr n = b.getAffineSymbolExpr(0);
    columns = affine::makeComposedFoldedAffineApply(
        b, loc, n.ceilDiv(layout.getPanelWidth()), {columns});
  }
  return {Range{zero, mixedDim(b, loc, rows, 0), one},
          Range{zero, columns, one}};
}

KernelTile kernelTile(OpBuilder &b, Location loc, Value rows, Value init,
                      WeightLayoutAttr layout, ArrayRef<OpFoldResult> offsets,
                      ArrayRef<OpFoldResult> sizes) {
  KernelTile tile{offsets[0], sizes[0], offsets[1], sizes[1],
                  offsets[1], sizes[1], false};
  tile.allRows =
      isConstantIntValue(offsets[0], 0) && isWholeDim(sizes[0], rows, 0);
  if (layout.isPanels()) {
    // Panels [q, q+s) hold columns [qP, min(N, (q+s)P)).
    AffineExpr q = b.getAffineSymbolExpr(0), s = b.getAffineSymbolExpr(1),
               n = b.getAffineSymbolExpr(2);
    int64_t panel = layout.getPanelWidth();
    OpFoldResult width = mixedDim(b, loc, init, 1);
    tile.columnOffset =
        affine::makeComposedFoldedAffineApply(b, loc, q * panel, {offsets[1]});
    tile.columnCount = affine::makeComposedFoldedAffineMin(
        b, loc,
        AffineMap::get(0, 3, {s * panel, n - q * panel}, b.getContext()),
        {offsets[1], sizes[1], width});
  }
  return tile;
}

Value slice(OpBuilder &b, Location loc, Value value,
            ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes) {
  SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(b, loc, value, offsets, sizes, strides);
}

/// Rows `[offset, offset+size)` of a `[R]` or `[R, X]` value.
Value rowSlice(OpBuilder &b, Location loc, Value value, const KernelTile &tile) {
  if (!value || tile.allRows)
    return value;
  SmallVector<OpFoldResult> offsets = {tile.rowOffset}, sizes = {tile.rowSize};
  if (cast<ShapedType>(value.getType()).getRank() == 2) {
    offsets.push_back(b.getIndexAttr(0));
    sizes.push_back(mixedDim(b, loc, value, 1));
  }
  return slice(b, loc, value, offsets, sizes);
}

/// The column units `[offset, offset+size)` of a weight: its rows (rows
/// layout) or panels, of every expert when stacked.
Value weightSlice(OpBuilder &b, Location loc, Value weight, bool grouped,
                  const KernelTile &tile) {
  if (!weight)
    return weight;
  auto type = cast<ShapedType>(weight.getType());
  SmallVector<OpFoldResult> offsets, sizes;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    offsets.push_back(b.getIndexAttr(0));
    sizes.push_back(mixedDim(b, loc, weight, d));
  }
  unsigned unitDim = grouped ? 1 : 0;
  offsets[unitDim] = tile.unitOffset;
  sizes[unitDim] = tile.unitSize;
  return slice(b, loc, weight, offsets, sizes);
}

/// The tile's output columns of a bias `[(E,) N]`, of every expert when
/// stacked.
Value biasSlice(OpBuilder &b, Location loc, Value bias, bool grouped,
                const KernelTile &tile) {
  if (!bias)
    return bias;
  SmallVector<OpFoldResult> offsets = {tile.columnOffset},
                            sizes = {tile.columnCount};
  if (grouped) {
    offsets.insert(offsets.begin(), b.getIndexAttr(0));
    sizes.insert(sizes.begin(), mixedDim(b, loc, bias, 0));
  }
  return slice(b, loc, bias, offsets, sizes);
}

/// The expert offsets seen from a row tile: each clamped into
/// `[0, size]` after subtracting the tile's first row, so that group `e`
/// keeps exactly its rows inside the tile.
Value offsetsInTile(OpBuilder &b, Location loc, Value offsets,
                    const KernelTile &tile) {
  if (!offsets || tile.allRows)
    return offsets;
  auto type = cast<RankedTensorType>(offsets.getType());
  Value first = getValueOrCreateConstantIndexOp(b, loc, tile.rowOffset);
  Value size = getValueOrCreateConstantIndexOp(b, loc, tile.rowSize);
  return tensor::GenerateOp::create(
      b, loc, type, ValueRange{},
      [&](OpBuilder &nb, Location nloc, ValueRange indices) {
        Value offset = tensor::ExtractOp::create(nb, nloc, offsets, indices);
        Value asIndex = arith::IndexCastOp::create(nb, nloc, nb.getIndexType(),
                                                   offset);
        Value shifted = arith::SubIOp::create(nb, nloc, asIndex, first);
        Value zero = arith::ConstantIndexOp::create(nb, nloc, 0);
        Value clamped = arith::MinSIOp::create(
            nb, nloc, arith::MaxSIOp::create(nb, nloc, shifted, zero), size);
        tensor::YieldOp::create(
            nb, nloc,
            arith::IndexCastOp::create(nb, nloc, type.getElementType(),
                                       clamped)
                .getResult());
      });
}

/// Where a tile writes in `init` `[X, N]`: rows of the tile (or all X when
/// `allInitRows`), the tile's columns.
void initTilePosition(OpBuilder &b, Location loc, Value init,
                      const KernelTile &tile, bool allInitRows,
                      SmallVector<OpFoldResult> &offsets,
                      SmallVector<OpFoldResult> &sizes) {
  offsets = {allInitRows ? OpFoldResult(b.getIndexAttr(0)) : tile.rowOffset,
             tile.columnOffset};
  sizes = {allInitRows ? mixedDim(b, loc, init, 0) : tile.rowSize,
           tile.columnCount};
}

Value initSlice(OpBuilder &b, Location loc, Value init, const KernelTile &tile,
                bool allInitRows) {
  SmallVector<OpFoldResult> offsets, sizes;
  initTilePosition(b, loc, init, tile, allInitRows, offsets, sizes);
  return slice(b, loc, init, offsets, sizes);
}

/// The tiled op's results and the slices made for it.
TilingResult tilingResult(Operation *tiled) {
  SmallVector<Operation *> slices;
  for (Value operand : tiled->getOperands())
    if (Operation *def = operand.getDefiningOp();
        def && isa<tensor::ExtractSliceOp>(def))
      slices.push_back(def);
  return TilingResult{{tiled}, SmallVector<Value>(tiled->getResults()), slices};
}
} // namespace

SmallVector<utils::IteratorType> GatherGateUpOp::getLoopIteratorTypes() {
  return {utils::IteratorType::parallel, utils::IteratorType::parallel};
}

/// The operand whose dimension 0 is gather_gate_up's row count: not
/// `init`, which tiling loops replace by their iteration arguments, so that
/// an untiled row dimension is recognised as whole (isWholeDim).
static Value rowCountSource(GatherGateUpOp op) {
  if (Value tokens = op.getRowToken())
    return tokens;
  if (Value scale = op.getScale())
    return scale;
  return op.getInput();
}

SmallVector<Range> GatherGateUpOp::getIterationDomain(OpBuilder &b) {
  return kernelDomain(b, getLoc(), rowCountSource(*this), getInit(),
                      getLayout());
}

FailureOr<TilingResult>
GatherGateUpOp::getTiledImplementation(OpBuilder &b,
                                       ArrayRef<OpFoldResult> offsets,
                                       ArrayRef<OpFoldResult> sizes) {
  Location loc = getLoc();
  KernelTile tile = kernelTile(b, loc, rowCountSource(*this), getInit(),
                               getLayout(), offsets, sizes);
  // Without tokens, row r reads input row r.
  Value input =
      getRowToken() ? getInput() : rowSlice(b, loc, getInput(), tile);
  Value init = initSlice(b, loc, getInit(), tile, /*allInitRows=*/false);
  auto tiled = GatherGateUpOp::create(
      b, loc, init.getType(), input, rowSlice(b, loc, getRowToken(), tile),
      rowSlice(b, loc, getScale(), tile),
      offsetsInTile(b, loc, getExpertOffsets(), tile),
      weightSlice(b, loc, getGate(), isGrouped(), tile),
      weightSlice(b, loc, getUp(), isGrouped(), tile), init,
      biasSlice(b, loc, getGateBias(), isGrouped(), tile),
      biasSlice(b, loc, getUpBias(), isGrouped(), tile), getActivation(),
      getLayout(), getGluClampAttr());
  return tilingResult(tiled);
}

LogicalResult GatherGateUpOp::getResultTilePosition(
    OpBuilder &b, unsigned, ArrayRef<OpFoldResult> offsets,
    ArrayRef<OpFoldResult> sizes, SmallVector<OpFoldResult> &resultOffsets,
    SmallVector<OpFoldResult> &resultSizes) {
  KernelTile tile = kernelTile(b, getLoc(), rowCountSource(*this), getInit(),
                               getLayout(), offsets, sizes);
  initTilePosition(b, getLoc(), getInit(), tile, /*allInitRows=*/false,
                   resultOffsets, resultSizes);
  return success();
}

SmallVector<utils::IteratorType> DownScatterAddOp::getLoopIteratorTypes() {
  // Rows scattered into tokens all update `init`: a reduction over rows.
  return {getRowToken() ? utils::IteratorType::reduction
                        : utils::IteratorType::parallel,
          utils::IteratorType::parallel};
}

SmallVector<Range> DownScatterAddOp::getIterationDomain(OpBuilder &b) {
  return kernelDomain(b, getLoc(), getRows(), getInit(), getLayout());
}

FailureOr<TilingResult>
DownScatterAddOp::getTiledImplementation(OpBuilder &b,
                                         ArrayRef<OpFoldResult> offsets,
                                         ArrayRef<OpFoldResult> sizes) {
  Location loc = getLoc();
  KernelTile tile =
      kernelTile(b, loc, getRows(), getInit(), getLayout(), offsets, sizes);
  bool scattered = static_cast<bool>(getRowToken());
  Value init = initSlice(b, loc, getInit(), tile, /*allInitRows=*/scattered);
  auto tiled = DownScatterAddOp::create(
      b, loc, init.getType(), rowSlice(b, loc, getRows(), tile),
      offsetsInTile(b, loc, getExpertOffsets(), tile),
      weightSlice(b, loc, getDown(), isGrouped(), tile),
      rowSlice(b, loc, getRowToken(), tile),
      rowSlice(b, loc, getRowWeight(), tile), init,
      biasSlice(b, loc, getDownBias(), isGrouped(), tile), getLayout());
  return tilingResult(tiled);
}

LogicalResult DownScatterAddOp::getResultTilePosition(
    OpBuilder &b, unsigned, ArrayRef<OpFoldResult> offsets,
    ArrayRef<OpFoldResult> sizes, SmallVector<OpFoldResult> &resultOffsets,
    SmallVector<OpFoldResult> &resultSizes) {
  KernelTile tile =
      kernelTile(b, getLoc(), getRows(), getInit(), getLayout(), offsets, sizes);
  initTilePosition(b, getLoc(), getInit(), tile,
                   /*allInitRows=*/static_cast<bool>(getRowToken()),
                   resultOffsets, resultSizes);
  return success();
}

#define GET_OP_CLASSES
#include "moe/Dialect/MoE/IR/MoEKernelOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Exchanges
//===----------------------------------------------------------------------===//

namespace {
/// The communicator, as a resource: every exchange writes it, so that no
/// exchange is erased, merged or moved past another.
struct ExchangeResource
    : public SideEffects::Resource::Base<ExchangeResource> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(ExchangeResource)
  StringRef getName() final { return "moe.exchange"; }
};

void getExchangeEffects(
    Operation *op, OpOperand &init,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects,
    bool initIsRead = false) {
  effects.emplace_back(MemoryEffects::Write::get(), ExchangeResource::get());
  getKernelEffects(op, init, initIsRead, effects);
}

LogicalResult verifyCounts(Operation *op, Value counts, StringRef name,
                           int64_t ranks, int64_t slots) {
  auto type = cast<ShapedType>(counts.getType());
  if (type.getRank() != 2 || !type.hasStaticShape() ||
      !type.getElementType().isInteger(32))
    return op->emitOpError() << "'" << name
                             << "' must be a static [ranks, slots] of i32, got "
                             << type;
  if (ranks >= 0 && (type.getDimSize(0) != ranks || type.getDimSize(1) != slots))
    return op->emitOpError() << "'" << name << "' type " << type
                             << " differs from 'send_counts'";
  return success();
}

LogicalResult verifyExchangeResult(Operation *op) {
  auto dps = cast<DestinationStyleOpInterface>(op);
  if (dps.hasPureTensorSemantics() || dps.hasPureBufferSemantics())
    return success();
  return op->emitOpError() << "takes tensors or buffers, not both";
}
} // namespace

LogicalResult ExchangeCountsOp::verify() {
  if (failed(verifyExchangeResult(*this)) ||
      failed(verifyCounts(*this, getSendCounts(), "send_counts", -1, -1)))
    return failure();
  auto send = cast<ShapedType>(getSendCounts().getType());
  return verifyCounts(*this, getInit(), "init", send.getDimSize(0),
                      send.getDimSize(1));
}

namespace {
/// `rows` and `init` are [?, H] of one element type and a static H.
LogicalResult verifyRowBuffers(Operation *op, Value rowsValue,
                               Value initValue) {
  auto rows = cast<ShapedType>(rowsValue.getType());
  auto init = cast<ShapedType>(initValue.getType());
  if (rows.getRank() != 2 || init.getRank() != 2 || rows.isDynamicDim(1) ||
      rows.getDimSize(1) != init.getDimSize(1) ||
      rows.getElementType() != init.getElementType())
    return op->emitOpError() << "'rows' " << rows << " and 'init' " << init
                             << " must be [rows, H] of one element type and "
                                "a static H";
  return success();
}

template <typename Op> LogicalResult verifyRowsExchange(Op op) {
  if (failed(verifyExchangeResult(op)) ||
      failed(verifyCounts(op, op.getSendCounts(), "send_counts", -1, -1)))
    return failure();
  auto send = cast<ShapedType>(op.getSendCounts().getType());
  if (failed(verifyCounts(op, op.getReceivedCounts(), "received_counts",
                          send.getDimSize(0), send.getDimSize(1))))
    return failure();
  return verifyRowBuffers(op, op.getRows(), op.getInit());
}
} // namespace

LogicalResult ExchangeRowsOp::verify() { return verifyRowsExchange(*this); }

LogicalResult ExchangeRowsStartOp::verify() {
  return verifyRowsExchange(*this);
}

LogicalResult ExchangeWaitOp::verify() {
  if (failed(verifyExchangeResult(*this)))
    return failure();
  return verifyRowBuffers(*this, getRows(), getInit());
}

void ExchangeCountsOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getExchangeEffects(*this, getInitMutable(), effects);
}

void ExchangeRowsOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getExchangeEffects(*this, getInitMutable(), effects);
}

void ExchangeRowsStartOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getExchangeEffects(*this, getInitMutable(), effects);
}

void ExchangeWaitOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  // The buffer holds what arrived: kept, not overwritten.
  getExchangeEffects(*this, getInitMutable(), effects, /*initIsRead=*/true);
}

#define MOE_EXCHANGE_BUFFERIZATION(Op)                                         \
  bool Op::bufferizesToMemoryRead(OpOperand &operand,                          \
                                  const bufferization::AnalysisState &) {      \
    return &operand != &getInitMutable();                                      \
  }                                                                            \
  bool Op::bufferizesToMemoryWrite(OpOperand &operand,                         \
                                   const bufferization::AnalysisState &) {     \
    return &operand == &getInitMutable();                                      \
  }                                                                            \
  bufferization::AliasingValueList Op::getAliasingValues(                      \
      OpOperand &operand, const bufferization::AnalysisState &) {              \
    if (&operand != &getInitMutable())                                         \
      return {};                                                               \
    return {{getResult()[0], bufferization::BufferRelation::Equivalent}};      \
  }                                                                            \
  LogicalResult Op::bufferize(                                                 \
      RewriterBase &rewriter,                                                  \
      const bufferization::BufferizationOptions &options,                      \
      bufferization::BufferizationState &state) {                              \
    return bufferizeKernelOp(*this, getInitMutable(), rewriter, options,       \
                             state);                                           \
  }
MOE_EXCHANGE_BUFFERIZATION(ExchangeCountsOp)
MOE_EXCHANGE_BUFFERIZATION(ExchangeRowsOp)
MOE_EXCHANGE_BUFFERIZATION(ExchangeRowsStartOp)
#undef MOE_EXCHANGE_BUFFERIZATION

// The wait completes its start's buffer in place: it reads what is there.
bool ExchangeWaitOp::bufferizesToMemoryRead(
    OpOperand &, const bufferization::AnalysisState &) {
  return true;
}

bool ExchangeWaitOp::bufferizesToMemoryWrite(
    OpOperand &operand, const bufferization::AnalysisState &) {
  return &operand == &getInitMutable();
}

bufferization::AliasingValueList
ExchangeWaitOp::getAliasingValues(OpOperand &operand,
                                  const bufferization::AnalysisState &) {
  if (&operand != &getInitMutable())
    return {};
  return {{getResult()[0], bufferization::BufferRelation::Equivalent}};
}

LogicalResult
ExchangeWaitOp::bufferize(RewriterBase &rewriter,
                          const bufferization::BufferizationOptions &options,
                          bufferization::BufferizationState &state) {
  return bufferizeKernelOp(*this, getInitMutable(), rewriter, options, state);
}

//===----------------------------------------------------------------------===//
// The kernel ops' weights, for the passes that retype or repack them
//===----------------------------------------------------------------------===//

SmallVector<OpOperand *> mlir::moe::getKernelWeightOperands(Operation *op) {
  SmallVector<OpOperand *> operands;
  if (auto gateUp = dyn_cast<GatherGateUpOp>(op)) {
    if (!gateUp.getGateMutable().empty())
      operands.push_back(&gateUp.getGateMutable()[0]);
    operands.push_back(&gateUp.getUpMutable());
  } else if (auto down = dyn_cast<DownScatterAddOp>(op)) {
    operands.push_back(&down.getDownMutable());
  }
  return operands;
}

bool mlir::moe::isKernelWeightOperand(OpOperand &use) {
  return llvm::is_contained(getKernelWeightOperands(use.getOwner()), &use);
}

WeightLayoutAttr mlir::moe::getKernelWeightLayout(Operation *op) {
  if (auto gateUp = dyn_cast<GatherGateUpOp>(op))
    return gateUp.getLayout();
  return cast<DownScatterAddOp>(op).getLayout();
}

void mlir::moe::setKernelWeightLayout(Operation *op, WeightLayoutAttr layout) {
  if (auto gateUp = dyn_cast<GatherGateUpOp>(op))
    return gateUp.setLayoutAttr(layout);
  cast<DownScatterAddOp>(op).setLayoutAttr(layout);
}
