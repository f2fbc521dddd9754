//===- moe-compile.cpp - moe modules to deployable shared libraries -------===//
//
//   moe-compile IN.mlir --target=cpu -o OUT.so [--mcpu=native|NAME] [-O0..3]
//               [--weight-type=auto|f32|bf16] [--emit=mlir|llvm|asm|obj|so]
//               [--ep-size=N [--placement=contiguous|round-robin|FILE]
//                [--chunks=C|auto [--tokens-per-rank=T]]]
//   moe-compile IN.mlir --target=cuda -o OUT.so [--gpu-arch=sm_90a|sm_80]
//               [--emit=mlir|llvm|ptx|so] [--dump-kernels DIR]
//               [--mlir-print-ir-after-all ...]
//
// The library exports the C ABI of moe_runtime.h and needs no libMLIR or
// libLLVM at run time. Every option is checked here, before the compile
// starts, so that a bad value is one clear error rather than LLVM's.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Support/Limits.h"
#include "moe/Support/Progress.h"
#include "moe/Target/CPU.h"
#include "moe/Target/CUDA.h"
#include "moe/Tools/ToolMain.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/WithColor.h"
#include "llvm/TargetParser/Host.h"

#include <functional>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory toolCategory("moe-compile options");
static cl::OptionCategory mlirCategory(
    "moe-compile: MLIR debugging options",
    "MLIR's debugging options, applied to every pass manager of the compile");

// Not cl::Required: --mcpu=help needs no input.
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input.mlir>"),
                                      cl::cat(toolCategory));
static cl::opt<std::string>
    outputFile("o",
               cl::desc("Output file; '-' is stdout, for the text forms of "
                        "--emit (default: -)"),
               cl::value_desc("file"), cl::init("-"), cl::cat(toolCategory));
static cl::opt<std::string>
    emit("emit",
         cl::desc("What to write: mlir (the module lowered to the LLVM "
                  "dialect), llvm (optimised LLVM IR with the C entry points "
                  "and the manifest), asm, obj (CPU), ptx (CUDA: the "
                  "kernels' PTX), or so (the shared library) (default: so)"),
         cl::value_desc("form"), cl::init("so"), cl::cat(toolCategory));
static cl::opt<std::string>
    target("target",
           cl::desc("Code generation target: cpu, or cuda (GPU kernels "
                    "generated through MLIR's gpu, nvgpu and NVVM dialects, "
                    "with a CUDA runtime on the driver API) (default: cpu)"),
           cl::value_desc("name"), cl::init("cpu"), cl::cat(toolCategory));
static cl::opt<std::string> gpuArch(
    "gpu-arch",
    cl::desc("With --target=cuda: the GPU the kernels are for: sm_90a "
             "(Hopper: TMA and wgmma) or sm_80 (Ampere and newer: mma.sync; "
             "newer GPUs JIT its PTX) (default: sm_90a)"),
    cl::value_desc("arch"), cl::init("sm_90a"), cl::cat(toolCategory));
static cl::opt<std::string> dumpKernels(
    "dump-kernels",
    cl::desc("With --target=cuda: write each kernel module's PTX into DIR"),
    cl::value_desc("DIR"), cl::cat(toolCategory));
static cl::opt<std::string>
    mcpu("mcpu",
         cl::desc("CPU to tune and select features for: native (this "
                  "machine), a name LLVM knows, or help to list them "
                  "(default: native)"),
         cl::value_desc("cpu"), cl::init("native"), cl::cat(toolCategory));
static cl::opt<unsigned>
    optLevel("O", cl::desc("LLVM optimisation level, 0 to 3 (default: 3)"),
             cl::value_desc("level"), cl::Prefix, cl::init(3),
             cl::cat(toolCategory));
static cl::opt<std::string> weightType(
    "weight-type",
    cl::desc("Element type the expert weights are kept in at run time: "
             "auto (bf16 when the module's moe.checkpoint_dtype, recorded by "
             "moe-translate from the config's torch_dtype, is bf16; f32 for "
             "f16 and f32 checkpoints and when none is recorded), f32, or "
             "bf16 (half the memory and bandwidth; activations and sums stay "
             "f32) (default: auto)"),
    cl::value_desc("type"), cl::init("auto"), cl::cat(toolCategory));
