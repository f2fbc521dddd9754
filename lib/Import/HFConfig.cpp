//===- HFConfig.cpp - import Hugging Face MoE configs ---------------------===//
//
// Each family is read into a LayerPlan (sizes, routing, shared expert,
// checkpoint naming), checked with messages that name the config keys, and
// built into `func.func @<model_type>_layer<L>` around one moe.layer.
// Semantics follow each family's published modeling code (DESIGN.md §4).
//
// The config is untrusted input: its size and nesting are bounded before
// the recursive JSON parser sees it, every key read is type- and
// range-checked against moe::limits, and sizes derived from several keys
// use checked products, all before anything is built.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/HFConfig.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Support/Json.h"
#include "moe/Support/Limits.h"
#include "moe/Target/Entries.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/SourceMgr.h"

#include <cfloat>
#include <cmath>

using namespace mlir;
using namespace mlir::moe;
namespace limits = ::moe::limits;

// What the key bounds alone guarantee, so that only the expert weights'
// E*F*H needs a run-time check against kMaxTensorElements.
static_assert(limits::kMaxExperts * limits::kMaxHidden <=
                  limits::kMaxTensorElements,
              "a router weight [E, H] within the key bounds fits the limit");
static_assert(limits::kMaxFfn * limits::kMaxHidden <=
                  limits::kMaxTensorElements,
              "a shared expert weight [F, H] within the bounds fits the limit");

namespace {
/// How a family names and lays out its expert weights.
enum class ExpertNaming {
  /// block_sparse_moe.experts.{e}.w1 (gate) / w3 (up) / w2 (down)
  Mixtral,
  /// experts.{e}.gate_proj / up_proj / down_proj
  Projections,
  /// experts.gate_up_proj [E,H,2F] and experts.down_proj [E,F,H] (Llama 4)
  FusedTransposed,
};

struct LayerPlan {
  std::string modelType;
  int64_t hidden = 0, numExperts = 0, topK = 0, ffn = 0;
  /// The keys `numExperts` and `ffn` came from, for messages.
  std::string expertsKey, ffnKey;
  /// Shared expert width; 0 when there is none.
  int64_t sharedFfn = 0;
  bool sharedSigmoidGate = false;
  bool correctionBias = false;
  bool scaleExpertInput = false;
  ScoringFunc scoring = ScoringFunc::softmax;
  SelectionSource selectOn = SelectionSource::scores;
  bool renormalize = false;
  double scalingFactor = 1.0;
  int64_t nGroup = 1, topkGroup = 1;
  GroupScore groupScore = GroupScore::max;
  ExpertNaming naming = ExpertNaming::Projections;
  /// Checkpoint names: "{L}" is the layer index.
  std::string prefix;       // e.g. "model.layers.{L}.mlp."
  std::string routerName;   // relative to prefix
  std::string sharedPrefix; // relative to prefix, e.g. "shared_experts."
  int64_t numLayers = 0;
  /// Why a layer is dense, for messages; and the test.
  std::function<bool(int64_t)> isMoELayer;
  std::string denseRule;
};

/// A number for messages: to 15 digits, so that 4096.0 reads 4096 and 0.1
/// reads 0.1.
std::string formatNumber(double number) {
  std::string out;
  llvm::raw_string_ostream(out) << llvm::format("%.15g", number);
  return out;
}

/// A string from the config for messages: quoted, cut short, with control
/// and non-ASCII bytes escaped so that a config cannot drive the terminal.
std::string quote(StringRef text) {
  constexpr size_t kShown = 64;
  std::string out;
  llvm::raw_string_ostream os(out);
  os << '\'';
  llvm::printEscapedString(text.take_front(kShown), os);
  if (text.size() > kShown)
    os << "...";
  os << '\'';
  return out;
}

/// A config value for messages: integers exactly, lists and objects by kind.
std::string describe(const llvm::json::Value &value) {
  switch (value.kind()) {
  case llvm::json::Value::Null:
    return "null";
  case llvm::json::Value::Boolean:
    return *value.getAsBoolean() ? "true" : "false";
  case llvm::json::Value::Number: {
    double number = *value.getAsNumber();
    if (std::optional<uint64_t> positive = value.getAsUINT64())
      return std::to_string(*positive);
    // getAsInteger is safe below zero only (see checkInteger).
    if (number < 0)
      if (std::optional<int64_t> negative = value.getAsInteger())
        return std::to_string(*negative);
    return formatNumber(number);
  }
  case llvm::json::Value::String:
    return quote(*value.getAsString());
  case llvm::json::Value::Array:
    return "a list";
  case llvm::json::Value::Object:
    return "an object";
  }
  llvm_unreachable("unknown JSON kind");
}

enum class Range { Inside, NotInteger, Below, Above };

/// Where `value` falls against [min, max], setting `out` when inside.
/// Integral numbers only; 4096.0 counts, as for llvm::json's getAsInteger.
/// The bounds are compared on the double first: getAsInteger converts a
/// double of 2^63 with undefined behaviour, and below 2^53 (every bound
/// here) the comparison is exact.
Range checkInteger(const llvm::json::Value &value, int64_t min, int64_t max,
                   int64_t &out) {
  assert(max < (int64_t(1) << 53) && "bounds must be exact as doubles");
  std::optional<double> number = value.getAsNumber();
  if (!number || !std::isfinite(*number) || std::trunc(*number) != *number)
    return Range::NotInteger;
  if (*number < double(min))
    return Range::Below;
  if (*number > double(max))
    return Range::Above;
  out = *value.getAsInteger();
  return Range::Inside;
}

/// The location of byte `at` of `text`, the contents of `path`. The
/// diagnostic handler prints the source line with the message: a line longer
/// than a screenful (a minified or hostile config) gets column 0, which it
/// does not print.
Location locateOffset(StringRef text, size_t at, StringRef path,
                      MLIRContext *ctx) {
  constexpr size_t kMaxShownLine = 1024;
  StringRef before = text.take_front(at);
  unsigned line = 1 + before.count('\n');
  size_t lineStart = before.rfind('\n');
  lineStart = lineStart == StringRef::npos ? 0 : lineStart + 1;
  size_t lineEnd = std::min(text.find('\n', at), text.size());
  unsigned column =
      lineEnd - lineStart > kMaxShownLine ? 0 : at - lineStart + 1;
  return FileLineColLoc::get(ctx, path, line, column);
}

/// Reads typed members of one config object, reporting at the key's line in
/// the file.
class ConfigReader {
public:
  /// `start` is the offset of the object's `{` in `text`.
  ConfigReader(const llvm::json::Object &object, StringRef text, size_t start,
               StringRef path, MLIRContext *ctx)
      : object(object), text(text), start(start), path(path), ctx(ctx) {}

