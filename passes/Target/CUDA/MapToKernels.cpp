//===- MapToKernels.cpp - the glue of an entry as GPU kernels -------------===//
//
// Implements `moe-cuda-map-to-kernels`: after it, host code only computes
// sizes, allocates device buffers and launches kernels. Parallel loops
// become launches of one thread per iteration; the remaining sequential
// code that touches buffers runs in single-thread launches, in program
// order, so that results are the same bits as a sequential run (the
// reduction orders are the loops' own).
//
//===----------------------------------------------------------------------===//

#include "moe/Target/CUDA/Passes.h"

#include "moe/Dialect/MoE/IR/MoEKernelOps.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOECUDAMAPTOKERNELS
#include "moe/Target/CUDA/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
/// Threads per block of the generated element-wise launches.
constexpr int64_t kThreadsPerBlock = 256;

/// Whether `op` only computes values from values (host arithmetic, buffer
/// views and sizes): it stays on the host.
bool isHostScalar(Operation *op) {
  if (isa<memref::AllocOp, memref::DeallocOp, memref::AllocaOp>(op))
    return false;
  return isMemoryEffectFree(op) && op->getNumRegions() == 0;
}

/// Whether `op` is or holds a kernel launch or a stream's wait (the
/// grouped GEMMs' launches and the scf.if choosing between their variants,
/// the router GEMM's launch).
bool holdsLaunches(Operation *op) {
  bool found = false;
  op->walk([&](Operation *nested) {
    if (isa<gpu::LaunchFuncOp, gpu::AllocOp, gpu::DeallocOp, gpu::LaunchOp,
            gpu::WaitOp>(nested))
      found = true;
  });
  return found;
}

/// Element-by-element copy loops of `copy`'s buffers.
void copyAsParallelLoop(RewriterBase &rewriter, memref::CopyOp copy) {
  ImplicitLocOpBuilder b(copy.getLoc(), rewriter);
  b.setInsertionPoint(copy);
  auto type = cast<MemRefType>(copy.getSource().getType());
  SmallVector<Value> lbs, ubs, steps;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    lbs.push_back(arith::ConstantIndexOp::create(b, 0));
    ubs.push_back(memref::DimOp::create(b, copy.getSource(), d));
    steps.push_back(arith::ConstantIndexOp::create(b, 1));
  }
  Value source = copy.getSource(), target = copy.getTarget();
  scf::ParallelOp::create(
      b, lbs, ubs, steps,
      [&](OpBuilder &nb, Location loc, ValueRange ivs) {
        Value v = memref::LoadOp::create(nb, loc, source, ivs);
        memref::StoreOp::create(nb, loc, v, target, ivs);
      });
  rewriter.eraseOp(copy);
}

/// Inside a kernel: linalg ops and copies become loops, static
/// allocations private memory. Fails on a dynamic allocation.
LogicalResult prepareKernelBody(RewriterBase &rewriter, Region &body) {
  // Not the ops inside linalg ops: they go with them.
  SmallVector<Operation *> ops;
  body.walk<WalkOrder::PreOrder>([&](Operation *op) {
    ops.push_back(op);
    return isa<linalg::LinalgOp>(op) ? WalkResult::skip()
                                     : WalkResult::advance();
  });
  for (Operation *op : ops) {
    if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
      rewriter.setInsertionPoint(op);
      if (failed(linalg::linalgOpToLoops(rewriter, linalgOp)))
        return op->emitOpError("could not be lowered to loops in a kernel");
      rewriter.eraseOp(op);
    } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
      ImplicitLocOpBuilder b(copy.getLoc(), rewriter);
      b.setInsertionPoint(copy);
      auto type = cast<MemRefType>(copy.getSource().getType());
      // Nested sequential loops: the kernel is one thread's work.
      SmallVector<Value> ivs;
      OpBuilder::InsertionGuard guard(b);
      for (int64_t d = 0; d < type.getRank(); ++d) {
        auto loop = scf::ForOp::create(
            b, arith::ConstantIndexOp::create(b, 0),
            memref::DimOp::create(b, copy.getSource(), d),
            arith::ConstantIndexOp::create(b, 1));
        ivs.push_back(loop.getInductionVar());
        b.setInsertionPoint(loop.getBody()->getTerminator());
      }
      Value v = memref::LoadOp::create(b, copy.getSource(), ivs);
      memref::StoreOp::create(b, v, copy.getTarget(), ivs);
      rewriter.eraseOp(copy);
    } else if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
      if (!alloc.getType().hasStaticShape())
        return alloc.emitOpError(
            "of a dynamic size inside a GPU kernel: the loop it is in must "
            "have parts of static size (convert-moe-to-linalg{tokens-per-"
            "part=1})");
      rewriter.setInsertionPoint(alloc);
      rewriter.replaceOpWithNewOp<memref::AllocaOp>(alloc, alloc.getType());
    } else if (isa<memref::DeallocOp>(op)) {
      auto source = op->getOperand(0).getDefiningOp();
      if (source && isa<memref::AllocaOp, memref::AllocOp>(source))
        rewriter.eraseOp(op);
    }
  }
  // Deallocations of allocas created above.
  SmallVector<memref::DeallocOp> deallocs;
  body.walk([&](memref::DeallocOp op) {
    if (op.getMemref().getDefiningOp<memref::AllocaOp>())
      deallocs.push_back(op);
  });
  for (memref::DeallocOp op : deallocs)
    rewriter.eraseOp(op);
  return success();
}

