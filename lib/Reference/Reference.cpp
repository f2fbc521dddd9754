//===- Reference.cpp - plain C++ MoE semantics (test oracle) --------------===//
//
// Written for obviousness, not speed: each function follows the table of
// DESIGN.md §4 line by line.
//
//===----------------------------------------------------------------------===//

#include "moe/Reference/Reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

using namespace moe::reference;

namespace {
float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
/// PyTorch's softplus (beta 1, threshold 20), under a square root.
float sqrtSoftplus(float x) {
  return std::sqrt(x > 20.0f ? x : std::log1p(std::exp(x)));
}
float silu(float x) { return x * sigmoid(x); }
float gelu(float x) {
  return 0.5f * x * (1.0f + std::erf(x / std::sqrt(2.0f)));
}
/// transformers' gelu_pytorch_tanh (activations.py, GELUTanh).
float geluTanh(float x) {
  const float k = std::sqrt(2.0f / 3.14159265358979323846f);
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

double dot(const float *a, const float *b, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i)
    sum += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return sum;
}

std::vector<float> softmax(const float *logits, int64_t n) {
  float maxLogit = *std::max_element(logits, logits + n);
  std::vector<double> e(n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i)
    sum += e[i] = std::exp(static_cast<double>(logits[i] - maxLogit));
  std::vector<float> probs(n);
  for (int64_t i = 0; i < n; ++i)
    probs[i] = static_cast<float>(e[i] / sum);
  return probs;
}

/// Indices of the `k` largest values, largest first; ties to the lower index.
std::vector<int64_t> topK(const std::vector<float> &values, int64_t k) {
  std::vector<int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return values[a] > values[b]; });
  order.resize(k);
  return order;
}

/// PhiMoE's sparsemixer weights (training = False) for the experts `chosen`
/// in order by logit: for slot k, the softmax at the chosen expert of the
/// logits not chosen before, with those too far below its logit m masked:
/// (m - l) / max(|l|, m) > 2·jitter. The chosen expert's term is exp(0).
std::vector<float> sparseMixerWeights(const float *l, int64_t numExperts,
                                      const std::vector<int64_t> &chosen,
                                      double jitterEps) {
  std::vector<float> weights;
  std::vector<bool> taken(numExperts, false);
  for (int64_t expert : chosen) {
    float m = l[expert];
    double sum = 0.0;
    for (int64_t e = 0; e < numExperts; ++e) {
      if (taken[e])
        continue;
      float factor = std::max(std::fabs(l[e]), m);
      bool masked = (m - l[e]) / factor > static_cast<float>(2.0 * jitterEps);
      if (!masked)
        sum += std::exp(static_cast<double>(l[e] - m));
    }
    weights.push_back(static_cast<float>(1.0 / sum));
    taken[expert] = true;
  }
  return weights;
}

/// Router probabilities of one token, for statistics: softmax (also
/// sparsemixer's router distribution), or sigmoid normalised to sum 1.
std::vector<float> routerProbs(const float *logits, int64_t numExperts,
                               Scoring scoring) {
  if (scoring == Scoring::Softmax || scoring == Scoring::SparseMixer)
    return softmax(logits, numExperts);
  std::vector<float> probs(numExperts);
  double sum = 0.0;
  for (int64_t e = 0; e < numExperts; ++e)
    sum += probs[e] = sigmoid(logits[e]);
  for (float &p : probs)
    p = static_cast<float>(p / sum);
  return probs;
}
} // namespace

