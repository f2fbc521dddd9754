//===- CompiledLibraryTest.cpp - the deployable path against the oracle ---===//
//
// The user path end to end: moe-compile a layer into a shared library, write
// its weights as safetensors under checkpoint names (per-expert tensors,
// F32 or BF16, one file or a shard set), bind them with the runtime loader,
// run, and compare with lib/Reference (normwise relative error <= 1e-5).
// Also the loader's guards: every malformed manifest parseManifest must
// refuse, a library of another format or target, and entries callable only
// the way their kind allows; what a bind reports; and batch invariance.
//
//===----------------------------------------------------------------------===//

#include "LayerCases.h"

#include "moe/Runtime/Loader.h"
#include "moe/Runtime/moe_loader.h"
#include "moe/Support/Limits.h"
#include "moe/Support/SafeTensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
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
  // The table as DeepSeek-V4 saves tid2eid: I64.
  if (!layer.expertTable.empty()) {
    TensorData table{
        DType::I64, {layer.spec.tableRows, layer.spec.routing->topK}, {}};
    for (int32_t expert : layer.expertTable) {
      int64_t wide = expert;
      const auto *bytes = reinterpret_cast<const uint8_t *>(&wide);
      table.bytes.insert(table.bytes.end(), bytes, bytes + 8);
    }
    tensors[kExpertTableName] = std::move(table);
  }
  return tensors;
}

struct Options {
  bool bf16 = false;
  bool sharded = false;
  /// moe-compile --weight-type: the expert weights the library keeps.
  std::string weightType = "f32";
};

/// Runs `bound` at 1 and 37 tokens against the reference of `layer`
/// (normwise relative error <= 1e-5; every output finite).
void expectReference(const TestLayer &layer, const runtime::BoundEntry &bound,
                     const std::string &what) {
  reference::LayerConfig config = layer.referenceConfig();
  reference::LayerWeights weights = layer.referenceWeights();
  std::mt19937 rng(7);
  std::string error;
  for (int64_t tokens : {1, 37}) {
    std::vector<float> x = randomTensor(rng, tokens * layer.spec.hidden, 1.0f);
    std::vector<float> expected =
        reference::runLayer(config, weights, x.data(), tokens);
    std::vector<float> actual(expected.size());
    ASSERT_TRUE(bound.forward(x.data(), actual.data(), tokens, error)) << error;
    for (float v : actual)
      ASSERT_TRUE(std::isfinite(v)) << what << ", T = " << tokens;
    EXPECT_LE(normwiseError(expected, actual), 1e-5f)
        << what << ", T = " << tokens;
  }
}

/// A compiled library of `layer` and its checkpoint (one file, or two
/// shards and their index): the paths.
struct BuiltLibrary {
  std::string library, weights;
};

void buildLibrary(const std::string &caseName, TestLayer &layer,
                  const Options &options, BuiltLibrary &built) {
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
  built = {library, weightsPath};
}

void checkLibrary(const std::string &caseName, const LayerSpec &spec,
                  Options options = {}) {
  TestLayer layer = makeTestLayer(spec);
  BuiltLibrary built;
  ASSERT_NO_FATAL_FAILURE(buildLibrary(caseName, layer, options, built));
  std::string error;
  auto lib = runtime::Library::open(built.library, error);
  ASSERT_TRUE(lib) << error;
  const runtime::Entry *entry = lib->findEntry("", error);
  ASSERT_TRUE(entry) << error;
  auto checkpoint = Checkpoint::open(built.weights, error);
  ASSERT_TRUE(checkpoint) << error;
  auto bound = runtime::BoundEntry::bind(*entry, *checkpoint, error);
  ASSERT_TRUE(bound) << error;
  expectReference(layer, *bound, caseName);
}

// Tests Mixtral-style routing through a compiled library with per-expert
// F32 tensors.
TEST(CompiledLibrary, MixtralF32) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  checkLibrary("mixtral", spec);
}

// Tests that a library binds the router's own operands by checkpoint name:
// the router bias, the router input scale (Gemma 4's normalised input) and
// the per-expert weight scale.
TEST(CompiledLibrary, RouterOperandsF32) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  spec.routerBias = true;
  spec.routerInputNorm = reference::RouterInputNorm{1e-6, 0.25};
  spec.expertScale = true;
  checkLibrary("router-operands", spec);
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

// Tests the expert linears' biases and the block's output bias bound by the
// loader like the weights (per-expert "{e}" tensors), from an F32
// checkpoint and from a BF16 one into bf16 panels (the biases stay f32).
TEST(CompiledLibrary, LinearBiases) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  spec.activation = reference::Activation::ClampedSwiGLU;
  spec.gluClamp.limit = 1.0f;
  spec.expertBiases = true;
  spec.outputBias = true;
  checkLibrary("linear-biases-f32", spec);
  checkLibrary("linear-biases-bf16-panels", spec,
               {/*bf16=*/true, /*sharded=*/false, /*weightType=*/"bf16"});
}

/// Compiles `layer` with moe-compile into a scratch library; empty (and
/// a failure recorded) if it does not compile.
std::string compileLayer(const std::string &caseName, const TestLayer &layer,
                         const std::string &weightType = "f32") {
  std::string source = scratch(caseName + ".mlir");
  std::string library = scratch(caseName + ".so");
  std::ofstream(source) << layer.source();
  std::string command = std::string(MOEC_MOE_COMPILE) + " " + source +
                        " --target=cpu --weight-type=" + weightType + " -o " +
                        library;
  if (std::system(command.c_str()) != 0) {
    ADD_FAILURE() << command;
    return "";
  }
  return library;
}

// Tests that a bind reports what it cost: the entry's slots, the bytes of
// the checkpoint file mapped, and each slot's bytes either read in place
// (an F32 tensor on a cache line, used unpacked) or allocated by the
// loader (packed panels, bf16 halves, F32 widened from BF16), never both;
// from a BF16 checkpoint nothing is read in place.
TEST(CompiledLibrary, BindReportsCost) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  TestLayer layer = makeTestLayer(spec);
  for (const char *weightType : {"f32", "bf16"}) {
    std::string library =
        compileLayer(std::string("bind-") + weightType, layer, weightType);
    ASSERT_FALSE(library.empty());
    std::string error;
    auto lib = runtime::Library::open(library, error);
    ASSERT_TRUE(lib) << error;
    const runtime::Entry *entry = lib->findEntry("", error);
    ASSERT_TRUE(entry) << error;
    // What the compiled code reads, slot by slot: the most the bind holds.
    size_t slotBytes = 0;
    for (const runtime::WeightSlot &slot : entry->weights) {
      size_t count = 1;
      for (int64_t d : slot.shape)
        count *= static_cast<size_t>(d);
      slotBytes += slot.dtype == "bf16" ? count * 2 : count * 4;
    }
    for (bool bf16 : {false, true}) {
      std::string what = std::string(weightType) + " library, " +
                         (bf16 ? "BF16" : "F32") + " checkpoint";
      std::string path = scratch(std::string("bind-") + weightType +
                                 (bf16 ? "-bf16" : "-f32") + ".safetensors");
      ASSERT_TRUE(writeSafeTensors(path, checkpointTensors(layer, bf16), error))
          << error;
      auto checkpoint = Checkpoint::open(path, error);
      ASSERT_TRUE(checkpoint) << error;
      auto bound = runtime::BoundEntry::bind(*entry, *checkpoint, error);
      ASSERT_TRUE(bound) << error;
      const runtime::BindStats &stats = bound->bindStats();
      std::ifstream file(path, std::ios::binary | std::ios::ate);
      EXPECT_EQ(stats.slots, entry->weights.size()) << what;
      EXPECT_EQ(stats.mappedBytes, static_cast<size_t>(file.tellg())) << what;
      EXPECT_EQ(stats.inPlaceBytes + stats.packedBytes, slotBytes) << what;
      EXPECT_EQ(bound->zeroCopyBytes(), stats.inPlaceBytes) << what;
      if (bf16) {
        EXPECT_EQ(stats.inPlaceBytes, 0u) << what;
      }
      EXPECT_GT(stats.packedBytes, 0u) << what; // the expert panels
      EXPECT_GT(stats.seconds, 0.0) << what;
      EXPECT_GT(stats.peakResidentBytes, stats.packedBytes) << what;
      EXPECT_GE(runtime::peakResidentBytes(), stats.peakResidentBytes);
    }
  }
}

