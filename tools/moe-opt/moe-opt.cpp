//===- moe-opt.cpp - mlir-opt with the moe dialect ------------------------===//
//
// The driver for testing and inspecting moe passes: every upstream dialect,
// extension and pass, plus the moe dialect and its passes.
//
// MlirOptMain's pieces are used one by one rather than whole so that the
// tool can (1) install its error handlers first, (2) hide the options the
// LLVM libraries register (every backend's code generator flags, Polly,
// IR2Vec) from --help, and name the moe passes at the top of it, since the
// pass list itself holds every upstream pass, and (3) read the input
// only if it is a regular file.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Pipelines/Pipelines.h"
#include "moe/Target/CPU/Passes.h"
#include "moe/Target/CUDA/Passes.h"
#include "moe/Tools/ToolMain.h"
#include "moe/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

using namespace mlir;

/// The moe passes and pipelines with their summaries, read from the
/// registry so that the list cannot go stale.
static std::string moePassesHelp() {
  std::string text = "moe passes and pipelines (also in the pass list below, "
                     "with their options):\n";
  llvm::raw_string_ostream os(text);
  // The pass-list option answers to the name of every pass and pipeline;
  // one of ours finds it.
  llvm::SmallVector<StringRef> names;
  if (llvm::cl::Option *passList =
          llvm::cl::getRegisteredOptions().lookup("moe-decompose"))
    passList->getExtraOptionNames(names);
  llvm::sort(names);
  for (StringRef name : names) {
    if (!name.contains("moe"))
      continue;
    const PassRegistryEntry *entry = PassInfo::lookup(name);
    if (!entry)
      entry = PassPipelineInfo::lookup(name);
    os << "  --" << name;
    if (entry)
      os.indent(name.size() < 28 ? 28 - name.size() : 1)
          << entry->getPassDescription();
    os << "\n";
  }
  return text;
}

int main(int argc, char **argv) {
  mlir::moe::initTool("moe-opt");
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  mlir::moe::registerMoETransformsPasses();
  mlir::moe::registerMoEConversionPasses();
  mlir::moe::registerMoECPUPasses();
  mlir::moe::registerMoECUDAPasses();
  mlir::moe::registerMoEPipelines();

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registry.insert<mlir::moe::MoEDialect>();
  // GPU modules serialize through LLVM IR (gpu-module-to-binary, and the
  // NVVM stages of gpu-lower-to-nvvm-pipeline).
  registerAllToLLVMIRTranslations(registry);

  std::string header = registerCLIOptions(
      "moec optimizer driver: the moe dialect and its passes", registry);
  header += "\n\n" + moePassesHelp();
  // MLIR's driver options are registered just now and stay; the libraries'
  // are hidden.
  mlir::moe::hideLibraryOptions({});
  auto [inputFile, outputFile] = parseCLIOptions(argc, argv, header);
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();

  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input =
      mlir::moe::readMLIRInputFile(inputFile, error);
  if (!input) {
    llvm::WithColor::error(llvm::errs(), "moe-opt") << error << "\n";
    return 1;
  }
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::moe::createOutputFile(outputFile, error);
  if (!output) {
    llvm::WithColor::error(llvm::errs(), "moe-opt") << error << "\n";
    return 1;
  }
  if (failed(MlirOptMain(output->os(), std::move(input), registry, config)))
    return 1;
  output->keep();
  return 0;
}
