/*===- Exchange.c - the exchanges of expert parallelism -------------------===*
 *
 * What convert-moe-to-runtime's calls do (moe/Runtime/KernelABI.h): move
 * rows between ranks through the moe_communicator the context gave the
 * entry, which the generated forward installs for the calling thread. The
 * bytes move on the host's engine (MPI); this file only turns row counts
 * into byte counts and offsets, keeps the exchanges in flight (known by
 * their receive buffers) and keeps a failure for the forward to return.
 *===----------------------------------------------------------------------===*/

#include "moe/Runtime/KernelABI.h"
#include "moe/Runtime/moe_runtime.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An exchange in flight: its receive buffer (its name), the communicator's
 * request, and the byte counts and offsets, which must outlive it. */
typedef struct Exchange {
  struct Exchange *next;
  int returning;
  void *recv;
  int64_t recvTotal;
  void *request;
  int64_t *bytes; /* send bytes, recv bytes, send offsets, recv offsets */
} Exchange;

/* The counts one outbound counts exchange sent, kept until its returning
 * exchange: the rows that come back are the rows sent, and the generated
 * code sizes and walks them so. */
typedef struct SentCounts {
  struct SentCounts *next;
  size_t count;
  int32_t values[];
} SentCounts;

/* The forward running on this thread: its communicator, whether an
 * exchange failed, the exchanges in flight, and the outbound counts not
 * yet returned, oldest first (returns come back in the order sent). */
static _Thread_local const moe_communicator *current;
static _Thread_local int32_t failure;
static _Thread_local Exchange *inFlight;
static _Thread_local SentCounts *sentFirst, *sentLast;

/* A counts receive buffer; one whose exchange timed out stays with MPI,
 * which may still write into it, so it is never freed: it joins the
 * process-wide list below (a few bytes per failed run) and stays
 * reachable. */
typedef struct CountsBuffer {
  struct CountsBuffer *next;
  int32_t values[];
} CountsBuffer;
static CountsBuffer *_Atomic abandonedCounts;

static void abandon(CountsBuffer *buffer) {
  CountsBuffer *head = atomic_load(&abandonedCounts);
  do
    buffer->next = head;
  while (!atomic_compare_exchange_weak(&abandonedCounts, &head, buffer));
}

static void forgetSentCounts(void) {
  while (sentFirst) {
    SentCounts *next = sentFirst->next;
    free(sentFirst);
    sentFirst = next;
  }
  sentLast = NULL;
}

/* The phases of this thread's forward: when it began, when its first
 * exchange call began and its last ended, and the seconds spent inside
 * exchange calls out and back; then the last forward's phases. */
static _Thread_local double begunAt, firstCallAt, lastCallEnd, blocked[2];
static _Thread_local double phases[MOE_PHASE_COUNT];
/* A single process's marks (moe-phase-marks): when each phase began, and
 * which phases were marked (bit per phase). */
static _Thread_local double markedAt[MOE_PHASE_COUNT];
static _Thread_local unsigned marked;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Brackets one exchange call for the phases. */
static double callBegins(void) {
  double t = now();
  if (firstCallAt < 0)
    firstCallAt = t;
  return t;
}
static void callEnds(double began, int returning) {
  lastCallEnd = now();
  blocked[returning ? 1 : 0] += lastCallEnd - began;
}

static void fail(int32_t status) {
  if (failure == MOE_STATUS_OK)
    failure = status;
}

void moe_rt_forward_begin(const moe_communicator *communicator) {
  current = communicator;
  failure = MOE_STATUS_OK;
  inFlight = NULL;
  forgetSentCounts();
  begunAt = now();
  firstCallAt = -1;
  lastCallEnd = begunAt;
  blocked[0] = blocked[1] = 0;
  marked = 0;
}

void moe_rt_phase_mark(int32_t phase) {
  if (phase <= MOE_PHASE_ROUTE || phase >= MOE_PHASE_COUNT)
    return;
  markedAt[phase] = now();
  marked |= 1u << phase;
}

/* A single process's phases from its marks: each phase lasts from its mark
 * to the next one marked (route from the beginning, the last to `end`); an
 * unmarked phase lasts 0. */
static void phasesFromMarks(double end) {
  double next = end;
  for (int phase = MOE_PHASE_COUNT - 1; phase >= MOE_PHASE_ROUTE; --phase) {
    int begins = phase == MOE_PHASE_ROUTE || (marked & (1u << phase));
    double at = phase == MOE_PHASE_ROUTE ? begunAt : markedAt[phase];
    phases[phase] = begins ? next - at : 0;
    if (begins)
      next = at;
  }
}

void moe_rt_forward_phases(double *seconds) {
  memcpy(seconds, phases, sizeof phases);
}

