//===- DistributeColumns.cpp - expert kernels' columns over threads -------===//
//
// Implements `moe-cpu-distribute-columns`: each expert kernel op on tensors
// is tiled through its TilingInterface into an scf.forall with one chunk of
// output columns per worker, in multiples of the micro-kernels' tile of
// two panels. The forall becomes an OpenMP loop later in the pipeline.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/CPU/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOECPUDISTRIBUTECOLUMNS
#include "moe/Target/CPU/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
/// Chunks are multiples of this many output columns: the kernels' tile of
/// two panels (gated: a gate and an up panel).
constexpr int64_t kColumnGranule = 2 * MOE_UKERNEL_PANEL;

/// The chunk of column units each worker gets: the units split evenly
/// over the workers, rounded up to whole granules, at least one granule.
Value chunkSize(OpBuilder &b, Location loc, OpFoldResult units,
                int64_t granule) {
  Value extent = getValueOrCreateConstantIndexOp(b, loc, units);
  Value step = arith::ConstantIndexOp::create(b, loc, granule);
  Value perWorker = arith::CeilDivUIOp::create(
      b, loc, extent, NumWorkersOp::create(b, loc).getResult());
  Value rounded = arith::MulIOp::create(
      b, loc, arith::CeilDivUIOp::create(b, loc, perWorker, step), step);
  return arith::MaxUIOp::create(b, loc, rounded, step);
}

struct MoECPUDistributeColumnsPass
    : public mlir::moe::impl::MoECPUDistributeColumnsBase<
          MoECPUDistributeColumnsPass> {
  void runOnOperation() override {
    SmallVector<TilingInterface> ops;
    getOperation()->walk([&](Operation *op) {
      // Already distributed ops (in a forall) are left as they are.
      if (isa<GatherGateUpOp, DownScatterAddOp>(op) &&
          op->getNumResults() == 1 && !op->getParentOfType<scf::ForallOp>())
        ops.push_back(cast<TilingInterface>(op));
    });
    IRRewriter rewriter(&getContext());
    for (TilingInterface op : ops) {
      WeightLayoutAttr layout =
          isa<GatherGateUpOp>(op) ? cast<GatherGateUpOp>(op).getLayout()
                                  : cast<DownScatterAddOp>(op).getLayout();
      // The domain's columns are panels when packed: a chunk must start on
      // a panel.
      int64_t perUnit = layout.getColumnsPerUnit();
      if (kColumnGranule % perUnit != 0) {
        op.emitOpError() << "panel width " << perUnit
                         << " does not divide the column chunk of "
                         << kColumnGranule;
        return signalPassFailure();
      }
      rewriter.setInsertionPoint(op);
      Location loc = op.getLoc();
      SmallVector<Range> domain = op.getIterationDomain(rewriter);
      Value chunk =
          chunkSize(rewriter, loc, domain[1].size, kColumnGranule / perUnit);
      scf::SCFTilingOptions options;
      options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
      options.setTileSizes({rewriter.getIndexAttr(0), chunk});
      FailureOr<scf::SCFTilingResult> tiled =
          scf::tileUsingSCF(rewriter, op, options);
      if (failed(tiled)) {
        op.emitOpError("could not be tiled into column chunks");
        return signalPassFailure();
      }
      rewriter.replaceOp(op, tiled->replacements);
    }
  }
};
} // namespace
