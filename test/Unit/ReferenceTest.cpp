//===- ReferenceTest.cpp - the oracle against hand-computed cases ---------===//
//
// The reference is what every execution test trusts, so it is checked here
// against values worked out by hand from DESIGN.md §4.
//
//===----------------------------------------------------------------------===//

#include "moe/Reference/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <set>

using namespace moe::reference;

namespace {
float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

constexpr float kTol = 1e-6f;

// Tests that softmax top-2 with renormalisation (Mixtral) picks the two
// largest logits and weights them by their renormalised probabilities.
TEST(Routing, SoftmaxTopKRenormalised) {
  float logits[] = {1, 3, 2, 0};
  RoutingConfig config;
  config.topK = 2;
  config.renormalize = true;
  TokenRouting r = routeTokens(logits, 1, 4, config);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{1, 2}));
  EXPECT_NEAR(r.weights[0], 1.0f / (1.0f + std::exp(-1.0f)), kTol);
  EXPECT_NEAR(r.weights[1], 1.0f / (1.0f + std::exp(1.0f)), kTol);
}

// Tests that without renormalisation the weights are the softmax
// probabilities themselves (Qwen2-MoE default).
TEST(Routing, SoftmaxTopKPlain) {
  float logits[] = {1, 3, 2, 0};
  RoutingConfig config;
  config.topK = 2;
  TokenRouting r = routeTokens(logits, 1, 4, config);
  double z = std::exp(0.0) + std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(r.weights[0], std::exp(3.0) / z, kTol);
  EXPECT_NEAR(r.weights[1], std::exp(2.0) / z, kTol);
}

// Tests that ties in top-k go to the lower expert id.
TEST(Routing, TiesGoToLowerId) {
  float logits[] = {0.5f, 0.5f, 0.5f, 0.5f};
  RoutingConfig config;
  config.topK = 3;
  TokenRouting r = routeTokens(logits, 1, 4, config);
  EXPECT_EQ(r.experts, (std::vector<int32_t>{0, 1, 2}));
}

// Tests DeepSeek-V3 noaux_tc: the bias steers selection and group scores
// (sum of the top two biased scores) but the weights are the unbiased
// sigmoid scores, renormalised and scaled.
TEST(Routing, DeepSeekV3) {
  float logits[] = {0, 0, 2, -2, 1, 1, -3, 3};
  float bias[] = {1, 0, 0, 0, 0, 0, 0, 0};
  RoutingConfig config;
  config.topK = 2;
  config.scoring = Scoring::Sigmoid;
  config.renormalize = true;
  config.scalingFactor = 2.5f;
  config.nGroup = 4;
  config.topkGroup = 2;
  config.groupScore = GroupScore::Top2Sum;
  TokenRouting r = routeTokens(logits, 1, 8, config, bias);
  // Groups: {1.5+0.5, s(2)+s(-2)=1, 2·s(1)=1.46, s(-3)+s(3)=1}: keep 0 and 2.
  // Expert 7 (s = 0.95) is outside them; among {0,1,4,5} biased scores are
  // {1.5, 0.5, 0.73, 0.73}: pick 0, then 4 (tie with 5 to the lower id).
  ASSERT_EQ(r.experts, (std::vector<int32_t>{0, 4}));
  float s0 = 0.5f, s4 = sigmoid(1.0f);
  EXPECT_NEAR(r.weights[0], 2.5f * s0 / (s0 + s4), kTol);
  EXPECT_NEAR(r.weights[1], 2.5f * s4 / (s0 + s4), kTol);
}

// Tests that experts outside the kept groups are masked with -inf, not 0:
// with a negative bias every kept biased score is below 0.
TEST(Routing, GroupMaskIsMinusInfinity) {
  float logits[] = {0, 1, 5, 5};
  float bias[] = {-1, -1, -1, -1};
  RoutingConfig config;
  config.topK = 1;
  config.scoring = Scoring::Sigmoid;
  config.nGroup = 2;
  config.topkGroup = 1;
  config.groupScore = GroupScore::Top2Sum;
  TokenRouting r = routeTokens(logits, 1, 4, config, bias);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{2}));
  EXPECT_NEAR(r.weights[0], sigmoid(5.0f), kTol);
}

// Tests DeepSeek-V2 group_limited_greedy: groups scored by their largest
// probability; top-k only inside the kept groups; weights scaled.
TEST(Routing, DeepSeekV2GroupLimited) {
  float logits[] = {4, 0, 0, 0, 3, 3, 0, 0};
  RoutingConfig config;
  config.topK = 2;
  config.nGroup = 2;
  config.topkGroup = 1;
  config.scalingFactor = 16.0f;
  TokenRouting r = routeTokens(logits, 1, 8, config);
  // Group 0's max (expert 0) beats group 1's, so experts 4 and 5 are out
  // even though they beat experts 1..3.
  ASSERT_EQ(r.experts, (std::vector<int32_t>{0, 1}));
  double z = std::exp(4.0) + 5 * std::exp(0.0) + 2 * std::exp(3.0);
  EXPECT_NEAR(r.weights[0], 16.0 * std::exp(4.0) / z, 1e-5);
  EXPECT_NEAR(r.weights[1], 16.0 / z, 1e-5);
}

// Tests DeepSeek-V2 device-limited routing with ranks that are not
// contiguous: 8 experts round-robin on 4 ranks (rank = e % 4), at most
// M = 2 ranks per token. The global top-3 {0, 1, 2} spans ranks 0, 1 and 2;
// rank scores (max probability) are {p0, p1, p2, p3} ordered by logits
// 5 > 4 > 3 > 0, so ranks 0 and 1 stay and expert 2 gives way to expert 4
// (logit 2, rank 0).
TEST(Routing, RankLimitedRoundRobin) {
  float logits[] = {5, 4, 3, 0, 2, 0, 0, 0};
  RoutingConfig config;
  config.topK = 3;
  config.rankLimit = 2;
  config.expertRanks = {0, 1, 2, 3, 0, 1, 2, 3};
  TokenRouting r = routeTokens(logits, 1, 8, config);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{0, 1, 4}));
  double z = std::exp(5.0) + std::exp(4.0) + std::exp(3.0) + std::exp(2.0) +
             4 * std::exp(0.0);
  EXPECT_NEAR(r.weights[0], std::exp(5.0) / z, kTol);
  EXPECT_NEAR(r.weights[1], std::exp(4.0) / z, kTol);
  EXPECT_NEAR(r.weights[2], std::exp(2.0) / z, kTol);
  // Without the limit the same token takes the global top-3.
  config.rankLimit = 0;
  config.expertRanks.clear();
  EXPECT_EQ(routeTokens(logits, 1, 8, config).experts,
            (std::vector<int32_t>{0, 1, 2}));
}