/// A launch of ceil(total / 256) blocks of 256 threads, whose body (built
/// by `body` with the thread's linear index) runs for index < total.
gpu::LaunchOp buildElementwiseLaunch(
    ImplicitLocOpBuilder &b, Value total,
    function_ref<void(OpBuilder &, Location, Value)> body) {
  Value one = arith::ConstantIndexOp::create(b, 1);
  Value threads = arith::ConstantIndexOp::create(b, kThreadsPerBlock);
  Value blocks = arith::MaxUIOp::create(
      b, arith::CeilDivUIOp::create(b, total, threads), one);
  auto launch =
      gpu::LaunchOp::create(b, blocks, one, one, threads, one, one);
  Block &entry = launch.getBody().front();
  OpBuilder kb = OpBuilder::atBlockEnd(&entry);
  Location loc = b.getLoc();
  Value linear = arith::AddIOp::create(
      kb, loc,
      arith::MulIOp::create(kb, loc, launch.getBlockIds().x, threads),
      launch.getThreadIds().x);
  Value inRange = arith::CmpIOp::create(kb, loc, arith::CmpIPredicate::ult,
                                        linear, total);
  auto guard = scf::IfOp::create(kb, loc, inRange, /*withElse=*/false);
  OpBuilder tb = guard.getThenBodyBuilder();
  body(tb, loc, linear);
  gpu::TerminatorOp::create(kb, loc);
  return launch;
}

/// A parallel loop nest (lower bounds, upper bounds, steps, body) as one
/// thread per iteration: the linear index is split innermost-fastest.
gpu::LaunchOp mapParallelLoop(RewriterBase &rewriter, Operation *loop,
                              ValueRange lbs, ValueRange ubs,
                              ValueRange steps, Block &body) {
  ImplicitLocOpBuilder b(loop->getLoc(), rewriter);
  b.setInsertionPoint(loop);
  SmallVector<Value> trips;
  Value total = arith::ConstantIndexOp::create(b, 1);
  for (auto [lb, ub, step] : llvm::zip(lbs, ubs, steps)) {
    Value span = arith::SubIOp::create(b, ub, lb);
    Value trip = arith::CeilDivUIOp::create(b, span, step);
    // An empty range (ub <= lb) runs nothing.
    Value empty =
        arith::CmpIOp::create(b, arith::CmpIPredicate::sle, ub, lb);
    trip = arith::SelectOp::create(b, empty,
                                   arith::ConstantIndexOp::create(b, 0), trip);
    trips.push_back(trip);
    total = arith::MulIOp::create(b, total, trip);
  }
  gpu::LaunchOp launch = buildElementwiseLaunch(
      b, total, [&](OpBuilder &kb, Location loc, Value linear) {
        IRMapping mapping;
        Value rest = linear;
        for (int64_t d = trips.size() - 1; d >= 0; --d) {
          Value index = arith::RemUIOp::create(kb, loc, rest, trips[d]);
          rest = arith::DivUIOp::create(kb, loc, rest, trips[d]);
          Value iv = arith::AddIOp::create(
              kb, loc, lbs[d], arith::MulIOp::create(kb, loc, index, steps[d]));
          mapping.map(body.getArgument(d), iv);
        }
        for (Operation &op : body.without_terminator())
          kb.clone(op, mapping);
      });
  rewriter.eraseOp(loop);
  return launch;
}

