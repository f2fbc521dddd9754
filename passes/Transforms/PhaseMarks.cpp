//===- PhaseMarks.cpp - mark a layer's phases for timing ------------------===//
//
// Implements `moe-phase-marks`: calls to moe_rt_phase_mark before the
// first dispatch, expert and combine op of each single-process MoE entry,
// so that the entry wrapper can report the seconds per phase
// (moe_forward_args.phase_seconds; Embedded/Exchange.c keeps the times).
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Runtime/KernelABI.h"
#include "moe/Runtime/moe_runtime.h"
#include "moe/Target/Entries.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEPHASEMARKS
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
/// The phase an op begins, or -1.
int phaseBegunBy(Operation *op) {
  if (isa<DispatchOp, ExpertChoiceOp, SoftDispatchOp>(op))
    return MOE_PHASE_EXCHANGE; // a single process's dispatch
  if (isa<ExpertMlpOp, FusedExpertsOp>(op))
    return MOE_PHASE_EXPERTS;
  if (isa<CombineOp, SoftCombineOp>(op))
    return MOE_PHASE_COMBINE;
  return -1;
}

struct MoEPhaseMarksPass
    : public mlir::moe::impl::MoEPhaseMarksBase<MoEPhaseMarksPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder b(&getContext());
    func::FuncOp mark;
    for (auto func : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (!func.isPublic() || func.isExternal() || func->hasAttr(kEpSizeAttr))
        continue;
      // The first op of each phase, in order; a phase may be absent.
      SmallVector<std::pair<Operation *, int>> begins;
      int last = MOE_PHASE_ROUTE;
      Operation *afterExperts = nullptr;
      for (Operation &op : func.getBody().front()) {
        int phase = phaseBegunBy(&op);
        if (phase > last) {
          begins.push_back({&op, phase});
          last = phase;
        }
        if (isa<FusedExpertsOp>(op))
          afterExperts = op.getNextNode();
      }
      if (begins.empty())
        continue;
      // Fused experts combine as they go: what follows them is the combine.
      if (last == MOE_PHASE_EXPERTS && afterExperts)
        begins.push_back({afterExperts, MOE_PHASE_COMBINE});
      if (!mark) {
        b.setInsertionPointToStart(module.getBody());
        mark = func::FuncOp::create(
            b, module.getLoc(), MOE_RT_PHASE_MARK,
            b.getFunctionType({b.getI32Type()}, {}));
        mark.setPrivate();
      }
      for (auto [op, phase] : begins) {
        b.setInsertionPoint(op);
        Value id = arith::ConstantIntOp::create(b, op->getLoc(), phase, 32);
        func::CallOp::create(b, op->getLoc(), mark, ValueRange{id});
      }
    }
  }
};
} // namespace
