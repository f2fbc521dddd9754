//===- PanelLoops.cpp - generated loops and epilogues around the tiles ----===//
//
// Part of `moe-cpu-lower-to-ukernels`: an
// ungrouped moe.gather_gate_up / moe.down_scatter_add on packed panels
// becomes scf loops over panel pairs, row blocks, depth blocks and row tiles
// that call the register tile alone (moe_ukernel_tile_f32/bf16, Tiles.c)
// into an accumulator scratch, and after a tile's last depth block run the
// epilogue as generated code: the gate/up activation (ActivationBuilder.h,
// the one copy of that math in the compiler) with the Llama 4 input scale
// and the linears' biases, or the weighted scatter-add (of the projection
// plus its bias) into token rows. The loop nest, the blocks and
// the prefetch shares were those of the C loops they replace (measured at
// parity with them on this project's bench shapes); every output is summed
// in the order of depth, whatever the thread count or batch. The
// epilogues' exp (and erf, tanh) are expanded to MLIR's polynomial
// approximations so that LLVM's loop vectoriser vectorises them.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/CPU/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Utils/ActivationBuilder.h"
#include "moe/Runtime/KernelABI.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;
using namespace mlir::moe;

namespace {
constexpr int64_t kPanel = MOE_UKERNEL_PANEL;
constexpr int64_t kTileRows = MOE_UKERNEL_TILE_ROWS;
constexpr int64_t kRowBlock = MOE_UKERNEL_ROW_BLOCK;
constexpr int64_t kDepth = MOE_UKERNEL_TILE_DEPTH;
constexpr int64_t kLineBytes = 64;
constexpr StringLiteral kTileRowsGlobal = "__moe_tile_consecutive_rows";
constexpr StringLiteral kTileF32Name = MOE_UKERNEL_NAME(MOE_UKERNEL_TILE_F32);
constexpr StringLiteral kTileBF16Name = MOE_UKERNEL_NAME(MOE_UKERNEL_TILE_BF16);

Value idx(ImplicitLocOpBuilder &b, int64_t v) {
  return arith::ConstantIndexOp::create(b, v);
}
Value minIdx(ImplicitLocOpBuilder &b, Value x, Value y) {
  return arith::MinSIOp::create(b, x, y);
}
Value add(ImplicitLocOpBuilder &b, Value x, Value y) {
  return arith::AddIOp::create(b, x, y);
}
Value sub(ImplicitLocOpBuilder &b, Value x, Value y) {
  return arith::SubIOp::create(b, x, y);
}
Value mul(ImplicitLocOpBuilder &b, Value x, Value y) {
  return arith::MulIOp::create(b, x, y);
}
Value lt(ImplicitLocOpBuilder &b, Value x, Value y) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::slt, x, y);
}
Value select(ImplicitLocOpBuilder &b, Value c, Value x, Value y) {
  return arith::SelectOp::create(b, c, x, y);
}
Value dim(ImplicitLocOpBuilder &b, Value memref, int64_t d) {
  return memref::DimOp::create(b, memref, d);
}

/// What a packed kernel op computes, in the terms of the loop nest.
struct PanelKernel {
  Value x;          // the rows' source, `[*, K]`
  Value gatherTok;  // x's row of each row (gate/up with tokens), or null
  Value rows;       // number of rows
  Value b0, b1;     // panels `[P, K, 32]`; b1 null: pairs of b0's panels
  Value out;        // `[R, N]` (gate/up) or `[T, N]` (down)
  Value rowScale;   // s_r / w_r, or null
  Value scatterTok; // down: the output row of each row, or null
  std::optional<Activation> activation; // gate/up; none: down
  GluClampAttr clamp;                   // gate/up's glu_clamp, or null
  Value gateBias, upBias; // gate/up: the `[N]` biases, or null
  Value downBias;         // down: the `[N]` bias, or null
};

