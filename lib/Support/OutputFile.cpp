//===- OutputFile.cpp - the one way moec opens an output file -------------===//

#include "moe/Support/OutputFile.h"

std::unique_ptr<llvm::ToolOutputFile>
mlir::moe::createOutputFile(llvm::StringRef path, std::string &error,
                            llvm::sys::fs::OpenFlags flags) {
  std::error_code ec;
  auto file = std::make_unique<llvm::ToolOutputFile>(path, ec, flags);
  if (ec) {
    error = (path + ": cannot write: " + ec.message()).str();
    return nullptr;
  }
  return file;
}