/// Batch invariance: a token's output is the same bits whatever else is in
/// its batch and wherever in the batch it sits, on 1 and 2 threads. The
/// batch decides which of a kernel's row tiles (6 rows, with tails) a
/// token's rows fall in and how many rows each expert has; every output
/// element must still be summed in the same order. `tokens` inputs run
/// whole, then shuffled into batches of each of `batches` tokens (the last
/// batch holds the rest): each token's row must match its row in the first
/// run (memcmp).
void checkBatchInvariance(const std::string &name, const LayerSpec &spec,
                          int64_t tokens, std::vector<int64_t> batches) {
  TestLayer layer = makeTestLayer(spec);
  std::string library = compileLayer(name, layer);
  ASSERT_FALSE(library.empty());
  std::string error, weightsPath = scratch(name + ".safetensors");
  ASSERT_TRUE(
      writeSafeTensors(weightsPath, checkpointTensors(layer, false), error))
      << error;
  auto lib = runtime::Library::open(library, error);
  ASSERT_TRUE(lib) << error;
  const runtime::Entry *entry = lib->findEntry("", error);
  ASSERT_TRUE(entry) << error;
  auto checkpoint = Checkpoint::open(weightsPath, error);
  ASSERT_TRUE(checkpoint) << error;
  // The thread count is the context's, given at bind.
  auto bindOn = [&](int32_t threads) {
    moe_context context;
    moe_context_init_cpu(&context);
    context.num_threads = threads;
    auto bound =
        runtime::BoundEntry::bind(*entry, *checkpoint, error, &context);
    EXPECT_TRUE(bound) << error;
    return bound;
  };
  auto bound = bindOn(1);
  ASSERT_TRUE(bound);

  const int64_t hidden = spec.hidden;
  const size_t rowBytes = hidden * sizeof(float);
  std::mt19937 rng(11);
  std::vector<float> input = randomTensor(rng, tokens * hidden, 1.0f);
  AlignedFloats whole(input.begin(), input.end()), expected(input.size());
  ASSERT_TRUE(bound->forward(whole.data(), expected.data(), tokens, error))
      << error;
  float largest = 0;
  for (float v : expected) {
    ASSERT_TRUE(std::isfinite(v)) << name;
    largest = std::max(largest, std::fabs(v));
  }
  ASSERT_GT(largest, 0.0f) << name;

  for (int32_t threads : {1, 2}) {
    bound = bindOn(threads);
    ASSERT_TRUE(bound);
    for (int64_t batch : batches) {
      std::vector<int64_t> order(tokens);
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      AlignedFloats x(batch * hidden), y(batch * hidden);
      int64_t differing = 0, firstToken = -1;
      for (int64_t begin = 0; begin < tokens; begin += batch) {
        int64_t count = std::min(batch, tokens - begin);
        for (int64_t i = 0; i < count; ++i)
          std::memcpy(x.data() + i * hidden,
                      whole.data() + order[begin + i] * hidden, rowBytes);
        ASSERT_TRUE(bound->forward(x.data(), y.data(), count, error)) << error;
        for (int64_t i = 0; i < count; ++i) {
          int64_t token = order[begin + i];
          if (std::memcmp(y.data() + i * hidden,
                          expected.data() + token * hidden, rowBytes) != 0) {
            ++differing;
            if (firstToken < 0)
              firstToken = token;
          }
        }
      }
      EXPECT_EQ(differing, 0)
          << name << ": " << differing << " of " << tokens
          << " tokens differ in batches of " << batch << " on " << threads
          << " thread(s), token " << firstToken << " first";
    }
  }
}

// Tests batch invariance on a Mixtral-style layer (8 experts, top-2) with
// H = 256 and F = 384: two depth blocks of 128 in the gate and up
// projections, three in down, and six 64-column chunks to spread over the
// threads; 512 tokens in batches of 1, 3, 8, 16, 64 and 512.
TEST(CompiledLibrary, BatchInvariance) {
  LayerSpec spec;
  spec.hidden = 256;
  spec.ffn = 384;
  spec.routing = softmaxTopK(2, true);
  checkBatchInvariance("batch-invariance", spec, 512, {1, 3, 8, 16, 64, 512});
}

// Tests batch invariance of the routing and expert variants of issue 16,
// each on the same GEMM shapes (H = 256, F = 384): DeepSeek-V3's grouped
// sigmoid router with a correction bias and a shared expert, DeepSeek-V4's
// sqrtsoftplus, PhiMoE's sparsemixer, GPT-OSS's router bias, softmax over the
// selected logits and clamped SwiGLU, Gemma 4's router-input norm and expert
// scale, and ungated relu² experts (Nemotron-H). Soft MoE is left out: its
// slots mix the batch's tokens by definition.
TEST(CompiledLibrary, BatchInvarianceVariants) {
  auto sized = [](LayerSpec spec) {
    spec.hidden = 256;
    spec.ffn = 384;
    return spec;
  };
  LayerSpec deepSeek = deepSeekV3Spec();
  deepSeek.sharedFfn = 384;
  LayerSpec sqrtSoftplus;
  sqrtSoftplus.routing = softmaxTopK(3, true);
  sqrtSoftplus.routing->scoring = reference::Scoring::SqrtSoftplus;
  sqrtSoftplus.bias = true;
  LayerSpec sparseMixer;
  sparseMixer.routing = softmaxTopK(2, false);
  sparseMixer.routing->scoring = reference::Scoring::SparseMixer;
  sparseMixer.routing->selectOn = reference::SelectOn::Logits;
  sparseMixer.routing->jitterEps = 0.1;
  LayerSpec gptOss;
  gptOss.routing = softmaxTopK(4, false);
  gptOss.routing->selectOn = reference::SelectOn::Logits;
  gptOss.routing->weights = reference::RoutingWeights::SoftmaxSelected;
  gptOss.routerBias = true;
  gptOss.activation = reference::Activation::ClampedSwiGLU;
  gptOss.gluClamp = reference::GluClamp{1.702f, 1.0f};
  LayerSpec gemma4;
  gemma4.routing = softmaxTopK(2, true);
  gemma4.activation = reference::Activation::GeGLUTanh;
  gemma4.routerInputNorm = reference::RouterInputNorm{1e-6, 1.0 / 16.0};
  gemma4.expertScale = true;
  LayerSpec relu2;
  relu2.routing = softmaxTopK(2, true);
  relu2.activation = reference::Activation::ReLU2;
  for (auto &[name, spec] : std::vector<std::pair<std::string, LayerSpec>>{
           {"invariance-deepseek-v3", deepSeek},
           {"invariance-sqrtsoftplus", sqrtSoftplus},
           {"invariance-sparsemixer", sparseMixer},
           {"invariance-gpt-oss", gptOss},
           {"invariance-gemma4", gemma4},
           {"invariance-relu2", relu2}})
    checkBatchInvariance(name, sized(spec), 96, {1, 7, 96});
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

// Tests a weight argument that covers a subset of the checkpoint's experts
// (`moe.experts = array<i64: 3, 11>`, as a rank of expert parallelism
// holds): the manifest says [3, 11), the loader stacks exactly experts 3 to
// 10 (the others hold NaN, which would reach the output if read), and the
// layer matches the reference of those eight experts.
TEST(CompiledLibrary, ExpertSubset) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  TestLayer layer = makeTestLayer(spec);
  constexpr int64_t kBegin = 3, kCheckpointExperts = 16;
  std::string source = layer.source();
  int marked = 0;
  for (size_t at = 0;
       (at = source.find("{moe.weight = \"", at)) != std::string::npos;
       at += 20) {
    size_t end = source.find('"', at + 15);
    if (source.substr(at, end - at).find("{e}") == std::string::npos)
      continue;
    source.insert(at + 1, "moe.experts = array<i64: 3, 11>, ");
    ++marked;
  }
  ASSERT_EQ(marked, 3); // gate, up, down
  std::string sourcePath = scratch("subset.mlir"),
              library = scratch("subset.so");
  std::ofstream(sourcePath) << source;
  std::string command = std::string(MOEC_MOE_COMPILE) + " " + sourcePath +
                        " --target=cpu -o " + library;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;

  // The layer's experts under checkpoint indices 3..10; NaN elsewhere.
  std::map<std::string, TensorData> tensors;
  for (auto &[name, data] : checkpointTensors(layer, false)) {
    size_t dot = name.find(".experts.");
    if (dot == std::string::npos) {
      tensors[name] = data;
      continue;
    }
    size_t begin = dot + 9, end = name.find('.', begin);
    int64_t e = std::stoll(name.substr(begin, end - begin));
    auto renamed = [&](int64_t index) {
      return name.substr(0, begin) + std::to_string(index) + name.substr(end);
    };
    tensors[renamed(e + kBegin)] = data;
    if (e == 0) {
      TensorData poison = data;
      float nan = std::nanf("");
      for (size_t i = 0; i + 4 <= poison.bytes.size(); i += 4)
        std::memcpy(poison.bytes.data() + i, &nan, 4);
      for (int64_t other = 0; other < kCheckpointExperts; ++other)
        if (other < kBegin || other >= kBegin + spec.numExperts)
          tensors[renamed(other)] = poison;
    }
  }
  std::string error, weightsPath = scratch("subset.safetensors");
  ASSERT_TRUE(writeSafeTensors(weightsPath, tensors, error)) << error;

  auto lib = runtime::Library::open(library, error);
  ASSERT_TRUE(lib) << error;
  const runtime::Entry *entry = lib->findEntry("", error);
  ASSERT_TRUE(entry) << error;
  int stacked = 0;
  for (const runtime::WeightSlot &slot : entry->weights)
    if (slot.stacked) {
      ++stacked;
      EXPECT_EQ(slot.expertBegin, kBegin) << slot.name;
      EXPECT_EQ(slot.expertEnd, kBegin + spec.numExperts) << slot.name;
    }
  EXPECT_EQ(stacked, 3);
  EXPECT_NE(lib->manifest().find("\"experts\":[3,11]"), std::string::npos)
      << lib->manifest();
  auto checkpoint = Checkpoint::open(weightsPath, error);
  ASSERT_TRUE(checkpoint) << error;
  auto bound = runtime::BoundEntry::bind(*entry, *checkpoint, error);
  ASSERT_TRUE(bound) << error;
  // NaN in the output would mean an expert outside [3, 11) was read.
  expectReference(layer, *bound, "experts [3, 11)");
}

