//===- CompileCPU.cpp - moe modules to shared libraries for the CPU -------===//
//
// Lower, translate, wrap, optimise, emit, link; `--emit` stops after any
// stage and writes what it has. Each entry gets the C functions of ABI v3
// (moe_runtime.h: init, forward, destroy; Entries.cpp generates them),
// around the C interface of the lowered function.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Pipelines.h"
#include "moe/Runtime/moe_runtime.h"
#include "moe/Support/OutputFile.h"
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
#include "llvm/ADT/StringSwitch.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
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
/// This host's target; null with `error` when LLVM has none for it.
const llvm::Target *lookupHostTarget(llvm::Triple &triple, std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  triple = llvm::Triple(llvm::sys::getProcessTriple());
  return llvm::TargetRegistry::lookupTarget(triple, error);
}

/// The host target's generic subtarget: it knows the CPU names without
/// warning about any.
std::unique_ptr<llvm::MCSubtargetInfo> hostSubtargetInfo() {
  llvm::Triple triple;
  std::string error;
  const llvm::Target *target = lookupHostTarget(triple, error);
  if (!target)
    return nullptr;
  return std::unique_ptr<llvm::MCSubtargetInfo>(
      target->createMCSubtargetInfo(triple, "", ""));
}

std::unique_ptr<llvm::TargetMachine>
createTargetMachine(const CPUCompileOptions &options, std::string &error) {
  llvm::Triple triple;
  const llvm::Target *target = lookupHostTarget(triple, error);
  if (!target)
    return nullptr;
  // LLVM only warns about a CPU it does not know, then fails later with
  // "LLVM ERROR: 64-bit code requested on a subtarget that doesn't support
  // it".
  if (!isKnownCPU(options.cpu)) {
    error = "unknown CPU '" + options.cpu + "'";
    return nullptr;
  }
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

/// Runs the passes `build` adds on `module` in a pass manager of its own,
/// set up as the caller asked (MLIR's command-line options, timing).
LogicalResult runPipeline(ModuleOp module, const CPUCompileOptions &options,
                          StringRef stage,
                          function_ref<void(PassManager &)> build) {
  // The pass timers nest in `timing`, which must outlive the pass manager.
  TimingScope timing =
      options.timing ? options.timing->nest(stage) : TimingScope();
  PassManager pm(module.getContext());
  build(pm);
  if (timing)
    pm.enableTiming(timing);
  if (options.configurePassManager && failed(options.configurePassManager(pm)))
    return failure();
  return pm.run(module);
}
} // namespace

std::optional<CPUEmitKind> mlir::moe::parseCPUEmitKind(StringRef name) {
  return llvm::StringSwitch<std::optional<CPUEmitKind>>(name)
      .Case("mlir", CPUEmitKind::MLIR)
      .Case("llvm", CPUEmitKind::LLVMIR)
      .Case("asm", CPUEmitKind::Assembly)
      .Case("obj", CPUEmitKind::Object)
      .Case("so", CPUEmitKind::SharedLibrary)
      .Default(std::nullopt);
}

bool mlir::moe::isTextEmitKind(CPUEmitKind kind) {
  return kind == CPUEmitKind::MLIR || kind == CPUEmitKind::LLVMIR ||
         kind == CPUEmitKind::Assembly;
}

bool mlir::moe::isKnownCPU(StringRef cpu) {
  if (cpu == "native")
    return true;
  std::unique_ptr<llvm::MCSubtargetInfo> info = hostSubtargetInfo();
  return info && info->isCPUStringValid(cpu);
}

std::vector<std::string> mlir::moe::getKnownCPUs() {
  std::vector<std::string> names;
  if (std::unique_ptr<llvm::MCSubtargetInfo> info = hostSubtargetInfo())
    for (const llvm::SubtargetSubTypeKV &cpu :
         info->getAllProcessorDescriptions())
      names.push_back(cpu.Key);
  llvm::sort(names);
  return names;
}

FailureOr<std::string> mlir::moe::resolveWeightType(ModuleOp module,
                                                    StringRef requested) {
  Attribute attr = module->getAttr(kCheckpointDTypeAttr);
  auto dtype = dyn_cast_or_null<StringAttr>(attr);
  if (attr && (!dtype || !llvm::is_contained({"bf16", "f16", "f32"},
                                             dtype.getValue())))
    return module.emitError()
           << kCheckpointDTypeAttr << " must be \"bf16\", \"f16\" or \"f32\", got "
           << attr;
  if (requested != "auto")
    return requested.str();
  return std::string(dtype && dtype.getValue() == "bf16" ? "bf16" : "f32");
}

