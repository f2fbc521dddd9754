//===- moe-plan.cpp - plan expert parallelism before running it -----------===//
//
//   moe-plan place --stats S.json --ep-size N [--redundant R] -o P.json
//   moe-plan cost (--config CONFIG | --hidden H --ffn F --experts E
//                  --top-k K) (--ep-size N | --ep-sizes A,B,...)
//                 --tokens-per-rank T [options]
//
// `place` turns measured routing statistics (moe-run --stats-json) into a
// load-aware placement file for moe-compile's expert parallelism; `cost`
// predicts what a layer costs per rank under a placement, links and chips
// (lib/Parallel/CostModel.h has the model and its formulas).
//
// Errors print "moe-plan: error: <file or option>: ..." and exit 1; every
// number is range-checked, an option that does not apply to the command is
// an error rather than ignored, and an exception (out of memory included)
// ends as the same message. Plain C++ (no LLVM), like moe-run.
//
//===----------------------------------------------------------------------===//

#include "moe/Parallel/CostModel.h"
#include "moe/Parallel/Placement.h"
#include "moe/Support/Json.h"
#include "moe/Support/Limits.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#ifndef __cpp_exceptions
#error "moe-plan needs C++ exceptions: its top-level handler catches them"
#endif

using namespace moe;
using nlohmann::json;

