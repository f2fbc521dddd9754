//===- ToolMain.h - what every moec command-line tool shares ----*- C++ -*-===//
//
// The pieces that make moe-opt, moe-translate and moe-compile behave like
// compiler tools: every failure ends as `<tool>: error: ...` and exit code 1
// (never an abort), `--version` names moec and the LLVM it was built
// against, `--help` shows the tool's own options rather than every LLVM
// backend's, and input files are read only when they are regular files.
// Outputs are opened with createOutputFile (Support/OutputFile.h, shared
// with moe-compile's library).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TOOLS_TOOLMAIN_H
#define MOE_TOOLS_TOOLMAIN_H

#include "moe/Support/OutputFile.h"

#include "mlir/Support/LLVM.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <string>

namespace mlir::moe {

/// Call first in a tool's main. From then on a fatal LLVM error
/// (report_fatal_error: "LLVM ERROR: ..."), a failed allocation and an
/// exception that reaches std::terminate each print `<toolName>: error: ...`
/// and end the process with exit code 1, after removing the output files
/// registered for removal on a signal. Also sets the `--version` printer and
/// records the command-line options the libraries registered as they loaded
/// (see hideLibraryOptions). `toolName` must live as long as the process
/// (a string literal).
void initTool(const char *toolName);

/// Hides from `--help` the options the LLVM and MLIR libraries registered
/// as they loaded (every backend's code generator flags, Polly, IR2Vec, ...)
/// unless they belong to one of `keep`; they stay usable and are listed by
/// `--help-hidden` and `--help-list-hidden`. Options registered since
/// initTool that are still in the general category move to `newOptions`
/// when it is given (the MLIR options a tool registers by hand).
void hideLibraryOptions(ArrayRef<const llvm::cl::OptionCategory *> keep,
                        llvm::cl::OptionCategory *newOptions = nullptr);

/// Reads the input file `path`, "-" being stdin. Only a regular file is
/// read: a FIFO, socket, device or folder is refused without blocking. A
/// file larger than `maxBytes` is refused before it is read. Returns null
/// with `error` naming the file and the problem.
std::unique_ptr<llvm::MemoryBuffer>
readInputFile(StringRef path, std::string &error, int64_t maxBytes = INT64_MAX);

/// readInputFile for MLIR text, refused when it nests deeper than
/// limits::kMaxMLIRDepth (MLIR's parser recurses per level and would
/// overflow the stack).
std::unique_ptr<llvm::MemoryBuffer> readMLIRInputFile(StringRef path,
                                                      std::string &error);

} // namespace mlir::moe

#endif // MOE_TOOLS_TOOLMAIN_H
