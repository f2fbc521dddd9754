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
#include "moe/Target/CPU.h"
#include "moe/Target/Entries.h"
#include "moe/Target/HostLibrary.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Target/TargetMachine.h"

using namespace mlir;
using namespace mlir::moe;

namespace {
LogicalResult runPipeline(ModuleOp module, const CPUCompileOptions &options,
                          StringRef stage,
                          function_ref<void(PassManager &)> build) {
  if (options.onStage)
    options.onStage(stage);
  return runStage(module, stage, options.timing, options.configurePassManager,
                  build);
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
  bool toStdout = outputPath == "-";
  if (toStdout && !isTextEmitKind(options.emit))
    return module.emitError("cannot write a binary form (object or shared "
                            "library) to stdout; give an output file");
  // Fail on the CPU before the long part of the compile.
  std::string error;
  if (!createHostTargetMachine(options.cpu, error))
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
  // The library reports a forward's seconds per phase (moe-run --trace).
  lowering.phaseMarks = true;
  if (failed(
          runPipeline(module, options, "lower to linalg", [&](PassManager &pm) {
            buildMoELowerToLinalgPipeline(pm, lowering);
            buildMoECPUPrepareKernelsPipeline(pm, lowering);
          })))
    return failure();
  FailureOr<std::vector<EntrySignature>> entries =
      takeEntrySignatures(module, MOE_TARGET_CPU);
  if (failed(entries))
    return failure();

  if (failed(runPipeline(module, options, "lower to the LLVM dialect",
                         [](PassManager &pm) {
                           buildMoEBufferizePipeline(pm);
                           // The bf16 I/O twins the forward wrappers call,
                           // rounding in integer code (no libcall).
                           MoEBF16IOEntriesOptions io;
                           io.expandBF16 = true;
                           pm.addPass(createMoEBF16IOEntries(io));
                           buildMoECPULowerToLLVMPipeline(pm);
                         })))
    return failure();
  if (options.emit == CPUEmitKind::MLIR)
    return writeModuleText(module, outputPath);

  HostLibraryOptions host;
  host.target = MOE_TARGET_CPU;
  host.manifestTarget = MOE_MANIFEST_TARGET;
  host.cpu = options.cpu;
  host.optLevel = options.optLevel;
  host.linker = options.linker;
  host.keepObject = options.keepObject;
  host.timing = options.timing;
  host.onStage = options.onStage;
  host.registerTranslations = [](DialectRegistry &registry) {
    registerOpenMPDialectTranslation(registry);
  };
  host.emit = options.emit == CPUEmitKind::LLVMIR ? HostEmitKind::LLVMIR
              : options.emit == CPUEmitKind::Assembly
                  ? HostEmitKind::Assembly
              : options.emit == CPUEmitKind::Object ? HostEmitKind::Object
                                                    : HostEmitKind::SharedLibrary;
  // The embedded runtime (memrefCopy, the tiles, the exchanges), LLVM's
  // OpenMP runtime (found through the rpath), libm for erff.
  host.linkInputs = {findEmbeddedArchive(MOEC_EMBEDDED_RUNTIME), "-L" MOEC_LIBOMP_DIR,
                     "-Wl,-rpath," MOEC_LIBOMP_DIR, "-lomp", "-lm"};
  if (*MOEC_EMBEDDED_RUNTIME_LINK_FLAGS)
    host.linkInputs.push_back(MOEC_EMBEDDED_RUNTIME_LINK_FLAGS);
  return emitHostLibrary(module, *entries, host, outputPath);
}
