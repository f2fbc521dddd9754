//===- ToolMain.cpp - what every moec command-line tool shares ------------===//
//
// Error handlers, the version printer, --help grouping and input files for
// moe-opt, moe-translate and moe-compile. Built with exceptions (unlike the
// tools), so that the terminate handler can name the exception it reports.
//
//===----------------------------------------------------------------------===//

#include "moe/Tools/ToolMain.h"
#include "moe/Support/Limits.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Signals.h"
#include "llvm/Support/WithColor.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <unistd.h>

using namespace mlir;
namespace cl = llvm::cl;

namespace {
const char *toolName = "moec";

/// The options registered before main ran: the libraries' (and the tool's
/// own globals, which hideLibraryOptions keeps by category).
llvm::DenseSet<cl::Option *> &libraryOptions() {
  static llvm::DenseSet<cl::Option *> options;
  return options;
}

std::atomic<bool> failing{false};
thread_local bool reporting = false;

/// Whether this failure is the one to report. A failure raised while
/// reporting ends the process at once; one on another thread waits for the
/// first to finish its message (bounded, so that nothing can hang).
bool claimFailure() {
  if (reporting)
    _exit(1);
  reporting = true;
  if (!failing.exchange(true))
    return true;
  for (int i = 0; i < 200; ++i)
    usleep(10000);
  return false;
}

[[noreturn]] void exitFailed() {
  // Partly written outputs (ToolOutputFile, RemoveFileOnSignal) go away.
  llvm::sys::RunInterruptHandlers();
  // _exit, not exit: the failure may be on a worker thread, and static
  // destructors must not run under the threads still using them.
  _exit(1);
}

/// Writes `parts` to stderr without allocating (the out-of-memory path).
void writeStderr(std::initializer_list<const char *> parts) {
  for (const char *part : parts) {
    size_t size = std::strlen(part);
    while (size > 0) {
      ssize_t written = ::write(STDERR_FILENO, part, size);
      if (written < 0 && errno == EINTR)
        continue;
      if (written <= 0)
        break;
      part += written;
      size -= written;
    }
  }
}

// LLVM calls exit(1) (or abort, for internal errors) if a handler returns,
// so none does.
void onFatalError(void *, const char *reason, bool) {
  if (claimFailure())
    llvm::WithColor::error(llvm::errs(), toolName) << reason << "\n";
  exitFailed();
}

// Must not allocate: memory has run out.
void onBadAlloc(void *, const char *reason, bool) {
  if (claimFailure()) {
    bool hasReason = reason && *reason;
    writeStderr({toolName, ": error: out of memory", hasReason ? " (" : "",
                 hasReason ? reason : "", hasReason ? ")" : "", "\n"});
  }
  exitFailed();
}

[[noreturn]] void onTerminate() {
  if (claimFailure()) {
    llvm::raw_ostream &os = llvm::WithColor::error(llvm::errs(), toolName);
    if (std::exception_ptr current = std::current_exception()) {
      try {
        std::rethrow_exception(current);
      } catch (const std::bad_alloc &) {
        os << "out of memory\n";
      } catch (const std::exception &error) {
        os << "uncaught exception: " << error.what() << "\n";
      } catch (...) {
        os << "uncaught exception of unknown type\n";
      }
    } else {
      os << "internal error: std::terminate called without an exception\n";
    }
  }
  exitFailed();
}

/// A hook for the tools' lit tests: fails the way named while the command
/// line is parsed, so each tool's handlers can be seen to work.
cl::opt<std::string> testFailure(
    "moe-test-failure", cl::ReallyHidden,
    cl::desc("Fail on purpose (fatal, bad-alloc, exception); for tests"),
    cl::callback([](const std::string &kind) {
      if (kind == "fatal")
        llvm::report_fatal_error("test fatal error (--moe-test-failure)");
      if (kind == "bad-alloc")
        llvm::report_bad_alloc_error("test allocation failure");
      if (kind == "exception")
        throw std::runtime_error("test exception (--moe-test-failure)");
    }));
} // namespace

