//===- CPU.h - moe modules to shared libraries for the CPU ------*- C++ -*-===//
//
// The in-process path behind `moe-compile --target=cpu`: lower with
// moe-lower-to-cpu, translate to LLVM IR, add the C entry wrappers and the
// manifest, optimise, emit an object and link a shared library; or stop
// after any of these stages and write what it has (`--emit`).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_CPU_H
#define MOE_TARGET_CPU_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "mlir/Support/Timing.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
class PassManager;
} // namespace mlir

namespace mlir::moe {

/// What the compile writes (moe-compile --emit).
enum class CPUEmitKind {
  /// The module lowered to the LLVM dialect, as text. The C entry wrappers
  /// and the manifest are added in LLVM IR, so only their
  /// `_mlir_ciface_<entry>` callees are here.
  MLIR,
  /// The optimised LLVM IR, entry wrappers and manifest included, as text.
  LLVMIR,
  /// Target assembly.
  Assembly,
  /// An object file.
  Object,
  /// The linked shared library.
  SharedLibrary,
};

/// The `--emit` spellings: mlir, llvm, asm, obj, so.
std::optional<CPUEmitKind> parseCPUEmitKind(StringRef name);
/// Whether the form is text (and so may go to stdout).
bool isTextEmitKind(CPUEmitKind kind);

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
  /// The fused experts' bound weights in memory: "f32", "bf16", or "auto":
  /// bf16 when the module says its checkpoint stores bf16
  /// (moe.checkpoint_dtype), else f32 (resolveWeightType).
  std::string weightType = "auto";
  /// Expert parallelism: the ranks the layers are sharded over (1: none)
  /// and which rank holds which experts (moe-expert-parallel).
  int64_t epSize = 1;
  std::string placement = "contiguous";
  /// Parts each rank's tokens are pipelined in (moe-schedule-comm; 0: the
  /// cost model's choice for `tokensPerRank`).
  int64_t chunks = 1;
  int64_t tokensPerRank = 256;
  /// What to write to `outputPath`.
  CPUEmitKind emit = CPUEmitKind::SharedLibrary;
  /// Called on every PassManager the compile creates, before it runs: the
  /// tools apply MLIR's command-line options (--mlir-print-ir-after-all,
  /// --mlir-pass-statistics, ...) here. May be empty.
  std::function<LogicalResult(PassManager &)> configurePassManager;
  /// When set (--mlir-timing), each stage and its passes are timed in a
  /// scope nested here.
  TimingScope *timing = nullptr;
  /// Called as each stage begins, with its name (moe-compile's progress
  /// line). May be empty.
  std::function<void(StringRef)> onStage;
};

/// Whether `cpu` is "native" or a CPU LLVM knows for this host's target.
bool isKnownCPU(StringRef cpu);
/// The CPU names LLVM knows for this host's target, sorted.
std::vector<std::string> getKnownCPUs();

/// The weight type `requested` ("auto", "f32" or "bf16") means for
/// `module`: "auto" is "bf16" when its `moe.checkpoint_dtype` is "bf16" and
/// "f32" otherwise (an f16 or f32 checkpoint, or none recorded); a
/// `moe.checkpoint_dtype` that is not "bf16", "f16" or "f32" is an error at
/// the module.
FailureOr<std::string> resolveWeightType(ModuleOp module, StringRef requested);

/// Compiles `module` (moe dialect) and writes `options.emit` to
/// `outputPath` ("-" is stdout, for the text forms). Errors are emitted as
/// diagnostics on the module.
LogicalResult compileForCPU(ModuleOp module, const CPUCompileOptions &options,
                            StringRef outputPath);

} // namespace mlir::moe

#endif // MOE_TARGET_CPU_H
