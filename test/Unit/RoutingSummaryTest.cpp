//===- RoutingSummaryTest.cpp - what --stats says of the loads ------------===//
//
// summarizeRouting on hand-made statistics outputs (E loads, the four
// summaries, the weights' range and histogram): the spread, idle and
// busiest experts, the histogram, the collapse rule's two parts and its
// edges, no tokens, the weights' histogram; and the text and JSON forms.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/RoutingSummary.h"
#include "moe/Runtime/moe_runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

using namespace moe::runtime;

namespace {
/// A statistics output: the loads, then entropy, share, confidence, aux,
/// then the weights' range and histogram (all slots in bin 10 unless
/// given).
std::vector<float> statsOutput(const std::vector<float> &loads,
                               std::vector<float> weightBins = {},
                               float weightRange = 1.0f) {
  std::vector<float> values = loads;
  values.insert(values.end(), {0.9f, 0.25f, 0.6f, 1.1f, weightRange});
  if (weightBins.empty()) {
    weightBins.assign(MOE_ROUTING_STATS_WEIGHT_BINS, 0.0f);
    weightBins[10] = std::accumulate(loads.begin(), loads.end(), 0.0f);
  }
  values.insert(values.end(), weightBins.begin(), weightBins.end());
  return values;
}
} // namespace

// Tests the spread of the loads, the idle experts, the busiest ones (most
// loaded first, ties to the lower id, idle ones never) and the histogram of
// equal-width buckets from 0 through the largest load.
TEST(RoutingSummary, SpreadBusiestHistogram) {
  // 8 experts, 10 tokens, top-2: 20 slots.
  RoutingSummary s =
      summarizeRouting(statsOutput({0, 5, 3, 0, 5, 2, 4, 1}), 10);
  EXPECT_EQ(s.experts, 8);
  EXPECT_EQ(s.slots, 20);
  EXPECT_EQ(s.minLoad, 0);
  EXPECT_EQ(s.maxLoad, 5);
  EXPECT_DOUBLE_EQ(s.medianLoad, 2.5);
  EXPECT_EQ(s.idle, 2);
  EXPECT_EQ(s.busiest, (std::vector<int64_t>{1, 4, 6, 2, 5}));
  // Loads 0..5 in at most 8 buckets: one per load.
  EXPECT_EQ(s.bucketWidth, 1);
  EXPECT_EQ(s.histogram, (std::vector<int64_t>{2, 1, 1, 1, 1, 2}));
  EXPECT_FLOAT_EQ(s.entropyOverLogE, 0.9f);
  EXPECT_FLOAT_EQ(s.auxLoss, 1.1f);
  EXPECT_FALSE(s.collapsed);
  EXPECT_DOUBLE_EQ(s.largestTokenFraction, 0.5);

  // Wider loads share buckets: 0..99 in 8 buckets of 13.
  RoutingSummary wide = summarizeRouting(statsOutput({99, 0, 13, 12}), 100);
  EXPECT_EQ(wide.bucketWidth, 13);
  ASSERT_EQ(wide.histogram.size(), 8u);
  EXPECT_EQ(wide.histogram[0], 2);
  EXPECT_EQ(wide.histogram[1], 1);
  EXPECT_EQ(wide.histogram[7], 1);
}

// Tests the collapse rule: an expert with more than half of the tokens
// (exactly half is not), or fewer than half of the experts active (exactly
// half is not); the first part only above twice the even share k/E (top-2
// of 4 experts gives every expert half the tokens on average).
TEST(RoutingSummary, CollapseRule) {
  RoutingSummary half =
      summarizeRouting(statsOutput({5, 1, 1, 1, 1, 1, 0, 0}), 10);
  EXPECT_FALSE(half.collapsed);
  RoutingSummary one =
      summarizeRouting(statsOutput({6, 1, 1, 1, 1, 0, 0, 0}), 10);
  EXPECT_TRUE(one.collapsed);
  EXPECT_EQ(one.collapseReason, "expert 0 takes 60% of the tokens");
  // Top-2 of 4: 8 of 10 tokens is not above 2k/E = 1.
  RoutingSummary even = summarizeRouting(statsOutput({8, 4, 4, 4}), 10);
  EXPECT_DOUBLE_EQ(even.collapseFraction, 1.0);
  EXPECT_FALSE(even.collapsed);

  // 8 experts, 4 active: not collapsed; 3 active: collapsed.
  EXPECT_FALSE(
      summarizeRouting(statsOutput({3, 3, 2, 2, 0, 0, 0, 0}), 10).collapsed);
  RoutingSummary few =
      summarizeRouting(statsOutput({4, 3, 3, 0, 0, 0, 0, 0}), 10);
  EXPECT_TRUE(few.collapsed);
  EXPECT_EQ(few.collapseReason, "only 3 of 8 experts get any token");
}

