//===- LinalgToUkernels.cpp - matmuls to the project's micro-kernel -------===//
//
// Implements `moe-linalg-to-ukernels`: transposed-B f32 matmuls on buffers
// become calls to moe_ukernel_matmul_nt_f32 (C interface: pointers to
// memref descriptors), which accumulates into the output as linalg.matmul
// does.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOELINALGTOUKERNELS
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
constexpr StringLiteral kMatmulUkernel = "moe_ukernel_matmul_nt_f32";

/// The one memref type the kernel takes: rank 2, f32, unit inner stride.
MemRefType kernelOperandType(MLIRContext *ctx) {
  int64_t dynamic = ShapedType::kDynamic;
  return MemRefType::get(
      {dynamic, dynamic}, Float32Type::get(ctx),
      StridedLayoutAttr::get(ctx, dynamic, ArrayRef<int64_t>{dynamic, 1}));
}

/// Whether `value` is a rank-2 f32 memref whose rows are contiguous.
bool isKernelOperand(Value value) {
  auto type = dyn_cast<MemRefType>(value.getType());
  if (!type || type.getRank() != 2 || !type.getElementType().isF32())
    return false;
  SmallVector<int64_t> strides;
  int64_t offset;
  return succeeded(type.getStridesAndOffset(strides, offset)) &&
         strides.back() == 1;
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
    if (!llvm::all_of(operands, isKernelOperand))
      return rewriter.notifyMatchFailure(op, "operands the kernel cannot take");
    MemRefType kernelType = kernelOperandType(getContext());
    SmallVector<Value> casts;
    for (Value operand : operands)
      casts.push_back(
          memref::CastOp::create(rewriter, op.getLoc(), kernelType, operand));
    func::CallOp::create(rewriter, op.getLoc(), kMatmulUkernel, TypeRange{},
                         casts);
    rewriter.eraseOp(op);
    return success();
  }
};

struct MoELinalgToUkernelsPass
    : public mlir::moe::impl::MoELinalgToUkernelsBase<MoELinalgToUkernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    patterns.add<MatmulToUkernel>(ctx);
    if (failed(applyPatternsGreedily(module, std::move(patterns))))
      return signalPassFailure();

    // Declare the kernel once if anything calls it.
    bool called = false;
    module.walk([&](func::CallOp call) {
      called |= call.getCallee() == kMatmulUkernel;
    });
    if (!called || module.lookupSymbol(kMatmulUkernel))
      return;
    OpBuilder b(ctx);
    b.setInsertionPointToStart(module.getBody());
    MemRefType type = kernelOperandType(ctx);
    auto decl = func::FuncOp::create(b, module.getLoc(), kMatmulUkernel,
                                     b.getFunctionType({type, type, type}, {}));
    decl.setPrivate();
    decl->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                  b.getUnitAttr());
  }
};
} // namespace