namespace {
int fail(const std::string &message) {
  std::fprintf(stderr, "moe-plan: error: %s\n", message.c_str());
  return 1;
}

enum Command : unsigned { kNone = 0, kPlace = 1, kCost = 2 };
constexpr unsigned kBoth = kPlace | kCost;

struct Options {
  Command command = kNone;
  std::string stats, output, config, mlp,
      placement = "contiguous", intra, inter, compute = "h800", json, epSizes;
  int64_t epSize = 0, redundant = 0, hidden = 0, ffn = 0, experts = 0, topK = 0,
          sharedFfn = 0, tokensPerRank = 0, ranksPerNode = 8, chunks = 0,
          rankLimit = 0;
  double activationBytes = 4, combineBytes = 0, weightBytes = 2,
         linkBandwidth = 0, linkLatency = 0, flops = 0, memBandwidth = 0;
  bool dedup = false, perRank = false, help = false, version = false;
  std::set<std::string> given;
  bool has(const char *name) const { return given.count(name) != 0; }
};

/// One option: its value (text, integer or real in [min, max], or none: a
/// flag), the commands it applies to, and its line in --help.
struct OptionSpec {
  const char *name;
  const char *value; // the value's name in --help; null for a flag
  unsigned commands;
  std::string Options::*text = nullptr;
  int64_t Options::*integer = nullptr;
  double Options::*real = nullptr;
  bool Options::*flag = nullptr;
  double min = 0, max = 0;
  const char *help = "";
  const char *section = nullptr;
};

OptionSpec text(const char *name, const char *value, unsigned commands,
                std::string Options::*field, const char *help,
                const char *section = nullptr) {
  OptionSpec spec{name, value, commands};
  spec.text = field;
  spec.help = help;
  spec.section = section;
  return spec;
}
OptionSpec integer(const char *name, const char *value, unsigned commands,
                   int64_t Options::*field, int64_t min, int64_t max,
                   const char *help, const char *section = nullptr) {
  OptionSpec spec{name, value, commands};
  spec.integer = field;
  spec.min = static_cast<double>(min);
  spec.max = static_cast<double>(max);
  spec.help = help;
  spec.section = section;
  return spec;
}
OptionSpec real(const char *name, const char *value, unsigned commands,
                double Options::*field, double min, double max,
                const char *help, const char *section = nullptr) {
  OptionSpec spec{name, value, commands};
  spec.real = field;
  spec.min = min;
  spec.max = max;
  spec.help = help;
  spec.section = section;
  return spec;
}
OptionSpec flag(const char *name, unsigned commands, bool Options::*field,
                const char *help, const char *section = nullptr) {
  OptionSpec spec{name, nullptr, commands};
  spec.flag = field;
  spec.help = help;
  spec.section = section;
  return spec;
}

const std::vector<OptionSpec> &optionSpecs() {
  static const std::vector<OptionSpec> specs = {
      integer("--ep-size", "N", kBoth, &Options::epSize, 1, kMaxModelRanks,
              "ranks of expert parallelism", "BOTH COMMANDS"),
      text("--stats", "S.json", kBoth, &Options::stats,
           "routing statistics (moe-run --stats-json): each expert's load "
           "(cost default: uniform)"),
      integer("--redundant", "R", kPlace, &Options::redundant, 0,
              limits::kMaxExperts,
              "extra expert replicas for the busiest experts (default: 0)",
              "PLACE"),
      text("-o", "P.json", kPlace, &Options::output,
           "the placement file to write ('-': stdout)"),
      text("--config", "CONFIG", kCost, &Options::config,
           "the layer shape from a Hugging Face config.json (or its folder)",
           "COST: THE LAYER"),
      integer("--hidden", "H", kCost, &Options::hidden, 1, limits::kMaxHidden,
              "hidden size (instead of --config)"),
      integer("--ffn", "F", kCost, &Options::ffn, 1, limits::kMaxFfn,
              "expert FFN width"),
      integer("--experts", "E", kCost, &Options::experts, 1,
              limits::kMaxExperts, "routed experts"),
      integer("--top-k", "K", kCost, &Options::topK, 1, limits::kMaxExperts,
              "experts per token"),
      integer("--shared-ffn", "S", kCost, &Options::sharedFfn, 0,
              limits::kMaxFfn,
              "shared expert width (default: 0, or the config's)"),
      text("--mlp", "KIND", kCost, &Options::mlp,
           "swiglu, geglu (3 matrices), gelu or relu (2) (default: swiglu)"),
      real("--activation-bytes", "B", kCost, &Options::activationBytes, 0, 16,
           "bytes per element of a dispatched row (default: 4, f32; 2 for "
           "bf16, 1.03125 for FP8 with a scale per 128)"),
      real("--combine-bytes", "B", kCost, &Options::combineBytes, 0, 16,
           "bytes per element of a combined row (default: "
           "--activation-bytes)"),
      real("--weight-bytes", "B", kCost, &Options::weightBytes, 0, 16,
           "bytes per weight element (default: 2, bf16)"),
      text("--ep-sizes", "A,B,...", kCost, &Options::epSizes,
           "several ep-sizes (at most 16), one table row each",
           "COST: THE RUN"),
      integer("--tokens-per-rank", "T", kCost, &Options::tokensPerRank, 1,
              limits::kMaxTokens, "tokens each rank routes (required)"),
      text("--placement", "P", kCost, &Options::placement,
           "contiguous, round-robin, or a placement file (default: "
           "contiguous)"),
      integer("--chunks", "C", kCost, &Options::chunks, 1, kMaxModelChunks,
              "chunks overlapping exchange and compute (default: the "
              "fastest)"),
      integer("--rank-limit", "M", kCost, &Options::rankLimit, 1,
              kMaxModelRanks,
              "each token's experts on at most M ranks (default: none, or "
              "the config's group-limited routing when groups sit on whole "
              "ranks)"),
      flag("--dedup", kCost, &Options::dedup,
           "send a token once per destination rank, not once per expert "
           "(DeepEP; default: off, as moec)"),
      integer("--ranks-per-node", "R", kCost, &Options::ranksPerNode, 1,
              limits::kMaxRanks, "ranks per node (default: 8)",
              "COST: THE MACHINES"),
      text("--intra", "LINK", kCost, &Options::intra,
           "link inside a node: nvlink, infiniband, pcie, shm (default: "
           "nvlink)"),
      text("--inter", "LINK", kCost, &Options::inter,
           "link between nodes (default: infiniband)"),
      real("--link-bandwidth", "B/s", kCost, &Options::linkBandwidth, 0, 1e15,
           "a custom link for both, bytes/s (with --link-latency)"),
      real("--link-latency", "S", kCost, &Options::linkLatency, 0, 1,
           "its latency per exchange step, seconds"),
      text("--compute", "CHIP", kCost, &Options::compute,
           "h800, h100, h200, or cpu (default: h800)"),
      real("--flops", "X", kCost, &Options::flops, 0, 1e18,
           "FLOP/s per rank (required with cpu; overrides a chip's)"),
      real("--mem-bandwidth", "Y", kCost, &Options::memBandwidth, 0, 1e16,
           "memory bytes/s per rank (likewise)"),
      flag("--per-rank", kCost, &Options::perRank,
           "also print every rank's figures", "COST: OUTPUT"),
      text("--json", "FILE", kCost, &Options::json,
           "write every figure as JSON ('-': stdout)"),
      flag("--help", kBoth, &Options::help,
           "print this help and exit (also -h)", "GENERAL"),
      flag("--version", kBoth, &Options::version, "print the version and exit"),
  };
  return specs;
}

std::string helpText() {
  std::string text =
      "OVERVIEW: plans expert parallelism: load-aware placements, and the "
      "predicted\ncost of a layer per rank.\n\n"
      "USAGE: moe-plan place --stats S.json --ep-size N [--redundant R] -o "
      "P.json\n"
      "       moe-plan cost (--config CONFIG | --hidden H --ffn F --experts E "
      "--top-k K)\n"
      "                     (--ep-size N | --ep-sizes A,B,...) "
      "--tokens-per-rank T [options]\n";
  for (const OptionSpec &option : optionSpecs()) {
    if (option.section)
      text += std::string("\n") + option.section + ":\n";
    std::string left = std::string("  ") + option.name;
    if (option.value)
      left += std::string(" ") + option.value;
    constexpr size_t kColumn = 24;
    if (left.size() >= kColumn)
      left += "\n" + std::string(kColumn, ' ');
    else
      left.resize(kColumn, ' ');
    text += left + option.help + "\n";
  }
  return text;
}

/// `text` as an integer in [min, max]: digits only, so "-1", "1e3" and
/// values past int64 are refused rather than cut short.
bool parseInt(const std::string &text, double min, double max, int64_t &value) {
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  value = std::stoll(text);
  return static_cast<double>(value) >= min && static_cast<double>(value) <= max;
}

/// `text` as a finite real in (min, max] (a latency may be 0: [0, max]).
bool parseReal(const std::string &text, double min, double max, bool zeroOk,
               double &value) {
  if (text.empty() || text.size() > 64 ||
      text.find_first_not_of("0123456789.eE+-") != std::string::npos)
    return false;
  char *end = nullptr;
  errno = 0;
  value = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(value))
    return false;
  return (value > min || (zeroOk && value == min)) && value <= max;
}

