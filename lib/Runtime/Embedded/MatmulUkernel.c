/*===- MatmulUkernel.c - the f32 matmul micro-kernel generated code calls -===*
 *
 * C[M,N] += A[M,K] · B[N,K]ᵀ on f32 memrefs with unit inner strides: the
 * "x · Wᵀ" of every linear layer, where W is a checkpoint weight in its
 * [out, in] layout. Generated code calls it through the MLIR C interface
 * (`moe-linalg-to-ukernels`) in place of a scalar loop nest.
 *
 * Two kernels, chosen by M, both dot products along K (A and B are both
 * contiguous along K, so nothing is packed):
 *  - M < 8 (decode): one pass over B, each row dotted with the few A rows;
 *    B is read exactly once, which is all a memory-bound shape can ask.
 *  - M >= 8: 4x6 tiles of C, 24 vector accumulators, six B rows kept in L1
 *    while the row tiles of A stream past them.
 * AVX-512 versions are picked at run time when the CPU has AVX-512F; the
 * portable versions compute the same sums in the same order per element.
 *===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define MOE_X86 1
#endif

typedef struct {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} MemRef2D;


/* ---------------------------------------------------------------- portable */

static void matmulPortable(const float *a, int64_t lda, const float *b,
                           int64_t ldb, float *c, int64_t ldc, int64_t m,
                           int64_t n, int64_t k) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (int64_t p = 0; p < k; ++p)
        sum += a[i * lda + p] * b[j * ldb + p];
      c[i * ldc + j] += sum;
    }
}

/* ----------------------------------------------------------------- AVX-512 */

#ifdef MOE_X86
__attribute__((target("avx512f,fma"))) static float
reduceAdd(__m512 v) {
  return _mm512_reduce_add_ps(v);
}

/* Few rows: each B row is loaded once and dotted with every A row. */
__attribute__((target("avx512f,fma"))) static void
matmulSmallM(const float *a, int64_t lda, const float *b, int64_t ldb,
             float *c, int64_t ldc, int64_t m, int64_t n, int64_t k) {
  int64_t full = k & ~(int64_t)15;
  __mmask16 tail = (__mmask16)((1u << (k - full)) - 1u);
  for (int64_t j = 0; j < n; ++j) {
    const float *brow = b + j * ldb;
    __m512 acc[8];
    for (int64_t i = 0; i < m; ++i)
      acc[i] = _mm512_setzero_ps();
    for (int64_t p = 0; p < full; p += 16) {
      __m512 bv = _mm512_loadu_ps(brow + p);
      for (int64_t i = 0; i < m; ++i)
        acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(a + i * lda + p), bv, acc[i]);
    }
    if (tail) {
      __m512 bv = _mm512_maskz_loadu_ps(tail, brow + full);
      for (int64_t i = 0; i < m; ++i)
        acc[i] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a + i * lda + full),
                                 bv, acc[i]);
    }
    for (int64_t i = 0; i < m; ++i)
      c[i * ldc + j] += reduceAdd(acc[i]);
  }
}

/* Many rows: pack 32 rows of B K-major, then 6x32 register tiles. */
/* A 4x6 tile of C from dot products along K: 24 vector accumulators, four
 * rows of A and six of B loaded once per 16 values of k, no packing (both
 * operands are contiguous along K). `MR`/`NR` are the tile's real extent;
 * the full tile is compiled with constant bounds so it stays in registers. */
