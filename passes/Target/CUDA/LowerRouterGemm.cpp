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

namespace {

constexpr int64_t kWarpSize = 32;
/// Warps of a block, each computing one expert's logits.
constexpr int64_t kWarps = 8;
/// Tokens of a block: each weight element a lane loads serves them all.
constexpr int64_t kTokensPerBlock = 4;

Value idx(ImplicitLocOpBuilder &b, int64_t v) {
  return arith::ConstantIndexOp::create(b, v);
}

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

/// The kernel router_gemm(x, w, logits, T) described in the file header,
/// for static `hidden` (H) and `experts` (E); `accumulate`: add into the
/// logits (matmul semantics) rather than overwrite them.
gpu::GPUFuncOp buildRouterGemmKernel(gpu::GPUModuleOp kernels, Location loc,
                                     TypeRange arguments, int64_t hidden,
                                     int64_t experts, bool accumulate) {
  gpu::GPUFuncOp func =
      cuda::createKernel(kernels, loc, "router_gemm", arguments,
                         /*workgroup=*/{}, kWarps * kWarpSize);
  Block &entry = func.getBody().front();
  ImplicitLocOpBuilder b(loc, func.getContext());
  b.setInsertionPointToStart(&entry);
  gpu::ReturnOp::create(b);
  b.setInsertionPointToStart(&entry);
  Value x = entry.getArgument(0), w = entry.getArgument(1),
        logits = entry.getArgument(2), numTokens = entry.getArgument(3);

  Value thread = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value warp = arith::DivUIOp::create(b, thread, idx(b, kWarpSize));
  Value lane = arith::RemUIOp::create(b, thread, idx(b, kWarpSize));
  Value expert = arith::AddIOp::create(
      b,
      arith::MulIOp::create(b, gpu::BlockIdOp::create(b, gpu::Dimension::y),
                            idx(b, kWarps)),
      warp);
  Value firstToken = arith::MulIOp::create(
      b, gpu::BlockIdOp::create(b, gpu::Dimension::x), idx(b, kTokensPerBlock));
  // Both conditions are the same for all lanes of a warp, so every lane
  // reaches the shuffles.
  Value active =
      arith::AndIOp::create(b,
                            arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                                  expert, idx(b, experts)),
                            arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                                  firstToken, numTokens));
  b.setInsertionPointToStart(
      scf::IfOp::create(b, active, /*withElseRegion=*/false).thenBlock());

  // A block's tokens past the last are computed on the last token's row
  // (a valid address) and not stored.
  Value lastToken = arith::SubIOp::create(b, numTokens, idx(b, 1));
  SmallVector<Value> tokens;
  for (int64_t j = 0; j < kTokensPerBlock; ++j)
    tokens.push_back(arith::MinUIOp::create(
        b, arith::AddIOp::create(b, firstToken, idx(b, j)), lastToken));

  // acc[j] = fma(x[t_j, h], w[e, h], acc[j]) for the lane's h.
  auto fmaStep = [&](OpBuilder &ob, Location l, Value h,
                     ValueRange acc) -> SmallVector<Value> {
    Value weight = memref::LoadOp::create(ob, l, w, ValueRange{expert, h});
    SmallVector<Value> next;
    for (int64_t j = 0; j < kTokensPerBlock; ++j) {
      Value input = memref::LoadOp::create(ob, l, x, ValueRange{tokens[j], h});
      next.push_back(math::FmaOp::create(ob, l, input, weight, acc[j]));
    }
    return next;
  };
  Value zero = arith::ConstantFloatOp::create(b, b.getF32Type(), APFloat(0.0f));
  SmallVector<Value> sums(kTokensPerBlock, zero);
  int64_t fullSteps = hidden / kWarpSize, tail = hidden % kWarpSize;
  if (fullSteps > 0) {
    auto loop = scf::ForOp::create(
        b, lane, idx(b, fullSteps * kWarpSize), idx(b, kWarpSize), sums,
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
    Value store = arith::AndIOp::create(
        b, isLaneZero,
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, token, numTokens));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(
        scf::IfOp::create(b, store, /*withElseRegion=*/false).thenBlock());
    if (accumulate)
      sum = arith::AddFOp::create(
          b, memref::LoadOp::create(b, logits, ValueRange{token, expert}), sum);
    memref::StoreOp::create(b, sum, logits, ValueRange{token, expert});
  }
  return func;
}

/// Replaces the router GEMM `op` by the kernel's launch.
void lowerRouterGemm(linalg::MatmulOp op, gpu::GPUModuleOp kernels) {
  Value x = op.getDpsInputs()[0], w = op.getDpsInputs()[1],
        logits = op.getDpsInits()[0];
  auto weightType = cast<MemRefType>(w.getType());
  int64_t experts = weightType.getDimSize(0), hidden = weightType.getDimSize(1);
  ImplicitLocOpBuilder b(op.getLoc(), op);
  SmallVector<Type> arguments = {x.getType(), w.getType(), logits.getType(),
                                 b.getIndexType()};
  linalg::FillOp zeroFill = findZeroFill(op);
  gpu::GPUFuncOp kernel =
      buildRouterGemmKernel(kernels, op.getLoc(), arguments, hidden, experts,
                            /*accumulate=*/!zeroFill);
  if (zeroFill)
    zeroFill.erase();
  Value numTokens = memref::DimOp::create(b, x, 0);
  Value one = idx(b, 1);
  // At least one block: a launch of an empty grid is an error.
  Value tokenBlocks = arith::MaxUIOp::create(
      b, arith::CeilDivUIOp::create(b, numTokens, idx(b, kTokensPerBlock)),
      one);
  Value expertBlocks = idx(b, (experts + kWarps - 1) / kWarps);
  cuda::StreamChain stream(b);
  stream.launch(kernel, gpu::KernelDim3{tokenBlocks, expertBlocks, one},
                gpu::KernelDim3{idx(b, kWarps * kWarpSize), one, one},
                ValueRange{x, w, logits, numTokens});
  stream.finish();
  op.erase();
}

struct MoECUDALowerRouterGemmPass
    : public mlir::moe::impl::MoECUDALowerRouterGemmBase<
          MoECUDALowerRouterGemmPass> {
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
    gpu::GPUModuleOp kernels = cuda::getOrCreateKernelModule(module);
    for (linalg::MatmulOp op : gemms)
      lowerRouterGemm(op, kernels);
  }
};
} // namespace