  /// The offset of the object's member `key` in the text, or npos. The last
  /// one: llvm::json keeps the last of repeated keys, as Python does. Keys of
  /// nested objects and strings that are values are skipped.
  size_t find(StringRef key) const {
    size_t found = StringRef::npos;
    int depth = 0;
    for (size_t i = start; i < text.size(); ++i) {
      char c = text[i];
      if (c == '"') {
        size_t open = i;
        for (++i; i < text.size() && text[i] != '"'; ++i)
          if (text[i] == '\\')
            ++i;
        size_t next = text.find_first_not_of(" \t\r\n", i + 1);
        if (depth == 1 && text.slice(open + 1, i) == key &&
            next != StringRef::npos && text[next] == ':')
          found = open;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        break;
      }
    }
    return found;
  }

  /// The offset of member `key`'s value, or npos.
  size_t findValue(StringRef key) const {
    size_t at = find(key);
    if (at == StringRef::npos)
      return at;
    size_t colon = text.find(':', at + key.size() + 2);
    return text.find_first_not_of(" \t\r\n", colon + 1);
  }

  /// The location of member `key`, or of the object itself.
  Location locate(StringRef key) const {
    size_t at = find(key);
    return locateOffset(text, at == StringRef::npos ? start : at, path, ctx);
  }

  InFlightDiagnostic error(StringRef key) const {
    return emitError(locate(key));
  }

  /// Member `key`, or null when it is missing or JSON null (HF's "unset").
  const llvm::json::Value *get(StringRef key) const {
    const llvm::json::Value *value = object.get(key);
    return value && !value->getAsNull() ? value : nullptr;
  }

  bool has(StringRef key) const { return get(key) != nullptr; }

  /// Integer `key` in [min, max], where `max` is moec's limit for it.
  FailureOr<int64_t> requireInt(StringRef key, int64_t min, int64_t max) const {
    const llvm::json::Value *value = object.get(key);
    if (!value) {
      error(key) << "config key '" << key << "' is missing";
      return failure();
    }
    int64_t number = 0;
    switch (checkInteger(*value, min, max, number)) {
    case Range::Inside:
      return number;
    case Range::NotInteger:
      error(key) << "config key '" << key << "' must be an integer, got "
                 << describe(*value);
      break;
    case Range::Below:
      error(key) << "config key '" << key << "' must be at least " << min
                 << ", got " << describe(*value);
      break;
    case Range::Above:
      error(key) << "config key '" << key << "' is " << describe(*value)
                 << "; moec supports at most " << max;
      break;
    }
    return failure();
  }

