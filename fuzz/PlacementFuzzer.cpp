//===- PlacementFuzzer.cpp - libFuzzer target for expert placements -------===//
//
// The input is a placement file (moe-compile --placement, moe-plan): it must
// either be refused with an error naming the file, or be a placement every
// expert of which has a replica, whose replica rule stays among them, and
// which survives its own JSON. The same bytes as a routing-statistics file
// (moe-plan --stats) must parse to non-negative loads or be refused, and
// load-aware placement on them must give a valid placement.
//
//===----------------------------------------------------------------------===//

#include "moe/Parallel/CostModel.h"
#include "moe/Parallel/Placement.h"

#include <algorithm>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  std::string error;
  moe::ExpertPlacement placement =
      moe::parsePlacementJson(text, "p.json", error);
  if (placement.numRanks() == 0) {
    if (error.rfind("p.json", 0) != 0)
      std::abort();
  } else {
    // Bounded by what a fuzz input can hold: walk it whole.
    if (!error.empty() || !placement.verify().empty())
      std::abort();
    for (int64_t e = 0; e < placement.numExperts && e < 4096; ++e) {
      std::vector<int64_t> replicas = placement.replicas(e);
      if (replicas.empty())
        std::abort();
      for (int64_t token : {0, 1, 7})
        if (std::find(replicas.begin(), replicas.end(),
                      placement.replicaFor(e, placement.numRanks() - 1,
                                           token)) == replicas.end())
          std::abort();
    }
    std::string again;
    if (moe::parsePlacementJson(placement.toJson(), "again", again)
            .rankExperts != placement.rankExperts)
      std::abort();
  }

  error.clear();
  std::vector<double> loads = moe::parseLoadsJson(text, "s.json", error);
  if (loads.empty()) {
    if (error.rfind("s.json", 0) != 0)
      std::abort();
    return 0;
  }
  for (double load : loads)
    if (!(load >= 0))
      std::abort();
  if (loads.size() <= 256) {
    int64_t experts = static_cast<int64_t>(loads.size());
    int64_t ranks = std::min<int64_t>(experts, 4);
    int64_t redundant = std::min<int64_t>(2, experts * (ranks - 1));
    if (moe::verifyPlacementChoice(loads, ranks, redundant).empty() &&
        !moe::checkPlacementFits(moe::choosePlacement(loads, ranks, redundant),
                                 experts, ranks)
             .empty())
      std::abort();
  }
  return 0;
}
