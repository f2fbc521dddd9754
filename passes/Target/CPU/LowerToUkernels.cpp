//===- LowerToUkernels.cpp - CPU micro-kernel calls -----------------------===//
//
// Implements `moe-cpu-lower-to-ukernels`: transposed-B f32 matmuls on
// buffers become calls to moe_ukernel_matmul_nt_f32 (C interface: pointers
// to memref descriptors), which accumulates into the output as
// linalg.matmul does; a grouped moe.gather_gate_up / moe.down_scatter_add
// on buffers becomes a loop over its experts, and each expert's op on
// packed panels the generated loops and epilogues around the register
// tiles (PanelLoops.cpp). Every value the calls and the kernels must agree
// on comes from moe/Runtime/KernelABI.h.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/CPU/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Runtime/KernelABI.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOECPULOWERTOUKERNELS
#include "moe/Target/CPU/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
// The kernels' symbols are moe/Runtime/KernelABI.h's, which the kernels
// are compiled with.
constexpr StringLiteral kMatmulUkernel =
    MOE_UKERNEL_NAME(MOE_UKERNEL_MATMUL_NT_F32);

/// The memref types the kernels take: rank 1 or 2, unit inner stride for
/// matrices, any offset.
MemRefType kernelOperandType(Type element, unsigned rank) {
  MLIRContext *ctx = element.getContext();
  int64_t dynamic = ShapedType::kDynamic;
  SmallVector<int64_t> shape(rank, dynamic), strides(rank, dynamic);
  if (rank == 2)
    strides[1] = 1;
  return MemRefType::get(shape, element,
                         StridedLayoutAttr::get(ctx, dynamic, strides));
}

MemRefType matrixType(MLIRContext *ctx) {
  return kernelOperandType(Float32Type::get(ctx), 2);
}

/// Whether `value` is a memref of the kernels' element type and rank whose
/// innermost dimension is contiguous (always true of rank 1 here: a
/// strided vector is passed with its stride).
bool isKernelOperand(Value value, Type element, unsigned rank) {
  auto type = dyn_cast<MemRefType>(value.getType());
  if (!type || type.getRank() != rank || type.getElementType() != element)
    return false;
  SmallVector<int64_t> strides;
  int64_t offset;
  return succeeded(type.getStridesAndOffset(strides, offset)) &&
         (rank == 1 || strides.back() == 1);
}

bool isMatrix(Value value) {
  return isKernelOperand(value, Float32Type::get(value.getContext()), 2);
}

struct MatmulToUkernel : OpRewritePattern<linalg::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::MatmulOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() ||
        !isa<linalg::MatmulTransposeBOp>(op.getOperation()))
      return rewriter.notifyMatchFailure(op, "not x·Wᵀ on buffers");
    SmallVector<Value> operands = {op.getInputs()[0], op.getInputs()[1],
                                   op.getOutputs()[0]};
    if (!llvm::all_of(operands, isMatrix))
      return rewriter.notifyMatchFailure(op, "operands the kernel cannot take");
    SmallVector<Value> casts;
    for (Value operand : operands)
      casts.push_back(memref::CastOp::create(
          rewriter, op.getLoc(), matrixType(getContext()), operand));
    func::CallOp::create(rewriter, op.getLoc(), kMatmulUkernel, TypeRange{},
                         casts);
    rewriter.eraseOp(op);
    return success();
  }
};

/// Expert `expert`'s matrix of a stacked weight `[E, ...]` (or its row of a
/// stacked bias `[E, N]`) on buffers, as a rank-reduced subview.
Value expertWeight(OpBuilder &b, Location loc, Value stacked, Value expert) {
  if (!stacked)
    return stacked;
  auto type = cast<MemRefType>(stacked.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0)),
      sizes, strides(type.getRank(), b.getIndexAttr(1));
  offsets[0] = expert;
  sizes.push_back(b.getIndexAttr(1));
  for (int64_t d = 1; d < type.getRank(); ++d)
    sizes.push_back(memref::getMixedSize(b, loc, stacked, d));
  auto reduced = memref::SubViewOp::inferRankReducedResultType(
      type.getShape().drop_front(), type, offsets, sizes, strides);
  return memref::SubViewOp::create(b, loc, cast<MemRefType>(reduced), stacked,
                                   offsets, sizes, strides);
}

/// Rows `[start, start+count)` of a `[R]` or `[R, X]` buffer.
Value rowRange(OpBuilder &b, Location loc, Value value, Value start,
               Value count) {
  if (!value)
    return value;
  auto type = cast<MemRefType>(value.getType());
  SmallVector<OpFoldResult> offsets = {start}, sizes = {count},
                            strides(type.getRank(), b.getIndexAttr(1));
  if (type.getRank() == 2) {
    offsets.push_back(b.getIndexAttr(0));
    sizes.push_back(memref::getMixedSize(b, loc, value, 1));
  }
  return memref::SubViewOp::create(b, loc, value, offsets, sizes, strides);
}

