//===- StatsToLinalg.cpp - routing statistics to linalg -------------------===//
//
// moe.routing_stats: the per-expert load and the routing-weight histogram
// are one counting loop over the slots; router probabilities, their row
// maxima and column means are linalg.generic ops; the scalars are folded
// from those in a short loop over experts. An empty batch gives zeros
// rather than NaN.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "moe/Conversion/MoEToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {
struct RoutingStatsOpLowering : OpRewritePattern<RoutingStatsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RoutingStatsOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    MLIRContext *ctx = b.getContext();
    Value logits = op.getLogits();
    int64_t numExperts = op.getLogits().getType().getDimSize(1);
    SmallVector<OpFoldResult> sizes = getSizes(b, logits);
    Value numTokens = getValueOrCreateConstantIndexOp(b, b.getLoc(), sizes[0]);
    Value zero = f32Constant(b, 0.0f), one = f32Constant(b, 1.0f);
    Value c0 = indexConstant(b, 0), c1 = indexConstant(b, 1);

    // Load (slots per expert) and the weight histogram, counted in one
    // pass over the slots: bin = clamp(floor(w · B/range), 0, B-1), where
    // maxnumf sends NaN to bin 0.
    auto collapse = [&](Value slotValues) -> Value {
      return tensor::CollapseShapeOp::create(
          b, slotValues, ArrayRef<ReassociationIndices>{{0, 1}});
    };
    Value slots = collapse(op.getExperts());
    Value slotWeights = collapse(op.getWeights());
    Value numSlots =
        getValueOrCreateConstantIndexOp(b, b.getLoc(), getSizes(b, slots)[0]);
    int64_t numBins = op.getWeightHistogram().getType().getDimSize(0);
    Value binsPerWeight = f32Constant(
        b, static_cast<float>(static_cast<double>(numBins) /
                              op.getWeightRange().convertToDouble()));
    Value lastBin = f32Constant(b, static_cast<float>(numBins - 1));
    Value zeroCount = arith::ConstantOp::create(b, b.getI64IntegerAttr(0));
    Location loc = b.getLoc();
    auto counts = scf::ForOp::create(
        b, c0, numSlots, c1,
        ValueRange{createFilled(b, {b.getIndexAttr(numExperts)}, zeroCount),
                   createFilled(b, {b.getIndexAttr(numBins)}, zeroCount)},
        [&](OpBuilder &nested, Location, Value s, ValueRange iter) {
          ImplicitLocOpBuilder nb(loc, nested);
          Value oneCount =
              arith::ConstantOp::create(nb, nb.getI64IntegerAttr(1));
          auto increment = [&](Value counts, Value index) -> Value {
            Value old = tensor::ExtractOp::create(nb, counts, index);
            return tensor::InsertOp::create(
                nb, arith::AddIOp::create(nb, old, oneCount), counts, index);
          };
          Value e = arith::IndexCastOp::create(
              nb, nb.getIndexType(), tensor::ExtractOp::create(nb, slots, s));
          Value scaled = arith::MulFOp::create(
              nb, tensor::ExtractOp::create(nb, slotWeights, s), binsPerWeight);
          Value clamped = arith::MinNumFOp::create(
              nb, arith::MaxNumFOp::create(nb, scaled, zero), lastBin);
          Value bin = arith::IndexCastUIOp::create(
              nb, nb.getIndexType(),
              arith::FPToUIOp::create(nb, nb.getI64Type(), clamped));
          scf::YieldOp::create(
              nb, ValueRange{increment(iter[0], e), increment(iter[1], bin)});
        });
    Value load = counts.getResult(0);

    // Router probabilities: softmax, or sigmoids normalised per token.
    Value probs;
    if (op.getScoring() == ScoringFunc::softmax) {
      probs = createSoftmax(b, logits);
    } else {
      Value scratch = tensor::EmptyOp::create(b, sizes, b.getF32Type());
      Value sig = createElementwise(
          b, logits, scratch, [](ImplicitLocOpBuilder &nb, ValueRange args) {
            return createSigmoid(nb, args[0]);
          });
      Value rowSum = createReduction(b, sig, createFilled(b, {sizes[0]}, zero),
                                     /*overRows=*/false, createAddF);
      probs = createElementwise(
          b, ValueRange{sig, rowSum}, scratch,
          [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
            return arith::DivFOp::create(nb, args[0], args[1]);
          },
          {AffineMap::getMultiDimIdentityMap(2, ctx),
           AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx)});
    }
    Value rowMax = createRowMax(b, probs);
    Value confidenceSum = tensor::ExtractOp::create(
        b,
        linalg::ReduceOp::create(
            b, ValueRange{rowMax}, ValueRange{createFilled(b, {}, zero)},
            ArrayRef<int64_t>{0},
            [](OpBuilder &nested, Location l, ValueRange args) {
              linalg::YieldOp::create(nested, l,
                                      ValueRange{arith::AddFOp::create(
                                          nested, l, args[0], args[1])});
            })
            .getResult(0),
        ValueRange{});
    Value probSums = createReduction(
        b, probs, createFilled(b, {b.getIndexAttr(numExperts)}, zero),
        /*overRows=*/true, createAddF);

    // Scalars over experts: Σ -p·log p, max load, Σ load·P.
    auto toF32 = [&](ImplicitLocOpBuilder &nb, Value index) -> Value {
      return arith::UIToFPOp::create(
          nb, nb.getF32Type(),
          arith::IndexCastUIOp::create(nb, nb.getI64Type(), index));
    };
    Value tokens = toF32(b, numTokens);
    Value slotsF = toF32(b, numSlots);
    auto sums = scf::ForOp::create(
        b, c0, indexConstant(b, numExperts), c1, ValueRange{zero, zero, zero},
        [&](OpBuilder &nested, Location, Value e, ValueRange iter) {
          ImplicitLocOpBuilder nb(loc, nested);
          Value count = arith::UIToFPOp::create(
              nb, nb.getF32Type(), tensor::ExtractOp::create(nb, load, e));
          Value share = arith::DivFOp::create(nb, count, slotsF);
          Value used =
              arith::CmpFOp::create(nb, arith::CmpFPredicate::OGT, count, zero);
          Value term = arith::SelectOp::create(
              nb, used,
              arith::MulFOp::create(nb, share, math::LogOp::create(nb, share)),
              zero);
          Value entropy = arith::SubFOp::create(nb, iter[0], term);
          Value maxLoad = arith::MaximumFOp::create(nb, iter[1], count);
          Value aux = arith::AddFOp::create(
              nb, iter[2],
              arith::MulFOp::create(
                  nb, count, tensor::ExtractOp::create(nb, probSums, e)));
          scf::YieldOp::create(nb, ValueRange{entropy, maxLoad, aux});
        });

    // An empty batch has no statistics: zeros, not 0/0.
    Value empty =
        arith::CmpIOp::create(b, arith::CmpIPredicate::eq, numTokens, c0);
    auto guard = [&](Value value) -> Value {
      return arith::SelectOp::create(b, empty, zero, value);
    };
    Value logE = f32Constant(b, std::log(static_cast<float>(numExperts)));
    Value entropy = numExperts > 1
                        ? arith::DivFOp::create(b, sums.getResult(0), logE)
                        : one;
    Value maxShare = arith::DivFOp::create(b, sums.getResult(1), slotsF);
    Value confidence = arith::DivFOp::create(b, confidenceSum, tokens);
    // E · Σ_e (load_e / T) · (Σ_t p_te / T)
    Value aux = arith::MulFOp::create(
        b, f32Constant(b, static_cast<float>(numExperts)),
        arith::DivFOp::create(b, sums.getResult(2),
                              arith::MulFOp::create(b, tokens, tokens)));
    rewriter.replaceOp(op, {castToType(b, load, op.getLoad().getType()),
                            guard(entropy), guard(maxShare), guard(confidence),
                            guard(aux),
                            castToType(b, counts.getResult(1),
                                       op.getWeightHistogram().getType())});
    return success();
  }
};
} // namespace

void mlir::moe::populateStatsToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<RoutingStatsOpLowering>(patterns.getContext());
}
