//===- LowerRouterGemm.cpp - the router GEMM as a warp-parallel kernel ----===//
//
// Implements `moe-cuda-lower-router-gemm`: the router GEMM that
// convert-moe-to-linalg{fuse-router-gemm=false} leaves whole (a
// `linalg.matmul` marked `moe.router_gemm`, logits[T,E] += x[T,H]·w[E,H]ᵀ)
// becomes the launch of a generated kernel. Fused into the routing loop it
// ran as one GPU thread per token doing all E·H multiply-adds serially.
//
// The kernel: a block of kWarps warps takes kTokensPerBlock tokens
// (blockIdx.x) by kWarps experts (blockIdx.y), one expert per warp. Lane l
// walks the depth h = l, l+32, ... (coalesced 128-byte warp loads), one
// fma chain per token sharing each weight load; the 32 lane sums then meet
// in a butterfly of `gpu.shuffle xor` 16, 8, 4, 2, 1, and lane 0 adds the
// sum into the logit (or stores it, replacing the zero fill before the
// GEMM). A logit's reduction order is therefore fixed by H
// (and the warp width) alone: the same bits whatever T, the grid or the
// token's place in the batch. Each xor step adds the same two values in
// both partner lanes, so every lane ends with the same bits.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToLinalg.h"
#include "moe/Target/CUDA/Passes.h"

#include "GroupedGemm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOECUDALOWERROUTERGEMM
#include "moe/Target/CUDA/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using mlir::moe::cuda::idx;

