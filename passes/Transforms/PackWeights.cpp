//===- PackWeights.cpp - fused-expert weights in panels -------------------===//
//
// Implements `moe-pack-weights`: every moe.fused_experts gets its weights
// packed in panels of P output columns, `[(E,) ceil(N/P), K, P]`, the
// layout the packed micro-kernels stream. Weights the runtime binds are
// packed by the runtime once (the argument changes type and records how),
// in bf16 when asked; others by linalg.pack in the graph.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Target/Entries.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEPACKWEIGHTS
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
/// `[(E,) N, K]` packed along N: `[(E,) ceil(N/P), K, P]`.
RankedTensorType packedType(RankedTensorType type, int64_t panel) {
  SmallVector<int64_t> shape(type.getShape());
  int64_t rank = type.getRank();
  shape[rank - 2] = (shape[rank - 2] + panel - 1) / panel;
  shape.push_back(panel);
  return RankedTensorType::get(shape, type.getElementType());
}

/// The fused-expert weight operands of `op`, present ones only.
SmallVector<OpOperand *> weightOperands(FusedExpertsOp op) {
  SmallVector<OpOperand *> operands;
  for (OpOperand *operand :
       {&op.getExpertUpMutable(), &op.getExpertDownMutable()})
    operands.push_back(operand);
  for (MutableOperandRange range :
       {op.getExpertGateMutable(), op.getSharedGateMutable(),
        op.getSharedUpMutable(), op.getSharedDownMutable()})
    if (!range.empty())
      operands.push_back(&range[0]);
  return operands;
}

bool isFusedExpertWeight(OpOperand &use) {
  auto op = dyn_cast<FusedExpertsOp>(use.getOwner());
  return op && llvm::is_contained(weightOperands(op), &use);
}

struct MoEPackWeightsPass
    : public mlir::moe::impl::MoEPackWeightsBase<MoEPackWeightsPass> {
  using MoEPackWeightsBase::MoEPackWeightsBase;

  void runOnOperation() override {
    if (panelWidth < 1) {
      getOperation().emitError("moe-pack-weights: panel-width must be >= 1");
      return signalPassFailure();
    }
    if (weightType != "f32" && weightType != "bf16") {
      getOperation().emitError("moe-pack-weights: weight-type must be f32 "
                               "or bf16, not '")
          << weightType << "'";
      return signalPassFailure();
    }
    SmallVector<FusedExpertsOp> ops;
    getOperation().walk([&](FusedExpertsOp op) {
      if (!op.isPacked())
        ops.push_back(op);
    });
    DenseMap<Value, Value> packed;
    for (FusedExpertsOp op : ops)
      for (OpOperand *operand : weightOperands(op)) {
        Value &done = packed[operand->get()];
        if (!done)
          done = pack(operand->get());
        operand->set(done);
      }
  }

  /// `weight` packed: the argument itself retyped when the runtime binds
  /// it, else a linalg.pack right after its definition.
  Value pack(Value weight) {
    auto type = cast<RankedTensorType>(weight.getType());
    RankedTensorType packedTy = packedType(type, panelWidth);
    int64_t dim = type.getRank() - 2;
    if (auto arg = dyn_cast<BlockArgument>(weight)) {
      auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
      if (func && func.isPublic() && arg.getOwner()->isEntryBlock() &&
          func.getArgAttr(arg.getArgNumber(), kWeightNameAttr) &&
          llvm::all_of(arg.getUses(), isFusedExpertWeight)) {
        RankedTensorType boundTy = packedTy;
        if (weightType == "bf16")
          boundTy = packedTy.clone(BFloat16Type::get(func.getContext()));
        arg.setType(boundTy);
        SmallVector<Type> inputs(func.getArgumentTypes());
        inputs[arg.getArgNumber()] = boundTy;
        func.setFunctionType(FunctionType::get(
            func.getContext(), inputs, func.getFunctionType().getResults()));
        unsigned i = arg.getArgNumber();
        // Panels hide N's exact size: keep the checkpoint's shape.
        if (!func.getArgAttr(i, kWeightSourceShapeAttr))
          func.setArgAttr(
              i, kWeightSourceShapeAttr,
              DenseI64ArrayAttr::get(func.getContext(), type.getShape()));
        func.setArgAttr(
            i, kWeightPackAttr,
            DenseI64ArrayAttr::get(func.getContext(), {dim, panelWidth}));
        return arg;
      }
    }
    OpBuilder b(weight.getContext());
    if (auto arg = dyn_cast<BlockArgument>(weight))
      b.setInsertionPointToStart(arg.getOwner());
    else
      b.setInsertionPointAfterValue(weight);
    Location loc = weight.getLoc();
    Value dest = tensor::EmptyOp::create(b, loc, packedTy.getShape(),
                                         packedTy.getElementType());
    Value zero =
        arith::ConstantOp::create(b, loc, b.getZeroAttr(type.getElementType()));
    Value packedWeight =
        linalg::PackOp::create(b, loc, weight, dest, {dim},
                               {b.getIndexAttr(panelWidth)}, zero)
            .getResult();
    if (weightType != "bf16")
      return packedWeight;
    // Every weight of an op in one element type: the kernels take one.
    return arith::TruncFOp::create(
        b, loc, packedTy.clone(BFloat16Type::get(b.getContext())),
        packedWeight);
  }
};
} // namespace