  FailureOr<int64_t> optionalInt(StringRef key, int64_t fallback, int64_t min,
                                 int64_t max) const {
    if (!has(key))
      return fallback;
    return requireInt(key, min, max);
  }

  /// A finite number.
  FailureOr<double> optionalNumber(StringRef key, double fallback) const {
    const llvm::json::Value *value = get(key);
    if (!value)
      return fallback;
    std::optional<double> number = value->getAsNumber();
    if (!number || !std::isfinite(*number)) {
      error(key) << "config key '" << key << "' must be a finite number, got "
                 << describe(*value);
      return failure();
    }
    return *number;
  }

  FailureOr<bool> optionalBool(StringRef key, bool fallback) const {
    const llvm::json::Value *value = get(key);
    if (!value)
      return fallback;
    std::optional<bool> flag = value->getAsBoolean();
    if (!flag) {
      error(key) << "config key '" << key << "' must be true or false, got "
                 << describe(*value);
      return failure();
    }
    return *flag;
  }

  FailureOr<std::string> optionalString(StringRef key,
                                        StringRef fallback) const {
    const llvm::json::Value *value = get(key);
    if (!value)
      return fallback.str();
    std::optional<StringRef> string = value->getAsString();
    if (!string) {
      error(key) << "config key '" << key << "' must be a string, got "
                 << describe(*value);
      return failure();
    }
    return string->str();
  }

