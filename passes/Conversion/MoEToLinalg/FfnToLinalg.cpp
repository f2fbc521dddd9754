//===- FfnToLinalg.cpp - expert and shared FFNs to linalg -----------------===//
//
// moe.expert_mlp as a parallel loop (scf.forall) over experts, each a
// transposed-B matmul pair on the expert's contiguous rows with the
// activation between them; and
// moe.shared_mlp as one such FFN over all tokens.
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
/// Expert `e`'s `[A,B]` slice of a stacked `[E,A,B]` weight.
Value expertSlice(ImplicitLocOpBuilder &b, Value stacked, Value expert) {
  if (!stacked)
    return Value();
  int64_t rows = cast<RankedTensorType>(stacked.getType()).getDimSize(1);
  return extractStackedRows(b, stacked, expert, b.getIndexAttr(0),
                            b.getIndexAttr(rows));
}

/// Expert `e`'s row `[N]` of a stacked bias `[E,N]`.
Value expertBias(ImplicitLocOpBuilder &b, Value stacked, Value expert) {
  if (!stacked)
    return Value();
  auto type = cast<RankedTensorType>(stacked.getType());
  int64_t width = type.getDimSize(1);
  return tensor::ExtractSliceOp::create(
      b, RankedTensorType::get({width}, type.getElementType()), stacked,
      ArrayRef<OpFoldResult>{expert, b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(width)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
}

LogicalResult checkF32(PatternRewriter &rewriter, Operation *op, Value value) {
  if (cast<RankedTensorType>(value.getType()).getElementType().isF32())
    return success();
  return rewriter.notifyMatchFailure(op, "only f32 activations lower");
}

struct ExpertMlpOpLowering : OpRewritePattern<ExpertMlpOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ExpertMlpOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(checkF32(rewriter, op, op.getRows())))
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    MLIRContext *ctx = b.getContext();
    int64_t numExperts = op.getExpertOffsets().getType().getDimSize(0) - 1;
    int64_t hidden = op.getRows().getType().getDimSize(1);
    Value rows = op.getRows(), offsets = op.getExpertOffsets();
    Value output = createFilled(b, getSizes(b, rows), f32Constant(b, 0));
    Location loc = b.getLoc();
    // Experts own disjoint row ranges: an scf.forall whose iterations may
    // run in parallel, each inserting its rows into the shared output.
    auto loop = scf::ForallOp::create(
        b, ArrayRef<OpFoldResult>{b.getIndexAttr(numExperts)}, output,
        std::nullopt, [&](OpBuilder &nested, Location, ValueRange args) {
          ImplicitLocOpBuilder nb(loc, nested);
          Value expert = args[0], shared = args[1];
          auto [start, count] = expertRowRange(nb, offsets, expert);
          OpFoldResult zero = nb.getIndexAttr(0), one = nb.getIndexAttr(1);
          SmallVector<OpFoldResult> rowOffsets = {start, zero};
          SmallVector<OpFoldResult> rowSizes = {count, nb.getIndexAttr(hidden)};
          SmallVector<OpFoldResult> unit = {one, one};
          Value expertRows = tensor::ExtractSliceOp::create(
              nb, rows, rowOffsets, rowSizes, unit);
          if (Value scale = op.getScale()) {
            Value rowScale = tensor::ExtractSliceOp::create(
                nb, scale, ArrayRef<OpFoldResult>{start},
                ArrayRef<OpFoldResult>{count}, ArrayRef<OpFoldResult>{one});
            expertRows = createElementwise(
                nb, ValueRange{expertRows, rowScale},
                tensor::EmptyOp::create(nb, rowSizes, nb.getF32Type()),
                [](ImplicitLocOpBuilder &eb, ValueRange args) -> Value {
                  return arith::MulFOp::create(eb, args[0], args[1]);
                },
                {AffineMap::getMultiDimIdentityMap(2, ctx),
                 AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx)});
          }
          Value gate = expertSlice(nb, op.getGate(), expert);
          Value up = expertSlice(nb, op.getUp(), expert);
          Value down = expertSlice(nb, op.getDown(), expert);
          FfnBiases biases{expertBias(nb, op.getGateBias(), expert),
                           expertBias(nb, op.getUpBias(), expert),
                           expertBias(nb, op.getDownBias(), expert)};
          Value result =
              createFfn(nb, op.getActivation(), op.getGluClampAttr(),
                        expertRows, gate, up, down, biases);
          auto inParallel = scf::InParallelOp::create(nb);
          nb.setInsertionPointToStart(&inParallel.getRegion().front());
          tensor::ParallelInsertSliceOp::create(nb, result, shared, rowOffsets,
                                                rowSizes, unit);
        });
    rewriter.replaceOp(
        op, castToType(b, loop.getResult(0), op.getOutput().getType()));
    return success();
  }
};

struct SharedMlpOpLowering : OpRewritePattern<SharedMlpOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SharedMlpOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(checkF32(rewriter, op, op.getInput())))
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    MLIRContext *ctx = b.getContext();
    // The kernel layer's pair, as the fused experts' shared expert: a
    // target packs and tiles it like the experts (under expert parallelism
    // the shared expert stays outside the fused op).
    Value output = addDenseFfnKernels(
        b, op.getActivation(), op.getGluClampAttr(), op.getInput(),
        op.getGate(), op.getUp(), op.getDown(), createFilled(b, getSizes(b, op.getInput()),
                                   f32Constant(b, 0)));
    if (Value sigmoidGate = op.getSigmoidGate()) {
      // Scale each token by sigmoid(x·w): [T,1] broadcast over H.
      Value gate = createMatmulTransposeB(b, op.getInput(), sigmoidGate);
      output = createElementwise(
          b, ValueRange{output, gate},
          tensor::EmptyOp::create(b, getSizes(b, output), b.getF32Type()),
          [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
            return arith::MulFOp::create(nb, args[0],
                                         createSigmoid(nb, args[1]));
          },
          {AffineMap::getMultiDimIdentityMap(2, ctx),
           AffineMap::get(
               2, 0, {getAffineDimExpr(0, ctx), getAffineConstantExpr(0, ctx)},
               ctx)});
    }
    rewriter.replaceOp(op, castToType(b, output, op.getOutput().getType()));
    return success();
  }
};
} // namespace

void mlir::moe::populateFfnToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<ExpertMlpOpLowering, SharedMlpOpLowering>(patterns.getContext());
}
