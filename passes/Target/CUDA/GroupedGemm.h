//===- GroupedGemm.h - the grouped expert GEMM kernels (internal) -*- C++ -*-===//
//
// What the files of moe-cuda-lower-grouped-gemm share: the pass
// (LowerGroupedGemm.cpp) picks a tile shape and calls one architecture's
// lowering (GroupedGemmSm90.cpp, GroupedGemmSm80.cpp); those build their
// kernels with the helpers here (TileSchedule.cpp: which rows a block
// computes; the combine kernel of the down GEMM), so that both
// architectures agree on the schedule and on the reduction order.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PASSES_TARGET_CUDA_GROUPEDGEMM_H
#define MOE_PASSES_TARGET_CUDA_GROUPEDGEMM_H

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe::cuda {

/// An `index` constant; the kernel builders spell hundreds of them.
inline Value idx(ImplicitLocOpBuilder &b, int64_t value) {
  return arith::ConstantIndexOp::create(b, value);
}

/// The module's kernels live in one gpu.module of this name.
constexpr llvm::StringLiteral kKernelModuleName = "moe_kernels";

/// The gpu.module holding the generated kernels (created, with the
/// container attribute on `module`, the first time).
gpu::GPUModuleOp getOrCreateKernelModule(ModuleOp module);

/// A block's tile of a grouped GEMM: `rows` rows of one expert by
/// `columns` output columns, the depth walked in steps of `depth`, through
/// `stages` shared-memory buffers (sm_90a's ring; sm_80 double-buffers).
struct GemmTileShape {
  int64_t rows = 128, columns = 128, depth = 64, stages = 4;
};

/// The rows a block computes, found on the device from the group offsets
/// (built by buildRowTileSchedule): tile `t` of the grid's first dimension
/// is the k-th tile of expert e, whose rows are
/// [offsets[e] + k·rows, min(offsets[e] + (k+1)·rows, offsets[e+1])).
/// Tiles never straddle experts, so a block uses one expert's weights.
struct RowTile {
  /// Index of the expert (0 ungrouped).
  Value expert;
  /// First row and one past the last row (index).
  Value rowBegin, rowEnd;
  /// False for the grid's spare blocks past the last tile: they return.
  Value valid;
};

/// The number of row tiles a grouped GEMM over `numRows` rows of
/// `numExperts` experts needs at most: ceil(R / rows) + E (each expert
/// adds at most one partial tile). Built on the host, for the grid size.
Value buildRowTileCount(ImplicitLocOpBuilder &b, Value numRows,
                        int64_t numExperts, int64_t tileRows);

/// Builds, in a kernel, the rows of tile `tile` (index): a walk over the
/// experts' row counts read from `offsets` (a memref<E+1xi32>, or null
/// when ungrouped: then the tile is rows [tile·rows, ...) of `numRows`).
RowTile buildRowTileSchedule(ImplicitLocOpBuilder &b, Value offsets,
                             Value tile, Value numRows, int64_t tileRows);

/// The combine of a down GEMM with `row_token`, built at the builder's
/// insertion point (host code; kernels go into `kernels`, Combine.cpp):
/// `init[t, :] += rowResults[r, :]` for every row r of token t =
/// rowToken[r], each token's rows added in increasing row order whatever
/// the grid (no floating-point atomics). `rowResults` is [R,N] f32 on the
/// device (the down GEMM's weighted rows), `rowToken` [R] i32, `init`
/// [T,N] f32.
LogicalResult buildCombineLaunches(ImplicitLocOpBuilder &b,
                                   gpu::GPUModuleOp kernels, Value rowResults,
                                   Value rowToken, Value init);

// sm_80 and shared

/// A `gpu.func ... kernel` named `name` (renamed if taken) at the end of
/// `kernels`, with `workgroup` shared-memory buffers (128-byte aligned)
/// and `threads` threads a block (known_block_size, so that ptxas budgets
/// registers for it; 0: not said).
/// Its entry block has the arguments then the buffers, no terminator.
gpu::GPUFuncOp createKernel(gpu::GPUModuleOp kernels, Location loc,
                            StringRef name, TypeRange arguments,
                            TypeRange workgroup, int64_t threads);

/// Host code: GPU work queued on one stream, each op after the last
/// (gpu-to-llvm lowers gpu.alloc, gpu.memset and gpu.dealloc only in
/// their async form). Starts with `gpu.wait async`; `finish` blocks until
/// the stream is done.
class StreamChain {
public:
  explicit StreamChain(ImplicitLocOpBuilder &b);
  /// A device buffer of `type` with `sizes` for its dynamic dimensions.
  Value alloc(MemRefType type, ValueRange sizes);
  void memset(Value buffer, Value value);
  void launch(gpu::GPUFuncOp kernel, gpu::KernelDim3 grid,
              gpu::KernelDim3 block, ValueRange arguments);
  void dealloc(Value buffer);
  void finish();

private:
  ImplicitLocOpBuilder &b;
  Value token;
};

/// Replaces `op` (on buffers) with the launch of a generated kernel.
/// Each returns failure after reporting on `op` what it cannot handle.
LogicalResult lowerGatherGateUpSm90(RewriterBase &rewriter,
                                    GatherGateUpOp op,
                                    gpu::GPUModuleOp kernels,
                                    const GemmTileShape &tile);
LogicalResult lowerDownScatterAddSm90(RewriterBase &rewriter,
                                      DownScatterAddOp op,
                                      gpu::GPUModuleOp kernels,
                                      const GemmTileShape &tile);
LogicalResult lowerGatherGateUpSm80(RewriterBase &rewriter,
                                    GatherGateUpOp op,
                                    gpu::GPUModuleOp kernels,
                                    const GemmTileShape &tile);
LogicalResult lowerDownScatterAddSm80(RewriterBase &rewriter,
                                      DownScatterAddOp op,
                                      gpu::GPUModuleOp kernels,
                                      const GemmTileShape &tile);

} // namespace mlir::moe::cuda

#endif // MOE_PASSES_TARGET_CUDA_GROUPEDGEMM_H
