//===- MoEToLinalg.cpp - the convert-moe-to-linalg pass -------------------===//
//
// Lowers the moe stages to linalg, scf, arith, math and tensor on tensors;
// moe.layer is decomposed on the way. The op families live in
// RouteToLinalg.cpp, DispatchToLinalg.cpp, FfnToLinalg.cpp,
// FusedExpertsToLinalg.cpp, StatsToLinalg.cpp, ExchangeToLinalg.cpp and
// SoftMoEToLinalg.cpp.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToLinalg.h"
#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOLINALG
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::populateMoEToLinalgConversionPatterns(
    RewritePatternSet &patterns, const MoELinalgForm &form) {
  populateMoEDecomposePatterns(patterns);
  populateRouteToLinalgPatterns(patterns, form.tokensPerPart,
                                form.fuseRouterGemm, form.parallelDispatch);
  populateDispatchToLinalgPatterns(patterns, form.parallelDispatch);
  populateFfnToLinalgPatterns(patterns);
  populateFusedExpertsToLinalgPatterns(patterns);
  populateStatsToLinalgPatterns(patterns);
  populateSoftMoEToLinalgPatterns(patterns);
  populateExchangeToLinalgPatterns(patterns);
}

namespace {
struct ConvertMoEToLinalgPass
    : public mlir::moe::impl::ConvertMoEToLinalgBase<ConvertMoEToLinalgPass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect>();
    target.addIllegalDialect<MoEDialect>();
    // The kernel layer is what moe.fused_experts and moe.all_to_all lower
    // to; routing splits its tokens among workers; the rank is the
    // runtime's.
    target.addLegalOp<GatherGateUpOp, DownScatterAddOp, ExchangeCountsOp,
                      ExchangeRowsOp, ExchangeRowsStartOp, ExchangeWaitOp,
                      NumWorkersOp, RankOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateMoEToLinalgConversionPatterns(
        patterns, MoELinalgForm{tokensPerPart, parallelDispatch,
                                fuseRouterGemm});
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