// Tests top2_sum rank scores and ties between ranks: rank 0 {0, 2} sums to
// 2·s(1), rank 1 {1, 3} to s(3) + s(-3) = 1 < 2·s(1), rank 2 {4, 5} ties
// rank 0 and loses it to the lower rank id. So expert 1 (the best single
// score) is out with M = 1.
TEST(Routing, RankLimitedTop2SumTiesToLowerRank) {
  float logits[] = {1, 3, 1, -3, 1, 1};
  RoutingConfig config;
  config.topK = 2;
  config.scoring = Scoring::Sigmoid;
  config.groupScore = GroupScore::Top2Sum;
  config.rankLimit = 1;
  config.expertRanks = {0, 1, 0, 1, 2, 2};
  TokenRouting r = routeTokens(logits, 1, 6, config);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{0, 2}));
  EXPECT_NEAR(r.weights[0], sigmoid(1.0f), kTol);
}

// Tests that group-limited routing is rank-limited routing with contiguous
// ranks (expert_ranks[e] = e / (E / n_group)): the same experts and weights
// on random tokens, for both group scores.
TEST(Routing, ContiguousRanksAreGroups) {
  constexpr int64_t T = 64, E = 16, G = 4;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> logits(T * E);
  for (float &l : logits)
    l = dist(rng);
  for (GroupScore score : {GroupScore::Max, GroupScore::Top2Sum}) {
    RoutingConfig grouped;
    grouped.topK = 4;
    grouped.scoring = Scoring::Sigmoid;
    grouped.renormalize = true;
    grouped.nGroup = G;
    grouped.topkGroup = 2;
    grouped.groupScore = score;
    RoutingConfig ranked = grouped;
    ranked.nGroup = ranked.topkGroup = 1;
    ranked.rankLimit = 2;
    for (int64_t e = 0; e < E; ++e)
      ranked.expertRanks.push_back(e / (E / G));
    TokenRouting a = routeTokens(logits.data(), T, E, grouped);
    TokenRouting b = routeTokens(logits.data(), T, E, ranked);
    EXPECT_EQ(a.experts, b.experts);
    EXPECT_EQ(a.weights, b.weights);
  }
}

// Tests the defining property on random tokens: with 16 experts round-robin
// on 4 ranks and M = 2, every token's 4 experts lie on at most 2 ranks, and
// they are the top 4 of the experts on the ranks they use; the limit binds
// (some token's unlimited top-4 spans 3 or more ranks).
TEST(Routing, RankLimitedProperty) {
  constexpr int64_t T = 200, E = 16, R = 4, M = 2, K = 4;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> logits(T * E);
  for (float &l : logits)
    l = dist(rng);
  RoutingConfig config;
  config.topK = K;
  config.rankLimit = M;
  for (int64_t e = 0; e < E; ++e)
    config.expertRanks.push_back(e % R);
  TokenRouting limited = routeTokens(logits.data(), T, E, config);
  RoutingConfig unlimitedConfig;
  unlimitedConfig.topK = K;
  TokenRouting unlimited = routeTokens(logits.data(), T, E, unlimitedConfig);
  auto ranksOf = [&](const TokenRouting &r, int64_t t) {
    std::set<int64_t> ranks;
    for (int64_t k = 0; k < K; ++k)
      ranks.insert(r.experts[t * K + k] % R);
    return ranks;
  };
  int64_t bound = 0;
  for (int64_t t = 0; t < T; ++t) {
    std::set<int64_t> used = ranksOf(limited, t);
    EXPECT_LE(static_cast<int64_t>(used.size()), M) << "token " << t;
    // No expert on a used rank outside the selection beats a selected one.
    const float *l = logits.data() + t * E;
    float weakest = l[limited.experts[t * K + K - 1]];
    for (int64_t e = 0; e < E; ++e) {
      bool chosen = false;
      for (int64_t k = 0; k < K; ++k)
        chosen |= limited.experts[t * K + k] == e;
      if (!chosen && used.count(e % R))
        EXPECT_LE(l[e], weakest) << "token " << t << " expert " << e;
    }
    bound += ranksOf(unlimited, t).size() > M;
  }
  EXPECT_GT(bound, 0);
}

// Tests Llama 4: top-1 on the raw logits, weight sigmoid of the logit.
TEST(Routing, Llama4) {
  float logits[] = {-1, 20, 21, 0};
  RoutingConfig config;
  config.topK = 1;
  config.scoring = Scoring::Sigmoid;
  config.selectOn = SelectOn::Logits;
  TokenRouting r = routeTokens(logits, 1, 4, config);
  // sigmoid(20) and sigmoid(21) both round to 1.0f: only the logits rank.
  ASSERT_EQ(r.experts, (std::vector<int32_t>{2}));
  EXPECT_NEAR(r.weights[0], sigmoid(21.0f), kTol);
}

TokenRouting oneExpertEach(std::vector<int32_t> experts,
                           std::vector<float> weights) {
  TokenRouting r;
  r.numTokens = static_cast<int64_t>(experts.size());
  r.topK = 1;
  r.experts = std::move(experts);
  r.weights = std::move(weights);
  return r;
}