TokenRouting moe::reference::routeTokens(const float *logits, int64_t numTokens,
                                         int64_t numExperts,
                                         const RoutingConfig &config,
                                         const float *bias,
                                         const float *expertScale,
                                         const ExpertTable *table) {
  TokenRouting routing;
  routing.numTokens = numTokens;
  routing.topK = config.topK;
  routing.experts.reserve(numTokens * config.topK);
  routing.weights.reserve(numTokens * config.topK);
  const float minusInf = -std::numeric_limits<float>::infinity();
  for (int64_t t = 0; t < numTokens; ++t) {
    const float *l = logits + t * numExperts;
    // Sparsemixer has no per-expert score: it selects on the logits.
    std::vector<float> scores(numExperts);
    if (config.scoring == Scoring::Softmax)
      scores = softmax(l, numExperts);
    else if (config.scoring == Scoring::Sigmoid)
      for (int64_t e = 0; e < numExperts; ++e)
        scores[e] = sigmoid(l[e]);
    else if (config.scoring == Scoring::SqrtSoftplus)
      for (int64_t e = 0; e < numExperts; ++e)
        scores[e] = sqrtSoftplus(l[e]);

    // What top-k ranks: the raw logits, or the scores plus the bias.
    std::vector<float> select(numExperts);
    for (int64_t e = 0; e < numExperts; ++e)
      select[e] = config.selectOn == SelectOn::Logits
                      ? l[e]
                      : scores[e] + (bias ? bias[e] : 0.0f);

    // Group- or rank-limited: score each group (rank) over its members in
    // expert order, keep the best, mask the rest with -inf. Contiguous
    // groups are ranks with expertRanks[e] = e / (E / n_group).
    std::vector<int64_t> groupOf;
    int64_t numGroups = 0, kept = 0;
    if (config.nGroup > 1) {
      for (int64_t e = 0; e < numExperts; ++e)
        groupOf.push_back(e / (numExperts / config.nGroup));
      numGroups = config.nGroup;
      kept = config.topkGroup;
    } else if (config.rankLimit > 0) {
      groupOf = config.expertRanks;
      numGroups = *std::max_element(groupOf.begin(), groupOf.end()) + 1;
      kept = config.rankLimit;
    }
    if (numGroups > 0) {
      std::vector<float> groupScores(numGroups);
      for (int64_t g = 0; g < numGroups; ++g) {
        std::vector<float> members;
        for (int64_t e = 0; e < numExperts; ++e)
          if (groupOf[e] == g)
            members.push_back(select[e]);
        std::vector<int64_t> best = topK(members, members.size() >= 2 ? 2 : 1);
        groupScores[g] = config.groupScore == GroupScore::Max
                             ? members[best[0]]
                             : members[best[0]] + members[best[1]];
      }
      std::vector<bool> keep(numGroups, false);
      for (int64_t g : topK(groupScores, kept))
        keep[g] = true;
      for (int64_t e = 0; e < numExperts; ++e)
        if (!keep[groupOf[e]])
          select[e] = minusInf;
    }

    std::vector<int64_t> chosen = topK(select, config.topK);
    if (table)
      for (int64_t k = 0; k < config.topK; ++k)
        chosen[k] = table->table[table->tokenIds[t] * config.topK + k];
    std::vector<float> weights(config.topK);
    if (config.scoring == Scoring::SparseMixer) {
      weights = sparseMixerWeights(l, numExperts, chosen, config.jitterEps);
    } else if (config.weights == RoutingWeights::SoftmaxSelected) {
      std::vector<float> selected(config.topK);
      for (int64_t k = 0; k < config.topK; ++k)
        selected[k] = l[chosen[k]];
      weights = softmax(selected.data(), config.topK);
    } else {
      for (int64_t k = 0; k < config.topK; ++k)
        weights[k] = scores[chosen[k]];
    }
    if (config.renormalize) {
      // The p-norm; p = 1 is the plain float sum (weights are >= 0).
      float norm = 0.0f;
      if (config.renormP == 1.0) {
        for (float w : weights)
          norm += w;
      } else {
        double sum = 0.0;
        for (float w : weights)
          sum += std::pow(std::fabs(static_cast<double>(w)), config.renormP);
        norm = static_cast<float>(std::pow(sum, 1.0 / config.renormP));
      }
      auto epsilon = static_cast<float>(config.renormEpsilon);
      float denominator =
          config.renormClamp ? std::max(norm, epsilon) : norm + epsilon;
      for (float &w : weights)
        w /= denominator;
    }
    for (int64_t k = 0; k < config.topK; ++k) {
      float w = weights[k] * config.scalingFactor;
      if (expertScale)
        w *= expertScale[chosen[k]];
      routing.experts.push_back(static_cast<int32_t>(chosen[k]));
      routing.weights.push_back(w);
    }
  }
  return routing;
}