/// An allocator hook that counts what it hands out and gets back.
struct CountingAllocator {
  int64_t allocations = 0, frees = 0;
  std::vector<size_t> sizes, alignments;
  static void *alloc(void *user, size_t bytes, size_t alignment) {
    auto *self = static_cast<CountingAllocator *>(user);
    ++self->allocations;
    self->sizes.push_back(bytes);
    self->alignments.push_back(alignment);
    return std::aligned_alloc(alignment,
                              (bytes + alignment - 1) / alignment * alignment);
  }
  static void free(void *user, void *pointer) {
    ++static_cast<CountingAllocator *>(user)->frees;
    std::free(pointer);
  }
};

/// A compiled Mixtral-style library with its checkpoint, for the ABI tests.
struct ABIFixture {
  TestLayer layer = makeTestLayer([] {
    LayerSpec spec;
    spec.routing = softmaxTopK(2, true);
    return spec;
  }());
  std::unique_ptr<runtime::Library> lib;
  const runtime::Entry *entry = nullptr;
  std::unique_ptr<Checkpoint> checkpoint;

  explicit ABIFixture(const std::string &name) {
    std::string library = compileLayer(name, layer);
    std::string error, path = scratch(name + ".safetensors");
    EXPECT_TRUE(writeSafeTensors(path, checkpointTensors(layer, false), error))
        << error;
    lib = runtime::Library::open(library, error);
    EXPECT_TRUE(lib) << error;
    if (lib)
      entry = lib->findEntry("", error);
    checkpoint = Checkpoint::open(path, error);
    EXPECT_TRUE(checkpoint) << error;
  }
};

/// Zeroed buffers of each slot's shape and dtype, and their descriptions.
struct SlotBuffers {
  std::vector<AlignedFloats> storage;
  std::vector<moe_weight_buffer> buffers;
  explicit SlotBuffers(const runtime::Entry &entry) {
    for (const runtime::WeightSlot &slot : entry.weights) {
      size_t count = 1;
      for (int64_t d : slot.shape)
        count *= static_cast<size_t>(d);
      storage.emplace_back(count, 0.0f);
      moe_weight_buffer buffer{};
      buffer.data = storage.back().data();
      // Zero bits: 0.0f, or expert 0 in an i32 table.
      buffer.dtype = slot.dtype == "bf16"  ? MOE_DTYPE_BF16
                     : slot.dtype == "i32" ? MOE_DTYPE_I32
                                           : MOE_DTYPE_F32;
      buffer.rank = static_cast<int32_t>(slot.shape.size());
      for (size_t d = 0; d < slot.shape.size(); ++d)
        buffer.shape[d] = slot.shape[d];
      buffers.push_back(buffer);
    }
  }
};

// Tests the generated functions called directly, as a C program would:
// init with the weights the entry was compiled for, forward (against the
// loader's bound entry on the same weights), destroy; and that forward
// refuses a null state or arguments, a struct_size below the fields it
// reads, a negative token count and null buffers, each with its status.
TEST(ABI, InitForwardDestroy) {
  ABIFixture fixture("abi-calls");
  ASSERT_TRUE(fixture.entry);
  const runtime::Entry &entry = *fixture.entry;
  ASSERT_TRUE(entry.init && entry.forward && entry.destroy);

  // A C program's own weights: zeroed buffers of the compiled shapes. The
  // bound entry (the loader's buffers) runs the checkpoint's below.
  std::string error;
  auto bound = runtime::BoundEntry::bind(entry, *fixture.checkpoint, error);
  ASSERT_TRUE(bound) << error;
  SlotBuffers slots(entry);
  moe_context context;
  moe_context_init_cpu(&context);
  void *state = reinterpret_cast<void *>(1);
  ASSERT_EQ(entry.init(&context, slots.buffers.data(),
                       static_cast<int64_t>(slots.buffers.size()), &state),
            MOE_STATUS_OK);
  ASSERT_NE(state, nullptr);

  std::mt19937 rng(9);
  const int64_t tokens = 5, hidden = fixture.layer.spec.hidden;
  std::vector<float> x = randomTensor(rng, tokens * hidden, 1.0f);
  std::vector<float> y(x.size(), 1.0f);
  moe_forward_args args{};
  args.struct_size = sizeof(moe_forward_args);
  args.input = x.data();
  args.output = y.data();
  args.tokens = tokens;
  EXPECT_EQ(entry.forward(state, &args), MOE_STATUS_OK);
  // Zero weights: uniform routing over zero experts gives zeros.
  for (float v : y)
    EXPECT_EQ(v, 0.0f);
  // The bound entry on the checkpoint's weights gives the reference.
  std::vector<float> expected =
      reference::runLayer(fixture.layer.referenceConfig(),
                          fixture.layer.referenceWeights(), x.data(), tokens);
  ASSERT_TRUE(bound->forward(x.data(), y.data(), tokens, error)) << error;
  EXPECT_LE(normwiseError(expected, y), 1e-5f);

  auto forwardWith = [&](void *s, const moe_forward_args *a) {
    return entry.forward(s, a);
  };
  EXPECT_EQ(forwardWith(nullptr, &args), MOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(forwardWith(state, nullptr), MOE_STATUS_INVALID_ARGUMENT);
  moe_forward_args bad = args;
  bad.struct_size = MOE_FORWARD_ARGS_MIN_SIZE - 8;
  EXPECT_EQ(forwardWith(state, &bad), MOE_STATUS_INVALID_ARGUMENT);
  bad = args;
  bad.struct_size = MOE_FORWARD_ARGS_MIN_SIZE; // an older caller: fine
  EXPECT_EQ(forwardWith(state, &bad), MOE_STATUS_OK);
  bad = args;
  bad.tokens = -1;
  EXPECT_EQ(forwardWith(state, &bad), MOE_STATUS_INVALID_ARGUMENT);
  bad = args;
  bad.input = nullptr;
  EXPECT_EQ(forwardWith(state, &bad), MOE_STATUS_INVALID_ARGUMENT);
  bad = args;
  bad.output = nullptr;
  EXPECT_EQ(forwardWith(state, &bad), MOE_STATUS_INVALID_ARGUMENT);
  bad = args; // no tokens: no buffer is touched
  bad.tokens = 0;
  bad.input = nullptr;
  bad.output = nullptr;
  EXPECT_EQ(forwardWith(state, &bad), MOE_STATUS_OK);
  entry.destroy(state);
  entry.destroy(nullptr);
  EXPECT_STREQ(moe_status_string(MOE_STATUS_OK), "success");
  EXPECT_STREQ(moe_status_string(-5), "unknown status");
}

// Tests bf16 activations in and out (moe_forward_args.io_dtype): the
// output is the f32 run on the bf16-rounded input, rounded to bf16 (nearest
// even), bit for bit, so within half a bf16 ulp (2^-9 relative) of it; a
// token's bf16 output is the same bits alone and in its batch; an older
// caller's struct (without the I/O fields, whatever lies past its end) still
// gets f32 I/O; an unknown io_dtype is refused, and so are device pointers
// on a CPU library, which the loader then names.
TEST(ABI, BF16IO) {
  ABIFixture fixture("abi-bf16-io");
  ASSERT_TRUE(fixture.entry);
  const runtime::Entry &entry = *fixture.entry;
  std::string error;
  auto bound = runtime::BoundEntry::bind(entry, *fixture.checkpoint, error);
  ASSERT_TRUE(bound) << error;

  std::mt19937 rng(21);
  const int64_t tokens = 13, hidden = fixture.layer.spec.hidden;
  const size_t elements = static_cast<size_t>(tokens * hidden);
  std::vector<float> x = randomTensor(rng, elements, 1.0f);
  std::vector<uint16_t> xb(elements);
  AlignedFloats rounded(elements), yf(elements);
  for (size_t i = 0; i < elements; ++i) {
    xb[i] = floatToBF16(x[i]);
    rounded[i] = bf16ToFloat(xb[i]);
  }
  ASSERT_TRUE(bound->forward(rounded.data(), yf.data(), tokens, error))
      << error;
  runtime::BoundEntry::IO bf16;
  bf16.dtype = MOE_DTYPE_BF16;
  std::vector<uint16_t> yb(elements, 0xffff);
  ASSERT_TRUE(bound->forward(xb.data(), yb.data(), tokens, bf16, error))
      << error;
  int64_t differing = 0;
  float largest = 0;
  for (size_t i = 0; i < elements; ++i) {
    differing += yb[i] != floatToBF16(yf[i]);
    EXPECT_LE(std::fabs(bf16ToFloat(yb[i]) - yf[i]),
              std::ldexp(std::fabs(yf[i]), -8))
        << "element " << i;
    largest = std::max(largest, std::fabs(yf[i]));
  }
  EXPECT_EQ(differing, 0) << differing << " of " << elements
                          << " bf16 outputs are not the f32 output rounded";
  EXPECT_GT(largest, 0.0f);

  // Each token alone: its row of the batch's bits.
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<uint16_t> alone(hidden);
    ASSERT_TRUE(
        bound->forward(xb.data() + t * hidden, alone.data(), 1, bf16, error))
        << error;
    EXPECT_EQ(std::memcmp(alone.data(), yb.data() + t * hidden,
                          hidden * sizeof(uint16_t)),
              0)
        << "token " << t << " alone differs from its row in the batch";
  }

  // Raw calls on the loader's state, as a C program would make them.
  SlotBuffers slots(entry);
  moe_context context;
  moe_context_init_cpu(&context);
  void *state = nullptr;
  ASSERT_EQ(entry.init(&context, slots.buffers.data(),
                       static_cast<int64_t>(slots.buffers.size()), &state),
            MOE_STATUS_OK);
  std::vector<float> y(elements);
  moe_forward_args args{};
  args.struct_size = sizeof(moe_forward_args);
  args.input = rounded.data();
  args.output = y.data();
  args.tokens = tokens;
  static_assert(sizeof(moe_forward_args) == MOE_FORWARD_ARGS_IO_SIZE,
                "the I/O fields end the struct");
  // Callers from before the I/O fields: bf16 and device bits past their
  // struct_size are not read.
  for (int64_t size : {int64_t(MOE_FORWARD_ARGS_MIN_SIZE),
                       int64_t(offsetof(moe_forward_args, io_dtype))}) {
    moe_forward_args old = args;
    old.struct_size = size;
    old.io_dtype = MOE_DTYPE_BF16;
    old.io_on_device = 1;
    EXPECT_EQ(entry.forward(state, &old), MOE_STATUS_OK) << "size " << size;
  }
  for (int32_t dtype : {0, int32_t(MOE_DTYPE_F32)}) {
    args.io_dtype = dtype;
    EXPECT_EQ(entry.forward(state, &args), MOE_STATUS_OK) << "dtype " << dtype;
  }
  for (int32_t dtype : {int32_t(MOE_DTYPE_F16), 99, -1}) {
    args.io_dtype = dtype;
    EXPECT_EQ(entry.forward(state, &args), MOE_STATUS_INVALID_ARGUMENT)
        << "dtype " << dtype;
  }
  args.io_dtype = MOE_DTYPE_F32;
  args.io_on_device = 1;
  EXPECT_EQ(entry.forward(state, &args), MOE_STATUS_INVALID_ARGUMENT);
  entry.destroy(state);

  runtime::BoundEntry::IO device;
  device.onDevice = true;
  EXPECT_FALSE(bound->forward(rounded.data(), y.data(), tokens, device, error));
  EXPECT_NE(error.find("io_on_device: a CPU library takes host pointers"),
            std::string::npos)
      << error;
}