#define MOE_DOT_TILE(NAME, MR_BOUND, NR_BOUND)                                 \
  __attribute__((target("avx512f,fma"))) static void NAME(                     \
      const float *a, int64_t lda, const float *b, int64_t ldb, float *c,      \
      int64_t ldc, int64_t k, int64_t mr, int64_t nr) {                        \
    int64_t full = k & ~(int64_t)15;                                           \
    __mmask16 tail = (__mmask16)((1u << (k - full)) - 1u);                     \
    __m512 acc[4][6];                                                          \
    for (int64_t i = 0; i < MR_BOUND; ++i)                                     \
      for (int64_t j = 0; j < NR_BOUND; ++j)                                   \
        acc[i][j] = _mm512_setzero_ps();                                       \
    for (int64_t p = 0; p < full; p += 16) {                                   \
      __m512 bv[6];                                                            \
      for (int64_t j = 0; j < NR_BOUND; ++j)                                   \
        bv[j] = _mm512_loadu_ps(b + j * ldb + p);                              \
      for (int64_t i = 0; i < MR_BOUND; ++i) {                                 \
        __m512 av = _mm512_loadu_ps(a + i * lda + p);                          \
        for (int64_t j = 0; j < NR_BOUND; ++j)                                 \
          acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);                   \
      }                                                                        \
    }                                                                          \
    if (tail) {                                                                \
      __m512 bv[6];                                                            \
      for (int64_t j = 0; j < NR_BOUND; ++j)                                   \
        bv[j] = _mm512_maskz_loadu_ps(tail, b + j * ldb + full);               \
      for (int64_t i = 0; i < MR_BOUND; ++i) {                                 \
        __m512 av = _mm512_maskz_loadu_ps(tail, a + i * lda + full);           \
        for (int64_t j = 0; j < NR_BOUND; ++j)                                 \
          acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);                   \
      }                                                                        \
    }                                                                          \
    for (int64_t i = 0; i < MR_BOUND; ++i)                                     \
      for (int64_t j = 0; j < NR_BOUND; ++j)                                   \
        c[i * ldc + j] += reduceAdd(acc[i][j]);                                \
  }

MOE_DOT_TILE(dotTileFull, 4, 6)
MOE_DOT_TILE(dotTileEdge, mr, nr)
#undef MOE_DOT_TILE

/* Many rows: 4x6 dot-product tiles. Six rows of B (6·K floats) stay in L1
 * while every row tile of A passes over them. */
__attribute__((target("avx512f,fma"))) static void
matmulTiled(const float *a, int64_t lda, const float *b, int64_t ldb,
            float *c, int64_t ldc, int64_t m, int64_t n, int64_t k) {
  for (int64_t j0 = 0; j0 < n; j0 += 6) {
    int64_t nr = n - j0 < 6 ? n - j0 : 6;
    for (int64_t i0 = 0; i0 < m; i0 += 4) {
      int64_t mr = m - i0 < 4 ? m - i0 : 4;
      const float *at = a + i0 * lda, *bt = b + j0 * ldb;
      float *ct = c + i0 * ldc + j0;
      if (mr == 4 && nr == 6)
        dotTileFull(at, lda, bt, ldb, ct, ldc, k, mr, nr);
      else
        dotTileEdge(at, lda, bt, ldb, ct, ldc, k, mr, nr);
    }
  }
}

static int haveAvx512(void) {
  static int cached = -1;
  if (cached < 0)
    cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
  return cached;
}
#endif

/* ------------------------------------------------------------------- entry */

void _mlir_ciface_moe_ukernel_matmul_nt_f32(MemRef2D *A, MemRef2D *B,
                                            MemRef2D *C) {
  int64_t m = A->sizes[0], k = A->sizes[1], n = B->sizes[0];
  if (m == 0 || n == 0 || k == 0)
    return;
  const float *a = A->aligned + A->offset;
  const float *b = B->aligned + B->offset;
  float *c = C->aligned + C->offset;
  int64_t lda = A->strides[0], ldb = B->strides[0], ldc = C->strides[0];
#ifdef MOE_X86
  if (haveAvx512()) {
    if (m < 8)
      matmulSmallM(a, lda, b, ldb, c, ldc, m, n, k);
    else
      matmulTiled(a, lda, b, ldb, c, ldc, m, n, k);
    return;
  }
#endif
  matmulPortable(a, lda, b, ldb, c, ldc, m, n, k);
}
