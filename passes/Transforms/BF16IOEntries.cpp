//===- BF16IOEntries.cpp - bf16 activation twins of entry points ----------===//
//
// Implements `moe-bf16-io-entries`: next to each entry point, a private twin
// that widens a bf16 input, calls the f32 function and narrows its result,
// so that the conversions at a library's boundary are generated code (GPU
// launches on CUDA, loops on the CPU) rather than part of the wrappers.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/Entries.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEBF16IOENTRIES
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
/// `memref<?xHxf32>` with H static and the identity layout: an entry's
/// activations after bufferization.
bool isF32Activation(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  return memref && memref.getRank() == 2 && memref.isDynamicDim(0) &&
         !memref.isDynamicDim(1) && memref.getElementType().isF32() &&
         memref.getLayout().isIdentity();
}

/// A new buffer of `source`'s rows in `element`, converted element by
/// element (arith.extf, or arith.truncf: round to nearest even) in a
/// linalg.generic.
Value convertRows(OpBuilder &b, Location loc, Value source, Type element) {
  auto type = cast<MemRefType>(source.getType());
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value rows = memref::DimOp::create(b, loc, source, zero);
  Value dest = memref::AllocOp::create(
      b, loc, MemRefType::get(type.getShape(), element), ValueRange{rows});
  AffineMap identity = b.getMultiDimIdentityMap(2);
  linalg::GenericOp::create(
      b, loc, ValueRange{source}, ValueRange{dest},
      ArrayRef<AffineMap>{identity, identity},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::parallel},
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value value =
            element.getIntOrFloatBitWidth() > type.getElementTypeBitWidth()
                ? arith::ExtFOp::create(nb, nloc, element, args[0]).getResult()
                : arith::TruncFOp::create(nb, nloc, element, args[0])
                      .getResult();
        linalg::YieldOp::create(nb, nloc, value);
      });
  return dest;
}

struct MoEBF16IOEntriesPass
    : public mlir::moe::impl::MoEBF16IOEntriesBase<MoEBF16IOEntriesPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<std::pair<func::FuncOp, unsigned>> work;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (!func.isPublic() || func.isExternal() ||
          func.getFunctionType().getNumResults() != 1)
        continue;
      ArrayRef<Type> inputs = func.getFunctionType().getInputs();
      auto input = llvm::find_if(inputs, isF32Activation);
      if (input == inputs.end())
        continue;
      work.push_back({func, static_cast<unsigned>(input - inputs.begin())});
    }
    for (auto [func, inputArg] : work) {
      std::string name = (func.getSymName() + kBF16IOSuffix).str();
      if (symbols.lookup(name)) {
        func.emitError() << "moe-bf16-io-entries: the bf16 twin's name @"
                         << name << " is taken";
        return signalPassFailure();
      }
      func::FuncOp twin = buildTwin(func, inputArg, name);
      symbols.insert(twin);
      if (expandBF16) {
        RewritePatternSet patterns(&getContext());
        arith::populateExpandBFloat16Patterns(patterns);
        if (failed(applyPatternsGreedily(twin, std::move(patterns))))
          return signalPassFailure();
      }
    }
  }

  func::FuncOp buildTwin(func::FuncOp func, unsigned inputArg,
                         StringRef name) {
    OpBuilder b(&getContext());
    Location loc = func.getLoc();
    Type bf16 = b.getBF16Type();
    FunctionType type = func.getFunctionType();
    SmallVector<Type> inputs(type.getInputs());
    inputs[inputArg] = cast<MemRefType>(inputs[inputArg]).clone(bf16);
    Type result = type.getResult(0);
    bool narrowResult = isF32Activation(result);
    if (narrowResult)
      result = cast<MemRefType>(result).clone(bf16);

    b.setInsertionPointAfter(func);
    auto twin =
        func::FuncOp::create(b, loc, name, b.getFunctionType(inputs, result));
    twin.setPrivate();
    twin->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                  b.getUnitAttr());
    twin->setAttr(kBF16IOOfAttr, b.getStringAttr(func.getSymName()));
    Block *body = twin.addEntryBlock();
    b.setInsertionPointToStart(body);
    SmallVector<Value> args(body->getArguments());
    Value wide = convertRows(b, loc, args[inputArg], b.getF32Type());
    args[inputArg] = wide;
    Value output = func::CallOp::create(b, loc, func, args).getResult(0);
    memref::DeallocOp::create(b, loc, wide);
    if (narrowResult) {
      // A public function's result is the caller's to free (ownership-
      // based deallocation: never one of its arguments).
      Value narrow = convertRows(b, loc, output, bf16);
      memref::DeallocOp::create(b, loc, output);
      output = narrow;
    }
    func::ReturnOp::create(b, loc, output);
    return twin;
  }
};
} // namespace
