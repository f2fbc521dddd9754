//===- CompiledLibraryTest.cpp - the deployable path against the oracle ---===//
//
// The user path end to end: moe-compile a layer into a shared library, write
// its weights as safetensors under checkpoint names (per-expert tensors,
// F32 or BF16, one file or a shard set), bind them with the runtime loader,
// run, and compare with lib/Reference (normwise relative error <= 1e-5).
//
//===----------------------------------------------------------------------===//

#include "LayerCases.h"

#include "moe/Runtime/Loader.h"
#include "moe/Support/SafeTensors.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <unistd.h>

using namespace moe;
using namespace moe::test;
namespace reference = moe::reference;

namespace {
std::string scratch(const std::string &name) {
  return ::testing::TempDir() + "moe-lib-" + std::to_string(getpid()) + "-" +
         name;
}

/// Rounds to the nearest bfloat16 (ties to even), as checkpoints store it.
uint16_t toBF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}
float fromBF16(uint16_t half) {
  uint32_t bits = static_cast<uint32_t>(half) << 16;
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

/// The checkpoint tensors of `layer`: stacked weights split per expert.
std::map<std::string, TensorData> checkpointTensors(TestLayer &layer,
                                                    bool bf16) {
  std::map<std::string, TensorData> tensors;
  for (WeightArg &weight : layer.weights) {
    int64_t experts = weight.stacked() ? weight.shape[0] : 1;
    std::vector<int64_t> shape(
        weight.shape.begin() + (weight.stacked() ? 1 : 0), weight.shape.end());
    size_t per = weight.values.size() / experts;
    for (int64_t e = 0; e < experts; ++e) {
      std::string name = weight.name;
      if (weight.stacked())
        name.replace(name.find("{e}"), 3, std::to_string(e));
      TensorData data{bf16 ? DType::BF16 : DType::F32, shape, {}};
      data.bytes.resize(per * (bf16 ? 2 : 4));
      for (size_t i = 0; i < per; ++i) {
        float &v = weight.values[e * per + i];
        if (bf16) {
          uint16_t h = toBF16(v);
          v = fromBF16(h); // the reference sees what the checkpoint holds
          std::memcpy(data.bytes.data() + 2 * i, &h, 2);
        } else {
          std::memcpy(data.bytes.data() + 4 * i, &v, 4);
        }
      }
      tensors[name] = std::move(data);
    }
  }
  return tensors;
}

struct Options {
  bool bf16 = false;
  bool sharded = false;
  /// moe-compile --weight-type: the expert weights the library keeps.
  std::string weightType = "f32";
};

void checkLibrary(const std::string &caseName, const LayerSpec &spec,
                  Options options = {}) {
  TestLayer layer = makeTestLayer(spec);
  std::string source = scratch(caseName + ".mlir");
  std::string library = scratch(caseName + ".so");
  std::ofstream(source) << layer.source();
  std::string command = std::string(MOEC_MOE_COMPILE) + " " + source +
                        " --target=cpu --weight-type=" + options.weightType +
                        " -o " + library;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;

  std::map<std::string, TensorData> tensors =
      checkpointTensors(layer, options.bf16);
  std::string error, weightsPath;
  if (!options.sharded) {
    weightsPath = scratch(caseName + ".safetensors");
    ASSERT_TRUE(writeSafeTensors(weightsPath, tensors, error)) << error;
  } else {
    // Two shards and the index that maps each tensor to its file.
    std::map<std::string, TensorData> shards[2];
    std::string index = "{\"weight_map\": {";
    int i = 0;
    for (auto &[name, data] : tensors) {
      index += (i ? ", \"" : "\"") + name + "\": \"" + caseName + "-" +
               std::to_string(i % 2) + ".safetensors\"";
      shards[i % 2][name] = std::move(data);
      ++i;
    }
    for (int s = 0; s < 2; ++s)
      ASSERT_TRUE(writeSafeTensors(
          scratch(caseName + "-" + std::to_string(s) + ".safetensors"),
          shards[s], error))
          << error;
    // Shard paths in the index are relative to it: name them like scratch().
    std::string prefix = "moe-lib-" + std::to_string(getpid()) + "-";
    size_t at;
    while ((at = index.find("\"" + caseName + "-")) != std::string::npos)
      index.replace(at, 1, "\"" + prefix);
    index += "}}";
    weightsPath = scratch(caseName + ".index.json");
    std::ofstream(weightsPath) << index;
  }

  auto lib = runtime::Library::open(library, error);
  ASSERT_TRUE(lib) << error;
  const runtime::Entry *entry = lib->findEntry("", error);
  ASSERT_TRUE(entry) << error;
  auto checkpoint = Checkpoint::open(weightsPath, error);
  ASSERT_TRUE(checkpoint) << error;
  auto bound = runtime::BoundEntry::bind(*entry, *checkpoint, error);
  ASSERT_TRUE(bound) << error;

  reference::LayerConfig config = layer.referenceConfig();
  reference::LayerWeights weights = layer.referenceWeights();
  std::mt19937 rng(7);
  for (int64_t tokens : {1, 37}) {
    std::vector<float> x = randomTensor(rng, tokens * spec.hidden, 1.0f);
    std::vector<float> expected =
        reference::runLayer(config, weights, x.data(), tokens);
    std::vector<float> actual(expected.size());
    ASSERT_TRUE(bound->forward(x.data(), actual.data(), tokens, error))
        << error;
    EXPECT_LE(normwiseError(expected, actual), 1e-5f)
        << caseName << ", T = " << tokens;
  }
}

// Tests Mixtral-style routing through a compiled library with per-expert
// F32 tensors.
TEST(CompiledLibrary, MixtralF32) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  checkLibrary("mixtral", spec);
}

// Tests DeepSeek-V3 (bias, groups, shared expert) from BF16 weights in a
// sharded checkpoint.
TEST(CompiledLibrary, DeepSeekV3BF16Sharded) {
  LayerSpec spec = deepSeekV3Spec();
  checkLibrary("deepseek-v3", spec, {/*bf16=*/true, /*sharded=*/true});
}

// Tests a library that keeps its expert weights in bf16 panels, bound from
// a BF16 checkpoint: the values are the checkpoint's, so the layer matches
// the reference as closely as in f32; DeepSeek-V3 also has a shared expert
// and the router stays f32.
TEST(CompiledLibrary, DeepSeekV3BF16Panels) {
  checkLibrary("deepseek-v3-bf16-panels", deepSeekV3Spec(),
               {/*bf16=*/true, /*sharded=*/false, /*weightType=*/"bf16"});
  LayerSpec mixtral;
  mixtral.routing = softmaxTopK(2, true);
  checkLibrary("mixtral-bf16-panels", mixtral,
               {/*bf16=*/true, /*sharded=*/false, /*weightType=*/"bf16"});
}

// Tests Llama 4 input scaling and a capacity that passes dropped input
// through, each in its own library.
TEST(CompiledLibrary, Llama4AndCapacity) {
  checkLibrary("llama4", llama4Spec());

  LayerSpec capacity;
  capacity.routing = softmaxTopK(2, true);
  capacity.capacity = reference::CapacityConfig{
      0.75, reference::DropOrder::LowestWeight, reference::DroppedSlot::Input};
  checkLibrary("capacity", capacity);
}
} // namespace
