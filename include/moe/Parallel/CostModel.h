//===- CostModel.h - what expert parallelism will cost ---------*- C++ -*-===//
//
// An analytic model of one MoE layer run expert-parallel the way moec runs
// it (DESIGN.md §5): tokens split over N ranks, each rank routes its own,
// every (token, expert) pair becomes one row of H activations sent to the
// rank holding the expert (a replicated expert's rows spread by
// ExpertPlacement's replica rule), counts are exchanged first, then rows;
// the owner runs the expert FFN and sends the rows back. Rows a rank keeps
// cross no link. From the layer's shape, a placement, the routing skew (each
// expert's share of the rows), the links and the chips it predicts, per
// rank, the rows and bytes exchanged, the exchange and compute times, what
// overlapping C chunks hides, and the layer time (the slowest rank).
//
// Everything is an expected value over routing: loads are shares, not
// token lists, so rows come out fractional. The model also answers the two
// questions a placement raises: which placement balances a measured load
// (choosePlacement, in the spirit of DeepSeek's EPLB) and how many chunks
// to overlap (chooseChunks). Plain C++ (no LLVM), beside Placement.h.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PARALLEL_COSTMODEL_H
#define MOE_PARALLEL_COSTMODEL_H

#include "moe/Parallel/Placement.h"

#include <cstdint>
#include <string>
#include <vector>

namespace moe {

/// The most ranks the cost model and choosePlacement take: their work grows
/// as N² (every pair of ranks exchanges). Placement files allow
/// limits::kMaxRanks.
constexpr int64_t kMaxModelRanks = 4096;
/// The most chunks chooseChunks tries.
constexpr int64_t kMaxModelChunks = 16;

/// What one MoE layer moves and computes per row.
struct LayerShape {
  int64_t hidden = 0, ffn = 0, experts = 0, topK = 0;
  /// SwiGLU/GeGLU (gate, up, down: 3 matrices) rather than GELU/ReLU (2).
  bool gated = true;
  /// Bytes per element of a dispatched row: 4 for f32 (moec today), 2 for
  /// bf16; fractional for scaled formats (FP8 with one f32 scale per 128
  /// elements: 1 + 4/128 = 1.03125).
  double activationBytes = 4;
  /// Bytes per element of a combined row; 0: activationBytes.
  double combineBytes = 0;
  /// Bytes per weight element (2: bf16).
  double weightBytes = 2;
  /// Width of the shared expert (0: none). It runs on every rank over that
  /// rank's own tokens and sends nothing.
  int64_t sharedFfn = 0;