// Tests that no tokens is no collapse, no busiest expert, one bucket, and
// JSON nulls for the undefined summaries.
TEST(RoutingSummary, NoTokens) {
  std::vector<float> values = {0, 0, 0, NAN, 0, NAN, 0, 1};
  values.resize(3 + MOE_ROUTING_STATS_TAIL, 0.0f);
  RoutingSummary s = summarizeRouting(values, 0);
  EXPECT_EQ(s.experts, 3);
  EXPECT_FALSE(s.collapsed);
  EXPECT_TRUE(s.busiest.empty());
  EXPECT_EQ(s.histogram, (std::vector<int64_t>{3}));
  std::string json = routingSummaryJson(s, "layer");
  EXPECT_NE(json.find("\"entropy_over_log_e\": null"), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"collapsed\": false, \"collapse_reason\": null"),
            std::string::npos)
      << json;
  EXPECT_NE(formatRoutingSummary(s).find("routing: no tokens"),
            std::string::npos);
}

// Tests the text: the loads listed up to the bound only, the busiest with
// their loads, one histogram row per bucket with a bar as long as its share
// of the tallest, and the verdict.
TEST(RoutingSummary, Text) {
  std::vector<float> loads(32, 2);
  loads[7] = 40;
  RoutingSummary s = summarizeRouting(statsOutput(loads), 50);
  std::string text = formatRoutingSummary(s);
  EXPECT_EQ(text.find("load per expert"), std::string::npos) << text;
  EXPECT_NE(text.find("routing: 32 experts, 50 tokens, 102 slots\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("busiest: 7 (40) 0 (2) 1 (2) 2 (2) 3 (2)\n"),
            std::string::npos)
      << text;
  // Loads 0..40 in buckets of 6: 31 experts in 0-5, one in 36-41.
  EXPECT_NE(text.find("          0-5 | " + std::string(40, '#') + " 31\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("        36-41 | " + std::string(2, '#') +
                      std::string(38, ' ') + " 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("routing: COLLAPSED: expert 7 takes 80% of the tokens"),
            std::string::npos)
      << text;
  EXPECT_NE(formatRoutingSummary(s, 32).find("load per expert: 2 2"),
            std::string::npos);
}

// Tests the routing weights' histogram: read after the summaries, printed
// in at most ten rows (20 bins merged in pairs) from the first row holding
// a weight to the last, and written to JSON bin by bin.
TEST(RoutingSummary, WeightHistogram) {
  std::vector<float> bins(MOE_ROUTING_STATS_WEIGHT_BINS, 0.0f);
  bins[4] = 6;  // [0.5, 0.625)
  bins[5] = 2;  // [0.625, 0.75)
  bins[12] = 4; // [1.5, 1.625)
  RoutingSummary s = summarizeRouting(statsOutput({4, 4, 4}, bins, 2.5f), 6);
  EXPECT_DOUBLE_EQ(s.weightRange, 2.5);
  ASSERT_EQ(s.weightHistogram.size(),
            static_cast<size_t>(MOE_ROUTING_STATS_WEIGHT_BINS));
  EXPECT_EQ(s.weightHistogram[4], 6);
  EXPECT_EQ(s.weightHistogram[12], 4);
  std::string text = formatRoutingSummary(s);
  EXPECT_NE(text.find("routing: selected weights per range (of [0, 2.5]):\n"
                      "     0.5-0.75 | " +
                      std::string(40, '#') + " 8\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("       0.75-1 |" + std::string(42, ' ') + "0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("     1.5-1.75 | " + std::string(20, '#') +
                      std::string(20, ' ') + " 4\nrouting: entropy"),
            std::string::npos)
      << text;
  // Rows before the first weight are left out.
  EXPECT_EQ(text.find("0-0.25"), std::string::npos) << text;
  std::string json = routingSummaryJson(s, "layer");
  EXPECT_NE(json.find("\"weight_histogram\": {\"range\": 2.5, \"slots\": "
                      "[0, 0, 0, 0, 6, 2, 0, 0, 0, 0, 0, 0, 4, 0,"),
            std::string::npos)
      << json;
}
