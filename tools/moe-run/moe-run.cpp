//===- moe-run.cpp - run a compiled moe library on real weights -----------===//
//
//   moe-run LIB.so --weights W.safetensors|model.safetensors.index.json
//                  --input X.npy [--output Y.npy] [--entry NAME]
//                  [--repeat N] [--timing-json FILE] [--threads N] [--stats]
//   moe-run LIB.so --print-manifest
//   moe-run LIB.so --generate-weights OUT.safetensors [--seed S]
//                  [--dtype f32|bf16]
//   moe-run LIB.so --generate-input X.npy --tokens T [--seed S]
//
// Errors print "moe-run: error: ..." and exit 1. Plain C++: it links only
// the moe runtime, as a user program would.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Loader.h"
#include "moe/Support/Npy.h"
#include "moe/Support/SafeTensors.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace moe;
using namespace moe::runtime;

namespace {
const char *kUsage =
    "usage: moe-run LIB.so --weights FILE --input X.npy [--output Y.npy]\n"
    "                      [--entry NAME] [--repeat N] [--timing-json FILE]\n"
    "                      [--threads N] [--stats]\n"
    "       moe-run LIB.so --print-manifest\n"
    "       moe-run LIB.so --generate-weights OUT.safetensors [--seed S] "
    "[--dtype f32|bf16]\n"
    "       moe-run LIB.so --generate-input X.npy --tokens T [--seed S]\n";

int fail(const std::string &message) {
  std::fprintf(stderr, "moe-run: error: %s\n", message.c_str());
  return 1;
}

struct Options {
  std::string library, weights, input, output, entry, timingJson;
  std::string generateWeights, generateInput, dtype = "f32";
  int64_t repeat = 1, tokens = -1, seed = 0, threads = 0;
  bool printManifest = false, stats = false;
};

bool parseInt(const std::string &text, int64_t &value) {
  if (text.empty() ||
      text.find_first_not_of("0123456789") != std::string::npos ||
      text.size() > 15)
    return false;
  value = std::stoll(text);
  return true;
}

bool parseArgs(int argc, char **argv, Options &options, std::string &error) {
  std::map<std::string, std::string *> strings = {
      {"--weights", &options.weights},
      {"--input", &options.input},
      {"--output", &options.output},
      {"--entry", &options.entry},
      {"--timing-json", &options.timingJson},
      {"--dtype", &options.dtype},
      {"--generate-weights", &options.generateWeights},
      {"--generate-input", &options.generateInput}};
  std::map<std::string, int64_t *> ints = {{"--repeat", &options.repeat},
                                           {"--tokens", &options.tokens},
                                           {"--seed", &options.seed},
                                           {"--threads", &options.threads}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    size_t eq = arg.find('=');
    bool inlineValue = arg.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inlineValue) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto takeValue = [&]() -> bool {
      if (inlineValue)
        return true;
      if (i + 1 >= argc)
        return error = arg + " needs a value", false;
      value = argv[++i];
      return true;
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--print-manifest") {
      options.printManifest = true;
    } else if (arg == "--stats") {
      options.stats = true;
    } else if (auto s = strings.find(arg); s != strings.end()) {
      if (!takeValue())
        return false;
      *s->second = value;
    } else if (auto n = ints.find(arg); n != ints.end()) {
      if (!takeValue())
        return false;
      if (!parseInt(value, *n->second))
        return error =
                   arg + " takes a non-negative integer, got '" + value + "'",
               false;
    } else if (arg.rfind("-", 0) == 0) {
      return error = "unknown option '" + arg + "'\n" + kUsage, false;
    } else if (options.library.empty()) {
      options.library = arg;
    } else {
      return error = "unexpected argument '" + arg + "'", false;
    }
  }
  if (options.library.empty())
    return error = std::string("no library given\n") + kUsage, false;
  if (options.repeat < 1)
    return error = "--repeat must be at least 1", false;
  return true;
}

