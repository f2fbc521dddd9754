//===- CostModelTest.cpp - the expert-parallel cost model -----------------===//
//
// Volumes against hand counts and a brute-force walk of the replica rule,
// times against the documented formulas, and the placement and chunk
// choices on cases with a known answer. Tolerances are relative 1e-12 for
// what is exact arithmetic, 1e-9 where lgamma enters.
//
//===----------------------------------------------------------------------===//

#include "moe/Parallel/CostModel.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace moe;

namespace {

using Lists = std::vector<std::vector<int64_t>>;

#define EXPECT_CLOSE(a, b, rel)                                                \
  EXPECT_NEAR(a, b, (rel)*std::max(1.0, std::fabs(double(b))))

LayerShape smallShape(int64_t experts, int64_t topK) {
  LayerShape shape;
  shape.hidden = 16;
  shape.ffn = 32;
  shape.experts = experts;
  shape.topK = topK;
  return shape; // gated, f32 rows, bf16 weights, no shared expert
}

Topology testTopology(double latency = 1e-5) {
  Topology topology;
  topology.ranksPerNode = 8;
  topology.intra = {"intra", 1e9, latency};
  topology.inter = {"inter", 1e8, 1e-4};
  return topology;
}

const ComputeModel kCompute{"test", 1e9, 1e9};

ExpertPlacement makePlacement(int64_t experts, Lists ranks) {
  ExpertPlacement placement;
  placement.numExperts = experts;
  placement.rankExperts = std::move(ranks);
  return placement;
}

// Tests the volumes and times of 2 ranks, 4 experts, k = 2, uniform
// routing, 8 tokens per rank, counted by hand: each rank sends half of its
// 16 rows (8 rows of 16 f32 = 512 bytes) and keeps half; its two experts
// compute 16 rows.
TEST(CostModel, UniformTwoRanks) {
  LayerShape shape = smallShape(4, 2);
  ExpertPlacement placement = contiguousPlacement(4, 2);
  std::vector<double> loads = uniformLoads(4);
  Topology topology = testTopology();
  ASSERT_EQ(
      verifyCostInputs(shape, placement, 8, loads, topology, kCompute, 1, 0),
      "");
  CostPrediction p =
      predict(shape, placement, 8, loads, topology, kCompute, 1, 0);
  ASSERT_EQ(p.ranks.size(), 2u);
  for (const RankCost &rank : p.ranks) {
    EXPECT_CLOSE(rank.rowsSent, 8, 1e-12);
    EXPECT_CLOSE(rank.rowsReceived, 8, 1e-12);
    EXPECT_CLOSE(rank.rowsLocal, 8, 1e-12);
    EXPECT_CLOSE(rank.dispatchBytesSent, 512, 1e-12);
    EXPECT_CLOSE(rank.dispatchBytesReceived, 512, 1e-12);
    EXPECT_CLOSE(rank.combineBytesSent, 512, 1e-12);
    EXPECT_CLOSE(rank.combineBytesReceived, 512, 1e-12);
    EXPECT_CLOSE(rank.intraBytesSent, 1024, 1e-12);
    EXPECT_CLOSE(rank.intraBytesReceived, 1024, 1e-12);
    EXPECT_EQ(rank.interBytesSent, 0);
    EXPECT_EQ(rank.interBytesReceived, 0);
    EXPECT_CLOSE(rank.dispatchTime, 512e-9, 1e-12);
    EXPECT_CLOSE(rank.combineTime, 512e-9, 1e-12);
    // Three steps of 10 us and 2 int32 counts to the one peer.
    EXPECT_CLOSE(rank.stepLatency, 1e-5, 1e-12);
    EXPECT_CLOSE(rank.countTime, 8e-9, 1e-12);
    EXPECT_CLOSE(rank.chunkLatency, 3e-5 + 8e-9, 1e-12);
    EXPECT_CLOSE(rank.expertRows, 16, 1e-12);
    // 16 rows * 2 * 3 * 16 * 32 FLOPs; 2 experts of 3 * 16 * 32 bf16
    // weights, each read when it gets a row (1 - e^-8).
    EXPECT_CLOSE(rank.flops, 16 * 3072, 1e-12);
    EXPECT_CLOSE(rank.weightBytesRead, 2 * 3072 * (1 - std::exp(-8.0)), 1e-12);
    EXPECT_CLOSE(rank.computeTime, 16 * 3072 / 1e9, 1e-12);
    EXPECT_CLOSE(rank.layerTime, 1024e-9 + 16 * 3072 / 1e9 + 3e-5 + 8e-9,
                 1e-12);
    EXPECT_EQ(rank.hiddenTime, 0);
    // DeepEP-style: a token misses a rank's 2 experts with probability
    // (2/4)(1/3), so it reaches each rank with 5/6.
    EXPECT_CLOSE(rank.tokensSent, 8 * 5.0 / 6, 1e-9);
    EXPECT_CLOSE(rank.tokensLocal, 8 * 5.0 / 6, 1e-9);
  }
  EXPECT_CLOSE(p.destinationRanks, 5.0 / 3, 1e-9);
  EXPECT_CLOSE(p.limitedDestinationRanks, 5.0 / 3, 1e-9);
  EXPECT_EQ(p.slowestRank, 0);
  EXPECT_CLOSE(p.tokensPerSecond, 16 / p.layerTime, 1e-12);

  // Deduplicated, the same tokens carry the bytes; bf16 rows halve them
  // and a separate combine width applies to the way back.
  shape.activationBytes = 2;
  shape.combineBytes = 4;
  CostPrediction d =
      predict(shape, placement, 8, loads, topology, kCompute, 1, 0, true);
  EXPECT_TRUE(d.dedup);
  EXPECT_CLOSE(d.ranks[0].dispatchBytesSent, 8 * 5.0 / 6 * 16 * 2, 1e-9);
  EXPECT_CLOSE(d.ranks[0].combineBytesSent, 8 * 5.0 / 6 * 16 * 4, 1e-9);
}

// Tests a skewed load: experts 0 and 1 (rank 0) take 3/4 of the rows, so
// rank 0 keeps 12 of its 16 rows, receives 12, computes 24 and is slowest.
TEST(CostModel, Skewed) {
  LayerShape shape = smallShape(4, 2);
  ExpertPlacement placement = contiguousPlacement(4, 2);
  std::vector<double> loads = {4, 2, 1, 1};
  CostPrediction p =
      predict(shape, placement, 8, loads, testTopology(), kCompute, 1, 0);
  EXPECT_CLOSE(p.ranks[0].rowsSent, 4, 1e-12);
  EXPECT_CLOSE(p.ranks[0].rowsReceived, 12, 1e-12);
  EXPECT_CLOSE(p.ranks[0].rowsLocal, 12, 1e-12);
  EXPECT_CLOSE(p.ranks[1].rowsSent, 12, 1e-12);
  EXPECT_CLOSE(p.ranks[1].rowsReceived, 4, 1e-12);
  EXPECT_CLOSE(p.ranks[1].rowsLocal, 4, 1e-12);
  EXPECT_CLOSE(p.ranks[0].expertRows, 24, 1e-12);
  EXPECT_CLOSE(p.ranks[1].expertRows, 8, 1e-12);
  // The busier link direction bounds: 12 rows of 64 bytes.
  EXPECT_CLOSE(p.ranks[0].dispatchTime, 12 * 64 / 1e9, 1e-12);
  EXPECT_CLOSE(p.ranks[1].dispatchTime, 12 * 64 / 1e9, 1e-12);
  EXPECT_EQ(p.slowestRank, 0);
  EXPECT_EQ(p.layerTime, p.ranks[0].layerTime);
  EXPECT_GT(p.ranks[0].layerTime, p.ranks[1].layerTime);
}

// Tests the replica rule by hand: expert 0 on ranks 0 and 1, 3 tokens per
// rank, k = 1. Rank 0's tokens 0 and 2 go to replica 0 (rank 0), token 1
// to rank 1; rank 1's tokens 0 and 2 go to replica 1 (rank 1), token 1 to
// rank 0.
TEST(CostModel, ReplicaRuleByHand) {
  LayerShape shape = smallShape(2, 1);
  ExpertPlacement placement = makePlacement(2, {{0, 1}, {0}});
  ASSERT_EQ(placement.verify(), "");
  CostPrediction p = predict(shape, placement, 3, uniformLoads(2),
                             testTopology(), kCompute, 1, 0);
  EXPECT_CLOSE(p.ranks[0].rowsLocal, 0.5 * 2 + 1.5, 1e-12);
  EXPECT_CLOSE(p.ranks[0].rowsSent, 0.5, 1e-12);
  EXPECT_CLOSE(p.ranks[1].rowsLocal, 0.5 * 2, 1e-12);
  EXPECT_CLOSE(p.ranks[1].rowsSent, 0.5 + 1.5, 1e-12);
  EXPECT_CLOSE(p.ranks[0].rowsReceived, 2, 1e-12);
  EXPECT_CLOSE(p.ranks[1].rowsReceived, 0.5, 1e-12);
  EXPECT_CLOSE(p.ranks[0].expertRows, 4.5, 1e-12);
  EXPECT_CLOSE(p.ranks[1].expertRows, 1.5, 1e-12);
}

// Tests the volumes of a placement with replicas and a node boundary
// against a brute-force walk of ExpertPlacement::replicaFor over every
// token of every rank.
TEST(CostModel, ReplicasMatchReplicaFor) {
  LayerShape shape = smallShape(6, 2);
  ExpertPlacement placement =
      makePlacement(6, {{0, 1}, {2, 0}, {3, 0, 5}, {4, 1}, {5, 2}});
  ASSERT_EQ(placement.verify(), "");
  std::vector<double> loads = {5, 1, 3, 2, 2, 4};
  Topology topology = testTopology();
  topology.ranksPerNode = 2;
  const int64_t N = 5, T = 7, k = 2, G = placement.slotsPerRank();
  CostPrediction p =
      predict(shape, placement, T, loads, topology, kCompute, 1, 0);
  std::vector<double> share = normalizeLoads(loads);
  std::vector<std::vector<double>> rows(N, std::vector<double>(N, 0.0));
  for (int64_t s = 0; s < N; ++s)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t e = 0; e < 6; ++e)
        rows[s][placement.replicaFor(e, s, t) / G] += k * share[e];
  for (int64_t r = 0; r < N; ++r) {
    double sent = 0, received = 0, computed = 0, interSent = 0,
           interReceived = 0;
    for (int64_t o = 0; o < N; ++o) {
      computed += rows[o][r];
      if (o == r)
        continue;
      sent += rows[r][o];
      received += rows[o][r];
      if (!topology.sameNode(r, o)) {
        interSent += rows[r][o];
        interReceived += rows[o][r];
      }
    }
    SCOPED_TRACE("rank " + std::to_string(r));
    EXPECT_CLOSE(p.ranks[r].rowsLocal, rows[r][r], 1e-12);
    EXPECT_CLOSE(p.ranks[r].rowsSent, sent, 1e-12);
    EXPECT_CLOSE(p.ranks[r].rowsReceived, received, 1e-12);
    EXPECT_CLOSE(p.ranks[r].expertRows, computed, 1e-12);
    // Rows of 64 bytes: the dispatch sends its own, the combine returns
    // those it received.
    EXPECT_CLOSE(p.ranks[r].dispatchBytesSent, sent * 64, 1e-12);
    EXPECT_CLOSE(p.ranks[r].interBytesSent, (interSent + interReceived) * 64,
                 1e-12);
    EXPECT_CLOSE(p.ranks[r].interBytesReceived,
                 (interSent + interReceived) * 64, 1e-12);
  }
  // The last rank is alone on its node: only the inter-node latency.
  EXPECT_GT(p.ranks[4].interBytesSent, 0);
  EXPECT_EQ(p.ranks[4].intraBytesSent, 0);
  EXPECT_EQ(p.ranks[4].stepLatency, 1e-4);
  EXPECT_EQ(p.ranks[3].stepLatency, 1e-4);
  // 4 peers on other nodes, 3 slots of int32 each at 1e8 B/s.
  EXPECT_CLOSE(p.ranks[4].countTime, 4 * 3 * 4 / 1e8, 1e-12);
  // Ranks 0 and 1 share a node: the intra link carries 1 peer's counts,
  // the inter link 3 peers', which bound.
  EXPECT_CLOSE(p.ranks[0].countTime, 3 * 3 * 4 / 1e8, 1e-12);
}

