/*===- Ukernels.c - the f32 micro-kernels generated code calls ------------===*
 *
 * See Ukernels.h for what each entry computes. One register tile serves
 * all three: 3 rows × 8 columns of dot products along K. Both operands are
 * contiguous along K, so nothing is packed. Each instruction set supplies
 * the tile (and two small epilogues); the loops around it are shared:
 *  - AVX-512: 24 accumulators, three A rows and eight B rows loaded once
 *    per 16 values of k; a row's eight accumulators are reduced together
 *    (a transposing add tree, 24 instructions instead of 8 reductions);
 *  - AVX2 + FMA: the same tile as two 3×4 halves of 8-float vectors (12
 *    accumulators, 16 registers in all);
 *  - portable C: scalar loops, for other CPUs.
 * Each kernel applies its own epilogue to a tile's sums:
 *  - matmul_nt adds them to C (it is down_scatter_add without tokens or
 *    weights);
 *  - gather_gate_up reads its A rows through the token list, takes four
 *    gate and the four matching up columns as the eight, and writes
 *    act(gate, up);
 *  - down_scatter_add scales them by the row's routing weight and adds
 *    them into the row's token in the output (the weighted combine).
 * The loops keep the eight B rows in L1 while the row tiles of A pass, and
 * the linear kernels block K so that they fit. Meanwhile the row tiles
 * prefetch the next B tile into L2, a share each: weights come from L3 or
 * memory, and the first pass over a tile would otherwise wait. Every output
 * element's sum is formed in the same order wherever its tile lies, so
 * results do not depend on how the caller splits the columns among threads.
 *
 * The instruction set is picked once, at the first call: the best the CPU
 * has, or the one MOE_UKERNEL_ISA names (see moe_ukernel_use_isa).
 *===----------------------------------------------------------------------===*/

#include "Ukernels.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define MOE_X86 1
#endif

enum { kTileRows = 3, kTileCols = 8 };

/* Depth block of the linear kernels: eight B rows of 1024 floats (32 KiB)
 * stay in a 48 KiB L1 beside three A rows. */
static const int64_t kDepthBlock = 1024;

static int64_t minI64(int64_t a, int64_t b) { return a < b ? a : b; }

static float activate(int32_t activation, float gate, float up) {
  switch (activation) {
  case MOE_UKERNEL_SWIGLU:
    return gate / (1.0f + expf(-gate)) * up;
  case MOE_UKERNEL_GEGLU:
    return 0.5f * gate * (1.0f + erff(gate * 0.70710678118654752f)) * up;
  case MOE_UKERNEL_GELU:
    return 0.5f * up * (1.0f + erff(up * 0.70710678118654752f));
  default:
    return up > 0.0f ? up : 0.0f;
  }
}

static int isGated(int32_t activation) {
  return activation == MOE_UKERNEL_SWIGLU || activation == MOE_UKERNEL_GEGLU;
}

/* Row `r` of a gathered operand: `tok[r]` with tokens, else `r`. */
static int64_t rowOf(const MoEMemRef1DI32 *tok, int32_t flags, int64_t r) {
  if (!(flags & MOE_UKERNEL_HAS_TOKENS))
    return r;
  return tok->aligned[tok->offset + r * tok->strides[0]];
}

static float weightOf(const MoEMemRef1D *w, int32_t flags, int64_t r) {
  if (!(flags & MOE_UKERNEL_HAS_WEIGHTS))
    return 1.0f;
  return w->aligned[w->offset + r * w->strides[0]];
}

static float *at(const MoEMemRef2D *m, int64_t row, int64_t col) {
  return m->aligned + m->offset + row * m->strides[0] + col;
}

/* Part of a B row to request into L2 while a tile computes: `depth` floats
 * from `row`, each line as the tile's loop over k reaches its offset (see
 * prefetchSpan). */
typedef struct {
  const float *row;
  int64_t depth;
} Span;

/* What an instruction set supplies: the register tile and the two
 * epilogues that run once per tile row. The loops around them are shared
 * (gatherGateUp, downScatterAdd). */