  /// A list of decoder layer indexes, each in [0, numLayers), at most
  /// kMaxLayers long.
  FailureOr<std::vector<int64_t>> optionalLayerList(StringRef key,
                                                    int64_t numLayers) const {
    std::vector<int64_t> layers;
    const llvm::json::Value *value = get(key);
    if (!value)
      return layers;
    const llvm::json::Array *array = value->getAsArray();
    if (!array) {
      error(key) << "config key '" << key
                 << "' must be a list of layer indexes, got "
                 << describe(*value);
      return failure();
    }
    if (array->size() > size_t(limits::kMaxLayers)) {
      error(key) << "config key '" << key << "' lists " << array->size()
                 << " layers; moec supports at most " << limits::kMaxLayers;
      return failure();
    }
    for (auto [index, item] : llvm::enumerate(*array)) {
      int64_t layer = 0;
      switch (checkInteger(item, 0, numLayers - 1, layer)) {
      case Range::Inside:
        layers.push_back(layer);
        continue;
      case Range::NotInteger:
        error(key) << "config key '" << key
                   << "' must be a list of layer indexes, got "
                   << describe(item) << " at index " << index;
        return failure();
      case Range::Below:
      case Range::Above:
        error(key) << "config key '" << key << "' lists layer "
                   << describe(item)
                   << ", out of range: 'num_hidden_layers' is " << numLayers;
        return failure();
      }
    }
    return layers;
  }

private:
  const llvm::json::Object &object;
  StringRef text;
  size_t start;
  StringRef path;
  MLIRContext *ctx;
};

/// The sizes and activation every family shares.
LogicalResult readCommon(const ConfigReader &config, LayerPlan &plan,
                         StringRef expertsKey, StringRef ffnKey) {
  FailureOr<int64_t> hidden =
      config.requireInt("hidden_size", 1, limits::kMaxHidden);
  FailureOr<int64_t> layers =
      config.requireInt("num_hidden_layers", 1, limits::kMaxLayers);
  FailureOr<int64_t> experts =
      config.requireInt(expertsKey, 1, limits::kMaxExperts);
  FailureOr<int64_t> topK =
      config.requireInt("num_experts_per_tok", 1, limits::kMaxExperts);
  FailureOr<int64_t> ffn = config.requireInt(ffnKey, 1, limits::kMaxFfn);
  FailureOr<std::string> act = config.optionalString("hidden_act", "silu");
  if (failed(hidden) || failed(layers) || failed(experts) || failed(topK) ||
      failed(ffn) || failed(act))
    return failure();
  if (*act != "silu")
    return config.error("hidden_act")
           << "config key 'hidden_act' is " << quote(*act) << "; "
           << plan.modelType << " experts use SiLU (SwiGLU), expected 'silu'";
  if (*topK > *experts)
    return config.error("num_experts_per_tok")
           << "config key 'num_experts_per_tok' (" << *topK << ") exceeds '"
           << expertsKey << "' (" << *experts << ")";
  // Gate, up and down each stack E*F*H elements (Llama 4's fused
  // gate_up_proj twice that, checked with the family).
  int64_t elements;
  if (!limits::checkedProduct({*experts, *ffn, *hidden},
                              limits::kMaxTensorElements, elements))
    return config.error(ffnKey)
           << "config keys '" << expertsKey << "' (" << *experts << ") * '"
           << ffnKey << "' (" << *ffn << ") * 'hidden_size' (" << *hidden
           << ") give one expert weight more elements than moec supports (at "
              "most "
           << limits::kMaxTensorElements << ")";
  plan.hidden = *hidden;
  plan.numLayers = *layers;
  plan.numExperts = *experts;
  plan.topK = *topK;
  plan.ffn = *ffn;
  plan.expertsKey = expertsKey.str();
  plan.ffnKey = ffnKey.str();
  return success();
}

LogicalResult readMixtral(const ConfigReader &config, LayerPlan &plan) {
  if (failed(
          readCommon(config, plan, "num_local_experts", "intermediate_size")))
    return failure();
  plan.renormalize = true;
  plan.naming = ExpertNaming::Mixtral;
  plan.prefix = "model.layers.{L}.block_sparse_moe.";
  plan.routerName = "gate.weight";
  plan.isMoELayer = [](int64_t) { return true; };
  return success();
}

LogicalResult readQwen(const ConfigReader &config, LayerPlan &plan,
                       bool sharedExpert) {
  if (failed(readCommon(config, plan, "num_experts", "moe_intermediate_size")))
    return failure();
  FailureOr<bool> norm = config.optionalBool("norm_topk_prob", false);
  FailureOr<int64_t> step =
      config.optionalInt("decoder_sparse_step", 1, 1, limits::kMaxLayers);
  FailureOr<std::vector<int64_t>> mlpOnly =
      config.optionalLayerList("mlp_only_layers", plan.numLayers);
  if (failed(norm) || failed(step) || failed(mlpOnly))
    return failure();
  plan.renormalize = *norm;
  if (sharedExpert) {
    FailureOr<int64_t> shared = config.requireInt(
        "shared_expert_intermediate_size", 0, limits::kMaxFfn);
    if (failed(shared))
      return failure();
    plan.sharedFfn = *shared;
    plan.sharedSigmoidGate = *shared > 0;
    plan.sharedPrefix = "shared_expert.";
  }
  plan.prefix = "model.layers.{L}.mlp.";
  plan.routerName = "gate.weight";
  int64_t sparseStep = *step;
  std::vector<int64_t> dense = *mlpOnly;
  plan.isMoELayer = [sparseStep, dense](int64_t layer) {
    return llvm::find(dense, layer) == dense.end() &&
           (layer + 1) % sparseStep == 0;
  };
  plan.denseRule = "'decoder_sparse_step' = " + std::to_string(sparseStep) +
                   " and 'mlp_only_layers'";
  return success();
}

LogicalResult readDeepSeek(const ConfigReader &config, LayerPlan &plan,
                           bool v3) {
  if (failed(readCommon(config, plan, "n_routed_experts",
                        "moe_intermediate_size")))
    return failure();
  FailureOr<int64_t> shared =
      config.optionalInt("n_shared_experts", 0, 0, limits::kMaxExperts);
  FailureOr<int64_t> firstDense =
      config.optionalInt("first_k_dense_replace", 0, 0, limits::kMaxLayers);
  FailureOr<int64_t> freq =
      config.optionalInt("moe_layer_freq", 1, 1, limits::kMaxLayers);
  FailureOr<double> scaling =
      config.optionalNumber("routed_scaling_factor", 1.0);
  FailureOr<bool> norm = config.optionalBool("norm_topk_prob", false);
  FailureOr<std::string> method =
      config.optionalString("topk_method", v3 ? "noaux_tc" : "greedy");
  FailureOr<std::string> scoring =
      config.optionalString("scoring_func", v3 ? "sigmoid" : "softmax");
  FailureOr<int64_t> nGroup =
      config.optionalInt("n_group", 1, 1, limits::kMaxExperts);
  FailureOr<int64_t> topkGroup =
      config.optionalInt("topk_group", 1, 1, limits::kMaxExperts);
  if (failed(shared) || failed(firstDense) || failed(freq) || failed(scaling) ||
      failed(norm) || failed(method) || failed(scoring) || failed(nGroup) ||
      failed(topkGroup))
    return failure();
  // The factor multiplies f32 routing weights: a normal f32 keeps them
  // finite and nonzero.
  if (!(*scaling >= FLT_MIN && *scaling <= FLT_MAX))
    return config.error("routed_scaling_factor")
           << "config key 'routed_scaling_factor' must be positive and within "
              "f32 ("
           << formatNumber(FLT_MIN) << " to " << formatNumber(FLT_MAX)
           << "), got " << formatNumber(*scaling);

  StringRef expectedMethods =
      v3 ? "noaux_tc" : "greedy or group_limited_greedy";
  bool grouped;
  if (v3 && *method == "noaux_tc") {
    grouped = true;
    plan.groupScore = GroupScore::top2_sum;
    plan.correctionBias = true;
  } else if (!v3 &&
             (*method == "greedy" || *method == "group_limited_greedy")) {
    grouped = *method == "group_limited_greedy";
    plan.groupScore = GroupScore::max;
  } else {
    return config.error("topk_method")
           << "config key 'topk_method' is " << quote(*method) << "; "
           << plan.modelType << " supports " << expectedMethods;
  }
  StringRef expectedScoring = v3 ? "sigmoid" : "softmax";
  if (*scoring != expectedScoring)
    return config.error("scoring_func")
           << "config key 'scoring_func' is " << quote(*scoring) << "; "
           << plan.modelType << " with topk_method '" << *method
           << "' scores with " << expectedScoring;
  plan.scoring = v3 ? ScoringFunc::sigmoid : ScoringFunc::softmax;

  if (grouped) {
    if (plan.numExperts % *nGroup != 0)
      return config.error("n_group")
             << "config key 'n_routed_experts' (" << plan.numExperts
             << ") is not divisible by 'n_group' (" << *nGroup << ")";
    if (*topkGroup > *nGroup)
      return config.error("topk_group")
             << "config key 'topk_group' (" << *topkGroup
             << ") exceeds 'n_group' (" << *nGroup << ")";
    int64_t reachable = 0;
    if (!limits::checkedMul(*topkGroup, plan.numExperts / *nGroup, reachable))
      llvm_unreachable("topk_group <= n_group bounds the product by E");
    if (plan.topK > reachable)
      return config.error("num_experts_per_tok")
             << "config key 'num_experts_per_tok' (" << plan.topK
             << ") exceeds the " << reachable
             << " experts of the 'topk_group' groups kept";
    if (v3 && plan.numExperts / *nGroup < 2)
      return config.error("n_group")
             << "config key 'n_group' (" << *nGroup
             << ") leaves fewer than 2 experts per group; noaux_tc scores "
                "groups by their top two";
    plan.nGroup = *nGroup;
    plan.topkGroup = *topkGroup;
  }

  // DeepSeek's shared experts are one MLP n_shared_experts times as wide.
  if (!limits::checkedMul(*shared, plan.ffn, plan.sharedFfn) ||
      plan.sharedFfn > limits::kMaxFfn)
    return config.error("n_shared_experts")
           << "config keys 'n_shared_experts' (" << *shared
           << ") * 'moe_intermediate_size' (" << plan.ffn
           << ") give a shared expert wider than moec supports (at most "
           << limits::kMaxFfn << ")";

  // DeepSeek's weights: V2 renormalises (k > 1 and norm_topk_prob) or else
  // scales; V3 renormalises (same condition) and always scales.
  bool renormalize = plan.topK > 1 && *norm;
  plan.renormalize = renormalize;
  plan.scalingFactor = v3 || !renormalize ? *scaling : 1.0;
  plan.sharedPrefix = "shared_experts.";
  plan.prefix = "model.layers.{L}.mlp.";
  plan.routerName = "gate.weight";
  int64_t first = *firstDense, every = *freq;
  plan.isMoELayer = [first, every](int64_t layer) {
    return layer >= first && layer % every == 0;
  };
  plan.denseRule = "'first_k_dense_replace' = " + std::to_string(first) +
                   " and 'moe_layer_freq' = " + std::to_string(every);
  return success();
}

LogicalResult readLlama4(const ConfigReader &config, LayerPlan &plan,
                         bool multimodal) {
  if (failed(
          readCommon(config, plan, "num_local_experts", "intermediate_size")))
    return failure();
  FailureOr<int64_t> step =
      config.optionalInt("interleave_moe_layer_step", 1, 1, limits::kMaxLayers);
  FailureOr<std::vector<int64_t>> moeLayers =
      config.optionalLayerList("moe_layers", plan.numLayers);
  if (failed(step) || failed(moeLayers))
    return failure();
  // gate_up_proj is one [E, H, 2F] tensor.
  int64_t elements;
  if (!limits::checkedProduct({plan.numExperts, plan.hidden, 2, plan.ffn},
                              limits::kMaxTensorElements, elements))
    return config.error("intermediate_size")
           << "config keys 'num_local_experts' (" << plan.numExperts
           << ") * 'hidden_size' (" << plan.hidden << ") * 2 * "
           << "'intermediate_size' (" << plan.ffn
           << ") give experts.gate_up_proj more elements than moec supports "
              "(at most "
           << limits::kMaxTensorElements << ")";
  plan.scoring = ScoringFunc::sigmoid;
  plan.selectOn = SelectionSource::logits;
  plan.scaleExpertInput = true;
  plan.sharedFfn = plan.ffn;
  plan.sharedPrefix = "shared_expert.";
  plan.naming = ExpertNaming::FusedTransposed;
  plan.prefix = multimodal ? "language_model.model.layers.{L}.feed_forward."
                           : "model.layers.{L}.feed_forward.";
  plan.routerName = "router.weight";
  std::vector<int64_t> listed = *moeLayers;
  int64_t every = *step;
  // Like Llama4TextConfig, an unset (or null) 'moe_layers' falls back to
  // the interleave step.
  if (config.has("moe_layers")) {
    plan.isMoELayer = [listed](int64_t layer) {
      return llvm::find(listed, layer) != listed.end();
    };
    plan.denseRule = "'moe_layers'";
  } else {
    plan.isMoELayer = [every](int64_t layer) {
      return (layer + 1) % every == 0;
    };
    plan.denseRule = "'interleave_moe_layer_step' = " + std::to_string(every);
  }
  return success();
}

/// Builds `func.func @<model>_layer<L>` for one layer of `plan`.
void buildLayer(OpBuilder &b, Location loc, const LayerPlan &plan,
                int64_t layer) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  int64_t H = plan.hidden, E = plan.numExperts, F = plan.ffn,
          Fs = plan.sharedFfn;
  std::string prefix = plan.prefix;
  prefix.replace(prefix.find("{L}"), 3, std::to_string(layer));