static cl::opt<int64_t> epSize(
    "ep-size",
    cl::desc("Shard each MoE layer's experts over N ranks of expert "
             "parallelism; run the library under mpirun -np N (default: 1)"),
    cl::value_desc("N"), cl::init(1), cl::cat(toolCategory));
static cl::opt<std::string> placement(
    "placement",
    cl::desc("With --ep-size: which rank holds which experts: contiguous, "
             "round-robin, or a placement JSON file (moe-plan place writes "
             "one; it may replicate experts) (default: contiguous)"),
    cl::value_desc("rule|file"), cl::init("contiguous"), cl::cat(toolCategory));
static cl::opt<std::string> chunks(
    "chunks",
    cl::desc("With --ep-size: pipeline each rank's tokens in C parts, so "
             "that one part's exchange overlaps another's expert compute "
             "(1 to 64), or auto: the cost model's choice for "
             "--tokens-per-rank on this kind of machine (default: 1)"),
    cl::value_desc("C|auto"), cl::init("1"), cl::cat(toolCategory));
static cl::opt<int64_t> tokensPerRank(
    "tokens-per-rank",
    cl::desc("With --chunks=auto: the tokens each rank is expected to hold "
             "(default: 256)"),
    cl::value_desc("T"), cl::init(256), cl::cat(toolCategory));
static cl::opt<bool>
    keepObject("keep-object",
               cl::desc("With --emit=so, keep the object file OUT.so.o "
                        "(default: off)"),
               cl::init(false), cl::cat(toolCategory));

static cl::opt<bool> progress(
    "progress",
    cl::desc("Show each stage on stderr even when it is not a terminal "
             "(default: on a terminal only)"),
    cl::init(false), cl::cat(toolCategory));
static cl::opt<bool> quiet("quiet", cl::desc("No progress on stderr"),
                           cl::init(false), cl::cat(toolCategory));

static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "moe-compile") << message << "\n";
  return 1;
}

/// The error for an --mcpu LLVM does not know: the closest names when there
/// are any, else a few common ones.
static int unknownCPU(llvm::StringRef cpu,
                      const std::vector<std::string> &known) {
  std::vector<std::pair<unsigned, llvm::StringRef>> near;
  for (llvm::StringRef name : known) {
    unsigned distance = cpu.edit_distance(name, /*AllowReplacements=*/true,
                                          /*MaxEditDistance=*/3);
    if (distance <= 3 && distance < cpu.size())
      near.push_back({distance, name});
  }
  llvm::stable_sort(near, llvm::less_first());
  std::vector<std::string> suggestions;
  for (auto &[distance, name] : near)
    if (suggestions.size() < 3)
      suggestions.push_back(name.str());
  if (suggestions.empty())
    for (std::string name :
         {llvm::sys::getHostCPUName().str(), std::string("x86-64-v2"),
          std::string("x86-64-v3"), std::string("x86-64-v4"),
          std::string("neoverse-n1"), std::string("neoverse-v2")})
      if (suggestions.size() < 4 && llvm::is_contained(known, name) &&
          !llvm::is_contained(suggestions, name))
        suggestions.push_back(name);
  std::string list;
  llvm::raw_string_ostream os(list);
  llvm::interleaveComma(suggestions, os);
  return fail("unknown --mcpu '" + cpu + "' (try --mcpu=native" +
              (list.empty() ? "" : ", or one of: " + list) +
              "; --mcpu=help lists all " + llvm::Twine(known.size()) + ")");
}

