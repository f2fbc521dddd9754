/*===- ukernels.c - one core's rate in each micro-kernel ------------------===*
 *
 * Times the expert kernels' register tile on one thread over a full set of
 * expert weights in panels, so that the weights arrive from L3 or memory as
 * in a forward pass, and the router's matmul on a block that stays in
 * cache. Each instruction set the CPU runs gets a row: this is where a tile
 * change is measured before the whole layer is.
 *
 *   ukernels                      the bench shapes
 *   ukernels E N K ROWS           one shape: E experts [N, K] of ROWS rows each
 *===----------------------------------------------------------------------===*/

#include "../lib/Runtime/Embedded/Ukernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Seeded values in [-0.03, 0.03], on huge pages as the loader places
 * large weights. */
static float *filled(int64_t count, unsigned seed) {
  size_t huge = (size_t)1 << 21;
  size_t bytes = ((size_t)count * sizeof(float) + huge - 1) / huge * huge;
  float *p = aligned_alloc(huge, bytes);
  if (!p) {
    fprintf(stderr, "ukernels: out of memory\n");
    exit(1);
  }
  madvise(p, bytes, MADV_HUGEPAGE);
  srand(seed);
  for (int64_t i = 0; i < count; ++i)
    p[i] = ((float)rand() / (float)RAND_MAX - 0.5f) * 0.06f;
  return p;
}

/* `[E, N, K]` → `[E, P, K, PANEL]` panels, zero past N (KernelABI.h). */
static float *packed(const float *w, int64_t E, int64_t N, int64_t K) {
  int64_t P = (N + MOE_UKERNEL_PANEL - 1) / MOE_UKERNEL_PANEL;
  float *out = filled(E * P * K * MOE_UKERNEL_PANEL, 0);
  for (int64_t e = 0; e < E; ++e)
    for (int64_t q = 0; q < P; ++q)
      for (int64_t p = 0; p < K; ++p)
        for (int64_t c = 0; c < MOE_UKERNEL_PANEL; ++c) {
          int64_t n = q * MOE_UKERNEL_PANEL + c;
          out[((e * P + q) * K + p) * MOE_UKERNEL_PANEL + c] =
              n < N ? w[(e * N + n) * K + p] : 0.0f;
        }
  return out;
}

static const char *const kIsaNames[] = {"portable", "avx2", "avx512"};
enum { kTokens = 512, kRepeat = 3 };

/* The register tile over a full set of expert weights in panels, in the
 * order the generated loops call it (panel pairs outside, then row blocks
 * of MOE_UKERNEL_ROW_BLOCK, depth blocks of MOE_UKERNEL_TILE_DEPTH and row
 * tiles of MOE_UKERNEL_TILE_ROWS), rows gathered through a token list:
 * the tile's own rate with weights from L3 or memory, without the
 * generated epilogues or prefetch requests around it. */
