//===- ActivationBuilder.h - the expert activations as arith/math ops -----===//
//
// The one place the compiler spells the math of the Activation enum (and
// of the sigmoid and sqrtsoftplus router scores and shared-expert gates): the
// moe-to-linalg lowering builds it inside linalg.generic bodies, the CPU
// target's generated epilogues (moe-cpu-lower-to-ukernels) inside the loops
// after the register tiles. lib/Reference holds the other, independent copy the
// tests compare against.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_UTILS_ACTIVATIONBUILDER_H
#define MOE_DIALECT_MOE_UTILS_ACTIVATIONBUILDER_H

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::moe {

/// 1 / (1 + e^-x) on an f32 scalar.
Value createSigmoid(ImplicitLocOpBuilder &b, Value x);

/// DeepSeek-V4's router score `sqrt(softplus(l))` on an f32 scalar,
/// softplus as PyTorch's (beta 1, threshold 20: `l` itself above 20).
Value createSqrtSoftplus(ImplicitLocOpBuilder &b, Value l);

/// The activation of a gated (`gate` set) or plain FFN on f32 scalars, as
/// moe.expert_mlp's table: silu(gate)·up, gelu(gate)·up (exact GELU, through
/// math.erf), gelu_tanh(gate)·up, gelu(up), gelu_tanh(up), max(up, 0),
/// max(up, 0)², silu(up), and the clamped SwiGLU of `clamp`'s form, limit
/// and alpha (`clamp` is set exactly for `clamped_swiglu`, as the op
/// verifiers require).
Value createActivation(ImplicitLocOpBuilder &b, Activation activation,
                       Value gate, Value up, GluClampAttr clamp = {});

} // namespace mlir::moe

#endif // MOE_DIALECT_MOE_UTILS_ACTIVATIONBUILDER_H