/// The module of `inputFile` in `context`, or null after reporting.
static OwningOpRef<ModuleOp> parseInput(MLIRContext &context,
                                        llvm::SourceMgr &sourceMgr,
                                        TimingScope &timing) {
  // The located message is enough; no IR dump after it, unless asked for.
  cl::Option *printOp =
      cl::getRegisteredOptions().lookup("mlir-print-op-on-diagnostic");
  if (!printOp || !printOp->getNumOccurrences())
    context.printOpOnDiagnostic(false);
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> file =
      mlir::moe::readMLIRInputFile(inputFile, error);
  if (!file) {
    fail(error);
    return nullptr;
  }
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  TimingScope parseTiming = timing.nest("parse");
  return parseSourceFile<ModuleOp>(sourceMgr, &context);
}

static DialectRegistry allDialects() {
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registry.insert<mlir::moe::MoEDialect>();
  // GPU modules serialize through LLVM IR (the CUDA target's kernels).
  registerAllToLLVMIRTranslations(registry);
  return registry;
}

/// MLIR's pass manager options from the command line, for each stage.
static LogicalResult configurePassManager(PassManager &pm) {
  return applyPassManagerCLOptions(pm);
}

/// Parses `inputFile` and runs `compile` on it, timed under the tool's
/// timing options; the exit code.
/// The stage hook gets each stage's name for the progress line (--progress,
/// --quiet; on a terminal by default).
using StageHook = std::function<void(llvm::StringRef)>;
static int parseAndCompile(
    llvm::function_ref<LogicalResult(ModuleOp, TimingScope &, StageHook)>
        compile) {
  DefaultTimingManager timingManager;
  applyDefaultTimingManagerCLOptions(timingManager);
  TimingScope timing = timingManager.getRootScope();
  MLIRContext context(allDialects());
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  ::moe::Progress stages("moe-compile", "compiling", "stage", 0,
                         ::moe::progressMode(progress, quiet));
  stages.next("parse");
  OwningOpRef<ModuleOp> module = parseInput(context, sourceMgr, timing);
  if (!module)
    return 1;
  StageHook hook;
  if (stages.enabled())
    hook = [&](llvm::StringRef stage) { stages.next(stage.str()); };
  return failed(compile(*module, timing, hook)) ? 1 : 0;
}

/// --target=cuda: the options the CPU alone has are refused, then the
/// CUDA compile.
static int compileCUDA() {
#ifndef MOEC_HAVE_CUDA_TARGET
  return fail("--target=cuda: this moe-compile was built without CUDA (the "
              "CUDA toolkit was not found when it was configured)");
#else
  for (cl::Option *cpuOnly :
       std::initializer_list<cl::Option *>{&mcpu, &weightType, &epSize,
                                           &placement, &chunks, &tokensPerRank})
    if (cpuOnly->getNumOccurrences())
      return fail("--" + cpuOnly->ArgStr + " is not an option of --target=cuda");
  if (!mlir::moe::isKnownGPUArch(gpuArch))
    return fail("unknown --gpu-arch '" + gpuArch + "' (sm_90a or sm_80)");
  std::optional<mlir::moe::CUDAEmitKind> emitKind =
      mlir::moe::parseCUDAEmitKind(emit);
  if (!emitKind)
    return fail("unknown --emit '" + emit +
                "' for --target=cuda (mlir, llvm, ptx or so)");
  if (inputFile.empty())
    return fail("no input file (moe-compile IN.mlir --target=cuda -o OUT.so; "
                "--help lists the options)");
  if (outputFile == "-" && *emitKind == mlir::moe::CUDAEmitKind::SharedLibrary)
    return fail("--emit=so writes a binary file, not stdout: give one with "
                "-o FILE");
  return parseAndCompile([&](ModuleOp module, TimingScope &timing,
                             StageHook onStage) {
    mlir::moe::CUDACompileOptions options;
    options.gpuArch = gpuArch;
    options.optLevel = optLevel;
    options.keepObject = keepObject;
    options.emit = *emitKind;
    options.dumpKernelsDir = dumpKernels;
    options.configurePassManager = configurePassManager;
    options.timing = &timing;
    options.onStage = onStage;
    return mlir::moe::compileForCUDA(module, options, outputFile);
  });
#endif
}

