//===- CombineStubForSm90.cpp - TEMPORARY stand-in for Combine.cpp --------===//
//
// Only on branch i15-sm90, until Combine.cpp (the sm_80 engineer's) lands:
// it lets the sm_90a down GEMM call buildCombineLaunches. Delete at merge.
//
//===----------------------------------------------------------------------===//

#include "GroupedGemm.h"

using namespace mlir;

LogicalResult mlir::moe::cuda::buildCombineLaunches(ImplicitLocOpBuilder &b,
                                                    gpu::GPUModuleOp, Value,
                                                    Value, Value) {
  return emitError(b.getLoc(), "the combine kernel is not built yet "
                               "(CombineStubForSm90.cpp)");
}