typedef struct {
  /* sums[i][j] = Σ_p a[i][p]·b[j][p] over p < k, for i < mr and the eight
   * columns; meanwhile it prefetches `prefetch`. */
  void (*dot)(int mr, const float *const a[kTileRows],
              const float *const b[kTileCols], int64_t k,
              float sums[kTileRows][kTileCols], Span prefetch);
  /* out[j] = silu(s·g_j)·s·u_j for j < count, from g = sums[0..3] and
   * u = sums[4..7]. */
  void (*swiglu)(const float sums[kTileCols], float s, float *out, int count);
  /* out[j] += w·sums[j] for j < count. */
  void (*addScaled)(const float sums[kTileCols], float w, float *out,
                    int count);
} Isa;

/* ---------------------------------------------------------------- portable */

static void dotPortable(int mr, const float *const a[kTileRows],
                        const float *const b[kTileCols], int64_t k,
                        float sums[kTileRows][kTileCols], Span prefetch) {
  (void)prefetch;
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < kTileCols; ++j) {
      float sum = 0.0f;
      for (int64_t p = 0; p < k; ++p)
        sum += a[i][p] * b[j][p];
      sums[i][j] = sum;
    }
}

static void swigluPortable(const float sums[kTileCols], float s, float *out,
                           int count) {
  for (int j = 0; j < count; ++j)
    out[j] =
        activate(MOE_UKERNEL_SWIGLU, s * sums[j], s * sums[kTileCols / 2 + j]);
}

static void addScaledPortable(const float sums[kTileCols], float w, float *out,
                              int count) {
  for (int j = 0; j < count; ++j)
    out[j] += w * sums[j];
}

static const Isa kPortable = {dotPortable, swigluPortable, addScaledPortable};

#ifdef MOE_X86
#define MOE_AVX2 __attribute__((target("avx2,fma")))
#define MOE_AVX512 __attribute__((target("avx512f,avx512vl,fma")))

/* ---------------------------------------------- epilogues, AVX2 and AVX-512 */

/* A mask of the first `count` (0..8) of eight lanes. */
MOE_AVX2 static inline __m256i firstLanes(int count) {
  static const int32_t kOnesThenZeros[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                             0,  0,  0,  0,  0,  0,  0,  0};
  return _mm256_loadu_si256((const __m256i *)(kOnesThenZeros + 8 - count));
}

/* e^x for four floats (Cephes' expf: x = n·ln2 + r, |r| <= ln2/2, a
 * degree-5 polynomial in r, then 2^n through the exponent bits), within
 * 2 ulp; inputs are clamped to where e^x is a normal float. The SwiGLU
 * epilogue runs once per output, so libm's scalar expf would cost a fifth
 * of the kernel's time. */
