//===- CompileCPU.cpp - moe modules to shared libraries for the CPU -------===//
//
// Lower, translate, wrap, optimise, emit, link. The wrappers give each
// entry a plain C signature (moe_runtime.h): they build the memref
// descriptors the lowered function expects, call it, copy the result into
// the caller's buffer and free it.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Pipelines.h"
#include "moe/Runtime/moe_runtime.h"
#include "moe/Target/CPU.h"
#include "moe/Target/Entries.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace mlir::moe;

namespace {
/// The memref descriptor struct {allocated, aligned, offset, sizes, strides}.
llvm::StructType *descriptorType(llvm::LLVMContext &ctx, unsigned rank) {
  llvm::Type *ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type *i64 = llvm::Type::getInt64Ty(ctx);
  llvm::Type *dims = llvm::ArrayType::get(i64, rank);
  return llvm::StructType::get(ctx, {ptr, ptr, i64, dims, dims});
}

/// A stack descriptor of a dense row-major buffer.
llvm::Value *buildDescriptor(llvm::IRBuilder<> &b, llvm::Value *data,
                             ArrayRef<llvm::Value *> sizes) {
  llvm::LLVMContext &ctx = b.getContext();
  unsigned rank = sizes.size();
  llvm::StructType *type = descriptorType(ctx, rank);
  llvm::Value *desc = b.CreateAlloca(type);
  b.CreateStore(data, b.CreateStructGEP(type, desc, 0));
  b.CreateStore(data, b.CreateStructGEP(type, desc, 1));
  b.CreateStore(b.getInt64(0), b.CreateStructGEP(type, desc, 2));
  llvm::Value *stride = b.getInt64(1);
  for (unsigned i = rank; i-- > 0;) {
    b.CreateStore(sizes[i], b.CreateInBoundsGEP(
                                type, desc,
                                {b.getInt32(0), b.getInt32(3), b.getInt32(i)}));
    b.CreateStore(
        stride, b.CreateInBoundsGEP(
                    type, desc, {b.getInt32(0), b.getInt32(4), b.getInt32(i)}));
    stride = b.CreateMul(stride, sizes[i]);
  }
  return desc;
}

/// int32_t moe_entry_<name>(const float *const *weights, const float *input,
///                          float *output, int64_t tokens)
LogicalResult addEntryWrapper(llvm::Module &module, const EntrySignature &entry,
                              Operation *diagnosticsAt) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::Function *callee = module.getFunction(("_mlir_ciface_" + entry.name));
  if (!callee)
    return diagnosticsAt->emitError()
           << "lowering produced no C interface for @" << entry.name;
  llvm::Type *ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type *i64 = llvm::Type::getInt64Ty(ctx);
  llvm::Type *i32 = llvm::Type::getInt32Ty(ctx);
  auto *type = llvm::FunctionType::get(i32, {ptr, ptr, ptr, i64}, false);
  auto *wrapper = llvm::Function::Create(type, llvm::Function::ExternalLinkage,
                                         entrySymbol(entry.name), module);
  llvm::Value *weights = wrapper->getArg(0), *input = wrapper->getArg(1),
              *output = wrapper->getArg(2), *tokens = wrapper->getArg(3);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", wrapper));

  bool forward = entry.kind == "forward";
  llvm::StructType *resultType = descriptorType(ctx, forward ? 2 : 1);
  llvm::Value *result = b.CreateAlloca(resultType);
  SmallVector<llvm::Value *> args = {result};
  unsigned weightIndex = 0;
  for (unsigned i = 0; i < entry.numArgs; ++i) {
    if (i == entry.inputArg) {
      args.push_back(
          buildDescriptor(b, input, {tokens, b.getInt64(entry.hidden)}));
      continue;
    }
    const EntryWeight &weight = entry.weights[weightIndex];
    llvm::Value *slot =
        b.CreateInBoundsGEP(ptr, weights, b.getInt64(weightIndex++));
    SmallVector<llvm::Value *> sizes;
    for (int64_t size : weight.shape)
      sizes.push_back(b.getInt64(size));
    args.push_back(buildDescriptor(b, b.CreateLoad(ptr, slot), sizes));
  }
  b.CreateCall(callee, args);

  // Copy [tokens, hidden] (or the statistics) out of the returned buffer,
  // then free it.
  llvm::Value *allocated =
      b.CreateLoad(ptr, b.CreateStructGEP(resultType, result, 0));
  llvm::Value *aligned =
      b.CreateLoad(ptr, b.CreateStructGEP(resultType, result, 1));
  llvm::Value *offset =
      b.CreateLoad(i64, b.CreateStructGEP(resultType, result, 2));
  llvm::Value *source = b.CreateInBoundsGEP(b.getFloatTy(), aligned, offset);
  llvm::Value *bytes =
      forward ? b.CreateMul(tokens, b.getInt64(entry.hidden * sizeof(float)))
              : b.getInt64(entry.outputSize * sizeof(float));
  b.CreateMemCpy(output, llvm::Align(4), source, llvm::Align(4), bytes);
  llvm::FunctionCallee freeFn = module.getOrInsertFunction(
      "free", llvm::FunctionType::get(b.getVoidTy(), {ptr}, false));
  b.CreateCall(freeFn, {allocated});
  b.CreateRet(b.getInt32(0));
  return success();
}

