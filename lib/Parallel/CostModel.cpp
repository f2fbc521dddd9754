//===- CostModel.cpp - what expert parallelism will cost ------------------===//

#include "moe/Parallel/CostModel.h"
#include "moe/Support/Json.h"
#include "moe/Support/Limits.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <queue>

using namespace moe;
using nlohmann::json;

namespace {
std::string str(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

bool positiveFinite(double value) { return std::isfinite(value) && value > 0; }

/// prod_{i<k} max(0, (a - i) / (b - i)) for real 0 <= a <= b, b >= k: the
/// chance that k distinct draws from b items miss a set of b - a of them.
/// Through lgamma, so that k may be as large as the expert count.
double missProbability(double a, double b, int64_t k) {
  if (a <= static_cast<double>(k - 1))
    return 0;
  double kk = static_cast<double>(k);
  return std::exp(std::lgamma(a + 1) - std::lgamma(a - kk + 1) -
                  std::lgamma(b + 1) + std::lgamma(b - kk + 1));
}

/// Time of one exchange step over two link kinds that work at once: per
/// kind, the larger direction over its bandwidth; the slower kind bounds.
double linkTime(double sentIntra, double receivedIntra, double sentInter,
                double receivedInter, const Topology &topology) {
  return std::max(std::max(sentIntra, receivedIntra) / topology.intra.bandwidth,
                  std::max(sentInter, receivedInter) /
                      topology.inter.bandwidth);
}

/// What does not depend on the chunk count: every rank's volumes (in rows
/// or tokens, by link kind) and expected rows per expert replica.
struct Volumes {
  int64_t numRanks = 0;
  std::vector<RankCost> ranks;
  /// Units (rows, or tokens with dedup) each rank sends to / receives from
  /// other ranks, by link kind.
  std::vector<double> sentIntra, sentInter, receivedIntra, receivedInter;
  /// Expected rows of each replica on each rank, slot by slot.
  std::vector<std::vector<double>> replicaRows;
  double destinationRanks = 0, limitedDestinationRanks = 0;
  int64_t rankLimit = 0;
};

Volumes computeVolumes(const LayerShape &shape,
                       const ExpertPlacement &placement, int64_t tokensPerRank,
                       const std::vector<double> &loads,
                       const Topology &topology, int64_t rankLimit,
                       bool dedup) {
  const int64_t N = placement.numRanks(), E = shape.experts, k = shape.topK;
  const double T = static_cast<double>(tokensPerRank);
  std::vector<double> share = normalizeLoads(loads);

  // Replica ranks of each expert, in rank order (the replica rule's order).
  std::vector<std::vector<int64_t>> replicaRanks(E);
  int64_t slots = 0;
  for (int64_t r = 0; r < N; ++r)
    for (int64_t e : placement.rankExperts[r]) {
      replicaRanks[e].push_back(r);
      ++slots;
    }
  // Experts on one rank take the same share from every source; the others
  // are split by the replica rule, which depends on the source.
  std::vector<double> base(N, 0.0);
  std::vector<int64_t> replicated;
  for (int64_t e = 0; e < E; ++e) {
    if (replicaRanks[e].size() == 1)
      base[replicaRanks[e][0]] += share[e];
    else
      replicated.push_back(e);
  }

  Volumes v;
  v.numRanks = N;
  v.ranks.assign(N, RankCost());
  v.sentIntra.assign(N, 0);
  v.sentInter.assign(N, 0);
  v.receivedIntra.assign(N, 0);
  v.receivedInter.assign(N, 0);
  // Rows of each (expert, replica index), summed over sources.
  std::vector<std::vector<double>> rowsOfReplica(E);
  for (int64_t e = 0; e < E; ++e)
    rowsOfReplica[e].assign(replicaRanks[e].size(), 0.0);
  for (int64_t e = 0; e < E; ++e)
    if (replicaRanks[e].size() == 1)
      rowsOfReplica[e][0] = static_cast<double>(N) * T * k * share[e];

  // The rank limit caps the distinct destinations: k experts drawn from the
  // experts of M ranks (g each on average) reach this many of them.
  v.rankLimit = rankLimit > 0 && rankLimit < N ? rankLimit : 0;
  double limitedReach = 0;
  if (v.rankLimit) {
    double g = static_cast<double>(slots) / static_cast<double>(N);
    double pool = static_cast<double>(v.rankLimit) * g;
    limitedReach = static_cast<double>(v.rankLimit) *
                   (1 - missProbability(pool - g, pool, k));
  }

  std::vector<double> P(N), hits(N);
  double sumReach = 0, sumLimited = 0;
  for (int64_t s = 0; s < N; ++s) {
    P = base;
    for (int64_t e : replicated) {
      int64_t m = static_cast<int64_t>(replicaRanks[e].size());
      // Token t of rank s goes to replica (s + t) mod m: replica j gets the
      // t = j - s (mod m) in [0, T).
      for (int64_t j = 0; j < m; ++j) {
        int64_t residue = ((j - s) % m + m) % m;
        double count = static_cast<double>(tokensPerRank / m +
                                           (residue < tokensPerRank % m));
        P[replicaRanks[e][j]] += share[e] * count / T;
        rowsOfReplica[e][j] += static_cast<double>(k) * share[e] * count;
      }
    }
    double reach = 0;
    for (int64_t r = 0; r < N; ++r) {
      double p = std::min(1.0, std::max(0.0, P[r]));
      hits[r] = 1 - missProbability(static_cast<double>(E) * (1 - p),
                                    static_cast<double>(E), k);
      reach += hits[r];
    }
    double scale = 1;
    double limited = reach;
    if (v.rankLimit && reach > limitedReach) {
      scale = limitedReach / reach;
      limited = limitedReach;
    }
    sumReach += reach;
    sumLimited += limited;
    RankCost &source = v.ranks[s];
    for (int64_t r = 0; r < N; ++r) {
      double rows = T * k * P[r];
      double tokens = T * hits[r] * scale;
      if (r == s) {
        source.rowsLocal = rows;
        source.tokensLocal = tokens;
        continue;
      }
      source.rowsSent += rows;
      source.tokensSent += tokens;
      v.ranks[r].rowsReceived += rows;
      v.ranks[r].tokensReceived += tokens;
      double units = dedup ? tokens : rows;
      if (topology.sameNode(s, r)) {
        v.sentIntra[s] += units;
        v.receivedIntra[r] += units;
      } else {
        v.sentInter[s] += units;
        v.receivedInter[r] += units;
      }
    }
  }
  v.destinationRanks = sumReach / static_cast<double>(N);
  v.limitedDestinationRanks = sumLimited / static_cast<double>(N);

  // Rows by rank and slot.
  v.replicaRows.assign(N, {});
  std::vector<size_t> nextReplica(E, 0);
  for (int64_t r = 0; r < N; ++r)
    for (int64_t e : placement.rankExperts[r])
      v.replicaRows[r].push_back(rowsOfReplica[e][nextReplica[e]++]);
  return v;
}

CostPrediction finish(const Volumes &v, const LayerShape &shape,
                      int64_t tokensPerRank, const Topology &topology,
                      const ComputeModel &compute, int64_t slotsPerRank,
                      int64_t chunks, bool dedup) {
  const int64_t N = v.numRanks;
  const double C = static_cast<double>(chunks);
  const double T = static_cast<double>(tokensPerRank);
  const double H = static_cast<double>(shape.hidden);
  const double dispatchBytes = shape.dispatchRowBytes();
  const double combineBytes = shape.combineRowBytes();
  const double weights = shape.expertWeightBytes();
  const double sharedFlops =
      2.0 * shape.matrices() * H * static_cast<double>(shape.sharedFfn) * T;
  const double sharedWeights = static_cast<double>(shape.matrices()) * H *
                               static_cast<double>(shape.sharedFfn) *
                               shape.weightBytes;

  CostPrediction result;
  result.ranks = v.ranks;
  result.chunks = chunks;
  result.rankLimit = v.rankLimit;
  result.dedup = dedup;
  result.destinationRanks = v.destinationRanks;
  result.limitedDestinationRanks = v.limitedDestinationRanks;
  for (int64_t r = 0; r < N; ++r) {
    RankCost &rank = result.ranks[r];
    // Dispatch r -> others; the combine sends back what came in.
    double dsI = v.sentIntra[r] * dispatchBytes,
           dsX = v.sentInter[r] * dispatchBytes,
           drI = v.receivedIntra[r] * dispatchBytes,
           drX = v.receivedInter[r] * dispatchBytes;
    double csI = v.receivedIntra[r] * combineBytes,
           csX = v.receivedInter[r] * combineBytes,
           crI = v.sentIntra[r] * combineBytes,
           crX = v.sentInter[r] * combineBytes;
    rank.dispatchBytesSent = dsI + dsX;
    rank.dispatchBytesReceived = drI + drX;
    rank.combineBytesSent = csI + csX;
    rank.combineBytesReceived = crI + crX;
    rank.intraBytesSent = dsI + csI;
    rank.intraBytesReceived = drI + crI;
    rank.interBytesSent = dsX + csX;
    rank.interBytesReceived = drX + crX;
    rank.dispatchTime = linkTime(dsI, drI, dsX, drX, topology);
    rank.combineTime = linkTime(csI, crI, csX, crX, topology);

    // Per chunk: the counts (G int32 to each peer) and three steps.
    int64_t nodeBegin = r / topology.ranksPerNode * topology.ranksPerNode;
    int64_t peersIntra = std::min(topology.ranksPerNode, N - nodeBegin) - 1;
    int64_t peersInter = N - 1 - peersIntra;
    double countBytes = 4.0 * static_cast<double>(slotsPerRank);
    rank.stepLatency = std::max(peersIntra ? topology.intra.latency : 0.0,
                                peersInter ? topology.inter.latency : 0.0);
    rank.countTime =
        linkTime(peersIntra * countBytes, peersIntra * countBytes,
                 peersInter * countBytes, peersInter * countBytes, topology);
    rank.chunkLatency = 3 * rank.stepLatency + rank.countTime;

    rank.expertRows = 0;
    double readPerChunk = 0;
    for (double rows : v.replicaRows[r]) {
      rank.expertRows += rows;
      readPerChunk += weights * -std::expm1(-rows / C);
    }
    rank.flops = rank.expertRows * shape.flopsPerRow() + sharedFlops;
    rank.weightBytesRead = C * readPerChunk + sharedWeights;
    rank.computeTime = std::max(rank.flops / compute.flopRate,
                                rank.weightBytesRead / compute.memBandwidth);

    double comm = rank.dispatchTime + rank.combineTime;
    rank.exchangeTime = comm + C * rank.chunkLatency;
    double longer = std::max(comm, rank.computeTime);
    double shorter = std::min(comm, rank.computeTime);
    rank.hiddenTime = shorter * (1 - 1 / C);
    rank.layerTime = longer + shorter / C + C * rank.chunkLatency;
    if (rank.layerTime > result.layerTime) {
      result.layerTime = rank.layerTime;
      result.slowestRank = r;
    }
  }
  result.tokensPerSecond =
      result.layerTime > 0 ? static_cast<double>(N) * T / result.layerTime : 0;
  return result;
}
} // namespace

double LayerShape::flopsPerRow() const {
  return 2.0 * matrices() * static_cast<double>(hidden) *
         static_cast<double>(ffn);
}

double LayerShape::expertWeightBytes() const {
  return static_cast<double>(matrices()) * static_cast<double>(hidden) *
         static_cast<double>(ffn) * weightBytes;
}

double LayerShape::dispatchRowBytes() const {
  return static_cast<double>(hidden) * activationBytes;
}

double LayerShape::combineRowBytes() const {
  return static_cast<double>(hidden) *
         (combineBytes > 0 ? combineBytes : activationBytes);
}

std::string LayerShape::verify() const {
  auto range = [](const char *what, int64_t value, int64_t lo, int64_t hi) {
    if (value >= lo && value <= hi)
      return std::string();
    return std::string(what) + " must be in [" + std::to_string(lo) + ", " +
           std::to_string(hi) + "], not " + std::to_string(value);
  };
  for (std::string problem :
       {range("hidden", hidden, 1, limits::kMaxHidden),
        range("ffn", ffn, 1, limits::kMaxFfn),
        range("experts", experts, 1, limits::kMaxExperts),
        range("top-k", topK, 1, std::max<int64_t>(experts, 1)),
        range("shared ffn", sharedFfn, 0, limits::kMaxFfn)})
    if (!problem.empty())
      return problem;
  auto width = [](const char *what, double value) {
    if (std::isfinite(value) && value > 0 && value <= 16)
      return std::string();
    return std::string(what) + " must be in (0, 16] bytes, not " + str(value);
  };
  if (std::string problem = width("activation bytes", activationBytes);
      !problem.empty())
    return problem;
  if (combineBytes != 0)
    if (std::string problem = width("combine bytes", combineBytes);
        !problem.empty())
      return problem;
  return width("weight bytes", weightBytes);
}

// Link presets: the bandwidth one rank's all-to-all traffic gets (each
// direction) and the fixed cost of one exchange step (launch, signalling,
// first bytes).
//  * nvlink: H800 NVLink 4 as DeepEP measures it, ~160 GB/s per GPU
//    ("H800 (~160 GB/s NVLink maximum bandwidth)", 153/158 GB/s dispatch /
//    combine at EP8: github.com/deepseek-ai/DeepEP, docs/legacy.md). An H100
//    has 900 GB/s of NVLink 4 (450 each way); use a custom link for it.
//    Latency fitted to DeepEP's low-latency dispatch at EP8 (77 us for 128
//    tokens of 7168 in FP8, top-8): the 6.6 MB that leave a rank take 41 us
//    at 160 GB/s, and the rest over the two steps of a dispatch (counts,
//    rows) is 18 us each.
//  * infiniband: one 400 Gb/s ConnectX-7 per GPU, ~50 GB/s (DeepEP's
//    figure; it measured 43-58 GB/s at EP16-64). Latency fitted likewise to
//    the low-latency dispatch at EP256 (194 us, 147 us of it bandwidth):
//    23 us a step.
//  * pcie: PCIe 5.0 x16, 32 GT/s x 16 lanes (128b/130b) = 63 GB/s each way,
//    ~50 GB/s achievable for peer-to-peer copies (80%); latency assumed as
//    an RDMA step's, 20 us.
//  * shm: MPI over shared memory on this project's 2-core machines, 1.5 GB/s
//    per rank at 2 ranks (MPI_Ialltoallv, 4 MB per peer:
//    shared/notes/mpi.md; 0.8 GB/s at 4 oversubscribed ranks); latency not
//    measured there, 20 us assumed.
bool moe::linkPreset(const std::string &name, LinkModel &link) {
  struct Preset {
    const char *name;
    double bandwidth, latency;
  };
  static const Preset kPresets[] = {{"nvlink", 160e9, 18e-6},
                                    {"infiniband", 50e9, 23e-6},
                                    {"pcie", 50e9, 20e-6},
                                    {"shm", 1.5e9, 20e-6}};
  for (const Preset &preset : kPresets)
    if (name == preset.name) {
      link = {preset.name, preset.bandwidth, preset.latency};
      return true;
    }
  return false;
}

const char *moe::linkPresetNames() { return "nvlink, infiniband, pcie, shm"; }

// Compute presets: achievable, not peak. H100/H800 SXM: 989 TFLOP/s dense
// BF16 and 3.35 TB/s HBM3 (NVIDIA's H100 datasheet; the H800 differs only
// in its links); H200: the same chip with 4.8 TB/s HBM3e. Grouped expert
// GEMMs reach about half the dense peak (Triton's fused MoE, what vLLM runs
// for bf16, ~500 TFLOP/s on H100), so 0.5; HBM streams reach about 80% of
// the datasheet figure.
bool moe::computePreset(const std::string &name, ComputeModel &compute) {
  constexpr double kFlops = 0.5 * 989e12, kHbmFraction = 0.8;
  if (name == "h800" || name == "h100") {
    compute = {name, kFlops, kHbmFraction * 3.35e12};
    return true;
  }
  if (name == "h200") {
    compute = {name, kFlops, kHbmFraction * 4.8e12};
    return true;
  }
  return false;
}

const char *moe::computePresetNames() { return "h800, h100, h200"; }

std::vector<double> moe::uniformLoads(int64_t experts) {
  return std::vector<double>(std::max<int64_t>(experts, 0), 1.0);
}

std::vector<double> moe::parseLoadsJson(const std::string &text,
                                        const std::string &what,
                                        std::string &error) {
  json document = parseBoundedJson(text.data(), text.size(), what, error);
  if (document.is_discarded())
    return {};
  auto fail = [&](const std::string &message) {
    error = what + ": " + message;
    return std::vector<double>();
  };
  auto load = document.find("load");
  if (load == document.end() || !load->is_array() || load->empty() ||
      load->size() > static_cast<size_t>(limits::kMaxExperts))
    return fail("\"load\" must be an array of 1 to " +
                std::to_string(limits::kMaxExperts) +
                " numbers, one per expert");
  std::vector<double> loads;
  double sum = 0;
  for (size_t e = 0; e < load->size(); ++e) {
    const json &value = (*load)[e];
    double number = value.is_number() ? value.get<double>() : -1;
    if (!std::isfinite(number) || number < 0)
      return fail("\"load\"[" + std::to_string(e) + "] must be a " +
                  "non-negative number, not " + value.dump());
    loads.push_back(number);
    sum += number;
  }
  if (auto experts = document.find("experts"); experts != document.end()) {
    if (!experts->is_number_integer() ||
        experts->get<int64_t>() != static_cast<int64_t>(loads.size()))
      return fail("\"experts\" is " + experts->dump() + " but \"load\" has " +
                  std::to_string(loads.size()) + " entries");
  }
  if (!(sum > 0) || !std::isfinite(sum))
    return fail("\"load\" sums to " + str(sum) +
                ": no routed rows to take shares from");
  return loads;
}

std::vector<double> moe::normalizeLoads(const std::vector<double> &loads) {
  double sum = std::accumulate(loads.begin(), loads.end(), 0.0);
  std::vector<double> shares(loads.size());
  for (size_t e = 0; e < loads.size(); ++e)
    shares[e] = sum > 0 ? loads[e] / sum : 0;
  return shares;
}

std::vector<double> moe::rankLoads(const ExpertPlacement &placement,
                                   const std::vector<double> &loads) {
  std::vector<int64_t> replicas(placement.numExperts, 0);
  for (const std::vector<int64_t> &experts : placement.rankExperts)
    for (int64_t e : experts)
      ++replicas[e];
  std::vector<double> result(placement.numRanks(), 0.0);
  for (int64_t r = 0; r < placement.numRanks(); ++r)
    for (int64_t e : placement.rankExperts[r])
      result[r] += loads[e] / static_cast<double>(replicas[e]);
  return result;
}

LoadBalance moe::loadBalance(const std::vector<double> &rankLoads) {
  LoadBalance balance;
  if (rankLoads.empty())
    return balance;
  balance.max = *std::max_element(rankLoads.begin(), rankLoads.end());
  balance.mean = std::accumulate(rankLoads.begin(), rankLoads.end(), 0.0) /
                 static_cast<double>(rankLoads.size());
  return balance;
}

std::string moe::verifyPlacementChoice(const std::vector<double> &loads,
                                       int64_t ranks, int64_t redundant) {
  int64_t E = static_cast<int64_t>(loads.size());
  if (ranks < 1 || ranks > kMaxModelRanks)
    return "the ep-size must be in [1, " + std::to_string(kMaxModelRanks) +
           "], not " + std::to_string(ranks);
  if (E < 1 || E > limits::kMaxExperts)
    return "the expert count must be in [1, " +
           std::to_string(limits::kMaxExperts) + "], not " + std::to_string(E);
  for (size_t e = 0; e < loads.size(); ++e)
    if (!std::isfinite(loads[e]) || loads[e] < 0)
      return "expert " + std::to_string(e) +
             "'s load must be a non-negative "
             "number, not " +
             str(loads[e]);
  int64_t most = std::min(E * (ranks - 1), limits::kMaxExperts);
  if (redundant < 0 || redundant > most)
    return "the redundant replicas must be in [0, " + std::to_string(most) +
           "] (each expert at most once per rank), not " +
           std::to_string(redundant);
  if (E + redundant < ranks)
    return std::to_string(E) + " experts and " + std::to_string(redundant) +
           " redundant replicas leave some of the " + std::to_string(ranks) +
           " ranks empty: give at least " + std::to_string(ranks - E) +
           " redundant replicas";
  return {};
}

namespace {
/// Which of two experts goes first: the larger load per replica, then the
/// lower id.
struct HeavierFirst {
  const std::vector<double> &loads;
  const std::vector<int64_t> &replicas;
  double perReplica(int64_t e) const {
    return loads[e] / static_cast<double>(replicas[e]);
  }
  bool operator()(int64_t a, int64_t b) const {
    double la = perReplica(a), lb = perReplica(b);
    return la != lb ? la > lb : a < b;
  }
};
} // namespace

std::vector<int64_t> moe::chooseReplicas(const std::vector<double> &loads,
                                         int64_t ranks, int64_t redundant) {
  const int64_t E = static_cast<int64_t>(loads.size());
  std::vector<int64_t> replicas(E, 1);
  HeavierFirst heavier{loads, replicas};
  // A max-heap on load per replica; an expert on every rank leaves it.
  auto heapOrder = [&](int64_t a, int64_t b) { return heavier(b, a); };
  std::priority_queue<int64_t, std::vector<int64_t>, decltype(heapOrder)>
      candidates(heapOrder);
  if (ranks > 1)
    for (int64_t e = 0; e < E; ++e)
      candidates.push(e);
  for (int64_t i = 0; i < redundant && !candidates.empty(); ++i) {
    int64_t e = candidates.top();
    candidates.pop();
    if (++replicas[e] < ranks)
      candidates.push(e);
  }
  return replicas;
}

ExpertPlacement moe::packReplicas(const std::vector<double> &loads,
                                  const std::vector<int64_t> &replicas,
                                  int64_t ranks) {
  const int64_t E = static_cast<int64_t>(loads.size()), N = ranks;
  HeavierFirst heavier{loads, replicas};
  // Largest replica first; the replicas of one expert are adjacent.
  std::vector<int64_t> order(E);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), heavier);
  int64_t total = std::accumulate(replicas.begin(), replicas.end(), int64_t(0));
  int64_t slots = (total + N - 1) / N;
  ExpertPlacement placement;
  placement.numExperts = E;
  placement.rankExperts.assign(N, {});
  std::vector<double> rankLoad(N, 0.0);
  std::vector<char> holds(N, 0); // the ranks of the expert being placed
  auto lighter = [&](int64_t a, int64_t b) {
    if (rankLoad[a] != rankLoad[b])
      return rankLoad[a] < rankLoad[b];
    size_t ca = placement.rankExperts[a].size(),
           cb = placement.rankExperts[b].size();
    return ca != cb ? ca < cb : a < b;
  };
  auto hasRoom = [&](int64_t r) {
    return static_cast<int64_t>(placement.rankExperts[r].size()) < slots;
  };
  for (int64_t e : order) {
    double load = heavier.perReplica(e);
    std::vector<int64_t> used;
    for (int64_t copy = 0; copy < replicas[e]; ++copy) {
      int64_t best = -1;
      for (int64_t r = 0; r < N; ++r)
        if (hasRoom(r) && !holds[r] && (best < 0 || lighter(r, best)))
          best = r;
      if (best < 0) {
        // Every rank with room holds e: the lightest expert of the lightest
        // rank without e (there is one: e has fewer replicas than ranks)
        // moves into the lightest room, and e takes its place. That rank
        // is full and the room holds fewer experts, one of them e, so the
        // full rank has an expert the room lacks.
        int64_t room = -1, full = -1;
        for (int64_t r = 0; r < N; ++r) {
          if (hasRoom(r) && (room < 0 || lighter(r, room)))
            room = r;
          if (!holds[r] && (full < 0 || lighter(r, full)))
            full = r;
        }
        std::vector<int64_t> &from = placement.rankExperts[full];
        std::vector<int64_t> &to = placement.rankExperts[room];
        int64_t pick = -1;
        for (size_t i = 0; i < from.size(); ++i) {
          int64_t y = from[i];
          if (std::find(to.begin(), to.end(), y) != to.end())
            continue;
          double ly = heavier.perReplica(y);
          if (pick < 0 || ly < heavier.perReplica(from[pick]) ||
              (ly == heavier.perReplica(from[pick]) && y < from[pick]))
            pick = static_cast<int64_t>(i);
        }
        int64_t moved = from[pick];
        from.erase(from.begin() + pick);
        to.push_back(moved);
        rankLoad[full] -= heavier.perReplica(moved);
        rankLoad[room] += heavier.perReplica(moved);
        best = full;
      }
      placement.rankExperts[best].push_back(e);
      rankLoad[best] += load;
      holds[best] = 1;
      used.push_back(best);
    }
    for (int64_t r : used)
      holds[r] = 0;
  }
  for (std::vector<int64_t> &experts : placement.rankExperts)
    std::sort(experts.begin(), experts.end());
  return placement;
}

