//===- LayerCases.cpp - test layers shared by the execution tests ---------===//

#include "LayerCases.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

using namespace moe::reference;
using namespace moe::test;

namespace {
const char *activationName(Activation a) {
  switch (a) {
  case Activation::SwiGLU:
    return "swiglu";
  case Activation::GeGLU:
    return "geglu";
  case Activation::GELU:
    return "gelu";
  case Activation::ReLU:
    return "relu";
  case Activation::ReLU2:
    return "relu2";
  case Activation::GELUTanh:
    return "gelu_tanh";
  case Activation::GeGLUTanh:
    return "geglu_tanh";
  case Activation::SiLU:
    return "silu";
  case Activation::ClampedSwiGLU:
    return "clamped_swiglu";
  }
  return "";
}

const char *scoringName(Scoring s) {
  switch (s) {
  case Scoring::Softmax:
    return "softmax";
  case Scoring::Sigmoid:
    return "sigmoid";
  case Scoring::SqrtSoftplus:
    return "sqrtsoftplus";
  case Scoring::SparseMixer:
    return "sparsemixer";
  }
  return "";
}

/// A double as an MLIR float literal that reads back to the same value.
std::string exactFloat(double value) {
  std::ostringstream os;
  os << std::scientific << std::setprecision(17) << value;
  return os.str();
}

/// `#moe.glu_clamp` of `clamp` (alpha only where the form takes one).
std::string gluClampAttr(const GluClamp &clamp) {
  std::ostringstream os;
  os << "#moe.glu_clamp<";
  if (clamp.form == GluClampForm::GptOss)
    os << "alpha = " << exactFloat(clamp.alpha) << ", ";
  os << "limit = " << exactFloat(clamp.limit);
  if (clamp.form == GluClampForm::ClampGate)
    os << ", form = clamp_gate";
  if (clamp.form == GluClampForm::ClampSilu)
    os << ", form = clamp_silu";
  os << ">";
  return os.str();
}

std::string routerAttr(const LayerSpec &spec) {
  std::ostringstream os;
  os << std::fixed;
  if (spec.softMoESlots > 0)
    return "#moe.soft_moe<slots_per_expert = " +
           std::to_string(spec.softMoESlots) + ">";
  if (!spec.routing) {
    os << "#moe.expert_choice<capacity_factor = " << spec.expertChoiceFactor
       << ">";
    return os.str();
  }
  const RoutingConfig &r = *spec.routing;
  os << "#moe.routing<top_k = " << r.topK
     << ", scoring = " << scoringName(r.scoring) << ", select_on = "
     << (r.selectOn == SelectOn::Scores ? "scores" : "logits")
     << ", renormalize = " << (r.renormalize ? "true" : "false")
     << ", scaling_factor = " << r.scalingFactor << ", n_group = " << r.nGroup
     << ", topk_group = " << r.topkGroup << ", group_score = "
     << (r.groupScore == GroupScore::Max ? "max" : "top2_sum");
  if (r.rankLimit > 0) {
    os << ", rank_limit = " << r.rankLimit << ", expert_ranks = [";
    for (size_t e = 0; e < r.expertRanks.size(); ++e)
      os << (e ? ", " : "") << r.expertRanks[e];
    os << "]";
  }
  if (r.weights == RoutingWeights::SoftmaxSelected)
    os << ", weights = softmax_selected";
  if (r.renormalize)
    os << ", renorm_p = " << exactFloat(r.renormP)
       << ", renorm_epsilon = " << exactFloat(r.renormEpsilon)
       << ", renorm_clamp = " << (r.renormClamp ? "true" : "false");
  if (r.scoring == Scoring::SparseMixer)
    os << ", jitter_eps = " << exactFloat(r.jitterEps);
  os << ">";
  return os.str();
}

/// `#moe.capacity` in the form `capacity` picks (count, token fraction or
/// factor, as capacityLimit reads them).
std::string capacityAttr(const CapacityConfig &capacity) {
  std::ostringstream os;
  os << "#moe.capacity<";
  if (capacity.count > 0)
    os << "count = " << capacity.count;
  else if (capacity.tokenFraction > 0.0)
    os << "token_fraction = " << exactFloat(capacity.tokenFraction);
  else
    os << "factor = " << exactFloat(capacity.factor);
  const char *orders[] = {"token_order", "lowest_weight", "choice_order"};
  os << ", drop_order = " << orders[static_cast<int>(capacity.dropOrder)]
     << ", dropped = "
     << (capacity.dropped == DroppedSlot::Zero ? "zero" : "input")
     << ", renormalize = " << (capacity.renormalize ? "true" : "false")
     << ", output_scale = " << exactFloat(capacity.outputScale) << ">";
  return os.str();
}

std::string tensorType(const std::vector<int64_t> &shape) {
  std::string type = "tensor<";
  for (int64_t d : shape)
    type += (d < 0 ? std::string("?") : std::to_string(d)) + "x";
  return type + "f32>";
}

const WeightArg *findWeight(const std::vector<WeightArg> &weights,
                            const std::string &suffix) {
  for (const WeightArg &w : weights)
    if (w.name.size() >= suffix.size() &&
        w.name.compare(w.name.size() - suffix.size(), suffix.size(), suffix) ==
            0)
      return &w;
  return nullptr;
}
} // namespace