// Tests that init checks its context and each weight buffer against what
// the entry was compiled for, returning the named status and leaving the
// state null, never crashing: count, dtype, rank, shape, null data; an
// ABI version, target or rank it does not run, half an allocator hook; and
// that the loader reports a refused init with the status's message.
TEST(ABI, InitRefusesMismatch) {
  ABIFixture fixture("abi-refuse");
  ASSERT_TRUE(fixture.entry);
  const runtime::Entry &entry = *fixture.entry;
  moe_context good;
  moe_context_init_cpu(&good);
  // The last slot is a packed expert weight: its dtype and shape are the
  // compile's (f32 panels [E, N/32, K, 32]).
  size_t last = entry.weights.size() - 1;
  ASSERT_FALSE(entry.weights[last].pack.empty());
  struct Case {
    const char *what;
    std::function<void(moe_context &, SlotBuffers &, int64_t &)> edit;
    int32_t status;
  };
  std::vector<Case> cases = {
      {"count", [](moe_context &, SlotBuffers &, int64_t &n) { --n; },
       MOE_STATUS_WEIGHT_COUNT},
      {"count over", [](moe_context &, SlotBuffers &, int64_t &n) { ++n; },
       MOE_STATUS_WEIGHT_COUNT},
      {"dtype bf16",
       [&](moe_context &, SlotBuffers &s, int64_t &) {
         s.buffers[last].dtype = MOE_DTYPE_BF16;
       },
       MOE_STATUS_WEIGHT_DTYPE},
      {"dtype unknown",
       [&](moe_context &, SlotBuffers &s, int64_t &) {
         s.buffers[0].dtype = 99;
       },
       MOE_STATUS_WEIGHT_DTYPE},
      {"rank",
       [&](moe_context &, SlotBuffers &s, int64_t &) {
         s.buffers[last].rank -= 1;
       },
       MOE_STATUS_WEIGHT_SHAPE},
      {"shape",
       [&](moe_context &, SlotBuffers &s, int64_t &) {
         s.buffers[last].shape[0] += 1;
       },
       MOE_STATUS_WEIGHT_SHAPE},
      {"shape inner",
       [&](moe_context &, SlotBuffers &s, int64_t &) {
         s.buffers[0].shape[1] = 7;
       },
       MOE_STATUS_WEIGHT_SHAPE},
      {"null data",
       [&](moe_context &, SlotBuffers &s, int64_t &) {
         s.buffers[1].data = nullptr;
       },
       MOE_STATUS_INVALID_ARGUMENT},
      {"abi version",
       [](moe_context &c, SlotBuffers &, int64_t &) { c.abi_version = 1; },
       MOE_STATUS_ABI_VERSION},
      {"cuda",
       [](moe_context &c, SlotBuffers &, int64_t &) {
         c.target = MOE_TARGET_CUDA;
       },
       MOE_STATUS_WRONG_TARGET},
      {"rank past size",
       [](moe_context &c, SlotBuffers &, int64_t &) { c.rank = 1; },
       MOE_STATUS_INVALID_ARGUMENT},
      {"threads",
       [](moe_context &c, SlotBuffers &, int64_t &) { c.num_threads = -2; },
       MOE_STATUS_INVALID_ARGUMENT},
      {"half a hook",
       [](moe_context &c, SlotBuffers &, int64_t &) {
         c.alloc = CountingAllocator::alloc;
       },
       MOE_STATUS_INVALID_ARGUMENT},
  };
  for (const Case &c : cases) {
    moe_context context = good;
    SlotBuffers slots(entry);
    int64_t count = static_cast<int64_t>(slots.buffers.size());
    c.edit(context, slots, count);
    void *state = reinterpret_cast<void *>(1);
    EXPECT_EQ(entry.init(&context, slots.buffers.data(), count, &state),
              c.status)
        << c.what;
    EXPECT_EQ(state, nullptr) << c.what;
    EXPECT_STRNE(moe_status_string(c.status), "unknown status");
  }
  SlotBuffers slots(entry);
  void *state = reinterpret_cast<void *>(1);
  EXPECT_EQ(entry.init(nullptr, slots.buffers.data(),
                       static_cast<int64_t>(slots.buffers.size()), &state),
            MOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(state, nullptr);
  EXPECT_EQ(entry.init(&good, slots.buffers.data(),
                       static_cast<int64_t>(slots.buffers.size()), nullptr),
            MOE_STATUS_INVALID_ARGUMENT);

  // Through the loader: the context is checked first, by name.
  std::string error;
  moe_context cuda = good;
  cuda.target = MOE_TARGET_CUDA;
  EXPECT_EQ(runtime::BoundEntry::bind(entry, *fixture.checkpoint, error, &cuda),
            nullptr);
  EXPECT_EQ(error, "context: target 1; the library's is MOE_TARGET_CPU (a cpu "
                   "library)");
  // A manifest that disagrees with the compiled code reaches init, which
  // refuses: the checks are the compile's, not the manifest's.
  runtime::Entry lying = entry;
  lying.weights[last].dtype = "bf16";
  EXPECT_EQ(runtime::BoundEntry::bind(lying, *fixture.checkpoint, error),
            nullptr);
  EXPECT_EQ(error, "entry '" + entry.name +
                       "': init failed: a weight buffer's dtype is not its "
                       "slot's (status 5)");
}

// Tests that the loader places the weights it packs, and init its state,
// through the context's allocator hook (64-byte aligned), gives every
// allocation back when the bound entry goes, and that the context's thread
// count reaches forward: outputs are the same bits on 1 and 2 threads.
TEST(ABI, AllocatorHookAndThreads) {
  ABIFixture fixture("abi-hook");
  ASSERT_TRUE(fixture.entry);
  const runtime::Entry &entry = *fixture.entry;
  std::mt19937 rng(13);
  const int64_t tokens = 37, hidden = fixture.layer.spec.hidden;
  std::vector<float> x = randomTensor(rng, tokens * hidden, 1.0f);
  std::vector<std::vector<float>> outputs;
  for (int32_t threads : {1, 2}) {
    CountingAllocator counter;
    moe_context context;
    moe_context_init_cpu(&context);
    context.num_threads = threads;
    context.alloc = CountingAllocator::alloc;
    context.free = CountingAllocator::free;
    context.user = &counter;
    std::string error;
    {
      auto bound = runtime::BoundEntry::bind(entry, *fixture.checkpoint, error,
                                             &context);
      ASSERT_TRUE(bound) << error;
      const runtime::BindStats &stats = bound->bindStats();
      size_t packedSlots = 0;
      for (const runtime::WeightSlot &slot : entry.weights)
        packedSlots += !slot.pack.empty();
      EXPECT_GT(packedSlots, 0u);
      // Each slot not read in place (the packed ones at least), then the
      // state.
      ASSERT_GE(counter.allocations, static_cast<int64_t>(packedSlots) + 1);
      size_t weightBytes = 0;
      for (size_t i = 0; i + 1 < counter.sizes.size(); ++i) {
        weightBytes += counter.sizes[i];
        EXPECT_EQ(counter.alignments[i], 64u);
      }
      EXPECT_EQ(weightBytes, stats.packedBytes);
      EXPECT_EQ(bound->context().num_threads, threads);
      std::vector<float> y(x.size());
      ASSERT_TRUE(bound->forward(x.data(), y.data(), tokens, error)) << error;
      outputs.push_back(std::move(y));
      EXPECT_EQ(counter.frees, 0);
    }
    EXPECT_EQ(counter.frees, counter.allocations);
  }
  EXPECT_EQ(std::memcmp(outputs[0].data(), outputs[1].data(),
                        outputs[0].size() * sizeof(float)),
            0);
}
} // namespace