int64_t moe::reference::capacityLimit(const CapacityConfig &capacity,
                                      int64_t numTokens, int64_t topK,
                                      int64_t numExperts) {
  if (capacity.count > 0)
    return capacity.count;
  if (capacity.tokenFraction > 0.0)
    return static_cast<int64_t>(
        std::ceil(capacity.tokenFraction * static_cast<double>(numTokens)));
  return static_cast<int64_t>(
      std::ceil(capacity.factor * static_cast<double>(numTokens * topK) /
                static_cast<double>(numExperts)));
}

/// Under `renormalize`, each token's kept weights over max(their sum, f32
/// epsilon) (a dropped slot weighs 0); then every weight times the scale.
static std::vector<float> weightsAfterDropping(const TokenRouting &routing,
                                               const std::vector<bool> &kept,
                                               const CapacityConfig &capacity) {
  std::vector<float> weights = routing.weights;
  if (capacity.renormalize)
    for (int64_t t = 0; t < routing.numTokens; ++t) {
      float sum = 0.0f;
      for (int64_t k = 0; k < routing.topK; ++k) {
        int64_t s = t * routing.topK + k;
        weights[s] = kept[s] ? weights[s] : 0.0f;
        sum += weights[s];
      }
      float denominator = std::max(sum, std::numeric_limits<float>::epsilon());
      for (int64_t k = 0; k < routing.topK; ++k)
        weights[t * routing.topK + k] /= denominator;
    }
  if (capacity.outputScale != 1.0)
    for (float &w : weights)
      w *= static_cast<float>(capacity.outputScale);
  return weights;
}

RowBundle
moe::reference::dispatch(const TokenRouting &routing, int64_t numExperts,
                         const std::optional<CapacityConfig> &capacity) {
  // Slots per expert, in token order (choice_order: by choice, then token).
  std::vector<std::vector<int64_t>> slots(numExperts);
  int64_t numSlots = routing.numTokens * routing.topK;
  bool byChoice = capacity && capacity->dropOrder == DropOrder::ChoiceOrder;
  for (int64_t i = 0; i < numSlots; ++i) {
    int64_t s = byChoice ? (i % routing.numTokens) * routing.topK +
                               i / routing.numTokens
                         : i;
    slots[routing.experts[s]].push_back(s);
  }

  int64_t limit = numSlots;
  if (capacity)
    limit =
        capacityLimit(*capacity, routing.numTokens, routing.topK, numExperts);

  // Which slots each expert keeps, in token order.
  std::vector<bool> kept(numSlots, true);
  for (int64_t e = 0; e < numExperts; ++e) {
    const std::vector<int64_t> &queue = slots[e];
    if (static_cast<int64_t>(queue.size()) <= limit)
      continue;
    std::vector<bool> keep(queue.size(), false);
    if (capacity->dropOrder != DropOrder::LowestWeight) {
      std::fill(keep.begin(), keep.begin() + limit, true);
    } else {
      // Keep the heaviest; among equal weights the earlier token.
      std::vector<float> w(queue.size());
      for (size_t i = 0; i < queue.size(); ++i)
        w[i] = routing.weights[queue[i]];
      for (int64_t i : topK(w, limit))
        keep[i] = true;
    }
    for (size_t i = 0; i < queue.size(); ++i)
      kept[queue[i]] = keep[i];
  }
  std::vector<float> weights =
      capacity ? weightsAfterDropping(routing, kept, *capacity)
               : routing.weights;

  // Kept rows expert by expert in token order, then the dropped ones.
  RowBundle bundle;
  bundle.expertOffsets.push_back(0);
  std::vector<int64_t> dropped;
  for (int64_t e = 0; e < numExperts; ++e) {
    std::vector<int64_t> queue = slots[e];
    std::sort(queue.begin(), queue.end());
    for (int64_t s : queue) {
      if (!kept[s]) {
        dropped.push_back(s);
        continue;
      }
      bundle.rowToken.push_back(static_cast<int32_t>(s / routing.topK));
      bundle.rowWeight.push_back(weights[s]);
    }
    bundle.expertOffsets.push_back(
        static_cast<int32_t>(bundle.rowToken.size()));
  }
  for (int64_t s : dropped) {
    bundle.rowToken.push_back(static_cast<int32_t>(s / routing.topK));
    bundle.rowWeight.push_back(weights[s]);
  }
  return bundle;
}

