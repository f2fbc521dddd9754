//===- PackWeights.cpp - expert kernel weights in panels ------------------===//
//
// Implements `moe-cpu-pack-weights`: every expert kernel op in the rows
// layout gets its weights packed in panels of P output columns,
// `[(E,) ceil(N/P), K, P]`, the layout the packed micro-kernels stream.
// Weights the runtime binds are packed by the runtime once (the argument
// changes type and records how), in bf16 when asked; others by linalg.pack
// in the graph, lowered here to pad, reshape and transpose.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/CPU/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Target/Entries.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOECPUPACKWEIGHTS
#include "moe/Target/CPU/Passes.h.inc"
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

struct MoECPUPackWeightsPass
    : public mlir::moe::impl::MoECPUPackWeightsBase<MoECPUPackWeightsPass> {
  using MoECPUPackWeightsBase::MoECPUPackWeightsBase;

  void runOnOperation() override {
    if (panelWidth < 1) {
      getOperation().emitError(
          "moe-cpu-pack-weights: panel-width must be >= 1");
      return signalPassFailure();
    }
    if (weightType != "f32" && weightType != "bf16") {
      getOperation().emitError("moe-cpu-pack-weights: weight-type must be "
                               "f32 or bf16, not '")
          << weightType << "'";
      return signalPassFailure();
    }
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<GatherGateUpOp, DownScatterAddOp>(op) &&
          !getKernelWeightLayout(op).isPanels())
        ops.push_back(op);
    });
    auto panels = WeightLayoutAttr::get(&getContext(), panelWidth);
    DenseMap<Value, Value> packed;
    for (Operation *op : ops) {
      // Panels are sized at compile time (and the runtime packs bound
      // weights to the shape the manifest states).
      for (OpOperand *operand : getKernelWeightOperands(op))
        if (!cast<ShapedType>(operand->get().getType()).hasStaticShape()) {
          op->emitOpError("moe-cpu-pack-weights: weights must have a static "
                          "shape to be packed, got ")
              << operand->get().getType();
          return signalPassFailure();
        }
      for (OpOperand *operand : getKernelWeightOperands(op)) {
        Value &done = packed[operand->get()];
        if (!done)
          done = pack(operand->get());
        operand->set(done);
      }
      setKernelWeightLayout(op, panels);
    }
    // Packs in the graph become pad, reshape and transpose, which
    // bufferize.
    IRRewriter rewriter(&getContext());
    for (linalg::PackOp pack : graphPacks) {
      rewriter.setInsertionPoint(pack);
      if (failed(linalg::lowerPack(rewriter, pack))) {
        pack.emitOpError("could not be lowered to pad, reshape and transpose");
        return signalPassFailure();
      }
    }
  }

  /// The linalg.pack ops this pass put in the graph.
  SmallVector<linalg::PackOp> graphPacks;

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
          llvm::all_of(arg.getUses(), isKernelWeightOperand)) {
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
    auto packOp = linalg::PackOp::create(b, loc, weight, dest, {dim},
                                         {b.getIndexAttr(panelWidth)}, zero);
    graphPacks.push_back(packOp);
    Value packedWeight = packOp.getResult();
    if (weightType != "bf16")
      return packedWeight;
    // Every weight of an op in one element type: the kernels take one.
    return arith::TruncFOp::create(
        b, loc, packedTy.clone(BFloat16Type::get(b.getContext())),
        packedWeight);
  }
};
} // namespace