/// A grouped expert kernel on buffers as a loop over its experts in order,
/// each an ungrouped op on the expert's rows and weights: the kernels take
/// one weight matrix. `build(b, expert, start, count)` makes the op.
void forEachExpert(
    PatternRewriter &rewriter, Operation *op, Value offsets,
    function_ref<void(OpBuilder &, Location, Value, Value, Value)> build) {
  Location loc = op->getLoc();
  int64_t numExperts = cast<MemRefType>(offsets.getType()).getDimSize(0) - 1;
  auto loadOffset = [&](OpBuilder &b, Value index) -> Value {
    Value offset = memref::LoadOp::create(b, loc, offsets, index);
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), offset);
  };
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  Value end = arith::ConstantIndexOp::create(rewriter, loc, numExperts);
  scf::ForOp::create(
      rewriter, loc, zero, end, one, ValueRange{},
      [&](OpBuilder &b, Location, Value expert, ValueRange) {
        Value start = loadOffset(b, expert);
        Value next = arith::AddIOp::create(b, loc, expert, one);
        Value count =
            arith::SubIOp::create(b, loc, loadOffset(b, next), start);
        build(b, loc, expert, start, count);
        scf::YieldOp::create(b, loc);
      });
}

/// Expert `expert`'s part of a grouped gather_gate_up: its rows and its
/// weights.
void buildExpertOp(OpBuilder &b, Location loc, GatherGateUpOp op, Value expert,
                   Value start, Value count) {
  // Without tokens, row r reads input row r.
  Value input = op.getRowToken()
                    ? op.getInput()
                    : rowRange(b, loc, op.getInput(), start, count);
  GatherGateUpOp::create(b, loc, TypeRange{}, input,
                         rowRange(b, loc, op.getRowToken(), start, count),
                         rowRange(b, loc, op.getScale(), start, count), Value(),
                         expertWeight(b, loc, op.getGate(), expert),
                         expertWeight(b, loc, op.getUp(), expert),
                         rowRange(b, loc, op.getInit(), start, count),
                         expertWeight(b, loc, op.getGateBias(), expert),
                         expertWeight(b, loc, op.getUpBias(), expert),
                         op.getActivation(), op.getLayout(),
                         op.getGluClampAttr());
}

/// Expert `expert`'s part of a grouped down_scatter_add.
void buildExpertOp(OpBuilder &b, Location loc, DownScatterAddOp op,
                   Value expert, Value start, Value count) {
  // Without tokens, row r adds into output row r.
  Value init = op.getRowToken()
                   ? op.getInit()
                   : rowRange(b, loc, op.getInit(), start, count);
  DownScatterAddOp::create(b, loc, TypeRange{},
                           rowRange(b, loc, op.getRows(), start, count),
                           Value(), expertWeight(b, loc, op.getDown(), expert),
                           rowRange(b, loc, op.getRowToken(), start, count),
                           rowRange(b, loc, op.getRowWeight(), start, count),
                           init, expertWeight(b, loc, op.getDownBias(), expert),
                           op.getLayout());
}

template <typename KernelOp>
struct GroupedToExpertLoop : OpRewritePattern<KernelOp> {
  using OpRewritePattern<KernelOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(KernelOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || !op.isGrouped())
      return rewriter.notifyMatchFailure(op, "not grouped on buffers");
    forEachExpert(rewriter, op, op.getExpertOffsets(),
                  [&](OpBuilder &b, Location loc, Value expert, Value start,
                      Value count) {
                    buildExpertOp(b, loc, op, expert, start, count);
                  });
    rewriter.eraseOp(op);
    return success();
  }
};

/// Declares `name` (C interface) once if anything calls it.
void declareKernel(ModuleOp module, StringRef name, TypeRange inputs) {
  bool called = false;
  module.walk([&](func::CallOp call) { called |= call.getCallee() == name; });
  if (!called || module.lookupSymbol(name))
    return;
  OpBuilder b(module.getContext());
  b.setInsertionPointToStart(module.getBody());
  auto decl = func::FuncOp::create(b, module.getLoc(), name,
                                   b.getFunctionType(inputs, {}));
  decl.setPrivate();
  decl->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), b.getUnitAttr());
}

struct MoECPULowerToUkernelsPass
    : public mlir::moe::impl::MoECPULowerToUkernelsBase<MoECPULowerToUkernelsPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    populateMoECPUPanelLoopPatterns(patterns);
    patterns.add<MatmulToUkernel, GroupedToExpertLoop<GatherGateUpOp>,
                 GroupedToExpertLoop<DownScatterAddOp>>(ctx);
    if (failed(applyPatternsGreedily(module, std::move(patterns))))
      return signalPassFailure();
    // The expert kernels have no other lowering on the CPU.
    WalkResult leftover = module.walk([](Operation *op) {
      if (!isa<GatherGateUpOp, DownScatterAddOp>(op))
        return WalkResult::advance();
      op->emitOpError("has no CPU lowering for these operands: the CPU runs "
                      "expert kernels on buffers of f32 or bf16 panels of ")
          << MOE_UKERNEL_PANEL
          << " with dense rows (moe-cpu-pack-weights makes them)";
      return WalkResult::interrupt();
    });
    if (leftover.wasInterrupted())
      return signalPassFailure();

    declareMoECPUTiles(module);
    declareKernel(module, kMatmulUkernel,
                  {matrixType(ctx), matrixType(ctx), matrixType(ctx)});
  }
};
} // namespace
