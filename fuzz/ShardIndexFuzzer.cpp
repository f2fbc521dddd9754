//===- ShardIndexFuzzer.cpp - libFuzzer target for shard indexes ----------===//
//
// The input is a model.safetensors.index.json next to two real shards
// (a.safetensors holds "a", b.safetensors holds "b"): opening it must either
// give exactly the tensors of shards inside the folder, each in the shard
// the index names, or fail with an error naming the index or a shard.
//
//===----------------------------------------------------------------------===//

#include "FuzzFiles.h"

#include "moe/Support/SafeTensors.h"

#include <map>

namespace {
void writeShards() {
  for (const char *name : {"a", "b"}) {
    moe::TensorData tensor;
    tensor.shape = {2};
    tensor.bytes.assign(8, 0);
    std::string error;
    if (!moe::writeSafeTensors(moe::fuzz::scratchDir() + "/" + name +
                                   ".safetensors",
                               {{name, tensor}}, error))
      std::abort();
  }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool shards = (writeShards(), true);
  (void)shards;
  std::string path =
      moe::fuzz::writeFile("model.safetensors.index.json", data, size);
  std::string error;
  std::unique_ptr<moe::Checkpoint> checkpoint =
      moe::Checkpoint::open(path, error);
  if (!checkpoint) {
    if (error.find(moe::fuzz::scratchDir()) == std::string::npos)
      std::abort();
    return 0;
  }
  // Only the two shards in the folder can have been read.
  for (const auto &[name, view] : checkpoint->tensors())
    if ((name != "a" && name != "b") ||
        view.file.find(moe::fuzz::scratchDir()) != 0)
      std::abort();
  return 0;
}
