//===- LowerGroupedGemm.cpp - the grouped expert GEMMs as GPU kernels ------===//
//
// Implements `moe-cuda-lower-grouped-gemm`: every expert kernel op on
// buffers becomes the launch of a generated tensor-core kernel for the
// requested architecture (GroupedGemmSm90.cpp, GroupedGemmSm80.cpp).
//
// The row count is known only at run time, and decode (a few rows per
// expert) wants narrow tiles that spread the weight reads over every SM
// while prefill wants wide ones that reuse them. Each op therefore gets
// two launches under an scf.if on its row count; the variants differ in
// their tiles only, never in the order of the depth reduction, so a row's
// result is the same bits whichever runs.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/CUDA/Passes.h"

#include "GroupedGemm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOECUDALOWERGROUPEDGEMM
#include "moe/Target/CUDA/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
enum class Arch { Sm80, Sm90a };

/// Prefill's tiles: a block reuses each weight tile over many rows.
cuda::GemmTileShape wideTiles(Arch arch) {
  if (arch == Arch::Sm90a)
    return {/*rows=*/128, /*columns=*/128, /*depth=*/64, /*stages=*/4};
  return {/*rows=*/128, /*columns=*/128, /*depth=*/32, /*stages=*/2};
}

/// Decode's tiles: the smallest row tile the instructions allow and
/// narrow columns, so that the few rows of each expert are spread over
/// many blocks that together stream its weights once.
cuda::GemmTileShape narrowTiles(Arch arch) {
  if (arch == Arch::Sm90a)
    return {/*rows=*/64, /*columns=*/64, /*depth=*/64, /*stages=*/4};
  return {/*rows=*/16, /*columns=*/64, /*depth=*/32, /*stages=*/2};
}

LogicalResult lowerOne(RewriterBase &rewriter, Operation *op, Arch arch,
                       gpu::GPUModuleOp kernels,
                       const cuda::GemmTileShape &tile) {
  if (auto gateUp = dyn_cast<GatherGateUpOp>(op))
    return arch == Arch::Sm90a
               ? cuda::lowerGatherGateUpSm90(rewriter, gateUp, kernels, tile)
               : cuda::lowerGatherGateUpSm80(rewriter, gateUp, kernels, tile);
  auto down = cast<DownScatterAddOp>(op);
  return arch == Arch::Sm90a
             ? cuda::lowerDownScatterAddSm90(rewriter, down, kernels, tile)
             : cuda::lowerDownScatterAddSm80(rewriter, down, kernels, tile);
}

struct MoECUDALowerGroupedGemmPass
    : public mlir::moe::impl::MoECUDALowerGroupedGemmBase<
          MoECUDALowerGroupedGemmPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Arch arch;
    if (gpuArch == "sm_90a") {
      arch = Arch::Sm90a;
    } else if (gpuArch == "sm_80") {
      arch = Arch::Sm80;
    } else {
      module.emitError() << "moe-cuda-lower-grouped-gemm: gpu-arch '"
                         << gpuArch << "' is not sm_90a or sm_80";
      return signalPassFailure();
    }
    SmallVector<Operation *> ops;
    bool onTensors = false;
    module.walk([&](Operation *op) {
      if (!isa<GatherGateUpOp, DownScatterAddOp>(op))
        return;
      if (op->getNumResults() != 0) {
        op->emitOpError("must be bufferized before moe-cuda-lower-grouped-"
                        "gemm (run moe-bufferize first)");
        onTensors = true;
      }
      ops.push_back(op);
    });
    if (onTensors)
      return signalPassFailure();
    if (ops.empty())
      return;
    gpu::GPUModuleOp kernels = cuda::getOrCreateKernelModule(module);
    IRRewriter rewriter(&getContext());
    for (Operation *op : ops) {
      if (failed(lowerVariants(rewriter, op, arch, kernels)))
        return signalPassFailure();
    }
  }

  /// `if rows <= E·wide.rows/2 { narrow } else { wide }`: decode when an
  /// expert has on average less than half a wide tile of rows.
  LogicalResult lowerVariants(RewriterBase &rewriter, Operation *op,
                              Arch arch, gpu::GPUModuleOp kernels) {
    cuda::GemmTileShape wide = wideTiles(arch), narrow = narrowTiles(arch);
    int64_t experts = isa<GatherGateUpOp>(op)
                          ? cast<GatherGateUpOp>(op).getNumExperts()
                          : cast<DownScatterAddOp>(op).getNumExperts();
    Value rowsOperand = isa<GatherGateUpOp>(op)
                            ? cast<GatherGateUpOp>(op).getInit()
                            : cast<DownScatterAddOp>(op).getRows();
    ImplicitLocOpBuilder b(op->getLoc(), op);
    Value rows = memref::DimOp::create(b, rowsOperand, 0);
    Value threshold =
        arith::ConstantIndexOp::create(b, experts * wide.rows / 2);
    Value small =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ule, rows, threshold);
    auto branch = scf::IfOp::create(b, small, /*withElseRegion=*/true);
    Operation *narrowOp =
        branch.getThenBodyBuilder().clone(*op);
    Operation *wideOp = branch.getElseBodyBuilder().clone(*op);
    rewriter.eraseOp(op);
    if (failed(lowerOne(rewriter, narrowOp, arch, kernels, narrow)))
      return failure();
    return lowerOne(rewriter, wideOp, arch, kernels, wide);
  }
};
} // namespace
