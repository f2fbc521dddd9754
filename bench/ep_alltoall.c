/*===- ep_alltoall.c - the MPI all-to-all "link" on this machine ---------===//
 *
 * Times MPI_Ialltoallv between the ranks of one mpirun, the collective
 * moec's MPI communicator runs for every exchange
 * (lib/Runtime/Comm/MPICommunicator.cpp), so that bench/ep_mpi.py can give
 * `moe-plan cost` a measured link (latency per step, bandwidth per rank)
 * rather than an assumed one:
 *
 *   mpicc -O2 bench/ep_alltoall.c -o ep_alltoall
 *   mpirun -np N ep_alltoall REPEAT BYTES_PER_PEER... [--overlap-ms MS]
 *
 * For each size: REPEAT exchanges of BYTES_PER_PEER to every rank (itself
 * included, as moec's exchanges are), each after a barrier, completed two
 * ways: MPI_Wait, and moec's wait (MPI_Test, sleeping 1 us doubling to
 * 1 ms between tests). An exchange takes as long as its slowest rank (the
 * maximum over ranks). With --overlap-ms, also: start the largest
 * exchange, compute MS milliseconds without calling MPI, then wait; if MPI
 * moved bytes while the rank computed, the wait is shorter than the
 * exchange alone. Rank 0 prints one JSON object per line:
 *   {"mode": "wait"|"poll", "ranks": N, "bytes_per_peer": B,
 *    "sent_bytes": (N-1)*B, "median_s", "p10_s", "p90_s"}
 *   {"mode": "overlap", ..., "compute_s", "wait_median_s", "alone_median_s",
 *    "start_median_s" (the start call: OpenMPI may move bytes inside it)}
 *
 *===----------------------------------------------------------------------===*/

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { kMaxSizes = 32, kMaxRepeat = 100000 };
static const long kMaxBytesPerPeer = 64L << 20;

static int compareDoubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The q-quantile of n sorted values, nearest rank. */
static double quantile(const double *sorted, int n, double q) {
  int i = (int)(q * (n - 1) + 0.5);
  return sorted[i];
}

/* moec's wait: test, sleep 1 us doubling to 1 ms, test again. */
static void pollLikeMoec(MPI_Request *request) {
  long pauseNs = 1000;
  for (;;) {
    int done = 0;
    MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (done)
      return;
    struct timespec pause = {0, pauseNs};
    nanosleep(&pause, NULL);
    pauseNs = pauseNs * 2 > 1000000 ? 1000000 : pauseNs * 2;
  }
}

/* Busy arithmetic for about `seconds`, no MPI calls. */
static double compute(double seconds) {
  volatile double sink = 0;
  double start = MPI_Wtime(), x = 1.0;
  while (MPI_Wtime() - start < seconds)
    for (int i = 0; i < 10000; ++i)
      x = x * 1.0000001 + 1e-9;
  sink = x;
  return sink;
}

typedef struct {
  int ranks;
  long bytes;
  char *send, *recv;
  int *counts, *offsets;
} Exchange;

static void start(Exchange *e, MPI_Request *request) {
  MPI_Ialltoallv(e->send, e->counts, e->offsets, MPI_BYTE, e->recv, e->counts,
                 e->offsets, MPI_BYTE, MPI_COMM_WORLD, request);
}

