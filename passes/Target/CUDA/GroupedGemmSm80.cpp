//===- GroupedGemmSm80.cpp - grouped expert GEMMs for Sm80 --------------------===//
//
// Not written yet.
//
//===----------------------------------------------------------------------===//

#include "GroupedGemm.h"

using namespace mlir;
using namespace mlir::moe;

LogicalResult cuda::lowerGatherGateUpSm80(RewriterBase &, GatherGateUpOp op,
                                         gpu::GPUModuleOp,
                                         const GemmTileShape &) {
  return op.emitOpError("has no Sm80 lowering yet");
}

LogicalResult cuda::lowerDownScatterAddSm80(RewriterBase &,
                                           DownScatterAddOp op,
                                           gpu::GPUModuleOp,
                                           const GemmTileShape &) {
  return op.emitOpError("has no Sm80 lowering yet");
}