struct MoECUDAMapToKernelsPass
    : public mlir::moe::impl::MoECUDAMapToKernelsBase<
          MoECUDAMapToKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    IRRewriter rewriter(&getContext());
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      if (failed(mapBlock(rewriter, func.getBody().front())))
        return signalPassFailure();
    }
    makeAllocationsAsync(rewriter, module);
  }

  /// gpu-to-llvm lowers device allocation, deallocation, memset and
  /// memcpy in their asynchronous form only: each synchronous one becomes
  /// `wait async`, the op on that token, `wait` (the runtime queues them in
  /// order on its stream).
  static void makeAllocationsAsync(RewriterBase &rewriter, ModuleOp module) {
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (op->getParentOfType<gpu::GPUModuleOp>())
        return;
      if (auto alloc = dyn_cast<gpu::AllocOp>(op); alloc && !alloc.getAsyncToken())
        ops.push_back(op);
      if (auto dealloc = dyn_cast<gpu::DeallocOp>(op);
          dealloc && !dealloc.getAsyncToken())
        ops.push_back(op);
      if (auto memset = dyn_cast<gpu::MemsetOp>(op);
          memset && !memset.getAsyncToken())
        ops.push_back(op);
      if (auto memcpy = dyn_cast<gpu::MemcpyOp>(op);
          memcpy && !memcpy.getAsyncToken())
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      ImplicitLocOpBuilder b(op->getLoc(), rewriter);
      b.setInsertionPoint(op);
      Type tokenType = gpu::AsyncTokenType::get(op->getContext());
      Value token = gpu::WaitOp::create(b, tokenType, ValueRange())
                        .getAsyncToken();
      Value done;
      if (auto alloc = dyn_cast<gpu::AllocOp>(op)) {
        auto async = gpu::AllocOp::create(
            b, alloc.getMemref().getType(), tokenType, ValueRange{token},
            alloc.getDynamicSizes(), alloc.getSymbolOperands(),
            alloc.getHostShared());
        rewriter.replaceAllUsesWith(alloc.getMemref(), async.getMemref());
        done = async.getAsyncToken();
      } else if (auto dealloc = dyn_cast<gpu::DeallocOp>(op)) {
        done = gpu::DeallocOp::create(b, tokenType, ValueRange{token},
                                      dealloc.getMemref())
                   .getAsyncToken();
      } else if (auto memset = dyn_cast<gpu::MemsetOp>(op)) {
        done = gpu::MemsetOp::create(b, tokenType, ValueRange{token},
                                     memset.getDst(), memset.getValue())
                   .getAsyncToken();
      } else {
        auto memcpy = cast<gpu::MemcpyOp>(op);
        done = gpu::MemcpyOp::create(b, tokenType, ValueRange{token},
                                     memcpy.getDst(), memcpy.getSrc())
                   .getAsyncToken();
      }
      gpu::WaitOp::create(b, Type(), ValueRange{done});
      rewriter.eraseOp(op);
    }
  }

  LogicalResult mapBlock(RewriterBase &rewriter, Block &block) {
    // Linalg ops and copies at this level first become parallel loops.
    SmallVector<Operation *> toLoops;
    for (Operation &op : block)
      if (isa<linalg::LinalgOp, memref::CopyOp>(op))
        toLoops.push_back(&op);
    for (Operation *op : toLoops) {
      if (auto copy = dyn_cast<memref::CopyOp>(op)) {
        copyAsParallelLoop(rewriter, copy);
        continue;
      }
      rewriter.setInsertionPoint(op);
      if (failed(linalg::linalgOpToParallelLoops(
              rewriter, cast<linalg::LinalgOp>(op))))
        return op->emitOpError("could not be lowered to parallel loops");
      rewriter.eraseOp(op);
    }

    // Allocations move up to where their sizes are known and deallocations
    // down to the end, so that neither splits a run of sequential code
    // (whose values may flow on through host arithmetic).
    SmallVector<Operation *> allocs, deallocs;
    for (Operation &op : block) {
      if (isa<memref::AllocOp>(op))
        allocs.push_back(&op);
      else if (isa<memref::DeallocOp>(op))
        deallocs.push_back(&op);
    }
    for (Operation *alloc : allocs) {
      Operation *after = nullptr;
      for (Value operand : alloc->getOperands())
        if (Operation *def = operand.getDefiningOp())
          if (def->getBlock() == &block &&
              (!after || after->isBeforeInBlock(def)))
            after = def;
      if (after)
        alloc->moveAfter(after);
      else
        alloc->moveBefore(&block, block.begin());
    }
    for (Operation *dealloc : deallocs)
      dealloc->moveBefore(block.getTerminator());

    SmallVector<Operation *> run;
    SmallVector<Operation *> ops;
    for (Operation &op : block.without_terminator())
      ops.push_back(&op);
    for (Operation *op : ops) {
      if (isa<GatherGateUpOp, DownScatterAddOp>(op))
        return op->emitOpError("must be lowered by moe-cuda-lower-grouped-"
                               "gemm before moe-cuda-map-to-kernels");
      if (isa<ExchangeCountsOp, ExchangeRowsOp, ExchangeRowsStartOp,
              ExchangeWaitOp>(op))
        return op->emitOpError(
            "is an exchange of expert parallelism, which the CUDA target "
            "does not run yet");
      if (isHostOp(op)) {
        if (!run.empty())
          run.push_back(op);
        continue;
      }
      // A call of another host function (an entry's bf16 twin calls the
      // entry) stays on the host, which launches the callee's kernels.
      if (isa<scf::ForallOp, scf::ParallelOp, memref::AllocOp,
              memref::DeallocOp, func::CallOp>(op) ||
          holdsLaunches(op)) {
        if (failed(flushRun(rewriter, run)))
          return failure();
        if (failed(mapOne(rewriter, op)))
          return failure();
        continue;
      }
      run.push_back(op);
    }
    return flushRun(rewriter, run);
  }

  LogicalResult mapOne(RewriterBase &rewriter, Operation *op) {
    if (auto forall = dyn_cast<scf::ForallOp>(op)) {
      if (forall.getNumResults() != 0)
        return forall.emitOpError("on tensors: bufferize first");
      ImplicitLocOpBuilder b(op->getLoc(), rewriter);
      b.setInsertionPoint(op);
      auto values = [&](ArrayRef<OpFoldResult> folds) {
        SmallVector<Value> result;
        for (OpFoldResult fold : folds)
          result.push_back(getValueOrCreateConstantIndexOp(b, b.getLoc(), fold));
        return result;
      };
      SmallVector<Value> lbs = values(forall.getMixedLowerBound());
      SmallVector<Value> ubs = values(forall.getMixedUpperBound());
      SmallVector<Value> steps = values(forall.getMixedStep());
      return finishKernel(
          rewriter,
          mapParallelLoop(rewriter, op, lbs, ubs, steps, *forall.getBody()));
    }
    if (auto parallel = dyn_cast<scf::ParallelOp>(op))
      return finishKernel(rewriter, mapParallelLoop(rewriter, op, parallel.getLowerBound(),
                             parallel.getUpperBound(), parallel.getStep(),
                             *parallel.getBody()));
    if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
      rewriter.setInsertionPoint(alloc);
      auto device = gpu::AllocOp::create(
          rewriter, alloc.getLoc(), TypeRange{alloc.getType()},
          /*asyncDependencies=*/ValueRange(), alloc.getDynamicSizes(),
          alloc.getSymbolOperands(), /*hostShared=*/false);
      rewriter.replaceOp(alloc, device->getResult(0));
      return success();
    }
    if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
      rewriter.setInsertionPoint(dealloc);
      gpu::DeallocOp::create(rewriter, dealloc.getLoc(), Type(), ValueRange(),
                             dealloc.getMemref());
      rewriter.eraseOp(dealloc);
      return success();
    }
    // An op holding launches (the GEMM variants' scf.if), or a call, is
    // host code already: sizes, device buffers, TMA descriptors and
    // launches.
    return success();
  }

  /// The run of ops (sequential code touching buffers, with the host
  /// arithmetic between them) as one single-thread launch.
  LogicalResult flushRun(RewriterBase &rewriter,
                         SmallVectorImpl<Operation *> &run) {
    llvm::SmallPtrSet<Operation *, 16> inRun(run.begin(), run.end());
    auto definedInRun = [&](Value v) {
      Operation *def = v.getDefiningOp();
      return def && inRun.contains(def);
    };
    // Trailing host arithmetic on host values stays on the host.
    while (!run.empty() && isHostOp(run.back()) &&
           llvm::none_of(run.back()->getOperands(), definedInRun)) {
      inRun.erase(run.back());
      run.pop_back();
    }
    if (run.empty())
      return success();
    // Host arithmetic the rest of the function also needs stays outside,
    // ahead of the run, when its operands allow; values computed on the
    // device that later kernels need go through device memory (spilled).
    SmallVector<Operation *> kept;
    SmallVector<Value> spills;
    Operation *lastHoisted = nullptr;
    for (Operation *op : run) {
      // Host arithmetic on host values (views, sizes, constants) leaves the
      // run, in order, ahead of it: later host code may need it.
      if (isHostOp(op) && llvm::none_of(op->getOperands(), definedInRun)) {
        if (lastHoisted)
          rewriter.moveOpAfter(op, lastHoisted);
        else if (op != run.front())
          rewriter.moveOpBefore(op, run.front());
        lastHoisted = op;
        inRun.erase(op);
        continue;
      }
      kept.push_back(op);
      bool usedOutside = llvm::any_of(op->getUsers(), [&](Operation *user) {
        Operation *ancestor = user;
        while (ancestor && !inRun.contains(ancestor))
          ancestor = ancestor->getParentOp();
        return !ancestor;
      });
      if (!usedOutside)
        continue;
      for (Value result : op->getResults())
        if (!result.getType().isIntOrIndexOrFloat())
          return op->emitOpError("computes a ")
                 << result.getType()
                 << " on the device that later code needs: the CUDA target "
                    "passes only scalars between kernels";
        else
          spills.push_back(result);
      // Host code that would read it: sizes, loop bounds, results.
      for (OpOperand &use : op->getUses()) {
        Operation *user = use.getOwner();
        if (user->getBlock() == op->getBlock() &&
            (isa<memref::AllocOp, memref::DeallocOp, scf::ForallOp,
                 scf::ParallelOp, func::ReturnOp>(user) ||
             holdsLaunches(user)))
          return op->emitOpError(
              "computes a value on the device that host code needs (a size "
              "read from device memory): the CUDA target cannot run it yet");
      }
    }
    if (kept.empty())
      return success();
    Operation *first = kept.front();
    ImplicitLocOpBuilder b(first->getLoc(), rewriter);
    b.setInsertionPoint(first);
    Value one = arith::ConstantIndexOp::create(b, 1);
    auto launch = gpu::LaunchOp::create(b, one, one, one, one, one, one);
    Block &entry = launch.getBody().front();
    OpBuilder atEnd = OpBuilder::atBlockEnd(&entry);
    auto terminator = gpu::TerminatorOp::create(atEnd, b.getLoc());
    for (Operation *op : kept)
      rewriter.moveOpBefore(op, terminator);
    run.clear();
    // Each spilled value: a one-element device buffer, allocated before the
    // launch and written at its end.
    for (Value value : spills) {
      auto type = MemRefType::get({1}, value.getType());
      auto buffer = gpu::AllocOp::create(b, TypeRange{type}, ValueRange(),
                                         ValueRange(), ValueRange(), false);
      buffer->moveBefore(launch);
      OpBuilder store(terminator);
      Value zero = arith::ConstantIndexOp::create(store, value.getLoc(), 0);
      memref::StoreOp::create(store, value.getLoc(), value,
                              buffer->getResult(0), zero);
      spilled[value] = buffer->getResult(0);
      tainted.insert(value);
    }
    return finishKernel(rewriter, launch);
  }

  /// Whether `op` stays on the host: it computes from values the host has.
  bool isHostOp(Operation *op) {
    return isHostScalar(op) &&
           llvm::none_of(op->getOperands(),
                         [&](Value v) { return tainted.contains(v); });
  }

  /// Prepares a new kernel's body and reads there the spilled values of
  /// earlier kernels it uses.
  LogicalResult finishKernel(RewriterBase &rewriter, gpu::LaunchOp launch) {
    if (failed(prepareKernelBody(rewriter, launch.getBody())))
      return failure();
    DenseMap<Value, Value> reloaded;
    Block &entry = launch.getBody().front();
    launch.getBody().walk([&](Operation *op) {
      for (OpOperand &use : op->getOpOperands()) {
        auto it = spilled.find(use.get());
        if (it == spilled.end() || launch->isAncestor(use.get().getDefiningOp()))
          continue;
        Value &load = reloaded[use.get()];
        if (!load) {
          OpBuilder at = OpBuilder::atBlockBegin(&entry);
          Value zero = arith::ConstantIndexOp::create(at, op->getLoc(), 0);
          load = memref::LoadOp::create(at, op->getLoc(), it->second, zero);
        }
        use.set(load);
      }
    });
    return success();
  }

  /// Device values later kernels read (values of earlier single-thread
  /// launches), and the buffers that carry them.
  DenseSet<Value> tainted;
  DenseMap<Value, Value> spilled;
};
} // namespace