int32_t moe_rt_forward_end(void) {
  /* Generated code waits for every exchange it starts; one left over is a
   * broken schedule, reported rather than leaked silently. */
  while (inFlight) {
    Exchange *left = inFlight;
    inFlight = left->next;
    if (current && left->request)
      current->wait(current->impl, left->request);
    free(left->bytes);
    free(left);
    fail(MOE_STATUS_COMMUNICATION);
  }
  forgetSentCounts();
  current = NULL;
  double end = now();
  if (marked && firstCallAt < 0) {
    phasesFromMarks(end);
    return failure;
  }
  if (firstCallAt < 0)
    firstCallAt = end;
  phases[MOE_PHASE_ROUTE] = firstCallAt - begunAt;
  phases[MOE_PHASE_EXCHANGE] = blocked[0];
  phases[MOE_PHASE_EXCHANGE_BACK] = blocked[1];
  phases[MOE_PHASE_COMBINE] = end - lastCallEnd;
  phases[MOE_PHASE_EXPERTS] = (end - begunAt) - phases[MOE_PHASE_ROUTE] -
                              blocked[0] - blocked[1] -
                              phases[MOE_PHASE_COMBINE];
  return failure;
}

int32_t moe_rt_rank(void) { return current ? current->rank : 0; }

/* Starts an all-to-all-v of `sendBytes`/`recvBytes` per rank; the exchange,
 * or NULL when it cannot start (the failure kept, `recv` zeroed). */
static Exchange *start(const void *send, void *recv, int64_t *bytes,
                       int64_t ranks) {
  int64_t *sendBytes = bytes, *recvBytes = bytes + ranks;
  int64_t *sendOffsets = bytes + 2 * ranks, *recvOffsets = bytes + 3 * ranks;
  int64_t sendAt = 0, recvAt = 0;
  for (int64_t r = 0; r < ranks; ++r) {
    sendOffsets[r] = sendAt;
    recvOffsets[r] = recvAt;
    sendAt += sendBytes[r];
    recvAt += recvBytes[r];
  }
  Exchange *exchange = NULL;
  if (failure != MOE_STATUS_OK) {
    /* After a failure nothing moves: the rest of the call runs on zeros. */
  } else if (!current || current->size != ranks) {
    fail(MOE_STATUS_RANKS);
  } else if (!(exchange = calloc(1, sizeof(Exchange)))) {
    fail(MOE_STATUS_OUT_OF_MEMORY);
  } else if (current->all_to_all_start(
                 current->impl, send, sendBytes, sendOffsets, recv, recvBytes,
                 recvOffsets, &exchange->request) != MOE_STATUS_OK) {
    free(exchange);
    exchange = NULL;
    fail(MOE_STATUS_COMMUNICATION);
  }
  if (!exchange) {
    memset(recv, 0, (size_t)recvAt);
    free(bytes);
    return NULL;
  }
  exchange->recv = recv;
  exchange->recvTotal = recvAt;
  exchange->bytes = bytes;
  return exchange;
}

/* Completes `exchange` (zeroing what it would have received on failure);
 * whether it completed. One that did not (a peer stopped responding) stays
 * with MPI, which may still write into its receive buffer later. */
static int finish(Exchange *exchange) {
  int completed = current->wait(current->impl, exchange->request) ==
                  MOE_STATUS_OK;
  if (!completed) {
    fail(MOE_STATUS_COMMUNICATION);
    memset(exchange->recv, 0, (size_t)exchange->recvTotal);
  }
  free(exchange->bytes);
  free(exchange);
  return completed;
}

static int64_t *allocBytes(int64_t ranks) {
  int64_t *bytes = malloc(4 * (size_t)ranks * sizeof(int64_t));
  if (!bytes)
    fail(MOE_STATUS_OUT_OF_MEMORY);
  return bytes;
}

