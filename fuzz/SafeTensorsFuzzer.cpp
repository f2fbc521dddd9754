//===- SafeTensorsFuzzer.cpp - libFuzzer target for safetensors files -----===//
//
// Any byte string is a candidate .safetensors file: opening it must either
// give tensors whose bytes lie inside the file (each is converted to float32
// here, touching every byte) or fail with an error naming the file.
//
//===----------------------------------------------------------------------===//

#include "FuzzFiles.h"

#include "moe/Support/SafeTensors.h"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = moe::fuzz::writeFile("w.safetensors", data, size);
  std::string error;
  std::unique_ptr<moe::Checkpoint> checkpoint =
      moe::Checkpoint::open(path, error);
  if (!checkpoint) {
    if (error.find(path) == std::string::npos)
      std::abort();
    return 0;
  }
  for (const auto &[name, view] : checkpoint->tensors()) {
    if (view.bytes != view.numElements() * moe::dtypeSize(view.dtype))
      std::abort();
    std::vector<float> values(view.numElements());
    view.copyToF32(values.data());
  }
  return 0;
}
