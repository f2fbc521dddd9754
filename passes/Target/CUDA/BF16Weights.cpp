//===- BF16Weights.cpp - expert kernel weights in bf16 rows ----------------===//
//
// Implements `moe-cuda-bf16-weights`: the weights of every expert
// kernel op become bf16 in the rows layout, which the tensor-core kernels
// of moe-cuda-lower-grouped-gemm read. Bound weights are converted by the
// runtime at bind time (the argument changes type); others in the graph.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/CUDA/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Target/Entries.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOECUDABF16WEIGHTS
#include "moe/Target/CUDA/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
/// Retypes `arg` of its public function to bf16 when the runtime binds it
/// and nothing but kernel ops reads it; returns whether it did.
bool retypeBoundWeight(BlockArgument arg) {
  auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  if (!func || !func.isPublic() || !arg.getOwner()->isEntryBlock() ||
      !func.getArgAttr(arg.getArgNumber(), kWeightNameAttr) ||
      !llvm::all_of(arg.getUses(), isKernelWeightOperand))
    return false;
  auto type = cast<RankedTensorType>(arg.getType());
  Type bound = type.clone(BFloat16Type::get(func.getContext()));
  arg.setType(bound);
  SmallVector<Type> inputs(func.getArgumentTypes());
  inputs[arg.getArgNumber()] = bound;
  func.setFunctionType(FunctionType::get(func.getContext(), inputs,
                                         func.getFunctionType().getResults()));
  return true;
}

struct MoECUDABF16WeightsPass
    : public mlir::moe::impl::MoECUDABF16WeightsBase<
          MoECUDABF16WeightsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    bool failed = false;
    getOperation().walk([&](Operation *op) {
      if (!isa<GatherGateUpOp, DownScatterAddOp>(op))
        return;
      if (getKernelWeightLayout(op).isPanels()) {
        op->emitOpError("moe-cuda-bf16-weights: weights must be in the "
                        "rows layout (the CUDA target does not use panels)");
        failed = true;
      }
      ops.push_back(op);
    });
    if (failed)
      return signalPassFailure();
    DenseMap<Value, Value> converted;
    for (Operation *op : ops) {
      for (OpOperand *operand : getKernelWeightOperands(op)) {
        Value weight = operand->get();
        auto type = dyn_cast<RankedTensorType>(weight.getType());
        if (!type) {
          op->emitOpError("moe-cuda-bf16-weights: runs on tensors, "
                          "before bufferization");
          return signalPassFailure();
        }
        if (type.getElementType().isBF16())
          continue;
        Value &done = converted[weight];
        if (!done) {
          auto arg = dyn_cast<BlockArgument>(weight);
          if (arg && retypeBoundWeight(arg)) {
            done = arg;
          } else {
            OpBuilder b(op);
            done = arith::TruncFOp::create(
                b, op->getLoc(), type.clone(b.getBF16Type()), weight);
          }
        }
        operand->set(done);
      }
    }
  }
};
} // namespace
