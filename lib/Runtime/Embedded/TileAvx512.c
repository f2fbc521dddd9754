/*===- TileAvx512.c - the register tile on AVX-512 ------------------------===*
 *
 * The 6×64 tile (Tiles.h) at once: 24 16-float accumulators, the four B
 * vectors of a step of p (both panels) kept in registers, and a broadcast.
 *===----------------------------------------------------------------------===*/

#include "Tiles.h"

#ifdef MOE_X86

/* Sixteen panel values from element `i` of `b`, as f32. */
MOE_AVX512 static inline __attribute__((always_inline)) __m512
panelLoadAvx512(const void *b, int64_t i, PanelElement element) {
  if (element == kPanelF32)
    return _mm512_loadu_ps((const float *)b + i);
  __m256i half = _mm256_loadu_si256((const __m256i *)((const uint16_t *)b + i));
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
}

/* One step of p on the packed tile: four B vectors (both panels), kept in
 * registers, times each row's broadcast value. */
MOE_AVX512 static inline __attribute__((always_inline)) void
panelStepAvx512(int mr, const float *const a[kPanelRows], const void *b0,
                const void *b1, int64_t p, __m512 acc[kPanelRows][4],
                PanelElement element) {
  __m512 v0 = panelLoadAvx512(b0, p * kPanel, element);
  __m512 v1 = panelLoadAvx512(b0, p * kPanel + 16, element);
  __m512 v2 = panelLoadAvx512(b1, p * kPanel, element);
  __m512 v3 = panelLoadAvx512(b1, p * kPanel + 16, element);
  __asm__("" : "+v"(v0), "+v"(v1), "+v"(v2), "+v"(v3)); // as in stepAvx512
  for (int i = 0; i < mr; ++i) {
    __m512 av = _mm512_set1_ps(a[i][p]);
    acc[i][0] = _mm512_fmadd_ps(av, v0, acc[i][0]);
    acc[i][1] = _mm512_fmadd_ps(av, v1, acc[i][1]);
    acc[i][2] = _mm512_fmadd_ps(av, v2, acc[i][2]);
    acc[i][3] = _mm512_fmadd_ps(av, v3, acc[i][3]);
  }
}

/* 6 rows × 64 columns: 24 accumulators, four B vectors and a broadcast. */
MOE_AVX512 static inline __attribute__((always_inline)) void
panelTileAvx512(int mr, const float *const a[kPanelRows], const void *b0,
                const void *b1, int64_t k, float acc[kPanelRows][2 * kPanel],
                int fresh, Lines prefetch, PanelElement element) {
  __m512 sum[kPanelRows][4];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < 4; ++j)
      sum[i][j] =
          fresh ? _mm512_setzero_ps() : _mm512_loadu_ps(acc[i] + 16 * j);
  int64_t p;
  PanelPrefetch pf = panelPrefetch(prefetch, k);
  PANEL_STEPS_PREFETCHING(pf, k, p,
                          panelStepAvx512(mr, a, b0, b1, p, sum, element));
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < 4; ++j)
      _mm512_storeu_ps(acc[i] + 16 * j, sum[i][j]);
}

/* panelTileAvx512 with MR constant in each branch, per element type. */
MOE_AVX512 static void tileAvx512(int mr, const float *const a[kPanelRows],
                                  const void *b0, const void *b1, int64_t k,
                                  float acc[kPanelRows][2 * kPanel], int fresh,
                                  Lines prefetch) {
  WITH_CONSTANT_ROWS(mr, rows,
                     panelTileAvx512(rows, a, b0, b1, k, acc, fresh, prefetch,
                                     kPanelF32))
}

MOE_AVX512 static void tileAvx512Bf16(int mr, const float *const a[kPanelRows],
                                      const void *b0, const void *b1,
                                      int64_t k,
                                      float acc[kPanelRows][2 * kPanel],
                                      int fresh, Lines prefetch) {
  WITH_CONSTANT_ROWS(mr, rows,
                     panelTileAvx512(rows, a, b0, b1, k, acc, fresh, prefetch,
                                     kPanelBf16))
}

const MoETiles moeTilesAvx512 = {.tile = {tileAvx512, tileAvx512Bf16}};
#endif