int64_t moe::reference::expertChoiceCapacity(int64_t numTokens,
                                             int64_t numExperts,
                                             double capacityFactor) {
  auto c = static_cast<int64_t>(
      std::ceil(capacityFactor * static_cast<double>(numTokens) /
                static_cast<double>(numExperts)));
  return std::min(numTokens, c);
}

RowBundle moe::reference::expertChoice(const float *logits, int64_t numTokens,
                                       int64_t numExperts,
                                       double capacityFactor) {
  std::vector<float> probs(numTokens * numExperts);
  for (int64_t t = 0; t < numTokens; ++t) {
    std::vector<float> p = softmax(logits + t * numExperts, numExperts);
    std::copy(p.begin(), p.end(), probs.begin() + t * numExperts);
  }
  int64_t capacity =
      expertChoiceCapacity(numTokens, numExperts, capacityFactor);
  RowBundle bundle;
  bundle.expertOffsets.push_back(0);
  for (int64_t e = 0; e < numExperts; ++e) {
    std::vector<float> column(numTokens);
    for (int64_t t = 0; t < numTokens; ++t)
      column[t] = probs[t * numExperts + e];
    for (int64_t t : topK(column, capacity)) {
      bundle.rowToken.push_back(static_cast<int32_t>(t));
      bundle.rowWeight.push_back(column[t]);
    }
    bundle.expertOffsets.push_back(
        static_cast<int32_t>(bundle.rowToken.size()));
  }
  return bundle;
}

bool moe::reference::isGated(Activation activation) {
  return activation == Activation::SwiGLU || activation == Activation::GeGLU ||
         activation == Activation::GeGLUTanh ||
         activation == Activation::ClampedSwiGLU;
}

void moe::reference::applyFfn(const FfnWeights &weights, Activation activation,
                              int64_t hidden, const float *x, float *out,
                              const GluClamp &clamp) {
  int64_t ffn = weights.ffnSize;
  std::vector<float> act(ffn);
  for (int64_t f = 0; f < ffn; ++f) {
    float up = static_cast<float>(dot(weights.up + f * hidden, x, hidden)) +
               (weights.upBias ? weights.upBias[f] : 0.0f);
    float gate =
        isGated(activation)
            ? static_cast<float>(dot(weights.gate + f * hidden, x, hidden)) +
                  (weights.gateBias ? weights.gateBias[f] : 0.0f)
            : 0.0f;
    switch (activation) {
    case Activation::SwiGLU:
      act[f] = silu(gate) * up;
      break;
    case Activation::GeGLU:
      act[f] = gelu(gate) * up;
      break;
    case Activation::GeGLUTanh:
      act[f] = geluTanh(gate) * up;
      break;
    case Activation::GELU:
      act[f] = gelu(up);
      break;
    case Activation::GELUTanh:
      act[f] = geluTanh(up);
      break;
    case Activation::ReLU:
      act[f] = std::max(up, 0.0f);
      break;
    case Activation::ReLU2:
      act[f] = std::max(up, 0.0f) * std::max(up, 0.0f);
      break;
    case Activation::SiLU:
      act[f] = silu(up);
      break;
    case Activation::ClampedSwiGLU: {
      float u = std::min(std::max(up, -clamp.limit), clamp.limit);
      switch (clamp.form) {
      case GluClampForm::GptOss: { // GptOssExperts._apply_gate
        float g = std::min(gate, clamp.limit);
        act[f] = (u + 1.0f) * (g * sigmoid(clamp.alpha * g));
        break;
      }
      case GluClampForm::ClampGate: // Glm5NextMLP, HYV4Experts
        act[f] = silu(std::min(gate, clamp.limit)) * u;
        break;
      case GluClampForm::ClampSilu: // Step3p7's experts
        act[f] = std::min(silu(gate), clamp.limit) * u;
        break;
      }
      break;
    }
    }
  }
  for (int64_t h = 0; h < hidden; ++h)
    out[h] = static_cast<float>(dot(weights.down + h * ffn, act.data(), ffn)) +
             (weights.downBias ? weights.downBias[h] : 0.0f);
}

