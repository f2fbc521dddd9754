//===- moe-translate.cpp - translations into the moe dialect --------------===//
//
//   moe-translate --import-hf-config CKPT_DIR|CKPT_DIR/config.json
//                 [--layer=L] -o OUT.mlir
//
// The moe importers behind a driver of their own rather than
// mlirTranslateMain, which opens its input by itself: every importer here
// reads a Hugging Face config, so a checkpoint folder stands for its
// config.json, and the input is read only if it is a regular file of at
// most limits::kMaxJsonBytes (a FIFO would block the read forever).
//
//===----------------------------------------------------------------------===//

#include "moe/Import/HFConfig.h"
#include "moe/Support/Limits.h"
#include "moe/Tools/ToolMain.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/Timing.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory toolCategory("moe-translate options");
static cl::OptionCategory mlirCategory("moe-translate: MLIR options");

static cl::opt<std::string>
    inputFile(cl::Positional,
              cl::desc("<checkpoint folder or its config.json; '-' is stdin>"),
              cl::init("-"), cl::cat(toolCategory));
static cl::opt<std::string> outputFile("o",
                                       cl::desc("Output file (default: -)"),
                                       cl::value_desc("file"), cl::init("-"),
                                       cl::cat(toolCategory));

static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "moe-translate") << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  mlir::moe::initTool("moe-translate");
  llvm::InitLLVM init(argc, argv);
  mlir::moe::registerImportHFConfigTranslation();
  // Built after the registrations: the parser lists the translations known
  // when it is constructed.
  cl::list<const Translation *, bool, TranslationParser> translations(
      "", cl::desc("Translation to perform"), cl::cat(toolCategory));
  // The importers' own options (--layer) join the tool's; MLIR's come next.
  mlir::moe::hideLibraryOptions({&toolCategory}, &toolCategory);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerTranslationCLOptions();
  registerDefaultTimingManagerCLOptions();
  mlir::moe::hideLibraryOptions({&toolCategory}, &mlirCategory);
  cl::ParseCommandLineOptions(argc, argv, "moec translation driver\n");

  if (translations.empty())
    return fail("no translation given (--import-hf-config)");
  if (translations.size() > 1)
    return fail("give one translation, not " +
                llvm::Twine(translations.size()));

  DefaultTimingManager timingManager;
  applyDefaultTimingManagerCLOptions(timingManager);
  TimingScope timing = timingManager.getRootScope();

  std::string path = inputFile;
  if (path != "-" && llvm::sys::fs::is_directory(path)) {
    llvm::SmallString<256> config(path);
    llvm::sys::path::append(config, "config.json");
    if (!llvm::sys::fs::exists(config))
      return fail(path + ": a folder without config.json (give a checkpoint "
                         "folder or its config.json)");
    path = config.str().str();
  }
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input =
      mlir::moe::readInputFile(path, error, ::moe::limits::kMaxJsonBytes);
  if (!input)
    return fail(error);
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::moe::createOutputFile(outputFile, error);
  if (!output)
    return fail(error);

  TimingScope translationTiming =
      timing.nest(translations.front()->getDescription());
  MLIRContext context;
  auto sourceMgr = std::make_shared<llvm::SourceMgr>();
  sourceMgr->AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(*sourceMgr, &context);
  if (failed((*translations.front())(sourceMgr, output->os(), &context)))
    return 1;
  output->keep();
  return 0;
}