ExpertPlacement moe::choosePlacement(const std::vector<double> &loads,
                                     int64_t ranks, int64_t redundant) {
  return packReplicas(loads, chooseReplicas(loads, ranks, redundant), ranks);
}

std::string
moe::verifyCostInputs(const LayerShape &shape, const ExpertPlacement &placement,
                      int64_t tokensPerRank, const std::vector<double> &loads,
                      const Topology &topology, const ComputeModel &compute,
                      int64_t chunks, int64_t rankLimit) {
  if (std::string problem = shape.verify(); !problem.empty())
    return problem;
  if (std::string problem = placement.verify(); !problem.empty())
    return "placement: " + problem;
  if (placement.numExperts != shape.experts)
    return "the placement places " + std::to_string(placement.numExperts) +
           " experts but the layer has " + std::to_string(shape.experts);
  if (placement.numRanks() > kMaxModelRanks)
    return "the cost model takes at most " + std::to_string(kMaxModelRanks) +
           " ranks, not " + std::to_string(placement.numRanks());
  if (static_cast<int64_t>(loads.size()) != shape.experts)
    return "the loads are for " + std::to_string(loads.size()) +
           " experts but the layer has " + std::to_string(shape.experts);
  double sum = 0;
  for (double load : loads) {
    if (!std::isfinite(load) || load < 0)
      return "a load must be a non-negative number, not " + str(load);
    sum += load;
  }
  if (!(sum > 0) || !std::isfinite(sum))
    return "the loads sum to " + str(sum) + ", not a positive number";
  if (tokensPerRank < 1 || tokensPerRank > limits::kMaxTokens)
    return "tokens per rank must be in [1, " +
           std::to_string(limits::kMaxTokens) + "], not " +
           std::to_string(tokensPerRank);
  if (topology.ranksPerNode < 1 || topology.ranksPerNode > limits::kMaxRanks)
    return "ranks per node must be in [1, " +
           std::to_string(limits::kMaxRanks) + "], not " +
           std::to_string(topology.ranksPerNode);
  for (const LinkModel *link : {&topology.intra, &topology.inter}) {
    if (!positiveFinite(link->bandwidth))
      return "link '" + link->name + "': bandwidth must be positive, not " +
             str(link->bandwidth);
    if (!std::isfinite(link->latency) || link->latency < 0)
      return "link '" + link->name + "': latency must be >= 0, not " +
             str(link->latency);
  }
  if (!positiveFinite(compute.flopRate) ||
      !positiveFinite(compute.memBandwidth))
    return "compute '" + compute.name +
           "': FLOP/s and memory bandwidth must "
           "be positive, not " +
           str(compute.flopRate) + " and " + str(compute.memBandwidth);
  if (chunks < 1 || chunks > tokensPerRank)
    return "chunks must be in [1, " + std::to_string(tokensPerRank) +
           "] (a chunk holds a token at least), not " + std::to_string(chunks);
  if (rankLimit < 0)
    return "the rank limit must be >= 0 (0: none), not " +
           std::to_string(rankLimit);
  if (rankLimit > 0 && rankLimit < placement.numRanks()) {
    std::vector<int64_t> sizes;
    for (const std::vector<int64_t> &experts : placement.rankExperts)
      sizes.push_back(static_cast<int64_t>(experts.size()));
    std::sort(sizes.begin(), sizes.end());
    int64_t held =
        std::accumulate(sizes.begin(), sizes.begin() + rankLimit, int64_t(0));
    if (held < shape.topK)
      return "rank limit " + std::to_string(rankLimit) + ": " +
             std::to_string(rankLimit) + " ranks may hold only " +
             std::to_string(held) + " experts, fewer than top-k " +
             std::to_string(shape.topK);
  }
  return {};
}

