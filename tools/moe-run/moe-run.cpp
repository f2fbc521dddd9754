//===- moe-run.cpp - run a compiled moe library on real weights -----------===//
//
//   moe-run LIB.so --weights W.safetensors|model.safetensors.index.json
//                  --input X.npy [--output Y.npy] [--entry NAME]
//                  [--repeat N] [--warmup N] [--timing-json FILE]
//                  [--trace FILE] [--threads N] [--stats]
//                  [--stats-json FILE] [--device N] [--io-dtype f32|bf16]
//                  [--token-ids IDS.npy] [--progress | --quiet]
//   moe-run LIB.so --print-manifest
//   moe-run LIB.so --generate-weights OUT.safetensors [--seed S]
//                  [--dtype f32|bf16] [--progress | --quiet]
//   moe-run LIB.so --generate-input X.npy --tokens T [--seed S]
//                  [--token-ids IDS.npy]
//
// Errors print "moe-run: error: ..." and exit 1, whatever fails: a bad
// option or file, or an exception (out of memory included), which main
// turns into the same message. Every integer option is range-checked, the
// modes are exclusive and an option that does not apply to the chosen mode
// is an error rather than ignored. Plain C++: it links only the moe
// runtime, as a user program would. A library's manifest says its target:
// a CUDA library gets a CUDA context (--device; it loads the driver itself,
// so moe-run links nothing of CUDA), a CPU library an OpenMP thread count
// (--threads); each option is refused for the other target.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Loader.h"
#include "moe/Runtime/MPICommunicator.h"
#include "moe/Runtime/RoutingSummary.h"
#include "moe/Support/Limits.h"
#include "moe/Support/Npy.h"
#include "moe/Support/Progress.h"
#include "moe/Support/SafeTensors.h"

#include "Trace.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <map>
#include <new>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// main's handler is what keeps an escaping exception from aborting; it
// needs exceptions compiled in (LLVM's options could turn them off).
#ifndef __cpp_exceptions
#error "moe-run needs C++ exceptions: its top-level handler catches them"
#endif

using namespace moe;
using namespace moe::runtime;