FfnWeights moe::reference::expertFfn(const FfnWeights &stacked, int64_t e,
                                     int64_t hidden) {
  int64_t ffn = stacked.ffnSize;
  auto at = [](const float *base, int64_t offset) {
    return base ? base + offset : nullptr;
  };
  return FfnWeights{at(stacked.gate, e * ffn * hidden),
                    stacked.up + e * ffn * hidden,
                    stacked.down + e * hidden * ffn,
                    ffn,
                    at(stacked.gateBias, e * ffn),
                    at(stacked.upBias, e * ffn),
                    at(stacked.downBias, e * hidden)};
}

std::vector<float> moe::reference::normaliseRouterInput(
    const float *x, int64_t numTokens, int64_t hidden,
    const RouterInputNorm &norm, const float *scale) {
  std::vector<float> r(numTokens * hidden);
  for (int64_t t = 0; t < numTokens; ++t) {
    const float *row = x + t * hidden;
    double meanSquare = dot(row, row, hidden) / static_cast<double>(hidden);
    auto inverse =
        static_cast<float>(1.0 / std::sqrt(meanSquare + norm.epsilon));
    for (int64_t h = 0; h < hidden; ++h)
      r[t * hidden + h] = row[h] * inverse * (scale ? scale[h] : 1.0f) *
                          static_cast<float>(norm.multiplier);
  }
  return r;
}

std::vector<float> moe::reference::routerLogits(const float *x, const float *w,
                                                int64_t numTokens,
                                                int64_t hidden,
                                                int64_t numExperts) {
  std::vector<float> logits(numTokens * numExperts);
  for (int64_t t = 0; t < numTokens; ++t)
    for (int64_t e = 0; e < numExperts; ++e)
      logits[t * numExperts + e] =
          static_cast<float>(dot(x + t * hidden, w + e * hidden, hidden));
  return logits;
}

