//===- LowerToUkernels.cpp - CPU micro-kernel calls -----------------------===//
//
// Implements `moe-cpu-lower-to-ukernels`: transposed-B f32 matmuls on
// buffers become calls to moe_ukernel_matmul_nt_f32 (C interface: pointers
// to memref descriptors), which accumulates into the output as
// linalg.matmul does; a grouped moe.gather_gate_up / moe.down_scatter_add
// on buffers becomes a loop over its experts, and each ungrouped one a call
// to its kernel (lib/Runtime/Embedded/Ukernels.h), the packed kernels when
// its weights are panels (of f32 or bf16). Every value the calls and the
// kernels must agree on comes from moe/Runtime/KernelABI.h.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/CPU/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Runtime/KernelABI.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <array>

namespace mlir::moe {
#define GEN_PASS_DEF_MOECPULOWERTOUKERNELS
#include "moe/Target/CPU/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
// The kernels' symbols, flag bits, activation codes and panel width are
// moe/Runtime/KernelABI.h's, which the kernels are compiled with.
constexpr StringLiteral kMatmulUkernel =
    MOE_UKERNEL_NAME(MOE_UKERNEL_MATMUL_NT_F32);
constexpr StringLiteral kGatherGateUpUkernel =
    MOE_UKERNEL_NAME(MOE_UKERNEL_GATHER_GATE_UP_F32);
constexpr StringLiteral kDownScatterAddUkernel =
    MOE_UKERNEL_NAME(MOE_UKERNEL_DOWN_SCATTER_ADD_F32);
constexpr StringLiteral kGatherGateUpPackedUkernel =
    MOE_UKERNEL_NAME(MOE_UKERNEL_GATHER_GATE_UP_PACKED_F32);
constexpr StringLiteral kDownScatterAddPackedUkernel =
    MOE_UKERNEL_NAME(MOE_UKERNEL_DOWN_SCATTER_ADD_PACKED_F32);
constexpr StringLiteral kGatherGateUpBF16Ukernel =
    MOE_UKERNEL_NAME(MOE_UKERNEL_GATHER_GATE_UP_PACKED_BF16);
constexpr StringLiteral kDownScatterAddBF16Ukernel =
    MOE_UKERNEL_NAME(MOE_UKERNEL_DOWN_SCATTER_ADD_PACKED_BF16);
constexpr int64_t kPanel = MOE_UKERNEL_PANEL;

// gather_gate_up takes the Activation value itself as its code.
static_assert(static_cast<int32_t>(Activation::swiglu) == MOE_UKERNEL_SWIGLU);
static_assert(static_cast<int32_t>(Activation::geglu) == MOE_UKERNEL_GEGLU);
static_assert(static_cast<int32_t>(Activation::gelu) == MOE_UKERNEL_GELU);
static_assert(static_cast<int32_t>(Activation::relu) == MOE_UKERNEL_RELU);
static_assert(getMaxEnumValForActivation() == MOE_UKERNEL_RELU,
              "an Activation without a kernel code in KernelABI.h");

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

/// How a kernel op holds a weight: `[N, K]` f32 rows, or packed panels of
/// f32 or of bf16 (each has its kernels, in this order: see kernelFor).
enum class WeightForm { Rows, F32Panels, BF16Panels };

WeightForm weightFormOf(WeightLayoutAttr layout, Value weight) {
  if (!layout.isPanels())
    return WeightForm::Rows;
  return cast<ShapedType>(weight.getType()).getElementType().isBF16()
             ? WeightForm::BF16Panels
             : WeightForm::F32Panels;
}

Type panelElement(MLIRContext *ctx, WeightForm form) {
  if (form == WeightForm::BF16Panels)
    return BFloat16Type::get(ctx);
  return Float32Type::get(ctx);
}

/// The packed kernels' weight type: `[P, K, kPanel]` panels, each dense,
/// the panels at any stride and offset.
MemRefType panelsType(MLIRContext *ctx, WeightForm form) {
  int64_t dynamic = ShapedType::kDynamic;
  return MemRefType::get(
      {dynamic, dynamic, kPanel}, panelElement(ctx, form),
      StridedLayoutAttr::get(ctx, dynamic, {dynamic, kPanel, 1}));
}

bool isPanels(Value value, WeightForm form) {
  auto type = dyn_cast<MemRefType>(value.getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  return type && type.getRank() == 3 &&
         type.getElementType() == panelElement(value.getContext(), form) &&
         type.getDimSize(2) == kPanel &&
         succeeded(type.getStridesAndOffset(strides, offset)) &&
         strides[1] == kPanel && strides[2] == 1;
}

/// The kernel of an op for its weights' form: `names` per WeightForm.
StringRef kernelFor(WeightForm form, std::array<StringRef, 3> names) {
  return names[static_cast<size_t>(form)];
}

/// A weight operand held as `form`.
bool isWeight(Value value, WeightForm form) {
  return form == WeightForm::Rows ? isMatrix(value) : isPanels(value, form);
}

/// `value` cast to the kernel's type; an absent optional operand becomes an
/// empty buffer of that type (the flags tell the kernel not to read it).
Value kernelOperand(PatternRewriter &rewriter, Location loc, Value value,
                    Type element, unsigned rank) {
  MemRefType type = kernelOperandType(element, rank);
  if (!value)
    value = memref::AllocaOp::create(
        rewriter, loc, MemRefType::get(SmallVector<int64_t>(rank, 0), element));
  return memref::CastOp::create(rewriter, loc, type, value);
}

Value i32(PatternRewriter &rewriter, Location loc, int32_t value) {
  return arith::ConstantIntOp::create(rewriter, loc, value, 32);
}

Value weightOperand(PatternRewriter &rewriter, Location loc, Value value,
                    WeightForm form) {
  if (form == WeightForm::Rows)
    return kernelOperand(rewriter, loc, value, rewriter.getF32Type(), 2);
  return memref::CastOp::create(rewriter, loc,
                                panelsType(rewriter.getContext(), form), value);
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

/// Whether the optional 1-D operands are kernel operands when present.
bool optionalVectorsFit(MLIRContext *ctx, Value tokens, Value weights) {
  return (!tokens || isKernelOperand(tokens, IntegerType::get(ctx, 32), 1)) &&
         (!weights || isKernelOperand(weights, Float32Type::get(ctx), 1));
}

int32_t flagsOf(Value tokens, Value weights) {
  return (tokens ? MOE_UKERNEL_HAS_TOKENS : 0) |
         (weights ? MOE_UKERNEL_HAS_WEIGHTS : 0);
}

/// Expert `expert`'s matrix of a stacked weight `[E, ...]` on buffers, as
/// a rank-reduced subview.
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
                         op.getActivation(), op.getLayout());
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
                           init, op.getLayout());
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

struct GatherGateUpToUkernel : OpRewritePattern<GatherGateUpOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(GatherGateUpOp op,
                                PatternRewriter &rewriter) const override {
    Value gate = op.getGate() ? op.getGate() : op.getUp();
    WeightForm form = weightFormOf(op.getLayout(), op.getUp());
    if (!op.hasPureBufferSemantics() || op.isGrouped() ||
        !isMatrix(op.getInput()) ||
        !isWeight(gate, form) || !isWeight(op.getUp(), form) ||
        !isMatrix(op.getInit()) ||
        !optionalVectorsFit(getContext(), op.getRowToken(), op.getScale()))
      return rewriter.notifyMatchFailure(op, "operands the kernel cannot take");
    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type(), i32Type = rewriter.getI32Type();
    SmallVector<Value> operands = {
        kernelOperand(rewriter, loc, op.getInput(), f32, 2),
        kernelOperand(rewriter, loc, op.getRowToken(), i32Type, 1),
        kernelOperand(rewriter, loc, op.getScale(), f32, 1),
        weightOperand(rewriter, loc, gate, form),
        weightOperand(rewriter, loc, op.getUp(), form),
        kernelOperand(rewriter, loc, op.getInit(), f32, 2),
        i32(rewriter, loc, static_cast<int32_t>(op.getActivation())),
        i32(rewriter, loc, flagsOf(op.getRowToken(), op.getScale()))};
    func::CallOp::create(
        rewriter, loc,
        kernelFor(form, {kGatherGateUpUkernel, kGatherGateUpPackedUkernel,
                         kGatherGateUpBF16Ukernel}),
        TypeRange{}, operands);
    rewriter.eraseOp(op);
    return success();
  }
};