// Tests the chunk pipeline formula, the weights re-read per chunk, and
// chooseChunks: no latency makes more chunks always better (up to the
// tokens), a large latency makes one best, and min / C + C * latency has
// its optimum where C^2 = min / latency.
TEST(CostModel, Chunks) {
  LayerShape shape = smallShape(4, 2);
  ExpertPlacement placement = contiguousPlacement(4, 2);
  std::vector<double> loads = uniformLoads(4);
  Topology topology = testTopology();
  CostPrediction one =
      predict(shape, placement, 8, loads, topology, kCompute, 1, 0);
  CostPrediction four =
      predict(shape, placement, 8, loads, topology, kCompute, 4, 0);
  const RankCost &r = four.ranks[0];
  double comm = r.dispatchTime + r.combineTime;
  EXPECT_CLOSE(comm, 1024e-9, 1e-12);
  EXPECT_CLOSE(r.computeTime, one.ranks[0].computeTime, 1e-12);
  EXPECT_CLOSE(r.layerTime, r.computeTime + comm / 4 + 4 * r.chunkLatency,
               1e-12);
  EXPECT_CLOSE(r.hiddenTime, comm * 3 / 4, 1e-12);
  EXPECT_CLOSE(r.exchangeTime, comm + 4 * r.chunkLatency, 1e-12);
  // Each of 4 chunks reads an expert with e^-2 chance of missing it.
  EXPECT_CLOSE(r.weightBytesRead, 4 * 2 * 3072 * (1 - std::exp(-2.0)), 1e-12);

  EXPECT_EQ(
      chooseChunks(shape, placement, 8, loads, testTopology(0), kCompute, 0),
      8);
  EXPECT_EQ(
      chooseChunks(shape, placement, 1000, loads, testTopology(0), kCompute, 0),
      kMaxModelChunks);
  EXPECT_EQ(
      chooseChunks(shape, placement, 8, loads, testTopology(1e-3), kCompute, 0),
      1);
  // chunkLatency = comm / 16 puts the optimum at C = 4.
  double latency = (1024e-9 / 16 - 8e-9) / 3;
  EXPECT_EQ(chooseChunks(shape, placement, 8, loads, testTopology(latency),
                         kCompute, 0),
            4);
  // Memory-bound experts read their weights once per chunk: one chunk.
  ComputeModel slowMemory{"slow", 1e15, 1e3};
  EXPECT_EQ(
      chooseChunks(shape, placement, 8, loads, testTopology(0), slowMemory, 0),
      1);
}

