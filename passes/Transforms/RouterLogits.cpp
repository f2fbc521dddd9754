//===- RouterLogits.cpp - the router GEMM ---------------------------------===//
//
// The router of a moe.layer as linalg on tensors: the optional RMS
// normalisation of its input (Gemma 4), then the GEMM, accumulating into the
// router bias (GPT-OSS) or zero.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/RouterLogits.h"
#include "moe/Transforms/RmsNorm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::moe;

Value mlir::moe::buildRouterLogits(OpBuilder &b, Location loc, Value input,
                                   Value routerWeight,
                                   const RouterExtras &extras) {
  auto inputType = cast<RankedTensorType>(input.getType());
  auto weightType = cast<RankedTensorType>(routerWeight.getType());
  Type f32 = b.getF32Type();
  SmallVector<Value> dynamicSizes;
  if (inputType.isDynamicDim(0))
    dynamicSizes.push_back(tensor::DimOp::create(b, loc, input, 0));
  if (extras.inputNorm)
    input = buildRmsNorm(b, loc, input,
                         extras.inputNorm.getEpsilon().convertToDouble(),
                         extras.inputScale,
                         extras.inputNorm.getMultiplier().convertToDouble(),
                         f32);
  SmallVector<int64_t> shape = {inputType.getDimSize(0),
                                weightType.getDimSize(0)};
  Value empty = tensor::EmptyOp::create(b, loc, shape, f32, dynamicSizes);
  Value init;
  if (extras.bias) {
    init = linalg::BroadcastOp::create(b, loc, extras.bias, empty,
                                       ArrayRef<int64_t>{0})
               .getResult()[0];
  } else {
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(f32));
    init = linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{empty})
               .getResult(0);
  }
  return linalg::MatmulTransposeBOp::create(b, loc, TypeRange{init.getType()},
                                            ValueRange{input, routerWeight},
                                            ValueRange{init})
      .getResult(0);
}
