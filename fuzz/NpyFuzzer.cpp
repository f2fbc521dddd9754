//===- NpyFuzzer.cpp - libFuzzer target for .npy parsing ------------------===//
//
// Any byte string is a candidate .npy file: parsing must either succeed with
// data matching the declared shape or fail with an error naming the file.
//
//===----------------------------------------------------------------------===//

#include "moe/Support/Npy.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  moe::NpyArray array;
  std::string error;
  if (!moe::parseNpy(data, size, "fuzz.npy", array, error)) {
    if (error.rfind("fuzz.npy: ", 0) != 0)
      std::abort(); // every error names the file
    return 0;
  }
  size_t count = 1;
  for (int64_t d : array.shape)
    count *= static_cast<size_t>(d);
  if (count != array.data.size())
    std::abort();
  return 0;
}
