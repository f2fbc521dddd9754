//===- CPU.h - moe modules to shared libraries for the CPU ------*- C++ -*-===//
//
// The in-process path behind `moe-compile --target=cpu`: lower with
// moe-lower-to-cpu, translate to LLVM IR, add the C entry wrappers and the
// manifest, optimise, emit an object and link a shared library.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_CPU_H
#define MOE_TARGET_CPU_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::moe {

struct CPUCompileOptions {
  /// LLVM CPU name; "native" is the host.
  std::string cpu = "native";
  unsigned optLevel = 3;
  /// The C compiler driver that links the shared library.
  std::string linker = "cc";
  /// Keep the intermediate object file next to the output.
  bool keepObject = false;
  /// Add a routing-statistics entry next to each MoE layer entry.
  bool routingStats = true;
  /// The fused experts' bound weights in memory: "f32" or "bf16".
  std::string weightType = "f32";
};

/// Compiles `module` (moe dialect) into the shared library `outputPath`.
/// Errors are emitted as diagnostics on the module.
LogicalResult compileToCPUSharedLibrary(ModuleOp module,
                                        const CPUCompileOptions &options,
                                        StringRef outputPath);

} // namespace mlir::moe

#endif // MOE_TARGET_CPU_H
