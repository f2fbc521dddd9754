//===- RoutingSummary.cpp - what routing statistics say -------------------===//

#include "moe/Runtime/RoutingSummary.h"
#include "moe/Runtime/moe_runtime.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

using namespace moe::runtime;

RoutingSummary moe::runtime::summarizeRouting(const std::vector<float> &values,
                                              int64_t tokens,
                                              int64_t buckets) {
  RoutingSummary summary;
  int64_t experts = std::max<int64_t>(0, static_cast<int64_t>(values.size()) -
                                             MOE_ROUTING_STATS_TAIL);
  summary.experts = experts;
  summary.tokens = tokens;
  if (experts == 0)
    return summary;
  for (int64_t e = 0; e < experts; ++e)
    summary.load.push_back(static_cast<int64_t>(values[e]));
  summary.slots =
      std::accumulate(summary.load.begin(), summary.load.end(), int64_t(0));
  std::vector<int64_t> sorted = summary.load;
  std::sort(sorted.begin(), sorted.end());
  summary.minLoad = sorted.front();
  summary.maxLoad = sorted.back();
  size_t middle = sorted.size() / 2;
  summary.medianLoad = sorted.size() % 2
                           ? static_cast<double>(sorted[middle])
                           : 0.5 * static_cast<double>(sorted[middle - 1] +
                                                       sorted[middle]);
  summary.idle = std::count(sorted.begin(), sorted.end(), int64_t(0));

  std::vector<int64_t> order(experts);
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return summary.load[a] > summary.load[b];
  });
  for (int64_t e : order) {
    if (static_cast<int64_t>(summary.busiest.size()) ==
            RoutingSummary::kBusiest ||
        summary.load[e] == 0)
      break;
    summary.busiest.push_back(e);
  }

  summary.entropyOverLogE = values[experts];
  summary.largestShare = values[experts + 1];
  summary.meanRouterConfidence = values[experts + 2];
  summary.auxLoss = values[experts + 3];
  const float *weights = values.data() + experts + MOE_ROUTING_STATS_SUMMARIES;
  summary.weightRange = weights[0];
  for (int64_t b = 1; b <= MOE_ROUTING_STATS_WEIGHT_BINS; ++b)
    summary.weightHistogram.push_back(static_cast<int64_t>(weights[b]));

  int64_t active = experts - summary.idle;
  if (tokens > 0) {
    summary.largestTokenFraction =
        static_cast<double>(summary.maxLoad) / static_cast<double>(tokens);
    double slotsPerToken =
        static_cast<double>(summary.slots) / static_cast<double>(tokens);
    summary.collapseFraction =
        std::max(0.5, 2 * slotsPerToken / static_cast<double>(experts));
    char text[160];
    if (summary.largestTokenFraction > summary.collapseFraction) {
      std::snprintf(text, sizeof text, "expert %lld takes %.0f%% of the tokens",
                    static_cast<long long>(order.front()),
                    100 * summary.largestTokenFraction);
      summary.collapseReason = text;
    } else if (2 * active < experts) {
      std::snprintf(text, sizeof text,
                    "only %lld of %lld experts get any token",
                    static_cast<long long>(active),
                    static_cast<long long>(experts));
      summary.collapseReason = text;
    }
    summary.collapsed = !summary.collapseReason.empty();
  }

  // Equal-width buckets from 0 through maxLoad.
  buckets = std::max<int64_t>(1, std::min(buckets, summary.maxLoad + 1));
  summary.bucketWidth = (summary.maxLoad + buckets) / buckets;
  buckets = summary.maxLoad / summary.bucketWidth + 1;
  summary.histogram.assign(buckets, 0);
  for (int64_t load : summary.load)
    ++summary.histogram[load / summary.bucketWidth];
  return summary;
}

namespace {
std::string format(const char *pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string jsonNumber(double value) {
  return std::isfinite(value) ? format("%.9g", value) : "null";
}

/// One histogram row: the label right-aligned, a bar as long as `count`'s
/// share of `tallest`, the count.
std::string histogramRow(const std::string &label, int64_t count,
                         int64_t tallest) {
  const int64_t kBarWidth = 40;
  int64_t bar = tallest ? (count * kBarWidth + tallest - 1) / tallest : 0;
  char line[160];
  std::snprintf(line, sizeof line, "  %11s | %-*s %lld\n", label.c_str(),
                static_cast<int>(kBarWidth), std::string(bar, '#').c_str(),
                static_cast<long long>(count));
  return line;
}

/// The weights' histogram in at most kWeightRows rows (adjacent bins
/// merged), from the first row holding a weight to the last.
std::string formatWeightHistogram(const RoutingSummary &summary) {
  const std::vector<int64_t> &bins = summary.weightHistogram;
  if (summary.slots == 0 || bins.empty())
    return "";
  const int64_t kWeightRows = 10;
  int64_t numBins = static_cast<int64_t>(bins.size());
  int64_t perRow = (numBins + kWeightRows - 1) / kWeightRows;
  std::vector<int64_t> rows((numBins + perRow - 1) / perRow, 0);
  for (int64_t b = 0; b < numBins; ++b)
    rows[b / perRow] += bins[b];
  int64_t first = 0, last = static_cast<int64_t>(rows.size()) - 1;
  while (first < last && rows[first] == 0)
    ++first;
  while (last > first && rows[last] == 0)
    --last;
  int64_t tallest = *std::max_element(rows.begin(), rows.end());
  double width = summary.weightRange / static_cast<double>(numBins);
  std::string text = "routing: selected weights per range (of [0, " +
                     format("%g", summary.weightRange) + "]):\n";
  for (int64_t r = first; r <= last; ++r) {
    double low = static_cast<double>(r * perRow) * width;
    double high = std::min<double>(
        static_cast<double>((r + 1) * perRow) * width, summary.weightRange);
    text += histogramRow(format("%.3g", low) + "-" + format("%.3g", high),
                         rows[r], tallest);
  }
  return text;
}

template <typename T>
std::string jsonList(const std::vector<T> &values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i)
    text += (i ? ", " : "") + std::to_string(values[i]);
  return text + "]";
}
} // namespace

