/*===- Exchange.c - the exchanges of expert parallelism -------------------===*
 *
 * What convert-moe-to-runtime's calls do (moe/Runtime/KernelABI.h): move
 * rows between ranks through the moe_communicator the context gave the
 * entry, which the generated forward installs for the calling thread. The
 * bytes move on the host's engine (MPI); this file only turns row counts
 * into byte counts and offsets, and keeps a failure for the forward to
 * return.
 *===----------------------------------------------------------------------===*/

#include "moe/Runtime/KernelABI.h"
#include "moe/Runtime/moe_runtime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


/* The forward running on this thread: its communicator and whether an
 * exchange failed. */
static _Thread_local const moe_communicator *current;
static _Thread_local int32_t failure;

void moe_rt_forward_begin(const moe_communicator *communicator) {
  current = communicator;
  failure = MOE_STATUS_OK;
}

int32_t moe_rt_forward_end(void) {
  current = NULL;
  return failure;
}

int32_t moe_rt_rank(void) { return current ? current->rank : 0; }

/* Runs one all-to-all-v; false (and the failure kept) when it cannot. */
static int exchange(const void *send, const int64_t *sendBytes, void *recv,
                    const int64_t *recvBytes, int64_t ranks) {
  if (failure != MOE_STATUS_OK)
    return 0;
  if (!current || current->size != ranks) {
    failure = MOE_STATUS_RANKS;
    return 0;
  }
  int64_t *offsets = malloc(2 * (size_t)ranks * sizeof(int64_t));
  if (!offsets) {
    failure = MOE_STATUS_OUT_OF_MEMORY;
    return 0;
  }
  int64_t *sendOffsets = offsets, *recvOffsets = offsets + ranks;
  int64_t sendAt = 0, recvAt = 0;
  for (int64_t r = 0; r < ranks; ++r) {
    sendOffsets[r] = sendAt;
    recvOffsets[r] = recvAt;
    sendAt += sendBytes[r];
    recvAt += recvBytes[r];
  }
  void *request = NULL;
  int32_t status = current->all_to_all_start(current->impl, send, sendBytes,
                                             sendOffsets, recv, recvBytes,
                                             recvOffsets, &request);
  if (status == MOE_STATUS_OK)
    status = current->wait(current->impl, request);
  free(offsets);
  if (status != MOE_STATUS_OK) {
    failure = MOE_STATUS_COMMUNICATION;
    return 0;
  }
  return 1;
}

void moe_rt_exchange_counts(int64_t send, int64_t recv,
                                       int64_t ranks, int64_t slots) {
  int32_t *received = (int32_t *)(intptr_t)recv;
  size_t total = (size_t)(ranks * slots);
  int64_t *bytes = malloc((size_t)ranks * sizeof(int64_t));
  int ok = bytes != NULL;
  if (!ok && failure == MOE_STATUS_OK)
    failure = MOE_STATUS_OUT_OF_MEMORY;
  if (ok) {
    for (int64_t r = 0; r < ranks; ++r)
      bytes[r] = slots * (int64_t)sizeof(int32_t);
    ok = exchange((const void *)(intptr_t)send, bytes, received, bytes, ranks);
    free(bytes);
  }
  /* A peer's counts become allocation sizes: refuse negative ones. */
  for (size_t i = 0; ok && i < total; ++i)
    if (received[i] < 0) {
      failure = MOE_STATUS_COMMUNICATION;
      ok = 0;
    }
  if (!ok)
    memset(received, 0, total * sizeof(int32_t));
}

void moe_rt_exchange_rows(int64_t rows, int64_t sendCounts,
                                     int64_t recv, int64_t recvCounts,
                                     int64_t ranks, int64_t slots,
                                     int64_t rowBytes) {
  const int32_t *sent = (const int32_t *)(intptr_t)sendCounts;
  const int32_t *received = (const int32_t *)(intptr_t)recvCounts;
  int64_t *bytes = malloc(2 * (size_t)ranks * sizeof(int64_t));
  if (!bytes) {
    if (failure == MOE_STATUS_OK)
      failure = MOE_STATUS_OUT_OF_MEMORY;
    return;
  }
  int64_t *sendBytes = bytes, *recvBytes = bytes + ranks, recvTotal = 0;
  for (int64_t r = 0; r < ranks; ++r) {
    int64_t out = 0, in = 0;
    for (int64_t g = 0; g < slots; ++g) {
      out += sent[r * slots + g];
      in += received[r * slots + g];
    }
    sendBytes[r] = out * rowBytes;
    recvBytes[r] = in * rowBytes;
    recvTotal += recvBytes[r];
  }
  if (!exchange((const void *)(intptr_t)rows, sendBytes, (void *)(intptr_t)recv,
                recvBytes, ranks))
    memset((void *)(intptr_t)recv, 0, (size_t)recvTotal);
  free(bytes);
}