namespace {
/// "rank R: " under mpirun, so that each rank's errors say whose they are.
std::string rankPrefix;

int fail(const std::string &message) {
  std::fprintf(stderr, "moe-run: error: %s%s\n", rankPrefix.c_str(),
               message.c_str());
  return 1;
}

/// What one call does; exactly one mode per call.
enum Mode : unsigned {
  kRun = 1,
  kPrintManifest = 2,
  kGenerateWeights = 4,
  kGenerateInput = 8,
};

struct Options {
  std::string library, weights, input, output, entry, timingJson, statsJson,
      trace;
  /// Token ids of routing by token id: read to run, written with
  /// --generate-input.
  std::string tokenIds;
  /// Empty: the dtype the library's packed slots hold.
  std::string generateWeights, generateInput, dtype;
  /// The forward's activations: "f32" or "bf16" (moe_forward_args.io_dtype).
  std::string ioDType = "f32";
  int64_t repeat = 1, warmup = 0, tokens = 0, seed = 0, threads = 0,
          commTimeout = 60, device = 0;
  bool printManifest = false, stats = false, help = false, version = false,
       progress = false, quiet = false;
  /// The options given, by name, in order.
  std::vector<std::string> given;
  Mode mode = kRun;
};

/// One option: its value (text, integer in [min, max], or none: a flag),
/// the modes it applies to, and its line in --help.
struct OptionSpec {
  const char *name;
  const char *value; // the value's name in --help; null for a flag
  unsigned modes;
  std::string Options::*text;
  int64_t Options::*number;
  bool Options::*flag;
  int64_t min, max;
  const char *help;
  /// Starts a group in --help.
  const char *section = nullptr;
};

/// --device's bound: an ordinal the driver checks against its count (a
/// moe_context holds an int32).
constexpr int64_t kMaxDevice = 4095;

constexpr unsigned kAllModes =
    kRun | kPrintManifest | kGenerateWeights | kGenerateInput;
constexpr unsigned kGenerate = kGenerateWeights | kGenerateInput;

const OptionSpec kOptions[] = {
    {"--weights", "FILE", kRun, &Options::weights, nullptr, nullptr, 0, 0,
     "a .safetensors file or a model.safetensors.index.json",
     "RUNNING AN ENTRY"},
    {"--input", "X.npy", kRun, &Options::input, nullptr, nullptr, 0, 0,
     "[tokens, hidden] float32 ('<f4'), or bfloat16 as ml_dtypes saves it "
     "(2-byte void '<V2'; np.load gives void, .view(ml_dtypes.bfloat16) "
     "the values)"},
    {"--output", "Y.npy", kRun, &Options::output, nullptr, nullptr, 0, 0,
     "write the output (default: none): float32, or bfloat16 ('<V2') with "
     "--io-dtype bf16"},
    {"--token-ids", "IDS.npy", kRun | kGenerateInput, &Options::tokenIds,
     nullptr, nullptr, 0, 0,
     "int32 or int64 [tokens]: the token ids of an entry that routes by "
     "token id (its manifest's \"token_ids\": V; each id in [0, V)); "
     "required by such an entry, refused by others. With --generate-input: "
     "where random ids are written (default: X.npy's name with .ids.npy)"},
    {"--entry", "NAME", kRun | kGenerate, &Options::entry, nullptr, nullptr, 0,
     0, "the forward entry, also for --generate-* (default: the only one)"},
    {"--stats", nullptr, kRun, nullptr, nullptr, &Options::stats, 0, 0,
     "also print the routing statistics (default: off)"},
    {"--stats-json", "FILE", kRun, &Options::statsJson, nullptr, nullptr, 0, 0,
     "write the routing statistics as JSON: each expert's load and the "
     "summaries (default: none)"},
    {"--repeat", "N", kRun, nullptr, &Options::repeat, nullptr, 1,
     limits::kMaxRepeat, "runs to time (default: 1)"},
    {"--warmup", "N", kRun, nullptr, &Options::warmup, nullptr, 0,
     limits::kMaxRepeat,
     "untimed runs before them (default: 1 with --repeat > 1, else 0): the "
     "first run pages the weights in and starts the thread team"},
    {"--timing-json", "FILE", kRun, &Options::timingJson, nullptr, nullptr, 0,
     0,
     "write the run times, tokens/s, weight GB/s, threads, dtypes and bind "
     "costs as JSON (default: none)"},
    {"--trace", "FILE", kRun, &Options::trace, nullptr, nullptr, 0, 0,
     "write a Chrome/Perfetto trace of the run (ui.perfetto.dev opens it): "
     "binding each slot, each forward (an expert-parallel entry's phases "
     "inside it), the statistics; rank R > 0 writes FILE.rankR "
     "(default: none)"},
    {"--threads", "N", kRun, nullptr, &Options::threads, nullptr, 1,
     limits::kMaxThreads,
     "OpenMP threads (default: OMP_NUM_THREADS, or one per core)"},
    {"--device", "N", kRun, nullptr, &Options::device, nullptr, 0, kMaxDevice,
     "CUDA libraries: the device ordinal (default: 0); a forward's time is "
     "the wall time of the call, which copies the input in and the output "
     "back and waits for the device"},
    {"--io-dtype", "f32|bf16", kRun, &Options::ioDType, nullptr, nullptr, 0, 0,
     "the forward's activations (default: f32); bf16 rounds the input to "
     "bf16 (nearest even; a bf16 input is already) on the host, passes bf16 "
     "rows in and out, and writes the bf16 output as it is (--output)"},
    {"--comm-timeout", "S", kRun, nullptr, &Options::commTimeout, nullptr, 1,
     86400,
     "under mpirun: seconds an exchange may wait for the other ranks before "
     "every rank stops with an error (default: 60)"},
    {"--print-manifest", nullptr, kPrintManifest, nullptr, nullptr,
     &Options::printManifest, 0, 0, "print the library's manifest (JSON)",
     "OTHER MODES"},
    {"--generate-weights", "OUT.safetensors", kGenerateWeights,
     &Options::generateWeights, nullptr, nullptr, 0, 0,
     "random weights under the checkpoint names"},
    {"--generate-input", "X.npy", kGenerateInput, &Options::generateInput,
     nullptr, nullptr, 0, 0,
     "a random input of --tokens rows (and, for an entry that routes by "
     "token id, random ids: see --token-ids)"},
    {"--tokens", "T", kGenerateInput, nullptr, &Options::tokens, nullptr, 0,
     limits::kMaxTokens, "rows of the generated input (required)",
     "GENERATING (with --generate-weights or --generate-input)"},
    {"--seed", "S", kGenerate, nullptr, &Options::seed, nullptr, 0, UINT32_MAX,
     "seed of the generated data (default: 0)"},
    {"--dtype", "f32|bf16", kGenerateWeights, &Options::dtype, nullptr, nullptr,
     0, 0,
     "dtype of the generated weights (default: bf16 when the library keeps "
     "bf16 panels, else f32)"},
    {"--progress", nullptr, kRun | kGenerateWeights, nullptr, nullptr,
     &Options::progress, 0, 0,
     "show progress on stderr even when it is not a terminal (default: on "
     "a terminal only)",
     "GENERAL"},
    {"--quiet", nullptr, kRun | kGenerateWeights, nullptr, nullptr,
     &Options::quiet, 0, 0, "no progress on stderr"},
    {"--help", nullptr, kAllModes, nullptr, nullptr, &Options::help, 0, 0,
     "print this help and exit (also -h)"},
    {"--version", nullptr, kAllModes, nullptr, nullptr, &Options::version, 0, 0,
     "print the version and exit"},
};

std::string helpText() {
  std::string text =
      "OVERVIEW: runs a library compiled by moe-compile on safetensors "
      "weights and .npy\nactivations, or writes weights and inputs for it.\n\n"
      "USAGE: moe-run LIB.so --weights FILE --input X.npy [options]\n"
      "       moe-run LIB.so --print-manifest\n"
      "       moe-run LIB.so --generate-weights OUT.safetensors [options]\n"
      "       moe-run LIB.so --generate-input X.npy --tokens T [options]\n";
  for (const OptionSpec &option : kOptions) {
    if (option.section)
      text += std::string("\n") + option.section + ":\n";
    std::string left = std::string("  ") + option.name;
    if (option.value)
      left += std::string(" ") + option.value;
    std::string help = option.help;
    if (option.number)
      help.insert(std::min(help.find(" ("), help.size()),
                  ", " + std::to_string(option.min) + " to " +
                      std::to_string(option.max));
    constexpr size_t kColumn = 22;
    if (left.size() >= kColumn)
      left += "\n";
    left.resize(left.back() == '\n' ? left.size() + kColumn : kColumn, ' ');
    text += left + help + "\n";
  }
  return text;
}

/// The mode's name in messages.
const char *modeName(Mode mode) {
  switch (mode) {
  case kPrintManifest:
    return "--print-manifest";
  case kGenerateWeights:
    return "--generate-weights";
  case kGenerateInput:
    return "--generate-input";
  default:
    return "a run (--weights and --input)";
  }
}

/// `text` as an integer in [min, max]: digits only, so "-1", "1e3", "0x10"
/// and values past int64 are refused rather than cut short.
bool parseInt(const std::string &text, int64_t min, int64_t max,
              int64_t &value) {
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  value = std::stoll(text);
  return value >= min && value <= max;
}

bool parseArgs(int argc, char **argv, Options &options, std::string &error) {
  std::set<std::string> seen;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h")
      arg = "--help";
    if (arg.rfind("-", 0) != 0 || arg == "-") {
      if (!options.library.empty())
        return error = "unexpected argument '" + arg + "' (the library is '" +
                       options.library + "')",
               false;
      options.library = arg;
      continue;
    }
    std::string value;
    size_t eq = arg.find('=');
    bool inlineValue = arg.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inlineValue) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const OptionSpec *option = nullptr;
    for (const OptionSpec &candidate : kOptions)
      if (arg == candidate.name)
        option = &candidate;
    if (!option)
      return error = "unknown option '" + arg + "' (see --help)", false;
    if (!seen.insert(arg).second)
      return error = arg + ": given more than once", false;
    options.given.push_back(arg);
    if (option->flag) {
      if (inlineValue)
        return error = arg + ": takes no value, got '" + value + "'", false;
      options.*option->flag = true;
      continue;
    }
    if (!inlineValue) {
      if (i + 1 >= argc)
        return error = arg + ": needs a value (" + option->value + ")", false;
      value = argv[++i];
    }
    if (option->text) {
      if (value.empty())
        return error = arg + ": needs a value (" + option->value + ")", false;
      options.*option->text = value;
    } else if (!parseInt(value, option->min, option->max,
                         options.*option->number)) {
      return error = arg + ": must be an integer from " +
                     std::to_string(option->min) + " to " +
                     std::to_string(option->max) + ", got '" + value + "'",
             false;
    }
  }
  if (options.help || options.version)
    return true;

  std::vector<std::string> modes;
  if (options.printManifest)
    modes.push_back("--print-manifest"), options.mode = kPrintManifest;
  if (!options.generateWeights.empty())
    modes.push_back("--generate-weights"), options.mode = kGenerateWeights;
  if (!options.generateInput.empty())
    modes.push_back("--generate-input"), options.mode = kGenerateInput;
  if (modes.size() > 1)
    return error = modes[0] + " and " + modes[1] +
                   " are different modes: give one at a time",
           false;
  for (const std::string &name : options.given)
    for (const OptionSpec &option : kOptions)
      if (name == option.name && !(option.modes & options.mode))
        return error = name + ": does not apply to " + modeName(options.mode) +
                       " (see --help)",
               false;
  if (options.library.empty())
    return error = "no library given (see --help)", false;
  if (options.mode == kRun &&
      (options.weights.empty() || options.input.empty()))
    return error = "--weights and --input are required to run an entry (or "
                   "choose --print-manifest, --generate-weights or "
                   "--generate-input; see --help)",
           false;
  if (options.progress && options.quiet)
    return error = "--progress and --quiet: give one or the other", false;
  if (!seen.count("--warmup") && options.repeat > 1)
    options.warmup = 1;
  if (options.mode == kGenerateInput && !seen.count("--tokens"))
    return error = "--generate-input: needs --tokens T", false;
  if (options.ioDType != "f32" && options.ioDType != "bf16")
    return error = "--io-dtype: must be f32 or bf16, got '" + options.ioDType +
                   "'",
           false;
  if (options.mode == kGenerateWeights && !options.dtype.empty() &&
      options.dtype != "f32" && options.dtype != "bf16")
    return error = "--dtype: must be f32 or bf16, got '" + options.dtype + "'",
           false;
  return true;
}