// Tests the rank limit: 4 ranks of 2 experts, k = 2, uniform. A token
// reaches 4 (1 - (6/8)(5/7)) = 13/7 ranks; limited to 1 rank it reaches
// one, to 2 ranks 2 (1 - (2/4)(1/3)) = 5/3, each destination scaled down
// alike. Rows, one per (token, expert), do not change; deduplicated bytes
// do.
TEST(CostModel, RankLimit) {
  LayerShape shape = smallShape(8, 2);
  ExpertPlacement placement = contiguousPlacement(8, 4);
  std::vector<double> loads = uniformLoads(8);
  Topology topology = testTopology();
  CostPrediction none =
      predict(shape, placement, 100, loads, topology, kCompute, 1, 0, true);
  EXPECT_CLOSE(none.destinationRanks, 13.0 / 7, 1e-9);
  EXPECT_CLOSE(none.ranks[0].tokensSent, 300 * 13.0 / 28, 1e-9);
  EXPECT_CLOSE(none.ranks[0].rowsSent, 150, 1e-12);

  CostPrediction one =
      predict(shape, placement, 100, loads, topology, kCompute, 1, 1, true);
  EXPECT_EQ(one.rankLimit, 1);
  EXPECT_CLOSE(one.destinationRanks, 13.0 / 7, 1e-9);
  EXPECT_CLOSE(one.limitedDestinationRanks, 1, 1e-9);
  EXPECT_CLOSE(one.ranks[0].tokensSent, 75, 1e-9);
  EXPECT_CLOSE(one.ranks[0].tokensLocal, 25, 1e-9);
  EXPECT_CLOSE(one.ranks[0].rowsSent, 150, 1e-12);
  EXPECT_CLOSE(one.ranks[0].dispatchBytesSent, 75 * 64, 1e-9);

  CostPrediction two =
      predict(shape, placement, 100, loads, topology, kCompute, 1, 2, true);
  EXPECT_CLOSE(two.limitedDestinationRanks, 5.0 / 3, 1e-9);
  EXPECT_CLOSE(two.ranks[0].tokensSent, 75 * 5.0 / 3, 1e-9);

  // Without dedup the limit changes no byte.
  CostPrediction rows =
      predict(shape, placement, 100, loads, topology, kCompute, 1, 1);
  EXPECT_CLOSE(rows.ranks[0].dispatchBytesSent, 150 * 64, 1e-12);

  // A limit of N or more limits nothing.
  CostPrediction all =
      predict(shape, placement, 100, loads, topology, kCompute, 1, 4, true);
  EXPECT_EQ(all.rankLimit, 0);
  EXPECT_CLOSE(all.limitedDestinationRanks, 13.0 / 7, 1e-9);

  shape.topK = 3;
  EXPECT_EQ(
      verifyCostInputs(shape, placement, 100, loads, topology, kCompute, 1, 1),
      "rank limit 1: 1 ranks may hold only 2 experts, fewer than top-k 3");
  EXPECT_EQ(
      verifyCostInputs(shape, placement, 100, loads, topology, kCompute, 1, 2),
      "");
}

