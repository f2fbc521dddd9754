//===- CompileCUDA.cpp - moe modules to shared libraries with GPU kernels -===//
//
// Lower to GPU kernels and host code, then the shared back half
// (HostLibrary.cpp) with the CUDA entry wrappers and the embedded CUDA
// runtime. The kernels travel inside the library as gpu.binary globals
// that its constructors hand to the runtime (mgpuModuleLoad).
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Pipelines.h"
#include "moe/Runtime/moe_runtime.h"
#include "moe/Support/OutputFile.h"
#include "moe/Target/CUDA.h"
#include "moe/Target/CUDA/Passes.h"
#include "moe/Target/Entries.h"
#include "moe/Target/HostLibrary.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::moe;

std::optional<CUDAEmitKind> mlir::moe::parseCUDAEmitKind(StringRef name) {
  return llvm::StringSwitch<std::optional<CUDAEmitKind>>(name)
      .Case("mlir", CUDAEmitKind::MLIR)
      .Case("llvm", CUDAEmitKind::LLVMIR)
      .Case("ptx", CUDAEmitKind::PTX)
      .Case("so", CUDAEmitKind::SharedLibrary)
      .Default(std::nullopt);
}

bool mlir::moe::isKnownGPUArch(StringRef arch) {
  return arch == "sm_90a" || arch == "sm_80";
}

