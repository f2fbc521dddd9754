//===- RouterLogits.cpp - the router GEMM ---------------------------------===//

#include "moe/Transforms/RouterLogits.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

Value mlir::moe::buildRouterLogits(OpBuilder &b, Location loc, Value input,
                                   Value routerWeight) {
  auto inputType = cast<RankedTensorType>(input.getType());
  auto weightType = cast<RankedTensorType>(routerWeight.getType());
  Type f32 = b.getF32Type();
  SmallVector<Value> dynamicSizes;
  if (inputType.isDynamicDim(0))
    dynamicSizes.push_back(tensor::DimOp::create(b, loc, input, 0));
  SmallVector<int64_t> shape = {inputType.getDimSize(0),
                                weightType.getDimSize(0)};
  Value empty = tensor::EmptyOp::create(b, loc, shape, f32, dynamicSizes);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(f32));
  Value init =
      linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{empty})
          .getResult(0);
  return linalg::MatmulTransposeBOp::create(b, loc, TypeRange{init.getType()},
                                            ValueRange{input, routerWeight},
                                            ValueRange{init})
      .getResult(0);
}