// Tests routing by token id (DeepSeek-V4's hash layers): each token's
// experts are its id's table row in the table's order, whatever the scores
// prefer, weighted by the sigmoid scores at those experts, renormalised
// and scaled; a K = 1 softmax row renormalises to weight 1 (a pure hash
// layer).
TEST(Routing, ByTokenIdTable) {
  float logits[] = {4, 0, -1, 2,  // token 0
                    0, 1, 2,  3}; // token 1
  int32_t table[] = {2, 1,        // id 0
                     0, 3,        // id 1
                     3, 2};       // id 2
  int32_t ids[] = {0, 2};
  ExpertTable byId{table, 3, ids};
  RoutingConfig config;
  config.topK = 2;
  config.scoring = Scoring::Sigmoid;
  config.renormalize = true;
  config.scalingFactor = 1.5f;
  TokenRouting r = routeTokens(logits, 2, 4, config, nullptr, nullptr, &byId);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{2, 1, 3, 2}));
  auto sigmoid = [](double z) { return 1.0 / (1.0 + std::exp(-z)); };
  double a = sigmoid(-1), b = sigmoid(0);
  EXPECT_NEAR(r.weights[0], 1.5 * a / (a + b), kTol);
  EXPECT_NEAR(r.weights[1], 1.5 * b / (a + b), kTol);
  double c = sigmoid(3), d = sigmoid(2);
  EXPECT_NEAR(r.weights[2], 1.5 * c / (c + d), kTol);
  EXPECT_NEAR(r.weights[3], 1.5 * d / (c + d), kTol);

  int32_t hash[] = {1, 3, 0};
  ExpertTable pure{hash, 3, ids};
  RoutingConfig single;
  single.topK = 1;
  single.renormalize = true;
  TokenRouting p = routeTokens(logits, 2, 4, single, nullptr, nullptr, &pure);
  ASSERT_EQ(p.experts, (std::vector<int32_t>{1, 0}));
  EXPECT_NEAR(p.weights[0], 1.0f, kTol);
  EXPECT_NEAR(p.weights[1], 1.0f, kTol);
}

// Tests that dropless dispatch keeps every slot of a collapsed router.
TEST(Dispatch, DroplessCollapsed) {
  TokenRouting r = oneExpertEach({0, 0, 0, 0, 0}, {1, 1, 1, 1, 1});
  RowBundle b = dispatch(r, 4, std::nullopt);
  EXPECT_EQ(b.expertOffsets, (std::vector<int32_t>{0, 5, 5, 5, 5}));
  EXPECT_EQ(b.rowToken, (std::vector<int32_t>{0, 1, 2, 3, 4}));
}

// Tests that dispatch sorts by expert, stably in token order.
TEST(Dispatch, ExpertMajorStable) {
  TokenRouting r = oneExpertEach({1, 0, 1, 0}, {0.1f, 0.2f, 0.3f, 0.4f});
  RowBundle b = dispatch(r, 2, std::nullopt);
  EXPECT_EQ(b.expertOffsets, (std::vector<int32_t>{0, 2, 4}));
  EXPECT_EQ(b.rowToken, (std::vector<int32_t>{1, 3, 0, 2}));
  EXPECT_EQ(b.rowWeight, (std::vector<float>{0.2f, 0.4f, 0.1f, 0.3f}));
}

// Tests that a capacity keeps the first C slots in token order and puts the
// dropped ones after offsets[E].
TEST(Dispatch, CapacityTokenOrder) {
  TokenRouting r = oneExpertEach({0, 0, 0, 0}, {0.1f, 0.9f, 0.5f, 0.9f});
  CapacityConfig capacity; // C = ceil(1 · 4 · 1 / 2) = 2
  RowBundle b = dispatch(r, 2, capacity);
  EXPECT_EQ(b.expertOffsets, (std::vector<int32_t>{0, 2, 2}));
  EXPECT_EQ(b.rowToken, (std::vector<int32_t>{0, 1, 2, 3}));
}

// Tests that lowest_weight drops the lightest slots and keeps the rest in
// token order.
TEST(Dispatch, CapacityLowestWeight) {
  TokenRouting r = oneExpertEach({0, 0, 0, 0}, {0.1f, 0.9f, 0.5f, 0.9f});
  CapacityConfig capacity;
  capacity.dropOrder = DropOrder::LowestWeight;
  RowBundle b = dispatch(r, 2, capacity);
  EXPECT_EQ(b.expertOffsets, (std::vector<int32_t>{0, 2, 2}));
  EXPECT_EQ(b.rowToken, (std::vector<int32_t>{1, 3, 0, 2}));
}

// Tests the three capacity forms: ceil(factor·T·K/E), the count whatever T
// is, and ceil(token_fraction·T).
TEST(Dispatch, CapacityForms) {
  CapacityConfig capacity;
  capacity.factor = 1.25;
  EXPECT_EQ(capacityLimit(capacity, 37, 2, 8), 12); // ceil(92.5 / 8)
  capacity.count = 6;
  EXPECT_EQ(capacityLimit(capacity, 37, 2, 8), 6);
  EXPECT_EQ(capacityLimit(capacity, 1000, 1, 4), 6);
  capacity.count = 0;
  capacity.tokenFraction = 0.125;
  EXPECT_EQ(capacityLimit(capacity, 37, 2, 8), 5); // ceil(4.625)
  EXPECT_EQ(capacityLimit(capacity, 1, 2, 8), 1);
}

/// Two tokens, top-2: token 0 picks experts 1 then 0, token 1 picks 0 then 2.
TokenRouting secondChoiceFirstInTokenOrder() {
  TokenRouting r;
  r.numTokens = 2;
  r.topK = 2;
  r.experts = {1, 0, 0, 2};
  r.weights = {0.5f, 0.25f, 0.5f, 0.125f};
  return r;
}

