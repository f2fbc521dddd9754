//===- Placement.cpp - which rank holds which experts ---------------------===//

#include "moe/Parallel/Placement.h"
#include "moe/Support/Json.h"
#include "moe/Support/Limits.h"

#include <nlohmann/json.hpp>

#include <algorithm>

using namespace moe;
using nlohmann::json;

int64_t ExpertPlacement::slotsPerRank() const {
  size_t most = 0;
  for (const std::vector<int64_t> &experts : rankExperts)
    most = std::max(most, experts.size());
  return static_cast<int64_t>(most);
}

std::vector<int64_t> ExpertPlacement::replicas(int64_t expert) const {
  std::vector<int64_t> physical;
  int64_t slots = slotsPerRank();
  for (int64_t r = 0; r < numRanks(); ++r)
    for (size_t s = 0; s < rankExperts[r].size(); ++s)
      if (rankExperts[r][s] == expert)
        physical.push_back(r * slots + static_cast<int64_t>(s));
  return physical;
}

bool ExpertPlacement::hasReplicas() const {
  int64_t slots = 0;
  for (const std::vector<int64_t> &experts : rankExperts)
    slots += static_cast<int64_t>(experts.size());
  return slots > numExperts;
}

int64_t ExpertPlacement::replicaFor(int64_t expert, int64_t sourceRank,
                                    int64_t token) const {
  std::vector<int64_t> physical = replicas(expert);
  int64_t count = static_cast<int64_t>(physical.size());
  return physical[(sourceRank % count + token % count) % count];
}

std::vector<int64_t> ExpertPlacement::table() const {
  int64_t slots = slotsPerRank();
  std::vector<int64_t> result(numRanks() * slots, -1);
  for (int64_t r = 0; r < numRanks(); ++r)
    for (size_t s = 0; s < rankExperts[r].size(); ++s)
      result[r * slots + s] = rankExperts[r][s];
  return result;
}

std::string ExpertPlacement::verify() const {
  if (numExperts < 1 || numExperts > limits::kMaxExperts)
    return "\"experts\" must be in [1, " + std::to_string(limits::kMaxExperts) +
           "], not " + std::to_string(numExperts);
  if (numRanks() < 1 || numRanks() > limits::kMaxRanks)
    return "\"ranks\" must list 1 to " + std::to_string(limits::kMaxRanks) +
           " ranks, not " + std::to_string(numRanks());
  std::vector<bool> placed(numExperts, false);
  for (int64_t r = 0; r < numRanks(); ++r) {
    const std::vector<int64_t> &experts = rankExperts[r];
    std::string where = "rank " + std::to_string(r);
    if (experts.empty())
      return where + " holds no expert";
    if (static_cast<int64_t>(experts.size()) > numExperts)
      return where + " holds " + std::to_string(experts.size()) +
             " experts, more than the layer's " + std::to_string(numExperts);
    std::vector<bool> onRank(numExperts, false);
    for (int64_t e : experts) {
      if (e < 0 || e >= numExperts)
        return where + ": expert " + std::to_string(e) + " is not in [0, " +
               std::to_string(numExperts) + ")";
      if (onRank[e])
        return where + " holds expert " + std::to_string(e) + " twice";
      onRank[e] = placed[e] = true;
    }
  }
  for (int64_t e = 0; e < numExperts; ++e)
    if (!placed[e])
      return "expert " + std::to_string(e) + " is on no rank";
  return {};
}

std::string ExpertPlacement::toJson() const {
  json document = {{"experts", numExperts}, {"ranks", rankExperts}};
  return document.dump() + "\n";
}

ExpertPlacement moe::contiguousPlacement(int64_t numExperts, int64_t numRanks) {
  ExpertPlacement placement;
  placement.numExperts = numExperts;
  placement.rankExperts.resize(numRanks);
  int64_t next = 0;
  for (int64_t r = 0; r < numRanks; ++r) {
    int64_t count = numExperts / numRanks + (r < numExperts % numRanks);
    for (int64_t i = 0; i < count; ++i)
      placement.rankExperts[r].push_back(next++);
  }
  return placement;
}

