//===- HostLibrary.cpp - lowered modules to host shared libraries ---------===//
//
// Translate, wrap, optimise, emit, link: what every target's compile does
// once its host code is in the LLVM dialect. Each entry gets the C
// functions of ABI v3 (moe_runtime.h: init, forward, destroy; Entries.cpp
// generates them) around the C interface of the lowered function.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/HostLibrary.h"
#include "moe/Support/OutputFile.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace mlir::moe;

namespace {
/// This host's target; null with `error` when LLVM has none for it.
const llvm::Target *lookupHostTarget(llvm::Triple &triple, std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  triple = llvm::Triple(llvm::sys::getProcessTriple());
  return llvm::TargetRegistry::lookupTarget(triple, error);
}
} // namespace

std::unique_ptr<llvm::MCSubtargetInfo> mlir::moe::hostSubtargetInfo() {
  llvm::Triple triple;
  std::string error;
  const llvm::Target *target = lookupHostTarget(triple, error);
  if (!target)
    return nullptr;
  return std::unique_ptr<llvm::MCSubtargetInfo>(
      target->createMCSubtargetInfo(triple, "", ""));
}

std::unique_ptr<llvm::TargetMachine>
mlir::moe::createHostTargetMachine(StringRef cpuName, std::string &error) {
  llvm::Triple triple;
  const llvm::Target *target = lookupHostTarget(triple, error);
  if (!target)
    return nullptr;
  // LLVM only warns about a CPU it does not know, then fails later with
  // "LLVM ERROR: 64-bit code requested on a subtarget that doesn't support
  // it".
  std::string cpu = cpuName.str();
  std::string features;
  if (cpu == "native") {
    cpu = llvm::sys::getHostCPUName().str();
    for (auto &feature : llvm::sys::getHostCPUFeatures())
      features += (feature.second ? "+" : "-") + feature.first().str() + ",";
  } else {
    std::unique_ptr<llvm::MCSubtargetInfo> info = hostSubtargetInfo();
    if (!info || !info->isCPUStringValid(cpu)) {
      error = "unknown CPU '" + cpu + "'";
      return nullptr;
    }
  }
  llvm::TargetOptions targetOptions;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, cpu, features, targetOptions, llvm::Reloc::PIC_));
}

LogicalResult mlir::moe::runStage(
    ModuleOp module, StringRef stage, TimingScope *timing,
    const std::function<LogicalResult(PassManager &)> &configure,
    function_ref<void(PassManager &)> build) {
  // The pass timers nest in `scope`, which must outlive the pass manager.
  TimingScope scope = timing ? timing->nest(stage) : TimingScope();
  PassManager pm(module.getContext());
  build(pm);
  if (scope)
    pm.enableTiming(scope);
  if (configure && failed(configure(pm)))
    return failure();
  return pm.run(module);
}

FailureOr<std::vector<EntrySignature>>
mlir::moe::takeEntrySignatures(ModuleOp module, int32_t target) {
  FailureOr<std::vector<EntrySignature>> entries =
      analyzeEntries(module, target);
  if (failed(entries))
    return failure();
  UnitAttr unit = UnitAttr::get(module.getContext());
  for (const EntrySignature &entry : *entries) {
    auto func = module.lookupSymbol<func::FuncOp>(entry.name);
    func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), unit);
    for (StringRef attr : {kEntryKindAttr, kStatsOfAttr, kEpSizeAttr})
      func->removeAttr(attr);
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      for (StringRef attr :
           {kWeightNameAttr, kWeightSourceShapeAttr, kWeightSliceAttr,
            kWeightTransposeAttr, kWeightStoredShapeAttr,
            kWeightEitherOrientationAttr, kWeightPackAttr, kWeightExpertsAttr,
            kIndexBoundAttr, kWeightPlacementAttr})
        func.removeArgAttr(i, attr);
  }
  return entries;
}

LogicalResult mlir::moe::writeModuleText(ModuleOp module,
                                         StringRef outputPath) {
  std::string error;
  std::unique_ptr<llvm::ToolOutputFile> output =
      createOutputFile(outputPath, error, llvm::sys::fs::OF_Text);
  if (!output)
    return module.emitError(error);
  module.print(output->os());
  output->keep();
  return success();
}