  struct Arg {
    Type type;
    NamedAttrList attrs;
  };
  SmallVector<Arg> args;
  auto addArg = [&](ArrayRef<int64_t> shape, StringRef name) -> unsigned {
    Arg arg{RankedTensorType::get(shape, f32), {}};
    if (!name.empty())
      arg.attrs.set(kWeightNameAttr, b.getStringAttr(prefix + name.str()));
    args.push_back(std::move(arg));
    return args.size() - 1;
  };
  auto setView = [&](unsigned index, ArrayRef<int64_t> source,
                     ArrayRef<int64_t> slice, ArrayRef<int64_t> transpose) {
    NamedAttrList &attrs = args[index].attrs;
    attrs.set(kWeightSourceShapeAttr, b.getDenseI64ArrayAttr(source));
    if (!slice.empty())
      attrs.set(kWeightSliceAttr, b.getDenseI64ArrayAttr(slice));
    attrs.set(kWeightTransposeAttr, b.getDenseI64ArrayAttr(transpose));
  };

  unsigned input = addArg({ShapedType::kDynamic, H}, "");
  unsigned router = addArg({E, H}, plan.routerName);
  std::optional<unsigned> bias;
  if (plan.correctionBias)
    bias = addArg({E}, "gate.e_score_correction_bias");
  unsigned gate = 0, up = 0, down = 0;
  switch (plan.naming) {
  case ExpertNaming::Mixtral:
    gate = addArg({E, F, H}, "experts.{e}.w1.weight");
    up = addArg({E, F, H}, "experts.{e}.w3.weight");
    down = addArg({E, H, F}, "experts.{e}.w2.weight");
    break;
  case ExpertNaming::Projections:
    gate = addArg({E, F, H}, "experts.{e}.gate_proj.weight");
    up = addArg({E, F, H}, "experts.{e}.up_proj.weight");
    down = addArg({E, H, F}, "experts.{e}.down_proj.weight");
    break;
  case ExpertNaming::FusedTransposed:
    // gate_up_proj [E,H,2F]: gate is columns [0,F), up [F,2F), each
    // transposed to [E,F,H]; down_proj [E,F,H] transposed to [E,H,F].
    gate = addArg({E, F, H}, "experts.gate_up_proj");
    // 2 * F cannot overflow: F <= kMaxFfn.
    setView(gate, {E, H, 2 * F}, {2, 0, F}, {0, 2, 1});
    up = addArg({E, F, H}, "experts.gate_up_proj");
    setView(up, {E, H, 2 * F}, {2, F, F}, {0, 2, 1});
    down = addArg({E, H, F}, "experts.down_proj");
    setView(down, {E, F, H}, {}, {0, 2, 1});
    break;
  }
  std::optional<unsigned> sharedGate, sharedUp, sharedDown, sharedSigmoid;
  if (Fs > 0) {
    sharedGate = addArg({Fs, H}, plan.sharedPrefix + "gate_proj.weight");
    sharedUp = addArg({Fs, H}, plan.sharedPrefix + "up_proj.weight");
    sharedDown = addArg({H, Fs}, plan.sharedPrefix + "down_proj.weight");
    if (plan.sharedSigmoidGate)
      sharedSigmoid = addArg({1, H}, "shared_expert_gate.weight");
  }

