//===- RmsNorm.h - RMS normalisation as linalg ------------------*- C++ -*-===//
//
// The one builder of an RMSNorm over the rows of a [T,H] tensor, shared by
// the router's input normalisation and moe.layer's norms.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TRANSFORMS_RMSNORM_H
#define MOE_TRANSFORMS_RMSNORM_H

#include "mlir/IR/Builders.h"

namespace mlir::moe {
/// `x / sqrt(mean_h(x²) + epsilon) · scale[h] · multiplier` of `input`
/// `[T,H]`, computed in f32 in that order of operations, as a tensor of
/// `resultElement`. `scale` `[H]` may be null (1); a multiplier of 1 is
/// left out. The mean square of a row is one sequential reduction over h:
/// a token's bits do not depend on the other rows.
Value buildRmsNorm(OpBuilder &b, Location loc, Value input, double epsilon,
                   Value scale, double multiplier, Type resultElement);
} // namespace mlir::moe

#endif // MOE_TRANSFORMS_RMSNORM_H
