//===- RoutingSummary.h - what routing statistics say -----------*- C++ -*-===//
//
// A routing-statistics entry writes E loads (the slots each expert got),
// four summaries and a histogram of the selected routing weights
// (moe_runtime.h). RoutingSummary reads them for a person: the spread of
// the loads, the idle and the busiest experts, a histogram of the loads,
// the weights' histogram, and whether routing has collapsed by the rule
// the project's seeds use
// (one expert takes more than half of the tokens, or fewer than half of
// the experts get any; the first part only where half the tokens is at
// least twice an expert's even share k/E: with top-2 of 4 experts every
// expert gets half the tokens on average). moe-run --stats prints it and
// --stats-json writes it; the Python package returns it. Plain C++.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_ROUTINGSUMMARY_H
#define MOE_RUNTIME_ROUTINGSUMMARY_H

#include <cstdint>
#include <string>
#include <vector>

namespace moe::runtime {

struct RoutingSummary {
  int64_t experts = 0, tokens = 0;
  /// Each expert's load (slots routed to it) and their sum.
  std::vector<int64_t> load;
  int64_t slots = 0;
  int64_t minLoad = 0, maxLoad = 0;
  /// The median load (the mean of the middle two for an even count).
  double medianLoad = 0;
  /// Experts that got no token.
  int64_t idle = 0;
  /// The busiest experts, most loaded first (ties: lower id), at most
  /// kBusiest of those with any load.
  static constexpr int64_t kBusiest = 5;
  std::vector<int64_t> busiest;
  /// The entry's summaries (NaN when undefined, as with no tokens).
  double entropyOverLogE = 0, largestShare = 0, meanRouterConfidence = 0,
         auxLoss = 0;
  /// The busiest expert's load over the tokens (an expert gets a token at
  /// most once), and the fraction above which that is collapse:
  /// max(0.5, 2k/E), k the slots per token.
  double largestTokenFraction = 0, collapseFraction = 0.5;
  /// The collapse rule; `collapseReason` says which part holds ("" when
  /// neither).
  bool collapsed = false;
  std::string collapseReason;
  /// Experts per load range: bucket b counts loads in
  /// [b * width, (b + 1) * width), the last bucket holding maxLoad.
  int64_t bucketWidth = 1;
  std::vector<int64_t> histogram;
  /// The selected routing weights: bin b counts those in
  /// [b, b + 1) * weightRange / bins (the range and above in the last, below
  /// 0 in the first); they sum to `slots`.
  double weightRange = 1;
  std::vector<int64_t> weightHistogram;
};

/// Reads `values` (E loads, then MOE_ROUTING_STATS_TAIL statistics) of a
/// statistics entry run on `tokens` tokens. `buckets` bounds the load
/// histogram's length.
RoutingSummary summarizeRouting(const std::vector<float> &values,
                                int64_t tokens, int64_t buckets = 8);

/// The summary as lines of text, each starting "routing: " (the histogram's
/// rows indented below its line); the loads one by one when E <=
/// `listUpTo`.
std::string formatRoutingSummary(const RoutingSummary &summary,
                                 int64_t listUpTo = 16);

/// The summary as one JSON object (loads, summaries, busiest, histogram,
/// the weights' histogram, collapse); a number that is not finite is null.
std::string routingSummaryJson(const RoutingSummary &summary,
                               const std::string &entry);

} // namespace moe::runtime

#endif // MOE_RUNTIME_ROUTINGSUMMARY_H