namespace {
/// `v` `[T,H]` through the RMSNorm of weight `weight` in place, or as it is
/// when `weight` is null.
void applyNorm(std::vector<float> &v, int64_t numTokens, int64_t hidden,
               double epsilon, const float *weight) {
  if (weight)
    v = normaliseRouterInput(v.data(), numTokens, hidden,
                             RouterInputNorm{epsilon, 1.0}, weight);
}

/// Adds the layer's shared expert, when it has one, to `out` `[T,H]`
/// (through its norms; averaged when the config says so).
void addSharedExpert(const LayerConfig &config, const LayerWeights &weights,
                     const float *x, int64_t numTokens,
                     std::vector<float> &out) {
  if (!weights.shared)
    return;
  int64_t hidden = config.hidden;
  std::vector<float> input(x, x + numTokens * hidden);
  applyNorm(input, numTokens, hidden, config.normEpsilon,
            weights.sharedInputNorm);
  std::vector<float> shared(numTokens * hidden), y(hidden);
  for (int64_t t = 0; t < numTokens; ++t) {
    const float *token = input.data() + t * hidden;
    applyFfn(*weights.shared,
             config.sharedActivation.value_or(config.activation), hidden, token,
             y.data(),
             config.sharedActivation ? config.sharedGluClamp : config.gluClamp);
    float gate = weights.sharedSigmoidGate
                     ? sigmoid(static_cast<float>(
                           dot(token, weights.sharedSigmoidGate, hidden)))
                     : 1.0f;
    for (int64_t h = 0; h < hidden; ++h)
      shared[t * hidden + h] = gate * y[h];
  }
  applyNorm(shared, numTokens, hidden, config.normEpsilon,
            weights.sharedOutputNorm);
  for (int64_t i = 0; i < numTokens * hidden; ++i) {
    out[i] += shared[i];
    if (config.sharedAverage)
      out[i] /= 2.0f;
  }
}
} // namespace

std::vector<float> moe::reference::softMoE(const float *x, const float *logits,
                                           int64_t numTokens, int64_t hidden,
                                           int64_t numExperts,
                                           int64_t slotsPerExpert,
                                           const FfnWeights &experts,
                                           Activation activation,
                                           const GluClamp &clamp) {
  if (numTokens == 0)
    return {};
  int64_t numSlots = numExperts * slotsPerExpert;
  // Dispatch weights, slot-major: slot j's softmax over the tokens.
  std::vector<float> dispatch(numSlots * numTokens), column(numTokens);
  for (int64_t j = 0; j < numSlots; ++j) {
    for (int64_t t = 0; t < numTokens; ++t)
      column[t] = logits[t * numSlots + j];
    std::vector<float> p = softmax(column.data(), numTokens);
    std::copy(p.begin(), p.end(), dispatch.begin() + j * numTokens);
  }
  // Slot inputs and their expert's output.
  std::vector<float> slotOut(numSlots * hidden), slotIn(hidden),
      weighted(numTokens);
  for (int64_t j = 0; j < numSlots; ++j) {
    int64_t e = j / slotsPerExpert;
    for (int64_t h = 0; h < hidden; ++h) {
      for (int64_t t = 0; t < numTokens; ++t)
        weighted[t] = x[t * hidden + h];
      slotIn[h] = static_cast<float>(
          dot(dispatch.data() + j * numTokens, weighted.data(), numTokens));
    }
    applyFfn(expertFfn(experts, e, hidden), activation, hidden, slotIn.data(),
             slotOut.data() + j * hidden, clamp);
  }
  // Combine: each token's softmax over the slots.
  std::vector<float> out(numTokens * hidden), slotColumn(numSlots);
  for (int64_t t = 0; t < numTokens; ++t) {
    std::vector<float> c = softmax(logits + t * numSlots, numSlots);
    for (int64_t h = 0; h < hidden; ++h) {
      for (int64_t j = 0; j < numSlots; ++j)
        slotColumn[j] = slotOut[j * hidden + h];
      out[t * hidden + h] =
          static_cast<float>(dot(c.data(), slotColumn.data(), numSlots));
    }
  }
  return out;
}

