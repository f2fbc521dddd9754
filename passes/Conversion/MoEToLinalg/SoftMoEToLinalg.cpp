//===- SoftMoEToLinalg.cpp - Soft MoE's dispatch and combine to linalg ----===//
//
// moe.soft_dispatch and moe.soft_combine as linalg.generic ops on tensors:
// a softmax over the tokens (dispatch) or over the slots (combine), then a
// weighted sum of rows. The sums are linalg reductions that later stages run
// in their loop order, the same on every run and thread count.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "moe/Conversion/MoEToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {
/// `out[i,h] = Σ_k weights[i,k] · rows[k,h]` for `weights` `[I,K]` and
/// `rows` `[K,H]` (f32), summed over k in order.
Value createWeightedRowSum(ImplicitLocOpBuilder &b, Value weights,
                           Value rows) {
  MLIRContext *ctx = b.getContext();
  AffineExpr i = getAffineDimExpr(0, ctx), h = getAffineDimExpr(1, ctx),
             k = getAffineDimExpr(2, ctx);
  Value init = createFilled(b, {getSizes(b, weights)[0], getSizes(b, rows)[1]},
                            f32Constant(b, 0.0f));
  Location loc = b.getLoc();
  return linalg::GenericOp::create(
             b, TypeRange{init.getType()}, ValueRange{weights, rows},
             ValueRange{init},
             ArrayRef<AffineMap>{AffineMap::get(3, 0, {i, k}, ctx),
                                 AffineMap::get(3, 0, {k, h}, ctx),
                                 AffineMap::get(3, 0, {i, h}, ctx)},
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                           utils::IteratorType::parallel,
                                           utils::IteratorType::reduction},
             [&](OpBuilder &nested, Location, ValueRange args) {
               ImplicitLocOpBuilder nb(loc, nested);
               Value product = arith::MulFOp::create(nb, args[0], args[1]);
               linalg::YieldOp::create(
                   nb, ValueRange{arith::AddFOp::create(nb, args[2], product)});
             })
      .getResult(0);
}

LogicalResult checkF32(PatternRewriter &rewriter, Operation *op, Value value) {
  if (cast<RankedTensorType>(value.getType()).getElementType().isF32())
    return success();
  return rewriter.notifyMatchFailure(op, "only f32 activations lower");
}

struct SoftDispatchOpLowering : OpRewritePattern<SoftDispatchOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SoftDispatchOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(checkF32(rewriter, op, op.getInput())))
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    // D = softmax over tokens of each logits column: the row softmax of
    // the transposed logits `[E·S,T]`, which is Dᵀ, the weights the slot
    // sums want.
    Value logits = op.getLogits();
    SmallVector<OpFoldResult> sizes = getSizes(b, logits);
    Value transposed =
        linalg::TransposeOp::create(
            b, logits,
            tensor::EmptyOp::create(b, ArrayRef<OpFoldResult>{sizes[1], sizes[0]},
                                    b.getF32Type()),
            ArrayRef<int64_t>{1, 0})
            ->getResult(0);
    Value dispatchWeights = createSoftmax(b, transposed);
    Value rows = createWeightedRowSum(b, dispatchWeights, op.getInput());

    int64_t perExpert = op.getRouting().getSlotsPerExpert();
    int64_t numExperts = op.getExpertOffsets().getType().getDimSize(0) - 1;
    Value offsets = createElementwise(
        b, ValueRange{},
        tensor::EmptyOp::create(b, ArrayRef<int64_t>{numExperts + 1},
                                b.getI32Type()),
        [&](ImplicitLocOpBuilder &nb, ValueRange) -> Value {
          Value expert = toI32(nb, linalg::IndexOp::create(nb, 0));
          return arith::MulIOp::create(
              nb, expert, i32Constant(nb, static_cast<int32_t>(perExpert)));
        });
    rewriter.replaceOp(op, {castToType(b, rows, op.getRows().getType()),
                            castToType(b, offsets,
                                       op.getExpertOffsets().getType())});
    return success();
  }
};

struct SoftCombineOpLowering : OpRewritePattern<SoftCombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SoftCombineOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(checkF32(rewriter, op, op.getExpertOut())))
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    // C = softmax over the slots of each token's logits.
    Value combineWeights = createSoftmax(b, op.getLogits());
    Value output =
        createWeightedRowSum(b, combineWeights, op.getExpertOut());
    rewriter.replaceOp(op, castToType(b, output, op.getOutput().getType()));
    return success();
  }
};
} // namespace

void mlir::moe::populateSoftMoEToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<SoftDispatchOpLowering, SoftCombineOpLowering>(
      patterns.getContext());
}