MOE_AVX2 static inline __m128 exp4(__m128 x) {
  x = _mm_min_ps(_mm_max_ps(x, _mm_set1_ps(-87.3f)), _mm_set1_ps(88.7f));
  __m128 n = _mm_round_ps(_mm_mul_ps(x, _mm_set1_ps(1.44269504088896341f)),
                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m128 r = _mm_fnmadd_ps(n, _mm_set1_ps(0.693359375f), x);
  r = _mm_fnmadd_ps(n, _mm_set1_ps(-2.12194440e-4f), r);
  __m128 p = _mm_set1_ps(1.9875691500e-4f);
  p = _mm_fmadd_ps(p, r, _mm_set1_ps(1.3981999507e-3f));
  p = _mm_fmadd_ps(p, r, _mm_set1_ps(8.3334519073e-3f));
  p = _mm_fmadd_ps(p, r, _mm_set1_ps(4.1665795894e-2f));
  p = _mm_fmadd_ps(p, r, _mm_set1_ps(1.6666665459e-1f));
  p = _mm_fmadd_ps(p, r, _mm_set1_ps(5.0000001201e-1f));
  p = _mm_fmadd_ps(p, _mm_mul_ps(r, r), _mm_add_ps(r, _mm_set1_ps(1.0f)));
  __m128i bits = _mm_slli_epi32(
      _mm_add_epi32(_mm_cvtps_epi32(n), _mm_set1_epi32(127)), 23);
  return _mm_mul_ps(p, _mm_castsi128_ps(bits));
}

/* silu(g)·u = g / (1 + e^-g) · u on the four gate/up pairs. */
MOE_AVX2 static void swigluSimd(const float sums[kTileCols], float s,
                                float *out, int count) {
  __m128 g = _mm_mul_ps(_mm_loadu_ps(sums), _mm_set1_ps(s));
  __m128 u = _mm_mul_ps(_mm_loadu_ps(sums + 4), _mm_set1_ps(s));
  __m128 silu = _mm_div_ps(
      g, _mm_add_ps(_mm_set1_ps(1.0f), exp4(_mm_sub_ps(_mm_setzero_ps(), g))));
  _mm_maskstore_ps(out, _mm256_castsi256_si128(firstLanes(count)),
                   _mm_mul_ps(silu, u));
}

MOE_AVX2 static void addScaledSimd(const float sums[kTileCols], float w,
                                   float *out, int count) {
  __m256i lanes = firstLanes(count);
  __m256 sum = _mm256_fmadd_ps(_mm256_set1_ps(w), _mm256_loadu_ps(sums),
                               _mm256_maskload_ps(out, lanes));
  _mm256_maskstore_ps(out, lanes, sum);
}

/* -------------------------------------------------------------------- AVX2 */

/* Four vectors to one vector of their four horizontal sums. */
MOE_AVX2 static inline __m128 reduceFour(const __m256 v[4]) {
  __m256 sums =
      _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
  return _mm_add_ps(_mm256_castps256_ps128(sums),
                    _mm256_extractf128_ps(sums, 1));
}

/* One step of 8 values of k on half of the tile, four columns. */
MOE_AVX2 static inline __attribute__((always_inline)) void
stepAvx2(int mr, const float *const a[kTileRows], const float *const b[4],
         int64_t p, __m256 acc[kTileRows][4]) {
  __m256 av[kTileRows];
  for (int i = 0; i < mr; ++i)
    av[i] = _mm256_loadu_ps(a[i] + p);
  for (int j = 0; j < 4; ++j) {
    __m256 bv = _mm256_loadu_ps(b[j] + p);
    __asm__("" : "+x"(bv)); // as in stepAvx512
    for (int i = 0; i < mr; ++i)
      acc[i][j] = _mm256_fmadd_ps(av[i], bv, acc[i][j]);
  }
}

/* Half of the tile, four columns: 12 accumulators, three A vectors and one
 * B vector fill the 16 registers. */
MOE_AVX2 static inline __attribute__((always_inline)) void
dotHalfAvx2(int mr, const float *const a[kTileRows], const float *const b[4],
            int64_t k, __m128 sums[kTileRows], Span prefetch) {
  __m256 acc[kTileRows][4];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < 4; ++j)
      acc[i][j] = _mm256_setzero_ps();
  int64_t full = k & ~(int64_t)7, p = 0;
  // Two loops, so that neither tests whether to prefetch.
  for (int64_t end = minI64(prefetch.depth, full); p < end; p += 8) {
    _mm_prefetch((const char *)(prefetch.row + p), _MM_HINT_T1);
    stepAvx2(mr, a, b, p, acc);
  }
  for (; p < full; p += 8)
    stepAvx2(mr, a, b, p, acc);
  if (full < k) {
    __m256i tail = firstLanes((int)(k - full));
    __m256 av[kTileRows];
    for (int i = 0; i < mr; ++i)
      av[i] = _mm256_maskload_ps(a[i] + full, tail);
    for (int j = 0; j < 4; ++j) {
      __m256 bv = _mm256_maskload_ps(b[j] + full, tail);
      for (int i = 0; i < mr; ++i)
        acc[i][j] = _mm256_fmadd_ps(av[i], bv, acc[i][j]);
    }
  }
  for (int i = 0; i < mr; ++i)
    sums[i] = reduceFour(acc[i]);
}