LogicalResult mlir::moe::compileForCPU(ModuleOp module,
                                       const CPUCompileOptions &options,
                                       StringRef outputPath) {
  MLIRContext *ctx = module.getContext();
  bool toStdout = outputPath == "-";
  if (toStdout && !isTextEmitKind(options.emit))
    return module.emitError("cannot write a binary form (object or shared "
                            "library) to stdout; give an output file");
  // Fail on the CPU before the long part of the compile.
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine =
      createTargetMachine(options, error);
  if (!machine)
    return module.emitError("no target machine for this host: ") << error;

  // The entry points as written, checked before lowering: a wrong input or
  // result type is reported at the function, not at the first op that
  // cannot lower it. (Packing changes their weights: read again below.)
  if (failed(analyzeEntries(module)))
    return failure();
  if (options.routingStats &&
      failed(runPipeline(
          module, options, "routing statistics entries",
          [](PassManager &pm) { pm.addPass(createMoERoutingStatsEntries()); })))
    return failure();
  FailureOr<std::string> weightType =
      resolveWeightType(module, options.weightType);
  if (failed(weightType))
    return failure();
  // Resolved: the rest of the compile has no use for it.
  module->removeAttr(kCheckpointDTypeAttr);
  // The CPU's tensor stage packs weights (moe-cpu-pack-weights), which
  // changes the entry points' weight arguments: read the signatures after
  // it.
  MoELoweringOptions lowering;
  lowering.weightType = *weightType;
  lowering.epSize = options.epSize;
  lowering.placement = options.placement;
  lowering.chunks = options.chunks;
  lowering.tokensPerRank = options.tokensPerRank;
  if (failed(
          runPipeline(module, options, "lower to linalg", [&](PassManager &pm) {
            buildMoELowerToLinalgPipeline(pm, lowering);
            buildMoECPUPrepareKernelsPipeline(pm, lowering);
          })))
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
    func->removeAttr(kEpSizeAttr);
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      for (StringRef attr :
           {kWeightNameAttr, kWeightSourceShapeAttr, kWeightSliceAttr,
            kWeightTransposeAttr, kWeightPackAttr, kWeightExpertsAttr,
            kWeightPlacementAttr})
        func.removeArgAttr(i, attr);
  }

  if (failed(runPipeline(module, options, "lower to the LLVM dialect",
                         [](PassManager &pm) {
                           buildMoEBufferizePipeline(pm);
                           buildMoECPULowerToLLVMPipeline(pm);
                         })))
    return failure();
  auto nestTiming = [&](StringRef stage) {
    return options.timing ? options.timing->nest(stage) : TimingScope();
  };

  if (options.emit == CPUEmitKind::MLIR) {
    std::unique_ptr<llvm::ToolOutputFile> output =
        createOutputFile(outputPath, error, llvm::sys::fs::OF_Text);
    if (!output)
      return module.emitError(error);
    module.print(output->os());
    output->keep();
    return success();
  }

  TimingScope translateTiming = nestTiming("translate to LLVM IR");
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
  llvmModule->setTargetTriple(machine->getTargetTriple());
  llvmModule->setDataLayout(machine->createDataLayout());

  for (const EntrySignature &entry : *entries)
    if (failed(addEntryFunctions(*llvmModule, entry, module)))
      return failure();
  addManifestFunction(*llvmModule,
                      buildManifest(*entries, MOE_MANIFEST_TARGET));
  translateTiming.stop();

  TimingScope optimizeTiming = nestTiming("LLVM optimisation");
  auto optimize = makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0,
                                            machine.get());
  if (llvm::Error err = optimize(llvmModule.get()))
    return module.emitError("LLVM optimisation failed: ")
           << llvm::toString(std::move(err));
  optimizeTiming.stop();

  if (options.emit == CPUEmitKind::LLVMIR) {
    std::unique_ptr<llvm::ToolOutputFile> output =
        createOutputFile(outputPath, error, llvm::sys::fs::OF_Text);
    if (!output)
      return module.emitError(error);
    llvmModule->print(output->os(), nullptr);
    output->keep();
    return success();
  }

  // Assembly or an object file; for a library, the object next to it.
  bool assembly = options.emit == CPUEmitKind::Assembly;
  bool library = options.emit == CPUEmitKind::SharedLibrary;
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

  // Link: the object, the embedded runtime (memrefCopy), LLVM's OpenMP
  // runtime (found through the rpath), libm for erff.
  TimingScope linkTiming = nestTiming("link");
  llvm::ErrorOr<std::string> linker =
      llvm::sys::findProgramByName(options.linker);
  if (!linker) {
    llvm::sys::fs::remove(objectPath);
    return module.emitError("cannot find the linker driver '")
           << options.linker << "' on PATH";
  }
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
