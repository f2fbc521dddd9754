//===- DispatchToLinalg.cpp - permutation ops to loops on tensors ---------===//
//
// moe.dispatch and moe.combine. Counting, prefix sums and scatter are
// sequential by nature, so they are scf.for loops over tensors (one-shot
// bufferization makes them in place); gathers are linalg.generic ops.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "moe/Conversion/MoEToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {
/// `tensor[at] += delta` on an i32 tensor.
Value incrementAt(ImplicitLocOpBuilder &b, Value tensor, Value at,
                  Value delta) {
  Value old = tensor::ExtractOp::create(b, tensor, at);
  return tensor::InsertOp::create(b, arith::AddIOp::create(b, old, delta),
                                  tensor, at);
}

/// Exclusive prefix sums of `counts` `[E]` into `[E+1]`, starting at `base`.
Value prefixSums(ImplicitLocOpBuilder &b, Value counts, int64_t numExperts,
                 Value base) {
  Value offsets = tensor::EmptyOp::create(b, ArrayRef<int64_t>{numExperts + 1},
                                          b.getI32Type());
  offsets = tensor::InsertOp::create(b, base, offsets, indexConstant(b, 0));
  return buildLoop(b, indexConstant(b, numExperts), offsets,
                   [&](ImplicitLocOpBuilder &nb, Value e, ValueRange iter) {
                     Value next =
                         arith::AddIOp::create(nb, e, indexConstant(nb, 1));
                     Value sum = arith::AddIOp::create(
                         nb, tensor::ExtractOp::create(nb, iter[0], e),
                         tensor::ExtractOp::create(nb, counts, e));
                     return SmallVector<Value>{
                         tensor::InsertOp::create(nb, sum, iter[0], next)};
                   })[0];
}

struct DispatchOpLowering : OpRewritePattern<DispatchOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    int64_t numExperts = op.getNumExperts();
    int64_t topK = op.getExperts().getType().getDimSize(1);
    CapacityAttr capacityAttr = op.getCapacityAttr();
    Value slotExperts = tensor::CollapseShapeOp::create(
        b, op.getExperts(), ArrayRef<ReassociationIndices>{{0, 1}});
    Value slotWeights = tensor::CollapseShapeOp::create(
        b, op.getWeights(), ArrayRef<ReassociationIndices>{{0, 1}});
    Value numSlots = getValueOrCreateConstantIndexOp(
        b, b.getLoc(), getSizes(b, slotExperts)[0]);
    Value zeroI32 = i32Constant(b, 0), oneI32 = i32Constant(b, 1);
    SmallVector<OpFoldResult> expertSize = {b.getIndexAttr(numExperts)};

    // Slots per expert.
    Value counts = buildLoop(
        b, numSlots, createFilled(b, expertSize, zeroI32),
        [&](ImplicitLocOpBuilder &nb, Value s, ValueRange iter) {
          Value e = toIndex(nb, tensor::ExtractOp::create(nb, slotExperts, s));
          return SmallVector<Value>{incrementAt(nb, iter[0], e, oneI32)};
        })[0];

    // C = ceil(factor · S / E); dropless keeps up to S, i.e. everything.
    Value capacity =
        capacityAttr
            ? createCapacity(b, numSlots,
                             capacityAttr.getFactor().convertToDouble(),
                             numExperts)
            : numSlots;
    Value capacityI32 = toI32(b, capacity);

    // Under lowest_weight, a slot's rank among its expert's slots by weight
    // (heavier first, then earlier): kept when below C.
    Value weightRank;
    if (capacityAttr && capacityAttr.getDropOrder() == DropOrder::lowest_weight)
      weightRank = buildWeightRank(b, slotExperts, slotWeights);

    // Kept rows per expert, their offsets, and where dropped rows start.
    Value kept = createElementwise(
        b, counts, tensor::EmptyOp::create(b, expertSize, b.getI32Type()),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          return arith::MinUIOp::create(nb, args[0], capacityI32);
        });
    Value offsets = prefixSums(b, kept, numExperts, zeroI32);
    Value dropped = createElementwise(
        b, ValueRange{counts, kept},
        tensor::EmptyOp::create(b, expertSize, b.getI32Type()),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          return arith::SubIOp::create(nb, args[0], args[1]);
        });
    Value numKept = tensor::ExtractOp::create(
        b, offsets, ValueRange{indexConstant(b, numExperts)});
    Value dropStarts = prefixSums(b, dropped, numExperts, numKept);
    Value keptCursor = tensor::ExtractSliceOp::create(
        b, offsets, ArrayRef<OpFoldResult>{b.getIndexAttr(0)}, expertSize,
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    Value dropCursor = tensor::ExtractSliceOp::create(
        b, dropStarts, ArrayRef<OpFoldResult>{b.getIndexAttr(0)}, expertSize,
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});

    // Scatter every slot to its row, in token order.
    Value rowToken = createFilled(b, {numSlots}, zeroI32);
    Value rowWeight = createFilled(b, {numSlots}, f32Constant(b, 0));
    Value seen = createFilled(b, expertSize, zeroI32);
    ValueRange scattered = buildLoop(
        b, numSlots,
        ValueRange{rowToken, rowWeight, seen, keptCursor, dropCursor},
        [&](ImplicitLocOpBuilder &nb, Value s, ValueRange iter) {
          Value e = toIndex(nb, tensor::ExtractOp::create(nb, slotExperts, s));
          Value rank = weightRank
                           ? Value(tensor::ExtractOp::create(nb, weightRank, s))
                           : Value(tensor::ExtractOp::create(nb, iter[2], e));
          Value keep = arith::CmpIOp::create(nb, arith::CmpIPredicate::ult,
                                             rank, capacityI32);
          Value keptAt = tensor::ExtractOp::create(nb, iter[3], e);
          Value droppedAt = tensor::ExtractOp::create(nb, iter[4], e);
          Value row =
              toIndex(nb, arith::SelectOp::create(nb, keep, keptAt, droppedAt));
          Value token =
              toI32(nb, arith::DivUIOp::create(nb, s, indexConstant(nb, topK)));
          Value weight = tensor::ExtractOp::create(nb, slotWeights, s);
          Value keepI32 = arith::ExtUIOp::create(nb, nb.getI32Type(), keep);
          Value dropI32 = arith::SubIOp::create(nb, oneI32, keepI32);
          return SmallVector<Value>{
              tensor::InsertOp::create(nb, token, iter[0], row),
              tensor::InsertOp::create(nb, weight, iter[1], row),
              incrementAt(nb, iter[2], e, oneI32),
              incrementAt(nb, iter[3], e, keepI32),
              incrementAt(nb, iter[4], e, dropI32)};
        });
    rowToken = scattered[0];
    rowWeight = scattered[1];

    Value rows = createGatherRows(b, op.getInput(), rowToken);
    rewriter.replaceOp(
        op, {castToType(b, rows, op.getRows().getType()),
             castToType(b, rowToken, op.getRowToken().getType()),
             castToType(b, rowWeight, op.getRowWeight().getType()), offsets});
    return success();
  }

  /// rank[s] = #{s' of the same expert : w[s'] > w[s], or equal and s' < s}.
  static Value buildWeightRank(ImplicitLocOpBuilder &b, Value slotExperts,
                               Value slotWeights) {
    MLIRContext *ctx = b.getContext();
    AffineMap own = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
    AffineMap other = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    Value init = createFilled(b, getSizes(b, slotExperts), i32Constant(b, 0));
    Location loc = b.getLoc();
    return linalg::GenericOp::create(
               b, TypeRange{init.getType()},
               ValueRange{slotExperts, slotWeights, slotExperts, slotWeights},
               ValueRange{init},
               ArrayRef<AffineMap>{own, own, other, other, own},
               ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                             utils::IteratorType::reduction},
               [&](OpBuilder &nested, Location, ValueRange args) {
                 ImplicitLocOpBuilder nb(loc, nested);
                 Value slot = linalg::IndexOp::create(nb, 0);
                 Value rival = linalg::IndexOp::create(nb, 1);
                 Value sameExpert = arith::CmpIOp::create(
                     nb, arith::CmpIPredicate::eq, args[0], args[2]);
                 Value ahead = arith::AndIOp::create(
                     nb, sameExpert,
                     createComesBefore(nb, args[3], rival, args[1], slot));
                 Value one = arith::ExtUIOp::create(nb, nb.getI32Type(), ahead);
                 linalg::YieldOp::create(
                     nb, ValueRange{arith::AddIOp::create(nb, args[4], one)});
               })
        .getResult(0);
  }
};