namespace {
/// Token-choice routing over E real and Z identity experts, each slot
/// applied to its token directly (no row bundle): expert j < E adds
/// `w · FFN_j(x)`, j >= E adds `w · x`.
std::vector<float> runWithZeroExperts(const LayerConfig &config,
                                      const LayerWeights &weights,
                                      const float *x, int64_t numTokens,
                                      const std::vector<float> &logits) {
  int64_t hidden = config.hidden, numExperts = config.numExperts;
  TokenRouting routing =
      routeTokens(logits.data(), numTokens, numExperts + config.zeroExperts,
                  *config.routing, weights.correctionBias, weights.expertScale);
  std::vector<float> out(numTokens * hidden, 0.0f);
  if (weights.outputBias)
    for (int64_t t = 0; t < numTokens; ++t)
      std::copy(weights.outputBias, weights.outputBias + hidden,
                out.begin() + t * hidden);
  std::vector<float> y(hidden);
  for (int64_t t = 0; t < numTokens; ++t) {
    const float *token = x + t * hidden;
    float *dst = out.data() + t * hidden;
    for (int64_t k = 0; k < routing.topK; ++k) {
      int32_t e = routing.experts[t * routing.topK + k];
      float weight = routing.weights[t * routing.topK + k];
      if (e >= numExperts) {
        for (int64_t h = 0; h < hidden; ++h)
          dst[h] += weight * token[h];
        continue;
      }
      applyFfn(expertFfn(weights.experts, e, hidden), config.activation, hidden,
               token, y.data(), config.gluClamp);
      for (int64_t h = 0; h < hidden; ++h)
        dst[h] += weight * y[h];
    }
  }
  addSharedExpert(config, weights, x, numTokens, out);
  return out;
}
} // namespace

std::vector<float> moe::reference::runLayer(const LayerConfig &config,
                                            const LayerWeights &weights,
                                            const float *x, int64_t numTokens) {
  int64_t hidden = config.hidden, numExperts = config.numExperts;
  // Soft MoE's router has a row per slot.
  int64_t numRouted = numExperts + config.zeroExperts;
  int64_t routerRows =
      config.softMoESlots > 0 ? numExperts * config.softMoESlots : numRouted;
  // The router may see a normalised input; the experts see x.
  std::vector<float> routerInput;
  if (config.routerInputNorm)
    routerInput =
        normaliseRouterInput(x, numTokens, hidden, *config.routerInputNorm,
                             weights.routerInputScale);
  std::vector<float> logits =
      routerLogits(config.routerInputNorm ? routerInput.data() : x,
                   weights.router, numTokens, hidden, routerRows);
  if (weights.routerBias)
    for (int64_t t = 0; t < numTokens; ++t)
      for (int64_t e = 0; e < numRouted; ++e)
        logits[t * numRouted + e] += weights.routerBias[e];
  if (config.softMoESlots > 0) {
    std::vector<float> out = softMoE(
        x, logits.data(), numTokens, hidden, numExperts, config.softMoESlots,
        weights.experts, config.activation, config.gluClamp);
    addSharedExpert(config, weights, x, numTokens, out);
    return out;
  }
  if (config.zeroExperts > 0)
    return runWithZeroExperts(config, weights, x, numTokens, logits);
  RowBundle bundle =
      config.routing
          ? dispatch(routeTokens(logits.data(), numTokens, numExperts,
                                 *config.routing, weights.correctionBias,
                                 weights.expertScale,
                                 weights.expertTable ? &*weights.expertTable
                                                     : nullptr),
                     numExperts, config.capacity)
          : expertChoice(logits.data(), numTokens, numExperts,
                         config.expertChoiceFactor);

  // The experts see x, or its norm (Gemma 4).
  std::vector<float> expertInput;
  if (weights.expertInputNorm) {
    expertInput.assign(x, x + numTokens * hidden);
    applyNorm(expertInput, numTokens, hidden, config.normEpsilon,
              weights.expertInputNorm);
  }
  const float *xe = weights.expertInputNorm ? expertInput.data() : x;

  // Every token's sum starts from the block's output bias (JetMoE), or 0.
  std::vector<float> out(numTokens * hidden, 0.0f);
  if (weights.outputBias)
    for (int64_t t = 0; t < numTokens; ++t)
      std::copy(weights.outputBias, weights.outputBias + hidden,
                out.begin() + t * hidden);
  std::vector<float> row(hidden), y(hidden);
  int64_t numKept = bundle.expertOffsets.back();
  for (int64_t e = 0; e < numExperts; ++e) {
    FfnWeights expert = expertFfn(weights.experts, e, hidden);
    for (int64_t r = bundle.expertOffsets[e]; r < bundle.expertOffsets[e + 1];
         ++r) {
      const float *token = xe + bundle.rowToken[r] * hidden;
      float inScale = config.scaleExpertInput ? bundle.rowWeight[r] : 1.0f;
      float outScale = config.scaleExpertInput ? 1.0f : bundle.rowWeight[r];
      for (int64_t h = 0; h < hidden; ++h)
        row[h] = token[h] * inScale;
      applyFfn(expert, config.activation, hidden, row.data(), y.data(),
               config.gluClamp);
      float *dst = out.data() + bundle.rowToken[r] * hidden;
      for (int64_t h = 0; h < hidden; ++h)
        dst[h] += outScale * y[h];
    }
  }
  // Dropped slots: nothing, or the input weighted as if by an identity expert.
  if (config.capacity && config.capacity->dropped == DroppedSlot::Input)
    for (size_t r = numKept; r < bundle.rowToken.size(); ++r) {
      const float *token = x + bundle.rowToken[r] * hidden;
      float *dst = out.data() + bundle.rowToken[r] * hidden;
      for (int64_t h = 0; h < hidden; ++h)
        dst[h] += bundle.rowWeight[r] * token[h];
    }

  applyNorm(out, numTokens, hidden, config.normEpsilon,
            weights.expertOutputNorm);
  addSharedExpert(config, weights, x, numTokens, out);
  applyNorm(out, numTokens, hidden, config.normEpsilon, weights.outputNorm);
  return out;
}

