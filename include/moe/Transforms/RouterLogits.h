//===- RouterLogits.h - the router GEMM -------------------------*- C++ -*-===//
//
// `l = x·Wgᵀ (+ b)` in f32, with the router's optional input normalisation,
// shared by the passes that need router logits.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TRANSFORMS_ROUTERLOGITS_H
#define MOE_TRANSFORMS_ROUTERLOGITS_H

#include "moe/Dialect/MoE/IR/MoEAttrs.h"

#include "mlir/IR/Builders.h"

namespace mlir::moe {
/// What a moe.layer's router does besides its GEMM; all optional.
struct RouterExtras {
  /// The router's `nn.Linear` bias `[E]`, added to the logits.
  Value bias;
  /// The RMS normalisation of the router input, with its `[H]` scale.
  RouterInputNormAttr inputNorm;
  Value inputScale;
};

/// `[T,E]` f32 logits of `input` `[T,H]` under `routerWeight` `[E,H]`:
/// routing math is float32 whatever the activation type, and linalg.matmul
/// extends narrower inputs. The bias, when there is one, is the GEMM's
/// initial value (not a zero fill), so the GEMM stays the logits' producer
/// for the passes that find it there.
Value buildRouterLogits(OpBuilder &b, Location loc, Value input,
                        Value routerWeight,
                        const RouterExtras &extras = RouterExtras());
} // namespace mlir::moe

#endif // MOE_TRANSFORMS_ROUTERLOGITS_H