// Tests that with C = 1 token order gives expert 0 to token 0's second
// choice, and choice order to token 1's first choice (GShard, NLLB).
TEST(Dispatch, CapacityChoiceOrder) {
  TokenRouting r = secondChoiceFirstInTokenOrder();
  CapacityConfig capacity;
  capacity.count = 1;
  RowBundle tokenOrder = dispatch(r, 3, capacity);
  EXPECT_EQ(tokenOrder.expertOffsets, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(tokenOrder.rowToken, (std::vector<int32_t>{0, 0, 1, 1}));
  capacity.dropOrder = DropOrder::ChoiceOrder;
  RowBundle choiceOrder = dispatch(r, 3, capacity);
  EXPECT_EQ(choiceOrder.expertOffsets, (std::vector<int32_t>{0, 1, 2, 3}));
  // Kept: expert 0 token 1, expert 1 token 0, expert 2 token 1; dropped:
  // token 0's second choice.
  EXPECT_EQ(choiceOrder.rowToken, (std::vector<int32_t>{1, 0, 1, 0}));
  EXPECT_EQ(choiceOrder.rowWeight,
            (std::vector<float>{0.5f, 0.5f, 0.125f, 0.25f}));
}

// Tests NLLB's weights after dropping: each token's kept weights over their
// sum (token 0 lost its second slot: 0.5 / 0.5 = 1; token 1 kept both:
// 0.5 / 0.625 and 0.125 / 0.625), the dropped slot weighing 0, all times
// the output scale; and the f32-epsilon clamp of a tiny sum.
TEST(Dispatch, CapacityRenormalizeAfterDrop) {
  TokenRouting r = secondChoiceFirstInTokenOrder();
  CapacityConfig capacity;
  capacity.count = 1;
  capacity.dropOrder = DropOrder::ChoiceOrder;
  capacity.renormalize = true;
  capacity.outputScale = 0.5;
  RowBundle b = dispatch(r, 3, capacity);
  EXPECT_EQ(b.rowWeight, (std::vector<float>{0.5f / 0.625f * 0.5f, 0.5f,
                                             0.125f / 0.625f * 0.5f, 0.0f}));
  r.weights = {1e-9f, 0.25f, 1e-9f, 1e-9f};
  capacity.outputScale = 1.0;
  b = dispatch(r, 3, capacity);
  float eps = std::numeric_limits<float>::epsilon();
  EXPECT_EQ(b.rowWeight[1], 1e-9f / eps); // token 0 alone: 1e-9 / eps
  EXPECT_EQ(b.rowWeight[0], 1e-9f / eps); // token 1: sum 2e-9 < eps
}

// Tests expert choice: C = min(T, ceil(cf·T/E)) tokens per expert, by
// probability.
TEST(ExpertChoice, TopTokensPerExpert) {
  EXPECT_EQ(expertChoiceCapacity(5, 2, 1.0), 3);
  EXPECT_EQ(expertChoiceCapacity(5, 2, 10.0), 5);
  EXPECT_EQ(expertChoiceCapacity(0, 2, 1.0), 0);
  float logits[] = {2, 0, 0, 2, 1, 0};           // tokens prefer 0, 1, 0
  RowBundle b = expertChoice(logits, 3, 2, 1.0); // C = 2
  EXPECT_EQ(b.expertOffsets, (std::vector<int32_t>{0, 2, 4}));
  EXPECT_EQ(b.rowToken, (std::vector<int32_t>{0, 2, 1, 2}));
  EXPECT_NEAR(b.rowWeight[0], sigmoid(2.0f), kTol);
}

/// act(g, u) of a one-wide FFN (H = F = 1, x = 1, down = 1), so the
/// projections are the weights themselves: g = gate, u = up.
float activationOf(Activation activation, float g, float u,
                   const GluClamp &clamp = {}) {
  float x = 1.0f, down = 1.0f, out = 0.0f;
  FfnWeights w{isGated(activation) ? &g : nullptr, &u, &down, 1};
  applyFfn(w, activation, 1, &x, &out, clamp);
  return out;
}

// Tests the ungated relu2, gelu_tanh and silu and the gated geglu_tanh
// against transformers' relu2, gelu_pytorch_tanh and silu (values from
// torch in float64, g = 1.5); gelu_tanh differs from the exact GELU (1.95450
// at 2) by more than the tolerance.
TEST(Ffn, TransformersActivations) {
  EXPECT_NEAR(activationOf(Activation::ReLU2, 0, 2.0f), 4.0f, kTol);
  EXPECT_NEAR(activationOf(Activation::ReLU2, 0, -0.75f), 0.0f, kTol);
  EXPECT_NEAR(activationOf(Activation::GELUTanh, 0, 2.0f), 1.9545977f, kTol);
  EXPECT_NEAR(activationOf(Activation::GELUTanh, 0, -0.75f), -0.17003944f,
              kTol);
  EXPECT_NEAR(activationOf(Activation::GeGLUTanh, 1.5f, 2.0f), 2.7991432f,
              2 * kTol);
  EXPECT_NEAR(activationOf(Activation::GeGLUTanh, 1.5f, -0.75f), -1.0496787f,
              2 * kTol);
  EXPECT_NEAR(activationOf(Activation::SiLU, 0, 2.0f), 1.7615942f, kTol);
  EXPECT_NEAR(activationOf(Activation::SiLU, 0, -0.75f), -0.24061598f, kTol);
  EXPECT_NEAR(activationOf(Activation::GELU, 0, 2.0f), 1.9544997f, kTol);
}

// Tests GPT-OSS's clamped SwiGLU against GptOssExperts._apply_gate (torch,
// float64, alpha 1.702): unclamped at limit 7; at limit 1 the gate clamps
// from above only (1.5 -> 1, -2 stays) and up on both sides.
TEST(Ffn, ClampedSwiGlu) {
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, 1.5f, 2.0f), 4.1749866f,
              4 * kTol);
  GluClamp one{1.702f, 1.0f};
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, 1.5f, 2.0f, one),
              1.6915915f, 2 * kTol);
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, -2.0f, 0.5f, one),
              -0.096512065f, kTol);
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, 0.5f, -0.5f, one),
              0.17519422f, kTol);
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, -2.0f, -3.0f, one), 0.0f,
              kTol);
}

// Tests the clamped SwiGLU forms of GLM-5 / Hy-V4 (silu(min(g, l)) ·
// clamp(u)) and Step-3.7 (min(silu(g), l) · clamp(u)) at limit 1 (values
// in float64): the gate clamps before SiLU in one and after it in the other,
// so g = 1.5 gives silu(1) in the first and 1 in the second.
TEST(Ffn, ClampedSwiGluForms) {
  GluClamp gate{1.702f, 1.0f, GluClampForm::ClampGate};
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, 1.5f, 2.0f, gate),
              0.73105858f, kTol);
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, -2.0f, 0.5f, gate),
              -0.11920292f, kTol);
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, 0.5f, -3.0f, gate),
              -0.31122967f, kTol);
  GluClamp silu{1.702f, 1.0f, GluClampForm::ClampSilu};
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, 1.5f, 2.0f, silu), 1.0f,
              kTol);
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, 0.5f, 2.0f, silu),
              0.31122967f, kTol);
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, -2.0f, -3.0f, silu),
              0.23840584f, kTol);
  EXPECT_NEAR(activationOf(Activation::ClampedSwiGLU, 0.8f, 0.3f, silu),
              0.16559388f, kTol);
}