namespace {

constexpr int64_t kWarpSize = 32;
/// Warps of a block, each computing one expert's logits.
constexpr int64_t kWarps = 8;
/// Tokens of a block: each weight element a lane loads serves them all.
constexpr int64_t kTokensPerBlock = 4;

/// Whether `op` is logits[T,E] += x[T,H] · w[E,H]ᵀ on f32 buffers with
/// static H and E; otherwise reports why on `op`.
LogicalResult checkRouterGemm(linalg::MatmulOp op) {
  if (op->getNumResults() != 0)
    return op.emitOpError("must be bufferized before moe-cuda-lower-router-"
                          "gemm (run moe-bufferize first)");
  auto input = dyn_cast<MemRefType>(op.getDpsInputs()[0].getType());
  auto weight = dyn_cast<MemRefType>(op.getDpsInputs()[1].getType());
  auto logits = dyn_cast<MemRefType>(op.getDpsInits()[0].getType());
  Type f32 = Float32Type::get(op.getContext());
  if (!input || !weight || !logits ||
      !llvm::all_of(TypeRange{input, weight, logits}, [&](Type type) {
        return cast<MemRefType>(type).getElementType() == f32;
      }))
    return op.emitOpError("router GEMM: the kernel needs f32 operands (the "
                          "router is computed in f32)");
  MLIRContext *ctx = op.getContext();
  AffineExpr t = getAffineDimExpr(0, ctx), e = getAffineDimExpr(1, ctx),
             h = getAffineDimExpr(2, ctx);
  SmallVector<AffineMap> routerMaps = {AffineMap::get(3, 0, {t, h}, ctx),
                                       AffineMap::get(3, 0, {e, h}, ctx),
                                       AffineMap::get(3, 0, {t, e}, ctx)};
  if (op.getIndexingMapsArray() != routerMaps)
    return op.emitOpError("router GEMM: expected x[T,H] · w[E,H]ᵀ (the "
                          "transposed-B maps of a router)");
  if (weight.isDynamicDim(0) || weight.isDynamicDim(1))
    return op.emitOpError("router GEMM: the kernel needs a static router "
                          "weight shape [E,H]");
  return success();
}

/// The zero fill of `op`'s logits just before it (what the lowering of a
/// matmul on tensors leaves), which the kernel's stores make redundant;
/// null if there is none.
linalg::FillOp findZeroFill(linalg::MatmulOp op) {
  auto fill = dyn_cast_or_null<linalg::FillOp>(op->getPrevNode());
  if (!fill || fill.getNumResults() != 0 ||
      fill.getDpsInits()[0] != op.getDpsInits()[0])
    return nullptr;
  FloatAttr value;
  if (!matchPattern(fill.getDpsInputs()[0], m_Constant(&value)) ||
      !value.getValue().isZero())
    return nullptr;
  return fill;
}

/// A router GEMM's operands, on the device (kernel arguments) or the host.
struct RouterGemm {
  Value x, w, logits, numTokens;
  int64_t hidden, experts;
  /// Add into the logits (matmul semantics) rather than overwrite them.
  bool accumulate;
};

/// The tokens of the block starting at `firstToken`; those past the last
/// are computed on the last token's row (a valid address) and not stored.
SmallVector<Value> blockTokens(ImplicitLocOpBuilder &b, Value firstToken,
                               Value numTokens) {
  Value lastToken = arith::SubIOp::create(b, numTokens, idx(b, 1));
  SmallVector<Value> tokens;
  for (int64_t j = 0; j < kTokensPerBlock; ++j)
    tokens.push_back(arith::MinUIOp::create(
        b, arith::AddIOp::create(b, firstToken, idx(b, j)), lastToken));
  return tokens;
}

/// Lane `lane`'s partial sums of expert `expert`'s logits for `tokens`:
/// h = lane, lane+32, ... in order, one fma chain per token.
SmallVector<Value> lanePartialSums(ImplicitLocOpBuilder &b,
                                   const RouterGemm &gemm, Value expert,
                                   Value lane, ArrayRef<Value> tokens) {
  auto fmaStep = [&](OpBuilder &ob, Location l, Value h,
                     ValueRange acc) -> SmallVector<Value> {
    Value weight = memref::LoadOp::create(ob, l, gemm.w, ValueRange{expert, h});
    SmallVector<Value> next;
    for (int64_t j = 0; j < kTokensPerBlock; ++j) {
      Value input =
          memref::LoadOp::create(ob, l, gemm.x, ValueRange{tokens[j], h});
      next.push_back(math::FmaOp::create(ob, l, input, weight, acc[j]));
    }
    return next;
  };
  Value zero = arith::ConstantFloatOp::create(b, b.getF32Type(), APFloat(0.0f));
  SmallVector<Value> sums(kTokensPerBlock, zero);
  int64_t fullSteps = gemm.hidden / kWarpSize, tail = gemm.hidden % kWarpSize;
  if (fullSteps > 0) {
    Value end = idx(b, fullSteps * kWarpSize), step = idx(b, kWarpSize);
    auto loop = scf::ForOp::create(
        b, lane, end, step, sums,
        [&](OpBuilder &ob, Location l, Value h, ValueRange acc) {
          scf::YieldOp::create(ob, l, fmaStep(ob, l, h, acc));
        });
    sums.assign(loop.getResults().begin(), loop.getResults().end());
  }
  if (tail > 0) {
    Value inTail =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, lane, idx(b, tail));
    auto branch = scf::IfOp::create(
        b, inTail,
        [&](OpBuilder &ob, Location l) {
          Value h = arith::AddIOp::create(
              ob, l, lane,
              arith::ConstantIndexOp::create(ob, l, fullSteps * kWarpSize));
          scf::YieldOp::create(ob, l, fmaStep(ob, l, h, sums));
        },
        [&](OpBuilder &ob, Location l) { scf::YieldOp::create(ob, l, sums); });
    sums.assign(branch.getResults().begin(), branch.getResults().end());
  }
  return sums;
}

/// `if (store) logits[token, expert] (+)= sum`.
void storeLogit(ImplicitLocOpBuilder &b, const RouterGemm &gemm, Value store,
                Value token, Value expert, Value sum) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(
      scf::IfOp::create(b, store, /*withElseRegion=*/false).thenBlock());
  if (gemm.accumulate)
    sum = arith::AddFOp::create(
        b, memref::LoadOp::create(b, gemm.logits, ValueRange{token, expert}),
        sum);
  memref::StoreOp::create(b, sum, gemm.logits, ValueRange{token, expert});
}

Value isBelow(ImplicitLocOpBuilder &b, Value x, Value bound) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, x, bound);
}

