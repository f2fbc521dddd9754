//===- GemmEpilogue.cpp - the grouped GEMMs' per-element epilogue ---------===//
//
// See GemmEpilogue.h. The activation is createActivation's, the one
// spelling of each activation in the project.
//
//===----------------------------------------------------------------------===//

#include "GemmEpilogue.h"

#include "moe/Dialect/MoE/Utils/ActivationBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::moe;

Value cuda::buildEpilogueElement(ImplicitLocOpBuilder &b, GemmEpilogue kind,
                                 Activation activation, Value factor,
                                 ArrayRef<Value> sums, Value old) {
  auto scaled = [&](Value v) -> Value {
    return factor ? arith::MulFOp::create(b, factor, v) : v;
  };
  switch (kind) {
  case GemmEpilogue::Activate: {
    Value gate = sums.size() == 2 ? scaled(sums.front()) : Value();
    return createActivation(b, activation, gate, scaled(sums.back()));
  }
  case GemmEpilogue::StoreRows:
    return scaled(sums.front());
  case GemmEpilogue::AddRows:
    return arith::AddFOp::create(b, old, scaled(sums.front()));
  }
  llvm_unreachable("unknown epilogue");
}

LogicalResult cuda::checkEpilogueActivation(GatherGateUpOp op) {
  if (!op.getGluClampAttr())
    return success();
  return op.emitOpError("activation 'clamped_swiglu' is not supported by the "
                        "CUDA target's grouped GEMMs");
}
