//===- moe-compile.cpp - moe modules to deployable shared libraries -------===//
//
//   moe-compile IN.mlir --target=cpu -o OUT.so [--mcpu=native|NAME] [-O0..3]
//
// The library exports the C ABI of moe_runtime.h and needs no libMLIR or
// libLLVM at run time.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Target/CPU.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/WithColor.h"

using namespace mlir;

static llvm::cl::opt<std::string> inputFile(llvm::cl::Positional,
                                            llvm::cl::desc("<input.mlir>"),
                                            llvm::cl::Required);
static llvm::cl::opt<std::string> outputFile("o", llvm::cl::desc("Output .so"),
                                             llvm::cl::value_desc("file"),
                                             llvm::cl::Required);
static llvm::cl::opt<std::string>
    target("target", llvm::cl::desc("Code generation target (cpu)"),
           llvm::cl::init("cpu"));
static llvm::cl::opt<std::string>
    mcpu("mcpu",
         llvm::cl::desc("CPU to tune and select features for; "
                        "'native' is this machine"),
         llvm::cl::init("native"));
static llvm::cl::opt<unsigned>
    optLevel("O", llvm::cl::desc("LLVM optimisation level"), llvm::cl::Prefix,
             llvm::cl::init(3));
static llvm::cl::opt<std::string> weightType(
    "weight-type",
    llvm::cl::desc("Element type the expert weights are kept in at run "
                   "time: f32, or bf16 (half the memory and bandwidth; "
                   "activations and sums stay f32)"),
    llvm::cl::init("f32"));
static llvm::cl::opt<bool> keepObject("keep-object",
                                      llvm::cl::desc("Keep OUT.so.o"),
                                      llvm::cl::init(false));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::cl::ParseCommandLineOptions(
      argc, argv, "moec: compile a moe-dialect module into a shared library\n");

  if (target != "cpu") {
    llvm::WithColor::error(llvm::errs(), "moe-compile")
        << "unknown --target '" << target << "' (supported: cpu)\n";
    return 1;
  }
  if (weightType != "f32" && weightType != "bf16") {
    llvm::WithColor::error(llvm::errs(), "moe-compile")
        << "unknown --weight-type '" << weightType << "' (f32 or bf16)\n";
    return 1;
  }
  if (optLevel > 3) {
    llvm::WithColor::error(llvm::errs(), "moe-compile")
        << "-O" << optLevel << " is not an optimisation level (0-3)\n";
    return 1;
  }

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registry.insert<moe::MoEDialect>();
  MLIRContext context(registry);
  // The located message is enough; no IR dump after it.
  context.printOpOnDiagnostic(false);

  std::string error;
  auto file = openInputFile(inputFile, &error);
  if (!file) {
    llvm::WithColor::error(llvm::errs(), "moe-compile") << error << "\n";
    return 1;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  moe::CPUCompileOptions options;
  options.cpu = mcpu;
  options.optLevel = optLevel;
  options.keepObject = keepObject;
  options.weightType = weightType;
  if (failed(moe::compileToCPUSharedLibrary(*module, options, outputFile)))
    return 1;
  return 0;
}