LogicalResult mlir::moe::emitHostLibrary(ModuleOp module,
                                         ArrayRef<EntrySignature> entries,
                                         const HostLibraryOptions &options,
                                         StringRef outputPath) {
  MLIRContext *ctx = module.getContext();
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      createHostTargetMachine(options.cpu, error);
  if (!machine)
    return module.emitError("no target machine for this host: ") << error;
  auto nestTiming = [&](StringRef stage) {
    if (options.onStage)
      options.onStage(stage);
    return options.timing ? options.timing->nest(stage) : TimingScope();
  };

  TimingScope translateTiming = nestTiming("translate to LLVM IR");
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  if (options.registerTranslations)
    options.registerTranslations(registry);
  ctx->appendDialectRegistry(registry);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "moe");
  if (!llvmModule)
    return module.emitError("translation to LLVM IR failed");
  llvmModule->setTargetTriple(machine->getTargetTriple());
  llvmModule->setDataLayout(machine->createDataLayout());

  for (const EntrySignature &entry : entries)
    if (failed(addEntryFunctions(*llvmModule, entry, module, options.target)))
      return failure();
  addManifestFunction(*llvmModule,
                      buildManifest(entries, options.manifestTarget));
  translateTiming.stop();

  TimingScope optimizeTiming = nestTiming("LLVM optimisation");
  auto optimize = makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0,
                                            machine.get());
  if (llvm::Error err = optimize(llvmModule.get()))
    return module.emitError("LLVM optimisation failed: ")
           << llvm::toString(std::move(err));
  optimizeTiming.stop();

  if (options.emit == HostEmitKind::LLVMIR) {
    std::unique_ptr<llvm::ToolOutputFile> output =
        createOutputFile(outputPath, error, llvm::sys::fs::OF_Text);
    if (!output)
      return module.emitError(error);
    llvmModule->print(output->os(), nullptr);
    output->keep();
    return success();
  }

  // Assembly or an object file; for a library, the object next to it.
  bool assembly = options.emit == HostEmitKind::Assembly;
  bool library = options.emit == HostEmitKind::SharedLibrary;
  std::string objectPath =
      library ? (outputPath + ".o").str() : outputPath.str();
  {
    TimingScope codegenTiming = nestTiming("code generation");
    std::unique_ptr<llvm::ToolOutputFile> object = createOutputFile(
        objectPath, error,
        assembly ? llvm::sys::fs::OF_Text : llvm::sys::fs::OF_None);
    if (!object)
      return module.emitError(error);
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, object->os(), nullptr,
                                     assembly
                                         ? llvm::CodeGenFileType::AssemblyFile
                                         : llvm::CodeGenFileType::ObjectFile))
      return module.emitError("the target cannot emit ")
             << (assembly ? "assembly" : "object files");
    codegen.run(*llvmModule);
    object->keep();
  }
  if (!library)
    return success();

  TimingScope linkTiming = nestTiming("link");
  llvm::ErrorOr<std::string> linker =
      llvm::sys::findProgramByName(options.linker);
  if (!linker) {
    llvm::sys::fs::remove(objectPath);
    return module.emitError("cannot find the linker driver '")
           << options.linker << "' on PATH";
  }
  std::string output = outputPath.str();
  SmallVector<StringRef> argv = {*linker, "-shared", "-o", output, objectPath};
  for (const std::string &input : options.linkInputs)
    argv.push_back(input);
  argv.push_back("-Wl,-z,defs");
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

std::string mlir::moe::findEmbeddedArchive(StringRef buildTreePath) {
  static int anchor;
  std::string executable = llvm::sys::fs::getMainExecutable(nullptr, &anchor);
  if (!executable.empty()) {
    // <prefix>/bin/moe-compile -> <prefix>/lib/moec/<archive>
    SmallString<256> installed(llvm::sys::path::parent_path(
        llvm::sys::path::parent_path(executable)));
    llvm::sys::path::append(installed, "lib", "moec",
                            llvm::sys::path::filename(buildTreePath));
    if (llvm::sys::fs::exists(installed))
      return std::string(installed);
  }
  return buildTreePath.str();
}
