//===- JitLayer.cpp - a test layer lowered and JIT-compiled ---------------===//

#include "JitLayer.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace moe::test;

void moe::test::initialiseJit() {
  static bool initialised = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialised;
}

JitLayer::JitLayer(const std::string &source,
                   const std::function<void(mlir::OpPassManager &)> &lower,
                   llvm::ArrayRef<llvm::StringRef> sharedLibs) {
  initialiseJit();
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::moe::MoEDialect>();
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  mlir::registerOpenMPDialectTranslation(registry);
  context.appendDialectRegistry(registry);
  module = mlir::parseSourceString<mlir::ModuleOp>(source, &context);
  if (!module) {
    error = "parse failed:\n" + source;
    return;
  }
  // A C interface for the call below; the weight names are not needed.
  for (auto func : module->getOps<mlir::func::FuncOp>()) {
    func->setAttr("llvm.emit_c_interface", mlir::UnitAttr::get(&context));
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      func.removeArgAttr(i, "moe.weight");
  }
  mlir::PassManager pm(&context);
  lower(pm);
  if (mlir::failed(pm.run(*module))) {
    error = "lowering failed:\n" + source;
    return;
  }
  mlir::ExecutionEngineOptions options;
  options.sharedLibPaths = sharedLibs;
  // `transformer` is a function_ref: the function it refers to must
  // outlive ExecutionEngine::create, so it is a named local.
  std::function<llvm::Error(llvm::Module *)> optimize =
      mlir::makeOptimizingTransformer(2, 0, nullptr);
  options.transformer = optimize;
  auto maybeEngine = mlir::ExecutionEngine::create(*module, options);
  if (!maybeEngine) {
    error = llvm::toString(maybeEngine.takeError());
    return;
  }
  engine = std::move(*maybeEngine);
}

JitLayer::~JitLayer() = default;

std::vector<float>
JitLayer::run(std::vector<float> &x, int64_t numTokens, int64_t hidden,
              std::vector<WeightArg> &weights, std::vector<int32_t> *tokenIds,
              std::vector<int32_t> *table, std::vector<int64_t> tableShape) {
  std::vector<std::unique_ptr<char[]>> descriptors;
  std::vector<void *> pointers;
  // f32 and i32 elements alike: only the pointer goes in.
  auto describe = [&](void *base, const std::vector<int64_t> &shape) {
    size_t rank = shape.size();
    // {allocated, aligned, offset, sizes[rank], strides[rank]}
    size_t bytes = 2 * sizeof(void *) + (1 + 2 * rank) * sizeof(int64_t);
    descriptors.emplace_back(new char[bytes]);
    char *d = descriptors.back().get();
    std::memcpy(d, &base, sizeof(base));
    std::memcpy(d + sizeof(base), &base, sizeof(base));
    auto *ints = reinterpret_cast<int64_t *>(d + 2 * sizeof(base));
    ints[0] = 0;
    int64_t stride = 1;
    for (size_t i = rank; i-- > 0;) {
      ints[1 + i] = shape[i];
      ints[1 + rank + i] = stride;
      stride *= shape[i];
    }
    pointers.push_back(d);
  };
  StridedMemRefType<float, 2> result{};
  pointers.push_back(&result);
  describe(x.data(), {numTokens, hidden});
  if (tokenIds)
    describe(tokenIds->data(), {numTokens});
  for (WeightArg &weight : weights)
    describe(weight.values.data(), weight.shape);
  if (table)
    describe(table->data(), tableShape);
  std::vector<void *> packed;
  for (void *&p : pointers)
    packed.push_back(&p);
  llvm::Error err = engine->invokePacked("_mlir_ciface_layer", packed);
  if (err) {
    ADD_FAILURE() << llvm::toString(std::move(err));
    return {};
  }
  std::vector<float> out(result.data + result.offset,
                         result.data + result.offset + numTokens * hidden);
  free(result.basePtr);
  return out;
}

llvm::Error JitLayer::call(llvm::StringRef name,
                           llvm::MutableArrayRef<void *> args) {
  return engine->invokePacked(("_mlir_ciface_" + name).str(), args);
}
