/*===- TileAvx2.c - the register tile on AVX2 + FMA -----------------------===*
 *
 * The 6×64 tile (Tiles.h) as four passes of AVX2's 6×16 sgemm tile: twelve
 * 8-float accumulators, two B vectors and a broadcast fill the sixteen
 * registers. The first pass requests the caller's prefetch lines.
 *===----------------------------------------------------------------------===*/

#include "Tiles.h"

#ifdef MOE_X86

/* Eight panel values from element `i` of `b`, as f32. */
MOE_AVX2 static inline __attribute__((always_inline)) __m256
panelLoadAvx2(const void *b, int64_t i, PanelElement element) {
  if (element == kPanelF32)
    return _mm256_loadu_ps((const float *)b + i);
  __m128i half = _mm_loadu_si128((const __m128i *)((const uint16_t *)b + i));
  return _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
}

/* One step of p on 16 columns of a panel. */
MOE_AVX2 static inline __attribute__((always_inline)) void
panelStepAvx2(int mr, const float *const a[kPanelRows], const void *b,
              int64_t p, __m256 sum[kPanelRows][2], PanelElement element) {
  __m256 b0 = panelLoadAvx2(b, p * kPanel, element),
         b1 = panelLoadAvx2(b, p * kPanel + 8, element);
  for (int i = 0; i < mr; ++i) {
    __m256 av = _mm256_broadcast_ss(a[i] + p);
    sum[i][0] = _mm256_fmadd_ps(av, b0, sum[i][0]);
    sum[i][1] = _mm256_fmadd_ps(av, b1, sum[i][1]);
  }
}

/* Columns [16h, 16h + 16) of one panel `b` on up to six rows: twelve
 * accumulators, two B vectors and a broadcast (AVX2's 6×16 sgemm tile). */
MOE_AVX2 static inline __attribute__((always_inline)) void
panelQuarterAvx2(int mr, const float *const a[kPanelRows], const void *b,
                 int64_t k, float acc[kPanelRows][2 * kPanel], int col,
                 int fresh, Lines prefetch, PanelElement element) {
  __m256 sum[kPanelRows][2];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < 2; ++j)
      sum[i][j] =
          fresh ? _mm256_setzero_ps() : _mm256_loadu_ps(acc[i] + col + 8 * j);
  int64_t p;
  PanelPrefetch pf = panelPrefetch(prefetch, k);
  PANEL_STEPS_PREFETCHING(pf, k, p, panelStepAvx2(mr, a, b, p, sum, element));
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < 2; ++j)
      _mm256_storeu_ps(acc[i] + col + 8 * j, sum[i][j]);
}

/* The packed tile in four passes of 16 columns; the first prefetches. */
MOE_AVX2 static inline __attribute__((always_inline)) void
panelTileAvx2(int mr, const float *const a[kPanelRows], const void *b0,
              const void *b1, int64_t k, float acc[kPanelRows][2 * kPanel],
              int fresh, Lines prefetch, PanelElement element) {
  size_t size = element == kPanelBf16 ? 2 : 4;
  for (int quarter = 0; quarter < 4; ++quarter) {
    const char *b =
        (const char *)(quarter < 2 ? b0 : b1) + 16 * (quarter % 2) * size;
    Lines pf = quarter == 0 ? prefetch : (Lines){NULL, 0};
    int col = 16 * quarter;
    WITH_CONSTANT_ROWS(
        mr, rows, panelQuarterAvx2(rows, a, b, k, acc, col, fresh, pf, element))
  }
}

MOE_AVX2 static void tileAvx2(int mr, const float *const a[kPanelRows],
                                  const void *b0, const void *b1, int64_t k,
                                  float acc[kPanelRows][2 * kPanel], int fresh,
                                  Lines prefetch) {
  panelTileAvx2(mr, a, b0, b1, k, acc, fresh, prefetch, kPanelF32);
}

MOE_AVX2 static void tileAvx2Bf16(int mr, const float *const a[kPanelRows],
                                      const void *b0, const void *b1, int64_t k,
                                      float acc[kPanelRows][2 * kPanel],
                                      int fresh, Lines prefetch) {
  panelTileAvx2(mr, a, b0, b1, k, acc, fresh, prefetch, kPanelBf16);
}

const MoETiles moeTilesAvx2 = {.tile = {tileAvx2, tileAvx2Bf16}};
#endif
