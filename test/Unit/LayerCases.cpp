//===- LayerCases.cpp - test layers shared by the execution tests ---------===//

#include "LayerCases.h"

#include <algorithm>
#include <cmath>
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
  }
  return "";
}

bool gated(Activation a) {
  return a == Activation::SwiGLU || a == Activation::GeGLU;
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
  os << "#moe.routing<top_k = " << r.topK << ", scoring = "
     << (r.scoring == Scoring::Softmax ? "softmax" : "sigmoid")
     << ", select_on = "
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
  os << ">";
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
  add("mlp.gate.weight", {E * std::max<int64_t>(spec.softMoESlots, 1), H},
      1.0f);
  for (int64_t h = 0; h < H && spec.collapseBoost != 0.0f; ++h)
    layer.weights.back().values[h] = spec.collapseBoost;
  if (spec.bias)
    add("mlp.gate.e_score_correction_bias", {E}, 0.5f);
  if (gated(spec.activation))
    add("mlp.experts.{e}.gate_proj.weight", {E, F, H}, scale);
  add("mlp.experts.{e}.up_proj.weight", {E, F, H}, scale);
  add("mlp.experts.{e}.down_proj.weight", {E, H, F}, scale);
  if (Fs) {
    if (gated(spec.activation))
      add("mlp.shared_expert.gate_proj.weight", {Fs, H}, scale);
    add("mlp.shared_expert.up_proj.weight", {Fs, H}, scale);
    add("mlp.shared_expert.down_proj.weight", {H, Fs}, scale);
    if (spec.sharedSigmoidGate)
      add("mlp.shared_expert_gate.weight", {1, H}, scale);
  }
  return layer;
}

std::string TestLayer::source() const {
  std::string xType = tensorType({-1, spec.hidden});
  std::vector<std::string> names = {"%wg"};
  if (spec.bias)
    names.push_back("%b");
  bool isGated = gated(spec.activation);
  if (isGated)
    names.push_back("%g");
  names.insert(names.end(), {"%u", "%d"});
  if (spec.sharedFfn) {
    if (isGated)
      names.push_back("%sg");
    names.insert(names.end(), {"%su", "%sd"});
    if (spec.sharedSigmoidGate)
      names.push_back("%ssg");
  }
  std::ostringstream os;
  os << "func.func @layer(%x: " << xType;
  for (size_t i = 0; i < weights.size(); ++i)
    os << ", " << names[i] << ": " << tensorType(weights[i].shape)
       << " {moe.weight = \"" << weights[i].name << "\"}";
  os << ") -> " << xType << " {\n  %y = moe.layer %x router(%wg"
     << (spec.bias ? ", bias %b" : "") << ") experts("
     << (isGated ? "gate %g, " : "") << "up %u, down %d)";
  if (spec.sharedFfn)
    os << " shared(" << (isGated ? "gate %sg, " : "") << "up %su, down %sd"
       << (spec.sharedSigmoidGate ? ", sigmoid_gate %ssg" : "") << ")";
  os << " {router = " << routerAttr(spec) << ", activation = #moe<activation "
     << activationName(spec.activation) << ">";
  if (spec.capacity)
    os << std::fixed
       << ", capacity = #moe.capacity<factor = " << spec.capacity->factor
       << ", drop_order = "
       << (spec.capacity->dropOrder == DropOrder::TokenOrder ? "token_order"
                                                             : "lowest_weight")
       << ", dropped = "
       << (spec.capacity->dropped == DroppedSlot::Zero ? "zero" : "input")
       << ">";
  if (spec.scaleExpertInput)
    os << ", scale_expert_input";
  os << "} : (" << xType;
  for (const WeightArg &w : weights)
    os << ", " << tensorType(w.shape);
  os << ") -> " << xType << "\n  return %y : " << xType << "\n}\n";
  return os.str();
}

LayerConfig TestLayer::referenceConfig() const {
  LayerConfig config;
  config.hidden = spec.hidden;
  config.numExperts = spec.numExperts;
  config.activation = spec.activation;
  config.routing = spec.routing;
  config.expertChoiceFactor = spec.expertChoiceFactor;
  config.softMoESlots = spec.softMoESlots;
  config.capacity = spec.capacity;
  config.scaleExpertInput = spec.scaleExpertInput;
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
  w.experts = {data("experts.{e}.gate_proj.weight"),
               data("experts.{e}.up_proj.weight"),
               data("experts.{e}.down_proj.weight"), spec.ffn};
  if (spec.sharedFfn)
    w.shared =
        FfnWeights{data("shared_expert.gate_proj.weight"),
                   data("shared_expert.up_proj.weight"),
                   data("shared_expert.down_proj.weight"), spec.sharedFfn};
  w.sharedSigmoidGate = data("shared_expert_gate.weight");
  return w;
}
