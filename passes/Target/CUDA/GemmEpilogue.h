//===- GemmEpilogue.h - the grouped GEMMs' per-element epilogue -*- C++ -*-===//
//
// The math a grouped GEMM applies to an output element's f32 sums, in one
// place so that the GPU kernels (GroupedGemmSm80.cpp,
// GroupedGemmSm90Kernel.cpp) and the tiled form that runs on the CPU
// (TileGroupedGemm.cpp) round the same way: the CPU tests of the tiled form
// then vouch for the kernels' epilogues too.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PASSES_TARGET_CUDA_GEMMEPILOGUE_H
#define MOE_PASSES_TARGET_CUDA_GEMMEPILOGUE_H

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::moe::cuda {

/// What an epilogue does with an element's sums.
enum class GemmEpilogue {
  /// gate/up: `act(s·gate, s·up)` (`act(s·up)` ungated).
  Activate,
  /// down with row_token: `w·sum`, a row for the combine.
  StoreRows,
  /// down without row_token: `old + w·sum`.
  AddRows,
};

/// The f32 result of one element. `sums` holds one f32 per weight (gate
/// then up, or down); `factor` is the row's s or w, null for none (no
/// multiply: the same bits as a multiply by 1); `old` is the element's
/// value before, read only by AddRows.
Value buildEpilogueElement(ImplicitLocOpBuilder &b, GemmEpilogue kind,
                           Activation activation, Value factor,
                           ArrayRef<Value> sums, Value old);

/// Refuses, naming the op, a gather_gate_up whose activation the epilogue
/// does not implement: clamped_swiglu, whose glu_clamp the kernels do not
/// carry (moe-cuda-check-layers refuses such layers first).
LogicalResult checkEpilogueActivation(GatherGateUpOp op);

} // namespace mlir::moe::cuda

#endif // MOE_PASSES_TARGET_CUDA_GEMMEPILOGUE_H
