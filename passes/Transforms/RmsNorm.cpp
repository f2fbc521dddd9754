//===- RmsNorm.cpp - RMS normalisation as linalg --------------------------===//
//
// The RMSNorm of the rows of a [T,H] tensor as linalg on tensors: Gemma 4's
// router input and the norms around its FFNs.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/RmsNorm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::moe;

namespace {
Value f32Constant(OpBuilder &b, Location loc, double value) {
  return arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(static_cast<float>(value)));
}

/// `x` as f32 inside a linalg body.
Value toF32(OpBuilder &b, Location loc, Value x) {
  if (x.getType().isF32())
    return x;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), x);
}

} // namespace

Value mlir::moe::buildRmsNorm(OpBuilder &b, Location loc, Value input,
                              double epsilon, Value scale, double multiplier,
                              Type resultElement) {
  MLIRContext *ctx = b.getContext();
  auto inputType = cast<RankedTensorType>(input.getType());
  int64_t hidden = inputType.getDimSize(1);
  Type f32 = b.getF32Type();
  SmallVector<Value> dynamicSizes;
  if (inputType.isDynamicDim(0))
    dynamicSizes.push_back(tensor::DimOp::create(b, loc, input, 0));
  AffineMap identity = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap rowOf = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  AffineMap columnOf = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);

  Value rowsEmpty = tensor::EmptyOp::create(
      b, loc, ArrayRef<int64_t>{inputType.getDimSize(0)}, f32, dynamicSizes);
  Value zero = f32Constant(b, loc, 0.0);
  Value sumInit =
      linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{rowsEmpty})
          .getResult(0);
  Value sumSquares =
      linalg::GenericOp::create(
          b, loc, TypeRange{sumInit.getType()}, ValueRange{input},
          ValueRange{sumInit}, ArrayRef<AffineMap>{identity, rowOf},
          ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                        utils::IteratorType::reduction},
          [](OpBuilder &nb, Location l, ValueRange args) {
            Value x = toF32(nb, l, args[0]);
            Value square = arith::MulFOp::create(nb, l, x, x);
            linalg::YieldOp::create(
                nb, l,
                ValueRange{arith::AddFOp::create(nb, l, args[1], square)});
          })
          .getResult(0);

  SmallVector<Value> inputs = {input, sumSquares};
  SmallVector<AffineMap> maps = {identity, rowOf};
  if (scale) {
    inputs.push_back(scale);
    maps.push_back(columnOf);
  }
  maps.push_back(identity);
  Value empty = tensor::EmptyOp::create(b, loc, inputType.getShape(),
                                        resultElement, dynamicSizes);
  return linalg::GenericOp::create(
             b, loc, TypeRange{empty.getType()}, inputs, ValueRange{empty},
             maps,
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                           utils::IteratorType::parallel},
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value x = toF32(nb, l, args[0]);
               Value meanSquare = arith::DivFOp::create(
                   nb, l, args[1], f32Constant(nb, l, hidden));
               Value rms = math::SqrtOp::create(
                   nb, l,
                   arith::AddFOp::create(nb, l, meanSquare,
                                         f32Constant(nb, l, epsilon)));
               Value inverse =
                   arith::DivFOp::create(nb, l, f32Constant(nb, l, 1.0), rms);
               Value r = arith::MulFOp::create(nb, l, x, inverse);
               if (scale)
                 r = arith::MulFOp::create(nb, l, r, args[2]);
               if (multiplier != 1.0)
                 r = arith::MulFOp::create(nb, l, r,
                                           f32Constant(nb, l, multiplier));
               if (resultElement != r.getType())
                 r = arith::TruncFOp::create(nb, l, resultElement, r);
               linalg::YieldOp::create(nb, l, ValueRange{r});
             })
      .getResult(0);
}