bool parseArgs(int argc, char **argv, Options &options, std::string &error) {
  const std::vector<OptionSpec> &specs = optionSpecs();
  std::vector<std::string> order;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h")
      arg = "--help";
    if (arg.rfind("-", 0) != 0 || arg == "-") {
      if (options.command != kNone || !order.empty())
        return error = "unexpected argument '" + arg +
                       "' (the command comes first: place or cost)",
               false;
      if (arg == "place")
        options.command = kPlace;
      else if (arg == "cost")
        options.command = kCost;
      else
        return error = "unknown command '" + arg + "' (place or cost)", false;
      continue;
    }
    std::string value;
    size_t eq = arg.find('=');
    bool inlineValue = arg.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inlineValue) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    if (arg == "--output")
      arg = "-o";
    const OptionSpec *option = nullptr;
    for (const OptionSpec &candidate : specs)
      if (arg == candidate.name)
        option = &candidate;
    if (!option)
      return error = "unknown option '" + arg + "' (see --help)", false;
    if (!options.given.insert(arg).second)
      return error = arg + ": given more than once", false;
    order.push_back(arg);
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
    } else if (option->integer) {
      if (!parseInt(value, option->min, option->max, options.*option->integer))
        return error = arg + ": must be an integer from " +
                       std::to_string(static_cast<int64_t>(option->min)) +
                       " to " +
                       std::to_string(static_cast<int64_t>(option->max)) +
                       ", got '" + value + "'",
               false;
    } else {
      bool zeroOk = option->real == &Options::linkLatency;
      if (!parseReal(value, option->min, option->max, zeroOk,
                     options.*option->real)) {
        char bound[32];
        std::snprintf(bound, sizeof bound, "%g", option->max);
        return error = arg + ": must be a number in " +
                       (zeroOk ? "[0, " : "(0, ") + bound + "], got '" + value +
                       "'",
               false;
      }
    }
  }
  if (options.help || options.version)
    return true;
  if (options.command == kNone)
    return error = "no command given: place or cost (see --help)", false;
  for (const std::string &name : order)
    for (const OptionSpec &option : specs)
      if (name == option.name && !(option.commands & options.command))
        return error = name + ": does not apply to moe-plan " +
                       (options.command == kPlace ? "place" : "cost") +
                       " (see --help)",
               false;
  return true;
}

/// "512 B", "32.8 kB", "1.23 GB": decimal units, three significant digits.
std::string formatBytes(double bytes) {
  static const char *const kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  size_t unit = 0;
  while (bytes >= 999.5 && unit + 1 < std::size(kUnits)) {
    bytes /= 1000;
    ++unit;
  }
  char text[32];
  if (unit == 0)
    std::snprintf(text, sizeof text, "%.0f B", bytes);
  else
    std::snprintf(text, sizeof text, "%.3g %s", bytes, kUnits[unit]);
  return text;
}

/// "12.3 us", "5.12 ms", "1.23 s".
std::string formatSeconds(double seconds) {
  char text[32];
  if (seconds == 0)
    return "0";
  if (seconds < 999.5e-6)
    std::snprintf(text, sizeof text, "%.3g us", seconds * 1e6);
  else if (seconds < 0.9995)
    std::snprintf(text, sizeof text, "%.3g ms", seconds * 1e3);
  else
    std::snprintf(text, sizeof text, "%.3g s", seconds);
  return text;
}

