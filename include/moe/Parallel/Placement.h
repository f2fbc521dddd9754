//===- Placement.h - which rank holds which experts -------------*- C++ -*-===//
//
// An expert placement for expert parallelism: each of N ranks holds an
// ordered list of experts in its local slots (at most G = slotsPerRank). An
// expert may sit on several ranks (replicas); every expert sits on at least
// one, and at most once per rank. Rank r's slot s is the physical expert
// r * G + s: the order in which a rank's dispatch sorts its rows and the
// ranks exchange them.
//
// The one rule for replicas lives here (replicaFor): a token routed to an
// expert with m replicas goes to replica (sourceRank + token) mod m, in rank
// order. It is deterministic, independent of the rest of the batch, and
// spreads every rank's tokens evenly over the replicas. The compiler, the
// cost model and the tests share it.
//
// Placements come from a rule (contiguous, round-robin) or a JSON file:
//   {"experts": 8, "ranks": [[0, 1, 2], [3, 4, 5, 0], [6, 7]]}
// Plain C++ (no LLVM): the tools, the runtime and the cost model share it.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PARALLEL_PLACEMENT_H
#define MOE_PARALLEL_PLACEMENT_H

#include <cstdint>
#include <string>
#include <vector>

namespace moe {

struct ExpertPlacement {
  int64_t numExperts = 0;
  /// rankExperts[r]: the experts of rank r, slot by slot.
  std::vector<std::vector<int64_t>> rankExperts;

  int64_t numRanks() const { return static_cast<int64_t>(rankExperts.size()); }
  /// G: the most experts any rank holds.
  int64_t slotsPerRank() const;
  /// The physical experts (rank * G + slot) holding `expert`, in rank order.
  std::vector<int64_t> replicas(int64_t expert) const;
  /// Whether some expert sits on more than one rank.
  bool hasReplicas() const;
  /// The physical expert a token of `sourceRank` routed to `expert` goes to.
  int64_t replicaFor(int64_t expert, int64_t sourceRank, int64_t token) const;
  /// The [N * G] table of logical experts by physical expert, -1 for an
  /// empty slot.
  std::vector<int64_t> table() const;

  /// Empty when the placement is well formed: 1 <= N <= kMaxRanks experts
  /// in [0, E), each on at least one rank, none twice on one rank, no rank
  /// empty. Otherwise the first problem, in words.
  std::string verify() const;
  /// The placement as the JSON a file holds.
  std::string toJson() const;
};

/// Experts split into N contiguous blocks, the first E mod N ranks holding
/// one more (as tokens are split over ranks). Needs 1 <= N <= E.
ExpertPlacement contiguousPlacement(int64_t numExperts, int64_t numRanks);
/// Expert e on rank e mod N. Needs 1 <= N <= E.
ExpertPlacement roundRobinPlacement(int64_t numExperts, int64_t numRanks);
/// Parses and verifies a placement file's JSON; on failure returns an
/// empty placement (no ranks) with `error` naming `what` and the key.
ExpertPlacement parsePlacementJson(const std::string &text,
                                   const std::string &what, std::string &error);
/// Reads and parses a placement file; errors name `path`.
ExpertPlacement readPlacementFile(const std::string &path, std::string &error);
/// Whether `name` is a placement rule rather than a file.
bool isPlacementRule(const std::string &name);
/// The placement of rule `name` ("contiguous" or "round-robin"); `error`
/// says why when it cannot serve `numExperts` experts on `numRanks` ranks.
ExpertPlacement placementByRule(const std::string &name, int64_t numExperts,
                                int64_t numRanks, std::string &error);
/// Empty when `placement` serves a layer of `numExperts` experts on
/// `numRanks` ranks; otherwise why not.
std::string checkPlacementFits(const ExpertPlacement &placement,
                               int64_t numExperts, int64_t numRanks);

} // namespace moe

#endif // MOE_PARALLEL_PLACEMENT_H
