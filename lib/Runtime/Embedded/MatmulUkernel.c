/*===- MatmulUkernel.c - the f32 matmul micro-kernel generated code calls -===*
 *
 * C[M,N] += A[M,K] · B[N,K]ᵀ on f32 memrefs with unit inner strides: the
 * "x · Wᵀ" of every linear layer, where W is a checkpoint weight in its
 * [out, in] layout. Generated code calls it through the MLIR C interface
 * (`moe-linalg-to-ukernels`) in place of a scalar loop nest.
 *
 * Two kernels, chosen by M:
 *  - M < 8 (decode): one pass over B, each row dotted with the few A rows;
 *    B is read exactly once, which is all a memory-bound shape can ask.
 *  - M >= 8: B is packed 32 rows at a time into a K-major panel, then a
 *    6x32 register tile accumulates outer products (12 AVX-512 FMAs per k).
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

enum { kPanel = 32, kRows = 6 };

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
__attribute__((target("avx512f,fma"))) static void
matmulPacked(const float *a, int64_t lda, const float *b, int64_t ldb,
             float *c, int64_t ldc, int64_t m, int64_t n, int64_t k,
             float *panel) {
  for (int64_t j0 = 0; j0 < n; j0 += kPanel) {
    int64_t cols = n - j0 < kPanel ? n - j0 : kPanel;
    /* panel[p][0..32) = B[j0 .. j0+cols)[p], zero-padded. */
    for (int64_t jj = 0; jj < kPanel; ++jj) {
      if (jj < cols) {
        const float *brow = b + (j0 + jj) * ldb;
        for (int64_t p = 0; p < k; ++p)
          panel[p * kPanel + jj] = brow[p];
      } else {
        for (int64_t p = 0; p < k; ++p)
          panel[p * kPanel + jj] = 0.0f;
      }
    }
    __mmask16 lowMask = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1u);
    __mmask16 highMask =
        (__mmask16)(cols <= 16 ? 0 : cols >= 32 ? 0xffff : (1u << (cols - 16)) - 1u);
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      int64_t rows = m - i0 < kRows ? m - i0 : kRows;
      __m512 acc[kRows][2];
      for (int64_t i = 0; i < kRows; ++i)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
      const float *arow = a + i0 * lda;
      /* The full tile has its own loop so that the compiler unrolls the six
       * rows with a constant trip count and keeps all twelve accumulators in
       * registers; the tail tile pays for a variable count. */
      if (rows == kRows) {
        for (int64_t p = 0; p < k; ++p) {
          __m512 b0 = _mm512_load_ps(panel + p * kPanel);
          __m512 b1 = _mm512_load_ps(panel + p * kPanel + 16);
          for (int64_t i = 0; i < kRows; ++i) {
            __m512 av = _mm512_set1_ps(arow[i * lda + p]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
          }
        }
      } else {
        for (int64_t p = 0; p < k; ++p) {
          __m512 b0 = _mm512_load_ps(panel + p * kPanel);
          __m512 b1 = _mm512_load_ps(panel + p * kPanel + 16);
          for (int64_t i = 0; i < rows; ++i) {
            __m512 av = _mm512_set1_ps(arow[i * lda + p]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
          }
        }
      }
      for (int64_t i = 0; i < rows; ++i) {
        float *crow = c + (i0 + i) * ldc + j0;
        _mm512_mask_storeu_ps(
            crow, lowMask,
            _mm512_add_ps(_mm512_maskz_loadu_ps(lowMask, crow), acc[i][0]));
        if (highMask)
          _mm512_mask_storeu_ps(
              crow + 16, highMask,
              _mm512_add_ps(_mm512_maskz_loadu_ps(highMask, crow + 16),
                            acc[i][1]));
      }
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
    if (m < 8) {
      matmulSmallM(a, lda, b, ldb, c, ldc, m, n, k);
      return;
    }
    float *panel = (float *)aligned_alloc(64, (size_t)k * kPanel * sizeof(float));
    if (panel) {
      matmulPacked(a, lda, b, ldb, c, ldc, m, n, k, panel);
      free(panel);
      return;
    }
  }
#endif
  matmulPortable(a, lda, b, ldb, c, ldc, m, n, k);
}