/// `memref.get_global` of 0..5 (i32): the row indices of a tile of
/// consecutive rows, declared once per module.
Value consecutiveRows(ImplicitLocOpBuilder &b, Operation *op) {
  auto module = op->getParentOfType<ModuleOp>();
  auto type = MemRefType::get({kTileRows}, b.getI32Type());
  if (!module.lookupSymbol(kTileRowsGlobal)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    SmallVector<int32_t> iota;
    for (int32_t i = 0; i < kTileRows; ++i)
      iota.push_back(i);
    memref::GlobalOp::create(
        b, kTileRowsGlobal, b.getStringAttr("private"), type,
        DenseElementsAttr::get(
            RankedTensorType::get({kTileRows}, b.getI32Type()),
            ArrayRef<int32_t>(iota)),
        /*constant=*/true, /*alignment=*/IntegerAttr());
  }
  return memref::GetGlobalOp::create(b, type, kTileRowsGlobal);
}

/// A dynamic strided subview, `offsets`/`sizes` mixed; rank-reduced to the
/// dimensions not in `dropped`.
Value subview(ImplicitLocOpBuilder &b, Value source,
              ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes,
              ArrayRef<int64_t> keptShape) {
  auto type = cast<MemRefType>(source.getType());
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  if (keptShape.size() == static_cast<size_t>(type.getRank()))
    return memref::SubViewOp::create(b, source, offsets, sizes, strides);
  auto reduced = memref::SubViewOp::inferRankReducedResultType(
      keptShape, type, offsets, sizes, strides);
  return memref::SubViewOp::create(b, cast<MemRefType>(reduced), source,
                                   offsets, sizes, strides);
}

/// The tile's panel operand type: `[?, 32]` dense rows at any offset.
MemRefType tilePanelType(Type element) {
  MLIRContext *ctx = element.getContext();
  return MemRefType::get(
      {ShapedType::kDynamic, kPanel}, element,
      StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {kPanel, 1}));
}

MemRefType tileMatrixType(MLIRContext *ctx) {
  int64_t dyn = ShapedType::kDynamic;
  return MemRefType::get({dyn, dyn}, Float32Type::get(ctx),
                         StridedLayoutAttr::get(ctx, dyn, {dyn, 1}));
}

MemRefType tileRowsType(MLIRContext *ctx) {
  int64_t dyn = ShapedType::kDynamic;
  return MemRefType::get({dyn}, IntegerType::get(ctx, 32),
                         StridedLayoutAttr::get(ctx, dyn, {dyn}));
}

Value cast(ImplicitLocOpBuilder &b, Type type, Value value) {
  return memref::CastOp::create(b, type, value);
}

/// Panel `panel` of `panels` from depth `p`, `depth` deep, as `[depth, 32]`.
Value panelAt(ImplicitLocOpBuilder &b, Value panels, Value panel, Value p,
              Value depth) {
  Value view = subview(b, panels, {panel, p, b.getIndexAttr(0)},
                       {b.getIndexAttr(1), depth, b.getIndexAttr(kPanel)},
                       {ShapedType::kDynamic, kPanel});
  return cast(b, tilePanelType(getElementTypeOrSelf(panels.getType())), view);
}

/// The byte address of panel `panel` of `panels` at depth `p` (a prefetch
/// hint: never dereferenced here, and the tile skips it with no lines).
Value panelAddress(ImplicitLocOpBuilder &b, Value panels, Value panel,
                   Value p) {
  auto meta = memref::ExtractStridedMetadataOp::create(b, panels);
  Value base =
      memref::ExtractAlignedPointerAsIndexOp::create(b, meta.getBaseBuffer());
  int64_t size =
      getElementTypeOrSelf(panels.getType()).getIntOrFloatBitWidth() / 8;
  Value element = add(b, meta.getOffset(),
                      add(b, mul(b, panel, meta.getStrides()[0]),
                          mul(b, p, meta.getStrides()[1])));
  return add(b, base, mul(b, element, idx(b, size)));
}

/// The two panels of pair `q`: gate and up panel q when gated, else panels
/// 2q and 2q+1 of b0 (the last alone repeats).
std::pair<Value, Value> pairIndices(ImplicitLocOpBuilder &b,
                                    const PanelKernel &k, Value q) {
  if (k.b1)
    return {q, q};
  Value first = mul(b, q, idx(b, 2));
  Value last = sub(b, dim(b, k.b0, 0), idx(b, 1));
  return {first, minIdx(b, add(b, first, idx(b, 1)), last)};
}