/// Uniform(-1/√fan_in, 1/√fan_in) per tensor, fan_in its last dimension:
/// the scale of nn.Linear's initialisation, so activations stay O(1).
int generateWeights(const Entry &entry, const Options &options) {
  if (options.dtype != "f32" && options.dtype != "bf16")
    return fail("--dtype must be f32 or bf16, got '" + options.dtype + "'");
  std::mt19937 rng(static_cast<uint32_t>(options.seed));
  std::map<std::string, TensorData> tensors;
  for (const WeightSlot &slot : entry.weights) {
    std::vector<int64_t> shape = slot.tensorShape();
    int64_t count = 1;
    for (int64_t d : shape)
      count *= d;
    float bound = 1.0f / std::sqrt(static_cast<float>(shape.back()));
    std::uniform_real_distribution<float> dist(-bound, bound);
    int64_t first = slot.stacked ? slot.expertBegin : 0;
    int64_t last = slot.stacked ? slot.expertEnd : 1;
    for (int64_t e = first; e < last; ++e) {
      TensorData data;
      data.shape = shape;
      data.dtype = options.dtype == "f32" ? DType::F32 : DType::BF16;
      data.bytes.resize(count * dtypeSize(data.dtype));
      for (int64_t i = 0; i < count; ++i) {
        float v = dist(rng);
        if (data.dtype == DType::F32) {
          std::memcpy(data.bytes.data() + 4 * i, &v, 4);
        } else {
          uint16_t high = floatToBF16(v);
          std::memcpy(data.bytes.data() + 2 * i, &high, 2);
        }
      }
      tensors[slot.tensorName(e)] = std::move(data);
    }
  }
  std::string error;
  if (!writeSafeTensors(options.generateWeights, tensors, error))
    return fail(error);
  std::printf("wrote %zu tensors for entry '%s' to %s\n", tensors.size(),
              entry.name.c_str(), options.generateWeights.c_str());
  return 0;
}

