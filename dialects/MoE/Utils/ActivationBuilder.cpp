//===- ActivationBuilder.cpp - the expert activations as arith/math ops ---===//

#include "moe/Dialect/MoE/Utils/ActivationBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::moe;

static Value f32(ImplicitLocOpBuilder &b, float value) {
  return arith::ConstantOp::create(b, b.getF32FloatAttr(value));
}

Value moe::createSigmoid(ImplicitLocOpBuilder &b, Value x) {
  Value one = f32(b, 1.0f);
  Value expNeg = math::ExpOp::create(b, arith::NegFOp::create(b, x));
  return arith::DivFOp::create(b, one, arith::AddFOp::create(b, one, expNeg));
}

/// `log1p(y)` for `y >= 0`, accurate where `log(1 + y)` would round `y`
/// away (Goldberg's correction), from log alone: math.log1p's lowering
/// differs by target (MathToLLVM's approximate one is `log(1 + y)`).
static Value createLog1p(ImplicitLocOpBuilder &b, Value y) {
  Value one = f32(b, 1.0f);
  Value u = arith::AddFOp::create(b, one, y);
  Value uMinusOne = arith::SubFOp::create(b, u, one);
  Value isOne = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, u, one);
  // (u - 1) is 1 where u is 1, so the division stays finite there.
  Value denominator = arith::SelectOp::create(b, isOne, one, uMinusOne);
  Value corrected = arith::MulFOp::create(
      b, math::LogOp::create(b, u), arith::DivFOp::create(b, y, denominator));
  return arith::SelectOp::create(b, isOne, y, corrected);
}

Value moe::createSqrtSoftplus(ImplicitLocOpBuilder &b, Value l) {
  Value above =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, l, f32(b, 20.0f));
  Value softplus = arith::SelectOp::create(
      b, above, l, createLog1p(b, math::ExpOp::create(b, l)));
  return math::SqrtOp::create(b, softplus);
}

static Value createGelu(ImplicitLocOpBuilder &b, Value x) {
  // Exact GELU: 0.5 · x · (1 + erf(x / √2)).
  Value scaled = arith::MulFOp::create(b, x, f32(b, 0.70710678118654752f));
  Value erf = math::ErfOp::create(b, scaled);
  Value onePlus = arith::AddFOp::create(b, f32(b, 1.0f), erf);
  return arith::MulFOp::create(b, arith::MulFOp::create(b, f32(b, 0.5f), x),
                               onePlus);
}

static Value createGeluTanh(ImplicitLocOpBuilder &b, Value x) {
  // transformers' gelu_pytorch_tanh:
  // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).
  Value cube = arith::MulFOp::create(b, arith::MulFOp::create(b, x, x), x);
  Value inner = arith::AddFOp::create(
      b, x, arith::MulFOp::create(b, f32(b, 0.044715f), cube));
  Value tanh = math::TanhOp::create(
      b, arith::MulFOp::create(b, f32(b, 0.79788456080286536f), inner));
  Value onePlus = arith::AddFOp::create(b, f32(b, 1.0f), tanh);
  return arith::MulFOp::create(b, arith::MulFOp::create(b, f32(b, 0.5f), x),
                               onePlus);
}

static Value createSilu(ImplicitLocOpBuilder &b, Value x) {
  return arith::MulFOp::create(b, x, createSigmoid(b, x));
}

/// clamp(u, -l, l) and the gate's part in each form of `#moe.glu_clamp`:
/// GptOssExperts._apply_gate: (u' + 1) · g' · sigmoid(α · g'), g' = min(g, l);
/// GLM-5 / Hy-V4: silu(min(g, l)) · u'; Step-3.7: min(silu(g), l) · u'.
static Value createClampedSwiglu(ImplicitLocOpBuilder &b, GluClampAttr clamp,
                                 Value gate, Value up) {
  assert(clamp && "clamped_swiglu without its glu_clamp attribute");
  Value limit = f32(b, static_cast<float>(clamp.getLimit().convertToDouble()));
  auto clampUp = [&] {
    return arith::MaximumFOp::create(b, arith::MinimumFOp::create(b, up, limit),
                                     arith::NegFOp::create(b, limit));
  };
  switch (clamp.getForm()) {
  case GluClampForm::gpt_oss: {
    Value alpha =
        f32(b, static_cast<float>(clamp.getAlpha().convertToDouble()));
    Value g = arith::MinimumFOp::create(b, gate, limit);
    Value u = clampUp();
    Value glu = arith::MulFOp::create(
        b, g, createSigmoid(b, arith::MulFOp::create(b, alpha, g)));
    return arith::MulFOp::create(b, arith::AddFOp::create(b, u, f32(b, 1.0f)),
                                 glu);
  }
  case GluClampForm::clamp_gate: {
    Value act = createSilu(b, arith::MinimumFOp::create(b, gate, limit));
    return arith::MulFOp::create(b, act, clampUp());
  }
  case GluClampForm::clamp_silu: {
    Value act = arith::MinimumFOp::create(b, createSilu(b, gate), limit);
    return arith::MulFOp::create(b, act, clampUp());
  }
  }
  llvm_unreachable("unknown glu_clamp form");
}

Value moe::createActivation(ImplicitLocOpBuilder &b, Activation activation,
                            Value gate, Value up, GluClampAttr clamp) {
  switch (activation) {
  case Activation::swiglu:
    return arith::MulFOp::create(b, createSilu(b, gate), up);
  case Activation::geglu:
    return arith::MulFOp::create(b, createGelu(b, gate), up);
  case Activation::geglu_tanh:
    return arith::MulFOp::create(b, createGeluTanh(b, gate), up);
  case Activation::gelu:
    return createGelu(b, up);
  case Activation::gelu_tanh:
    return createGeluTanh(b, up);
  case Activation::relu:
    return arith::MaximumFOp::create(b, up, f32(b, 0.0f));
  case Activation::relu2: {
    Value relu = arith::MaximumFOp::create(b, up, f32(b, 0.0f));
    return arith::MulFOp::create(b, relu, relu);
  }
  case Activation::silu:
    return createSilu(b, up);
  case Activation::clamped_swiglu:
    return createClampedSwiglu(b, clamp, gate, up);
  }
  llvm_unreachable("unknown activation");
}
