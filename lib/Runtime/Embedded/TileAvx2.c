/*===- TileAvx2.c - the register tile on AVX2 + FMA -----------------------===*
 *
 * The 6×64 tile (Tiles.h) as passes of three rows by one whole panel:
 * twelve 8-float accumulators, four B vectors and a broadcast, each pass
 * streaming its panel's lines in order. It replaced four passes of AVX2's
 * 6×16 sgemm tile, each of which read every other line of a panel
 * (measured on one core, weights from memory, E=8 N=7168 K=1024: 5.4 →
 * 13.5 GFLOP/s at one row per expert, 16 → 29 at four, 84 → 99 at 128).
 * The first pass requests the caller's prefetch lines.
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

/* One step of p on all 32 columns of a panel. */
MOE_AVX2 static inline __attribute__((always_inline)) void
panelStepWholeAvx2(int mr, const float *const a[kPanelRows], const void *b,
                   int64_t p, __m256 sum[kPanelRows][4],
                   PanelElement element) {
  __m256 bv[4];
  for (int j = 0; j < 4; ++j)
    bv[j] = panelLoadAvx2(b, p * kPanel + 8 * j, element);
  for (int i = 0; i < mr; ++i) {
    __m256 av = _mm256_broadcast_ss(a[i] + p);
    for (int j = 0; j < 4; ++j)
      sum[i][j] = _mm256_fmadd_ps(av, bv[j], sum[i][j]);
  }
}

/* Columns [col, col + 32) from one whole panel `b` on up to three rows:
 * twelve accumulators, four B vectors (or memory operands) and a
 * broadcast. */
MOE_AVX2 static inline __attribute__((always_inline)) void
panelWholeAvx2(int mr, const float *const a[kPanelRows], const void *b,
               int64_t k, float acc[kPanelRows][2 * kPanel], int col,
               int fresh, Lines prefetch, PanelElement element) {
  __m256 sum[kPanelRows][4];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < 4; ++j)
      sum[i][j] =
          fresh ? _mm256_setzero_ps() : _mm256_loadu_ps(acc[i] + col + 8 * j);
  int64_t p;
  PanelPrefetch pf = panelPrefetch(prefetch, k);
  PANEL_STEPS_PREFETCHING(pf, k, p,
                          panelStepWholeAvx2(mr, a, b, p, sum, element));
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < 4; ++j)
      _mm256_storeu_ps(acc[i] + col + 8 * j, sum[i][j]);
}

/* The rows one pass takes: twelve accumulators. */
enum { kPassRows = 3 };

/* The packed tile as passes over whole panels: each pass takes up to three
 * rows and one panel, and streams the panel's lines in order; the first
 * pass prefetches. */
MOE_AVX2 static inline __attribute__((always_inline)) void
panelTileAvx2(int mr, const float *const a[kPanelRows], const void *b0,
              const void *b1, int64_t k, float acc[kPanelRows][2 * kPanel],
              int fresh, Lines prefetch, PanelElement element) {
  for (int r0 = 0; r0 < mr; r0 += kPassRows) {
    int rows = (int)minI64(kPassRows, mr - r0);
    for (int half = 0; half < 2; ++half) {
      Lines pf = r0 == 0 && half == 0 ? prefetch : (Lines){NULL, 0};
      const void *b = half == 0 ? b0 : b1;
      int col = kPanel * half;
      switch (rows) {
      case 3:
        panelWholeAvx2(3, a + r0, b, k, acc + r0, col, fresh, pf, element);
        break;
      case 2:
        panelWholeAvx2(2, a + r0, b, k, acc + r0, col, fresh, pf, element);
        break;
      default:
        panelWholeAvx2(1, a + r0, b, k, acc + r0, col, fresh, pf, element);
      }
    }
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
