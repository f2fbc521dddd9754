//===- HostLibrary.h - lowered modules to host shared libraries -*- C++ -*-===//
//
// The back half every target's compile shares once its module is in the
// LLVM dialect (host code; a GPU target's kernels are already serialized in
// gpu.binary ops): translate to LLVM IR, add the entry wrappers and the
// manifest (Entries.h), optimise for the host, emit, link with the target's
// embedded runtime. Also the host target machine and the staged pass
// managers both compiles use.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_HOSTLIBRARY_H
#define MOE_TARGET_HOSTLIBRARY_H

#include "moe/Target/Entries.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "mlir/Support/Timing.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace llvm {
class MCSubtargetInfo;
class TargetMachine;
} // namespace llvm

namespace mlir {
class DialectRegistry;
class PassManager;
} // namespace mlir

namespace mlir::moe {

/// The host's LLVM subtarget with no CPU named (it knows every CPU name).
std::unique_ptr<llvm::MCSubtargetInfo> hostSubtargetInfo();

/// A PIC target machine for this host and `cpu` ("native" or a name LLVM
/// knows); null with `error` set otherwise.
std::unique_ptr<llvm::TargetMachine>
createHostTargetMachine(StringRef cpu, std::string &error);

/// Runs the passes `build` adds on `module` in a pass manager of its own,
/// configured by `configure` (MLIR's command-line options; may be empty)
/// and timed in a scope named `stage` nested in `timing` (may be null).
LogicalResult
runStage(ModuleOp module, StringRef stage, TimingScope *timing,
         const std::function<LogicalResult(PassManager &)> &configure,
         function_ref<void(PassManager &)> build);

/// The entry signatures of `module` as lowered for `target` (read after the
/// target's tensor stage, which may change weight arguments), with their
/// functions readied for the LLVM dialect: a C interface for the ABI
/// wrappers to call, and the moe.* attributes, which now live in the
/// manifest, dropped.
FailureOr<std::vector<EntrySignature>> takeEntrySignatures(ModuleOp module,
                                                           int32_t target);

/// Prints `module` to `outputPath` ("-": stdout); errors are diagnostics on
/// the module.
LogicalResult writeModuleText(ModuleOp module, StringRef outputPath);

/// What emitHostLibrary writes.
enum class HostEmitKind { LLVMIR, Assembly, Object, SharedLibrary };

struct HostLibraryOptions {
  /// MOE_TARGET_* of the entry wrappers and the manifest's "target".
  int32_t target = 0;
  std::string manifestTarget;
  std::string cpu = "native";
  unsigned optLevel = 3;
  /// The C compiler driver that links, and what it links after the object
  /// (the target's embedded runtime and libraries).
  std::string linker = "cc";
  std::vector<std::string> linkInputs;
  bool keepObject = false;
  HostEmitKind emit = HostEmitKind::SharedLibrary;
  /// Registers the LLVM IR translations the module's dialects need beyond
  /// the builtin and LLVM ones.
  std::function<void(DialectRegistry &)> registerTranslations;
  TimingScope *timing = nullptr;
  /// Called as each stage begins, with its name (moe-compile's progress
  /// line). May be empty.
  std::function<void(StringRef)> onStage;
};

/// Where the embedded runtime archive `buildTreePath` (the build tree's,
/// fixed at configure time) is for this compiler: an installed moe-compile
/// (<prefix>/bin) links <prefix>/lib/moec/<its file name>, so that the
/// install works without the build tree; a build-tree one links
/// `buildTreePath`.
std::string findEmbeddedArchive(StringRef buildTreePath);

/// Translates `module` (LLVM dialect) to LLVM IR, adds each entry's ABI
/// functions and the manifest, optimises, and writes `options.emit` to
/// `outputPath` ("-": stdout, text forms only). Errors are diagnostics on
/// the module.
LogicalResult emitHostLibrary(ModuleOp module,
                              ArrayRef<EntrySignature> entries,
                              const HostLibraryOptions &options,
                              StringRef outputPath);

} // namespace mlir::moe

#endif // MOE_TARGET_HOSTLIBRARY_H