struct DownScatterAddToUkernel : OpRewritePattern<DownScatterAddOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DownScatterAddOp op,
                                PatternRewriter &rewriter) const override {
    WeightForm form = weightFormOf(op.getLayout(), op.getDown());
    if (!op.hasPureBufferSemantics() || op.isGrouped() ||
        !isMatrix(op.getRows()) ||
        !isWeight(op.getDown(), form) || !isMatrix(op.getInit()) ||
        !optionalVectorsFit(getContext(), op.getRowToken(), op.getRowWeight()))
      return rewriter.notifyMatchFailure(op, "operands the kernel cannot take");
    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type(), i32Type = rewriter.getI32Type();
    SmallVector<Value> operands = {
        kernelOperand(rewriter, loc, op.getRows(), f32, 2),
        weightOperand(rewriter, loc, op.getDown(), form),
        kernelOperand(rewriter, loc, op.getRowToken(), i32Type, 1),
        kernelOperand(rewriter, loc, op.getRowWeight(), f32, 1),
        kernelOperand(rewriter, loc, op.getInit(), f32, 2),
        i32(rewriter, loc, flagsOf(op.getRowToken(), op.getRowWeight()))};
    func::CallOp::create(
        rewriter, loc,
        kernelFor(form, {kDownScatterAddUkernel, kDownScatterAddPackedUkernel,
                         kDownScatterAddBF16Ukernel}),
        TypeRange{}, operands);
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
    if (epilogues != "kernel" && epilogues != "generated") {
      module.emitError("unknown epilogues '")
          << epilogues << "' (kernel or generated)";
      return signalPassFailure();
    }
    RewritePatternSet patterns(ctx);
    if (epilogues == "generated")
      populateMoECPUPanelLoopPatterns(patterns);
    patterns.add<MatmulToUkernel, GroupedToExpertLoop<GatherGateUpOp>,
                 GroupedToExpertLoop<DownScatterAddOp>, GatherGateUpToUkernel,
                 DownScatterAddToUkernel>(ctx);
    if (failed(applyPatternsGreedily(module, std::move(patterns))))
      return signalPassFailure();
    // The kernel-level ops have no other lowering.
    WalkResult leftover = module.walk([](Operation *op) {
      if (!isa<GatherGateUpOp, DownScatterAddOp>(op))
        return WalkResult::advance();
      op->emitOpError("has no micro-kernel for these operand types");
      return WalkResult::interrupt();
    });
    if (leftover.wasInterrupted())
      return signalPassFailure();

    declareMoECPUTiles(module);
    Type matrix = matrixType(ctx), i32Type = IntegerType::get(ctx, 32);
    Type vector = kernelOperandType(Float32Type::get(ctx), 1);
    Type tokens = kernelOperandType(i32Type, 1);
    declareKernel(module, kMatmulUkernel, {matrix, matrix, matrix});
    declareKernel(
        module, kGatherGateUpUkernel,
        {matrix, tokens, vector, matrix, matrix, matrix, i32Type, i32Type});
    declareKernel(module, kDownScatterAddUkernel,
                  {matrix, matrix, tokens, vector, matrix, i32Type});
    for (auto [form, gateUp, down] :
         {std::tuple(WeightForm::F32Panels, kGatherGateUpPackedUkernel,
                     kDownScatterAddPackedUkernel),
          std::tuple(WeightForm::BF16Panels, kGatherGateUpBF16Ukernel,
                     kDownScatterAddBF16Ukernel)}) {
      Type panels = panelsType(ctx, form);
      declareKernel(
          module, gateUp,
          {matrix, tokens, vector, panels, panels, matrix, i32Type, i32Type});
      declareKernel(module, down,
                    {matrix, panels, tokens, vector, matrix, i32Type});
    }
  }
};
} // namespace