/// Expands exp/erf/tanh among `ops` into polynomials (arith and math.fma),
/// which LLVM vectorises, unlike libm calls.
void approximateMath(ArrayRef<Operation *> ops) {
  SmallVector<Operation *> math;
  for (Operation *op : ops)
    if (isa<math::ExpOp, math::ErfOp, math::TanhOp>(op))
      math.push_back(op);
  if (math.empty())
    return;
  RewritePatternSet patterns(math.front()->getContext());
  populateMathPolynomialApproximationPatterns(
      patterns, [](StringRef name) {
        return name == math::ExpOp::getOperationName() ||
               name == math::ErfOp::getOperationName() ||
               name == math::TanhOp::getOperationName();
      });
  GreedyRewriteConfig config;
  config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
  (void)applyOpPatternsGreedily(math, std::move(patterns), config);
}

/// The output row of kernel row `r`: its token for the scatter-add, else
/// `r` itself.
Value outputRow(ImplicitLocOpBuilder &b, const PanelKernel &k, Value r) {
  if (!k.scatterTok)
    return r;
  return arith::IndexCastOp::create(b, b.getIndexType(),
                                    memref::LoadOp::create(b, k.scatterTok, r));
}

/// The epilogue of rows [row0, row0 + mr) of tile `t` after its last depth
/// block, columns [col, col + cols) of pair q.
void buildEpilogue(ImplicitLocOpBuilder &b, const PanelKernel &k, Value acc,
                   Value t, Value row0, Value mr, Value col, Value cols,
                   SmallVectorImpl<Operation *> &created) {
  Value zero = idx(b, 0), one = idx(b, 1);
  scf::ForOp::create(
      b, zero, mr, one, ValueRange{},
      [&](OpBuilder &nb, Location loc, Value i, ValueRange) {
        ImplicitLocOpBuilder rb(loc, nb);
        Value r = add(rb, row0, i);
        Value s = k.rowScale ? memref::LoadOp::create(rb, k.rowScale, r)
                             : Value();
        Value outRow = outputRow(rb, k, r);
        scf::ForOp::create(
            rb, zero, cols, one, ValueRange{},
            [&](OpBuilder &cb, Location loc, Value c, ValueRange) {
              ImplicitLocOpBuilder eb(loc, cb);
              Block *body = eb.getInsertionBlock();
              Value first = memref::LoadOp::create(eb, acc, {t, i, c});
              Value o = add(eb, col, c);
              auto plusBias = [&](Value value, Value bias) -> Value {
                if (!bias)
                  return value;
                return arith::AddFOp::create(
                    eb, value, memref::LoadOp::create(eb, bias, o));
              };
              if (!k.activation) {
                // out[t_r, c] += w_r · (acc + b): one rounding for the
                // product and the sum, as the C's FMA.
                first = plusBias(first, k.downBias);
                Value w = s ? s
                            : arith::ConstantOp::create(
                                  eb, eb.getF32FloatAttr(1.0f));
                Value old = memref::LoadOp::create(eb, k.out, {outRow, o});
                memref::StoreOp::create(
                    eb, math::FmaOp::create(eb, w, first, old), k.out,
                    {outRow, o});
              } else {
                Value gate, up = first;
                if (k.b1) {
                  gate = first;
                  up = memref::LoadOp::create(
                      eb, acc, {t, i, add(eb, c, idx(eb, kPanel))});
                }
                if (s) {
                  up = arith::MulFOp::create(eb, s, up);
                  if (gate)
                    gate = arith::MulFOp::create(eb, s, gate);
                }
                up = plusBias(up, k.upBias);
                if (gate)
                  gate = plusBias(gate, k.gateBias);
                Value value =
                    createActivation(eb, *k.activation, gate, up, k.clamp);
                memref::StoreOp::create(eb, value, k.out, {r, o});
              }
              for (Operation &op : *body)
                created.push_back(&op);
              scf::YieldOp::create(eb);
            });
        scf::YieldOp::create(rb);
      });
}