static void expertTiles(const char *isa, int E, int64_t N, int64_t K,
                        int64_t M) {
  enum { kPanel = MOE_UKERNEL_PANEL, kRows = MOE_UKERNEL_TILE_ROWS };
  float *x = filled(kTokens * K, 1), *w = filled(E * N * K, 2);
  float *panels = packed(w, E, N, K);
  free(w);
  int64_t P = (N + kPanel - 1) / kPanel, pairs = (P + 1) / 2;
  int32_t *tok = malloc((size_t)M * sizeof(int32_t));
  for (int64_t i = 0; i < M; ++i)
    tok[i] = (int32_t)((i * 7) % kTokens);
  float acc[MOE_UKERNEL_ROW_BLOCK / kRows][kRows][2 * kPanel];
  MoEMemRef2D xv = {x, x, 0, {kTokens, K}, {K, 1}};
  double best = 1e30;
  for (int r = 0; r < kRepeat; ++r) {
    double start = seconds();
    for (int e = 0; e < E; ++e)
      for (int64_t q = 0; q < pairs; ++q)
        for (int64_t r0 = 0; r0 < M; r0 += MOE_UKERNEL_ROW_BLOCK)
          for (int64_t p0 = 0; p0 < K; p0 += MOE_UKERNEL_TILE_DEPTH) {
            int64_t kc = K - p0 < MOE_UKERNEL_TILE_DEPTH
                             ? K - p0
                             : MOE_UKERNEL_TILE_DEPTH;
            float *base = panels + ((int64_t)e * P * K + p0) * kPanel;
            int64_t q1 = 2 * q + 1 < P ? 2 * q + 1 : P - 1;
            MoEMemRef2D b0 = {base, base, 2 * q * K * kPanel, {kc, kPanel},
                              {kPanel, 1}};
            MoEMemRef2D b1 = {base, base, q1 * K * kPanel, {kc, kPanel},
                              {kPanel, 1}};
            int64_t blockRows =
                M - r0 < MOE_UKERNEL_ROW_BLOCK ? M - r0 : MOE_UKERNEL_ROW_BLOCK;
            for (int64_t t = 0; t * kRows < blockRows; ++t) {
              int64_t mr =
                  blockRows - t * kRows < kRows ? blockRows - t * kRows : kRows;
              MoEMemRef1DI32 rows = {tok, tok, r0 + t * kRows, {mr}, {1}};
              MoEMemRef2D av = {&acc[0][0][0], &acc[0][0][0],
                                t * kRows * 2 * kPanel, {mr, 2 * kPanel},
                                {2 * kPanel, 1}};
              MOE_UKERNEL_CIFACE(MOE_UKERNEL_TILE_F32)(&xv, &rows, p0, &b0,
                                                       &b1, &av, p0 == 0, 0, 0);
            }
          }
    if (seconds() - start < best)
      best = seconds() - start;
  }
  double flops = 2.0 * (double)E * (double)M * (double)N * (double)K;
  printf("| %s | tile, E=%d N=%ld K=%ld, %ld rows/expert | %.1f |\n", isa, E,
         (long)N, (long)K, (long)M, flops / best / 1e9);
  free(tok), free(x), free(panels);
}

/* C[M,N] += A·Bᵀ with every operand in L2: the tile's own rate. */
static void hotMatmul(const char *isa) {
  int64_t M = 126, N = 64, K = 1024;
  float *a = filled(M * K, 8), *b = filled(N * K, 9), *c = filled(M * N, 10);
  MoEMemRef2D av = {a, a, 0, {M, K}, {K, 1}}, bv = {b, b, 0, {N, K}, {K, 1}},
              cv = {c, c, 0, {M, N}, {N, 1}};
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    double start = seconds();
    for (int i = 0; i < 50; ++i)
      _mlir_ciface_moe_ukernel_matmul_nt_f32(&av, &bv, &cv);
    if (seconds() - start < best)
      best = seconds() - start;
  }
  printf("| %s | matmul %ldx%ldx%ld in cache | %.1f |\n", isa, (long)M,
         (long)N, (long)K, 50 * 2.0 * M * N * K / best / 1e9);
  free(a), free(b), free(c);
}

int main(int argc, char **argv) {
  printf("| isa | shape | GFLOP/s |\n");
  printf("| --- | --- | --- |\n");
  for (int isa = MOE_UKERNEL_ISA_AVX512; isa >= MOE_UKERNEL_ISA_AVX2; --isa) {
    if (!moe_ukernel_use_isa((MoEUkernelIsa)isa))
      continue;
    if (argc == 5) {
      expertTiles(kIsaNames[isa], atoi(argv[1]), atol(argv[2]), atol(argv[3]),
                  atol(argv[4]));
      continue;
    }
    hotMatmul(kIsaNames[isa]);
    expertTiles(kIsaNames[isa], 8, 2 * 3584, 1024, 128); /* Mixtral gate/up */
    expertTiles(kIsaNames[isa], 8, 1024, 3584, 128);     /* Mixtral down */
    expertTiles(kIsaNames[isa], 64, 2 * 512, 1024, 48);  /* DeepSeek gate/up */
    expertTiles(kIsaNames[isa], 64, 1024, 512, 48);      /* DeepSeek down */
  }
  return 0;
}