namespace {
using json = nlohmann::json;

/// A valid manifest: a forward entry with a single, a stacked and a viewed
/// (slice, transpose, pack) slot, and its statistics entry.
json validManifest() {
  return json::parse(R"({"format": 4, "target": "cpu", "entries": [
    {"name": "tiny", "kind": "forward",
     "symbols": {"init": "moe_entry_tiny_init",
                 "forward": "moe_entry_tiny_forward",
                 "destroy": "moe_entry_tiny_destroy"},
     "hidden": 8, "weights": [
      {"name": "gate", "shape": [4, 8], "dtype": "f32", "layout": "single"},
      {"name": "e.{e}.w1", "shape": [4, 1, 8, 32], "dtype": "bf16",
       "layout": "stacked", "experts": [0, 4], "source_shape": [4, 6, 8],
       "pack": [1, 32]},
      {"name": "gate_up", "shape": [4, 1, 8, 32], "layout": "single",
       "source_shape": [4, 8, 12], "slice": [2, 6, 6],
       "transpose": [0, 2, 1], "pack": [1, 32]}]},
    {"name": "tiny_routing_stats", "kind": "routing_stats",
     "symbols": {"init": "moe_entry_tiny_routing_stats_init",
                 "forward": "moe_entry_tiny_routing_stats_forward",
                 "destroy": "moe_entry_tiny_routing_stats_destroy"},
     "hidden": 8, "of": "tiny",
     "outputs": 29, "weights": [
      {"name": "gate", "shape": [4, 8], "layout": "single"}]}]})");
}

std::string manifestError(const std::string &text) {
  std::vector<runtime::Entry> entries;
  std::string error;
  EXPECT_FALSE(runtime::parseManifest(text, entries, error)) << text;
  EXPECT_TRUE(entries.empty());
  return error;
}

// Tests that the valid manifest reads, with every field where it belongs.
TEST(Manifest, ValidParses) {
  std::vector<runtime::Entry> entries;
  std::string error;
  ASSERT_TRUE(runtime::parseManifest(validManifest().dump(), entries, error))
      << error;
  ASSERT_EQ(entries.size(), 2u);
  const runtime::WeightSlot &viewed = entries[0].weights[2];
  EXPECT_EQ(viewed.viewShape(), (std::vector<int64_t>{4, 6, 8}));
  EXPECT_EQ(entries[0].weights[1].tensorShape(), (std::vector<int64_t>{6, 8}));
  EXPECT_EQ(entries[0].weights[1].tensorName(3), "e.3.w1");
  EXPECT_EQ(entries[1].outputSize, 29);
  EXPECT_EQ(entries[1].statsOf, "tiny");
}