int generateInput(const Entry &entry, const Options &options) {
  if (options.tokens < 0)
    return fail("--generate-input needs --tokens T");
  std::mt19937 rng(static_cast<uint32_t>(options.seed) + 1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  NpyArray array{{options.tokens, entry.hidden}, {}};
  array.data.resize(options.tokens * entry.hidden);
  for (float &v : array.data)
    v = dist(rng);
  std::string error;
  if (!writeNpy(options.generateInput, array, error))
    return fail(error);
  std::printf("wrote input [%lld, %lld] to %s\n",
              static_cast<long long>(options.tokens),
              static_cast<long long>(entry.hidden),
              options.generateInput.c_str());
  return 0;
}

/// Runs the entry's compiled routing-statistics entry on the same input and
/// prints what it reports.
bool printRoutingStats(const Library &library, const Entry &entry,
                       const Checkpoint &checkpoint, const NpyArray &input,
                       std::string &error) {
  const Entry *stats = library.findStatsEntry(entry.name);
  if (!stats)
    return error = "entry '" + entry.name +
                   "' has no routing statistics (it is not a token-choice "
                   "MoE layer)",
           false;
  std::unique_ptr<BoundEntry> bound =
      BoundEntry::bind(*stats, checkpoint, error);
  if (!bound)
    return false;
  std::vector<float> values(stats->outputSize);
  if (!bound->forward(input.data.data(), values.data(), input.shape[0], error))
    return false;
  int64_t experts = stats->outputSize - 4;
  int64_t largest = 0;
  std::printf("routing: %lld experts; load per expert:",
              static_cast<long long>(experts));
  for (int64_t e = 0; e < experts; ++e) {
    std::printf(" %lld", static_cast<long long>(values[e]));
    if (values[e] > values[largest])
      largest = e;
  }
  std::printf(
      "\nrouting: entropy/log E %.4f, largest share %.4f (expert %lld), "
      "mean router confidence %.4f, aux loss %.4f\n",
      values[experts], values[experts + 1], static_cast<long long>(largest),
      values[experts + 2], values[experts + 3]);
  return true;
}

void printSummary(const AlignedFloats &output, int64_t tokens, int64_t hidden) {
  double sum = 0, sumSquares = 0, absSum = 0;
  float lo = INFINITY, hi = -INFINITY;
  int64_t nonFinite = 0;
  for (float v : output) {
    if (!std::isfinite(v)) {
      ++nonFinite;
      continue;
    }
    sum += v;
    sumSquares += double(v) * v;
    absSum += std::fabs(v);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  double n = static_cast<double>(output.size() - nonFinite);
  double mean = n > 0 ? sum / n : 0.0;
  double std =
      n > 0 ? std::sqrt(std::max(0.0, sumSquares / n - mean * mean)) : 0.0;
  std::printf("output: [%lld, %lld] mean %.6g std %.6g min %.6g max %.6g "
              "sum|y| %.6g",
              static_cast<long long>(tokens), static_cast<long long>(hidden),
              mean, std, n > 0 ? lo : 0.0f, n > 0 ? hi : 0.0f, absSum);
  if (nonFinite)
    std::printf(" non-finite %lld", static_cast<long long>(nonFinite));
  std::printf("\n");
}
} // namespace

int main(int argc, char **argv) {
  Options options;
  std::string error;
  if (!parseArgs(argc, argv, options, error))
    return fail(error);
  std::unique_ptr<Library> library = Library::open(options.library, error);
  if (!library)
    return fail(error);
  if (options.stats && (options.weights.empty() || options.input.empty()))
    return fail("--stats runs with --weights and --input");
  if (options.printManifest) {
    std::printf("%s\n", library->manifest().c_str());
    return 0;
  }
  const Entry *entry = library->findEntry(options.entry, error);
  if (!entry)
    return fail(error);
  if (!options.generateWeights.empty())
    return generateWeights(*entry, options);
  if (!options.generateInput.empty())
    return generateInput(*entry, options);

  if (options.weights.empty() || options.input.empty())
    return fail(std::string("--weights and --input are required\n") + kUsage);
  std::unique_ptr<Checkpoint> checkpoint =
      Checkpoint::open(options.weights, error);
  if (!checkpoint)
    return fail(error);
  std::unique_ptr<BoundEntry> bound =
      BoundEntry::bind(*entry, *checkpoint, error);
  if (!bound)
    return fail(error);

  NpyArray input;
  if (!readNpy(options.input, input, error))
    return fail(error);
  if (input.shape.size() != 2)
    return fail(options.input + ": input must be [tokens, hidden], got " +
                formatShape(input.shape));
  if (input.shape[1] != entry->hidden)
    return fail(options.input + ": input hidden size " +
                std::to_string(input.shape[1]) + " does not match entry '" +
                entry->name + "' hidden size " + std::to_string(entry->hidden));
  int64_t tokens = input.shape[0];
  int64_t nanCount = std::count_if(input.data.begin(), input.data.end(),
                                   [](float v) { return std::isnan(v); });
  if (nanCount)
    std::fprintf(stderr,
                 "moe-run: warning: the input holds %lld NaN values; the "
                 "tokens holding them route as if every logit were -inf and "
                 "their outputs are NaN\n",
                 static_cast<long long>(nanCount));

  // 0 keeps the OpenMP default (one thread per core, or OMP_NUM_THREADS).
  if (options.threads > 0)
    library->setNumThreads(static_cast<int32_t>(options.threads));

  // Activations on cache lines, as the weights are (AlignedBuffer.h).
  AlignedFloats x(input.data.begin(), input.data.end());
  AlignedFloats output(tokens * entry->hidden);
  std::vector<double> times;
  for (int64_t r = 0; r < options.repeat; ++r) {
    auto start = std::chrono::steady_clock::now();
    if (!bound->forward(x.data(), output.data(), tokens, error))
      return fail(error);
    auto end = std::chrono::steady_clock::now();
    times.push_back(
        std::chrono::duration<double, std::milli>(end - start).count());
  }
  std::printf("entry %s: %lld tokens, hidden %lld, %zu weight slots "
              "(%zu bytes read in place)\n",
              entry->name.c_str(), static_cast<long long>(tokens),
              static_cast<long long>(entry->hidden), entry->weights.size(),
              bound->zeroCopyBytes());
  printSummary(output, tokens, entry->hidden);
  if (options.stats &&
      !printRoutingStats(*library, *entry, *checkpoint, input, error))
    return fail(error);

  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  double median =
      sorted.size() % 2
          ? sorted[sorted.size() / 2]
          : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
  if (options.repeat > 1)
    std::printf(
        "time: median %.3f ms, min %.3f ms, max %.3f ms over %lld runs\n",
        median, sorted.front(), sorted.back(),
        static_cast<long long>(options.repeat));
  if (!options.timingJson.empty()) {
    std::ofstream json(options.timingJson);
    json << "{\"entry\": \"" << entry->name << "\", \"tokens\": " << tokens
         << ", \"repeat\": " << options.repeat << ", \"median_ms\": " << median
         << ", \"min_ms\": " << sorted.front()
         << ", \"max_ms\": " << sorted.back() << "}\n";
    if (!json)
      return fail(options.timingJson + ": cannot write");
  }
  if (!options.output.empty()) {
    NpyArray result{{tokens, entry->hidden}, {output.begin(), output.end()}};
    if (!writeNpy(options.output, result, error))
      return fail(error);
  }
  return 0;
}