/// Requests the output lines the epilogue of rows [row0, row0 + mr) will
/// write, as a tile starts its last depth block: scattered token rows
/// would otherwise miss in cache at the epilogue.
void prefetchOutputRows(ImplicitLocOpBuilder &b, const PanelKernel &k,
                        Value row0, Value mr, Value col, Value cols) {
  Value zero = idx(b, 0), one = idx(b, 1);
  scf::ForOp::create(
      b, zero, mr, one, ValueRange{},
      [&](OpBuilder &nb, Location loc, Value i, ValueRange) {
        ImplicitLocOpBuilder rb(loc, nb);
        Value row = outputRow(rb, k, add(rb, row0, i));
        scf::ForOp::create(
            rb, zero, cols, idx(rb, kLineBytes / 4), ValueRange{},
            [&](OpBuilder &cb, Location loc, Value j, ValueRange) {
              ImplicitLocOpBuilder pb(loc, cb);
              memref::PrefetchOp::create(pb, k.out,
                                         ValueRange{row, add(pb, col, j)},
                                         /*isWrite=*/true, /*locality=*/3,
                                         /*isDataCache=*/true);
              scf::YieldOp::create(pb);
            });
        scf::YieldOp::create(rb);
      });
}

/// The loop nest around the register tiles: panel pairs, row blocks, depth
/// blocks, row tiles.
void buildPanelLoops(PatternRewriter &rewriter, Operation *op,
                     const PanelKernel &k) {
  ImplicitLocOpBuilder b(op->getLoc(), rewriter);
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  Type weightElement = getElementTypeOrSelf(k.b0.getType());
  bool bf16 = weightElement.isBF16();
  int64_t elementBytes = bf16 ? 2 : 4;
  Value iota = k.gatherTok ? Value() : consecutiveRows(b, op);

  // The scratch is allocated once, above the sequential loops around the
  // op (the expert loop): an alloca in a loop would grow the stack at each
  // iteration. A parallel loop's body (one column chunk per thread) keeps
  // its own.
  Value acc, widened;
  {
    OpBuilder::InsertionGuard guard(b);
    Operation *outermost = op;
    while (isa<scf::ForOp, scf::IfOp>(outermost->getParentOp()))
      outermost = outermost->getParentOp();
    b.setInsertionPoint(outermost);
    acc = memref::AllocaOp::create(
        b,
        MemRefType::get({kRowBlock / kTileRows, kTileRows, 2 * kPanel}, f32));
    if (bf16)
      widened = memref::AllocaOp::create(
          b, MemRefType::get({2, kDepth, kPanel}, f32));
  }

  Value zero = idx(b, 0), one = idx(b, 1);
  Value k0 = dim(b, k.x, 1), n = dim(b, k.out, 1);
  int64_t width = k.b1 ? kPanel : 2 * kPanel;
  Value widthV = idx(b, width);
  Value pairs = arith::CeilDivSIOp::create(b, n, widthV);
  Value depthV = idx(b, kDepth), blockV = idx(b, kRowBlock),
        tileV = idx(b, kTileRows);
  SmallVector<Operation *> epilogueOps;

  scf::ForOp::create(
      b, zero, pairs, one, ValueRange{},
      [&](OpBuilder &qb0, Location loc, Value q, ValueRange) {
        ImplicitLocOpBuilder qb(loc, qb0);
        Value col = mul(qb, q, widthV);
        Value cols = minIdx(qb, widthV, sub(qb, n, col));
        scf::ForOp::create(
            qb, zero, k.rows, blockV, ValueRange{},
            [&](OpBuilder &rb0, Location loc, Value r0, ValueRange) {
              ImplicitLocOpBuilder rb(loc, rb0);
              Value blockRows = minIdx(rb, blockV, sub(rb, k.rows, r0));
              Value tiles = arith::CeilDivSIOp::create(rb, blockRows, tileV);
              scf::ForOp::create(
                  rb, zero, k0, depthV, ValueRange{},
                  [&](OpBuilder &pb0, Location loc, Value p0, ValueRange) {
                    ImplicitLocOpBuilder pb(loc, pb0);
                    Value kc = minIdx(pb, depthV, sub(pb, k0, p0));
                    auto [i0, i1] = pairIndices(pb, k, q);
                    Value b1Panels = k.b1 ? k.b1 : k.b0;
                    // The next block: the next depth, or the next pair's
                    // first once the last row block is done.
                    Value nextP = add(pb, p0, depthV);
                    Value deeper = lt(pb, nextP, k0);
                    Value lastBlock = arith::CmpIOp::create(
                        pb, arith::CmpIPredicate::sge, add(pb, r0, blockV),
                        k.rows);
                    Value nextPair = arith::AndIOp::create(
                        pb, lt(pb, add(pb, q, one), pairs), lastBlock);
                    Value nextDepth = select(
                        pb, deeper, minIdx(pb, depthV, sub(pb, k0, nextP)),
                        select(pb, nextPair, minIdx(pb, depthV, k0), zero));
                    Value nq = select(pb, deeper, q, add(pb, q, one));
                    Value np = select(pb, deeper, nextP, zero);
                    auto [n0, n1] = pairIndices(pb, k, nq);
                    Value next0 = panelAddress(pb, k.b0, n0, np);
                    Value next1 = panelAddress(pb, b1Panels, n1, np);
                    Value lines = arith::DivSIOp::create(
                        pb, mul(pb, nextDepth, idx(pb, kPanel * elementBytes)),
                        idx(pb, kLineBytes));
                    Value last = arith::CmpIOp::create(
                        pb, arith::CmpIPredicate::sge, add(pb, p0, kc), k0);
                    Value fresh = arith::ExtUIOp::create(
                        pb, pb.getI32Type(),
                        arith::CmpIOp::create(pb, arith::CmpIPredicate::eq, p0,
                                              zero));
                    Value tile0 = panelAt(pb, k.b0, i0, p0, kc);
                    Value tile1 = panelAt(pb, b1Panels, i1, p0, kc);

                    // The row tiles of the block on panels `w0`/`w1`.
                    auto emitTiles = [&](ImplicitLocOpBuilder &tb, Value w0,
                                         Value w1, StringRef tileFn) {
                      scf::ForOp::create(
                          tb, zero, tiles, one, ValueRange{},
                          [&](OpBuilder &ib0, Location loc, Value t,
                              ValueRange) {
                            ImplicitLocOpBuilder ib(loc, ib0);
                            Value row0 = add(ib, r0, mul(ib, t, tileV));
                            Value mr = minIdx(ib, tileV, sub(ib, k.rows, row0));
                            Value source, rowIndex;
                            if (k.gatherTok) {
                              source = k.x;
                              rowIndex = subview(ib, k.gatherTok, {row0}, {mr},
                                                 {ShapedType::kDynamic});
                            } else {
                              source = subview(ib, k.x,
                                               {row0, ib.getIndexAttr(0)},
                                               {mr, dim(ib, k.x, 1)},
                                               {ShapedType::kDynamic,
                                                ShapedType::kDynamic});
                              rowIndex = subview(ib, iota, {ib.getIndexAttr(0)},
                                                 {mr}, {ShapedType::kDynamic});
                            }
                            // This tile's share of the next block's lines,
                            // both panels: [first, last) of 2·lines.
                            Value twoLines = mul(ib, lines, idx(ib, 2));
                            Value first = arith::DivSIOp::create(
                                ib, mul(ib, twoLines, t), tiles);
                            Value end = arith::DivSIOp::create(
                                ib, mul(ib, twoLines, add(ib, t, one)), tiles);
                            Value inFirst = lt(ib, first, lines);
                            Value address = select(
                                ib, inFirst,
                                add(ib, next0, mul(ib, first, idx(ib, 64))),
                                add(ib, next1,
                                    mul(ib, sub(ib, first, lines),
                                        idx(ib, 64))));
                            Value count = select(
                                ib, inFirst,
                                sub(ib, minIdx(ib, end, lines), first),
                                sub(ib, end, first));
                            Value accTile = subview(
                                ib, acc, {t, ib.getIndexAttr(0),
                                          ib.getIndexAttr(0)},
                                {ib.getIndexAttr(1), mr,
                                 ib.getIndexAttr(2 * kPanel)},
                                {ShapedType::kDynamic, 2 * kPanel});
                            scf::IfOp::create(
                                ib, last, [&](OpBuilder &fb, Location loc) {
                                  ImplicitLocOpBuilder eb(loc, fb);
                                  prefetchOutputRows(eb, k, row0, mr, col,
                                                     cols);
                                  scf::YieldOp::create(eb);
                                });
                            func::CallOp::create(
                                ib, tileFn, TypeRange{},
                                ValueRange{
                                    cast(ib, tileMatrixType(ctx), source),
                                    cast(ib, tileRowsType(ctx), rowIndex), p0,
                                    w0, w1,
                                    cast(ib, tileMatrixType(ctx), accTile),
                                    fresh,
                                    arith::IndexCastOp::create(
                                        ib, ib.getI64Type(), address),
                                    arith::IndexCastOp::create(
                                        ib, ib.getI64Type(), count)});
                            scf::IfOp::create(
                                ib, last, [&](OpBuilder &fb, Location loc) {
                                  ImplicitLocOpBuilder eb(loc, fb);
                                  buildEpilogue(eb, k, acc, t, row0, mr, col,
                                                cols, epilogueOps);
                                  scf::YieldOp::create(eb);
                                });
                            scf::YieldOp::create(ib);
                          });
                    };

                    if (!bf16) {
                      emitTiles(pb, tile0, tile1, kTileF32Name);
                      scf::YieldOp::create(pb);
                      return;
                    }
                    // bf16 panels several row tiles share are widened once
                    // per block into f32 the tiles read from L1; a lone
                    // tile (decode) widens in registers.
                    Value shared = arith::CmpIOp::create(
                        pb, arith::CmpIPredicate::sgt, tiles, one);
                    scf::IfOp::create(
                        pb, shared,
                        [&](OpBuilder &wb0, Location loc) {
                          ImplicitLocOpBuilder wb(loc, wb0);
                          SmallVector<Value, 2> blocks;
                          Value sources[2] = {tile0, tile1};
                          for (int64_t j = 0; j < 2; ++j) {
                            Value block = subview(
                                wb, widened,
                                {wb.getIndexAttr(j), wb.getIndexAttr(0),
                                 wb.getIndexAttr(0)},
                                {wb.getIndexAttr(1), kc,
                                 wb.getIndexAttr(kPanel)},
                                {ShapedType::kDynamic, kPanel});
                            Value src = sources[j];
                            // Row p of the block: 32 bf16 widened exactly
                            // as integers (zero-extend, shift left 16, the
                            // bits as f32), which vectorises, unlike a
                            // scalar loop of bf16 extensions.
                            scf::ForOp::create(
                                wb, zero, kc, one, ValueRange{},
                                [&](OpBuilder &xb0, Location loc, Value p,
                                    ValueRange) {
                                  ImplicitLocOpBuilder xb(loc, xb0);
                                  auto lanes = [&](Type element) {
                                    return VectorType::get({kPanel}, element);
                                  };
                                  Value half = vector::LoadOp::create(
                                      xb, lanes(weightElement), src,
                                      ValueRange{p, zero});
                                  Value bits = arith::BitcastOp::create(
                                      xb, lanes(xb.getI16Type()), half);
                                  Value wide = arith::ExtUIOp::create(
                                      xb, lanes(xb.getI32Type()), bits);
                                  Value shift = arith::ConstantOp::create(
                                      xb, DenseElementsAttr::get(
                                              lanes(xb.getI32Type()),
                                              xb.getI32IntegerAttr(16)
                                                  .getValue()));
                                  Value shifted =
                                      arith::ShLIOp::create(xb, wide, shift);
                                  Value value = arith::BitcastOp::create(
                                      xb, lanes(f32), shifted);
                                  vector::StoreOp::create(
                                      xb, value, block, ValueRange{p, zero});
                                  scf::YieldOp::create(xb);
                                });
                            blocks.push_back(
                                cast(wb, tilePanelType(f32), block));
                          }
                          emitTiles(wb, blocks[0], blocks[1], kTileF32Name);
                          scf::YieldOp::create(wb);
                        },
                        [&](OpBuilder &eb0, Location loc) {
                          ImplicitLocOpBuilder eb(loc, eb0);
                          emitTiles(eb, tile0, tile1, kTileBF16Name);
                          scf::YieldOp::create(eb);
                        });
                    scf::YieldOp::create(pb);
                  });
              scf::YieldOp::create(rb);
            });
        scf::YieldOp::create(qb);
      });
  approximateMath(epilogueOps);
}