std::vector<float> moe::test::randomTensor(std::mt19937 &rng, size_t n,
                                           float scale) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

float moe::test::normwiseError(const std::vector<float> &expected,
                               const std::vector<float> &actual) {
  float maxRef = 0.0f, maxDiff = 0.0f;
  for (size_t i = 0; i < expected.size(); ++i) {
    maxRef = std::max(maxRef, std::fabs(expected[i]));
    maxDiff = std::max(maxDiff, std::fabs(expected[i] - actual[i]));
  }
  return maxDiff / std::max(maxRef, 1e-30f);
}

RoutingConfig moe::test::softmaxTopK(int64_t k, bool renormalize) {
  RoutingConfig r;
  r.topK = k;
  r.renormalize = renormalize;
  return r;
}

RoutingConfig moe::test::deepSeekV3Routing() {
  RoutingConfig r;
  r.topK = 4;
  r.scoring = Scoring::Sigmoid;
  r.renormalize = true;
  r.scalingFactor = 2.5f;
  r.nGroup = 4;
  r.topkGroup = 2;
  r.groupScore = GroupScore::Top2Sum;
  return r;
}

RoutingConfig moe::test::llama4Routing() {
  RoutingConfig r;
  r.topK = 1;
  r.scoring = Scoring::Sigmoid;
  r.selectOn = SelectOn::Logits;
  return r;
}

LayerSpec moe::test::deepSeekV3Spec() {
  LayerSpec spec;
  spec.numExperts = 16;
  spec.routing = deepSeekV3Routing();
  spec.bias = true;
  spec.sharedFfn = 24;
  return spec;
}

LayerSpec moe::test::llama4Spec() {
  LayerSpec spec;
  spec.routing = llama4Routing();
  spec.scaleExpertInput = true;
  spec.sharedFfn = 16;
  return spec;
}

TestLayer moe::test::makeTestLayer(const LayerSpec &spec, uint32_t seed) {
  TestLayer layer;
  layer.spec = spec;
  int64_t H = spec.hidden, F = spec.ffn, E = spec.numExperts,
          Fs = spec.sharedFfn;
  std::mt19937 rng(seed);
  float scale = 1.0f / std::sqrt(static_cast<float>(H));
  auto add = [&](std::string name, std::vector<int64_t> shape, float s) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    layer.weights.push_back({std::move(name), shape, randomTensor(rng, n, s)});
  };
  // Soft MoE's router has a row per slot.
  // The ids the router chooses among: real and zero experts.
  int64_t routed = E + spec.zeroExperts;
  add("mlp.gate.weight",
      {spec.softMoESlots > 0 ? E * spec.softMoESlots : routed, H}, 1.0f);
  if (spec.tableRows > 0) {
    int64_t K = spec.routing->topK;
    std::vector<int32_t> experts(E);
    for (int64_t r = 0; r < spec.tableRows; ++r) {
      for (int64_t e = 0; e < E; ++e)
        experts[e] = static_cast<int32_t>(e);
      std::shuffle(experts.begin(), experts.end(), rng);
      layer.expertTable.insert(layer.expertTable.end(), experts.begin(),
                               experts.begin() + K);
    }
  }
  for (int64_t h = 0; h < H && spec.collapseBoost != 0.0f; ++h)
    layer.weights.back().values[h] = spec.collapseBoost;
  // With zero experts the bias corrects softmax probabilities (LongCat),
  // which a bias of 0.5 would outweigh: every token would pick alike.
  if (spec.bias)
    add("mlp.gate.e_score_correction_bias", {routed},
        spec.zeroExperts > 0 ? 0.05f : 0.5f);
  // Scales stay positive, around 1, as trained ones are.
  auto addScale = [&](std::string name, int64_t n) {
    add(std::move(name), {n}, 0.5f);
    for (float &v : layer.weights.back().values)
      v += 1.0f;
  };
  if (spec.routerBias)
    add("mlp.router.bias", {routed}, 0.5f);
  if (spec.routerInputNorm)
    addScale("mlp.router.scale", H);
  if (spec.expertScale)
    addScale("mlp.router.per_expert_scale", routed);
  if (isGated(spec.activation))
    add("mlp.experts.{e}.gate_proj.weight", {E, F, H}, scale);
  add("mlp.experts.{e}.up_proj.weight", {E, F, H}, scale);
  add("mlp.experts.{e}.down_proj.weight", {E, H, F}, scale);
  if (Fs) {
    if (isGated(spec.sharedActivation.value_or(spec.activation)))
      add("mlp.shared_expert.gate_proj.weight", {Fs, H}, scale);
    add("mlp.shared_expert.up_proj.weight", {Fs, H}, scale);
    add("mlp.shared_expert.down_proj.weight", {H, Fs}, scale);
    if (spec.sharedSigmoidGate)
      add("mlp.shared_expert_gate.weight", {1, H}, scale);
  }
  // Biases as large as a projection's typical value, so that each one
  // visibly moves the output.
  if (spec.expertBiases) {
    if (isGated(spec.activation))
      add("mlp.experts.{e}.gate_proj.bias", {E, F}, 0.5f);
    add("mlp.experts.{e}.up_proj.bias", {E, F}, 0.5f);
    add("mlp.experts.{e}.down_proj.bias", {E, H}, 0.5f);
  }
  if (spec.outputBias)
    add("mlp.bias", {H}, 0.5f);
  for (const std::string &norm : spec.norms)
    addScale("mlp." + norm + "_norm.weight", H);
  return layer;
}