/// Runs `allocate`, turning a failed allocation into an error that names
/// what was being allocated and its size.
template <typename F>
bool allocate(const std::string &what, uint64_t bytes, std::string &error,
              F &&allocate) {
  try {
    allocate();
    return true;
  } catch (const std::bad_alloc &) {
  } catch (const std::length_error &) {
  }
  error = "out of memory allocating " + what + " (" + std::to_string(bytes) +
          " bytes)";
  return false;
}

/// An expert table `[V, K]` (I32) of routing by token id: each row K
/// distinct experts of [0, E) (with repeats only when K > E), drawn
/// uniformly, as hash layers' random tables are.
TensorData randomExpertTable(const WeightSlot &slot, std::mt19937 &rng) {
  int64_t rows = slot.shape[0], columns = slot.shape[1];
  std::vector<int32_t> experts(static_cast<size_t>(slot.indexBound));
  TensorData data;
  data.dtype = DType::I32;
  data.shape = slot.shape;
  data.bytes.resize(static_cast<size_t>(rows * columns) * 4);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t e = 0; e < slot.indexBound; ++e)
      experts[e] = static_cast<int32_t>(e);
    for (int64_t k = 0; k < columns; ++k) {
      // A partial Fisher-Yates shuffle: position k % E takes a random
      // expert from those not taken yet in this round.
      int64_t at = k % slot.indexBound;
      std::uniform_int_distribution<int64_t> pick(at, slot.indexBound - 1);
      std::swap(experts[at], experts[pick(rng)]);
      std::memcpy(data.bytes.data() + 4 * (r * columns + k), &experts[at], 4);
    }
  }
  return data;
}

