//===- HFConfigFuzzer.cpp - libFuzzer target for the HF config importer ---===//
//
// Any byte string is a candidate config.json: the importer must either build
// a module that verifies or report an error at a location in the file. The
// errors themselves are swallowed (a fuzzer run prints nothing per input).
//
//===----------------------------------------------------------------------===//

#include "moe/Import/HFConfig.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::MLIRContext *context = [] {
    auto *ctx = new mlir::MLIRContext(mlir::MLIRContext::Threading::DISABLED);
    ctx->getDiagEngine().registerHandler([](mlir::Diagnostic &) {});
    return ctx;
  }();
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  bool errored = false;
  mlir::ScopedDiagnosticHandler onError(
      context, [&](mlir::Diagnostic &diagnostic) {
        errored |= diagnostic.getSeverity() == mlir::DiagnosticSeverity::Error;
        return mlir::success();
      });
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::moe::importHFConfig(text, "config.json", std::nullopt, context);
  if (!module && !errored)
    std::abort(); // a failure must say why
  if (module && mlir::failed(mlir::verify(*module)))
    std::abort();
  return 0;
}
