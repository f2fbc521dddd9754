/*===- ukernels.c - one core's rate in each micro-kernel ------------------===*
 *
 * Times the two expert kernels on one thread, the way the compiled layer
 * walks them (a thread's column chunk outside, experts inside), over a full set
 *of expert weights, so that the weights arrive from L3 or memory as in a
 * forward pass; and the plain matmul on a block that stays in cache. Each
 * instruction set the CPU runs gets a row: this is where a kernel change is
 * measured before the whole layer is.
 *
 *   ukernels                      the bench shapes
 *   ukernels E F H ROWS           one shape: E experts of ROWS rows each
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

/* The columns one thread's kernel calls cover in the compiled layer at
 * bench/run.sh's two threads: one chunk per thread, in multiples of 64
 * (forEachWorkerPart in passes/Conversion/MoEToLinalg). */
static int64_t columnChunk(int64_t width) {
  const int64_t threads = 2, granule = 64;
  return ((width + threads - 1) / threads + granule - 1) / granule * granule;
}

/* One chunk's gate/up and down calls on expert e's weights, `[N, K]`
 * rows (w0: offset) or packed panels (p0: offset). */
static void gateUpCall(int pack, float *x, int64_t H, int64_t F, float *gate,
                       float *up, int64_t w0, int64_t p0, int64_t cols,
                       float *act, int64_t o0, int32_t *tok, int64_t t0,
                       int64_t M, float *weight) {
  int64_t panels = (cols + MOE_UKERNEL_PANEL - 1) / MOE_UKERNEL_PANEL;
  MoEMemRef2D xv = {x, x, 0, {kTokens, H}, {H, 1}};
  MoEMemRef2D ov = {act, act, o0, {M, cols}, {F, 1}};
  MoEMemRef1DI32 tv = {tok, tok, t0, {M}, {1}};
  MoEMemRef1D none = {weight, weight, 0, {0}, {1}};
  if (pack) {
    MoEMemRef3D gv = {gate,
                      gate,
                      p0,
                      {panels, H, MOE_UKERNEL_PANEL},
                      {H * MOE_UKERNEL_PANEL, MOE_UKERNEL_PANEL, 1}};
    MoEMemRef3D uv = {up,
                      up,
                      p0,
                      {panels, H, MOE_UKERNEL_PANEL},
                      {H * MOE_UKERNEL_PANEL, MOE_UKERNEL_PANEL, 1}};
    _mlir_ciface_moe_ukernel_gather_gate_up_packed_f32(
        &xv, &tv, &none, &gv, &uv, &ov, MOE_UKERNEL_SWIGLU,
        MOE_UKERNEL_HAS_TOKENS);
    return;
  }
  MoEMemRef2D gv = {gate, gate, w0, {cols, H}, {H, 1}};
  MoEMemRef2D uv = {up, up, w0, {cols, H}, {H, 1}};
  _mlir_ciface_moe_ukernel_gather_gate_up_f32(&xv, &tv, &none, &gv, &uv, &ov,
                                              MOE_UKERNEL_SWIGLU,
                                              MOE_UKERNEL_HAS_TOKENS);
}

static void downCall(int pack, float *act, int64_t a0, int64_t M, int64_t F,
                     float *down, int64_t w0, int64_t p0, int64_t cols,
                     float *out, int64_t h0, int64_t H, int32_t *tok,
                     float *weight, int64_t t0) {
  int64_t panels = (cols + MOE_UKERNEL_PANEL - 1) / MOE_UKERNEL_PANEL;
  MoEMemRef2D av = {act, act, a0, {M, F}, {F, 1}};
  MoEMemRef2D ov = {out, out, h0, {kTokens, cols}, {H, 1}};
  MoEMemRef1DI32 tv = {tok, tok, t0, {M}, {1}};
  MoEMemRef1D wv = {weight, weight, t0, {M}, {1}};
  int32_t flags = MOE_UKERNEL_HAS_TOKENS | MOE_UKERNEL_HAS_WEIGHTS;
  if (pack) {
    MoEMemRef3D dv = {down,
                      down,
                      p0,
                      {panels, F, MOE_UKERNEL_PANEL},
                      {F * MOE_UKERNEL_PANEL, MOE_UKERNEL_PANEL, 1}};
    _mlir_ciface_moe_ukernel_down_scatter_add_packed_f32(&av, &dv, &tv, &wv,
                                                         &ov, flags);
    return;
  }
  MoEMemRef2D dv = {down, down, w0, {cols, F}, {F, 1}};
  _mlir_ciface_moe_ukernel_down_scatter_add_f32(&av, &dv, &tv, &wv, &ov, flags);
}

