//===- OutputFile.h - the one way moec opens an output file -----*- C++ -*-===//
//
// The tools (moe-opt, moe-translate, moe-compile's --emit stages) write
// their outputs through LLVM's ToolOutputFile: "-" is stdout, and a file is
// removed again unless kept, so that a failed run leaves no half-written
// output. Unlike the rest of Support this uses LLVM; lib/Target and
// lib/Tools both link it, and neither depends on the other.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_SUPPORT_OUTPUTFILE_H
#define MOE_SUPPORT_OUTPUTFILE_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/ToolOutputFile.h"

#include <memory>
#include <string>

namespace mlir::moe {

/// Opens the output file `path`, "-" being stdout; it is removed again
/// unless kept (ToolOutputFile). Returns null with `error` naming the file
/// ("<path>: cannot write: <reason>").
std::unique_ptr<llvm::ToolOutputFile>
createOutputFile(llvm::StringRef path, std::string &error,
                 llvm::sys::fs::OpenFlags flags = llvm::sys::fs::OF_None);

} // namespace mlir::moe

#endif // MOE_SUPPORT_OUTPUTFILE_H
