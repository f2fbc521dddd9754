//===- MoEToRuntime.cpp - the convert-moe-to-runtime pass -----------------===//
//
// Exchanges between ranks, on buffers, become calls of the embedded
// runtime's communicator functions (moe/Runtime/KernelABI.h), and moe.rank
// the communicator's rank. The runtime moves bytes; the compiler says which.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Runtime/KernelABI.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETORUNTIME
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
/// `func.func private @name(argTypes) -> results`, declared once.
func::FuncOp declareRuntimeFunction(ModuleOp module, StringRef name,
                                    TypeRange argTypes, TypeRange results) {
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  auto func = func::FuncOp::create(
      b, module.getLoc(), name,
      FunctionType::get(module.getContext(), argTypes, results));
  func.setPrivate();
  return func;
}

/// Whether `type` is laid out row-major without gaps, so that its data is
/// one run of bytes from its first element.
bool isRowMajor(MemRefType type) {
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return false;
  int64_t expected = 1;
  for (int64_t d = type.getRank(); d-- > 0;) {
    if (strides[d] != expected)
      return false;
    if (d > 0) {
      int64_t size = type.getDimSize(d);
      if (ShapedType::isDynamic(size))
        return false;
      expected *= size;
    }
  }
  return true;
}

/// The address of `buffer`'s first element as i64; a buffer that is not
/// row-major is copied to one first (inputs only).
FailureOr<Value> addressOf(ImplicitLocOpBuilder &b, Value buffer,
                           bool written) {
  auto type = cast<MemRefType>(buffer.getType());
  if (!isRowMajor(type)) {
    if (written)
      return failure();
    SmallVector<Value> dynamicSizes;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        dynamicSizes.push_back(memref::DimOp::create(b, buffer, d));
    auto plain = MemRefType::get(type.getShape(), type.getElementType());
    Value copy = memref::AllocOp::create(b, plain, dynamicSizes);
    memref::CopyOp::create(b, buffer, copy);
    buffer = copy;
    type = plain;
  }
  auto metadata = memref::ExtractStridedMetadataOp::create(b, buffer);
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(
      b, metadata.getBaseBuffer());
  unsigned bytes = type.getElementTypeBitWidth() / 8;
  Value offset = arith::MulIOp::create(
      b, metadata.getOffset(), arith::ConstantIndexOp::create(b, bytes));
  Value address = arith::AddIOp::create(b, base, offset);
  return arith::IndexCastOp::create(b, b.getI64Type(), address).getResult();
}

struct ConvertMoEToRuntimePass
    : public mlir::moe::impl::ConvertMoEToRuntimeBase<ConvertMoEToRuntimePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<RankOp, ExchangeCountsOp, ExchangeRowsOp, ExchangeRowsStartOp,
              ExchangeWaitOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops)
      if (failed(lower(module, op)))
        return signalPassFailure();
  }

  LogicalResult lower(ModuleOp module, Operation *op) {
    ImplicitLocOpBuilder b(op->getLoc(), op);
    Type i32 = b.getI32Type(), i64 = b.getI64Type();
    auto constant = [&](int64_t value) -> Value {
      return arith::ConstantIntOp::create(b, i64, value);
    };
    if (auto rank = dyn_cast<RankOp>(op)) {
      func::FuncOp callee =
          declareRuntimeFunction(module, MOE_RT_RANK, {}, i32);
      Value value = func::CallOp::create(b, callee, ValueRange{}).getResult(0);
      rank.replaceAllUsesWith(
          arith::IndexCastOp::create(b, b.getIndexType(), value).getResult());
      rank.erase();
      return success();
    }
    auto dps = cast<DestinationStyleOpInterface>(op);
    if (!dps.hasPureBufferSemantics())
      return op->emitOpError() << "must be bufferized before "
                                  "convert-moe-to-runtime";
    SmallVector<Value> args;
    for (OpOperand &operand : op->getOpOperands()) {
      bool written = dps.isDpsInit(&operand);
      FailureOr<Value> address = addressOf(b, operand.get(), written);
      if (failed(address))
        return op->emitOpError() << "writes a buffer that is not row-major: "
                                 << operand.get().getType();
      args.push_back(*address);
    }
    if (isa<ExchangeWaitOp>(op)) {
      // (recv): the start with this receive buffer.
      func::FuncOp callee =
          declareRuntimeFunction(module, MOE_RT_EXCHANGE_WAIT, {i64}, {});
      func::CallOp::create(b, callee, ValueRange{args[1]});
      op->erase();
      return success();
    }
    // Every other exchange has a [ranks, slots] second operand.
    auto counts = cast<MemRefType>(op->getOperand(1).getType());
    Value ranks = constant(counts.getDimSize(0));
    Value slots = constant(counts.getDimSize(1));
    // 1 for the exchanges that return expert results, timed apart.
    Value returning = constant(op->hasAttr("returning") ? 1 : 0);
    if (isa<ExchangeCountsOp>(op)) {
      // (send, recv, ranks, slots, returning)
      func::FuncOp callee = declareRuntimeFunction(
          module, MOE_RT_EXCHANGE_COUNTS, {i64, i64, i64, i64, i64}, {});
      func::CallOp::create(
          b, callee, ValueRange{args[0], args[1], ranks, slots, returning});
    } else {
      // (rows, send_counts, recv, recv_counts, ranks, slots, row_bytes,
      //  returning)
      auto rows = cast<MemRefType>(op->getOperand(0).getType());
      int64_t rowBytes =
          rows.getDimSize(1) * (rows.getElementTypeBitWidth() / 8);
      func::FuncOp callee = declareRuntimeFunction(
          module,
          isa<ExchangeRowsStartOp>(op) ? MOE_RT_EXCHANGE_ROWS_START
                                       : MOE_RT_EXCHANGE_ROWS,
          {i64, i64, i64, i64, i64, i64, i64, i64}, {});
      func::CallOp::create(b, callee,
                           ValueRange{args[0], args[1], args[3], args[2], ranks,
                                      slots, constant(rowBytes), returning});
    }
    op->erase();
    return success();
  }
};
} // namespace
