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

static Value createGelu(ImplicitLocOpBuilder &b, Value x) {
  // Exact GELU: 0.5 · x · (1 + erf(x / √2)).
  Value scaled = arith::MulFOp::create(b, x, f32(b, 0.70710678118654752f));
  Value erf = math::ErfOp::create(b, scaled);
  Value onePlus = arith::AddFOp::create(b, f32(b, 1.0f), erf);
  return arith::MulFOp::create(b, arith::MulFOp::create(b, f32(b, 0.5f), x),
                               onePlus);
}

Value moe::createActivation(ImplicitLocOpBuilder &b, Activation activation,
                            Value gate, Value up) {
  switch (activation) {
  case Activation::swiglu:
    return arith::MulFOp::create(
        b, arith::MulFOp::create(b, gate, createSigmoid(b, gate)), up);
  case Activation::geglu:
    return arith::MulFOp::create(b, createGelu(b, gate), up);
  case Activation::gelu:
    return createGelu(b, up);
  case Activation::relu:
    return arith::MaximumFOp::create(b, up, f32(b, 0.0f));
  }
  llvm_unreachable("unknown activation");
}