/// A layer whose experts are identity-weighted ReLU FFNs (F = H), so expert
/// e computes relu(x) exactly.
struct IdentityLayer {
  static constexpr int64_t H = 3, E = 2;
  std::vector<float> router{1, 0, 0, 0, 1, 0};
  std::vector<float> up, down;
  IdentityLayer() {
    for (int64_t e = 0; e < E; ++e)
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < H; ++j) {
          up.push_back(i == j ? 1.0f : 0.0f);
          down.push_back(i == j ? 1.0f : 0.0f);
        }
  }
  LayerWeights weights() const {
    LayerWeights w;
    w.router = router.data();
    w.experts = {nullptr, up.data(), down.data(), H};
    return w;
  }
};

// Tests that renormalised top-2 over identity ReLU experts returns relu(x).
TEST(Layer, RenormalisedIdentityExperts) {
  IdentityLayer layer;
  LayerConfig config;
  config.hidden = 3;
  config.numExperts = 2;
  config.activation = Activation::ReLU;
  config.routing = RoutingConfig{2, Scoring::Softmax, SelectOn::Scores, true};
  float x[] = {0.5f, -1.0f, 2.0f, -0.25f, 0.75f, 1.5f};
  std::vector<float> y = runLayer(config, layer.weights(), x, 2);
  for (int i = 0; i < 6; ++i)
    EXPECT_NEAR(y[i], std::max(x[i], 0.0f), kTol) << i;
}

// Tests that dropped slots add nothing, or their weight times the input.
TEST(Layer, DroppedSlots) {
  IdentityLayer layer;
  LayerConfig config;
  config.hidden = 3;
  config.numExperts = 2;
  config.activation = Activation::ReLU;
  config.routing = RoutingConfig{1};
  // Both tokens prefer expert 0; C = ceil(0.5 · 2 · 1 / 2) = 1.
  config.capacity = CapacityConfig{0.5};
  float x[] = {1.0f, -1.0f, 0.0f, 2.0f, -2.0f, 0.0f};
  std::vector<float> logits = routerLogits(x, layer.router.data(), 2, 3, 2);
  float w1 = routeTokens(logits.data(), 2, 2, *config.routing).weights[1];
  std::vector<float> zero = runLayer(config, layer.weights(), x, 2);
  EXPECT_NEAR(zero[3], 0.0f, kTol);
  EXPECT_NEAR(zero[4], 0.0f, kTol);
  config.capacity->dropped = DroppedSlot::Input;
  std::vector<float> input = runLayer(config, layer.weights(), x, 2);
  EXPECT_NEAR(input[3], w1 * 2.0f, kTol);
  EXPECT_NEAR(input[4], w1 * -2.0f, kTol);
  EXPECT_NEAR(input[0], zero[0], kTol);
}

// Tests zero (identity) experts as LongCat-Flash routes them: softmax over
// E + Z = 3 ids, top-2 selected on the probabilities plus the correction
// bias, weights the probabilities × 2 without renormalisation; the zero
// expert (id 2) adds w·x, real expert e adds w·relu(x).
TEST(Layer, ZeroExperts) {
  IdentityLayer layer;
  std::vector<float> router = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  // Lifts expert 1 (p = 0.039) above expert 0 (p = 0.175) for selection.
  float bias[] = {0.0f, 0.2f, 0.0f};
  LayerWeights w = layer.weights();
  w.router = router.data();
  w.correctionBias = bias;
  LayerConfig config;
  config.hidden = 3;
  config.numExperts = 2;
  config.zeroExperts = 1;
  config.activation = Activation::ReLU;
  config.routing = RoutingConfig{2};
  config.routing->scalingFactor = 2.0f;
  float x[] = {0.5f, -1.0f, 2.0f};
  // Logits are x itself: p = softmax(0.5, -1, 2).
  float sum = std::exp(0.5f) + std::exp(-1.0f) + std::exp(2.0f);
  float p1 = std::exp(-1.0f) / sum, p2 = std::exp(2.0f) / sum;
  std::vector<float> y = runLayer(config, w, x, 1);
  for (int h = 0; h < 3; ++h)
    EXPECT_NEAR(y[h], 2.0f * p2 * x[h] + 2.0f * p1 * std::max(x[h], 0.0f), kTol)
        << h;
}

// Tests SwiGLU and the sigmoid-gated shared expert on one hand-sized case.
TEST(Layer, SwiGluAndGatedShared) {
  // H = 1, F = 1: expert(x) = d · silu(g·x) · (u·x).
  float gate[] = {2.0f}, up[] = {3.0f}, down[] = {0.5f};
  float sGate[] = {1.0f}, sUp[] = {1.0f}, sDown[] = {1.0f}, sSig[] = {4.0f};
  float router[] = {1.0f};
  LayerConfig config;
  config.hidden = 1;
  config.numExperts = 1;
  config.routing = RoutingConfig{1};
  LayerWeights w;
  w.router = router;
  w.experts = {gate, up, down, 1};
  w.shared = FfnWeights{sGate, sUp, sDown, 1};
  w.sharedSigmoidGate = sSig;
  float x[] = {0.7f};
  std::vector<float> y = runLayer(config, w, x, 1);
  auto silu = [](float v) { return v * sigmoid(v); };
  float routed = 0.5f * silu(1.4f) * 2.1f; // weight 1: one expert
  float shared = sigmoid(2.8f) * silu(0.7f) * 0.7f;
  EXPECT_NEAR(y[0], routed + shared, kTol);
}