// Tests that parseManifest refuses each malformed manifest with a message
// naming the entry, the weight and the problem, before anything uses it.
TEST(Manifest, RefusesMalformed) {
  struct Case {
    const char *what;
    std::function<void(json &)> edit;
    std::string message;
  };
  const std::string slot0 = "entry 'tiny' weight 'gate': ";
  const std::string slot1 = "entry 'tiny' weight 'e.{e}.w1': ";
  const std::string slot2 = "entry 'tiny' weight 'gate_up': ";
  json &(*w)(json &, int) = [](json &m, int i) -> json & {
    return m["entries"][0]["weights"][i];
  };
  std::vector<Case> cases = {
      {"format type", [](json &m) { m["format"] = "1"; },
       "\"format\" must be an integer, got \"1\""},
      {"no target", [](json &m) { m.erase("target"); },
       "needs a string \"target\""},
      {"target type", [](json &m) { m["target"] = 1; },
       "needs a string \"target\", got 1"},
      {"no entries", [](json &m) { m["entries"] = json::array(); },
       "needs a non-empty list \"entries\""},
      {"entry type", [](json &m) { m["entries"][0] = 3; },
       "entry #0: is not an object"},
      {"empty name", [](json &m) { m["entries"][0]["name"] = ""; },
       "entry #0: name '' must be 1 to 1024 letters"},
      {"odd name", [](json &m) { m["entries"][0]["name"] = "a\"b"; },
       "entry #0: name 'a\"b' must be"},
      {"init symbol",
       [](json &m) { m["entries"][0]["symbols"]["init"] = "free"; },
       "entry 'tiny': init symbol 'free' is not 'moe_entry_tiny_init'"},
      {"forward symbol",
       [](json &m) {
         m["entries"][0]["symbols"]["forward"] = "moe_entry_tiny_init";
       },
       "entry 'tiny': forward symbol 'moe_entry_tiny_init' is not "
       "'moe_entry_tiny_forward'"},
      {"destroy symbol missing",
       [](json &m) { m["entries"][0]["symbols"].erase("destroy"); },
       "entry 'tiny' symbols: needs a string \"destroy\""},
      {"format 1 symbol",
       [](json &m) {
         m["entries"][0].erase("symbols");
         m["entries"][0]["symbol"] = "moe_entry_tiny";
       },
       "entry 'tiny': needs an object \"symbols\" (init, forward, destroy)"},
      {"kind", [](json &m) { m["entries"][0]["kind"] = "backward"; },
       "entry 'tiny': unknown kind 'backward'"},
      {"hidden 0", [](json &m) { m["entries"][0]["hidden"] = 0; },
       "entry 'tiny': \"hidden\" is 0, not in [1, 262144]"},
      {"hidden big", [](json &m) { m["entries"][0]["hidden"] = 262145; },
       "\"hidden\" is 262145, not in [1, 262144]"},
      {"hidden float", [](json &m) { m["entries"][0]["hidden"] = 8.5; },
       "\"hidden\" must be an integer, got 8.5"},
      {"hidden wraps", [](json &m) { m["entries"][0]["hidden"] = UINT64_MAX; },
       "\"hidden\" must be an integer, got 18446744073709551615"},
      {"duplicate", [](json &m) { m["entries"].push_back(m["entries"][0]); },
       "entry 'tiny': appears twice"},
      {"stats of", [](json &m) { m["entries"][1]["of"] = "nope"; },
       "entry 'tiny_routing_stats': \"of\" names no forward entry: 'nope'"},
      {"stats of stats",
       [](json &m) { m["entries"][1]["of"] = "tiny_routing_stats"; },
       "\"of\" names no forward entry"},
      {"stats outputs", [](json &m) { m["entries"][1]["outputs"] = 25; },
       "\"outputs\" is 25, not in [26, 65561]"},
      {"stats outputs big", [](json &m) { m["entries"][1]["outputs"] = 65562; },
       "\"outputs\" is 65562"},
      {"stats outputs missing",
       [](json &m) { m["entries"][1].erase("outputs"); },
       "needs an integer \"outputs\""},
      {"stats hidden", [](json &m) { m["entries"][1]["hidden"] = 16; },
       "hidden 16 differs from entry 'tiny' hidden 8"},
      {"second stats",
       [](json &m) {
         json second = m["entries"][1];
         second["name"] = "other";
         for (const char *suffix : {"init", "forward", "destroy"})
           second["symbols"][suffix] = std::string("moe_entry_other_") + suffix;
         m["entries"].push_back(second);
       },
       "entry 'tiny' has a second statistics entry 'other'"},
      {"weights", [](json &m) { m["entries"][0]["weights"] = 1; },
       "entry 'tiny': needs a list \"weights\""},
      {"weight type", [w](json &m) { w(m, 0) = "gate"; },
       "entry 'tiny' weight #0: is not an object"},
      {"weight name", [w](json &m) { w(m, 0)["name"] = ""; },
       "entry 'tiny' weight #0: has an empty name"},
      {"layout", [w](json &m) { w(m, 0)["layout"] = "packed"; },
       slot0 + "layout 'packed' is not 'stacked' or 'single'"},
      {"stacked without {e}", [w](json &m) { w(m, 1)["name"] = "e.w1"; },
       "entry 'tiny' weight 'e.w1': a stacked name must hold \"{e}\" "
       "exactly once"},
      {"stacked with two {e}", [w](json &m) { w(m, 1)["name"] = "e.{e}.{e}"; },
       "exactly once"},
      {"single with {e}", [w](json &m) { w(m, 0)["name"] = "g.{e}"; },
       "a single tensor's name holds \"{e}\""},
      {"no shape", [w](json &m) { w(m, 0).erase("shape"); },
       slot0 + "needs a list \"shape\""},
      {"rank", [w](json &m) { w(m, 0)["shape"] = std::vector<int>(9, 1); },
       slot0 + "\"shape\" has 9 items, more than 8"},
      {"zero size",
       [w](json &m) {
         w(m, 0)["shape"] = {0, 8};
       },
       slot0 + "\"shape\" [0, 8] has a size 0 outside [1, 1099511627776]"},
      {"negative size",
       [w](json &m) {
         w(m, 0)["shape"] = {-4, 8};
       },
       "has a size -4 outside"},
      {"elements",
       [w](json &m) {
         w(m, 0)["shape"] = {int64_t(1) << 21, 1 << 20};
       },
       slot0 + "\"shape\" [2097152, 1048576] holds more than 1099511627776 "
               "elements"},
      {"float size",
       [w](json &m) {
         w(m, 0)["shape"] = {1.5, 8};
       },
       slot0 + "\"shape\" must hold integers, got 1.5"},
      {"dtype", [w](json &m) { w(m, 0)["dtype"] = "f16"; },
       slot0 + "dtype 'f16' is not one the runtime binds"},
      {"bf16 unpacked", [w](json &m) { w(m, 0)["dtype"] = "bf16"; },
       slot0 + "dtype 'bf16' is not one the runtime binds"},
      {"experts empty",
       [w](json &m) {
         w(m, 1)["experts"] = {1, 1};
       },
       slot1 + "\"experts\" must be [begin, end) with 0 <= begin < end <= "
               "65536, got [1, 1]"},
      {"experts negative",
       [w](json &m) {
         w(m, 1)["experts"] = {-1, 3};
       },
       "\"experts\" must be [begin, end)"},
      {"experts many",
       [w](json &m) {
         w(m, 1)["experts"] = {0, 65537};
       },
       "\"experts\" must be [begin, end)"},
      {"experts short", [w](json &m) { w(m, 1)["experts"] = {4}; },
       "\"experts\" must be [begin, end)"},
      {"experts missing", [w](json &m) { w(m, 1).erase("experts"); },
       slot1 + "needs a list \"experts\""},
      {"experts vs source",
       [w](json &m) {
         w(m, 1)["experts"] = {0, 5};
       },
       slot1 + "stacked source shape [4, 6, 8] must lead with the 5 experts "
               "of [0, 5]"},
      {"stacked rank 1",
       [w](json &m) {
         w(m, 1)["source_shape"] = {4};
         w(m, 1).erase("pack");
         w(m, 1)["dtype"] = "f32";
         w(m, 1)["shape"] = {4};
       },
       "stacked source shape [4] must lead with the 4 experts"},
      {"source size",
       [w](json &m) {
         w(m, 1)["source_shape"] = {4, 0, 8};
       },
       "\"source_shape\" [4, 0, 8] has a size 0"},
      {"slice dim",
       [w](json &m) {
         w(m, 2)["slice"] = {3, 0, 1};
       },
       slot2 + "\"slice\" [3, 0, 1] is not [dim, offset, size] within the "
               "source shape [4, 8, 12]"},
      {"slice past end",
       [w](json &m) {
         w(m, 2)["slice"] = {2, 7, 6};
       },
       "\"slice\" [2, 7, 6] is not"},
      {"slice offset",
       [w](json &m) {
         w(m, 2)["slice"] = {2, -1, 6};
       },
       "\"slice\" [2, -1, 6] is not"},
      {"slice size",
       [w](json &m) {
         w(m, 2)["slice"] = {2, 0, 0};
       },
       "\"slice\" [2, 0, 0] is not"},
      {"slice overflow",
       [w](json &m) {
         w(m, 2)["slice"] = {2, INT64_MAX, 6};
       },
       "\"slice\" [2, 9223372036854775807, 6] is not"},
      {"slice empty", [w](json &m) { w(m, 2)["slice"] = json::array(); },
       slot2 + "\"slice\" must be [dim, offset, size], got []"},
      {"transpose rank",
       [w](json &m) {
         w(m, 2)["transpose"] = {0, 1};
       },
       slot2 + "\"transpose\" [0, 1] is not a permutation of 3 dimensions"},
      {"transpose repeat",
       [w](json &m) {
         w(m, 2)["transpose"] = {0, 0, 1};
       },
       "\"transpose\" [0, 0, 1] is not a permutation"},
      {"transpose range",
       [w](json &m) {
         w(m, 2)["transpose"] = {0, 1, 5};
       },
       "\"transpose\" [0, 1, 5] is not a permutation"},
      {"transpose negative",
       [w](json &m) {
         w(m, 2)["transpose"] = {-1, 0, 1};
       },
       "\"transpose\" [-1, 0, 1] is not a permutation"},
      {"pack dim",
       [w](json &m) {
         w(m, 2)["pack"] = {3, 32};
       },
       slot2 + "\"pack\" [3, 32] is not [dim, panel width] within rank 3"},
      {"pack width",
       [w](json &m) {
         w(m, 2)["pack"] = {1, 0};
       },
       "\"pack\" [1, 0] is not"},
      {"pack short", [w](json &m) { w(m, 2)["pack"] = {1}; },
       slot2 + "\"pack\" must be [dim, panel width], got [1]"},
      {"view vs shape",
       [w](json &m) {
         w(m, 2)["shape"] = {4, 1, 8, 31};
       },
       slot2 + "source shape [4, 8, 12] with its slice, transpose and pack "
               "gives [4, 1, 8, 32], not the shape [4, 1, 8, 31]"},
      {"plain vs shape",
       [w](json &m) {
         w(m, 0)["source_shape"] = {4, 9};
       },
       slot0 + "source shape [4, 9] with its slice, transpose and pack gives "
               "[4, 9], not the shape [4, 8]"},
  };
  for (const Case &c : cases) {
    json manifest = validManifest();
    c.edit(manifest);
    std::string error = manifestError(manifest.dump());
    EXPECT_NE(error.find(c.message), std::string::npos)
        << c.what << "\n  expected: " << c.message << "\n  got: " << error;
  }
  EXPECT_EQ(manifestError("{not json").find("not valid JSON at byte 2: "), 0u);
  EXPECT_EQ(manifestError("[]"), "not a JSON object");
  EXPECT_EQ(manifestError(std::string(200, '[') + std::string(200, ']')),
            "arrays and objects nested deeper than 128 levels");
}