  int64_t matrices() const { return gated ? 3 : 2; }
  /// 2 * matrices * H * F.
  double flopsPerRow() const;
  /// matrices * H * F * weightBytes.
  double expertWeightBytes() const;
  double dispatchRowBytes() const;
  double combineRowBytes() const;
  /// Empty when every field is in range (sizes within moe::limits, k <= E,
  /// byte widths in (0, 16]); otherwise the first problem, in words.
  std::string verify() const;
};

/// One kind of link as one rank sees it: the bandwidth its all-to-all
/// traffic gets, each direction, and the fixed cost of one exchange step.
struct LinkModel {
  std::string name;
  double bandwidth = 0; // bytes/s
  double latency = 0;   // s
};

/// The presets (nvlink, infiniband, pcie, shm), with their sources in
/// CostModel.cpp; false for another name.
bool linkPreset(const std::string &name, LinkModel &link);
/// "nvlink, infiniband, pcie, shm", for messages.
const char *linkPresetNames();

/// Ranks in groups of ranksPerNode consecutive ranks; ranks of one node talk
/// over `intra`, of different nodes over `inter`.
struct Topology {
  int64_t ranksPerNode = 8;
  LinkModel intra, inter;
  bool sameNode(int64_t a, int64_t b) const {
    return a / ranksPerNode == b / ranksPerNode;
  }
};

/// One rank's chip as a roofline: the expert time is
/// max(flops / flopRate, weight bytes read / memBandwidth).
struct ComputeModel {
  std::string name;
  double flopRate = 0;     // FLOP/s
  double memBandwidth = 0; // bytes/s
};

/// The presets (h800, h100, h200), achievable rather than peak figures
/// (sources in CostModel.cpp); false for another name ("cpu" has no preset:
/// its figures come from the command line).
bool computePreset(const std::string &name, ComputeModel &compute);
/// "h800, h100, h200", for messages.
const char *computePresetNames();

/// Every expert with the same share.
std::vector<double> uniformLoads(int64_t experts);
/// The per-expert loads of a routing-statistics file (`moe-run
/// --stats-json`: {"experts": E, "load": [...]}), as counted; on failure
/// an empty vector with `error` naming `what` and the key.
std::vector<double> parseLoadsJson(const std::string &text,
                                   const std::string &what, std::string &error);
/// `loads` scaled to sum to 1 (they must be non-negative with a positive
/// sum, as parseLoadsJson and uniformLoads give).
std::vector<double> normalizeLoads(const std::vector<double> &loads);

/// Each rank's share of the routed rows under `placement`: the sum over
/// its experts of load / replicas (the replica rule spreads every rank's
/// tokens evenly). `loads` has one entry per expert, in any scale.
std::vector<double> rankLoads(const ExpertPlacement &placement,
                              const std::vector<double> &loads);
struct LoadBalance {
  double max = 0, mean = 0;
  double ratio() const { return mean > 0 ? max / mean : 0; }
};
LoadBalance loadBalance(const std::vector<double> &rankLoads);

/// A load-aware placement of `loads.size()` experts on `ranks` ranks with
/// `redundant` extra replicas, in the spirit of DeepSeek's EPLB:
///  1. replicate: `redundant` times, give one more replica to the expert
///     with the largest load / replicas that is on fewer than `ranks`
///     ranks (ties: lower id);
///  2. pack: replicas by load / replicas, largest first (ties: lower
///     expert id), each onto the least-loaded rank (ties: fewer experts,
///     then lower id) that has a free slot and does not hold that expert;
///     at most ceil((E + R) / N) slots per rank. When every rank with a free
///     slot already holds the expert, the lightest expert of the
///     least-loaded rank without it moves to the free slot and the replica
///     takes its place (possible whenever the expert has fewer replicas
///     than ranks).
/// Deterministic. Needs verifyPlacementChoice(...) to be empty.
ExpertPlacement choosePlacement(const std::vector<double> &loads, int64_t ranks,
                                int64_t redundant);
/// Step 1 alone: each expert's replica count.
std::vector<int64_t> chooseReplicas(const std::vector<double> &loads,
                                    int64_t ranks, int64_t redundant);
/// Step 2 alone: `replicas[e]` (in [1, ranks], summing to `ranks` at least)
/// copies of each expert packed onto `ranks` ranks.
ExpertPlacement packReplicas(const std::vector<double> &loads,
                             const std::vector<int64_t> &replicas,
                             int64_t ranks);
/// Empty when choosePlacement can serve the arguments: 1 <= N <=
/// kMaxModelRanks, 1 <= E <= limits::kMaxExperts, 0 <= R <= E * (N - 1)
/// and R <= limits::kMaxExperts, E + R >= N (no rank left empty), loads
/// non-negative and finite.
std::string verifyPlacementChoice(const std::vector<double> &loads,
                                  int64_t ranks, int64_t redundant);

/// What one rank sends, receives and computes for one layer call.
struct RankCost {
  /// Dispatch rows, one per (token, expert): to and from other ranks, and
  /// those the rank keeps. The combine sends the same rows back.
  double rowsSent = 0, rowsReceived = 0, rowsLocal = 0;
  /// The same with DeepEP-style deduplication: one row per (token,
  /// destination rank), the owner summing its experts' outputs before the
  /// combine sends one row back.
  double tokensSent = 0, tokensReceived = 0, tokensLocal = 0;
  /// Bytes over links in the mode predicted (rows, or tokens with dedup).
  double dispatchBytesSent = 0, dispatchBytesReceived = 0;
  double combineBytesSent = 0, combineBytesReceived = 0;
  /// Dispatch + combine bytes by link kind.
  double intraBytesSent = 0, intraBytesReceived = 0;
  double interBytesSent = 0, interBytesReceived = 0;
  /// Rows the rank's experts compute (its own included), their FLOPs (with
  /// the shared expert's) and the weight bytes read over all chunks.
  double expertRows = 0, flops = 0, weightBytesRead = 0;
  /// Bandwidth parts of the two exchanges: per link kind
  /// max(sent, received) / bandwidth, the slower link kind bounding.
  double dispatchTime = 0, combineTime = 0;
  /// The fixed cost of one exchange step: the latency of the slowest link
  /// kind the rank uses; and the time of the counts (G int32 to each peer).
  double stepLatency = 0, countTime = 0;
  /// The fixed cost of one chunk: three steps (dispatch counts, dispatch
  /// rows, combine rows) and the counts, 3 * stepLatency + countTime.
  double chunkLatency = 0;
  /// dispatchTime + combineTime + chunks * chunkLatency.
  double exchangeTime = 0;
  double computeTime = 0;
  /// What overlap hides, and the rank's layer time (see predict).
  double hiddenTime = 0, layerTime = 0;
};

struct CostPrediction {
  std::vector<RankCost> ranks;
  int64_t chunks = 1;
  /// The rank limit applied (0: none).
  int64_t rankLimit = 0;
  bool dedup = false;
  /// Expected distinct destination ranks per token (its own rank included,
  /// mean over source ranks), without and with the rank limit.
  double destinationRanks = 0, limitedDestinationRanks = 0;
  /// The slowest rank (lowest id on ties), its layer time, and
  /// N * tokensPerRank / layerTime.
  int64_t slowestRank = 0;
  double layerTime = 0, tokensPerSecond = 0;
};

/// Empty when predict can take these inputs: a valid shape, a placement of
/// shape.experts experts on 1 to kMaxModelRanks ranks, loads of one
/// non-negative finite entry per expert with a positive sum, 1 <=
/// tokensPerRank <= limits::kMaxTokens, links and chips with positive
/// finite figures (latency >= 0), ranksPerNode >= 1, 1 <= chunks <=
/// tokensPerRank (a chunk holds a token at least), and a rank limit of 0
/// (none) or M >= 1 such that any M ranks hold k experts at least (M >= N
/// limits nothing).
std::string
verifyCostInputs(const LayerShape &shape, const ExpertPlacement &placement,
                 int64_t tokensPerRank, const std::vector<double> &loads,
                 const Topology &topology, const ComputeModel &compute,
                 int64_t chunks, int64_t rankLimit);

/// The predicted cost of one layer call with `tokensPerRank` tokens on every
/// rank (inputs as verifyCostInputs accepts; `loads` in any scale).
///
/// Rows: source s's tokens choose expert e with probability k * f_e (f the
/// normalised loads); the replica rule sends token t of rank s to replica
/// (s + t) mod m, so s sends e's rows to its replicas in the exact
/// proportions of that rule over t in [0, T).
///
/// Destinations: with P(s, r) the share of s's rows that go to rank r, a
/// token misses rank r with probability prod_{i<k} (1 - P - i/E) / (1 - i/E)
/// (exact for uniform loads without replicas: k experts drawn without
/// replacement), so it reaches sum_r (1 - miss) distinct ranks. A rank limit
/// M (DeepSeek-V2 device-limited routing; group-limited routing whose groups
/// sit on whole ranks) draws the k experts from M ranks' experts instead:
/// at most M (1 - prod_{i<k} (Mg - g - i) / (Mg - i)) ranks, g the mean
/// experts per rank; each destination's count is scaled down to that
/// total. Only deduplicated volumes depend on it: without dedup every
/// (token, expert) pair is one row wherever it goes.
///
/// Times per rank: comm = dispatchTime + combineTime, compute =
/// max(flops / rate, bytes / memBandwidth) where each chunk reads each
/// expert replica's weights when it gets a row (probability
/// 1 - exp(-rows / C), rows arriving independently) and the shared
/// expert's once. With C chunks the exchange of one chunk overlaps the
/// compute of another, a two-stage pipeline:
///   layer = max(comm, compute) + min(comm, compute) / C + C * chunkLatency
///   hidden = min(comm, compute) * (1 - 1 / C)
/// (C = 1: everything in sequence). The layer takes as long as the slowest
/// rank: the all-to-all waits for it.
CostPrediction predict(const LayerShape &shape,
                       const ExpertPlacement &placement, int64_t tokensPerRank,
                       const std::vector<double> &loads,
                       const Topology &topology, const ComputeModel &compute,
                       int64_t chunks, int64_t rankLimit, bool dedup = false);

/// The C in [1, min(kMaxModelChunks, tokensPerRank)] with the smallest
/// predicted layer time (the smaller C on ties).
int64_t chooseChunks(const LayerShape &shape, const ExpertPlacement &placement,
                     int64_t tokensPerRank, const std::vector<double> &loads,
                     const Topology &topology, const ComputeModel &compute,
                     int64_t rankLimit, bool dedup = false);

} // namespace moe

#endif // MOE_PARALLEL_COSTMODEL_H