/* The 3×8 tile as two halves, MR constant in each branch. The first half
 * prefetches. */
MOE_AVX2 static void dotAvx2(int mr, const float *const a[kTileRows],
                             const float *const b[kTileCols], int64_t k,
                             float sums[kTileRows][kTileCols], Span prefetch) {
  for (int half = 0; half < 2; ++half) {
    const float *const *bh = b + 4 * half;
    Span pf = half == 0 ? prefetch : (Span){NULL, 0};
    __m128 part[kTileRows];
    if (mr == 3)
      dotHalfAvx2(3, a, bh, k, part, pf);
    else if (mr == 2)
      dotHalfAvx2(2, a, bh, k, part, pf);
    else
      dotHalfAvx2(1, a, bh, k, part, pf);
    for (int i = 0; i < mr; ++i)
      _mm_storeu_ps(sums[i] + 4 * half, part[i]);
  }
}

static const Isa kAvx2 = {dotAvx2, swigluSimd, addScaledSimd};

/* ----------------------------------------------------------------- AVX-512 */

/* Eight vectors to one vector of their eight horizontal sums, in a fixed
 * order: pairs interleaved, then quadruples, then the 128-bit lanes. */
MOE_AVX512 static inline __m256 reduceEight(const __m512 v[8]) {
  __m512 pair[4];
  for (int i = 0; i < 4; ++i)
    pair[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                            _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  __m512 quad[2];
  for (int i = 0; i < 2; ++i)
    quad[i] = _mm512_add_ps(_mm512_shuffle_ps(pair[2 * i], pair[2 * i + 1],
                                              _MM_SHUFFLE(1, 0, 1, 0)),
                            _mm512_shuffle_ps(pair[2 * i], pair[2 * i + 1],
                                              _MM_SHUFFLE(3, 2, 3, 2)));
  __m512 lanes = _mm512_add_ps(
      _mm512_shuffle_f32x4(quad[0], quad[1], _MM_SHUFFLE(2, 0, 2, 0)),
      _mm512_shuffle_f32x4(quad[0], quad[1], _MM_SHUFFLE(3, 1, 3, 1)));
  __m512 halves = _mm512_add_ps(
      _mm512_shuffle_f32x4(lanes, lanes, _MM_SHUFFLE(2, 0, 2, 0)),
      _mm512_shuffle_f32x4(lanes, lanes, _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_castps512_ps256(halves);
}

/* One step of 16 values of k on the tile. */
MOE_AVX512 static inline __attribute__((always_inline)) void
stepAvx512(int mr, const float *const a[kTileRows],
           const float *const b[kTileCols], int64_t p,
           __m512 acc[kTileRows][kTileCols]) {
  __m512 av[kTileRows];
  for (int i = 0; i < mr; ++i)
    av[i] = _mm512_loadu_ps(a[i] + p);
  for (int j = 0; j < kTileCols; ++j) {
    __m512 bv = _mm512_loadu_ps(b[j] + p);
    // Keep bv in a register: folded into each FMA it would be loaded MR
    // times, and the loads, not the FMAs, would bound the loop.
    __asm__("" : "+v"(bv));
    for (int i = 0; i < mr; ++i)
      acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
  }
}

/* The 3×8 tile (see Isa::dot) with a constant MR when inlined, so the
 * accumulators stay in registers. */
MOE_AVX512 static inline __attribute__((always_inline)) void
dotTileAvx512(int mr, const float *const a[kTileRows],
              const float *const b[kTileCols], int64_t k,
              __m256 sums[kTileRows], Span prefetch) {
  __m512 acc[kTileRows][kTileCols];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < kTileCols; ++j)
      acc[i][j] = _mm512_setzero_ps();
  int64_t full = k & ~(int64_t)15, p = 0;
  // Two loops, so that neither tests whether to prefetch.
  for (int64_t end = minI64(prefetch.depth, full); p < end; p += 16) {
    _mm_prefetch((const char *)(prefetch.row + p), _MM_HINT_T1);
    stepAvx512(mr, a, b, p, acc);
  }
  for (; p < full; p += 16)
    stepAvx512(mr, a, b, p, acc);
  if (full < k) {
    __mmask16 tail = (__mmask16)((1u << (k - full)) - 1u);
    __m512 av[kTileRows];
    for (int i = 0; i < mr; ++i)
      av[i] = _mm512_maskz_loadu_ps(tail, a[i] + full);
    for (int j = 0; j < kTileCols; ++j) {
      __m512 bv = _mm512_maskz_loadu_ps(tail, b[j] + full);
      for (int i = 0; i < mr; ++i)
        acc[i][j] = _mm512_fmadd_ps(av[i], bv, acc[i][j]);
    }
  }
  for (int i = 0; i < mr; ++i)
    sums[i] = reduceEight(acc[i]);
}

/* dotTileAvx512 with MR constant in each branch. */
MOE_AVX512 static void dotAvx512(int mr, const float *const a[kTileRows],
                                 const float *const b[kTileCols], int64_t k,
                                 float sums[kTileRows][kTileCols],
                                 Span prefetch) {
  __m256 part[kTileRows];
  if (mr == 3)
    dotTileAvx512(3, a, b, k, part, prefetch);
  else if (mr == 2)
    dotTileAvx512(2, a, b, k, part, prefetch);
  else
    dotTileAvx512(1, a, b, k, part, prefetch);
  for (int i = 0; i < mr; ++i)
    _mm256_storeu_ps(sums[i], part[i]);
}

static const Isa kAvx512 = {dotAvx512, swigluSimd, addScaledSimd};
#endif

/* The share of the next B tile (rows `next`, `depth` floats each) that row
 * tile `rowTile` of `rowTiles` prefetches while it computes. The rows are
 * dealt out evenly, whole cache lines each: a B tile arriving from L3 or
 * memory does not stall the first row tile that uses it, and the requests
 * are spread over the tile's time rather than bunched at its start
 * (measured on one core: +14% at 48 rows per expert, +5% at 128). Below
 * eight row tiles, the rows past the last tile are left to the hardware. */
static Span prefetchSpan(const float *const next[kTileCols], int64_t depth,
                         int64_t rowTile, int64_t rowTiles) {
  Span none = {NULL, 0};
  if (!next)
    return none;
  if (rowTiles <= kTileCols)
    return (Span){next[rowTile], depth};
  // Row j goes to the row tiles r with r·8 / rowTiles == j, in segments.
  int64_t j = rowTile * kTileCols / rowTiles;
  int64_t first = (j * rowTiles + kTileCols - 1) / kTileCols;
  int64_t sharers = ((j + 1) * rowTiles + kTileCols - 1) / kTileCols - first;
  int64_t lines = (depth + 15) / 16;
  int64_t segment = (lines + sharers - 1) / sharers * 16;
  int64_t start = (rowTile - first) * segment;
  if (start >= depth)
    return none;
  return (Span){next[j] + start, minI64(segment, depth - start)};
}

/* Eight B row pointers from column `j0` of `m` (of `n` columns), depth
 * `p0`; past the last column the last row repeats (computed, not stored). */
static void columnRows(const MoEMemRef2D *m, int64_t j0, int64_t n, int64_t p0,
                       const float *rows[kTileCols], int count, int firstSlot) {
  for (int j = 0; j < count; ++j)
    rows[firstSlot + j] = at(m, minI64(j0 + j, n - 1), p0);
}

/* The B rows of the gate/up tile at column `j0`: four gate and the same
 * four up columns when gated, else eight up columns. */
static void tileRows(const MoEMemRef2D *gate, const MoEMemRef2D *up, int gated,
                     int64_t j0, int64_t n, const float *b[kTileCols]) {
  if (gated) {
    columnRows(gate, j0, n, 0, b, kTileCols / 2, 0);
    columnRows(up, j0, n, 0, b, kTileCols / 2, kTileCols / 2);
  } else {
    columnRows(up, j0, n, 0, b, kTileCols, 0);
  }
}

/* ------------------------------------------------------------ shared loops */

static void gatherGateUp(const Isa *isa, const MoEMemRef2D *x,
                         const MoEMemRef1DI32 *tok, const MoEMemRef1D *scale,
                         const MoEMemRef2D *gate, const MoEMemRef2D *up,
                         const MoEMemRef2D *out, int32_t activation,
                         int32_t flags) {
  int64_t rows = out->sizes[0], n = up->sizes[0], k = up->sizes[1];
  int gated = isGated(activation);
  // Gated: four gate columns and the same four up columns per tile.
  int step = gated ? kTileCols / 2 : kTileCols;
  for (int64_t j0 = 0; j0 < n; j0 += step) {
    int nr = (int)minI64(step, n - j0);
    const float *b[kTileCols], *next[kTileCols];
    tileRows(gate, up, gated, j0, n, b);
    int hasNext = j0 + step < n;
    int64_t rowTiles = (rows + kTileRows - 1) / kTileRows;
    if (hasNext)
      tileRows(gate, up, gated, j0 + step, n, next);
    for (int64_t i0 = 0; i0 < rows; i0 += kTileRows) {
      int mr = (int)minI64(kTileRows, rows - i0);
      const float *a[kTileRows];
      for (int i = 0; i < mr; ++i)
        a[i] = at(x, rowOf(tok, flags, i0 + i), 0);
      float sums[kTileRows][kTileCols];
      isa->dot(
          mr, a, b, k, sums,
          prefetchSpan(hasNext ? next : NULL, k, i0 / kTileRows, rowTiles));
      for (int i = 0; i < mr; ++i) {
        float s = weightOf(scale, flags, i0 + i);
        float *o = at(out, i0 + i, j0);
        if (activation == MOE_UKERNEL_SWIGLU) {
          isa->swiglu(sums[i], s, o, nr);
          continue;
        }
        for (int j = 0; j < nr; ++j)
          o[j] = activate(activation, gated ? s * sums[i][j] : 0.0f,
                          s * sums[i][gated ? step + j : j]);
      }
    }
  }
}

static void downScatterAdd(const Isa *isa, const MoEMemRef2D *h,
                           const MoEMemRef2D *down, const MoEMemRef1DI32 *tok,
                           const MoEMemRef1D *weight, const MoEMemRef2D *out,
                           int32_t flags) {
  int64_t rows = h->sizes[0], k = h->sizes[1], n = down->sizes[0];
  for (int64_t p0 = 0; p0 < k; p0 += kDepthBlock) {
    int64_t kc = minI64(kDepthBlock, k - p0);
    for (int64_t j0 = 0; j0 < n; j0 += kTileCols) {
      int nr = (int)minI64(kTileCols, n - j0);
      const float *b[kTileCols], *next[kTileCols];
      columnRows(down, j0, n, p0, b, kTileCols, 0);
      // The next tile: the next columns, or the next depth block's first.
      int64_t nj = j0 + kTileCols < n ? j0 + kTileCols : 0;
      int64_t np = j0 + kTileCols < n ? p0 : p0 + kDepthBlock;
      if (np < k)
        columnRows(down, nj, n, np, next, kTileCols, 0);
      int64_t rowTiles = (rows + kTileRows - 1) / kTileRows;
      for (int64_t i0 = 0; i0 < rows; i0 += kTileRows) {
        int mr = (int)minI64(kTileRows, rows - i0);
        const float *a[kTileRows];
        for (int i = 0; i < mr; ++i)
          a[i] = at(h, i0 + i, p0);
        float sums[kTileRows][kTileCols];
        isa->dot(mr, a, b, kc, sums,
                 prefetchSpan(np < k ? next : NULL, minI64(kDepthBlock, k - np),
                              i0 / kTileRows, rowTiles));
        for (int i = 0; i < mr; ++i)
          isa->addScaled(sums[i], weightOf(weight, flags, i0 + i),
                         at(out, rowOf(tok, flags, i0 + i), j0), nr);
      }
    }
  }
}

/* ------------------------------------------------------ instruction set */

static const char *const kIsaNames[] = {"portable", "avx2", "avx512"};

static int cpuRuns(MoEUkernelIsa isa) {
  switch (isa) {
  case MOE_UKERNEL_ISA_PORTABLE:
    return 1;
#ifdef MOE_X86
  case MOE_UKERNEL_ISA_AVX2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case MOE_UKERNEL_ISA_AVX512:
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
#endif
  default:
    return 0;
  }
}

static const Isa *isaTable(MoEUkernelIsa isa) {
#ifdef MOE_X86
  if (isa == MOE_UKERNEL_ISA_AVX512)
    return &kAvx512;
  if (isa == MOE_UKERNEL_ISA_AVX2)
    return &kAvx2;
#endif
  return &kPortable;
}

static const Isa *selectedIsa = NULL;

int moe_ukernel_use_isa(MoEUkernelIsa isa) {
  if (!cpuRuns(isa))
    return 0;
  __atomic_store_n(&selectedIsa, isaTable(isa), __ATOMIC_RELEASE);
  return 1;
}

/* The best the CPU runs, or the one MOE_UKERNEL_ISA names. */
static const Isa *currentIsa(void) {
  const Isa *isa = __atomic_load_n(&selectedIsa, __ATOMIC_ACQUIRE);
  if (isa)
    return isa;
  MoEUkernelIsa pick = cpuRuns(MOE_UKERNEL_ISA_AVX512) ? MOE_UKERNEL_ISA_AVX512
                       : cpuRuns(MOE_UKERNEL_ISA_AVX2)
                           ? MOE_UKERNEL_ISA_AVX2
                           : MOE_UKERNEL_ISA_PORTABLE;
  const char *asked = getenv("MOE_UKERNEL_ISA");
  if (asked && *asked) {
    int found = 0;
    for (int i = 0; i < (int)(sizeof kIsaNames / sizeof *kIsaNames); ++i)
      if (!strcmp(asked, kIsaNames[i]) && cpuRuns((MoEUkernelIsa)i)) {
        pick = (MoEUkernelIsa)i;
        found = 1;
      }
    if (!found)
      fprintf(stderr,
              "moe ukernels: MOE_UKERNEL_ISA=%s is not one this CPU runs "
              "(portable, avx2, avx512); using %s\n",
              asked, kIsaNames[pick]);
  }
  moe_ukernel_use_isa(pick);
  return isaTable(pick);
}

/* ------------------------------------------------------------------- entry */

/* C += A·Bᵀ is down_scatter_add without tokens or weights: row r adds into
 * row r with weight 1, which the kernel's FMA adds exactly. */
void _mlir_ciface_moe_ukernel_matmul_nt_f32(MoEMemRef2D *A, MoEMemRef2D *B,
                                            MoEMemRef2D *C) {
  _mlir_ciface_moe_ukernel_down_scatter_add_f32(A, B, NULL, NULL, C, 0);
}

void _mlir_ciface_moe_ukernel_gather_gate_up_f32(
    MoEMemRef2D *x, MoEMemRef1DI32 *tok, MoEMemRef1D *scale, MoEMemRef2D *gate,
    MoEMemRef2D *up, MoEMemRef2D *out, int32_t activation, int32_t flags) {
  if (out->sizes[0] == 0 || up->sizes[0] == 0)
    return;
  gatherGateUp(currentIsa(), x, tok, scale, gate, up, out, activation, flags);
}

void _mlir_ciface_moe_ukernel_down_scatter_add_f32(
    MoEMemRef2D *h, MoEMemRef2D *down, MoEMemRef1DI32 *tok, MoEMemRef1D *weight,
    MoEMemRef2D *out, int32_t flags) {
  if (h->sizes[0] == 0 || h->sizes[1] == 0 || down->sizes[0] == 0)
    return;
  downScatterAdd(currentIsa(), h, down, tok, weight, out, flags);
}
