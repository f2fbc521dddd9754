//===- Decompose.cpp - moe.layer into its stages --------------------------===//
//
// Implements `moe-decompose`: every moe.layer becomes the router GEMM (with
// its bias and input normalisation), routing, dispatch, the grouped expert FFN,
// combine and the shared expert (Soft MoE: soft dispatch, the grouped FFN over
// the slots, soft combine), the form that fusion, expert parallelism and
// lowering work on.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Transforms/Passes.h"
#include "moe/Transforms/RmsNorm.h"
#include "moe/Transforms/RouterLogits.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEDECOMPOSE
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
/// The types of an expert-major row bundle for `numExperts` experts.
SmallVector<Type, 4> rowBundleTypes(OpBuilder &b, RankedTensorType inputType,
                                    int64_t numExperts) {
  int64_t dynamic = ShapedType::kDynamic;
  return {RankedTensorType::get({dynamic, inputType.getDimSize(1)},
                                inputType.getElementType()),
          RankedTensorType::get({dynamic}, b.getI32Type()),
          RankedTensorType::get({dynamic}, b.getF32Type()),
          RankedTensorType::get({numExperts + 1}, b.getI32Type())};
}

/// Soft MoE's routed output: slot inputs mixed over the tokens, each
/// expert's FFN on its slots, slot outputs mixed back per token.
Value buildSoftMoE(OpBuilder &b, Location loc, LayerOp op, Value logits,
                   SoftMoEAttr soft) {
  RankedTensorType inputType = op.getInput().getType();
  auto rowsType = RankedTensorType::get(
      {ShapedType::kDynamic, inputType.getDimSize(1)},
      inputType.getElementType());
  auto offsetsType =
      RankedTensorType::get({op.getNumExperts() + 1}, b.getI32Type());
  auto dispatch = SoftDispatchOp::create(b, loc, rowsType, offsetsType,
                                         op.getInput(), logits, soft);
  Value slotOut = ExpertMlpOp::create(
      b, loc, rowsType, dispatch.getRows(), dispatch.getExpertOffsets(),
      op.getExpertGate(), op.getExpertUp(), op.getExpertDown(), Value(),
      op.getExpertGateBias(), op.getExpertUpBias(), op.getExpertDownBias(),
      op.getActivation(), op.getGluClampAttr());
  return SoftCombineOp::create(b, loc, inputType, slotOut, logits);
}

/// `sum` / 2, elementwise: the sum times an f32 0.5 splat, exact as the
/// division (a power of two).
Value halve(OpBuilder &b, Location loc, Value sum) {
  auto type = cast<RankedTensorType>(sum.getType());
  SmallVector<Value> dynamicSizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynamicSizes.push_back(tensor::DimOp::create(b, loc, sum, d));
  Value empty = tensor::EmptyOp::create(b, loc, type, dynamicSizes);
  Value half = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(type.getElementType(), 0.5));
  Value halves = linalg::FillOp::create(b, loc, half, empty).getResult(0);
  return arith::MulFOp::create(b, loc, sum, halves);
}

/// `value` through the layer's RMSNorm of weight `weight`, or as it is
/// when the layer has no such norm.
Value applyNorm(OpBuilder &b, Location loc, LayerOp op, Value value,
                Value weight) {
  if (!weight)
    return value;
  return buildRmsNorm(b, loc, value, op.getNormEpsilonAttr().getValueAsDouble(),
                      weight, /*multiplier=*/1.0,
                      getElementTypeOrSelf(value.getType()));
}

/// `routed` plus the layer's shared expert, when it has one (their average
/// under `shared_combine = average`), each through its norms, then the
/// output norm.
Value addSharedExpert(OpBuilder &b, Location loc, LayerOp op, Value routed) {
  routed = applyNorm(b, loc, op, routed, op.getExpertOutputNorm());
  if (!op.hasSharedExpert())
    return applyNorm(b, loc, op, routed, op.getOutputNorm());
  Value sharedInput =
      applyNorm(b, loc, op, op.getInput(), op.getSharedInputNorm());
  Value shared = SharedMlpOp::create(
      b, loc, op.getInput().getType(), sharedInput, op.getSharedGate(),
      op.getSharedUp(), op.getSharedDown(), op.getSharedSigmoidGate(),
      op.getSharedExpertActivation(), op.getSharedExpertGluClamp());
  shared = applyNorm(b, loc, op, shared, op.getSharedOutputNorm());
  Value sum = arith::AddFOp::create(b, loc, routed, shared);
  if (op.averagesSharedExpert())
    sum = halve(b, loc, sum);
  return applyNorm(b, loc, op, sum, op.getOutputNorm());
}