RoutingStats moe::reference::routingStats(const float *logits,
                                          const TokenRouting &routing,
                                          int64_t numExperts, Scoring scoring,
                                          double weightRange,
                                          int64_t weightBins) {
  RoutingStats stats;
  stats.load.assign(numExperts, 0);
  for (int32_t e : routing.experts)
    ++stats.load[e];
  // The op's f32 product, clamped to the bins; NaN (a failing comparison)
  // counts in the first.
  stats.weightHistogram.assign(weightBins, 0);
  float binsPerWeight = static_cast<float>(weightBins / weightRange);
  for (float w : routing.weights) {
    float scaled = w * binsPerWeight;
    int64_t bin = 0;
    if (scaled >= static_cast<float>(weightBins - 1))
      bin = weightBins - 1;
    else if (scaled > 0)
      bin = static_cast<int64_t>(scaled);
    ++stats.weightHistogram[bin];
  }
  int64_t numSlots = routing.numTokens * routing.topK;
  if (routing.numTokens == 0 || numSlots == 0)
    return stats;

  double entropy = 0.0;
  int64_t maxLoad = 0;
  for (int64_t load : stats.load) {
    maxLoad = std::max(maxLoad, load);
    if (load > 0) {
      double p = static_cast<double>(load) / numSlots;
      entropy -= p * std::log(p);
    }
  }
  stats.entropy = numExperts > 1
                      ? static_cast<float>(entropy / std::log(numExperts))
                      : 1.0f;
  stats.maxShare = static_cast<float>(static_cast<double>(maxLoad) / numSlots);

  std::vector<double> meanProb(numExperts, 0.0);
  double confidence = 0.0;
  for (int64_t t = 0; t < routing.numTokens; ++t) {
    std::vector<float> p =
        routerProbs(logits + t * numExperts, numExperts, scoring);
    confidence += *std::max_element(p.begin(), p.end());
    for (int64_t e = 0; e < numExperts; ++e)
      meanProb[e] += p[e];
  }
  double tokens = static_cast<double>(routing.numTokens);
  stats.confidence = static_cast<float>(confidence / tokens);
  double aux = 0.0;
  for (int64_t e = 0; e < numExperts; ++e)
    aux += (stats.load[e] / tokens) * (meanProb[e] / tokens);
  stats.auxLoss = static_cast<float>(numExperts * aux);
  return stats;
}