std::string moe::runtime::formatRoutingSummary(const RoutingSummary &summary,
                                               int64_t listUpTo) {
  std::string text = "routing: " + std::to_string(summary.experts) +
                     " experts, " + std::to_string(summary.tokens) +
                     " tokens, " + std::to_string(summary.slots) + " slots";
  if (summary.experts == 0)
    return text + "\n";
  if (summary.experts <= listUpTo) {
    text += "; load per expert:";
    for (int64_t load : summary.load)
      text += " " + std::to_string(load);
  }
  text += "\nrouting: load min " + std::to_string(summary.minLoad) +
          ", median " + format("%g", summary.medianLoad) + ", max " +
          std::to_string(summary.maxLoad) + "; " +
          std::to_string(summary.idle) + " idle; busiest:";
  for (int64_t e : summary.busiest)
    text += " " + std::to_string(e) + " (" + std::to_string(summary.load[e]) +
            ")";
  if (summary.busiest.empty())
    text += " none";
  text += "\nrouting: experts per load range:\n";
  int64_t tallest =
      *std::max_element(summary.histogram.begin(), summary.histogram.end());
  for (size_t b = 0; b < summary.histogram.size(); ++b) {
    int64_t low = static_cast<int64_t>(b) * summary.bucketWidth;
    int64_t high = low + summary.bucketWidth - 1;
    std::string range = summary.bucketWidth == 1
                            ? std::to_string(low)
                            : std::to_string(low) + "-" + std::to_string(high);
    text += histogramRow(range, summary.histogram[b], tallest);
  }
  text += formatWeightHistogram(summary);
  text += "routing: entropy/log E " + format("%.4f", summary.entropyOverLogE) +
          ", largest share " + format("%.4f", summary.largestShare) +
          ", mean router confidence " +
          format("%.4f", summary.meanRouterConfidence) + ", aux loss " +
          format("%.4f", summary.auxLoss) + "\n";
  if (summary.tokens == 0)
    return text + "routing: no tokens\n";
  text += summary.collapsed
              ? "routing: COLLAPSED: " + summary.collapseReason + "\n"
              : "routing: not collapsed (the busiest expert takes " +
                    format("%.0f", 100 * summary.largestTokenFraction) +
                    "% of the tokens; " +
                    std::to_string(summary.experts - summary.idle) + " of " +
                    std::to_string(summary.experts) + " experts active)\n";
  return text;
}

std::string moe::runtime::routingSummaryJson(const RoutingSummary &summary,
                                             const std::string &entry) {
  // Entry names are letters, digits and _.$- (parseManifest): no escaping.
  // collapse_reason is ASCII text of ours.
  int64_t largest = summary.busiest.empty() ? 0 : summary.busiest.front();
  return "{\"entry\": \"" + entry +
         "\", \"tokens\": " + std::to_string(summary.tokens) +
         ", \"experts\": " + std::to_string(summary.experts) +
         ", \"load\": " + jsonList(summary.load) +
         ", \"entropy_over_log_e\": " + jsonNumber(summary.entropyOverLogE) +
         ", \"largest_share\": " + jsonNumber(summary.largestShare) +
         ", \"largest_expert\": " + std::to_string(largest) +
         ", \"mean_router_confidence\": " +
         jsonNumber(summary.meanRouterConfidence) +
         ", \"aux_loss\": " + jsonNumber(summary.auxLoss) +
         ", \"slots\": " + std::to_string(summary.slots) +
         ", \"min_load\": " + std::to_string(summary.minLoad) +
         ", \"median_load\": " + jsonNumber(summary.medianLoad) +
         ", \"max_load\": " + std::to_string(summary.maxLoad) +
         ", \"idle_experts\": " + std::to_string(summary.idle) +
         ", \"busiest_experts\": " + jsonList(summary.busiest) +
         ", \"histogram\": {\"bucket_width\": " +
         std::to_string(summary.bucketWidth) +
         ", \"experts\": " + jsonList(summary.histogram) +
         "}, \"weight_histogram\": {\"range\": " +
         jsonNumber(summary.weightRange) +
         ", \"slots\": " + jsonList(summary.weightHistogram) +
         "}, \"collapsed\": " + (summary.collapsed ? "true" : "false") +
         ", \"collapse_reason\": " +
         (summary.collapsed ? "\"" + summary.collapseReason + "\"" : "null") +
         "}\n";
}