// Tests that a manifest of another format or target is refused as such,
// before its entries are read (they may follow other rules), naming what
// the manifest says and what this loader runs, and flagged as foreign
// rather than malformed; a malformed "format" or "target" is not foreign.
TEST(Manifest, RefusesOtherFormatOrTarget) {
  struct Case {
    const char *what;
    std::function<void(json &)> edit;
    std::string message;
    bool foreign;
  };
  std::vector<Case> cases = {
      {"format 1",
       [](json &m) {
         m["format"] = 1;
         for (json &entry : m["entries"]) {
           entry.erase("symbols");
           entry["symbol"] = "moe_entry_" + entry["name"].get<std::string>();
         }
       },
       "built for manifest format 1; rebuild it with this moe-compile", true},
      {"format 5", [](json &m) { m["format"] = 5; },
       "manifest format 5; this loader reads format 4", true},
      {"format 3, statistics of E + 4 floats",
       [](json &m) {
         m["format"] = 3;
         m["entries"][1]["outputs"] = 8;
       },
       "built for manifest format 3; rebuild it with this moe-compile", true},
      {"format 2, ABI v2", [](json &m) { m["format"] = 2; },
       "built for manifest format 2; rebuild it with this moe-compile", true},
      {"format 0, entries of another shape",
       [](json &m) {
         m["format"] = 0;
         m["entries"] = "elsewhere";
       },
       "manifest format 0; this loader reads format 4", true},
      {"rocm without entries",
       [](json &m) {
         m["target"] = "rocm";
         m.erase("entries");
       },
       "built for target 'rocm'; this loader runs 'cpu' and 'cuda' libraries",
       true},
      {"long target", [](json &m) { m["target"] = std::string(100, 'x'); },
       "built for target '" + std::string(37, 'x') +
           "...'; this loader runs 'cpu' and 'cuda' libraries",
       true},
      {"format text", [](json &m) { m["format"] = "2"; },
       "\"format\" must be an integer, got \"2\"", false},
      {"no format", [](json &m) { m.erase("format"); },
       "needs an integer \"format\"", false},
      {"target null", [](json &m) { m["target"] = nullptr; },
       "needs a string \"target\", got null", false},
  };
  for (const Case &c : cases) {
    json manifest = validManifest();
    c.edit(manifest);
    std::vector<runtime::Entry> entries;
    std::string error;
    bool foreign = !c.foreign;
    EXPECT_FALSE(
        runtime::parseManifest(manifest.dump(), entries, error, &foreign))
        << c.what;
    EXPECT_EQ(error, c.message) << c.what;
    EXPECT_EQ(foreign, c.foreign) << c.what;
    EXPECT_TRUE(entries.empty()) << c.what;
  }
  std::vector<runtime::Entry> entries;
  std::string error;
  bool foreign = true;
  EXPECT_TRUE(
      runtime::parseManifest(validManifest().dump(), entries, error, &foreign))
      << error;
  EXPECT_FALSE(foreign);
}

// Tests that entries run only as their kind allows: a statistics entry
// through routingStats, sized from the manifest (run as a forward entry it
// wrote E + 25 floats into a [T, hidden] buffer), a forward entry through
// forward; and that the context's thread count and the token count are
// bounded.
TEST(CompiledLibrary, EntriesRunByKind) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  TestLayer layer = makeTestLayer(spec);
  std::string source = scratch("kinds.mlir"), library = scratch("kinds.so");
  std::ofstream(source) << layer.source();
  std::string command = std::string(MOEC_MOE_COMPILE) + " " + source +
                        " --target=cpu -o " + library;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::string error, weightsPath = scratch("kinds.safetensors");
  ASSERT_TRUE(
      writeSafeTensors(weightsPath, checkpointTensors(layer, false), error))
      << error;
  auto lib = runtime::Library::open(library, error);
  ASSERT_TRUE(lib) << error;
  const runtime::Entry *entry = lib->findEntry("", error);
  ASSERT_TRUE(entry) << error;
  const runtime::Entry *stats = lib->findStatsEntry(entry->name);
  ASSERT_TRUE(stats);
  EXPECT_EQ(lib->findEntry(stats->name, error), nullptr);
  EXPECT_EQ(error, "'" + stats->name +
                       "' is the routing-statistics entry of '" + entry->name +
                       "', not a forward entry");

  auto checkpoint = Checkpoint::open(weightsPath, error);
  ASSERT_TRUE(checkpoint) << error;
  auto bound = runtime::BoundEntry::bind(*entry, *checkpoint, error);
  ASSERT_TRUE(bound) << error;
  auto boundStats = runtime::BoundEntry::bind(*stats, *checkpoint, error);
  ASSERT_TRUE(boundStats) << error;

  std::mt19937 rng(3);
  std::vector<float> x = randomTensor(rng, 5 * spec.hidden, 1.0f);
  std::vector<float> y(x.size()), values;
  EXPECT_FALSE(boundStats->forward(x.data(), y.data(), 5, error));
  EXPECT_EQ(error, "entry '" + stats->name +
                       "' is of kind 'routing_stats', not 'forward'");
  EXPECT_FALSE(bound->routingStats(x.data(), 5, values, error));
  EXPECT_EQ(error, "entry '" + entry->name +
                       "' is of kind 'forward', not 'routing_stats'");
  for (int64_t tokens : {0, 5}) {
    ASSERT_TRUE(boundStats->routingStats(x.data(), tokens, values, error))
        << error;
    ASSERT_EQ(values.size(),
              static_cast<size_t>(spec.numExperts + MOE_ROUTING_STATS_TAIL));
    float load = 0;
    for (int64_t e = 0; e < spec.numExperts; ++e)
      load += values[e];
    EXPECT_EQ(load, 2.0f * tokens); // top-2: each token loads two experts
    // Every slot's weight is in the histogram; renormalised top-2 weights
    // are in [0, 1].
    EXPECT_EQ(values[spec.numExperts + MOE_ROUTING_STATS_SUMMARIES], 1.0f);
    EXPECT_EQ(std::accumulate(values.end() - MOE_ROUTING_STATS_WEIGHT_BINS,
                              values.end(), 0.0f),
              2.0f * tokens);
  }
  EXPECT_FALSE(bound->forward(x.data(), y.data(), -1, error));
  EXPECT_NE(error.find("token count -1 is not in [0, 2147483648]"),
            std::string::npos)
      << error;
  EXPECT_FALSE(
      bound->forward(x.data(), y.data(), limits::kMaxTokens + 1, error));
  EXPECT_TRUE(bound->forward(x.data(), y.data(), 5, error)) << error;

  for (int32_t threads : {-1, 100000}) {
    moe_context context;
    moe_context_init_cpu(&context);
    context.num_threads = threads;
    EXPECT_EQ(runtime::BoundEntry::bind(*entry, *checkpoint, error, &context),
              nullptr);
    EXPECT_EQ(error, "thread count " + std::to_string(threads) +
                         " is not in [0, 1024]");
  }
}

