//===- roofline.cpp - this machine's sgemm rate and read bandwidth --------===//
//
// The two ceilings the benchmark divides by: the best OpenBLAS sgemm
// GFLOP/s over the given shapes at a thread count, and memory read
// bandwidth (GB/s) streaming a buffer much larger than the caches with the
// same thread count.
//
//   roofline THREADS M N K [M N K ...]
//     prints {"sgemm_gflops": ..., "sgemm_shape": [...], "read_gbps": ...}
//
//===----------------------------------------------------------------------===//

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <omp.h>
#include <vector>

extern "C" void openblas_set_num_threads(int);

static double seconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int main(int argc, char **argv) {
  if (argc < 5 || (argc - 2) % 3 != 0) {
    std::fprintf(stderr, "usage: roofline THREADS M N K [M N K ...]\n");
    return 1;
  }
  int threads = std::atoi(argv[1]);
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);

  // sgemm: C[m,n] = A[m,k] · B[n,k]ᵀ, as a linear layer computes it. Best
  // of several runs after a warm-up, best over the shapes.
  double gflops = 0;
  long bestShape[3] = {0, 0, 0};
  for (int arg = 2; arg + 2 < argc; arg += 3) {
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

  // Read bandwidth: sum 1 GiB of floats, best of several passes.
  size_t count = (size_t(1) << 30) / sizeof(float);
  std::vector<float> buffer(count);
#pragma omp parallel for
  for (size_t i = 0; i < count; ++i)
    buffer[i] = static_cast<float>(i & 7);
  double bestRead = 1e30, sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    double sum = 0, start = seconds();
#pragma omp parallel for reduction(+ : sum)
    for (size_t i = 0; i < count; ++i)
      sum += buffer[i];
    bestRead = std::min(bestRead, seconds() - start);
    sink += sum;
  }
  double gbps = count * sizeof(float) / bestRead / 1e9;
  std::printf("{\"threads\": %d, \"sgemm_shape\": [%ld, %ld, %ld], "
              "\"sgemm_gflops\": %.2f, \"read_gbps\": %.2f, \"check\": %g}\n",
              threads, bestShape[0], bestShape[1], bestShape[2], gflops, gbps,
              sink > 0 ? 1.0 : 0.0);
  return 0;
}
