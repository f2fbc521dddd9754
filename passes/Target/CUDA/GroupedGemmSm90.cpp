//===- GroupedGemmSm90.cpp - grouped expert GEMMs for Sm90 --------------------===//
//
// Not written yet.
//
//===----------------------------------------------------------------------===//

#include "GroupedGemm.h"

using namespace mlir;
using namespace mlir::moe;

LogicalResult cuda::lowerGatherGateUpSm90(RewriterBase &, GatherGateUpOp op,
                                         gpu::GPUModuleOp,
                                         const GemmTileShape &) {
  return op.emitOpError("has no Sm90 lowering yet");
}

LogicalResult cuda::lowerDownScatterAddSm90(RewriterBase &,
                                           DownScatterAddOp op,
                                           gpu::GPUModuleOp,
                                           const GemmTileShape &) {
  return op.emitOpError("has no Sm90 lowering yet");
}
