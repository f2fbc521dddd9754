//===- ExchangeTest.cpp - the embedded runtime's exchanges ----------------===//
//
// Exchange.c between the compiled code and a communicator: row counts
// turned into byte counts and offsets, exchanges in flight known by their
// receive buffers, failures kept for the forward (what it would have
// received zeroed), negative counts refused, the phases timed. A scripted
// communicator stands in for MPI here (the real one runs under mpirun in
// test/Integration/MPI): it records each call and copies send to receive as
// rank 0 of 1 would, or fails when told.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/moe_runtime.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

extern "C" {
void moe_rt_forward_begin(const moe_communicator *communicator);
int32_t moe_rt_forward_end(void);
void moe_rt_forward_phases(double *seconds);
void moe_rt_phase_mark(int32_t phase);
int32_t moe_rt_rank(void);
void moe_rt_exchange_counts(int64_t send, int64_t recv, int64_t ranks,
                            int64_t slots, int64_t returning);
void moe_rt_exchange_rows(int64_t rows, int64_t sendCounts, int64_t recv,
                          int64_t recvCounts, int64_t ranks, int64_t slots,
                          int64_t bytesPerRow, int64_t returning);
void moe_rt_exchange_rows_start(int64_t rows, int64_t sendCounts, int64_t recv,
                                int64_t recvCounts, int64_t ranks,
                                int64_t slots, int64_t bytesPerRow,
                                int64_t returning);
void moe_rt_exchange_wait(int64_t recv);
}

namespace {

/// One rank that sends to itself: each start copies its bytes at once.
struct Loopback {
  moe_communicator api{};
  bool failStart = false, failWait = false;
  std::vector<std::vector<int64_t>> sentBytes;
  int starts = 0, waits = 0;
  const char *message = "scripted failure";