/// const char *moe_module_manifest(void), and
/// void moe_set_num_threads(int32_t), which sizes the OpenMP thread team.
void addModuleFunctions(llvm::Module &module, const std::string &manifest) {
  llvm::LLVMContext &ctx = module.getContext();
  auto *manifestType =
      llvm::FunctionType::get(llvm::PointerType::getUnqual(ctx), {}, false);
  auto *manifestFn =
      llvm::Function::Create(manifestType, llvm::Function::ExternalLinkage,
                             MOE_MANIFEST_SYMBOL, module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", manifestFn));
  b.CreateRet(b.CreateGlobalString(manifest, "moe_manifest_json"));

  llvm::Type *i32 = llvm::Type::getInt32Ty(ctx);
  auto *threadsType = llvm::FunctionType::get(b.getVoidTy(), {i32}, false);
  auto *threadsFn =
      llvm::Function::Create(threadsType, llvm::Function::ExternalLinkage,
                             MOE_SET_THREADS_SYMBOL, module);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", threadsFn));
  llvm::FunctionCallee ompSet =
      module.getOrInsertFunction("omp_set_num_threads", threadsType);
  b.CreateCall(ompSet, {threadsFn->getArg(0)});
  b.CreateRetVoid();
}

std::unique_ptr<llvm::TargetMachine>
createTargetMachine(const CPUCompileOptions &options, std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  std::string cpu = options.cpu;
  std::string features;
  if (cpu == "native") {
    cpu = llvm::sys::getHostCPUName().str();
    for (auto &feature : llvm::sys::getHostCPUFeatures())
      features += (feature.second ? "+" : "-") + feature.first().str() + ",";
  }
  llvm::TargetOptions targetOptions;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, cpu, features, targetOptions, llvm::Reloc::PIC_));
}
} // namespace

LogicalResult mlir::moe::compileToCPUSharedLibrary(
    ModuleOp module, const CPUCompileOptions &options, StringRef outputPath) {
  MLIRContext *ctx = module.getContext();
  if (options.routingStats) {
    PassManager statsPm(ctx);
    statsPm.addPass(createMoERoutingStatsEntries());
    if (failed(statsPm.run(module)))
      return failure();
  }
  // The tensor stage packs weights (moe-pack-weights), which changes the
  // entry points' weight arguments: read the signatures after it.
  PassManager linalgPm(ctx);
  MoELoweringOptions lowering;
  lowering.weightType = options.weightType;
  buildMoELowerToLinalgPipeline(linalgPm, lowering);
  if (failed(linalgPm.run(module)))
    return failure();
  FailureOr<std::vector<EntrySignature>> entries = analyzeEntries(module);
  if (failed(entries))
    return failure();
  for (const EntrySignature &entry : *entries) {
    auto func = module.lookupSymbol<func::FuncOp>(entry.name);
    func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                  UnitAttr::get(ctx));
    // The names now live in the manifest; LLVM has no use for them.
    func->removeAttr(kEntryKindAttr);
    func->removeAttr(kStatsOfAttr);
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      for (StringRef attr :
           {kWeightNameAttr, kWeightSourceShapeAttr, kWeightSliceAttr,
            kWeightTransposeAttr, kWeightPackAttr})
        func.removeArgAttr(i, attr);
  }

  PassManager pm(ctx);
  buildMoEBufferizePipeline(pm);
  buildMoELowerBuffersToLLVMPipeline(pm);
  if (failed(pm.run(module)))
    return failure();

  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  ctx->appendDialectRegistry(registry);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "moe");
  if (!llvmModule)
    return module.emitError("translation to LLVM IR failed");

  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      createTargetMachine(options, error);
  if (!machine)
    return module.emitError("no target machine for this host: ") << error;
  llvmModule->setTargetTriple(machine->getTargetTriple());
  llvmModule->setDataLayout(machine->createDataLayout());

  for (const EntrySignature &entry : *entries)
    if (failed(addEntryWrapper(*llvmModule, entry, module)))
      return failure();
  addModuleFunctions(*llvmModule, buildManifest(*entries, "cpu"));

  auto optimize = makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0,
                                            machine.get());
  if (llvm::Error err = optimize(llvmModule.get()))
    return module.emitError("LLVM optimisation failed: ")
           << llvm::toString(std::move(err));

  // Object file next to the output.
  std::string objectPath = (outputPath + ".o").str();
  {
    std::error_code ec;
    llvm::ToolOutputFile object(objectPath, ec, llvm::sys::fs::OF_None);
    if (ec)
      return module.emitError("cannot write ")
             << objectPath << ": " << ec.message();
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, object.os(), nullptr,
                                     llvm::CodeGenFileType::ObjectFile))
      return module.emitError("the target cannot emit object files");
    codegen.run(*llvmModule);
    object.keep();
  }

  // Link: the object, the embedded runtime (memrefCopy), LLVM's OpenMP
  // runtime (found through the rpath), libm for erff.
  llvm::ErrorOr<std::string> linker =
      llvm::sys::findProgramByName(options.linker);
  if (!linker)
    return module.emitError("cannot find the linker driver '")
           << options.linker << "' on PATH";
  std::string output = outputPath.str();
  SmallVector<StringRef> argv = {*linker,
                                 "-shared",
                                 "-o",
                                 output,
                                 objectPath,
                                 MOEC_EMBEDDED_RUNTIME,
                                 "-L" MOEC_LIBOMP_DIR,
                                 "-Wl,-rpath," MOEC_LIBOMP_DIR,
                                 "-lomp",
                                 "-lm",
                                 "-Wl,-z,defs"};
  if (*MOEC_EMBEDDED_RUNTIME_LINK_FLAGS)
    argv.push_back(MOEC_EMBEDDED_RUNTIME_LINK_FLAGS);
  std::string linkError;
  int status = llvm::sys::ExecuteAndWait(*linker, argv, std::nullopt, {}, 0, 0,
                                         &linkError);
  if (!options.keepObject)
    llvm::sys::fs::remove(objectPath);
  if (status != 0)
    return module.emitError("linking ")
           << output << " failed (exit " << status << ")"
           << (linkError.empty() ? "" : ": ") << linkError;
  return success();
}