// Tests a shared expert with an activation of its own on one hand-sized
// case (H = F = 1, x = 0.7): the routed expert clamps at 0.5 in GLM-5's form
// (Hy-V4), the shared one not at all, then at 0.2 in Step-3.7's form.
TEST(Layer, SharedActivationOfItsOwn) {
  float gate[] = {2.0f}, up[] = {3.0f}, down[] = {0.5f};
  float sGate[] = {1.0f}, sUp[] = {1.0f}, sDown[] = {1.0f};
  float router[] = {1.0f};
  LayerConfig config;
  config.hidden = 1;
  config.numExperts = 1;
  config.routing = RoutingConfig{1};
  config.activation = Activation::ClampedSwiGLU;
  config.gluClamp = {1.702f, 0.5f, GluClampForm::ClampGate};
  config.sharedActivation = Activation::SwiGLU;
  LayerWeights w;
  w.router = router;
  w.experts = {gate, up, down, 1};
  w.shared = FfnWeights{sGate, sUp, sDown, 1};
  float x[] = {0.7f};
  auto silu = [](float v) { return v * sigmoid(v); };
  float routed = 0.5f * silu(0.5f) * 0.5f; // g = 1.4, u = 2.1, both clamp
  EXPECT_NEAR(runLayer(config, w, x, 1)[0], routed + silu(0.7f) * 0.7f, kTol);
  config.sharedActivation = Activation::ClampedSwiGLU;
  config.sharedGluClamp = {1.702f, 0.2f, GluClampForm::ClampSilu};
  float shared = 0.2f * 0.2f; // min(silu(0.7), 0.2) · clamp(0.7, ±0.2)
  EXPECT_NEAR(runLayer(config, w, x, 1)[0], routed + shared, kTol);
}

// Tests Cohere2-MoE's "average": the output is (routed + shared) / 2, on
// the hand-sized layer of SwiGluAndGatedShared without the sigmoid gate.
TEST(Layer, SharedAverage) {
  float gate[] = {2.0f}, up[] = {3.0f}, down[] = {0.5f};
  float sGate[] = {1.0f}, sUp[] = {1.0f}, sDown[] = {1.0f};
  float router[] = {1.0f};
  LayerConfig config;
  config.hidden = 1;
  config.numExperts = 1;
  config.routing = RoutingConfig{1};
  config.sharedAverage = true;
  LayerWeights w;
  w.router = router;
  w.experts = {gate, up, down, 1};
  w.shared = FfnWeights{sGate, sUp, sDown, 1};
  float x[] = {0.7f};
  auto silu = [](float v) { return v * sigmoid(v); };
  float routed = 0.5f * silu(1.4f) * 2.1f, shared = silu(0.7f) * 0.7f;
  EXPECT_NEAR(runLayer(config, w, x, 1)[0], (routed + shared) / 2, kTol);
  config.sharedAverage = false;
  EXPECT_NEAR(runLayer(config, w, x, 1)[0], routed + shared, kTol);
}

// Tests Soft MoE by hand: H = F = 1, two experts of one slot, expert e
// computing (e+1)·relu(x); router rows Φᵀ = (1, -1), tokens x = (1, 2).
TEST(Layer, SoftMoE) {
  float router[] = {1.0f, -1.0f}, up[] = {1.0f, 1.0f}, down[] = {1.0f, 2.0f};
  LayerConfig config;
  config.hidden = 1;
  config.numExperts = 2;
  config.activation = Activation::ReLU;
  config.softMoESlots = 1;
  LayerWeights w;
  w.router = router;
  w.experts = {nullptr, up, down, 1};
  float x[] = {1.0f, 2.0f};
  std::vector<float> y = runLayer(config, w, x, 2);
  // Logits per token (x, -x). Dispatch over tokens: slot 0 takes token 0
  // with a = softmax(1, 2)[0] = sigmoid(-1), slot 1 with 1 - a; so the slot
  // inputs are 2 - a and 1 + a.
  float a = sigmoid(-1.0f);
  float slot0 = 2.0f - a, slot1 = 2.0f * (1.0f + a);
  // Combine over slots: token t weights slot 0 by sigmoid(2·x_t).
  float c0 = sigmoid(2.0f), c1 = sigmoid(4.0f);
  ASSERT_EQ(y.size(), 2u);
  EXPECT_NEAR(y[0], c0 * slot0 + (1 - c0) * slot1, kTol);
  EXPECT_NEAR(y[1], c1 * slot0 + (1 - c1) * slot1, kTol);
  // One token alone is each slot's whole input: y = Σ_j c_j·FFN_j(x).
  std::vector<float> alone = runLayer(config, w, x, 1);
  EXPECT_NEAR(alone[0], c0 * 1.0f + (1 - c0) * 2.0f, kTol);
  EXPECT_TRUE(runLayer(config, w, x, 0).empty());
}

// Tests routing statistics on a collapsed router.
TEST(Stats, Collapsed) {
  float logits[] = {1, 0, 0, 1, 0, 0};
  TokenRouting r = oneExpertEach({0, 0}, {1, 1});
  RoutingStats s = routingStats(logits, r, 3, Scoring::Softmax);
  EXPECT_EQ(s.load, (std::vector<int64_t>{2, 0, 0}));
  EXPECT_NEAR(s.entropy, 0.0f, kTol);
  EXPECT_NEAR(s.maxShare, 1.0f, kTol);
  float p0 = std::exp(1.0f) / (std::exp(1.0f) + 2.0f);
  EXPECT_NEAR(s.confidence, p0, kTol);
  EXPECT_NEAR(s.auxLoss, 3.0f * p0, kTol);
}

// Tests the routing-weight histogram's bins: equal widths over [0, range],
// the range itself and anything above it in the last bin, negatives and NaN
// in the first; every slot counted once.
TEST(Stats, WeightHistogram) {
  std::vector<float> weights = {0.0f, 0.04f, 0.26f, 0.5f,         0.99f,
                                1.0f, 1.7f,  -0.1f, std::nanf("")};
  std::vector<float> logits(weights.size() * 2, 0.0f);
  TokenRouting r =
      oneExpertEach(std::vector<int32_t>(weights.size(), 0), weights);
  RoutingStats s = routingStats(logits.data(), r, 2, Scoring::Softmax);
  std::vector<int64_t> expected(20, 0);
  for (int64_t bin : {0, 0, 5, 10, 19, 19, 19, 0, 0})
    ++expected[bin];
  EXPECT_EQ(s.weightHistogram, expected);

  // DeepSeek-V3's scaling factor 2.5: the weights lie in [0, 2.5].
  r = oneExpertEach({0, 0, 0}, {2.5f, 1.25f, 0.1f});
  s = routingStats(logits.data(), r, 2, Scoring::Softmax, 2.5, 4);
  EXPECT_EQ(s.weightHistogram, (std::vector<int64_t>{1, 0, 1, 1}));
}