// Tests a shared expert: every rank runs it over its own tokens, reading
// its weights once, and sends nothing for it.
TEST(CostModel, SharedExpert) {
  LayerShape shape = smallShape(4, 2);
  shape.sharedFfn = 64;
  ExpertPlacement placement = contiguousPlacement(4, 2);
  CostPrediction p = predict(shape, placement, 8, uniformLoads(4),
                             testTopology(), kCompute, 1, 0);
  EXPECT_CLOSE(p.ranks[0].flops, 16 * 3072 + 8 * 2 * 3 * 16 * 64, 1e-12);
  EXPECT_CLOSE(p.ranks[0].weightBytesRead,
               2 * 3072 * (1 - std::exp(-8.0)) + 3 * 16 * 64 * 2, 1e-12);
  EXPECT_CLOSE(p.ranks[0].dispatchBytesSent, 512, 1e-12);
}

// Tests the load-aware placement on hand examples with a known optimum.
TEST(CostModel, ChoosePlacement) {
  // Loads 8, 4, 2, 2 on 2 ranks with 2 redundant replicas: experts 0 and 1
  // get a second replica (each at most once per rank), and the ranks end
  // even at 8 where contiguous blocks give 12 and 4.
  std::vector<double> loads = {8, 4, 2, 2};
  EXPECT_EQ(chooseReplicas(loads, 2, 2), (std::vector<int64_t>{2, 2, 1, 1}));
  ExpertPlacement chosen = choosePlacement(loads, 2, 2);
  EXPECT_EQ(chosen.verify(), "");
  EXPECT_EQ(chosen.rankExperts, (Lists{{0, 1, 2}, {0, 1, 3}}));
  LoadBalance after = loadBalance(rankLoads(chosen, loads));
  LoadBalance before = loadBalance(rankLoads(contiguousPlacement(4, 2), loads));
  EXPECT_EQ(before.max, 12);
  EXPECT_EQ(before.mean, 8);
  EXPECT_EQ(before.ratio(), 1.5);
  EXPECT_EQ(after.max, 8);
  EXPECT_EQ(after.ratio(), 1);

  // Without replicas, largest first onto the lightest rank pairs 8 with 1,
  // 7 with 2, ...: every rank at 9, the optimum.
  std::vector<double> eight = {8, 7, 6, 5, 4, 3, 2, 1};
  ExpertPlacement packed = choosePlacement(eight, 4, 0);
  EXPECT_EQ(packed.rankExperts, (Lists{{0, 7}, {1, 6}, {2, 5}, {3, 4}}));
  EXPECT_EQ(loadBalance(rankLoads(packed, eight)).max, 9);

  // Replication takes the largest load per replica, ties by lower id, and
  // never puts an expert on more ranks than there are.
  EXPECT_EQ(chooseReplicas({10, 6, 2, 2}, 4, 4),
            (std::vector<int64_t>{4, 2, 1, 1}));
  EXPECT_EQ(chooseReplicas({1, 1, 1}, 2, 3), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(chooseReplicas({3, 3}, 4, 1), (std::vector<int64_t>{2, 1}));

  // All loads 0: ties by fewer experts spread them, no rank left empty.
  ExpertPlacement zero = choosePlacement({0, 0, 0, 0, 0}, 4, 0);
  EXPECT_EQ(zero.verify(), "");
  EXPECT_EQ(zero.rankExperts, (Lists{{0, 4}, {1}, {2}, {3}}));

  // More ranks than experts: replicas fill them.
  ExpertPlacement wide = choosePlacement({5, 1}, 4, 2);
  EXPECT_EQ(wide.verify(), "");
  EXPECT_EQ(wide.rankExperts, (Lists{{0}, {0}, {0}, {1}}));
}

// Tests the packing's way out when every rank with room already holds the
// expert being placed: rank 0 holds 0 and a replica of 6 and has the only
// room, so expert 5 (the lightest on rank 1, the lightest rank without 6)
// moves there and the last replica of 6 takes its place.
TEST(CostModel, PackingSwap) {
  std::vector<double> loads = {100, 10, 9, 8, 7, 6, 3};
  ExpertPlacement placement = packReplicas(loads, {1, 1, 1, 1, 1, 1, 3}, 3);
  EXPECT_EQ(placement.verify(), "");
  EXPECT_EQ(placement.rankExperts, (Lists{{0, 5, 6}, {1, 4, 6}, {2, 3, 6}}));
}

// Tests each refusal of the placement choice and of the cost inputs.
TEST(CostModel, Refusals) {
  EXPECT_EQ(verifyPlacementChoice({1, 2}, 0, 0),
            "the ep-size must be in [1, 4096], not 0");
  EXPECT_EQ(verifyPlacementChoice({1, 2}, 4097, 0),
            "the ep-size must be in [1, 4096], not 4097");
  EXPECT_EQ(verifyPlacementChoice({}, 2, 0),
            "the expert count must be in [1, 65536], not 0");
  EXPECT_EQ(verifyPlacementChoice({1, -1}, 2, 0),
            "expert 1's load must be a non-negative number, not -1");
  EXPECT_EQ(verifyPlacementChoice({1, 2}, 2, 3),
            "the redundant replicas must be in [0, 2] (each expert at most "
            "once per rank), not 3");
  EXPECT_EQ(verifyPlacementChoice({1, 2}, 4, 1),
            "2 experts and 1 redundant replicas leave some of the 4 ranks "
            "empty: give at least 2 redundant replicas");
  EXPECT_EQ(verifyPlacementChoice({1, 2}, 4, 2), "");

  LayerShape shape = smallShape(4, 2);
  ExpertPlacement placement = contiguousPlacement(4, 2);
  std::vector<double> loads = uniformLoads(4);
  Topology topology = testTopology();
  auto problem = [&](LayerShape s, ExpertPlacement p, int64_t tokens,
                     std::vector<double> l, Topology t, ComputeModel c,
                     int64_t chunks) {
    return verifyCostInputs(s, p, tokens, l, t, c, chunks, 0);
  };
  LayerShape bad = shape;
  bad.topK = 5;
  EXPECT_EQ(problem(bad, placement, 8, loads, topology, kCompute, 1),
            "top-k must be in [1, 4], not 5");
  bad = shape;
  bad.activationBytes = 0;
  EXPECT_EQ(problem(bad, placement, 8, loads, topology, kCompute, 1),
            "activation bytes must be in (0, 16] bytes, not 0");
  EXPECT_EQ(problem(shape, contiguousPlacement(3, 2), 8, {1, 1, 1}, topology,
                    kCompute, 1),
            "the placement places 3 experts but the layer has 4");
  EXPECT_EQ(problem(shape, placement, 8, {1, 1, 1}, topology, kCompute, 1),
            "the loads are for 3 experts but the layer has 4");
  EXPECT_EQ(problem(shape, placement, 8, {0, 0, 0, 0}, topology, kCompute, 1),
            "the loads sum to 0, not a positive number");
  EXPECT_EQ(problem(shape, placement, 0, loads, topology, kCompute, 1),
            "tokens per rank must be in [1, 2147483648], not 0");
  Topology noLink = topology;
  noLink.inter.bandwidth = 0;
  EXPECT_EQ(problem(shape, placement, 8, loads, noLink, kCompute, 1),
            "link 'inter': bandwidth must be positive, not 0");
  EXPECT_EQ(problem(shape, placement, 8, loads, topology, {"cpu", 0, 1}, 1),
            "compute 'cpu': FLOP/s and memory bandwidth must be positive, "
            "not 0 and 1");
  EXPECT_EQ(problem(shape, placement, 8, loads, topology, kCompute, 9),
            "chunks must be in [1, 8] (a chunk holds a token at least), not 9");
}

// Tests the presets and the statistics file.
TEST(CostModel, PresetsAndLoads) {
  LinkModel link;
  ASSERT_TRUE(linkPreset("nvlink", link));
  EXPECT_EQ(link.bandwidth, 160e9);
  ASSERT_TRUE(linkPreset("infiniband", link));
  EXPECT_EQ(link.bandwidth, 50e9);
  ASSERT_TRUE(linkPreset("shm", link));
  EXPECT_EQ(link.bandwidth, 1.5e9);
  EXPECT_FALSE(linkPreset("ethernet", link));
  ComputeModel compute;
  ASSERT_TRUE(computePreset("h800", compute));
  EXPECT_EQ(compute.flopRate, 0.5 * 989e12);
  EXPECT_FALSE(computePreset("cpu", compute));

  std::string error;
  std::vector<double> loads = parseLoadsJson(
      R"({"entry": "tiny", "tokens": 37, "experts": 4, "load": [20, 18, 19, 17]})",
      "s.json", error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(loads, (std::vector<double>{20, 18, 19, 17}));
  auto refusal = [](const std::string &text) {
    std::string error;
    EXPECT_TRUE(parseLoadsJson(text, "s.json", error).empty());
    return error;
  };
  EXPECT_EQ(refusal(R"({"experts": 2})"),
            "s.json: \"load\" must be an array of 1 to 65536 numbers, one per "
            "expert");
  EXPECT_EQ(refusal(R"({"load": [1, "x"]})"),
            "s.json: \"load\"[1] must be a non-negative number, not \"x\"");
  EXPECT_EQ(refusal(R"({"load": [1, -2]})"),
            "s.json: \"load\"[1] must be a non-negative number, not -2");
  EXPECT_EQ(refusal(R"({"experts": 3, "load": [1, 2]})"),
            "s.json: \"experts\" is 3 but \"load\" has 2 entries");
  EXPECT_EQ(refusal(R"({"load": [0, 0]})"),
            "s.json: \"load\" sums to 0: no routed rows to take shares from");
  EXPECT_EQ(refusal("[1]"), "s.json: not a JSON object");
}

} // namespace