  SmallVector<Type> types;
  for (const Arg &arg : args)
    types.push_back(arg.type);
  Type activationType = types[input];
  std::string name = plan.modelType + "_layer" + std::to_string(layer);
  auto func = func::FuncOp::create(
      b, loc, name, FunctionType::get(ctx, types, {activationType}));
  for (unsigned i = 0; i < args.size(); ++i)
    func.setArgAttrs(i, args[i].attrs.getDictionary(ctx));
  Block *body = func.addEntryBlock();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(body);
  auto value = [&](std::optional<unsigned> index) -> Value {
    return index ? body->getArgument(*index) : Value();
  };
  auto routing = RoutingAttr::get(ctx, plan.topK, plan.scoring, plan.selectOn,
                                  plan.renormalize, APFloat(plan.scalingFactor),
                                  plan.nGroup, plan.topkGroup, plan.groupScore);
  Value output = LayerOp::create(
      b, loc, activationType, value(input), value(router), value(bias),
      value(gate), value(up), value(down), value(sharedGate), value(sharedUp),
      value(sharedDown), value(sharedSigmoid), routing,
      ActivationAttr::get(ctx, Activation::swiglu), CapacityAttr(),
      plan.scaleExpertInput ? b.getUnitAttr() : UnitAttr());
  func::ReturnOp::create(b, loc, output);
}