// Tests that perfectly balanced routing has entropy 1 and aux loss K.
TEST(Stats, Balanced) {
  float logits[] = {0, 0, 0, 0};
  TokenRouting r = oneExpertEach({0, 1}, {0.5f, 0.5f});
  RoutingStats s = routingStats(logits, r, 2, Scoring::Softmax);
  EXPECT_NEAR(s.entropy, 1.0f, kTol);
  EXPECT_NEAR(s.maxShare, 0.5f, kTol);
  EXPECT_NEAR(s.auxLoss, 1.0f, kTol);
}
//===----------------------------------------------------------------------===//
// Routing variants of the transformers MoE families
//===----------------------------------------------------------------------===//

// Tests DeepSeek-V4's sqrtsoftplus scores (PyTorch gives sqrt(softplus) of
// {0, 2, 25, -1} as {0.83255, 1.45840, 5, 0.55970}; above 20 softplus is
// the identity), renormalised.
TEST(RoutingVariants, SqrtSoftplus) {
  float logits[] = {0, 2, 25, -1};
  RoutingConfig config;
  config.topK = 2;
  config.scoring = Scoring::SqrtSoftplus;
  config.renormalize = true;
  TokenRouting r = routeTokens(logits, 1, 4, config);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{2, 1}));
  float s2 = 5.0f, s1 = 1.4583992f;
  EXPECT_NEAR(r.weights[0], s2 / (s2 + s1), kTol);
  EXPECT_NEAR(r.weights[1], s1 / (s2 + s1), kTol);
  config.topK = 4;
  config.renormalize = false;
  r = routeTokens(logits, 1, 4, config);
  EXPECT_NEAR(r.weights[3], 0.5596979f, kTol);
  EXPECT_NEAR(r.weights[2], 0.8325546f, kTol);
}

// Tests GPT-OSS: top-k on the logits, weights the softmax of the k
// selected logits (3, 2, 1 here).
TEST(RoutingVariants, SoftmaxSelected) {
  float logits[] = {1, 3, 2, 0};
  RoutingConfig config;
  config.topK = 3;
  config.selectOn = SelectOn::Logits;
  config.weights = RoutingWeights::SoftmaxSelected;
  TokenRouting r = routeTokens(logits, 1, 4, config);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{1, 2, 0}));
  double z = std::exp(3.0) + std::exp(2.0) + std::exp(1.0);
  EXPECT_NEAR(r.weights[0], std::exp(3.0) / z, kTol);
  EXPECT_NEAR(r.weights[1], std::exp(2.0) / z, kTol);
  EXPECT_NEAR(r.weights[2], std::exp(1.0) / z, kTol);
}

/// Softmax probabilities {3, 4, 1, 1} / 9: the top two are 4/9 and 3/9.
const float kNinths[] = {std::log(3.0f), std::log(4.0f), 0, 0};

// Tests DBRX's p-norm renormalisation: p = 2 divides 4/9, 3/9 by their
// 2-norm 5/9 (epsilon 0); p = 1 by their sum 7/9.
TEST(RoutingVariants, RenormPNorm) {
  RoutingConfig config;
  config.topK = 2;
  config.renormalize = true;
  config.renormP = 2.0;
  config.renormEpsilon = 0.0;
  TokenRouting r = routeTokens(kNinths, 1, 4, config);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{1, 0}));
  EXPECT_NEAR(r.weights[0], 0.8f, kTol);
  EXPECT_NEAR(r.weights[1], 0.6f, kTol);
  config.renormP = 1.0;
  r = routeTokens(kNinths, 1, 4, config);
  EXPECT_NEAR(r.weights[0], 4.0f / 7.0f, kTol);
  config.renormP = 3.0;
  r = routeTokens(kNinths, 1, 4, config);
  EXPECT_NEAR(r.weights[0], 4.0f / std::cbrt(91.0f), kTol);
}

// Tests the renormalisation denominators: norm + epsilon (LFM2-MoE's
// 1e-6), and max(norm, epsilon) (Ernie 4.5's moe_norm_min), which binds
// only when the sum 7/9 is below epsilon.
TEST(RoutingVariants, RenormEpsilonAndClamp) {
  RoutingConfig config;
  config.topK = 2;
  config.renormalize = true;
  config.renormEpsilon = 0.25;
  TokenRouting r = routeTokens(kNinths, 1, 4, config);
  EXPECT_NEAR(r.weights[0], (4.0f / 9.0f) / (7.0f / 9.0f + 0.25f), kTol);
  config.renormClamp = true;
  r = routeTokens(kNinths, 1, 4, config);
  EXPECT_NEAR(r.weights[0], 4.0f / 7.0f, kTol);
  config.renormEpsilon = 0.9;
  r = routeTokens(kNinths, 1, 4, config);
  EXPECT_NEAR(r.weights[0], (4.0f / 9.0f) / 0.9f, kTol);
  EXPECT_NEAR(r.weights[1], (3.0f / 9.0f) / 0.9f, kTol);
}

// Tests Gemma 4's per-expert scale: applied after renormalisation and
// scaling, by the selected expert's id.
TEST(RoutingVariants, ExpertScale) {
  float scale[] = {1.0f, 0.5f, 2.0f, 3.0f};
  RoutingConfig config;
  config.topK = 2;
  config.renormalize = true;
  config.scalingFactor = 2.0f;
  TokenRouting r = routeTokens(kNinths, 1, 4, config, nullptr, scale);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{1, 0}));
  EXPECT_NEAR(r.weights[0], 2.0f * (4.0f / 7.0f) * 0.5f, kTol);
  EXPECT_NEAR(r.weights[1], 2.0f * (3.0f / 7.0f) * 1.0f, kTol);
}