bool isPanelsOf(Value value, Type element) {
  auto type = dyn_cast<MemRefType>(value.getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  return type && type.getRank() == 3 && type.getElementType() == element &&
         type.getDimSize(2) == kPanel &&
         succeeded(type.getStridesAndOffset(strides, offset)) &&
         strides[1] == kPanel && strides[2] == 1;
}

bool isRowMatrix(Value value) {
  auto type = dyn_cast<MemRefType>(value.getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  return type && type.getRank() == 2 && type.getElementType().isF32() &&
         succeeded(type.getStridesAndOffset(strides, offset)) &&
         strides[1] == 1;
}

/// Packed panels of f32 or bf16, both weights of one type.
bool panelsFit(Value b0, Value b1) {
  Type element = getElementTypeOrSelf(b0.getType());
  return (element.isF32() || element.isBF16()) && isPanelsOf(b0, element) &&
         (!b1 || isPanelsOf(b1, element));
}

struct GatherGateUpToPanelLoops : OpRewritePattern<GatherGateUpOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(GatherGateUpOp op,
                                PatternRewriter &rewriter) const override {
    bool gated = isGated(op.getActivation());
    Value b0 = gated ? op.getGate() : op.getUp();
    Value b1 = gated ? op.getUp() : Value();
    if (!op.hasPureBufferSemantics() || op.isGrouped() ||
        !op.getLayout().isPanels() || !b0 || !panelsFit(b0, b1) ||
        !isRowMatrix(op.getInput()) || !isRowMatrix(op.getInit()))
      return rewriter.notifyMatchFailure(op, "not ungrouped panels on buffers");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    PanelKernel k{op.getInput(),  op.getRowToken(), dim(b, op.getInit(), 0),
                  b0,             b1,               op.getInit(),
                  op.getScale(),  Value(),          op.getActivation(),
                  op.getGluClampAttr(), op.getGateBias(), op.getUpBias(),
                  Value()};
    buildPanelLoops(rewriter, op, k);
    rewriter.eraseOp(op);
    return success();
  }
};

struct DownScatterAddToPanelLoops : OpRewritePattern<DownScatterAddOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DownScatterAddOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op.isGrouped() ||
        !op.getLayout().isPanels() || !panelsFit(op.getDown(), Value()) ||
        !isRowMatrix(op.getRows()) || !isRowMatrix(op.getInit()))
      return rewriter.notifyMatchFailure(op, "not ungrouped panels on buffers");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    PanelKernel k{op.getRows(),      Value(),
                  dim(b, op.getRows(), 0),
                  op.getDown(),      Value(),
                  op.getInit(),      op.getRowWeight(),
                  op.getRowToken(),  std::nullopt,
                  GluClampAttr(),    Value(),
                  Value(),           op.getDownBias()};
    buildPanelLoops(rewriter, op, k);
    rewriter.eraseOp(op);
    return success();
  }
};
} // namespace

void moe::populateMoECPUPanelLoopPatterns(RewritePatternSet &patterns) {
  patterns.add<GatherGateUpToPanelLoops, DownScatterAddToPanelLoops>(
      patterns.getContext());
}

void moe::declareMoECPUTiles(ModuleOp module) {
  MLIRContext *ctx = module.getContext();
  for (auto [name, element] :
       {std::pair<StringRef, Type>(kTileF32Name, Float32Type::get(ctx)),
        std::pair<StringRef, Type>(kTileBF16Name, BFloat16Type::get(ctx))}) {
    bool called = false;
    module.walk([&](func::CallOp call) { called |= call.getCallee() == name; });
    if (!called || module.lookupSymbol(name))
      continue;
    OpBuilder b(ctx);
    b.setInsertionPointToStart(module.getBody());
    Type matrix = tileMatrixType(ctx), panel = tilePanelType(element);
    Type index = b.getIndexType(), i32 = b.getI32Type(), i64 = b.getI64Type();
    auto decl = func::FuncOp::create(
        b, module.getLoc(), name,
        b.getFunctionType(
            {matrix, tileRowsType(ctx), index, panel, panel, matrix, i32, i64,
             i64},
            {}));
    decl.setPrivate();
    decl->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  }
}
