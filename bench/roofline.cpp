//===- roofline.cpp - this machine's sgemm rate and read bandwidth --------===//
//
// The two ceilings the benchmark divides by, at a thread count:
//
//   roofline sgemm THREADS M N K [M N K ...]
//     the best OpenBLAS sgemm GFLOP/s over the shapes
//   roofline read THREADS MB
//     the read bandwidth (GB/s) of repeated passes over an MB-sized buffer:
//     the size of the weights a forward pass reads, so that the caches help
//     the ceiling exactly as much as they help repeated forward passes.
//
//===----------------------------------------------------------------------===//

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <omp.h>
#include <string>
#include <vector>

extern "C" void openblas_set_num_threads(int);

static double seconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

static int measureRead(int threads, long megabytes) {
  // Sum the buffer, best of several passes, in 64 independent lanes per
  // thread: the compiler turns them into vector accumulators, so the loop
  // is limited by memory, not by a chain of dependent adds.
  constexpr size_t kLanes = 64;
  size_t count = size_t(megabytes) * 1000000 / sizeof(float) / kLanes * kLanes;
  std::vector<float> buffer(count);
#pragma omp parallel for
  for (size_t i = 0; i < count; ++i)
    buffer[i] = static_cast<float>(i & 7);
  double bestRead = 1e30, sink = 0;
  for (int pass = 0; pass < 8; ++pass) {
    double total = 0, start = seconds();
#pragma omp parallel reduction(+ : total)
    {
      float lanes[kLanes] = {};
#pragma omp for
      for (size_t i = 0; i < count; i += kLanes)
        for (size_t j = 0; j < kLanes; ++j)
          lanes[j] += buffer[i + j];
      for (float lane : lanes)
        total += lane;
    }
    bestRead = std::min(bestRead, seconds() - start);
    sink += total;
  }
  std::printf("{\"threads\": %d, \"read_mb\": %ld, \"read_gbps\": %.2f, "
              "\"check\": %g}\n",
              threads, megabytes, count * sizeof(float) / bestRead / 1e9,
              sink > 0 ? 1.0 : 0.0);
  return 0;
}

int main(int argc, char **argv) {
  bool sgemm = argc >= 6 && std::string(argv[1]) == "sgemm" && (argc - 3) % 3 == 0;
  bool read = argc == 4 && std::string(argv[1]) == "read";
  if (!sgemm && !read) {
    std::fprintf(stderr, "usage: roofline sgemm THREADS M N K [M N K ...]\n"
                         "       roofline read THREADS MB\n");
    return 1;
  }
  int threads = std::atoi(argv[2]);
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
  if (read)
    return measureRead(threads, std::atol(argv[3]));

  // sgemm: C[m,n] = A[m,k] · B[n,k]ᵀ, as a linear layer computes it. Best
  // of several runs after a warm-up, best over the shapes.
  double gflops = 0;
  long bestShape[3] = {0, 0, 0};
  for (int arg = 3; arg + 2 < argc; arg += 3) {
    long m = std::atol(argv[arg]), n = std::atol(argv[arg + 1]),
         k = std::atol(argv[arg + 2]);
    std::vector<float> a(m * k, 0.5f), b(n * k, 0.25f), c(m * n);
    double best = 1e30;
    for (int i = 0; i < 8; ++i) {
      double start = seconds();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f,
                  a.data(), k, b.data(), k, 0.0f, c.data(), n);
      if (i > 0)
        best = std::min(best, seconds() - start);
    }
    double rate = 2.0 * m * n * k / best / 1e9;
    if (rate > gflops) {
      gflops = rate;
      bestShape[0] = m, bestShape[1] = n, bestShape[2] = k;
    }
  }

  std::printf("{\"threads\": %d, \"sgemm_shape\": [%ld, %ld, %ld], "
              "\"sgemm_gflops\": %.2f}\n",
              threads, bestShape[0], bestShape[1], bestShape[2], gflops);
  return 0;
}