/// The kernel router_gemm(x, w, logits, T) described in the file header.
gpu::GPUFuncOp buildRouterGemmKernel(gpu::GPUModuleOp kernels, Location loc,
                                     TypeRange arguments,
                                     const RouterGemm &host) {
  gpu::GPUFuncOp func =
      cuda::createKernel(kernels, loc, "router_gemm", arguments,
                         /*workgroup=*/{}, kWarps * kWarpSize);
  Block &entry = func.getBody().front();
  ImplicitLocOpBuilder b(loc, func.getContext());
  b.setInsertionPointToStart(&entry);
  gpu::ReturnOp::create(b);
  b.setInsertionPointToStart(&entry);
  RouterGemm gemm = host;
  gemm.x = entry.getArgument(0);
  gemm.w = entry.getArgument(1);
  gemm.logits = entry.getArgument(2);
  gemm.numTokens = entry.getArgument(3);

  Value thread = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value warp = arith::DivUIOp::create(b, thread, idx(b, kWarpSize));
  Value lane = arith::RemUIOp::create(b, thread, idx(b, kWarpSize));
  // (One op per statement: the IR's order must not depend on the order
  // the compiler evaluates arguments in.)
  Value blockY = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value expertBase = arith::MulIOp::create(b, blockY, idx(b, kWarps));
  Value expert = arith::AddIOp::create(b, expertBase, warp);
  Value blockX = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value firstToken = arith::MulIOp::create(b, blockX, idx(b, kTokensPerBlock));
  // Both conditions are the same for all lanes of a warp, so every lane
  // reaches the shuffles.
  Value expertValid = isBelow(b, expert, idx(b, gemm.experts));
  Value tokensValid = isBelow(b, firstToken, gemm.numTokens);
  Value active = arith::AndIOp::create(b, expertValid, tokensValid);
  b.setInsertionPointToStart(
      scf::IfOp::create(b, active, /*withElseRegion=*/false).thenBlock());
  SmallVector<Value> sums = lanePartialSums(
      b, gemm, expert, lane, blockTokens(b, firstToken, gemm.numTokens));

  Value isLaneZero =
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, idx(b, 0));
  for (int64_t j = 0; j < kTokensPerBlock; ++j) {
    Value sum = sums[j];
    for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
      Value partner = gpu::ShuffleOp::create(b, sum, offset, kWarpSize,
                                             gpu::ShuffleMode::XOR)
                          .getShuffleResult();
      sum = arith::AddFOp::create(b, sum, partner);
    }
    Value token = arith::AddIOp::create(b, firstToken, idx(b, j));
    storeLogit(
        b, gemm,
        arith::AndIOp::create(b, isLaneZero, isBelow(b, token, gemm.numTokens)),
        token, expert, sum);
  }
  return func;
}

/// The kernel's computation as host loops that run on the CPU, in the
/// same order: an scf.forall over (token block, expert), the lanes as a
/// loop writing their partial sums to a buffer, and the butterfly as
/// steps over that buffer (lane l adds lane l^offset's value to its own).
void buildRouterGemmTwin(ImplicitLocOpBuilder &b, const RouterGemm &gemm) {
  Value tokenBlocks =
      arith::CeilDivUIOp::create(b, gemm.numTokens, idx(b, kTokensPerBlock));
  auto forall = scf::ForallOp::create(
      b, ArrayRef<OpFoldResult>{tokenBlocks, b.getIndexAttr(gemm.experts)},
      ValueRange(), std::nullopt);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getBody());
  Value firstToken = arith::MulIOp::create(b, forall.getInductionVar(0),
                                           idx(b, kTokensPerBlock));
  Value expert = forall.getInductionVar(1);
  SmallVector<Value> tokens = blockTokens(b, firstToken, gemm.numTokens);
  Type f32 = b.getF32Type();
  Value partials = memref::AllocaOp::create(
      b, MemRefType::get({kTokensPerBlock, kWarpSize}, f32));
  Value scratch =
      memref::AllocaOp::create(b, MemRefType::get({kWarpSize}, f32));
  Value zero = idx(b, 0), one = idx(b, 1), lanes = idx(b, kWarpSize);
  auto forEachLane = [&](function_ref<void(Value)> body) {
    auto loop = scf::ForOp::create(b, zero, lanes, one);
    OpBuilder::InsertionGuard laneGuard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    body(loop.getInductionVar());
  };
  forEachLane([&](Value lane) {
    SmallVector<Value> sums = lanePartialSums(b, gemm, expert, lane, tokens);
    for (int64_t j = 0; j < kTokensPerBlock; ++j)
      memref::StoreOp::create(b, sums[j], partials,
                              ValueRange{idx(b, j), lane});
  });
  for (int64_t j = 0; j < kTokensPerBlock; ++j) {
    Value row = idx(b, j);
    for (int64_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
      forEachLane([&](Value lane) {
        Value partner = arith::XOrIOp::create(b, lane, idx(b, offset));
        Value own = memref::LoadOp::create(b, partials, ValueRange{row, lane});
        Value other =
            memref::LoadOp::create(b, partials, ValueRange{row, partner});
        memref::StoreOp::create(b, arith::AddFOp::create(b, own, other),
                                scratch, ValueRange{lane});
      });
      forEachLane([&](Value lane) {
        memref::StoreOp::create(
            b, memref::LoadOp::create(b, scratch, ValueRange{lane}), partials,
            ValueRange{row, lane});
      });
    }
    Value token = arith::AddIOp::create(b, firstToken, row);
    Value store = isBelow(b, token, gemm.numTokens);
    Value sum = memref::LoadOp::create(b, partials, ValueRange{row, zero});
    storeLogit(b, gemm, store, token, expert, sum);
  }
}