static void expertKernels(const char *isa, int pack, int E, int64_t F,
                          int64_t H, int64_t M) {
  int64_t rows = E * M;
  int64_t panelsF = (F + MOE_UKERNEL_PANEL - 1) / MOE_UKERNEL_PANEL;
  int64_t panelsH = (H + MOE_UKERNEL_PANEL - 1) / MOE_UKERNEL_PANEL;
  float *x = filled(kTokens * H, 1), *gate = filled(E * F * H, 2),
        *up = filled(E * F * H, 3), *down = filled(E * H * F, 4),
        *act = filled(rows * F, 5), *weight = filled(rows, 6),
        *out = filled(kTokens * H, 7);
  if (pack) {
    float *g = packed(gate, E, F, H), *u = packed(up, E, F, H),
          *d = packed(down, E, H, F);
    free(gate), free(up), free(down);
    gate = g, up = u, down = d;
  }
  int32_t *tok = malloc((size_t)rows * sizeof(int32_t));
  for (int e = 0; e < E; ++e)
    for (int64_t i = 0; i < M; ++i)
      tok[e * M + i] = (int32_t)((i * 7 + e * 3) % kTokens);
  double bestGateUp = 1e30, bestDown = 1e30;
  int64_t chunkF = columnChunk(F), chunkH = columnChunk(H);
  for (int r = 0; r < kRepeat; ++r) {
    double start = seconds();
    for (int64_t f0 = 0; f0 < F; f0 += chunkF)
      for (int e = 0; e < E; ++e)
        gateUpCall(pack, x, H, F, gate, up, e * F * H + f0 * H,
                   (e * panelsF + f0 / MOE_UKERNEL_PANEL) * H *
                       MOE_UKERNEL_PANEL,
                   F - f0 < chunkF ? F - f0 : chunkF, act, e * M * F + f0, tok,
                   e * M, M, weight);
    double mid = seconds();
    for (int64_t h0 = 0; h0 < H; h0 += chunkH)
      for (int e = 0; e < E; ++e)
        downCall(pack, act, e * M * F, M, F, down, e * H * F + h0 * F,
                 (e * panelsH + h0 / MOE_UKERNEL_PANEL) * F * MOE_UKERNEL_PANEL,
                 H - h0 < chunkH ? H - h0 : chunkH, out, h0, H, tok, weight,
                 e * M);
    double end = seconds();
    if (mid - start < bestGateUp)
      bestGateUp = mid - start;
    if (end - mid < bestDown)
      bestDown = end - mid;
  }
  double flops = 2.0 * (double)rows * (double)F * (double)H;
  printf("| %s | %s E=%d F=%ld H=%ld, %ld rows/expert | %.1f | %.1f |\n", isa,
         pack ? "packed" : "rows", E, (long)F, (long)H, (long)M,
         2 * flops / bestGateUp / 1e9, flops / bestDown / 1e9);
  free(tok);
  free(x), free(gate), free(up), free(down), free(act), free(weight), free(out);
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
  printf("| %s | matmul %ldx%ldx%ld in cache | %.1f | |\n", isa, (long)M,
         (long)N, (long)K, 50 * 2.0 * M * N * K / best / 1e9);
  free(a), free(b), free(c);
}

int main(int argc, char **argv) {
  printf("| isa | shape | gate/up GFLOP/s | down GFLOP/s |\n");
  printf("| --- | --- | --- | --- |\n");
  for (int isa = MOE_UKERNEL_ISA_AVX512; isa >= MOE_UKERNEL_ISA_AVX2; --isa) {
    if (!moe_ukernel_use_isa((MoEUkernelIsa)isa))
      continue;
    if (argc == 5) {
      for (int pack = 0; pack < 2; ++pack)
        expertKernels(kIsaNames[isa], pack, atoi(argv[1]), atol(argv[2]),
                      atol(argv[3]), atol(argv[4]));
      continue;
    }
    hotMatmul(kIsaNames[isa]);
    for (int pack = 0; pack < 2; ++pack) {
      expertKernels(kIsaNames[isa], pack, 8, 3584, 1024, 128); /* Mixtral */
      expertKernels(kIsaNames[isa], pack, 64, 512, 1024, 48);  /* DeepSeek */
    }
  }
  return 0;
}
