//===- NumWorkersToOpenMP.cpp - moe.num_workers on the CPU ----------------===//
//
// Implements `moe-cpu-num-workers-to-openmp`: moe.num_workers becomes the
// OpenMP runtime's thread count, the number of threads the OpenMP loops
// that scf.forall becomes will run on.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/CPU/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOECPUNUMWORKERSTOOPENMP
#include "moe/Target/CPU/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
constexpr StringLiteral kThreadCount = "omp_get_max_threads";

struct MoECPUNumWorkersToOpenMPPass
    : public mlir::moe::impl::MoECPUNumWorkersToOpenMPBase<
          MoECPUNumWorkersToOpenMPPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<NumWorkersOp> ops;
    module.walk([&](NumWorkersOp op) { ops.push_back(op); });
    if (ops.empty())
      return;
    OpBuilder b(module.getContext());
    Type i32 = b.getI32Type();
    if (!module.lookupSymbol(kThreadCount)) {
      b.setInsertionPointToStart(module.getBody());
      func::FuncOp::create(b, module.getLoc(), kThreadCount,
                           b.getFunctionType({}, {i32}))
          .setPrivate();
    }
    for (NumWorkersOp op : ops) {
      b.setInsertionPoint(op);
      Location loc = op.getLoc();
      Value threads =
          func::CallOp::create(b, loc, kThreadCount, TypeRange{i32}, {})
              .getResult(0);
      Value count =
          arith::IndexCastOp::create(b, loc, b.getIndexType(), threads);
      Value one = arith::ConstantIndexOp::create(b, loc, 1);
      op.replaceAllUsesWith(
          arith::MaxSIOp::create(b, loc, count, one).getResult());
      op.erase();
    }
  }
};
} // namespace
