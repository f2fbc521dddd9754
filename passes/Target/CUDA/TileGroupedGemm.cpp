//===- TileGroupedGemm.cpp - the grouped GEMMs' block-level tiled form ----===//
//
// Implements `moe-cuda-tile-grouped-gemm`: every expert kernel op on
// buffers becomes what the GPU kernels of moe-cuda-lower-grouped-gemm
// compute, written with upstream ops (scf.forall mapped to blocks,
// subviews, linalg) that the CPU's loop lowering also runs. The kernels
// themselves can only be read and given to ptxas on a machine without a
// GPU; executing this form against lib/Reference tests what they share
// with it: the block schedule (cuda::buildRowTileSchedule, the kernels'
// own function), the masking to a tile's rows and to N, the bf16 rounding
// of the row tile, the epilogues (GemmEpilogue.h) and the combine's order.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/CUDA/Passes.h"

#include "GemmEpilogue.h"
#include "GroupedGemm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOECUDATILEGROUPEDGEMM
#include "moe/Target/CUDA/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using mlir::moe::cuda::idx;

namespace {

/// One grouped GEMM `output[r, :] = epilogue(rows[src(r), :] · W[e(r)]ᵀ)`.
struct TiledGemm {
  /// f32 [*, K], gathered by `rowToken` (i32 [R]) when set.
  Value rows, rowToken;
  /// f32 [R]: s_r or w_r (may be null).
  Value rowFactor;
  /// i32 [E+1], null when ungrouped.
  Value offsets;
  /// bf16 [E, N, K] or [N, K]: gate then up, or down.
  SmallVector<Value, 2> weights;
  /// f32 [R, N].
  Value output;
  Value numRows;
  int64_t depth = 0, columns = 0, experts = 1;
  cuda::GemmEpilogue epilogue = cuda::GemmEpilogue::Activate;
  Activation activation = Activation::relu;
};

/// A unit-stride subview of `source`, rank-reduced to `resultShape`.
Value slice(ImplicitLocOpBuilder &b, Value source,
            ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes,
            ArrayRef<int64_t> resultShape) {
  SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
  MemRefType type = memref::SubViewOp::inferRankReducedResultType(
      resultShape, cast<MemRefType>(source.getType()), offsets, sizes, strides);
  return memref::SubViewOp::create(b, type, source, offsets, sizes, strides);
}

SmallVector<AffineMap> identityMaps(MLIRContext *ctx, unsigned rank,
                                    unsigned count) {
  return SmallVector<AffineMap>(count,
                                AffineMap::getMultiDimIdentityMap(rank, ctx));
}

/// The row tile: rows [rowBegin, rowBegin + n) gathered by token and
/// rounded to bf16, as the kernels store them into shared memory.
Value buildRowTile(ImplicitLocOpBuilder &b, const TiledGemm &g, Value rowBegin,
                   Value numTileRows) {
  auto tileType =
      MemRefType::get({ShapedType::kDynamic, g.depth}, b.getBF16Type());
  Value tile = memref::AllocOp::create(b, tileType, ValueRange{numTileRows});
  auto loop = scf::ForOp::create(b, idx(b, 0), numTileRows, idx(b, 1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value i = loop.getInductionVar();
  Value source = arith::AddIOp::create(b, rowBegin, i);
  if (g.rowToken)
    source = arith::IndexCastUIOp::create(
        b, b.getIndexType(), memref::LoadOp::create(b, g.rowToken, source));
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1),
               depth = b.getIndexAttr(g.depth);
  Value from = slice(b, g.rows, {source, zero}, {one, depth}, {g.depth});
  Value to = slice(b, tile, {i, zero}, {one, depth}, {g.depth});
  linalg::GenericOp::create(
      b, TypeRange(), ValueRange{from}, ValueRange{to},
      identityMaps(b.getContext(), 1, 2), {utils::IteratorType::parallel},
      [](OpBuilder &ob, Location loc, ValueRange args) {
        Value rounded =
            arith::TruncFOp::create(ob, loc, ob.getBF16Type(), args[0]);
        linalg::YieldOp::create(ob, loc, rounded);
      });
  return tile;
}

/// One block's tile: schedule, row tile, one matmul per weight, epilogue.
void buildTile(ImplicitLocOpBuilder &b, const TiledGemm &g,
               const cuda::RowTile &rows, Value columnTile,
               int64_t tileColumns) {
  MLIRContext *ctx = b.getContext();
  Value numTileRows = arith::SubIOp::create(b, rows.rowEnd, rows.rowBegin);
  Value columnBegin = arith::MulIOp::create(b, columnTile, idx(b, tileColumns));
  // Column tiles start below N; the last one may be partial.
  Value numTileColumns = arith::MinUIOp::create(
      b, idx(b, tileColumns),
      arith::SubIOp::create(b, idx(b, g.columns), columnBegin));
  Value rowTile = buildRowTile(b, g, rows.rowBegin, numTileRows);

  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1),
               depth = b.getIndexAttr(g.depth);
  int64_t dynamic = ShapedType::kDynamic;
  auto sumsType = MemRefType::get({dynamic, dynamic}, b.getF32Type());
  Value zeroF32 = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
  SmallVector<Value, 2> sums;
  for (Value weight : g.weights) {
    Value weightTile =
        g.offsets ? slice(b, weight, {rows.expert, columnBegin, zero},
                          {one, numTileColumns, depth}, {dynamic, g.depth})
                  : slice(b, weight, {columnBegin, zero},
                          {numTileColumns, depth}, {dynamic, g.depth});
    Value acc = memref::AllocOp::create(
        b, sumsType, ValueRange{numTileRows, numTileColumns});
    linalg::FillOp::create(b, ValueRange{zeroF32}, ValueRange{acc});
    // bf16 x bf16 -> f32: the matmul extends both to f32; the depth is
    // summed in order, whole, whatever the tile.
    linalg::MatmulTransposeBOp::create(
        b, b.getLoc(), ValueRange{rowTile, weightTile}, ValueRange{acc});
    sums.push_back(acc);
  }

  Value out = slice(b, g.output, {rows.rowBegin, columnBegin},
                    {numTileRows, numTileColumns}, {dynamic, dynamic});
  SmallVector<Value> inputs(sums.begin(), sums.end());
  SmallVector<AffineMap> maps = identityMaps(ctx, 2, sums.size());
  if (g.rowFactor) {
    inputs.push_back(
        slice(b, g.rowFactor, {rows.rowBegin}, {numTileRows}, {dynamic}));
    maps.push_back(AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(2, ctx));
  size_t numSums = sums.size();
  linalg::GenericOp::create(
      b, TypeRange(), inputs, ValueRange{out}, maps,
      {utils::IteratorType::parallel, utils::IteratorType::parallel},
      [&](OpBuilder &ob, Location loc, ValueRange args) {
        ImplicitLocOpBuilder eb(loc, ob);
        Value factor = g.rowFactor ? args[numSums] : Value();
        SmallVector<Value, 2> elementSums(args.take_front(numSums));
        Value result = cuda::buildEpilogueElement(
            eb, g.epilogue, g.activation, factor, elementSums, args.back());
        linalg::YieldOp::create(eb, result);
      });
  for (Value buffer : sums)
    memref::DeallocOp::create(b, buffer);
  memref::DeallocOp::create(b, rowTile);
}

ArrayAttr blockMapping(MLIRContext *ctx, ArrayRef<gpu::MappingId> ids) {
  SmallVector<Attribute> mapping;
  for (gpu::MappingId id : ids)
    mapping.push_back(gpu::GPUBlockMappingAttr::get(ctx, id));
  return ArrayAttr::get(ctx, mapping);
}

/// The GEMM as an scf.forall over (row tiles, column tiles), the kernels'
/// grid.
void buildTiledGemm(ImplicitLocOpBuilder &b, const TiledGemm &g,
                    int64_t tileRows, int64_t tileColumns) {
  Value rowTiles = cuda::buildRowTileCount(b, g.numRows, g.experts, tileRows);
  Value columnTiles = idx(b, llvm::divideCeil(g.columns, tileColumns));
  auto forall = scf::ForallOp::create(
      b, ArrayRef<OpFoldResult>{rowTiles, columnTiles}, ValueRange(),
      blockMapping(b.getContext(),
                   {gpu::MappingId::DimX, gpu::MappingId::DimY}));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(forall.getBody()->getTerminator());
  Value rowTile = forall.getInductionVar(0);
  cuda::RowTile rows =
      cuda::buildRowTileSchedule(b, g.offsets, rowTile, g.numRows, tileRows);
  // The grid's spare tiles past the last one have no rows.
  auto valid = scf::IfOp::create(b, rows.valid, /*withElseRegion=*/false);
  b.setInsertionPoint(valid.thenBlock()->getTerminator());
  buildTile(b, g, rows, forall.getInductionVar(1), tileColumns);
}

/// `init[t, :] += rowResults[r, :]` for the rows r of token t in
/// increasing r. The kernels' combine (Combine.cpp) gathers each token's
/// row indices with integer atomics and sorts them, then adds in that
/// order; walking every row in order and adding those of the token adds
/// the same values in the same order, so gives the same bits, in a form
/// whose order needs no argument.
void buildCombine(ImplicitLocOpBuilder &b, Value rowResults, Value rowToken,
                  Value init) {
  Value numRows = memref::DimOp::create(b, rowToken, 0);
  Value tokens = memref::DimOp::create(b, init, 0);
  Value columns = memref::DimOp::create(b, init, 1);
  Value zero = idx(b, 0), one = idx(b, 1);
  auto forall = scf::ForallOp::create(
      b, ArrayRef<OpFoldResult>{tokens}, ValueRange(),
      blockMapping(b.getContext(), {gpu::MappingId::DimX}));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(forall.getBody()->getTerminator());
  Value token = forall.getInductionVar(0);
  auto columnLoop = scf::ForOp::create(b, zero, columns, one);
  b.setInsertionPointToStart(columnLoop.getBody());
  Value n = columnLoop.getInductionVar();
  Value start = memref::LoadOp::create(b, init, ValueRange{token, n});
  auto rowLoop = scf::ForOp::create(
      b, zero, numRows, one, ValueRange{start},
      [&](OpBuilder &ob, Location loc, Value r, ValueRange carried) {
        Value rowTokenIndex = arith::IndexCastUIOp::create(
            ob, loc, ob.getIndexType(),
            memref::LoadOp::create(ob, loc, rowToken, r));
        Value mine = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::eq,
                                           rowTokenIndex, token);
        Value v = memref::LoadOp::create(ob, loc, rowResults, ValueRange{r, n});
        Value added = arith::AddFOp::create(ob, loc, carried[0], v);
        scf::YieldOp::create(ob, loc,
                             ValueRange{arith::SelectOp::create(
                                 ob, loc, mine, added, carried[0])});
      });
  memref::StoreOp::create(b, rowLoop.getResult(0), init, ValueRange{token, n});
}

bool isMemRefOf(Value v, Type element) {
  auto type = dyn_cast_or_null<MemRefType>(v ? v.getType() : Type());
  return type && type.getElementType() == element;
}

/// Fills the weight shape of `g` from its weights; reports what the
/// tiled form cannot take.
LogicalResult checkOperands(Operation *op, WeightLayoutAttr layout,
                            TiledGemm &g, ArrayRef<Value> f32Vectors,
                            ArrayRef<Value> i32Vectors) {
  MLIRContext *ctx = op->getContext();
  Type bf16 = BFloat16Type::get(ctx), f32 = Float32Type::get(ctx),
       i32 = IntegerType::get(ctx, 32);
  if (op->getNumResults() != 0 || llvm::any_of(op->getOperands(), [](Value v) {
        return !isa<MemRefType>(v.getType());
      }))
    return op->emitOpError("must be on buffers for moe-cuda-tile-grouped-gemm "
                           "(run moe-bufferize first)");
  if (layout.isPanels() ||
      llvm::any_of(g.weights, [&](Value w) { return !isMemRefOf(w, bf16); }))
    return op->emitOpError("needs bf16 weights in rows layout "
                           "(moe-cuda-prepare-kernels) for the tiled form");
  if (!isMemRefOf(g.rows, f32) || !isMemRefOf(g.output, f32))
    return op->emitOpError("needs f32 rows and output for the tiled form");
  for (Value v : f32Vectors)
    if (v && !isMemRefOf(v, f32))
      return op->emitOpError("needs f32 row scales and weights for the "
                             "tiled form");
  for (Value v : i32Vectors)
    if (v && !isMemRefOf(v, i32))
      return op->emitOpError(
          "needs i32 row tokens and offsets for the tiled form");
  auto shape = cast<MemRefType>(g.weights.front().getType()).getShape();
  for (Value w : g.weights)
    if (cast<MemRefType>(w.getType()).getShape() != shape)
      return op->emitOpError("needs gate and up of one shape for the tiled "
                             "form");
  g.depth = shape.back();
  g.columns = shape[shape.size() - 2];
  if (ShapedType::isDynamic(g.depth) || ShapedType::isDynamic(g.columns))
    return op->emitOpError("needs static weight shapes for the tiled form");
  return success();
}

LogicalResult tileGatherGateUp(GatherGateUpOp op, int64_t tileRows,
                               int64_t tileColumns) {
  if (failed(cuda::checkEpilogueActivation(op)))
    return failure();
  TiledGemm g;
  g.rows = op.getInput();
  g.rowToken = op.getRowToken();
  g.rowFactor = op.getScale();
  g.offsets = op.getExpertOffsets();
  if (Value gate = op.getGate())
    g.weights.push_back(gate);
  g.weights.push_back(op.getUp());
  g.output = op.getInit();
  g.experts = op.getNumExperts();
  g.epilogue = cuda::GemmEpilogue::Activate;
  g.activation = op.getActivation();
  if (failed(checkOperands(op, op.getLayout(), g, {g.rowFactor},
                           {g.rowToken, g.offsets})))
    return failure();
  ImplicitLocOpBuilder b(op.getLoc(), op);
  g.numRows = memref::DimOp::create(b, g.output, 0);
  buildTiledGemm(b, g, tileRows, tileColumns);
  op.erase();
  return success();
}

LogicalResult tileDownScatterAdd(DownScatterAddOp op, int64_t tileRows,
                                 int64_t tileColumns) {
  TiledGemm g;
  g.rows = op.getRows();
  g.rowFactor = op.getRowWeight();
  g.offsets = op.getExpertOffsets();
  g.weights.push_back(op.getDown());
  g.output = op.getInit();
  g.experts = op.getNumExperts();
  Value rowToken = op.getRowToken();
  if (failed(checkOperands(op, op.getLayout(), g, {g.rowFactor},
                           {rowToken, g.offsets})))
    return failure();
  ImplicitLocOpBuilder b(op.getLoc(), op);
  g.numRows = memref::DimOp::create(b, g.rows, 0);
  if (!rowToken) {
    g.epilogue = cuda::GemmEpilogue::AddRows;
    buildTiledGemm(b, g, tileRows, tileColumns);
    op.erase();
    return success();
  }
  // Rows of one token come from different experts, so different tiles:
  // the GEMM writes weighted rows, the combine adds them in row order.
  g.epilogue = cuda::GemmEpilogue::StoreRows;
  auto type =
      MemRefType::get({ShapedType::kDynamic, g.columns}, b.getF32Type());
  Value rowResults = memref::AllocOp::create(b, type, ValueRange{g.numRows});
  // Rows outside every group are not computed and must add nothing.
  if (g.offsets)
    linalg::FillOp::create(
        b, ValueRange{arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f))},
        ValueRange{rowResults});
  g.output = rowResults;
  buildTiledGemm(b, g, tileRows, tileColumns);
  buildCombine(b, rowResults, rowToken, op.getInit());
  memref::DeallocOp::create(b, rowResults);
  op.erase();
  return success();
}

struct MoECUDATileGroupedGemmPass
    : public mlir::moe::impl::MoECUDATileGroupedGemmBase<
          MoECUDATileGroupedGemmPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (tileRows <= 0 || tileColumns <= 0) {
      module.emitError() << "moe-cuda-tile-grouped-gemm: tile-rows and "
                            "tile-columns must be positive (got "
                         << tileRows.getValue() << "x" << tileColumns.getValue()
                         << ")";
      return signalPassFailure();
    }
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<GatherGateUpOp, DownScatterAddOp>(op))
        ops.push_back(op);
    });
    bool failedAny = false;
    for (Operation *op : ops) {
      LogicalResult result =
          isa<GatherGateUpOp>(op)
              ? tileGatherGateUp(cast<GatherGateUpOp>(op), tileRows,
                                 tileColumns)
              : tileDownScatterAdd(cast<DownScatterAddOp>(op), tileRows,
                                   tileColumns);
      failedAny |= failed(result);
    }
    if (failedAny)
      signalPassFailure();
  }
};
} // namespace
