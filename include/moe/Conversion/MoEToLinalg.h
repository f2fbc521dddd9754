//===- MoEToLinalg.h - moe stages to linalg on tensors ----------*- C++ -*-===//
//
// Pattern sets of `convert-moe-to-linalg`, one per op family.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_MOETOLINALG_H
#define MOE_CONVERSION_MOETOLINALG_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>

namespace mlir {
class RewritePatternSet;

namespace moe {
/// Marks the router GEMM (a linalg.matmul producing moe.route's logits)
/// that convert-moe-to-linalg{fuse-router-gemm=false} left whole, for a
/// target to generate it (moe-cuda-lower-router-gemm).
constexpr llvm::StringLiteral kRouterGemmAttr = "moe.router_gemm";

/// The shape convert-moe-to-linalg gives the code (its options of the same
/// names): a target's choice. The defaults are the CPU's.
struct MoELinalgForm {
  /// Tokens of each routing part (0: one part per worker).
  int64_t tokensPerPart = 0;
  /// The permutation as parallel ops rather than loops over the slots.
  bool parallelDispatch = false;
  /// The router GEMM inside each routing part, or left whole.
  bool fuseRouterGemm = true;
};

/// moe.route and moe.expert_choice; `tokensPerPart`, `fuseRouterGemm` and
/// `parallelScatter` as the pass options `tokens-per-part` (0: one part per
/// worker), `fuse-router-gemm` and `parallel-dispatch` (expert choice's
/// rows found by a parallel gather).
void populateRouteToLinalgPatterns(RewritePatternSet &patterns,
                                   int64_t tokensPerPart = 0,
                                   bool fuseRouterGemm = true,
                                   bool parallelScatter = false);
/// moe.dispatch and moe.combine; `parallelDispatch` as the pass option
/// `parallel-dispatch` (the permutation as parallel ops).
void populateDispatchToLinalgPatterns(RewritePatternSet &patterns,
                                      bool parallelDispatch = false);
/// moe.expert_mlp and moe.shared_mlp.
void populateFfnToLinalgPatterns(RewritePatternSet &patterns);
/// moe.fused_experts to the grouped moe.gather_gate_up / moe.down_scatter_add.
void populateFusedExpertsToLinalgPatterns(RewritePatternSet &patterns);
/// moe.place, moe.received_order and moe.all_to_all (to the exchange ops of
/// the kernel layer).
void populateExchangeToLinalgPatterns(RewritePatternSet &patterns);
/// moe.routing_stats.
void populateStatsToLinalgPatterns(RewritePatternSet &patterns);
/// moe.soft_dispatch and moe.soft_combine (Soft MoE).
void populateSoftMoEToLinalgPatterns(RewritePatternSet &patterns);
/// All of the above, plus the decomposition of moe.layer.
void populateMoEToLinalgConversionPatterns(RewritePatternSet &patterns,
                                           const MoELinalgForm &form = {});
} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_MOETOLINALG_H
