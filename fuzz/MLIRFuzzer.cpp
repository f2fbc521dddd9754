//===- MLIRFuzzer.cpp - libFuzzer target for moe-dialect input ------------===//
//
// Any byte string is a candidate moe-dialect module: it is parsed and
// verified, and a module that verifies is decomposed and lowered through
// moe-lower-to-cpu (to the LLVM dialect). Each step may fail with a
// diagnostic; none may crash, hang or trip a sanitizer.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Pipelines/Pipelines.h"
#include "moe/Support/Limits.h"
#include "moe/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::MLIRContext *context = [] {
    mlir::DialectRegistry registry;
    mlir::registerAllDialects(registry);
    mlir::registerAllExtensions(registry);
    registry.insert<mlir::moe::MoEDialect>();
    auto *ctx = new mlir::MLIRContext(registry,
                                      mlir::MLIRContext::Threading::DISABLED);
    ctx->loadAllAvailableDialects();
    ctx->getDiagEngine().registerHandler([](mlir::Diagnostic &) {});
    return ctx;
  }();
  // MLIR's lexer reads to a NUL past the end, as every file it is given
  // through a MemoryBuffer has: the fuzz input needs one too.
  std::string text(reinterpret_cast<const char *>(data), size);
  // The tools refuse deeper text before parsing (readMLIRInputFile): MLIR's
  // parser recurses per level.
  if (moe::limits::mlirNestingDepth(text.data(), text.size()) >
      moe::limits::kMaxMLIRDepth)
    return 0;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(text, context, "fuzz.mlir");
  if (!module) // parsing verifies
    return 0;
  mlir::PassManager pm(context);
  mlir::moe::buildMoELowerToCPUPipeline(pm);
  (void)pm.run(*module);
  return 0;
}