  Loopback() {
    api.rank = 0;
    api.size = 1;
    api.impl = this;
    api.all_to_all_start =
        [](void *impl, const void *send, const int64_t *sendBytes,
           const int64_t *sendOffsets, void *recv, const int64_t *recvBytes,
           const int64_t *recvOffsets, void **request) -> int32_t {
      auto *self = static_cast<Loopback *>(impl);
      ++self->starts;
      self->sentBytes.push_back({sendBytes[0], recvBytes[0]});
      if (self->failStart)
        return MOE_STATUS_COMMUNICATION;
      std::memcpy(static_cast<char *>(recv) + recvOffsets[0],
                  static_cast<const char *>(send) + sendOffsets[0],
                  static_cast<size_t>(sendBytes[0]));
      *request = self;
      return MOE_STATUS_OK;
    };
    api.wait = [](void *impl, void *) -> int32_t {
      auto *self = static_cast<Loopback *>(impl);
      ++self->waits;
      return self->failWait ? MOE_STATUS_COMMUNICATION : MOE_STATUS_OK;
    };
    api.error_message = [](void *impl) {
      return static_cast<Loopback *>(impl)->message;
    };
  }
};

int64_t address(const void *pointer) {
  return static_cast<int64_t>(reinterpret_cast<intptr_t>(pointer));
}

// Tests that counts and rows move as the counts say (3 slots, 2 + 0 + 1
// rows of 4 floats: 48 bytes), and the rank comes from the communicator.
TEST(Exchange, CountsAndRows) {
  Loopback loop;
  moe_rt_forward_begin(&loop.api);
  EXPECT_EQ(moe_rt_rank(), 0);
  int32_t send[3] = {2, 0, 1}, received[3] = {-7, -7, -7};
  moe_rt_exchange_counts(address(send), address(received), 1, 3, 0);
  EXPECT_EQ(std::vector<int32_t>(received, received + 3),
            (std::vector<int32_t>{2, 0, 1}));
  std::vector<float> rows = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  std::vector<float> out(12, -1);
  moe_rt_exchange_rows(address(rows.data()), address(send), address(out.data()),
                       address(received), 1, 3, 16, 1);
  EXPECT_EQ(out, rows);
  EXPECT_EQ(moe_rt_forward_end(), MOE_STATUS_OK);
  ASSERT_EQ(loop.sentBytes.size(), 2u);
  EXPECT_EQ(loop.sentBytes[0], (std::vector<int64_t>{12, 12}));
  EXPECT_EQ(loop.sentBytes[1], (std::vector<int64_t>{48, 48}));
  EXPECT_EQ(loop.waits, 2);
  double phases[MOE_PHASE_COUNT];
  moe_rt_forward_phases(phases);
  for (double seconds : phases)
    EXPECT_GE(seconds, 0);
}

// Tests a single process's phases from its marks (moe-phase-marks): each
// phase lasts from its mark to the next, route from the beginning, the
// last to the end, an unmarked phase 0 (exchange back, and here the
// combine); marks out of range are ignored; they sum to the forward.
TEST(Exchange, PhasesFromMarks) {
  auto spin = [] {
    volatile double sink = 0;
    for (int i = 0; i < 200000; ++i)
      sink = sink + i;
  };
  moe_rt_forward_begin(nullptr);
  spin();
  moe_rt_phase_mark(MOE_PHASE_EXCHANGE);
  spin();
  moe_rt_phase_mark(MOE_PHASE_EXPERTS);
  moe_rt_phase_mark(MOE_PHASE_ROUTE);     // ignored: route begins with BEGIN
  moe_rt_phase_mark(MOE_PHASE_COUNT);     // ignored
  spin();
  EXPECT_EQ(moe_rt_forward_end(), MOE_STATUS_OK);
  double phases[MOE_PHASE_COUNT];
  moe_rt_forward_phases(phases);
  EXPECT_GT(phases[MOE_PHASE_ROUTE], 0);
  EXPECT_GT(phases[MOE_PHASE_EXCHANGE], 0);
  EXPECT_GT(phases[MOE_PHASE_EXPERTS], 0);
  EXPECT_EQ(phases[MOE_PHASE_EXCHANGE_BACK], 0);
  EXPECT_EQ(phases[MOE_PHASE_COMBINE], 0);

  // The next forward starts unmarked: the combine mark alone splits it in
  // route and combine.
  moe_rt_forward_begin(nullptr);
  spin();
  moe_rt_phase_mark(MOE_PHASE_COMBINE);
  spin();
  EXPECT_EQ(moe_rt_forward_end(), MOE_STATUS_OK);
  moe_rt_forward_phases(phases);
  EXPECT_GT(phases[MOE_PHASE_ROUTE], 0);
  EXPECT_EQ(phases[MOE_PHASE_EXCHANGE], 0);
  EXPECT_EQ(phases[MOE_PHASE_EXPERTS], 0);
  EXPECT_GT(phases[MOE_PHASE_COMBINE], 0);
}

// Tests that two exchanges in flight complete by their receive buffers in
// any order, and that waiting for a buffer no exchange fills is reported.
TEST(Exchange, InFlightByBuffer) {
  Loopback loop;
  moe_rt_forward_begin(&loop.api);
  int32_t counts[1] = {1};
  float a[2] = {1, 2}, b[2] = {3, 4}, ra[2] = {}, rb[2] = {};
  moe_rt_exchange_rows_start(address(a), address(counts), address(ra),
                             address(counts), 1, 1, 8, 0);
  moe_rt_exchange_rows_start(address(b), address(counts), address(rb),
                             address(counts), 1, 1, 8, 1);
  moe_rt_exchange_wait(address(ra));
  moe_rt_exchange_wait(address(rb));
  EXPECT_EQ(moe_rt_forward_end(), MOE_STATUS_OK);
  EXPECT_EQ(ra[1], 2);
  EXPECT_EQ(rb[0], 3);
  EXPECT_EQ(loop.waits, 2);

  moe_rt_forward_begin(&loop.api);
  moe_rt_exchange_wait(address(ra));
  EXPECT_EQ(moe_rt_forward_end(), MOE_STATUS_COMMUNICATION);
}

// Tests that an exchange started and never waited for is completed at the
// end of the forward and reported as a broken schedule.
TEST(Exchange, LeftInFlight) {
  Loopback loop;
  moe_rt_forward_begin(&loop.api);
  int32_t counts[1] = {1};
  float a[1] = {1}, ra[1] = {};
  moe_rt_exchange_rows_start(address(a), address(counts), address(ra),
                             address(counts), 1, 1, 4, 0);
  EXPECT_EQ(moe_rt_forward_end(), MOE_STATUS_COMMUNICATION);
  EXPECT_EQ(loop.waits, 1);
}

// Tests that a failed start or wait zeroes what would have been received,
// that nothing moves after a failure, and that forward returns it.
TEST(Exchange, Failures) {
  Loopback loop;
  loop.failWait = true;
  moe_rt_forward_begin(&loop.api);
  int32_t send[2] = {1, 1}, received[2] = {5, 5};
  moe_rt_exchange_counts(address(send), address(received), 1, 2, 0);
  EXPECT_EQ(received[0], 0);
  EXPECT_EQ(received[1], 0);
  loop.failWait = false;
  float rows[2] = {1, 2}, out[2] = {9, 9};
  int32_t counts[2] = {1, 1};
  moe_rt_exchange_rows(address(rows), address(counts), address(out),
                       address(counts), 1, 2, 4, 0);
  EXPECT_EQ(out[0], 0) << "no bytes move after a failure";
  EXPECT_EQ(loop.starts, 1);
  EXPECT_EQ(moe_rt_forward_end(), MOE_STATUS_COMMUNICATION);

  loop.failStart = true;
  moe_rt_forward_begin(&loop.api);
  out[0] = out[1] = 9;
  moe_rt_exchange_rows_start(address(rows), address(counts), address(out),
                             address(counts), 1, 2, 4, 0);
  moe_rt_exchange_wait(address(out));
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 0);
  EXPECT_EQ(moe_rt_forward_end(), MOE_STATUS_COMMUNICATION);
}

// Tests that a peer's negative count (an allocation size downstream) is
// refused as a communication failure, and that a communicator of another
// size is refused before anything moves.
TEST(Exchange, Refusals) {
  Loopback loop;
  moe_rt_forward_begin(&loop.api);
  int32_t send[1] = {-3}, received[1] = {0};
  moe_rt_exchange_counts(address(send), address(received), 1, 1, 0);
  EXPECT_EQ(received[0], 0);
  EXPECT_EQ(moe_rt_forward_end(), MOE_STATUS_COMMUNICATION);

  moe_rt_forward_begin(&loop.api);
  int32_t counts[2] = {1, 1}, two[2] = {7, 7};
  moe_rt_exchange_counts(address(counts), address(two), 2, 1, 0);
  EXPECT_EQ(moe_rt_forward_end(), MOE_STATUS_RANKS);
  EXPECT_EQ(loop.starts, 1);
  EXPECT_EQ(two[0], 0);
  EXPECT_EQ(two[1], 0);

  moe_rt_forward_begin(nullptr);
  EXPECT_EQ(moe_rt_rank(), 0);
  moe_rt_exchange_counts(address(counts), address(received), 1, 1, 0);
  EXPECT_EQ(moe_rt_forward_end(), MOE_STATUS_RANKS);
}

} // namespace
