//===- Limits.cpp - bounds on every size read from an input ---------------===//

#include "moe/Support/Limits.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace moe;

bool limits::checkedMul(int64_t a, int64_t b, int64_t &out) {
  int64_t product;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &product))
    return false;
  out = product;
  return true;
}

bool limits::checkedProduct(const std::vector<int64_t> &sizes, int64_t max,
                            int64_t &out) {
  int64_t product = 1;
  for (int64_t size : sizes)
    if (!checkedMul(product, size, product) || product > max)
      return false;
  out = product;
  return true;
}

namespace {
/// The deepest nesting in `text`, stopping once it exceeds `stopAt`; `mlir`
/// adds MLIR's `//` comments and angle brackets to JSON's syntax.
size_t nestingDepth(const char *text, size_t size, size_t stopAt, bool mlir) {
  size_t depth = 0, deepest = 0;
  bool inString = false;
  for (size_t i = 0; i < size; ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\')
        ++i; // the escaped character cannot end the string
      else if (c == '"')
        inString = false;
      continue;
    }
    char next = i + 1 < size ? text[i + 1] : '\0';
    if (c == '"') {
      inString = true;
    } else if (mlir && c == '/' && next == '/') {
      while (i < size && text[i] != '\n')
        ++i;
    } else if (c == '[' || c == '{' || c == '(' || (mlir && c == '<')) {
      if (++depth > deepest && (deepest = depth) > stopAt)
        return deepest;
    } else if ((c == ']' || c == '}' || c == ')' ||
                (mlir && c == '>' && next != '=' &&
                 (i == 0 || text[i - 1] != '-'))) &&
               depth > 0) {
      --depth;
    }
  }
  return deepest;
}
} // namespace

size_t limits::jsonNestingDepth(const char *text, size_t size, size_t stopAt) {
  return nestingDepth(text, size, stopAt, /*mlir=*/false);
}

size_t limits::mlirNestingDepth(const char *text, size_t size, size_t stopAt) {
  return nestingDepth(text, size, stopAt, /*mlir=*/true);
}

int limits::openRegularFile(const std::string &path, std::string &error,
                            int64_t *size) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
  // writer forever.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": cannot open: " + std::strerror(errno);
    return -1;
  }
  struct stat info;
  if (fstat(fd, &info) != 0) {
    error = path + ": cannot stat: " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (!S_ISREG(info.st_mode)) {
    error = path + ": not a regular file (" +
            (S_ISDIR(info.st_mode)    ? "a directory"
             : S_ISFIFO(info.st_mode) ? "a FIFO"
             : S_ISSOCK(info.st_mode) ? "a socket"
                                      : "a device") +
            ")";
    ::close(fd);
    return -1;
  }
  if (size)
    *size = static_cast<int64_t>(info.st_size);
  // Reads of a regular file never block; clear the flag for plain reads.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

bool limits::readBoundedFile(const std::string &path, int64_t maxBytes,
                             std::string &text, std::string &error) {
  int64_t size = 0;
  int fd = openRegularFile(path, error, &size);
  if (fd < 0)
    return false;
  if (size > maxBytes) {
    ::close(fd);
    error = path + ": " + std::to_string(size) + " bytes exceed the limit " +
            std::to_string(maxBytes);
    return false;
  }
  text.resize(static_cast<size_t>(size));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t got = ::read(fd, &text[done], text.size() - done);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      error = path + ": cannot read: " +
              (got < 0 ? std::strerror(errno) : "the file shrank");
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  return true;
}