/// "950", "12.3k", "4.56M", "1.2G" (three significant digits), the unit
/// after `space`.
std::string formatCount(double count, const char *space = "") {
  static const char *const kUnits[] = {"", "k", "M", "G", "T"};
  size_t unit = 0;
  while (count >= 999.5 && unit + 1 < std::size(kUnits)) {
    count /= 1000;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.3g%s%s", count, space, kUnits[unit]);
  return text;
}

/// "160 GB/s"-style rates: formatBytes with "/s".
std::string formatRate(double bytesPerSecond) {
  return formatBytes(bytesPerSecond) + "/s";
}

/// Writes `text` to `path` ("-": stdout); a failed write leaves no file.
bool writeTextFile(const std::string &path, const std::string &text,
                   std::string &error) {
  if (path == "-") {
    std::fputs(text.c_str(), stdout);
    return true;
  }
  std::ofstream file(path, std::ios::binary);
  file << text;
  file.close();
  if (!file) {
    std::remove(path.c_str());
    error = path + ": cannot write";
    return false;
  }
  return true;
}

/// The loads of --stats, or empty with `error`.
std::vector<double> readLoads(const std::string &path, std::string &error) {
  std::string text;
  if (!limits::readBoundedFile(path, limits::kMaxJsonBytes, text, error))
    return {};
  return parseLoadsJson(text, path, error);
}

/// What a config says beyond the shape: the family and its group-limited
/// routing (0 groups: none).
struct ConfigInfo {
  std::string modelType;
  int64_t groups = 0, topkGroup = 0;
};

/// The layer shape of a Hugging Face config, read as lib/Import reads it
/// (the same keys per family) but without building IR: `hidden_size`,
/// `num_experts_per_tok`, the family's expert count and width, its shared
/// expert, and DeepSeek's group-limited routing.
bool readConfigShape(const std::string &configPath, LayerShape &shape,
                     ConfigInfo &info, std::string &error) {
  std::string path = configPath;
  if (path.size() < 5 || path.compare(path.size() - 5, 5, ".json") != 0) {
    std::string candidate =
        path + (path.back() == '/' ? "" : "/") + "config.json";
    if (::access(candidate.c_str(), F_OK) == 0)
      path = candidate;
  }
  std::string text;
  if (!limits::readBoundedFile(path, limits::kMaxJsonBytes, text, error))
    return false;
  json root = parseBoundedJson(text.data(), text.size(), path, error);
  if (root.is_discarded())
    return false;
  auto fail = [&](const std::string &message) {
    error = path + ": " + message;
    return false;
  };
  auto type = root.find("model_type");
  if (type == root.end() || !type->is_string())
    return fail("config key 'model_type' must be a string naming the model "
                "family");
  info.modelType = type->get<std::string>();
  const json *config = &root;
  if (info.modelType == "llama4") {
    auto textConfig = root.find("text_config");
    if (textConfig == root.end() || !textConfig->is_object())
      return fail("config key 'text_config' must be an object (a llama4 "
                  "config keeps the language model's keys there)");
    config = &*textConfig;
  }
  // An integer key within [lo, hi]; 4096.0 reads as 4096, as in lib/Import.
  auto integerKey = [&](const char *key, int64_t lo, int64_t hi,
                        std::optional<int64_t> fallback, int64_t &value) {
    auto it = config->find(key);
    if (it == config->end() || it->is_null()) {
      if (fallback) {
        value = *fallback;
        return true;
      }
      return fail(std::string("missing config key '") + key + "'");
    }
    double number = it->is_number() ? it->get<double>() : NAN;
    if (!std::isfinite(number) || number != std::floor(number) ||
        number < static_cast<double>(lo) || number > static_cast<double>(hi))
      return fail(std::string("config key '") + key +
                  "' must be an integer from " + std::to_string(lo) + " to " +
                  std::to_string(hi) + ", got " + it->dump());
    value = static_cast<int64_t>(number);
    return true;
  };
  const char *expertsKey = nullptr, *ffnKey = nullptr;
  const std::string &family = info.modelType;
  if (family == "mixtral" || family == "llama4" || family == "llama4_text")
    expertsKey = "num_local_experts", ffnKey = "intermediate_size";
  else if (family == "qwen2_moe" || family == "qwen3_moe")
    expertsKey = "num_experts", ffnKey = "moe_intermediate_size";
  else if (family == "deepseek_v2" || family == "deepseek_v3")
    expertsKey = "n_routed_experts", ffnKey = "moe_intermediate_size";
  else
    return fail("config key 'model_type' is '" + family +
                "'; moe-plan reads mixtral, qwen2_moe, qwen3_moe, "
                "deepseek_v2, deepseek_v3, llama4_text, llama4");
  if (!integerKey("hidden_size", 1, limits::kMaxHidden, std::nullopt,
                  shape.hidden) ||
      !integerKey(expertsKey, 1, limits::kMaxExperts, std::nullopt,
                  shape.experts) ||
      !integerKey(ffnKey, 1, limits::kMaxFfn, std::nullopt, shape.ffn) ||
      !integerKey("num_experts_per_tok", 1, shape.experts, std::nullopt,
                  shape.topK))
    return false;
  shape.gated = true; // every family reads is SwiGLU
  shape.sharedFfn = 0;
  if (family == "qwen2_moe") {
    if (!integerKey("shared_expert_intermediate_size", 0, limits::kMaxFfn,
                    std::nullopt, shape.sharedFfn))
      return false;
  } else if (family == "llama4" || family == "llama4_text") {
    shape.sharedFfn = shape.ffn;
  } else if (family == "deepseek_v2" || family == "deepseek_v3") {
    int64_t shared = 0;
    if (!integerKey("n_shared_experts", 0, limits::kMaxExperts, 0, shared))
      return false;
    if (!limits::checkedMul(shared, shape.ffn, shape.sharedFfn) ||
        shape.sharedFfn > limits::kMaxFfn)
      return fail("config keys 'n_shared_experts' (" + std::to_string(shared) +
                  ") * '" + ffnKey + "' (" + std::to_string(shape.ffn) +
                  ") give a shared expert wider than " +
                  std::to_string(limits::kMaxFfn));
    bool v3 = family == "deepseek_v3";
    auto method = config->find("topk_method");
    std::string topkMethod = v3 ? "noaux_tc" : "greedy";
    if (method != config->end() && method->is_string())
      topkMethod = method->get<std::string>();
    if (topkMethod == "noaux_tc" || topkMethod == "group_limited_greedy") {
      if (!integerKey("n_group", 1, shape.experts, 1, info.groups) ||
          !integerKey("topk_group", 1, info.groups, 1, info.topkGroup))
        return false;
      if (shape.experts % info.groups != 0)
        return fail("config key 'n_group' (" + std::to_string(info.groups) +
                    ") does not divide the " + std::to_string(shape.experts) +
                    " experts");
      if (info.groups == 1 || info.topkGroup == info.groups)
        info.groups = info.topkGroup = 0; // no limit
    }
  }
  return true;
}

/// The rank limit group-limited routing implies when its groups sit on
/// whole ranks of a contiguous placement: groups of several ranks (N a
/// multiple of the groups) limit a token to topk_group of them; ranks of
/// several groups, to topk_group ranks. 0 when it limits nothing.
int64_t groupRankLimit(const ConfigInfo &info, const LayerShape &shape,
                       int64_t ranks) {
  if (!info.groups || shape.experts % ranks != 0)
    return 0;
  int64_t limit = 0;
  if (ranks % info.groups == 0)
    limit = info.topkGroup * (ranks / info.groups);
  else if (info.groups % ranks == 0)
    limit = info.topkGroup;
  return limit < ranks ? limit : 0;
}

int place(const Options &options) {
  if (!options.has("--stats") || !options.has("--ep-size") ||
      !options.has("-o"))
    return fail("moe-plan place needs --stats, --ep-size and -o (see --help)");
  std::string error;
  std::vector<double> loads = readLoads(options.stats, error);
  if (loads.empty())
    return fail(error);
  const int64_t E = static_cast<int64_t>(loads.size()), N = options.epSize;
  if (std::string problem = verifyPlacementChoice(loads, N, options.redundant);
      !problem.empty())
    return fail((problem.rfind("the redundant", 0) == 0 ? "--redundant: "
                                                        : "--ep-size: ") +
                problem);
  std::vector<int64_t> replicas = chooseReplicas(loads, N, options.redundant);
  ExpertPlacement chosen = packReplicas(loads, replicas, N);
  if (std::string problem = chosen.verify(); !problem.empty())
    return fail("internal error: the chosen placement is invalid: " + problem);
  std::vector<double> shares = normalizeLoads(loads);
  double rows = 0;
  for (double load : loads)
    rows += load;

  if (!writeTextFile(options.output, chosen.toJson(), error))
    return fail(error);
  // With -o - the placement is the output; the report goes to stderr.
  FILE *report = options.output == "-" ? stderr : stdout;
  std::fprintf(report, "loads: %s (%lld experts, %s routed rows)\n",
               options.stats.c_str(), static_cast<long long>(E),
               formatCount(rows).c_str());
  std::fprintf(
      report,
      "placement: %lld experts + %lld redundant replicas on %lld "
      "ranks, at most %lld per rank\n",
      static_cast<long long>(E), static_cast<long long>(options.redundant),
      static_cast<long long>(N), static_cast<long long>(chosen.slotsPerRank()));
  if (options.redundant) {
    std::string list;
    int shown = 0;
    for (int64_t e = 0; e < E; ++e) {
      if (replicas[e] == 1)
        continue;
      if (shown++ == 16) {
        list += ", ...";
        break;
      }
      list += (list.empty() ? "" : ", ") + std::to_string(e) + " x" +
              std::to_string(replicas[e]);
    }
    std::fprintf(report, "replicated experts: %s\n", list.c_str());
  }
  auto describe = [](const LoadBalance &b) {
    char text[96];
    std::snprintf(text, sizeof text, "max %.4f, mean %.4f, max/mean %.3f",
                  b.max, b.mean, b.ratio());
    return std::string(text);
  };
  std::fprintf(report, "rank load (share of routed rows):\n");
  if (N <= E)
    std::fprintf(
        report, "  contiguous: %s\n",
        describe(loadBalance(rankLoads(contiguousPlacement(E, N), shares)))
            .c_str());
  else
    std::fprintf(report,
                 "  contiguous: none (%lld experts cannot fill %lld ranks)\n",
                 static_cast<long long>(E), static_cast<long long>(N));
  std::fprintf(report, "  load-aware: %s\n",
               describe(loadBalance(rankLoads(chosen, shares))).c_str());
  if (options.output != "-")
    std::fprintf(report, "wrote %s\n", options.output.c_str());
  return 0;
}

/// The ep-sizes of --ep-size or --ep-sizes, in order.
bool epSizeList(const Options &options, std::vector<int64_t> &sizes,
                std::string &error) {
  if (options.has("--ep-size")) {
    sizes = {options.epSize};
    return true;
  }
  std::string list = options.epSizes;
  size_t begin = 0;
  while (begin <= list.size()) {
    size_t end = std::min(list.find(',', begin), list.size());
    std::string item = list.substr(begin, end - begin);
    int64_t size;
    if (!parseInt(item, 1, kMaxModelRanks, size))
      return error = "--ep-sizes: each entry must be an integer from 1 to " +
                     std::to_string(kMaxModelRanks) + ", got '" + item +
                     "' in '" + list + "'",
             false;
    if (sizes.size() == 16)
      return error = "--ep-sizes: at most 16 entries", false;
    sizes.push_back(size);
    begin = end + 1;
  }
  return true;
}

bool linkOption(const char *option, const std::string &name,
                const char *fallback, LinkModel &link, std::string &error) {
  std::string chosen = name.empty() ? fallback : name;
  if (linkPreset(chosen, link))
    return true;
  error = std::string(option) + ": unknown link '" + chosen + "' (" +
          linkPresetNames() + "; or --link-bandwidth and --link-latency)";
  return false;
}

json rankJson(const RankCost &rank) {
  return {{"rows_sent", rank.rowsSent},
          {"rows_received", rank.rowsReceived},
          {"rows_local", rank.rowsLocal},
          {"tokens_sent", rank.tokensSent},
          {"tokens_received", rank.tokensReceived},
          {"tokens_local", rank.tokensLocal},
          {"dispatch_bytes_sent", rank.dispatchBytesSent},
          {"dispatch_bytes_received", rank.dispatchBytesReceived},
          {"combine_bytes_sent", rank.combineBytesSent},
          {"combine_bytes_received", rank.combineBytesReceived},
          {"intra_bytes_sent", rank.intraBytesSent},
          {"intra_bytes_received", rank.intraBytesReceived},
          {"inter_bytes_sent", rank.interBytesSent},
          {"inter_bytes_received", rank.interBytesReceived},
          {"expert_rows", rank.expertRows},
          {"flops", rank.flops},
          {"weight_bytes_read", rank.weightBytesRead},
          {"dispatch_s", rank.dispatchTime},
          {"combine_s", rank.combineTime},
          {"step_latency_s", rank.stepLatency},
          {"count_s", rank.countTime},
          {"chunk_latency_s", rank.chunkLatency},
          {"exchange_s", rank.exchangeTime},
          {"compute_s", rank.computeTime},
          {"hidden_s", rank.hiddenTime},
          {"layer_s", rank.layerTime}};
}

int cost(const Options &options) {
  std::string error;
  // The layer.
  LayerShape shape;
  ConfigInfo info;
  const char *shapeFlags[] = {"--hidden", "--ffn", "--experts", "--top-k"};
  if (options.has("--config")) {
    for (const char *name : shapeFlags)
      if (options.has(name))
        return fail(std::string(name) +
                    ": the layer comes from --config; give one or the other");
    if (!readConfigShape(options.config, shape, info, error))
      return fail(error);
    if (options.has("--shared-ffn"))
      shape.sharedFfn = options.sharedFfn;
  } else {
    for (const char *name : shapeFlags)
      if (!options.has(name))
        return fail("moe-plan cost needs --config, or --hidden, --ffn, "
                    "--experts and --top-k (missing " +
                    std::string(name) + ")");
    shape.hidden = options.hidden;
    shape.ffn = options.ffn;
    shape.experts = options.experts;
    shape.topK = options.topK;
    shape.sharedFfn = options.sharedFfn;
    if (shape.topK > shape.experts)
      return fail("--top-k: " + std::to_string(shape.topK) + " exceeds the " +
                  std::to_string(shape.experts) + " experts");
  }
  if (options.has("--mlp")) {
    if (options.mlp == "swiglu" || options.mlp == "geglu")
      shape.gated = true;
    else if (options.mlp == "gelu" || options.mlp == "relu")
      shape.gated = false;
    else
      return fail("--mlp: must be swiglu, geglu, gelu or relu, got '" +
                  options.mlp + "'");
  }
  shape.activationBytes = options.activationBytes;
  shape.combineBytes = options.combineBytes;
  shape.weightBytes = options.weightBytes;
  if (std::string problem = shape.verify(); !problem.empty())
    return fail("the layer: " + problem);

  // The run.
  if (!options.has("--tokens-per-rank"))
    return fail("moe-plan cost needs --tokens-per-rank T");
  const int64_t T = options.tokensPerRank;
  if (options.has("--chunks") && options.chunks > T)
    return fail("--chunks: " + std::to_string(options.chunks) +
                " exceeds --tokens-per-rank " + std::to_string(T) +
                " (a chunk holds a token at least)");
  if (options.has("--ep-size") && options.has("--ep-sizes"))
    return fail("--ep-sizes: give --ep-size or --ep-sizes, not both");
  bool placementFile = !isPlacementRule(options.placement);
  ExpertPlacement filePlacement;
  if (placementFile) {
    filePlacement = readPlacementFile(options.placement, error);
    if (filePlacement.rankExperts.empty())
      return fail(error);
    if (filePlacement.numRanks() > kMaxModelRanks)
      return fail(options.placement + ": the cost model takes at most " +
                  std::to_string(kMaxModelRanks) + " ranks, not " +
                  std::to_string(filePlacement.numRanks()));
  }
  std::vector<int64_t> sizes;
  if (!options.has("--ep-size") && !options.has("--ep-sizes")) {
    if (!placementFile)
      return fail("moe-plan cost needs --ep-size N or --ep-sizes A,B,...");
    sizes = {filePlacement.numRanks()};
  } else if (!epSizeList(options, sizes, error)) {
    return fail(error);
  }

  std::vector<double> loads = uniformLoads(shape.experts);
  if (options.has("--stats")) {
    loads = readLoads(options.stats, error);
    if (loads.empty())
      return fail(error);
    if (static_cast<int64_t>(loads.size()) != shape.experts)
      return fail(options.stats + ": the statistics are for " +
                  std::to_string(loads.size()) + " experts but the layer has " +
                  std::to_string(shape.experts));
  }

  // The machines.
  Topology topology;
  topology.ranksPerNode = options.ranksPerNode;
  bool custom =
      options.has("--link-bandwidth") || options.has("--link-latency");
  if (custom) {
    if (options.has("--intra") || options.has("--inter"))
      return fail(std::string(options.has("--intra") ? "--intra" : "--inter") +
                  ": a custom link (--link-bandwidth) replaces the presets; "
                  "give one or the other");
    if (!options.has("--link-bandwidth") || !options.has("--link-latency"))
      return fail("--link-bandwidth and --link-latency define a custom link "
                  "together; give both");
    topology.intra =
        topology.inter = {"custom", options.linkBandwidth, options.linkLatency};
  } else if (!linkOption("--intra", options.intra, "nvlink", topology.intra,
                         error) ||
             !linkOption("--inter", options.inter, "infiniband", topology.inter,
                         error)) {
    return fail(error);
  }
  ComputeModel compute;
  if (options.compute == "cpu") {
    if (!options.has("--flops") || !options.has("--mem-bandwidth"))
      return fail("--compute: cpu needs --flops and --mem-bandwidth");
    compute = {"cpu", options.flops, options.memBandwidth};
  } else if (computePreset(options.compute, compute)) {
    if (options.has("--flops"))
      compute.flopRate = options.flops;
    if (options.has("--mem-bandwidth"))
      compute.memBandwidth = options.memBandwidth;
  } else {
    return fail("--compute: unknown chip '" + options.compute + "' (" +
                computePresetNames() +
                ", or cpu with --flops and "
                "--mem-bandwidth)");
  }

  // Every ep-size, checked before anything is printed.
  struct Row {
    int64_t ranks, rankLimit;
    bool fromConfig;
    double loadRatio;
    CostPrediction prediction;
  };
  std::vector<Row> rows;
  for (int64_t N : sizes) {
    ExpertPlacement placement;
    if (placementFile) {
      if (std::string problem =
              checkPlacementFits(filePlacement, shape.experts, N);
          !problem.empty())
        return fail(options.placement + ": " + problem);
      placement = filePlacement;
    } else {
      placement = placementByRule(options.placement, shape.experts, N, error);
      if (placement.rankExperts.empty())
        return fail("--placement: " + error);
    }
    int64_t limit = options.rankLimit;
    bool fromConfig = false;
    if (!options.has("--rank-limit") && options.placement == "contiguous") {
      limit = groupRankLimit(info, shape, N);
      fromConfig = limit != 0;
    }
    int64_t chunks = options.has("--chunks") ? options.chunks : 1;
    if (std::string problem = verifyCostInputs(
            shape, placement, T, loads, topology, compute, chunks, limit);
        !problem.empty())
      return fail("ep-size " + std::to_string(N) + ": " + problem);
    if (!options.has("--chunks"))
      chunks = chooseChunks(shape, placement, T, loads, topology, compute,
                            limit, options.dedup);
    Row row{N, limit, fromConfig,
            loadBalance(rankLoads(placement, loads)).ratio(),
            predict(shape, placement, T, loads, topology, compute, chunks,
                    limit, options.dedup)};
    rows.push_back(std::move(row));
  }

  // The report.
  std::string report;
  auto line = [&report](const char *format, auto... args) {
    int length = std::snprintf(nullptr, 0, format, args...);
    std::string text(static_cast<size_t>(std::max(length, 0)) + 1, '\0');
    std::snprintf(text.data(), text.size(), format, args...);
    text.pop_back();
    report += text;
  };
  auto bytesText = [](double width) {
    char text[48];
    std::snprintf(text, sizeof text, "%g byte%s", width, width == 1 ? "" : "s");
    return std::string(text);
  };
  line("layer: hidden %lld, ffn %lld, %lld experts, top-%lld, %s, shared "
       "ffn %lld\n",
       static_cast<long long>(shape.hidden), static_cast<long long>(shape.ffn),
       static_cast<long long>(shape.experts),
       static_cast<long long>(shape.topK),
       shape.gated ? "gated (3 matrices)" : "plain (2 matrices)",
       static_cast<long long>(shape.sharedFfn));
  line("bytes per element: dispatch %s, combine %s, weights %s\n",
       bytesText(shape.activationBytes).c_str(),
       bytesText(shape.combineBytes > 0 ? shape.combineBytes
                                        : shape.activationBytes)
           .c_str(),
       bytesText(shape.weightBytes).c_str());
  if (options.has("--config")) {
    std::string groups = info.groups
                             ? "; group-limited routing, top " +
                                   std::to_string(info.topkGroup) + " of " +
                                   std::to_string(info.groups) + " groups"
                             : "";
    line("config: %s (%s%s)\n", options.config.c_str(), info.modelType.c_str(),
         groups.c_str());
  }
  line("routing: %s\n", options.has("--stats")
                            ? (options.stats + " (measured loads)").c_str()
                            : "uniform");
  line("placement: %s; tokens per rank: %lld\n", options.placement.c_str(),
       static_cast<long long>(T));
  line(
      "links: %lld ranks per node; inside %s %s, %s per step; between %s "
      "%s, %s per step\n",
      static_cast<long long>(topology.ranksPerNode),
      topology.intra.name.c_str(), formatRate(topology.intra.bandwidth).c_str(),
      formatSeconds(topology.intra.latency).c_str(),
      topology.inter.name.c_str(), formatRate(topology.inter.bandwidth).c_str(),
      formatSeconds(topology.inter.latency).c_str());
  line("compute: %s, %sFLOP/s, memory %s per rank\n", compute.name.c_str(),
       formatCount(compute.flopRate, " ").c_str(),
       formatRate(compute.memBandwidth).c_str());
  line("exchange: %s\n", options.dedup
                             ? "one row per (token, destination rank) (--dedup)"
                             : "one row per (token, expert)");
  if (options.has("--rank-limit"))
    line("rank limit: %lld ranks per token\n",
         static_cast<long long>(options.rankLimit));
  else if (std::any_of(rows.begin(), rows.end(),
                       [](const Row &row) { return row.fromConfig; }))
    line("rank limit: the config's group-limited routing, its groups on "
         "whole ranks\n");
  line("\nper ep-size, the slowest rank (sent, received: dispatch + "
       "combine; dest/token: distinct\ndestination ranks per token, limited "
       "in parentheses; load: max/mean rank load):\n");
  line("%6s %6s %5s %12s %6s %10s %10s %10s %10s %10s %10s %10s %9s\n", "ranks",
       "chunks", "limit", "dest/token", "load", "sent", "received",
       "inter-node", "exchange", "compute", "hidden", "layer", "tokens/s");
  for (const Row &row : rows) {
    const CostPrediction &p = row.prediction;
    const RankCost &slow = p.ranks[p.slowestRank];
    char dest[32];
    if (p.rankLimit)
      std::snprintf(dest, sizeof dest, "%.2f (%.2f)", p.destinationRanks,
                    p.limitedDestinationRanks);
    else
      std::snprintf(dest, sizeof dest, "%.2f", p.destinationRanks);
    std::string limit = p.rankLimit ? std::to_string(p.rankLimit) : "-";
    line("%6lld %6lld %5s %12s %6.3f %10s %10s %10s %10s %10s %10s %10s "
         "%9s\n",
         static_cast<long long>(row.ranks), static_cast<long long>(p.chunks),
         limit.c_str(), dest, row.loadRatio,
         formatBytes(slow.dispatchBytesSent + slow.combineBytesSent).c_str(),
         formatBytes(slow.dispatchBytesReceived + slow.combineBytesReceived)
             .c_str(),
         formatBytes(slow.interBytesSent).c_str(),
         formatSeconds(slow.exchangeTime).c_str(),
         formatSeconds(slow.computeTime).c_str(),
         formatSeconds(slow.hiddenTime).c_str(),
         formatSeconds(p.layerTime).c_str(),
         formatCount(p.tokensPerSecond).c_str());
  }
  if (options.perRank)
    for (const Row &row : rows) {
      line("\nep-size %lld, every rank (rows: one per (token, expert); "
           "tokens: one per (token, rank)):\n",
           static_cast<long long>(row.ranks));
      line("%6s %10s %10s %10s %10s %10s %10s %10s %10s %10s %10s\n", "rank",
           "rows sent", "rows recv", "rows kept", "tokens out", "tokens in",
           "sent", "received", "exchange", "compute", "layer");
      const CostPrediction &p = row.prediction;
      for (size_t r = 0; r < p.ranks.size(); ++r) {
        const RankCost &rank = p.ranks[r];
        line(
            "%6zu %10.1f %10.1f %10.1f %10.1f %10.1f %10s %10s %10s %10s "
            "%10s\n",
            r, rank.rowsSent, rank.rowsReceived, rank.rowsLocal,
            rank.tokensSent, rank.tokensReceived,
            formatBytes(rank.dispatchBytesSent + rank.combineBytesSent).c_str(),
            formatBytes(rank.dispatchBytesReceived + rank.combineBytesReceived)
                .c_str(),
            formatSeconds(rank.exchangeTime).c_str(),
            formatSeconds(rank.computeTime).c_str(),
            formatSeconds(rank.layerTime).c_str());
      }
    }

  if (options.has("--json")) {
    json document = {
        {"layer",
         {{"hidden", shape.hidden},
          {"ffn", shape.ffn},
          {"experts", shape.experts},
          {"top_k", shape.topK},
          {"gated", shape.gated},
          {"shared_ffn", shape.sharedFfn},
          {"activation_bytes", shape.activationBytes},
          {"combine_bytes",
           shape.combineBytes > 0 ? shape.combineBytes : shape.activationBytes},
          {"weight_bytes", shape.weightBytes}}},
        {"tokens_per_rank", T},
        {"placement", options.placement},
        {"routing", options.has("--stats") ? options.stats : "uniform"},
        {"dedup", options.dedup},
        {"topology",
         {{"ranks_per_node", topology.ranksPerNode},
          {"intra",
           {{"name", topology.intra.name},
            {"bandwidth", topology.intra.bandwidth},
            {"latency", topology.intra.latency}}},
          {"inter",
           {{"name", topology.inter.name},
            {"bandwidth", topology.inter.bandwidth},
            {"latency", topology.inter.latency}}}}},
        {"compute",
         {{"name", compute.name},
          {"flop_rate", compute.flopRate},
          {"mem_bandwidth", compute.memBandwidth}}},
        {"results", json::array()}};
    for (const Row &row : rows) {
      const CostPrediction &p = row.prediction;
      json ranks = json::array();
      for (const RankCost &rank : p.ranks)
        ranks.push_back(rankJson(rank));
      document["results"].push_back(
          {{"ep_size", row.ranks},
           {"chunks", p.chunks},
           {"rank_limit", p.rankLimit},
           {"rank_limit_from_config", row.fromConfig},
           {"destination_ranks", p.destinationRanks},
           {"limited_destination_ranks", p.limitedDestinationRanks},
           {"rank_load_max_over_mean", row.loadRatio},
           {"slowest_rank", p.slowestRank},
           {"layer_s", p.layerTime},
           {"tokens_per_s", p.tokensPerSecond},
           {"ranks", std::move(ranks)}});
    }
    if (!writeTextFile(options.json, document.dump(1) + "\n", error))
      return fail(error);
  }
  // With --json - the JSON is the output; the table goes to stderr.
  std::fputs(report.c_str(), options.json == "-" ? stderr : stdout);
  return 0;
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
    std::printf("moe-plan (moec) %s\n", MOEC_VERSION);
    return 0;
  }
  return options.command == kPlace ? place(options) : cost(options);
}
} // namespace

int main(int argc, char **argv) {
  // Anything that escapes (std::bad_alloc included) is an error message,
  // never std::terminate's abort.
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