/// Uniform(-1/√fan_in, 1/√fan_in) per tensor, fan_in its last dimension:
/// the scale of nn.Linear's initialisation, so activations stay O(1).
int generateWeights(const Entry &entry, const Options &options) {
  std::mt19937 rng(static_cast<uint32_t>(options.seed));
  // Without --dtype, what the library keeps: a checkpoint of bf16 values
  // binds in place of rounding, as a real checkpoint would.
  bool bf16 = options.dtype == "bf16";
  if (options.dtype.empty())
    for (const WeightSlot &slot : entry.weights)
      bf16 = bf16 || slot.dtype == "bf16";
  std::map<std::string, TensorData> tensors;
  std::string error;
  Progress progress("moe-run", "generating", "weight slot",
                    static_cast<int64_t>(entry.weights.size()),
                    progressMode(options.progress, options.quiet));
  for (const WeightSlot &slot : entry.weights) {
    progress.update(&slot - entry.weights.data(), slot.name);
    if (slot.dtype == "i32") {
      tensors[slot.name] = randomExpertTable(slot, rng);
      continue;
    }
    // The manifest's shapes are validated: positive, product bounded.
    std::vector<int64_t> shape = slot.checkpointShape();
    int64_t count = 1;
    for (int64_t d : shape)
      count *= d;
    int64_t fanIn = shape.empty() ? 1 : shape.back();
    float bound = 1.0f / std::sqrt(static_cast<float>(fanIn));
    std::uniform_real_distribution<float> dist(-bound, bound);
    // Every expert any rank binds (each rank's under expert parallelism).
    std::set<int64_t> experts;
    for (int32_t r = 0; r < std::max<int64_t>(1, entry.ranks); ++r)
      for (int64_t e : slot.expertsOf(r))
        experts.insert(e);
    for (int64_t e : experts) {
      TensorData data;
      data.shape = shape;
      data.dtype = bf16 ? DType::BF16 : DType::F32;
      uint64_t bytes = count * dtypeSize(data.dtype);
      if (!allocate("weight '" + slot.tensorName(e) + "'", bytes, error,
                    [&] { data.bytes.resize(bytes); }))
        return fail(error);
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
  progress.finish();
  if (!writeSafeTensors(options.generateWeights, tensors, error))
    return fail(error);
  std::printf("wrote %zu tensors for entry '%s' to %s\n", tensors.size(),
              entry.name.c_str(), options.generateWeights.c_str());
  return 0;
}

/// Where --generate-input writes token ids: --token-ids, or the input's
/// name with ".npy" replaced by ".ids.npy" (".ids.npy" appended otherwise).
std::string tokenIdsPath(const Options &options) {
  if (!options.tokenIds.empty())
    return options.tokenIds;
  std::string path = options.generateInput;
  const std::string suffix = ".npy";
  if (path.size() > suffix.size() &&
      path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
    path.resize(path.size() - suffix.size());
  return path + ".ids.npy";
}

int generateInput(const Entry &entry, const Options &options) {
  int64_t count;
  if (!limits::checkedMul(options.tokens, entry.hidden, count) ||
      count > limits::kMaxTensorElements)
    return fail("--tokens: " + std::to_string(options.tokens) +
                " tokens of hidden size " + std::to_string(entry.hidden) +
                " exceed the limit of " +
                std::to_string(limits::kMaxTensorElements) + " values");
  std::mt19937 rng(static_cast<uint32_t>(options.seed) + 1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  NpyArray array{{options.tokens, entry.hidden}, {}};
  std::string error;
  if (!allocate("the input [" + std::to_string(options.tokens) + ", " +
                    std::to_string(entry.hidden) + "]",
                uint64_t(count) * sizeof(float), error,
                [&] { array.data.resize(count); }))
    return fail(error);
  for (float &v : array.data)
    v = dist(rng);
  if (!writeNpy(options.generateInput, array, error))
    return fail(error);
  std::printf("wrote input [%lld, %lld] to %s\n",
              static_cast<long long>(options.tokens),
              static_cast<long long>(entry.hidden),
              options.generateInput.c_str());
  if (!entry.tokenIdBound)
    return 0;
  // Uniform ids in [0, V), from the same seed.
  std::string idsPath = tokenIdsPath(options);
  std::uniform_int_distribution<int32_t> pick(
      0, static_cast<int32_t>(entry.tokenIdBound - 1));
  NpyInt32Array ids{{options.tokens}, {}};
  if (!allocate("the token ids [" + std::to_string(options.tokens) + "]",
                uint64_t(options.tokens) * 4, error,
                [&] { ids.data.resize(options.tokens); }))
    return fail(error);
  for (int32_t &id : ids.data)
    id = pick(rng);
  if (!writeNpyInt32(idsPath, ids, error))
    return fail(error);
  std::printf("wrote token ids [%lld] in [0, %lld) to %s\n",
              static_cast<long long>(options.tokens),
              static_cast<long long>(entry.tokenIdBound), idsPath.c_str());
  return 0;
}

/// Reads --token-ids for `tokens` tokens of `entry`, each id in [0, V).
bool readTokenIds(const Entry &entry, const std::string &path, int64_t tokens,
                  NpyInt32Array &ids, std::string &error) {
  if (!readNpyInt32(path, ids, error))
    return false;
  if (ids.shape.size() != 1 || ids.shape[0] != tokens) {
    error = path + ": token ids must be [" + std::to_string(tokens) +
            "] (one per input row), got " + formatShape(ids.shape);
    return false;
  }
  for (int64_t t = 0; t < tokens; ++t)
    if (ids.data[t] < 0 || ids.data[t] >= entry.tokenIdBound) {
      error = path + ": token id " + std::to_string(t) + " is " +
              std::to_string(ids.data[t]) + ", outside [0, " +
              std::to_string(entry.tokenIdBound) + ") (the rows of entry '" +
              entry.name + "''s expert table)";
      return false;
    }
  return true;
}

/// "1 token", "2 tokens".
std::string count(int64_t n, const char *noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

/// Warns about NaN and infinite input values, which the layer does not
/// reject. What it says is what the compiled code does (measured on
/// softmax and sigmoid routing, with and without a capacity).
void warnNonFinite(const NpyArray &input, int64_t tokens, int64_t hidden) {
  int64_t nans = 0, infs = 0, nanTokens = 0, infTokens = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    int64_t rowNans = 0, rowInfs = 0;
    for (int64_t h = 0; h < hidden; ++h) {
      float v = input.data[t * hidden + h];
      rowNans += std::isnan(v);
      rowInfs += std::isinf(v);
    }
    nans += rowNans;
    infs += rowInfs;
    nanTokens += rowNans > 0;
    infTokens += rowInfs > 0;
  }
  const char *others = "; other tokens are unaffected unless a capacity "
                       "makes them compete with it for expert slots";
  if (nans)
    std::fprintf(stderr,
                 "moe-run: warning: the input holds %s in %s; such a token "
                 "routes as if every logit were -inf and its output is "
                 "NaN%s\n",
                 count(nans, "NaN value").c_str(),
                 count(nanTokens, "token").c_str(), others);
  if (infs)
    std::fprintf(stderr,
                 "moe-run: warning: the input holds %s in %s; such a token's "
                 "router logits are infinite or NaN (softmax scoring then "
                 "routes it as a NaN token, sigmoid scoring on saturated "
                 "scores) and inf - inf or 0 * inf in its expert products "
                 "make its output NaN%s\n",
                 count(infs, "infinite value").c_str(),
                 count(infTokens, "token").c_str(), others);
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

/// "0 B", "512 B", "1.2 MB", "14 MB": decimal units, two or three
/// significant digits (exact counts go to --timing-json).
std::string formatBytes(size_t bytes) {
  static const char *const kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 999.5 && unit + 1 < std::size(kUnits)) {
    value /= 1000;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit && value < 9.95 ? "%.1f %s" : "%.0f %s",
                value, kUnits[unit]);
  return text;
}

/// "0.021 ms" under a second (a small layer binds in microseconds), "3.21 s"
/// from there.
std::string formatSeconds(double seconds) {
  char text[32];
  if (seconds < 1)
    std::snprintf(text, sizeof text, "%.3f ms", seconds * 1000);
  else
    std::snprintf(text, sizeof text, "%.2f s", seconds);
  return text;
}

/// OpenMP aborts the process on a team it cannot create: without
/// --threads, hold OMP_NUM_THREADS (a list, one count per nesting level)
/// to --threads' bound.
bool checkOmpNumThreads(std::string &error) {
  const char *value = std::getenv("OMP_NUM_THREADS");
  if (!value || !*value)
    return true;
  std::string text = value;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = std::min(text.find(',', begin), text.size());
    std::string item = text.substr(begin, end - begin);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    int64_t threads;
    if (!parseInt(item, 1, limits::kMaxThreads, threads))
      return error = "OMP_NUM_THREADS: must be integers from 1 to " +
                     std::to_string(limits::kMaxThreads) + ", got '" + text +
                     "'",
             false;
    begin = end + 1;
  }
  return true;
}

/// One forward in the trace: run `r` (negative: a warm-up run) of `tokens`
/// rows; its phases inside it, when the library timed them, end to end in
/// their order: expert parallelism's route, exchange, experts, exchange
/// back and combine (with chunks they overlap in time, and each is their
/// sum), or a single process's route, dispatch, experts and combine.
void traceForward(tools::Trace &trace, int64_t r, int64_t tokens,
                  double beginUs, double durationUs, const double *phases,
                  bool exchanges) {
  std::string args = "\"run\": " + std::to_string(r) +
                     ", \"tokens\": " + std::to_string(tokens);
  trace.complete(r < 0 ? "warm-up forward" : "forward", "forward", beginUs,
                 durationUs, args);
  if (!phases)
    return;
  static const std::pair<int, const char *> kExchangePhases[] = {
      {MOE_PHASE_ROUTE, "route"},
      {MOE_PHASE_EXCHANGE, "exchange"},
      {MOE_PHASE_EXPERTS, "experts"},
      {MOE_PHASE_EXCHANGE_BACK, "exchange back"},
      {MOE_PHASE_COMBINE, "combine"}};
  // A single process's dispatch is timed in the exchange's slot.
  static const std::pair<int, const char *> kLocalPhases[] = {
      {MOE_PHASE_ROUTE, "route"},
      {MOE_PHASE_EXCHANGE, "dispatch"},
      {MOE_PHASE_EXPERTS, "experts"},
      {MOE_PHASE_COMBINE, "combine"}};
  double at = beginUs;
  auto each = [&](auto &list) {
    for (auto [phase, name] : list) {
      double us = 1e6 * phases[phase];
      trace.complete(name, "phase", at, us, args);
      at += us;
    }
  };
  if (exchanges)
    each(kExchangePhases);
  else
    each(kLocalPhases);
}

/// The OpenMP threads a CPU forward runs on: --threads, else
/// OMP_NUM_THREADS's first level (checkOmpNumThreads has read it), else one
/// per core.
int64_t threadCount(const Options &options) {
  if (options.threads)
    return options.threads;
  const char *value = std::getenv("OMP_NUM_THREADS");
  if (value && *value)
    return std::strtoll(value, nullptr, 10);
  return std::max(1u, std::thread::hardware_concurrency());
}

/// The forward entry --entry names (or the only one), with a pointer to
/// --stats when it names a statistics entry.
const Entry *selectEntry(const Library &library, const Options &options,
                         std::string &error) {
  const Entry *entry = library.findEntry(options.entry, error);
  if (entry)
    return entry;
  error = options.library + ": " + error;
  for (const Entry &other : library.entries())
    if (other.name == options.entry &&
        other.kind == MOE_ENTRY_KIND_ROUTING_STATS)
      error +=
          "; its statistics print with --entry " + other.statsOf + " --stats";
  return nullptr;
}

int run(int argc, char **argv) {
  Options options;
  std::string error;
  if (!parseArgs(argc, argv, options, error))
    return fail(error);
  if (options.help) {
    std::fputs(helpText().c_str(), stdout);
    return 0;
  }
  if (options.version) {
    std::printf("moe-run (moec) %s\n", MOEC_VERSION);
    return 0;
  }
  std::unique_ptr<Library> library = Library::open(options.library, error);
  if (!library)
    return fail(error);
  if (options.mode == kPrintManifest) {
    std::printf("%s\n", library->manifest().c_str());
    return 0;
  }
  const Entry *entry = selectEntry(*library, options, error);
  if (!entry)
    return fail(error);
  if (!options.tokenIds.empty() && !entry->tokenIdBound)
    return fail("--token-ids: entry '" + entry->name +
                "' does not route by token id (its manifest has no "
                "\"token_ids\")");
  if (options.mode == kGenerateWeights)
    return generateWeights(*entry, options);
  if (options.mode == kGenerateInput)
    return generateInput(*entry, options);
  if (entry->tokenIdBound && options.tokenIds.empty())
    return fail("entry '" + entry->name +
                "' routes by token id: give --token-ids IDS.npy ([tokens] "
                "int32 or int64, each in [0, " +
                std::to_string(entry->tokenIdBound) + "))");

  // Each target's own options.
  bool cuda = library->target() == MOE_TARGET_CUDA;
  auto given = [&](const char *name) {
    return std::find(options.given.begin(), options.given.end(), name) !=
           options.given.end();
  };
  if (!cuda && given("--device"))
    return fail("--device: " + options.library +
                " is a CPU library (target 'cpu'); --device applies to CUDA "
                "libraries");
  if (cuda && given("--threads"))
    return fail("--threads: " + options.library +
                " is a CUDA library (target 'cuda'); --threads applies to CPU "
                "libraries");

  const Entry *statsEntry = nullptr;
  bool wantStats = options.stats || !options.statsJson.empty();
  if (wantStats && !(statsEntry = library->findStatsEntry(entry->name)))
    return fail(std::string(options.stats ? "--stats" : "--stats-json") +
                ": entry '" + entry->name + "' has no routing statistics (" +
                (entry->tokenIdBound
                     ? std::string("it routes by token id")
                     : std::string("moe-compile adds them to token-choice "
                                   "layers with softmax or sigmoid scores; "
                                   "expert choice, Soft MoE and sqrtsoftplus "
                                   "scores have none")) +
                ")");
  std::unique_ptr<tools::Trace> trace;
  if (!options.trace.empty())
    trace = std::make_unique<tools::Trace>();
  tools::TraceScope openScope(trace.get(), "open checkpoint", "io");
  std::unique_ptr<Checkpoint> checkpoint =
      Checkpoint::open(options.weights, error);
  if (!checkpoint)
    return fail(error);
  openScope.end();
  if (!cuda && !options.threads && !checkOmpNumThreads(error))
    return fail(error);

  // Under mpirun (or for a library of several ranks): one rank of expert
  // parallelism. Each rank binds its own experts and runs its share of the
  // tokens; rank 0 gathers the output and the reports.
  std::unique_ptr<MPICommunicator> comm;
  if (entry->ranks > 1 || launchedByMPI()) {
    comm = MPICommunicator::create(static_cast<double>(options.commTimeout),
                                   error);
    if (!comm)
      return fail(entry->ranks > 1 ? "entry '" + entry->name +
                                         "' was compiled for " +
                                         std::to_string(entry->ranks) +
                                         " ranks: " + error
                                   : error);
    if (comm->size() > 1)
      rankPrefix = "rank " + std::to_string(comm->rank()) + ": ";
    if (trace)
      trace->setProcess(comm->rank());
    if (entry->ranks > 1 && comm->size() != entry->ranks)
      return fail("entry '" + entry->name + "' was compiled for " +
                  std::to_string(entry->ranks) +
                  " ranks of expert parallelism, not " +
                  std::to_string(comm->size()) + " (mpirun -np " +
                  std::to_string(entry->ranks) + ")");
  }
  bool lead = !comm || comm->rank() == 0;
  // A rank that fails before the exchanges tells the others, which stop
  // too, rather than wait for it.
  auto failTogether = [&](const std::string &message) {
    int status = fail(message);
    if (comm && comm->size() > 1)
      comm->allAgree(false);
    return status;
  };
  auto agree = [&]() {
    if (comm && comm->size() > 1 && !comm->allAgree(true))
      return false;
    return true;
  };

  // The thread count travels in the context (0: OpenMP's default); a CUDA
  // library's context names its device instead.
  moe_context context;
  if (cuda) {
    moe_context_init_cuda(&context, static_cast<int32_t>(options.device));
  } else {
    moe_context_init_cpu(&context);
    context.num_threads = static_cast<int32_t>(options.threads);
  }
  if (comm) {
    context.rank = comm->rank();
    context.size = comm->size();
    context.communicator = comm->get();
  }
  int32_t initStatus;
  std::unique_ptr<BoundEntry> bound;
  {
    // Each rank binds its own experts; the lead speaks for them.
    Progress progress("moe-run", "binding", "weight slot",
                      static_cast<int64_t>(entry->weights.size()),
                      lead ? progressMode(options.progress, options.quiet)
                           : ProgressMode::Never);
    tools::TraceScope bindScope(trace.get(), "bind", "bind");
    // Each slot's event ends where the next begins; init follows the last.
    double slotBegin = trace ? trace->now() : 0;
    bound = BoundEntry::bind(
        *entry, *checkpoint, error, &context, &initStatus,
        [&](size_t done, size_t) {
          progress.update(static_cast<int64_t>(done),
                          done < entry->weights.size()
                              ? entry->weights[done].name
                              : std::string("init"));
          if (!trace)
            return;
          double at = trace->now();
          if (done > 0)
            trace->complete(entry->weights[done - 1].name, "bind", slotBegin,
                            at - slotBegin);
          slotBegin = at;
        });
    if (trace && bound)
      trace->complete("init", "bind", slotBegin, trace->now() - slotBegin);
  }
  // A device failure (no driver, no GPU) is the library's to report.
  if (!bound)
    return failTogether(initStatus == MOE_STATUS_DEVICE
                            ? options.library + ": " + error
                            : error);
  // What binding the forward entry cost (the statistics entry, bound next,
  // reads the same router tensors again).
  const BindStats &bind = bound->bindStats();
  if (lead)
    std::printf("bound %zu weight slots in %s: %s mapped, %s read in place, "
                "%s packed; peak resident %s\n",
                bind.slots, formatSeconds(bind.seconds).c_str(),
                formatBytes(bind.mappedBytes).c_str(),
                formatBytes(bind.inPlaceBytes).c_str(),
                formatBytes(bind.packedBytes).c_str(),
                formatBytes(bind.peakResidentBytes).c_str());
  // The statistics run on the lead alone, on the forward's device.
  std::unique_ptr<BoundEntry> boundStats;
  moe_context statsContext;
  moe_context_init_cuda(&statsContext, context.device);
  if (statsEntry && lead &&
      !(boundStats = BoundEntry::bind(*statsEntry, *checkpoint, error,
                                      cuda ? &statsContext : nullptr)))
    return failTogether(error);

  NpyArray input;
  if (!readNpy(options.input, input, error))
    return failTogether(error);
  if (input.shape.size() != 2)
    return failTogether(options.input + ": input must be [tokens, hidden], got " +
                        formatShape(input.shape));
  if (input.shape[1] != entry->hidden)
    return failTogether(options.input + ": input hidden size " +
                        std::to_string(input.shape[1]) +
                        " does not match entry '" + entry->name +
                        "' hidden size " + std::to_string(entry->hidden));
  int64_t tokens = input.shape[0];
  if (tokens > limits::kMaxTokens)
    return failTogether(options.input + ": " + std::to_string(tokens) +
                        " tokens exceed the limit " +
                        std::to_string(limits::kMaxTokens));
  if (lead)
    warnNonFinite(input, tokens, entry->hidden);
  NpyInt32Array tokenIds;
  if (entry->tokenIdBound &&
      !readTokenIds(*entry, options.tokenIds, tokens, tokenIds, error))
    return failTogether(error);
  if (!agree())
    return fail("stopping: another rank failed before the exchanges");

  // This rank's tokens: T/N each, the first T mod N ranks one more.
  int64_t first = 0, count = tokens;
  if (comm) {
    int64_t ranks = comm->size(), rank = comm->rank();
    count = tokens / ranks + (rank < tokens % ranks);
    first = rank * (tokens / ranks) + std::min(rank, tokens % ranks);
  }

  // Activations on cache lines, as the weights are (AlignedBuffer.h). The
  // input's size is the file's; the output's is the same.
  uint64_t bytes = input.data.size() * sizeof(float);
  std::string shape = formatShape(input.shape);
  AlignedFloats x, output;
  if (!allocate("a copy of the input " + shape, bytes, error,
                [&] { x.assign(input.data.begin(), input.data.end()); }) ||
      !allocate("the output " + shape, bytes, error,
                [&] { output.resize(input.data.size()); }))
    return fail(error);
  float *myInput = x.data() + first * entry->hidden;
  float *myOutput = output.data() + first * entry->hidden;
  // --io-dtype bf16: this rank's rows as bf16, in and out; the input the
  // rest of the run (statistics) sees is the rounded one.
  BoundEntry::IO io;
  if (entry->tokenIdBound)
    io.tokenIds = tokenIds.data.data() + first;
  std::vector<uint16_t> inputBF16, outputBF16;
  if (options.ioDType == "bf16") {
    io.dtype = MOE_DTYPE_BF16;
    size_t elements = static_cast<size_t>(count * entry->hidden);
    if (!allocate("bf16 copies of the input and output", 4 * elements, error,
                  [&] {
                    inputBF16.resize(elements);
                    outputBF16.resize(elements);
                  }))
      return fail(error);
    for (float &value : x)
      value = bf16ToFloat(floatToBF16(value));
    for (size_t i = 0; i < elements; ++i)
      inputBF16[i] = floatToBF16(myInput[i]);
  }
  const void *forwardInput = io.dtype == MOE_DTYPE_BF16
                                 ? static_cast<const void *>(inputBF16.data())
                                 : myInput;
  void *forwardOutput = io.dtype == MOE_DTYPE_BF16
                            ? static_cast<void *>(outputBF16.data())
                            : myOutput;
  std::vector<double> times;
  // Seconds per phase (MOE_PHASE_*), summed over the timed runs.
  double phaseSum[MOE_PHASE_COUNT] = {};
  for (int64_t r = -options.warmup; r < options.repeat; ++r) {
    // NaN: a library that times no phases leaves them so.
    double phases[MOE_PHASE_COUNT];
    std::fill(std::begin(phases), std::end(phases), NAN);
    double traceBegin = trace ? trace->now() : 0;
    auto start = std::chrono::steady_clock::now();
    if (!bound->forward(forwardInput, forwardOutput, count, io, error,
                        phases)) {
      // The others may be waiting on this rank's exchange: stop them all.
      if (comm && comm->size() > 1) {
        fail(error + (comm->lastError().empty() ? "" : ": " + comm->lastError()));
        comm->abort(1);
      }
      return fail(error);
    }
    auto end = std::chrono::steady_clock::now();
    if (trace)
      traceForward(*trace, r, count, traceBegin, trace->now() - traceBegin,
                   std::isnan(phases[MOE_PHASE_ROUTE]) ? nullptr : phases,
                   entry->ranks > 1);
    if (r < 0)
      continue;
    times.push_back(
        std::chrono::duration<double, std::milli>(end - start).count());
    for (int p = 0; p < MOE_PHASE_COUNT; ++p)
      phaseSum[p] += std::isnan(phases[p]) ? 0 : phases[p];
  }
  for (size_t i = 0; i < outputBF16.size(); ++i)
    myOutput[i] = bf16ToFloat(outputBF16[i]);
  tools::TraceScope gatherScope(
      comm && comm->size() > 1 ? trace.get() : nullptr, "gather output", "io");
  if (comm && comm->size() > 1) {
    std::vector<char> gathered;
    if (!comm->gather(myOutput, count * entry->hidden * sizeof(float),
                      gathered, error))
      return fail(error);
    if (lead)
      std::memcpy(output.data(), gathered.data(), gathered.size());
  }
  if (lead) {
    std::printf("entry %s: %lld tokens, hidden %lld, %zu weight slots "
                "(%zu bytes read in place)\n",
                entry->name.c_str(), static_cast<long long>(tokens),
                static_cast<long long>(entry->hidden), entry->weights.size(),
                bound->zeroCopyBytes());
    printSummary(output, tokens, entry->hidden);
  }
  gatherScope.end();
  if (boundStats) {
    std::vector<float> values;
    tools::TraceScope statsScope(trace.get(), "routing statistics", "forward");
    if (!boundStats->routingStats(x.data(), tokens, values, error))
      return fail(error);
    statsScope.end();
    RoutingSummary summary = summarizeRouting(values, tokens);
    if (options.stats)
      std::fputs(formatRoutingSummary(summary).c_str(), stdout);
    if (!options.statsJson.empty()) {
      std::ofstream json(options.statsJson);
      json << routingSummaryJson(summary, entry->name);
      if (!json)
        return fail(options.statsJson + ": cannot write");
    }
  }

  if (trace) {
    std::string path = options.trace;
    if (comm && comm->rank() > 0)
      path += ".rank" + std::to_string(comm->rank());
    if (!trace->write(path, error))
      return fail(error);
  }

  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  double median =
      sorted.size() % 2
          ? sorted[sorted.size() / 2]
          : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
  size_t peakResident = peakResidentBytes();
  // Each rank's share, time, weights read and memory, on rank 0.
  const int kReportFields = 5 + MOE_PHASE_COUNT;
  std::vector<double> mine = {static_cast<double>(count), median,
                              static_cast<double>(bind.readBytes),
                              static_cast<double>(peakResident), bind.seconds};
  for (double seconds : phaseSum)
    mine.push_back(1e3 * seconds / static_cast<double>(options.repeat));
  std::vector<double> reports = mine;
  if (comm && comm->size() > 1 && !comm->gatherDoubles(mine, reports, error))
    return fail(error);
  if (!lead)
    return 0;
  if (options.repeat > 1)
    std::printf("time: median %.3f ms, min %.3f ms, max %.3f ms over %lld "
                "runs (after %s)\n",
                median, sorted.front(), sorted.back(),
                static_cast<long long>(options.repeat),
                ::count(options.warmup, "warm-up run").c_str());
  std::printf("memory: peak resident %s\n", formatBytes(peakResident).c_str());
  size_t ranks = reports.size() / kReportFields;
  if (ranks > 1)
    for (size_t r = 0; r < ranks; ++r) {
      const double *report = &reports[r * kReportFields];
      std::printf("rank %zu: %lld tokens, weights read %s, peak resident %s, "
                  "forward median %.3f ms\n",
                  r, static_cast<long long>(report[0]),
                  formatBytes(static_cast<size_t>(report[2])).c_str(),
                  formatBytes(static_cast<size_t>(report[3])).c_str(),
                  report[1]);
      if (entry->ranks > 1)
        std::printf("rank %zu phases (mean ms): route %.3f, exchange %.3f, "
                    "experts %.3f, exchange back %.3f, combine %.3f\n",
                    r, report[5 + MOE_PHASE_ROUTE],
                    report[5 + MOE_PHASE_EXCHANGE],
                    report[5 + MOE_PHASE_EXPERTS],
                    report[5 + MOE_PHASE_EXCHANGE_BACK],
                    report[5 + MOE_PHASE_COMBINE]);
    }
  if (!options.timingJson.empty()) {
    // Entry names are letters, digits and _.$- (parseManifest): no escaping.
    // A median too short for the clock has no rate; JSON has no infinity.
    std::ofstream json(options.timingJson);
    json << "{\"entry\": \"" << entry->name << "\", \"tokens\": " << tokens
         << ", \"repeat\": " << options.repeat << ", \"median_ms\": " << median
         << ", \"min_ms\": " << sorted.front()
         << ", \"max_ms\": " << sorted.back() << ", \"tokens_per_s\": ";
    if (median > 0)
      json << tokens / (median / 1000.0);
    else
      json << (tokens ? "null" : "0");
    json << ", \"bind_s\": " << bind.seconds
         << ", \"bound_slots\": " << bind.slots
         << ", \"mapped_bytes\": " << bind.mappedBytes
         << ", \"in_place_bytes\": " << bind.inPlaceBytes
         << ", \"packed_bytes\": " << bind.packedBytes
         << ", \"read_bytes\": " << bind.readBytes
         << ", \"bind_peak_rss_bytes\": " << bind.peakResidentBytes
         << ", \"peak_rss_bytes\": " << peakResident
         << ", \"warmup\": " << options.warmup << ", \"threads\": ";
    if (cuda)
      json << "null";
    else
      json << threadCount(options);
    // The weights a forward may read (every slot bound: an upper bound of
    // what a few tokens touch) and that over the median time.
    size_t weightBytes = bind.inPlaceBytes + bind.packedBytes;
    json << ", \"io_dtype\": \"" << options.ioDType
         << "\", \"weight_dtypes\": {";
    std::map<std::string, int64_t> dtypes;
    for (const WeightSlot &slot : entry->weights)
      ++dtypes[slot.dtype];
    for (auto it = dtypes.begin(); it != dtypes.end(); ++it)
      json << (it == dtypes.begin() ? "" : ", ") << "\"" << it->first
           << "\": " << it->second;
    json << "}, \"weight_bytes\": " << weightBytes
         << ", \"weight_gb_per_s\": ";
    if (median > 0)
      json << weightBytes / (median / 1000.0) / 1e9;
    else
      json << "null";
    json << ", \"ranks\": [";
    for (size_t r = 0; r < ranks; ++r) {
      const double *report = &reports[r * kReportFields];
      json << (r ? ", " : "") << "{\"rank\": " << r
           << ", \"tokens\": " << static_cast<int64_t>(report[0])
           << ", \"median_ms\": " << report[1]
           << ", \"read_bytes\": " << static_cast<int64_t>(report[2])
           << ", \"peak_rss_bytes\": " << static_cast<int64_t>(report[3])
           << ", \"bind_s\": " << report[4];
      if (entry->ranks > 1)
        json << ", \"phases_ms\": {\"route\": " << report[5 + MOE_PHASE_ROUTE]
             << ", \"exchange\": " << report[5 + MOE_PHASE_EXCHANGE]
             << ", \"experts\": " << report[5 + MOE_PHASE_EXPERTS]
             << ", \"exchange_back\": "
             << report[5 + MOE_PHASE_EXCHANGE_BACK]
             << ", \"combine\": " << report[5 + MOE_PHASE_COMBINE] << "}";
      json << "}";
    }
    json << "]}\n";
    if (!json)
      return fail(options.timingJson + ": cannot write");
  }
  if (!options.output.empty() &&
      !writeNpy(options.output, input.shape, output.data(), error,
                options.ioDType == "bf16" ? NpyDType::BF16 : NpyDType::F32))
    return fail(error);
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  // Anything that escapes (std::bad_alloc from an allocation not guarded
  // above included) is an error message, never std::terminate's abort.
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc &) {
    return fail("out of memory");
  } catch (const std::exception &e) {
    return fail(std::string("unexpected exception: ") + e.what());
  } catch (...) {
    return fail("unexpected exception");
  }
}
