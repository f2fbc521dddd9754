//===- FuzzFiles.h - fuzz inputs as real files ------------------*- C++ -*-===//
//
// The checkpoint readers take paths (they memory-map what they read), so the
// fuzzers hand them each input as a file in a private temporary folder.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_FUZZ_FUZZFILES_H
#define MOE_FUZZ_FUZZFILES_H

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace moe::fuzz {

/// A folder of this process's own, made on first use (under $TMPDIR).
inline const std::string &scratchDir() {
  static const std::string dir = [] {
    const char *tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp ? tmp : "/tmp") + "/moe-fuzz-XXXXXX";
    if (!mkdtemp(pattern.data()))
      std::abort();
    return pattern;
  }();
  return dir;
}

/// Writes `data` to `name` in the scratch folder and returns its path.
inline std::string writeFile(const std::string &name, const uint8_t *data,
                             size_t size) {
  std::string path = scratchDir() + "/" + name;
  FILE *file = std::fopen(path.c_str(), "wb");
  if (!file || (size && std::fwrite(data, 1, size, file) != size))
    std::abort();
  std::fclose(file);
  return path;
}

} // namespace moe::fuzz

#endif // MOE_FUZZ_FUZZFILES_H