ExpertPlacement moe::roundRobinPlacement(int64_t numExperts, int64_t numRanks) {
  ExpertPlacement placement;
  placement.numExperts = numExperts;
  placement.rankExperts.resize(numRanks);
  for (int64_t e = 0; e < numExperts; ++e)
    placement.rankExperts[e % numRanks].push_back(e);
  return placement;
}

ExpertPlacement moe::parsePlacementJson(const std::string &text,
                                        const std::string &what,
                                        std::string &error) {
  json document = parseBoundedJson(text.data(), text.size(), what, error);
  if (document.is_discarded())
    return {};
  auto fail = [&](const std::string &message) {
    error = what + ": " + message;
    return ExpertPlacement();
  };
  auto experts = document.find("experts");
  if (experts == document.end() || !experts->is_number_integer())
    return fail("\"experts\" must be an integer");
  auto ranks = document.find("ranks");
  if (ranks == document.end() || !ranks->is_array())
    return fail("\"ranks\" must be an array with one array of experts per "
                "rank");
  if (ranks->size() > static_cast<size_t>(limits::kMaxRanks))
    return fail("\"ranks\" lists " + std::to_string(ranks->size()) +
                " ranks, more than the limit " +
                std::to_string(limits::kMaxRanks));
  ExpertPlacement placement;
  placement.numExperts = experts->get<int64_t>();
  for (size_t r = 0; r < ranks->size(); ++r) {
    const json &list = (*ranks)[r];
    if (!list.is_array() ||
        list.size() > static_cast<size_t>(limits::kMaxExperts))
      return fail("\"ranks\"[" + std::to_string(r) +
                  "] must be an array of at most " +
                  std::to_string(limits::kMaxExperts) + " expert ids");
    std::vector<int64_t> ids;
    for (const json &id : list) {
      if (!id.is_number_integer())
        return fail("\"ranks\"[" + std::to_string(r) +
                    "] must hold integer expert ids");
      ids.push_back(id.get<int64_t>());
    }
    placement.rankExperts.push_back(std::move(ids));
  }
  if (std::string problem = placement.verify(); !problem.empty())
    return fail(problem);
  return placement;
}

ExpertPlacement moe::readPlacementFile(const std::string &path,
                                       std::string &error) {
  std::string text;
  if (!limits::readBoundedFile(path, limits::kMaxJsonBytes, text, error))
    return {};
  return parsePlacementJson(text, path, error);
}

bool moe::isPlacementRule(const std::string &name) {
  return name == "contiguous" || name == "round-robin";
}

ExpertPlacement moe::placementByRule(const std::string &name,
                                     int64_t numExperts, int64_t numRanks,
                                     std::string &error) {
  if (numRanks < 1 || numRanks > numExperts) {
    error = "placement '" + name + "' needs 1 to " +
            std::to_string(numExperts) + " ranks for " +
            std::to_string(numExperts) +
            " experts (each rank holds one at "
            "least), not " +
            std::to_string(numRanks) +
            "; replicate experts with a placement file to use more ranks";
    return {};
  }
  if (name == "contiguous")
    return contiguousPlacement(numExperts, numRanks);
  if (name == "round-robin")
    return roundRobinPlacement(numExperts, numRanks);
  error = "unknown placement rule '" + name +
          "' (contiguous, round-robin, or a placement file)";
  return {};
}

std::string moe::checkPlacementFits(const ExpertPlacement &placement,
                                    int64_t numExperts, int64_t numRanks) {
  if (placement.numExperts != numExperts)
    return "places " + std::to_string(placement.numExperts) +
           " experts but the layer has " + std::to_string(numExperts);
  if (placement.numRanks() != numRanks)
    return "places experts on " + std::to_string(placement.numRanks()) +
           " ranks but the ep-size is " + std::to_string(numRanks);
  return placement.verify();
}