// Tests that a missing weight names the files searched.
TEST(CompiledLibrary, MissingWeightNamesFiles) {
  std::vector<runtime::Entry> entries;
  std::string error;
  ASSERT_TRUE(runtime::parseManifest(validManifest().dump(), entries, error))
      << error;
  std::string path = scratch("empty.safetensors");
  ASSERT_TRUE(writeSafeTensors(
      path, {{"other", {DType::F32, {1}, std::vector<uint8_t>(4)}}}, error));
  auto checkpoint = Checkpoint::open(path, error);
  ASSERT_TRUE(checkpoint) << error;
  EXPECT_EQ(runtime::BoundEntry::bind(entries[0], *checkpoint, error), nullptr);
  EXPECT_EQ(error, "missing weight 'gate': expected a F32, BF16 or F16 tensor "
                   "of shape [4, 8]; searched " +
                       path);
}
// Tests the C interface of the loader (moe_loader.h): a layer opened from a
// sharded BF16 checkpoint runs within 1e-5 of the reference, and every
// failure is a message (a missing library, an unknown entry, a missing
// checkpoint, null buffers), never a crash.
TEST(CompiledLibrary, LoaderCApi) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  TestLayer layer = makeTestLayer(spec);
  BuiltLibrary built;
  Options options;
  options.bf16 = options.sharded = true;
  ASSERT_NO_FATAL_FAILURE(buildLibrary("c-api", layer, options, built));

  char error[512] = "";
  moe_layer *opened = moe_layer_open(built.library.c_str(), nullptr,
                                     built.weights.c_str(), 2, error,
                                     sizeof error);
  ASSERT_NE(opened, nullptr) << error;
  std::unique_ptr<moe_layer, void (*)(moe_layer *)> handle(opened,
                                                           moe_layer_close);
  EXPECT_EQ(moe_layer_hidden(opened), spec.hidden);
  EXPECT_STREQ(moe_layer_entry(opened), "layer");
  const int64_t tokens = 37;
  std::mt19937 rng(11);
  std::vector<float> x = randomTensor(rng, tokens * spec.hidden, 1.0f);
  std::vector<float> expected = reference::runLayer(
      layer.referenceConfig(), layer.referenceWeights(), x.data(), tokens);
  std::vector<float> actual(expected.size());
  ASSERT_EQ(moe_layer_forward(opened, x.data(), actual.data(), tokens, error,
                              sizeof error),
            0)
      << error;
  EXPECT_LE(normwiseError(expected, actual), 1e-5f);

  EXPECT_NE(moe_layer_forward(opened, nullptr, actual.data(), tokens, error,
                              sizeof error),
            0);
  EXPECT_NE(std::string(error).find("invalid argument"), std::string::npos)
      << error;
  EXPECT_NE(moe_layer_forward(nullptr, x.data(), actual.data(), tokens, error,
                              sizeof error),
            0);
  EXPECT_STREQ(error, "moe_layer_forward: null layer");

  EXPECT_EQ(moe_layer_open("/nonexistent/lib.so", nullptr,
                           built.weights.c_str(), 0, error, sizeof error),
            nullptr);
  EXPECT_NE(std::string(error).find("/nonexistent/lib.so"), std::string::npos)
      << error;
  EXPECT_EQ(moe_layer_open(built.library.c_str(), "no_such_entry",
                           built.weights.c_str(), 0, error, sizeof error),
            nullptr);
  EXPECT_NE(std::string(error).find("no_such_entry"), std::string::npos)
      << error;
  EXPECT_EQ(moe_layer_open(built.library.c_str(), nullptr,
                           "/nonexistent/w.safetensors", 0, error, 8),
            nullptr);
  EXPECT_EQ(std::strlen(error), 7u) << "the message is cut to the buffer";
  moe_layer_close(nullptr);
}

// Tests a library routed by token id end to end: the manifest says the
// entry needs ids in [0, V) and binds the table (I64 in the checkpoint) as
// an i32 slot bounded by E; forward with ids matches the reference; forward
// refuses missing ids (null, or a caller's struct without the field) and an
// id outside [0, V) with MOE_STATUS_INVALID_ARGUMENT, which the loader
// explains; no token needs no ids; and binding refuses a table entry
// outside [0, E) or a float table, naming the file and the tensor.
TEST(CompiledLibrary, RoutingByTokenId) {
  LayerSpec spec;
  spec.routing = softmaxTopK(2, true);
  spec.routing->scoring = reference::Scoring::Sigmoid;
  spec.routing->scalingFactor = 1.5f;
  spec.tableRows = 50;
  TestLayer layer = makeTestLayer(spec);
  std::string source = scratch("by-token-id.mlir");
  std::string library = scratch("by-token-id.so");
  std::ofstream(source) << layer.source();
  std::string command = std::string(MOEC_MOE_COMPILE) + " " + source +
                        " --target=cpu -o " + library;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::string error, weightsPath = scratch("by-token-id.safetensors");
  ASSERT_TRUE(
      writeSafeTensors(weightsPath, checkpointTensors(layer, false), error))
      << error;
  auto lib = runtime::Library::open(library, error);
  ASSERT_TRUE(lib) << error;
  const runtime::Entry *entry = lib->findEntry("", error);
  ASSERT_TRUE(entry) << error;
  EXPECT_EQ(entry->tokenIdBound, 50);
  const runtime::WeightSlot &tableSlot = entry->weights.back();
  EXPECT_EQ(tableSlot.name, kExpertTableName);
  EXPECT_EQ(tableSlot.dtype, "i32");
  EXPECT_EQ(tableSlot.indexBound, spec.numExperts);
  auto checkpoint = Checkpoint::open(weightsPath, error);
  ASSERT_TRUE(checkpoint) << error;
  auto bound = runtime::BoundEntry::bind(*entry, *checkpoint, error);
  ASSERT_TRUE(bound) << error;

  reference::LayerConfig config = layer.referenceConfig();
  reference::LayerWeights weights = layer.referenceWeights();
  std::mt19937 rng(23);
  for (int64_t tokens : {1, 37}) {
    std::vector<float> x = randomTensor(rng, tokens * spec.hidden, 1.0f);
    std::vector<int32_t> ids = randomTokenIds(rng, tokens, spec.tableRows);
    weights.expertTable->tokenIds = ids.data();
    std::vector<float> expected =
        reference::runLayer(config, weights, x.data(), tokens);
    std::vector<float> actual(expected.size());
    runtime::BoundEntry::IO io;
    io.tokenIds = ids.data();
    ASSERT_TRUE(bound->forward(x.data(), actual.data(), tokens, io, error))
        << error;
    EXPECT_LE(normwiseError(expected, actual), 1e-5f) << "T = " << tokens;
    // An id past the table is refused before anything runs.
    ids.back() = 50;
    EXPECT_FALSE(bound->forward(x.data(), actual.data(), tokens, io, error));
    EXPECT_NE(error.find("status 1"), std::string::npos) << error;
    EXPECT_NE(error.find("it routes by token id: give " +
                         std::to_string(tokens) +
                         " token ids, each in [0, 50)"),
              std::string::npos)
        << error;
    ids.back() = -1;
    EXPECT_FALSE(bound->forward(x.data(), actual.data(), tokens, io, error));
  }
  std::vector<float> x(spec.hidden), y(spec.hidden);
  EXPECT_FALSE(bound->forward(x.data(), y.data(), 1, error));
  EXPECT_NE(error.find("routes by token id"), std::string::npos) << error;
  EXPECT_TRUE(bound->forward(x.data(), y.data(), 0, error)) << error;

  // The generated forward, called as a C program would.
  SlotBuffers slots(*entry);
  moe_context context;
  moe_context_init_cpu(&context);
  void *state = nullptr;
  ASSERT_EQ(entry->init(&context, slots.buffers.data(),
                        static_cast<int64_t>(slots.buffers.size()), &state),
            MOE_STATUS_OK);
  int32_t id = 3;
  moe_forward_args args{};
  args.struct_size = sizeof(moe_forward_args);
  args.input = x.data();
  args.output = y.data();
  args.tokens = 1;
  args.token_ids = &id;
  EXPECT_EQ(entry->forward(state, &args), MOE_STATUS_OK);
  moe_forward_args old = args; // a caller from before token_ids
  old.struct_size = MOE_FORWARD_ARGS_MIN_SIZE;
  EXPECT_EQ(entry->forward(state, &old), MOE_STATUS_INVALID_ARGUMENT);
  args.token_ids = nullptr;
  EXPECT_EQ(entry->forward(state, &args), MOE_STATUS_INVALID_ARGUMENT);
  args.tokens = 0;
  EXPECT_EQ(entry->forward(state, &args), MOE_STATUS_OK);
  entry->destroy(state);

  // Tables the binder refuses.
  std::map<std::string, TensorData> tensors = checkpointTensors(layer, false);
  TensorData &table = tensors[kExpertTableName];
  int64_t outside = spec.numExperts;
  std::memcpy(table.bytes.data() + 8 * 5, &outside, 8); // row 2, column 1
  std::string badPath = scratch("by-token-id-bad.safetensors");
  ASSERT_TRUE(writeSafeTensors(badPath, tensors, error)) << error;
  auto bad = Checkpoint::open(badPath, error);
  ASSERT_TRUE(bad) << error;
  EXPECT_FALSE(runtime::BoundEntry::bind(*entry, *bad, error));
  EXPECT_EQ(error, "expert table '" + std::string(kExpertTableName) + "' in " +
                       badPath +
                       ": entry [2, 1] is 8, not an expert id in [0, 8)");
  table.dtype = DType::F32;
  table.bytes.resize(table.bytes.size() / 2);
  ASSERT_TRUE(writeSafeTensors(badPath, tensors, error)) << error;
  bad = Checkpoint::open(badPath, error);
  ASSERT_TRUE(bad) << error;
  EXPECT_FALSE(runtime::BoundEntry::bind(*entry, *bad, error));
  EXPECT_NE(error.find("has dtype F32; I32 or I64 expected"), std::string::npos)
      << error;
}
} // namespace
