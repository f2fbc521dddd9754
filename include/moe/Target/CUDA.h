//===- CUDA.h - moe modules to shared libraries with GPU kernels -*- C++ -*-===//
//
// The in-process path behind `moe-compile --target=cuda`: lower with
// moe-lower-to-cuda (kernels generated through gpu, nvgpu and NVVM,
// serialized to a fatbin holding the cubin for the requested architecture
// and its PTX), translate the host code to LLVM IR, add the C entry
// wrappers (which upload weights and move activations to and from the
// device) and the manifest, optimise, emit, link with the embedded CUDA
// runtime; or stop after a stage and write what it has (`--emit`).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_CUDA_H
#define MOE_TARGET_CUDA_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "mlir/Support/Timing.h"

#include <functional>
#include <optional>
#include <string>

namespace mlir {
class PassManager;
} // namespace mlir

namespace mlir::moe {

/// What the CUDA compile writes (moe-compile --emit).
enum class CUDAEmitKind {
  /// The module lowered to the LLVM dialect (host code and gpu.binary ops
  /// holding the kernels), as text.
  MLIR,
  /// The host's optimised LLVM IR with entry wrappers and manifest.
  LLVMIR,
  /// The PTX of every kernel module, as text.
  PTX,
  /// The linked shared library.
  SharedLibrary,
};

/// The `--emit` spellings for CUDA: mlir, llvm, ptx, so.
std::optional<CUDAEmitKind> parseCUDAEmitKind(StringRef name);

/// The architectures the CUDA target generates kernels for.
bool isKnownGPUArch(StringRef arch);

struct CUDACompileOptions {
  /// sm_90a (TMA + wgmma) or sm_80 (mma.sync); newer GPUs than sm_80 run
  /// its PTX through the driver's JIT.
  std::string gpuArch = "sm_90a";
  /// The host side's LLVM optimisation level.
  unsigned optLevel = 3;
  std::string linker = "cc";
  bool keepObject = false;
  bool routingStats = true;
  CUDAEmitKind emit = CUDAEmitKind::SharedLibrary;
  /// When set, each kernel module's PTX is written there as
  /// `<module>.ptx` (a second serialization of the same kernels).
  std::string dumpKernelsDir;
  std::function<LogicalResult(PassManager &)> configurePassManager;
  TimingScope *timing = nullptr;
  /// Called as each stage begins, with its name (moe-compile's progress
  /// line). May be empty.
  std::function<void(StringRef)> onStage;
};

/// Compiles `module` (moe dialect) for CUDA and writes `options.emit` to
/// `outputPath` ("-": stdout, text forms). Errors are diagnostics on the
/// module.
LogicalResult compileForCUDA(ModuleOp module, const CUDACompileOptions &options,
                             StringRef outputPath);

} // namespace mlir::moe

#endif // MOE_TARGET_CUDA_H