CostPrediction
moe::predict(const LayerShape &shape, const ExpertPlacement &placement,
             int64_t tokensPerRank, const std::vector<double> &loads,
             const Topology &topology, const ComputeModel &compute,
             int64_t chunks, int64_t rankLimit, bool dedup) {
  Volumes volumes = computeVolumes(shape, placement, tokensPerRank, loads,
                                   topology, rankLimit, dedup);
  return finish(volumes, shape, tokensPerRank, topology, compute,
                placement.slotsPerRank(), chunks, dedup);
}

int64_t moe::chooseChunks(const LayerShape &shape,
                          const ExpertPlacement &placement,
                          int64_t tokensPerRank,
                          const std::vector<double> &loads,
                          const Topology &topology, const ComputeModel &compute,
                          int64_t rankLimit, bool dedup) {
  Volumes volumes = computeVolumes(shape, placement, tokensPerRank, loads,
                                   topology, rankLimit, dedup);
  int64_t best = 1;
  double bestTime = 0;
  for (int64_t c = 1; c <= std::min(kMaxModelChunks, tokensPerRank); ++c) {
    double time = finish(volumes, shape, tokensPerRank, topology, compute,
                         placement.slotsPerRank(), c, dedup)
                      .layerTime;
    if (c == 1 || time < bestTime) {
      best = c;
      bestTime = time;
    }
  }
  return best;
}