std::vector<int32_t> moe::test::randomTokenIds(std::mt19937 &rng, int64_t count,
                                               int64_t rows) {
  std::uniform_int_distribution<int32_t> pick(0,
                                              static_cast<int32_t>(rows - 1));
  std::vector<int32_t> ids(count);
  for (int32_t &id : ids)
    id = pick(rng);
  return ids;
}

std::string TestLayer::source() const {
  std::string xType = tensorType({-1, spec.hidden});
  bool byTable = !expertTable.empty();
  std::string tableType =
      byTable ? "tensor<" + std::to_string(spec.tableRows) + "x" +
                    std::to_string(spec.routing->topK) + "xi32>"
              : "";
  std::vector<std::string> names = {"%wg"};
  if (spec.bias)
    names.push_back("%b");
  if (spec.routerBias)
    names.push_back("%rb");
  if (spec.routerInputNorm)
    names.push_back("%is");
  if (spec.expertScale)
    names.push_back("%es");
  bool hasGate = isGated(spec.activation);
  if (hasGate)
    names.push_back("%g");
  names.insert(names.end(), {"%u", "%d"});
  bool sharedHasGate = isGated(spec.sharedActivation.value_or(spec.activation));
  if (spec.sharedFfn) {
    if (sharedHasGate)
      names.push_back("%sg");
    names.insert(names.end(), {"%su", "%sd"});
    if (spec.sharedSigmoidGate)
      names.push_back("%ssg");
  }
  if (spec.expertBiases) {
    if (hasGate)
      names.push_back("%bg");
    names.insert(names.end(), {"%bu", "%bd"});
  }
  if (spec.outputBias)
    names.push_back("%ob");
  for (const std::string &norm : spec.norms)
    names.push_back("%n_" + norm);
  std::ostringstream os;
  os << "func.func @layer(%x: " << xType;
  if (byTable)
    os << ", %ids: tensor<?xi32>";
  for (size_t i = 0; i < weights.size(); ++i)
    os << ", " << names[i] << ": " << tensorType(weights[i].shape)
       << " {moe.weight = \"" << weights[i].name << "\"}";
  if (byTable)
    os << ", %table: " << tableType << " {moe.weight = \"" << kExpertTableName
       << "\"}";
  os << ") -> " << xType << " {\n  %y = moe.layer %x router(%wg"
     << (spec.bias ? ", bias %b" : "")
     << (spec.routerBias ? ", router_bias %rb" : "")
     << (spec.routerInputNorm ? ", input_scale %is" : "")
     << (spec.expertScale ? ", expert_scale %es" : "") << ")"
     << (byTable ? " table(%table) token_ids(%ids)" : "") << " experts("
     << (hasGate ? "gate %g, " : "") << "up %u, down %d";
  if (spec.expertBiases)
    os << (hasGate ? ", gate_bias %bg" : "") << ", up_bias %bu, down_bias %bd";
  os << ")";
  if (spec.sharedFfn)
    os << " shared(" << (sharedHasGate ? "gate %sg, " : "")
       << "up %su, down %sd"
       << (spec.sharedSigmoidGate ? ", sigmoid_gate %ssg" : "") << ")";
  if (spec.outputBias)
    os << " output_bias(%ob)";
  for (size_t i = 0; i < spec.norms.size(); ++i)
    os << (i == 0 ? " norms(" : ", ") << spec.norms[i] << " %n_"
       << spec.norms[i] << (i + 1 == spec.norms.size() ? ")" : "");
  os << " {router = " << routerAttr(spec) << ", activation = #moe<activation "
     << activationName(spec.activation) << ">";
  if (spec.activation == Activation::ClampedSwiGLU)
    os << ", glu_clamp = " << gluClampAttr(spec.gluClamp);
  if (spec.sharedActivation) {
    os << ", shared_activation = #moe<activation "
       << activationName(*spec.sharedActivation) << ">";
    if (*spec.sharedActivation == Activation::ClampedSwiGLU)
      os << ", shared_glu_clamp = " << gluClampAttr(spec.sharedGluClamp);
  }
  if (spec.sharedAverage)
    os << ", shared_combine = #moe<shared_combine average>";
  if (spec.capacity)
    os << ", capacity = " << capacityAttr(*spec.capacity);
  if (spec.scaleExpertInput)
    os << ", scale_expert_input";
  if (!spec.norms.empty())
    os << ", norm_epsilon = " << exactFloat(spec.normEpsilon);
  if (spec.zeroExperts > 0)
    os << ", zero_experts = " << spec.zeroExperts;
  if (spec.routerInputNorm)
    os << ", router_input_norm = #moe.router_input_norm<epsilon = "
       << exactFloat(spec.routerInputNorm->epsilon)
       << ", multiplier = " << exactFloat(spec.routerInputNorm->multiplier)
       << ">";
  // Operand types in the op's operand order: the table and ids follow the
  // router's operands.
  os << "} : (" << xType;
  size_t routerOperands = 1 + spec.bias + spec.routerBias +
                          spec.routerInputNorm.has_value() + spec.expertScale;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (byTable && i == routerOperands)
      os << ", " << tableType << ", tensor<?xi32>";
    os << ", " << tensorType(weights[i].shape);
  }
  os << ") -> " << xType << "\n  return %y : " << xType << "\n}\n";
  return os.str();
}