namespace {
/// MLIR's NVVM serializer finds ptxas, fatbinary and libdevice through
/// CUDA_ROOT / CUDA_HOME / CUDA_PATH or PATH: name the toolkit the project
/// was configured with when none is set.
void pointAtCUDAToolkit() {
  for (const char *var : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"})
    if (std::getenv(var))
      return;
  if (llvm::sys::fs::exists(MOEC_CUDA_TOOLKIT "/bin/ptxas"))
    ::setenv("CUDA_HOME", MOEC_CUDA_TOOLKIT, /*overwrite=*/0);
}

/// Each gpu.binary's PTX objects, by binary name.
SmallVector<std::pair<std::string, std::string>> kernelPTX(ModuleOp module) {
  SmallVector<std::pair<std::string, std::string>> found;
  module.walk([&](gpu::BinaryOp binary) {
    for (Attribute attr : binary.getObjects()) {
      auto object = dyn_cast<gpu::ObjectAttr>(attr);
      if (object && object.getFormat() == gpu::CompilationTarget::Assembly)
        found.emplace_back(binary.getSymName().str(),
                           object.getObject().getValue().str());
    }
  });
  return found;
}
} // namespace

LogicalResult mlir::moe::compileForCUDA(ModuleOp module,
                                        const CUDACompileOptions &options,
                                        StringRef outputPath) {
  bool toStdout = outputPath == "-";
  if (toStdout && options.emit == CUDAEmitKind::SharedLibrary)
    return module.emitError("cannot write a shared library to stdout; give "
                            "an output file");
  if (!isKnownGPUArch(options.gpuArch))
    return module.emitError("unknown GPU architecture '")
           << options.gpuArch << "' (sm_90a or sm_80)";
  pointAtCUDAToolkit();
  auto stage = [&](StringRef name, function_ref<void(PassManager &)> build) {
    if (options.onStage)
      options.onStage(name);
    return runStage(module, name, options.timing,
                    options.configurePassManager, build);
  };

  if (failed(analyzeEntries(module, MOE_TARGET_CUDA)))
    return failure();
  for (auto func : module.getOps<func::FuncOp>())
    if (func->hasAttr(kEpSizeAttr))
      return func.emitError("expert parallelism (moe.ep_size) is not "
                            "supported by the CUDA target yet");
  if (options.routingStats &&
      failed(stage("routing statistics entries", [](PassManager &pm) {
        pm.addPass(createMoERoutingStatsEntries());
      })))
    return failure();
  module->removeAttr(kCheckpointDTypeAttr);
  MoELoweringOptions lowering;
  lowering.gpuArch = options.gpuArch;
  if (failed(stage("lower to linalg", [&](PassManager &pm) {
        // As moe-lower-to-cuda: refusals first.
        pm.addPass(createMoECUDACheckLayers());
        buildMoELowerToLinalgPipeline(pm, lowering, getCUDALinalgForm());
        buildMoECUDAPrepareKernelsPipeline(pm);
      })))
    return failure();
  // moe-cuda-bf16-weights changed the weight arguments: read them now.
  FailureOr<std::vector<EntrySignature>> entries =
      takeEntrySignatures(module, MOE_TARGET_CUDA);
  if (failed(entries))
    return failure();
  if (failed(stage("map to GPU kernels", [&](PassManager &pm) {
        buildMoEBufferizePipeline(pm);
        // The bf16 I/O twins the forward wrappers call.
        pm.addPass(createMoEBF16IOEntries());
        buildMoECUDAMapToGPUPipeline(pm, lowering);
      })))
    return failure();

  // The PTX, for --emit=ptx and --dump-kernels: the kernels serialized as
  // text from a copy of the module.
  std::string error;
  if (options.emit == CUDAEmitKind::PTX || !options.dumpKernelsDir.empty()) {
    OwningOpRef<ModuleOp> copy(module.clone());
    MoELoweringOptions isa;
    isa.gpuArch = options.gpuArch;
    isa.gpuBinaryFormat = "isa";
    if (options.onStage)
      options.onStage("kernels to PTX");
    if (failed(runStage(*copy, "kernels to PTX", options.timing,
                        options.configurePassManager, [&](PassManager &pm) {
                          buildMoECUDALowerToLLVMPipeline(pm, isa);
                        })))
      return failure();
    auto ptx = kernelPTX(*copy);
    if (!options.dumpKernelsDir.empty()) {
      if (std::error_code ec =
              llvm::sys::fs::create_directories(options.dumpKernelsDir))
        return module.emitError("cannot create ")
               << options.dumpKernelsDir << ": " << ec.message();
      for (auto &[name, text] : ptx) {
        SmallString<256> path(options.dumpKernelsDir);
        llvm::sys::path::append(path, name + ".ptx");
        std::unique_ptr<llvm::ToolOutputFile> file =
            createOutputFile(path, error, llvm::sys::fs::OF_Text);
        if (!file)
          return module.emitError(error);
        file->os() << text;
        file->keep();
      }
    }
    if (options.emit == CUDAEmitKind::PTX) {
      std::unique_ptr<llvm::ToolOutputFile> output =
          createOutputFile(outputPath, error, llvm::sys::fs::OF_Text);
      if (!output)
        return module.emitError(error);
      for (auto &[name, text] : ptx)
        output->os() << "// kernel module " << name << "\n" << text << "\n";
      output->keep();
      return success();
    }
  }

  if (failed(stage("kernels to a fatbin, host to the LLVM dialect",
                   [&](PassManager &pm) {
                     buildMoECUDALowerToLLVMPipeline(pm, lowering);
                   })))
    return failure();
  if (options.emit == CUDAEmitKind::MLIR)
    return writeModuleText(module, outputPath);

  HostLibraryOptions host;
  host.target = MOE_TARGET_CUDA;
  host.manifestTarget = MOE_MANIFEST_TARGET_CUDA;
  host.optLevel = options.optLevel;
  host.linker = options.linker;
  host.keepObject = options.keepObject;
  host.timing = options.timing;
  host.onStage = options.onStage;
  host.emit = options.emit == CUDAEmitKind::LLVMIR
                  ? HostEmitKind::LLVMIR
                  : HostEmitKind::SharedLibrary;
  host.registerTranslations = [](DialectRegistry &registry) {
    registerGPUDialectTranslation(registry);
    registerNVVMDialectTranslation(registry);
  };
  // The CUDA runtime (mgpu* and the wrappers' calls; it loads the driver
  // with dlopen), and the CPU's embedded helpers for what host code may
  // still call (memrefCopy).
  host.linkInputs = {findEmbeddedArchive(MOEC_EMBEDDED_CUDA_RUNTIME),
                     findEmbeddedArchive(MOEC_EMBEDDED_RUNTIME), "-ldl",
                     "-lpthread", "-lm"};
  if (*MOEC_EMBEDDED_RUNTIME_LINK_FLAGS)
    host.linkInputs.push_back(MOEC_EMBEDDED_RUNTIME_LINK_FLAGS);
  return emitHostLibrary(module, *entries, host, outputPath);
}