void moe_rt_exchange_counts(int64_t send, int64_t recv, int64_t ranks,
                            int64_t slots, int64_t returning) {
  double began = callBegins();
  int32_t *received = (int32_t *)(intptr_t)recv;
  size_t total = (size_t)(ranks * slots);
  /* Outbound counts are kept for their return; a returning exchange takes
   * the oldest. */
  SentCounts *sent = NULL;
  if (!returning) {
    SentCounts *kept = malloc(sizeof(SentCounts) + total * sizeof(int32_t));
    if (kept) {
      kept->next = NULL;
      kept->count = total;
      memcpy(kept->values, (const int32_t *)(intptr_t)send,
             total * sizeof(int32_t));
      *(sentLast ? &sentLast->next : &sentFirst) = kept;
      sentLast = kept;
    }
  } else if (sentFirst) {
    sent = sentFirst;
    sentFirst = sent->next;
    if (!sentFirst)
      sentLast = NULL;
  }
  /* Counts become allocation and loop sizes, so they arrive in a buffer of
   * the runtime's: an exchange that timed out may still be written by MPI
   * later, and must not change sizes the call has already used. */
  int64_t *bytes = allocBytes(ranks);
  CountsBuffer *buffer =
      bytes ? malloc(sizeof(CountsBuffer) + total * sizeof(int32_t)) : NULL;
  int32_t *staging = buffer ? buffer->values : NULL;
  if (bytes && !buffer) {
    fail(MOE_STATUS_OUT_OF_MEMORY);
    free(bytes);
  } else if (buffer) {
    for (int64_t r = 0; r < 2 * ranks; ++r)
      bytes[r] = slots * (int64_t)sizeof(int32_t);
    Exchange *exchange =
        start((const void *)(intptr_t)send, staging, bytes, ranks);
    if (exchange && !finish(exchange)) {
      abandon(buffer);
      buffer = NULL;
      staging = NULL;
    }
  }
  /* A peer's counts become allocation sizes: refuse negative ones. */
  for (size_t i = 0; staging && failure == MOE_STATUS_OK && i < total; ++i)
    if (staging[i] < 0)
      fail(MOE_STATUS_COMMUNICATION);
  if (failure == MOE_STATUS_OK)
    memcpy(received, staging, total * sizeof(int32_t));
  else if (sent && sent->count == total)
    /* After a failure the call runs on zeros, but in sizes that agree:
     * what comes back is what was sent. */
    memcpy(received, sent->values, total * sizeof(int32_t));
  else
    memset(received, 0, total * sizeof(int32_t));
  free(buffer);
  free(sent);
  callEnds(began, (int)returning);
}

/* The byte counts of an exchange of rows by send and receive counts. */
static int64_t *rowBytes(int64_t sendCounts, int64_t recvCounts, int64_t ranks,
                         int64_t slots, int64_t bytesPerRow) {
  const int32_t *sent = (const int32_t *)(intptr_t)sendCounts;
  const int32_t *received = (const int32_t *)(intptr_t)recvCounts;
  int64_t *bytes = allocBytes(ranks);
  if (!bytes)
    return NULL;
  for (int64_t r = 0; r < ranks; ++r) {
    int64_t out = 0, in = 0;
    for (int64_t g = 0; g < slots; ++g) {
      out += sent[r * slots + g];
      in += received[r * slots + g];
    }
    bytes[r] = out * bytesPerRow;
    bytes[ranks + r] = in * bytesPerRow;
  }
  return bytes;
}

/* The bytes all received rows fill, for zeroing without an exchange. */
static size_t receivedBytes(int64_t recvCounts, int64_t ranks, int64_t slots,
                            int64_t bytesPerRow) {
  const int32_t *received = (const int32_t *)(intptr_t)recvCounts;
  int64_t rows = 0;
  for (int64_t i = 0; i < ranks * slots; ++i)
    rows += received[i];
  return (size_t)(rows * bytesPerRow);
}

void moe_rt_exchange_rows_start(int64_t rows, int64_t sendCounts, int64_t recv,
                                int64_t recvCounts, int64_t ranks,
                                int64_t slots, int64_t bytesPerRow,
                                int64_t returning) {
  double began = callBegins();
  int64_t *bytes = rowBytes(sendCounts, recvCounts, ranks, slots, bytesPerRow);
  if (!bytes) {
    memset((void *)(intptr_t)recv, 0,
           receivedBytes(recvCounts, ranks, slots, bytesPerRow));
  } else {
    Exchange *exchange = start((const void *)(intptr_t)rows,
                               (void *)(intptr_t)recv, bytes, ranks);
    if (exchange) {
      exchange->returning = (int)returning;
      exchange->next = inFlight;
      inFlight = exchange;
    }
  }
  callEnds(began, (int)returning);
}

void moe_rt_exchange_wait(int64_t recv) {
  for (Exchange **link = &inFlight; *link; link = &(*link)->next)
    if ((*link)->recv == (void *)(intptr_t)recv) {
      Exchange *exchange = *link;
      int returning = exchange->returning;
      double began = callBegins();
      *link = exchange->next;
      finish(exchange);
      callEnds(began, returning);
      return;
    }
  /* No exchange in flight with this buffer: it failed to start (and was
   * zeroed then, the failure kept); otherwise the schedule is broken. */
  fail(MOE_STATUS_COMMUNICATION);
}

void moe_rt_exchange_rows(int64_t rows, int64_t sendCounts, int64_t recv,
                          int64_t recvCounts, int64_t ranks, int64_t slots,
                          int64_t bytesPerRow, int64_t returning) {
  moe_rt_exchange_rows_start(rows, sendCounts, recv, recvCounts, ranks, slots,
                             bytesPerRow, returning);
  moe_rt_exchange_wait(recv);
}
