/*===- Tiles.h - the register tiles, inside the embedded runtime ----------===*
 *
 * What the per-ISA tile files (TilePortable.c, TileAvx2.c, TileAvx512.c),
 * the file that selects among them (Tiles.c) and the router's matmul
 * kernel (Ukernels.c) share. Not part of the ABI: generated
 * code calls the tiles through Tiles.c's entry points (Ukernels.h).
 *
 * The tile (MoETileFn): for i < mr (at most MOE_UKERNEL_TILE_ROWS) and
 * c < MOE_UKERNEL_PANEL,
 *   acc[i][c]         (+)= Σ_{p<k} a[i][p] · b0[p·PANEL + c]
 *   acc[i][PANEL + c] (+)= Σ_{p<k} a[i][p] · b1[p·PANEL + c]
 * from zero when `fresh`; b0/b1 hold f32, or bf16 widened exactly in
 * registers. Meanwhile it requests `prefetch` into L2, spread over its
 * steps of p. Every sum is formed in the order of p, whatever the ISA's
 * vector width, so that where a tile lies never changes its bits.
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_EMBEDDED_TILES_H
#define MOE_RUNTIME_EMBEDDED_TILES_H

#include "Ukernels.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define MOE_X86 1
#define MOE_AVX2 __attribute__((target("avx2,fma")))
#define MOE_AVX512 __attribute__((target("avx512f,avx512vl,fma")))
#endif

enum { kPanel = MOE_UKERNEL_PANEL, kPanelRows = MOE_UKERNEL_TILE_ROWS };

static inline int64_t minI64(int64_t a, int64_t b) { return a < b ? a : b; }


/* The element type of packed weights: f32, or bf16 (the upper half of an
 * f32: widening is a shift, and products and sums stay f32). */
typedef enum { kPanelF32 = 0, kPanelBf16 = 1 } PanelElement;

static inline float bf16ToF32(uint16_t half) {
  uint32_t bits = (uint32_t)half << 16;
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}


/* Consecutive cache lines for a packed tile to request into L2 while it
 * computes (its share of the next depth block). */
typedef struct {
  const char *start;
  int64_t lines;
} Lines;

/* A packed tile's prefetch: `perStep` lines at each of the first `steps`
 * steps of p, so that a share larger than the depth block (few row tiles:
 * decode) is still requested in full. */
typedef struct {
  const char *start;
  int64_t lines, perStep, steps;
} PanelPrefetch;

static inline PanelPrefetch panelPrefetch(Lines share, int64_t k) {
  if (share.lines == 0 || k == 0)
    return (PanelPrefetch){NULL, 0, 0, 0};
  int64_t perStep = (share.lines + k - 1) / k;
  return (PanelPrefetch){share.start, share.lines, perStep,
                         (share.lines + perStep - 1) / perStep};
}

/* Runs `call` with `rows` the constant 1..kPanelRows that `mr` is: an
 * inlined packed tile then keeps its accumulators in registers. */
#define WITH_CONSTANT_ROWS(mr, rows, call)                                     \
  switch (mr) {                                                                \
  case 6: {                                                                    \
    enum { rows = 6 };                                                         \
    call;                                                                      \
    break;                                                                     \
  }                                                                            \
  case 5: {                                                                    \
    enum { rows = 5 };                                                         \
    call;                                                                      \
    break;                                                                     \
  }                                                                            \
  case 4: {                                                                    \
    enum { rows = 4 };                                                         \
    call;                                                                      \
    break;                                                                     \
  }                                                                            \
  case 3: {                                                                    \
    enum { rows = 3 };                                                         \
    call;                                                                      \
    break;                                                                     \
  }                                                                            \
  case 2: {                                                                    \
    enum { rows = 2 };                                                         \
    call;                                                                      \
    break;                                                                     \
  }                                                                            \
  default: {                                                                   \
    enum { rows = 1 };                                                         \
    call;                                                                      \
  }                                                                            \
  }

#ifdef MOE_X86
static inline void prefetchLines(PanelPrefetch pf, int64_t step) {
  int64_t first = step * pf.perStep;
  int64_t last = minI64(first + pf.perStep, pf.lines);
  for (int64_t l = first; l < last; ++l)
    _mm_prefetch(pf.start + 64 * l, _MM_HINT_T1);
}

/* `step` for each p < k (a packed tile's steps over one depth block),
 * requesting the lines of `pf` (PanelPrefetch) on the way: one every
 * second step while there are at most half as many lines as steps (fewer
 * requests in flight at a time: +6% on one core at 48 rows per expert,
 * weights from memory), else one per step, else several (decode). Separate
 * loops, so that none tests more than its bound. */
#define PANEL_STEPS_PREFETCHING(pf, k, p, step)                                \
  do {                                                                         \
    p = 0;                                                                     \
    if (pf.perStep == 1 && 2 * pf.steps <= k)                                  \
      for (; p < 2 * pf.steps; ++p) {                                          \
        _mm_prefetch(pf.start + 32 * p, _MM_HINT_T1);                          \
        step;                                                                  \
        ++p;                                                                   \
        step;                                                                  \
      }                                                                        \
    else if (pf.perStep == 1)                                                  \
      for (; p < pf.steps; ++p) {                                              \
        _mm_prefetch(pf.start + 64 * p, _MM_HINT_T1);                          \
        step;                                                                  \
      }                                                                        \
    for (; p < pf.steps; ++p) {                                                \
      prefetchLines(pf, p);                                                    \
      step;                                                                    \
    }                                                                          \
    for (; p < k; ++p)                                                         \
      step;                                                                    \
  } while (0)
#endif

/* The tile, one per PanelElement (f32, bf16 panels). */
typedef void (*MoETileFn)(int mr, const float *const a[kPanelRows],
                          const void *b0, const void *b1, int64_t k,
                          float acc[kPanelRows][2 * kPanel], int fresh,
                          Lines prefetch);

/* What an instruction set supplies: the tile on each element type. */
typedef struct {
  MoETileFn tile[2];
} MoETiles;

/* Internal to the embedded runtime: hidden, so that a compiled library
 * exports only the C ABI and the kernels generated code calls. */
#define MOE_INTERNAL __attribute__((visibility("hidden")))

MOE_INTERNAL extern const MoETiles moeTilesPortable;
#ifdef MOE_X86
MOE_INTERNAL extern const MoETiles moeTilesAvx2, moeTilesAvx512;
#endif

/* The instruction set the kernels run (see moe_ukernel_use_isa) and its
 * tiles; picked at the first call. */
MOE_INTERNAL MoEUkernelIsa moeSelectedIsa(void);
MOE_INTERNAL const MoETiles *moeSelectedTiles(void);

#endif /* MOE_RUNTIME_EMBEDDED_TILES_H */