struct CombineOpLowering : OpRewritePattern<CombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 activations lower");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    int64_t numExperts = op.getExpertOffsets().getType().getDimSize(0) - 1;
    int64_t hidden = op.getInput().getType().getDimSize(1);
    Value input = op.getInput(), expertOut = op.getExpertOut();
    Value rowToken = op.getRowToken(), rowWeight = op.getRowWeight();
    Value output = createFilled(b, getSizes(b, input), f32Constant(b, 0));
    Value numKept = toIndex(
        b, tensor::ExtractOp::create(b, op.getExpertOffsets(),
                                     ValueRange{indexConstant(b, numExperts)}));
    // Dropped rows matter only when they pass their input through.
    bool passThrough = op.getDropped() == DroppedSlot::input;
    Value numRows = passThrough ? getValueOrCreateConstantIndexOp(
                                      b, b.getLoc(), getSizes(b, rowToken)[0])
                                : numKept;
    output = buildLoop(
        b, numRows, output,
        [&](ImplicitLocOpBuilder &nb, Value r, ValueRange iter) {
          Value token = toIndex(nb, tensor::ExtractOp::create(nb, rowToken, r));
          Value weight =
              rowWeight ? Value(tensor::ExtractOp::create(nb, rowWeight, r))
                        : f32Constant(nb, 1.0f);
          Value isKept =
              arith::CmpIOp::create(nb, arith::CmpIPredicate::ult, r, numKept);
          return SmallVector<Value>{buildLoop(
              nb, indexConstant(nb, hidden), iter[0],
              [&](ImplicitLocOpBuilder &hb, Value h, ValueRange hiter) {
                Value value =
                    tensor::ExtractOp::create(hb, expertOut, ValueRange{r, h});
                if (passThrough)
                  value = arith::SelectOp::create(
                      hb, isKept, value,
                      tensor::ExtractOp::create(hb, input,
                                                ValueRange{token, h}));
                Value old = tensor::ExtractOp::create(hb, hiter[0],
                                                      ValueRange{token, h});
                Value sum = arith::AddFOp::create(
                    hb, old, arith::MulFOp::create(hb, weight, value));
                return SmallVector<Value>{tensor::InsertOp::create(
                    hb, sum, hiter[0], ValueRange{token, h})};
              })[0]};
        })[0];
    rewriter.replaceOp(op, castToType(b, output, op.getOutput().getType()));
    return success();
  }
};
} // namespace

void mlir::moe::populateDispatchToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<DispatchOpLowering, CombineOpLowering>(patterns.getContext());
}
