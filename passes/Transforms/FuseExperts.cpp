//===- FuseExperts.cpp - expert FFN, combine and shared expert as one op --===//
//
// Implements `moe-fuse-experts`: a moe.expert_mlp whose rows a dispatch
// gathered and whose output a moe.combine scatters back becomes one
// moe.fused_experts that reads the rows through the token list and adds
// the down projection straight into the output; a moe.shared_mlp added to
// it joins it. The row bundle and the per-row expert output are then never
// materialised, and lowering can split every projection's columns among
// threads, routed and shared experts alike.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSEEXPERTS
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
/// The op that gathered an expert-major row bundle (results rows,
/// row_token, row_weight, expert_offsets) from `input`, if any.
Operation *rowBundleProducer(Value rows, Value &input) {
  Operation *producer = rows.getDefiningOp();
  if (auto dispatch = dyn_cast_or_null<DispatchOp>(producer)) {
    input = dispatch.getInput();
    return producer;
  }
  if (auto choice = dyn_cast_or_null<ExpertChoiceOp>(producer)) {
    input = choice.getInput();
    return producer;
  }
  return nullptr;
}

struct FuseExpertMlpIntoCombine : OpRewritePattern<CombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CombineOp combine,
                                PatternRewriter &rewriter) const override {
    auto mlp = combine.getExpertOut().getDefiningOp<ExpertMlpOp>();
    if (!mlp || !mlp->hasOneUse())
      return rewriter.notifyMatchFailure(combine, "not fed by one expert_mlp");
    Value input;
    Operation *producer = rowBundleProducer(mlp.getRows(), input);
    if (!producer || mlp.getRows() != producer->getResult(0) ||
        input != combine.getInput())
      return rewriter.notifyMatchFailure(combine,
                                         "rows are not the input gathered");
    // Every bundle operand must come from the same gather.
    Value rowToken = producer->getResult(1), rowWeight = producer->getResult(2),
          offsets = producer->getResult(3);
    if (combine.getRowToken() != rowToken ||
        combine.getExpertOffsets() != offsets ||
        mlp.getExpertOffsets() != offsets ||
        (combine.getRowWeight() && combine.getRowWeight() != rowWeight) ||
        (mlp.getScale() && mlp.getScale() != rowWeight))
      return rewriter.notifyMatchFailure(combine, "mixed row bundles");
    if (mlp.getScale() && combine.getRowWeight())
      return rewriter.notifyMatchFailure(combine, "weight applied twice");

    bool scaleInput = static_cast<bool>(mlp.getScale());
    Value weight = scaleInput ? mlp.getScale() : combine.getRowWeight();
    rewriter.replaceOpWithNewOp<FusedExpertsOp>(
        combine, combine.getType(), input, rowToken, weight, offsets,
        mlp.getGate(), mlp.getUp(), mlp.getDown(), Value(), Value(), Value(),
        mlp.getGateBias(), mlp.getUpBias(), mlp.getDownBias(),
        combine.getOutputBias(), mlp.getActivation(), scaleInput,
        mlp.getGluClampAttr(), combine.getDropped());
    rewriter.eraseOp(mlp);
    return success();
  }
};

struct FuseSharedExpert : OpRewritePattern<arith::AddFOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(arith::AddFOp add,
                                PatternRewriter &rewriter) const override {
    for (unsigned i = 0; i < 2; ++i) {
      auto fused = add->getOperand(i).getDefiningOp<FusedExpertsOp>();
      auto shared = add->getOperand(1 - i).getDefiningOp<SharedMlpOp>();
      // A sigmoid-gated shared expert (Qwen2-MoE) scales its whole output
      // by a per-token gate and stays as it is.
      if (!fused || !shared || fused.hasSharedExpert() || !fused->hasOneUse() ||
          !shared->hasOneUse() || shared.getSigmoidGate() ||
          shared.getInput() != fused.getInput() ||
          shared.getActivation() != fused.getActivation() ||
          shared.getGluClampAttr() != fused.getGluClampAttr())
        continue;
      rewriter.replaceOpWithNewOp<FusedExpertsOp>(
          add, add.getType(), fused.getInput(), fused.getRowToken(),
          fused.getRowWeight(), fused.getExpertOffsets(), fused.getExpertGate(),
          fused.getExpertUp(), fused.getExpertDown(), shared.getGate(),
          shared.getUp(), shared.getDown(), fused.getExpertGateBias(),
          fused.getExpertUpBias(), fused.getExpertDownBias(),
          fused.getOutputBias(), fused.getActivation(),
          fused.getScaleExpertInput(), fused.getGluClampAttr(),
          fused.getDropped());
      rewriter.eraseOp(fused);
      rewriter.eraseOp(shared);
      return success();
    }
    return rewriter.notifyMatchFailure(add, "not routed plus shared experts");
  }
};

struct MoEFuseExpertsPass
    : public mlir::moe::impl::MoEFuseExpertsBase<MoEFuseExpertsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseExpertMlpIntoCombine, FuseSharedExpert>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
