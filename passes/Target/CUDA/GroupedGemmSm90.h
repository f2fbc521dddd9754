//===- GroupedGemmSm90.h - the sm_90a GEMM kernel builder -------*- C++ -*-===//
//
// What GroupedGemmSm90.cpp (the host side: checks, TMA descriptors, the
// launch) tells GroupedGemmSm90Kernel.cpp (the kernel) about one grouped
// GEMM. The kernel is built in three parts that a later step can reuse:
// the block's schedule (which rows and columns), the mainloop (TMA loads
// of the weights, the gathered row tile, wgmma) and the epilogue.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PASSES_TARGET_CUDA_GROUPEDGEMMSM90_H
#define MOE_PASSES_TARGET_CUDA_GROUPEDGEMMSM90_H

#include "GemmEpilogue.h"
#include "GroupedGemm.h"

#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

namespace mlir::moe::cuda::sm90 {

/// The depth of one stage: 64 bf16 = one 128-byte swizzle row.
constexpr int64_t kStageDepth = 64;
/// Rows of A one warpgroup multiplies (wgmma's M).
constexpr int64_t kWarpgroupRows = 64;
constexpr int64_t kWarpgroupThreads = 128;

/// One grouped GEMM `out[r, :] = f(A[src(r), :] · W[e(r)]ᵀ)` as the kernel
/// sees it. The kernel's arguments are, in order: one TMA descriptor
/// (`!llvm.ptr`) per weight, `a`, then `rowToken`, `rowScale`, `offsets`
/// when present, then `out`.
struct KernelSpec {
  std::string name;
  GemmTileShape tile;
  GemmEpilogue epilogue = GemmEpilogue::Activate;
  Activation activation = Activation::relu;
  /// Weights: 1, or 2 for a gated gate/up (gate first).
  int64_t numWeights = 1;
  /// Depth K, output columns N (per expert), experts E.
  int64_t depth = 0, columns = 0, experts = 1;
  /// Argument types (null when absent).
  MemRefType aType, rowTokenType, rowScaleType, offsetsType, outType;
  /// The operand whose dim 0 is the row count R: `out` for gate/up,
  /// `a` for down.
  bool rowsFromA = false;

  int64_t threads() const {
    return tile.rows / kWarpgroupRows * kWarpgroupThreads;
  }
  /// Bytes of one ring stage: the row tile, then each weight's tile.
  int64_t stageBytes() const {
    return (tile.rows + numWeights * tile.columns) * kStageDepth * 2;
  }
  /// The ring, plus the slack to align it to the 1024 bytes the 128-byte
  /// swizzle repeats over.
  int64_t dynamicSharedMemoryBytes() const {
    return tile.stages * stageBytes() + 1024;
  }
};

/// The TMA descriptor type of a `[columns, 64]` bf16 weight box.
nvgpu::TensorMapDescriptorType getWeightTensorMapType(MLIRContext *ctx,
                                                      int64_t columns);

/// Builds the kernel into `kernels` (its name made unique there).
gpu::GPUFuncOp buildGroupedGemmKernel(gpu::GPUModuleOp kernels,
                                      const KernelSpec &spec, Location loc);

} // namespace mlir::moe::cuda::sm90

#endif // MOE_PASSES_TARGET_CUDA_GROUPEDGEMMSM90_H