/// The dtype the checkpoint stores, as moec names it ("bf16", "f16",
/// "f32"): `torch_dtype`, or transformers 5's `dtype`, of the language
/// model's config, else of the root (multimodal Llama 4). None when absent
/// or another value ("auto", an FP8 type): --weight-type=auto then keeps
/// f32. A value that is not a string is an error at its key.
FailureOr<std::optional<std::string>>
readCheckpointDType(const ConfigReader &config, const ConfigReader &root) {
  for (const ConfigReader *reader : {&config, &root})
    for (StringRef key : {"torch_dtype", "dtype"}) {
      if (!reader->has(key))
        continue;
      FailureOr<std::string> name = reader->optionalString(key, "");
      if (failed(name))
        return failure();
      return llvm::StringSwitch<std::optional<std::string>>(*name)
          .Case("bfloat16", std::string("bf16"))
          .Case("float16", std::string("f16"))
          .Case("float32", std::string("f32"))
          .Default(std::nullopt);
    }
  return std::optional<std::string>();
}
} // namespace

OwningOpRef<ModuleOp> mlir::moe::importHFConfig(StringRef configText,
                                                StringRef configPath,
                                                std::optional<int64_t> layer,
                                                MLIRContext *context) {
  context->loadDialect<MoEDialect, func::FuncDialect>();
  Location fileLoc = locateOffset(configText, 0, configPath, context);
  // llvm::json::parse recurses once per nesting level (and so does the
  // value's destructor): bound the text and its depth before it runs.
  std::string tooLarge =
      ::moe::checkJsonBounds(configText.data(), configText.size(), "the config");
  if (!tooLarge.empty()) {
    emitError(fileLoc) << tooLarge;
    return nullptr;
  }
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(configText);
  if (!parsed) {
    // "[line:column, byte=offset]: what" (ParseError keeps its fields
    // private); reported at the offset, counted as for config keys.
    std::string message = llvm::toString(parsed.takeError());
    StringRef what = message;
    size_t byte = what.find("byte="), close = what.find("]: ");
    size_t at = 0;
    if (what.starts_with("[") && byte < close && close != StringRef::npos &&
        !what.slice(byte + 5, close).getAsInteger(10, at) &&
        at <= configText.size())
      what = what.drop_front(close + 3);
    else
      at = 0;
    emitError(locateOffset(configText, at, configPath, context))
        << ::moe::jsonParseError("the config", at, what.str());
    return nullptr;
  }
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root) {
    emitError(fileLoc) << "the config: not a JSON object, got "
                       << describe(*parsed);
    return nullptr;
  }
  size_t objectStart = configText.find_first_not_of(" \t\r\n");
  ConfigReader rootReader(*root, configText, objectStart, configPath, context);
  if (!rootReader.has("model_type")) {
    rootReader.error("model_type")
        << "config key 'model_type' is missing (supported: "
        << kSupportedModelTypes << ")";
    return nullptr;
  }
  FailureOr<std::string> modelType =
      rootReader.optionalString("model_type", "");
  if (failed(modelType))
    return nullptr;
  // Multimodal Llama 4 nests the language model's config.
  const llvm::json::Object *object = root;
  bool multimodal = *modelType == "llama4";
  if (multimodal) {
    const llvm::json::Value *textConfig = rootReader.get("text_config");
    object = textConfig ? textConfig->getAsObject() : nullptr;
    if (!object) {
      rootReader.error("text_config")
          << "config key 'text_config' "
          << (textConfig ? "must be an object, got " + describe(*textConfig)
                         : std::string("is missing"))
          << ": a llama4 config nests the language model there";
      return nullptr;
    }
    // A key spelled with escapes is not found: report at the root then.
    if (size_t at = rootReader.findValue("text_config"); at != StringRef::npos)
      objectStart = at;
  }
  ConfigReader config(*object, configText, objectStart, configPath, context);
  LayerPlan plan;
  plan.modelType = multimodal ? "llama4" : *modelType;
  LogicalResult read = failure();
  if (*modelType == "mixtral")
    read = readMixtral(config, plan);
  else if (*modelType == "qwen2_moe")
    read = readQwen(config, plan, /*sharedExpert=*/true);
  else if (*modelType == "qwen3_moe")
    read = readQwen(config, plan, /*sharedExpert=*/false);
  else if (*modelType == "deepseek_v2")
    read = readDeepSeek(config, plan, /*v3=*/false);
  else if (*modelType == "deepseek_v3")
    read = readDeepSeek(config, plan, /*v3=*/true);
  else if (*modelType == "llama4_text" || multimodal)
    read = readLlama4(config, plan, multimodal);
  else
    rootReader.error("model_type")
        << "unsupported model_type " << quote(*modelType)
        << " (supported: " << kSupportedModelTypes << ")";
  if (failed(read))
    return nullptr;
  FailureOr<std::optional<std::string>> checkpointDType =
      readCheckpointDType(config, rootReader);
  if (failed(checkpointDType))
    return nullptr;

  // num_hidden_layers is bounded by now, so neither loop below nor the
  // functions built can run away.
  SmallVector<int64_t> layers;
  if (layer) {
    if (*layer < 0 || *layer >= plan.numLayers) {
      config.error("num_hidden_layers")
          << "layer " << *layer << " is out of range: 'num_hidden_layers' is "
          << plan.numLayers;
      return nullptr;
    }
    if (!plan.isMoELayer(*layer)) {
      config.error("num_hidden_layers")
          << "layer " << *layer << " is a dense layer (by " << plan.denseRule
          << ")";
      return nullptr;
    }
    layers.push_back(*layer);
  } else {
    for (int64_t l = 0; l < plan.numLayers; ++l)
      if (plan.isMoELayer(l))
        layers.push_back(l);
    if (layers.empty()) {
      config.error("num_hidden_layers")
          << "the model has no MoE layer (by " << plan.denseRule << ")";
      return nullptr;
    }
  }

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  OpBuilder b(context);
  b.setInsertionPointToEnd(module->getBody());
  for (int64_t l : layers)
    buildLayer(b, fileLoc, plan, l);
  if (*checkpointDType)
    (*module)->setAttr(kCheckpointDTypeAttr,
                       b.getStringAttr(**checkpointDType));
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

void mlir::moe::registerImportHFConfigTranslation() {
  static llvm::cl::opt<int64_t> layer(
      "layer", llvm::cl::desc("Import only this decoder layer (an MoE layer)"),
      llvm::cl::init(-1));
  TranslateToMLIRRegistration registration(
      "import-hf-config", "Import the MoE layers of a Hugging Face config.json",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        const llvm::MemoryBuffer *buffer =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        std::optional<int64_t> only;
        if (layer.getNumOccurrences())
          only = layer.getValue();
        return importHFConfig(buffer->getBuffer(),
                              buffer->getBufferIdentifier(), only, context);
      });
}
