/*===- TilePortable.c - the register tile in plain C ----------------------===*
 *
 * Scalar loops of the tile (Tiles.h), for CPUs without AVX2: the reference
 * the vector tiles are tested against, and the last resort.
 *===----------------------------------------------------------------------===*/

#include "Tiles.h"

static inline void panelTilePortable(int mr, const float *const a[kPanelRows],
                                     const void *b0, const void *b1, int64_t k,
                                     float acc[kPanelRows][2 * kPanel],
                                     int fresh, PanelElement element) {
  for (int i = 0; i < mr; ++i)
    for (int c = 0; c < 2 * kPanel; ++c) {
      const void *b = c < kPanel ? b0 : b1;
      int64_t col = c % kPanel;
      float sum = fresh ? 0.0f : acc[i][c];
      for (int64_t p = 0; p < k; ++p)
        sum +=
            a[i][p] * (element == kPanelBf16
                           ? bf16ToF32(((const uint16_t *)b)[p * kPanel + col])
                           : ((const float *)b)[p * kPanel + col]);
      acc[i][c] = sum;
    }
}

static void tilePortable(int mr, const float *const a[kPanelRows],
                             const void *b0, const void *b1, int64_t k,
                             float acc[kPanelRows][2 * kPanel], int fresh,
                             Lines prefetch) {
  (void)prefetch;
  panelTilePortable(mr, a, b0, b1, k, acc, fresh, kPanelF32);
}

static void tilePortableBf16(int mr, const float *const a[kPanelRows],
                                 const void *b0, const void *b1, int64_t k,
                                 float acc[kPanelRows][2 * kPanel], int fresh,
                                 Lines prefetch) {
  (void)prefetch;
  panelTilePortable(mr, a, b0, b1, k, acc, fresh, kPanelBf16);
}

const MoETiles moeTilesPortable = {
    .tile = {tilePortable, tilePortableBf16}};