// Tests PhiMoE's sparsemixer (training = False, top-2), the values
// PyTorch's sparsemixer gives: with jitter 0.05 (threshold 0.1) expert 1
// is within the threshold of the first pick and shares its softmax, while
// the second pick (expert 0 taken, the others far below) weighs 1. The
// relative gap divides by max(|l|, m), which for negative logits is |l|.
TEST(RoutingVariants, SparseMixer) {
  RoutingConfig config;
  config.topK = 2;
  config.scoring = Scoring::SparseMixer;
  config.selectOn = SelectOn::Logits;
  config.jitterEps = 0.05;
  float positive[] = {2.0f, 1.9f, 1.0f, -1.0f};
  TokenRouting r = routeTokens(positive, 1, 4, config);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{0, 1}));
  EXPECT_NEAR(r.weights[0], 0.5249792f, kTol);
  EXPECT_NEAR(r.weights[1], 1.0f, kTol);
  float negative[] = {-1.0f, -1.05f, -3.0f, -4.0f};
  r = routeTokens(negative, 1, 4, config);
  ASSERT_EQ(r.experts, (std::vector<int32_t>{0, 1}));
  EXPECT_NEAR(r.weights[0], 0.5124974f, kTol);
  EXPECT_NEAR(r.weights[1], 1.0f, kTol);
  // A tighter threshold masks expert 1 from the first pick.
  config.jitterEps = 0.01;
  r = routeTokens(positive, 1, 4, config);
  EXPECT_NEAR(r.weights[0], 1.0f, kTol);
}

// Tests Gemma 4's router input: x / rms(x) · scale · multiplier, for
// x = {3, 4} (mean square 12.5).
TEST(RoutingVariants, RouterInputNorm) {
  float x[] = {3, 4};
  float scale[] = {1, 2};
  std::vector<float> r = normaliseRouterInput(x, 1, 2, {0.0, 0.5}, scale);
  float rms = std::sqrt(12.5f);
  EXPECT_NEAR(r[0], 3.0f / rms * 0.5f, kTol);
  EXPECT_NEAR(r[1], 4.0f / rms * 2.0f * 0.5f, kTol);
  r = normaliseRouterInput(x, 1, 2, {0.5, 1.0}, nullptr);
  EXPECT_NEAR(r[0], 3.0f / std::sqrt(13.0f), kTol);
}

/// A layer of 2 experts on H = 2, top-1 softmax, ReLU experts computing
/// relu(x0 + x1) scaled by 1 (expert 0) or 2 (expert 1) per channel, and
/// an identity router.
struct TinyLayer {
  float router[4] = {1, 0, 0, 1};
  float up[4] = {1, 1, 1, 1};
  float down[4] = {1, 1, 2, 2};
  LayerConfig config;
  LayerWeights weights;
  TinyLayer() {
    config.hidden = 2;
    config.numExperts = 2;
    config.activation = Activation::ReLU;
    config.routing = RoutingConfig{};
    weights.router = router;
    weights.experts = {nullptr, up, down, 1};
  }
};

// Tests that the router bias moves the logits (x·Wᵀ + b) and so the
// selection and the weight: {3, 4} + {2, 0} picks expert 0 with
// probability sigmoid(1).
TEST(RoutingVariants, RouterBias) {
  TinyLayer layer;
  float x[] = {3, 4};
  std::vector<float> plain = runLayer(layer.config, layer.weights, x, 1);
  EXPECT_NEAR(plain[0], 2.0f * 7.0f * sigmoid(1.0f), 1e-5f);
  float bias[] = {2, 0};
  layer.weights.routerBias = bias;
  std::vector<float> biased = runLayer(layer.config, layer.weights, x, 1);
  EXPECT_NEAR(biased[0], 7.0f * sigmoid(1.0f), 1e-5f);
  EXPECT_NEAR(biased[1], 7.0f * sigmoid(1.0f), 1e-5f);
}

// Tests that the normalised input steers the router only: with scale
// {2, 1} the router sees {6, 4} / rms, picks expert 0, and the expert
// still computes relu(3 + 4).
TEST(RoutingVariants, RouterInputNormInLayer) {
  TinyLayer layer;
  float x[] = {3, 4};
  float scale[] = {2, 1};
  layer.config.routerInputNorm = RouterInputNorm{0.0, 1.0};
  layer.weights.routerInputScale = scale;
  std::vector<float> y = runLayer(layer.config, layer.weights, x, 1);
  float rms = std::sqrt(12.5f);
  float gap = 6.0f / rms - 4.0f / rms;
  EXPECT_NEAR(y[0], 7.0f * sigmoid(gap), 1e-5f);
  EXPECT_NEAR(y[1], 7.0f * sigmoid(gap), 1e-5f);
}
} // namespace

// Tests the expert linears' biases by hand (GPT-OSS):
// y = w · (d · act(g·x + b_g, u·x + b_u) + b_d), the routing weight scaling
// the down bias too; and the block's output bias (JetMoE), added once and
// unscaled. H = F = 1, two experts, top-1 renormalised (weight 1), so the
// routing weight is made visible by a scaling factor of 0.5.
TEST(Layer, LinearAndOutputBiases) {
  float router[] = {1.0f, -1.0f}, gate[] = {2.0f, 1.0f}, up[] = {3.0f, 1.0f},
        down[] = {0.5f, 1.0f}, gateBias[] = {0.25f, 0.0f},
        upBias[] = {-1.0f, 0.0f}, downBias[] = {0.75f, 0.0f},
        outputBias[] = {-2.0f};
  LayerConfig config;
  config.hidden = 1;
  config.numExperts = 2;
  config.routing = RoutingConfig{1};
  config.routing->renormalize = true;
  config.routing->scalingFactor = 0.5f;
  LayerWeights w;
  w.router = router;
  w.experts = {gate, up, down, 1, gateBias, upBias, downBias};
  float x[] = {0.7f}; // logits (0.7, -0.7): expert 0
  auto silu = [](float v) { return v * sigmoid(v); };
  float expert = 0.5f * silu(2.0f * 0.7f + 0.25f) * (3.0f * 0.7f - 1.0f);
  std::vector<float> y = runLayer(config, w, x, 1);
  EXPECT_NEAR(y[0], 0.5f * (expert + 0.75f), kTol);
  w.outputBias = outputBias;
  y = runLayer(config, w, x, 1);
  EXPECT_NEAR(y[0], 0.5f * (expert + 0.75f) - 2.0f, kTol);
}