/* The slowest rank's time of each run, on every rank. */
static void slowest(double *times, int n) {
  MPI_Allreduce(MPI_IN_PLACE, times, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  qsort(times, n, sizeof(double), compareDoubles);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, ranks;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  long sizes[kMaxSizes];
  int nsizes = 0, repeat = 0;
  double overlapMs = 0;
  for (int i = 1; i < argc; ++i) {
    char *end = NULL;
    if (!strcmp(argv[i], "--overlap-ms") && i + 1 < argc) {
      overlapMs = strtod(argv[++i], &end);
      if (*end || !(overlapMs > 0 && overlapMs <= 10000)) {
        if (!rank)
          fprintf(stderr, "ep_alltoall: error: --overlap-ms: '%s' is not in "
                          "(0, 10000]\n", argv[i]);
        MPI_Finalize();
        return 1;
      }
      continue;
    }
    long value = strtol(argv[i], &end, 10);
    if (*end || value < 1 || (!repeat && value > kMaxRepeat) ||
        (repeat && value > kMaxBytesPerPeer) || (repeat && nsizes == kMaxSizes)) {
      if (!rank)
        fprintf(stderr, "ep_alltoall: error: argument %d: '%s' is not a "
                        "%s (at most %d sizes)\n", i, argv[i],
                repeat ? "size in [1, 64 MiB]" : "repeat in [1, 100000]",
                kMaxSizes);
      MPI_Finalize();
      return 1;
    }
    if (!repeat)
      repeat = (int)value;
    else
      sizes[nsizes++] = value;
  }
  if (!repeat || !nsizes) {
    if (!rank)
      fprintf(stderr, "usage: mpirun -np N ep_alltoall REPEAT BYTES_PER_PEER... "
                      "[--overlap-ms MS]\n");
    MPI_Finalize();
    return 1;
  }
  long largest = 0;
  for (int s = 0; s < nsizes; ++s)
    largest = sizes[s] > largest ? sizes[s] : largest;
  /* MPI's displacements are ints. */
  if (largest * ranks > 2147483647L) {
    if (!rank)
      fprintf(stderr, "ep_alltoall: error: %ld bytes per peer on %d ranks "
                      "exceed MPI's int displacements\n", largest, ranks);
    MPI_Finalize();
    return 1;
  }
  double *times = malloc(sizeof(double) * repeat);
  Exchange e = {ranks, 0, NULL, NULL, malloc(sizeof(int) * ranks),
                malloc(sizeof(int) * ranks)};
  e.send = malloc(largest * ranks);
  e.recv = malloc(largest * ranks);
  if (!times || !e.counts || !e.offsets || !e.send || !e.recv) {
    fprintf(stderr, "ep_alltoall: error: rank %d: out of memory\n", rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  memset(e.send, rank + 1, largest * ranks);
  memset(e.recv, 0, largest * ranks);

  for (int s = 0; s < nsizes; ++s) {
    e.bytes = sizes[s];
    for (int r = 0; r < ranks; ++r) {
      e.counts[r] = (int)e.bytes;
      e.offsets[r] = (int)(e.bytes * r);
    }
    for (int mode = 0; mode < 2; ++mode) {
      for (int i = 0; i < repeat; ++i) {
        MPI_Request request;
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        start(&e, &request);
        if (mode == 0)
          MPI_Wait(&request, MPI_STATUS_IGNORE);
        else
          pollLikeMoec(&request);
        times[i] = MPI_Wtime() - t0;
      }
      slowest(times, repeat);
      if (!rank)
        printf("{\"mode\": \"%s\", \"ranks\": %d, \"bytes_per_peer\": %ld, "
               "\"sent_bytes\": %ld, \"median_s\": %.9g, \"p10_s\": %.9g, "
               "\"p90_s\": %.9g}\n",
               mode ? "poll" : "wait", ranks, e.bytes, e.bytes * (ranks - 1),
               quantile(times, repeat, 0.5), quantile(times, repeat, 0.1),
               quantile(times, repeat, 0.9));
    }
  }

  if (overlapMs > 0) {
    /* The largest size: compute, then wait; the wait alone is what the
       computation did not hide. */
    double *alone = malloc(sizeof(double) * repeat);
    double *started = malloc(sizeof(double) * repeat);
    if (!alone || !started)
      MPI_Abort(MPI_COMM_WORLD, 1);
    for (int i = 0; i < repeat; ++i) {
      MPI_Request request;
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      start(&e, &request);
      pollLikeMoec(&request);
      alone[i] = MPI_Wtime() - t0;
      MPI_Barrier(MPI_COMM_WORLD);
      t0 = MPI_Wtime();
      start(&e, &request);
      started[i] = MPI_Wtime() - t0;
      compute(overlapMs / 1000);
      double t1 = MPI_Wtime();
      pollLikeMoec(&request);
      times[i] = MPI_Wtime() - t1;
    }
    slowest(times, repeat);
    slowest(alone, repeat);
    slowest(started, repeat);
    /* start_median_s: the start call itself, which moves what it can. */
    if (!rank)
      printf("{\"mode\": \"overlap\", \"ranks\": %d, \"bytes_per_peer\": %ld, "
             "\"sent_bytes\": %ld, \"compute_s\": %.9g, \"wait_median_s\": "
             "%.9g, \"alone_median_s\": %.9g, \"start_median_s\": %.9g}\n",
             ranks, e.bytes, e.bytes * (ranks - 1), overlapMs / 1000,
             quantile(times, repeat, 0.5), quantile(alone, repeat, 0.5),
             quantile(started, repeat, 0.5));
    free(alone);
    free(started);
  }
  free(times);
  free(e.send);
  free(e.recv);
  free(e.counts);
  free(e.offsets);
  MPI_Finalize();
  return 0;
}