/// Replaces the router GEMM `op` by the kernel's launch (or its twin).
void lowerRouterGemm(linalg::MatmulOp op, gpu::GPUModuleOp kernels,
                     bool cpuTwin) {
  // Before building anything: the fill is the op just before.
  linalg::FillOp zeroFill = findZeroFill(op);
  ImplicitLocOpBuilder b(op.getLoc(), op);
  RouterGemm gemm;
  gemm.x = op.getDpsInputs()[0];
  gemm.w = op.getDpsInputs()[1];
  gemm.logits = op.getDpsInits()[0];
  gemm.numTokens = memref::DimOp::create(b, gemm.x, 0);
  auto weightType = cast<MemRefType>(gemm.w.getType());
  gemm.experts = weightType.getDimSize(0);
  gemm.hidden = weightType.getDimSize(1);
  gemm.accumulate = !zeroFill;
  if (zeroFill)
    zeroFill.erase();
  if (cpuTwin) {
    buildRouterGemmTwin(b, gemm);
    op.erase();
    return;
  }
  SmallVector<Type> arguments = {gemm.x.getType(), gemm.w.getType(),
                                 gemm.logits.getType(), b.getIndexType()};
  gpu::GPUFuncOp kernel =
      buildRouterGemmKernel(kernels, op.getLoc(), arguments, gemm);
  Value one = idx(b, 1);
  // At least one block: a launch of an empty grid is an error.
  Value tokenBlocks =
      arith::CeilDivUIOp::create(b, gemm.numTokens, idx(b, kTokensPerBlock));
  tokenBlocks = arith::MaxUIOp::create(b, tokenBlocks, one);
  Value expertBlocks = idx(b, (gemm.experts + kWarps - 1) / kWarps);
  cuda::StreamChain stream(b);
  Value threads = idx(b, kWarps * kWarpSize);
  stream.launch(kernel, gpu::KernelDim3{tokenBlocks, expertBlocks, one},
                gpu::KernelDim3{threads, one, one},
                ValueRange{gemm.x, gemm.w, gemm.logits, gemm.numTokens});
  stream.finish();
  op.erase();
}

struct MoECUDALowerRouterGemmPass
    : public mlir::moe::impl::MoECUDALowerRouterGemmBase<
          MoECUDALowerRouterGemmPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<linalg::MatmulOp> gemms;
    bool refused = false;
    module.walk([&](linalg::MatmulOp op) {
      if (!op->hasAttr(kRouterGemmAttr))
        return;
      if (failed(checkRouterGemm(op)))
        refused = true;
      gemms.push_back(op);
    });
    if (refused)
      return signalPassFailure();
    if (gemms.empty())
      return;
    gpu::GPUModuleOp kernels;
    if (!cpuTwin)
      kernels = cuda::getOrCreateKernelModule(module);
    for (linalg::MatmulOp op : gemms)
      lowerRouterGemm(op, kernels, cpuTwin);
  }
};
} // namespace