struct DecomposeLayer : OpRewritePattern<LayerOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LayerOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = op.getInput();
    RankedTensorType inputType = op.getInput().getType();
    int64_t numExperts = op.getNumExperts();
    Value logits = buildRouterLogits(rewriter, loc, input, op.getRouterWeight(),
                                     RouterExtras{op.getRouterBias(),
                                                  op.getRouterInputNormAttr(),
                                                  op.getRouterInputScale()});
    if (auto soft = dyn_cast<SoftMoEAttr>(op.getRouter())) {
      rewriter.replaceOp(
          op, addSharedExpert(rewriter, loc, op,
                              buildSoftMoE(rewriter, loc, op, logits, soft)));
      return success();
    }

    // What the experts see: the input, or its norm (Gemma 4); the router
    // reads the input either way. The combine takes the same value (only
    // capacity's dropped = input reads it, and norms exclude capacity), so
    // that moe-fuse-experts sees one row bundle.
    Value expertInput =
        applyNorm(rewriter, loc, op, input, op.getExpertInputNorm());

    // Route and dispatch into the expert-major row bundle.
    SmallVector<Type, 4> bundleTypes =
        rowBundleTypes(rewriter, inputType, numExperts);
    ValueRange bundle;
    if (auto routing = dyn_cast<RoutingAttr>(op.getRouter())) {
      auto slotType = [&](Type element) {
        return RankedTensorType::get(
            {inputType.getDimSize(0), routing.getTopK()}, element);
      };
      auto route = RouteOp::create(
          rewriter, loc, slotType(rewriter.getF32Type()),
          slotType(rewriter.getI32Type()), logits, op.getCorrectionBias(),
          op.getExpertScale(), op.getExpertTable(), op.getTokenIds(), routing);
      // Zero (identity) experts are routed over E + Z logits; their slots
      // follow the real experts' rows, for the combine to pass through.
      bundle = DispatchOp::create(rewriter, loc, bundleTypes, expertInput,
                                  route.getExperts(), route.getWeights(),
                                  op.getCapacityAttr(), op.getZeroExpertsAttr())
                   .getResults();
    } else {
      bundle = ExpertChoiceOp::create(rewriter, loc, bundleTypes, expertInput,
                                      logits,
                                      cast<ExpertChoiceAttr>(op.getRouter()))
                   .getResults();
    }
    Value rows = bundle[0], rowToken = bundle[1], rowWeight = bundle[2],
          offsets = bundle[3];

    // The routing weight scales either the expert input or its output.
    bool scaleInput = op.getScaleExpertInput();
    Value expertOut = ExpertMlpOp::create(
        rewriter, loc, rows.getType(), rows, offsets, op.getExpertGate(),
        op.getExpertUp(), op.getExpertDown(), scaleInput ? rowWeight : Value(),
        op.getExpertGateBias(), op.getExpertUpBias(), op.getExpertDownBias(),
        op.getActivation(), op.getGluClampAttr());
    // An identity expert adds its weighted input, as a dropped slot does
    // under dropped = input.
    DroppedSlot dropped = op.getCapacityAttr()
                              ? op.getCapacityAttr().getDropped()
                              : DroppedSlot::zero;
    if (op.getZeroExperts())
      dropped = DroppedSlot::input;
    // The block's output bias is where every token's sum starts.
    Value output = CombineOp::create(
        rewriter, loc, inputType, expertOut, rowToken,
        scaleInput ? Value() : rowWeight, offsets, expertInput,
        op.getOutputBias(), dropped);
    rewriter.replaceOp(op, addSharedExpert(rewriter, loc, op, output));
    return success();
  }
};

struct MoEDecomposePass
    : public mlir::moe::impl::MoEDecomposeBase<MoEDecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMoEDecomposePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::moe::populateMoEDecomposePatterns(RewritePatternSet &patterns) {
  patterns.add<DecomposeLayer>(patterns.getContext());
}
