//===- PlacementTest.cpp - expert placements ------------------------------===//

#include "moe/Parallel/Placement.h"

#include <gtest/gtest.h>

#include <map>

using namespace moe;

namespace {

using Lists = std::vector<std::vector<int64_t>>;

// Tests that contiguous blocks give the remainder to the first ranks, as
// tokens are split, and round-robin deals experts out.
TEST(Placement, Rules) {
  EXPECT_EQ(contiguousPlacement(10, 4).rankExperts,
            (Lists{{0, 1, 2}, {3, 4, 5}, {6, 7}, {8, 9}}));
  EXPECT_EQ(roundRobinPlacement(10, 4).rankExperts,
            (Lists{{0, 4, 8}, {1, 5, 9}, {2, 6}, {3, 7}}));
  ExpertPlacement p = contiguousPlacement(10, 4);
  EXPECT_EQ(p.slotsPerRank(), 3);
  EXPECT_EQ(p.table(),
            (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, -1, 8, 9, -1}));
  EXPECT_FALSE(p.hasReplicas());
  EXPECT_EQ(p.verify(), "");
}

// Tests that replicas are found in rank order and that tokens are spread
// over them by (source rank + token) mod replicas.
TEST(Placement, Replicas) {
  ExpertPlacement p;
  p.numExperts = 4;
  p.rankExperts = {{0, 1}, {2, 0}, {3, 0}};
  ASSERT_EQ(p.verify(), "");
  EXPECT_TRUE(p.hasReplicas());
  EXPECT_EQ(p.replicas(0), (std::vector<int64_t>{0, 3, 5}));
  EXPECT_EQ(p.replicas(3), (std::vector<int64_t>{4}));
  EXPECT_EQ(p.replicaFor(0, 0, 0), 0);
  EXPECT_EQ(p.replicaFor(0, 0, 1), 3);
  EXPECT_EQ(p.replicaFor(0, 1, 1), 5);
  EXPECT_EQ(p.replicaFor(0, 2, 2), 3);
  EXPECT_EQ(p.replicaFor(2, 2, 7), 2);
  // Each rank's tokens split evenly over the replicas.
  std::map<int64_t, int> share;
  for (int64_t t = 0; t < 300; ++t)
    ++share[p.replicaFor(0, 1, t)];
  EXPECT_EQ(share, (std::map<int64_t, int>{{0, 100}, {3, 100}, {5, 100}}));
}

// Tests each refusal of verify().
TEST(Placement, Refusals) {
  auto problem = [](int64_t experts, Lists ranks) {
    ExpertPlacement p;
    p.numExperts = experts;
    p.rankExperts = std::move(ranks);
    return p.verify();
  };
  EXPECT_EQ(problem(4, {{0, 1}, {2}}), "expert 3 is on no rank");
  EXPECT_EQ(problem(4, {{0, 1}, {}, {2, 3}}), "rank 1 holds no expert");
  EXPECT_EQ(problem(4, {{0, 1, 1}, {2, 3}}), "rank 0 holds expert 1 twice");
  EXPECT_EQ(problem(4, {{0, 4}, {1, 2, 3}}),
            "rank 0: expert 4 is not in [0, 4)");
  EXPECT_EQ(problem(0, {{0}}), "\"experts\" must be in [1, 65536], not 0");
  EXPECT_EQ(problem(4, {}), "\"ranks\" must list 1 to 65536 ranks, not 0");
}

// Tests that a placement file round-trips and that its errors name the key.
TEST(Placement, Json) {
  std::string error;
  ExpertPlacement p = parsePlacementJson(
      R"({"experts": 4, "ranks": [[0, 1], [2, 3, 0]]})", "p.json", error);
  ASSERT_EQ(error, "");
  EXPECT_EQ(p.rankExperts, (Lists{{0, 1}, {2, 3, 0}}));
  ExpertPlacement again = parsePlacementJson(p.toJson(), "again", error);
  EXPECT_EQ(again.rankExperts, p.rankExperts);
  EXPECT_EQ(again.numExperts, 4);

  auto refusal = [](const std::string &text) {
    std::string error;
    ExpertPlacement p = parsePlacementJson(text, "p.json", error);
    EXPECT_EQ(p.numRanks(), 0);
    return error;
  };
  EXPECT_EQ(refusal(R"({"ranks": [[0]]})"),
            "p.json: \"experts\" must be an integer");
  EXPECT_EQ(refusal(R"({"experts": 2, "ranks": 3})"),
            "p.json: \"ranks\" must be an array with one array of experts "
            "per rank");
  EXPECT_EQ(refusal(R"({"experts": 2, "ranks": [[0], ["1"]]})"),
            "p.json: \"ranks\"[1] must hold integer expert ids");
  EXPECT_EQ(refusal(R"({"experts": 2, "ranks": [[0], [0]]})"),
            "p.json: expert 1 is on no rank");
  EXPECT_EQ(refusal("[1"), "p.json: not valid JSON at byte 2: "
                           "syntax error while parsing array - unexpected end "
                           "of input; expected ']'");
}

// Tests the rules' and fit checks' refusals.
TEST(Placement, Fits) {
  std::string error;
  placementByRule("contiguous", 4, 5, error);
  EXPECT_EQ(error, "placement 'contiguous' needs 1 to 4 ranks for 4 experts "
                   "(each rank holds one at least), not 5; replicate experts "
                   "with a placement file to use more ranks");
  error.clear();
  placementByRule("striped", 4, 2, error);
  EXPECT_EQ(error, "unknown placement rule 'striped' (contiguous, "
                   "round-robin, or a placement file)");
  ExpertPlacement p = contiguousPlacement(8, 2);
  EXPECT_EQ(checkPlacementFits(p, 8, 2), "");
  EXPECT_EQ(checkPlacementFits(p, 16, 2),
            "places 8 experts but the layer has 16");
  EXPECT_EQ(checkPlacementFits(p, 8, 4),
            "places experts on 2 ranks but the ep-size is 4");
}

} // namespace
