//===- RouterLogits.h - the router GEMM -------------------------*- C++ -*-===//
//
// `l = x·Wgᵀ` in f32, shared by the passes that need router logits.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TRANSFORMS_ROUTERLOGITS_H
#define MOE_TRANSFORMS_ROUTERLOGITS_H

#include "mlir/IR/Builders.h"

namespace mlir::moe {
/// `[T,E]` f32 logits of `input` `[T,H]` under `routerWeight` `[E,H]`:
/// routing math is float32 whatever the activation type, and linalg.matmul
/// extends narrower inputs.
Value buildRouterLogits(OpBuilder &b, Location loc, Value input,
                        Value routerWeight);
} // namespace mlir::moe

#endif // MOE_TRANSFORMS_ROUTERLOGITS_H