void mlir::moe::initTool(const char *name) {
  toolName = name;
  llvm::install_fatal_error_handler(onFatalError);
  llvm::install_bad_alloc_error_handler(onBadAlloc);
  // A failed operator new reports through the bad-alloc handler.
  llvm::install_out_of_memory_new_handler();
  std::set_terminate(onTerminate);

  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << toolName << " (moec) " MOEC_VERSION "\n"
       << "  built with LLVM and MLIR " LLVM_VERSION_STRING "\n";
  });

  for (auto &entry : cl::getRegisteredOptions())
    libraryOptions().insert(entry.second);
}

void mlir::moe::hideLibraryOptions(ArrayRef<const cl::OptionCategory *> keep,
                                   cl::OptionCategory *newOptions) {
  auto &options = cl::getRegisteredOptions();
  // LLVM's generic category (--help, --version) is not exported; --help is
  // in it.
  const cl::OptionCategory *generic = nullptr;
  if (cl::Option *help = options.lookup("help"))
    generic = help->Categories.front();
  for (auto &entry : options) {
    cl::Option *option = entry.second;
    if (llvm::any_of(option->Categories, [&](cl::OptionCategory *category) {
          return category == generic || llvm::is_contained(keep, category);
        }))
      continue;
    if (libraryOptions().contains(option)) {
      // cl::HideUnrelatedOptions would make them ReallyHidden, which drops
      // them from --help-hidden too.
      if (option->getOptionHiddenFlag() == cl::NotHidden)
        option->setHiddenFlag(cl::Hidden);
    } else if (newOptions && option->Categories.size() == 1 &&
               option->Categories.front() == &cl::getGeneralCategory()) {
      option->addCategory(*newOptions);
    }
  }
}

std::unique_ptr<llvm::MemoryBuffer>
mlir::moe::readInputFile(StringRef path, std::string &error, int64_t maxBytes) {
  auto tooLarge = [&](StringRef name, int64_t size) {
    error = (name + ": " + llvm::Twine(size) + " bytes, more than the " +
             llvm::Twine(maxBytes) + " this input may have")
                .str();
    return nullptr;
  };
  if (path == "-") {
    if (llvm::sys::Process::StandardInIsUserInput())
      llvm::errs() << "(reading the input from stdin; end it with ctrl-d)\n";
    // Read in chunks so that the limit holds before the memory is spent.
    llvm::SmallString<0> data;
    char chunk[1 << 16];
    for (;;) {
      ssize_t got = ::read(STDIN_FILENO, chunk, sizeof(chunk));
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0) {
        error = std::string("<stdin>: cannot read: ") + std::strerror(errno);
        return nullptr;
      }
      if (got == 0)
        break;
      data.append(chunk, chunk + got);
      if (static_cast<int64_t>(data.size()) > maxBytes)
        return tooLarge("<stdin>", data.size());
    }
    return llvm::MemoryBuffer::getMemBufferCopy(data, "<stdin>");
  }

  int64_t size;
  int fd = ::moe::limits::openRegularFile(path.str(), error, &size);
  if (fd < 0)
    return nullptr;
  if (size > maxBytes) {
    ::close(fd);
    return tooLarge(path, size);
  }
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getOpenFile(fd, path, size);
  ::close(fd);
  if (!buffer) {
    error = (path + ": cannot read: " + buffer.getError().message()).str();
    return nullptr;
  }
  return std::move(*buffer);
}

std::unique_ptr<llvm::MemoryBuffer>
mlir::moe::readMLIRInputFile(StringRef path, std::string &error) {
  std::unique_ptr<llvm::MemoryBuffer> buffer = readInputFile(path, error);
  if (!buffer)
    return nullptr;
  size_t depth = ::moe::limits::mlirNestingDepth(buffer->getBufferStart(),
                                                 buffer->getBufferSize());
  if (depth > ::moe::limits::kMaxMLIRDepth) {
    error = (buffer->getBufferIdentifier() + ": nests brackets more than " +
             llvm::Twine(::moe::limits::kMaxMLIRDepth) +
             " levels deep; moec reads MLIR nested at most that deep")
                .str();
    return nullptr;
  }
  return buffer;
}