LayerConfig TestLayer::referenceConfig() const {
  LayerConfig config;
  config.hidden = spec.hidden;
  config.numExperts = spec.numExperts;
  config.activation = spec.activation;
  config.gluClamp = spec.gluClamp;
  config.sharedActivation = spec.sharedActivation;
  config.sharedGluClamp = spec.sharedGluClamp;
  config.sharedAverage = spec.sharedAverage;
  config.routing = spec.routing;
  config.expertChoiceFactor = spec.expertChoiceFactor;
  config.softMoESlots = spec.softMoESlots;
  config.capacity = spec.capacity;
  config.scaleExpertInput = spec.scaleExpertInput;
  config.routerInputNorm = spec.routerInputNorm;
  config.normEpsilon = spec.normEpsilon;
  config.zeroExperts = spec.zeroExperts;
  return config;
}

LayerWeights TestLayer::referenceWeights() const {
  auto data = [&](const std::string &suffix) -> const float * {
    const WeightArg *w = findWeight(weights, suffix);
    return w ? w->values.data() : nullptr;
  };
  LayerWeights w;
  w.router = data("mlp.gate.weight");
  w.correctionBias = data("e_score_correction_bias");
  w.routerBias = data("mlp.router.bias");
  w.routerInputScale = data("mlp.router.scale");
  w.expertScale = data("mlp.router.per_expert_scale");
  w.experts = {data("experts.{e}.gate_proj.weight"),
               data("experts.{e}.up_proj.weight"),
               data("experts.{e}.down_proj.weight"),
               spec.ffn,
               data("experts.{e}.gate_proj.bias"),
               data("experts.{e}.up_proj.bias"),
               data("experts.{e}.down_proj.bias")};
  w.outputBias = data("mlp.bias");
  w.expertInputNorm = data("mlp.expert_input_norm.weight");
  w.expertOutputNorm = data("mlp.expert_output_norm.weight");
  w.sharedInputNorm = data("mlp.shared_input_norm.weight");
  w.sharedOutputNorm = data("mlp.shared_output_norm.weight");
  w.outputNorm = data("mlp.output_norm.weight");
  if (spec.sharedFfn)
    w.shared =
        FfnWeights{data("shared_expert.gate_proj.weight"),
                   data("shared_expert.up_proj.weight"),
                   data("shared_expert.down_proj.weight"), spec.sharedFfn};
  w.sharedSigmoidGate = data("shared_expert_gate.weight");
  if (!expertTable.empty())
    w.expertTable =
        ExpertTable{expertTable.data(), spec.tableRows, /*tokenIds=*/nullptr};
  return w;
}