int main(int argc, char **argv) {
  mlir::moe::initTool("moe-compile");
  llvm::InitLLVM init(argc, argv);
  registerPassManagerCLOptions();
  registerMLIRContextCLOptions();
  registerAsmPrinterCLOptions();
  registerDefaultTimingManagerCLOptions();
  mlir::moe::hideLibraryOptions({&toolCategory}, &mlirCategory);
  cl::ParseCommandLineOptions(
      argc, argv,
      "moec: compile a moe-dialect module into a shared library (or, with "
      "--emit, an earlier form)\n");

  if (progress && quiet)
    return fail("--progress and --quiet: give one or the other");
  if (target != "cpu" && target != "cuda")
    return fail("unknown --target '" + target + "' (supported: cpu, cuda)");
  if (optLevel > 3)
    return fail("-O" + llvm::Twine(optLevel) +
                " is not an optimisation level (0-3)");
  if (target == "cuda")
    return compileCUDA();
  if (gpuArch.getNumOccurrences() || dumpKernels.getNumOccurrences())
    return fail(std::string(gpuArch.getNumOccurrences() ? "--gpu-arch"
                                                        : "--dump-kernels") +
                " needs --target=cuda");
  if (weightType != "auto" && weightType != "f32" && weightType != "bf16")
    return fail("unknown --weight-type '" + weightType +
                "' (auto, f32 or bf16)");
  if (epSize < 1 || epSize > ::moe::limits::kMaxRanks)
    return fail("--ep-size " + llvm::Twine(epSize) + " is not in [1, " +
                llvm::Twine(::moe::limits::kMaxRanks) + "]");
  if (placement.getNumOccurrences() && epSize == 1)
    return fail("--placement needs --ep-size above 1");
  if (chunks.getNumOccurrences() && epSize == 1)
    return fail("--chunks needs --ep-size above 1");
  // 0: the cost model's choice (moe-schedule-comm).
  int64_t chunkCount = 0;
  if (chunks != "auto" &&
      (llvm::StringRef(chunks).getAsInteger(10, chunkCount) || chunkCount < 1 ||
       chunkCount > ::moe::limits::kMaxChunks))
    return fail("--chunks '" + chunks + "' is not in [1, " +
                llvm::Twine(::moe::limits::kMaxChunks) + "] or auto");
  if (tokensPerRank.getNumOccurrences() && chunks != "auto")
    return fail("--tokens-per-rank needs --chunks=auto");
  if (tokensPerRank < 1 || tokensPerRank > ::moe::limits::kMaxTokens)
    return fail("--tokens-per-rank " + llvm::Twine(tokensPerRank) +
                " is not in [1, " + llvm::Twine(::moe::limits::kMaxTokens) +
                "]");
  std::optional<mlir::moe::CPUEmitKind> emitKind =
      mlir::moe::parseCPUEmitKind(emit);
  if (!emitKind)
    return fail("unknown --emit '" + emit + "' (mlir, llvm, asm, obj or so)");
  if (mcpu == "help") {
    for (const std::string &name : mlir::moe::getKnownCPUs())
      llvm::outs() << name << "\n";
    return 0;
  }
  if (!mlir::moe::isKnownCPU(mcpu))
    return unknownCPU(mcpu, mlir::moe::getKnownCPUs());
  if (inputFile.empty())
    return fail("no input file (moe-compile IN.mlir -o OUT.so; --help "
                "lists the options)");
  if (outputFile == "-" && !mlir::moe::isTextEmitKind(*emitKind))
    return fail("--emit=" + emit +
                " writes a binary file, not stdout: give one with -o FILE");

  return parseAndCompile([&](ModuleOp module, TimingScope &timing,
                             StageHook onStage) {
    mlir::moe::CPUCompileOptions options;
    options.cpu = mcpu;
    options.optLevel = optLevel;
    options.keepObject = keepObject;
    options.weightType = weightType;
    options.epSize = epSize;
    options.placement = placement;
    options.chunks = chunkCount;
    options.tokensPerRank = tokensPerRank;
    options.emit = *emitKind;
    options.configurePassManager = configurePassManager;
    options.timing = &timing;
    options.onStage = onStage;
    return mlir::moe::compileForCPU(module, options, outputFile);
  });
}
