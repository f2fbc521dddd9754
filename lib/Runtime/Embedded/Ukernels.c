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
 * The packed kernels (the `kernel` epilogue mode of moe-cpu-lower-to-ukernels)
 * run the register tiles of Tile*.c in the loops and epilogues below; in
 * the `generated` mode the compiler emits those loops and epilogues itself
 * and calls the tiles through Tiles.c.
 *
 * The instruction set is picked once, at the first call: the best the CPU
 * has, or the one MOE_UKERNEL_ISA names (Tiles.c, moe_ukernel_use_isa).
 *===----------------------------------------------------------------------===*/

#include "Tiles.h"

#include <math.h>
#include <stddef.h>


enum { kTileRows = 3, kTileCols = 8 };


/* Depth block of the linear kernels: eight B rows of 1024 floats (32 KiB)
 * stay in a 48 KiB L1 beside three A rows. */
static const int64_t kDepthBlock = 1024;


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
  /* out[j] = silu(s·g[j])·s·u[j] for j < count. */
  void (*swiglu)(const float *g, const float *u, float s, float *out,
                 int64_t count);
  /* out[j] += w·sums[j] for j < count. */
  void (*addScaled)(const float *sums, float w, float *out, int64_t count);
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

static void swigluPortable(const float *g, const float *u, float s, float *out,
                           int64_t count) {
  for (int64_t j = 0; j < count; ++j)
    out[j] = activate(MOE_UKERNEL_SWIGLU, s * g[j], s * u[j]);
}

static void addScaledPortable(const float *sums, float w, float *out,
                              int64_t count) {
  for (int64_t j = 0; j < count; ++j)
    out[j] += w * sums[j];
}


static const Isa kPortable = {
    .dot = dotPortable,
    .swiglu = swigluPortable,
    .addScaled = addScaledPortable};

#ifdef MOE_X86

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

/* silu(g)·u = g / (1 + e^-g) · u, four at a time. */
MOE_AVX2 static void swigluSimd(const float *gate, const float *up, float s,
                                float *out, int64_t count) {
  for (int64_t j = 0; j < count; j += 4) {
    __m128i lanes =
        _mm256_castsi256_si128(firstLanes((int)minI64(4, count - j)));
    __m128 g = _mm_mul_ps(_mm_maskload_ps(gate + j, lanes), _mm_set1_ps(s));
    __m128 u = _mm_mul_ps(_mm_maskload_ps(up + j, lanes), _mm_set1_ps(s));
    __m128 silu =
        _mm_div_ps(g, _mm_add_ps(_mm_set1_ps(1.0f),
                                 exp4(_mm_sub_ps(_mm_setzero_ps(), g))));
    _mm_maskstore_ps(out + j, lanes, _mm_mul_ps(silu, u));
  }
}

MOE_AVX2 static void addScaledSimd(const float *sums, float w, float *out,
                                   int64_t count) {
  for (int64_t j = 0; j < count; j += 8) {
    __m256i lanes = firstLanes((int)minI64(8, count - j));
    __m256 sum =
        _mm256_fmadd_ps(_mm256_set1_ps(w), _mm256_maskload_ps(sums + j, lanes),
                        _mm256_maskload_ps(out + j, lanes));
    _mm256_maskstore_ps(out + j, lanes, sum);
  }
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
static const Isa kAvx2 = {.dot = dotAvx2,
                          .swiglu = swigluSimd,
                          .addScaled = addScaledSimd};

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

/* exp4's e^x for sixteen floats. */
MOE_AVX512 static inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)),
                    _mm512_set1_ps(88.7f));
  __m512 n = _mm512_roundscale_ps(
      _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r),
                      _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  __m512i bits = _mm512_slli_epi32(
      _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

/* swigluSimd sixteen at a time. */
MOE_AVX512 static void swigluAvx512(const float *gate, const float *up, float s,
                                    float *out, int64_t count) {
  for (int64_t j = 0; j < count; j += 16) {
    __mmask16 lanes = (__mmask16)((1u << minI64(16, count - j)) - 1u);
    __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, gate + j),
                             _mm512_set1_ps(s));
    __m512 u =
        _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, up + j), _mm512_set1_ps(s));
    __m512 silu = _mm512_div_ps(
        g, _mm512_add_ps(_mm512_set1_ps(1.0f),
                         exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    _mm512_mask_storeu_ps(out + j, lanes, _mm512_mul_ps(silu, u));
  }
}
MOE_AVX512 static void addScaledAvx512(const float *sums, float w, float *out,
                                       int64_t count) {
  for (int64_t j = 0; j < count; j += 16) {
    __mmask16 lanes = (__mmask16)((1u << minI64(16, count - j)) - 1u);
    __m512 sum = _mm512_fmadd_ps(_mm512_set1_ps(w),
                                 _mm512_maskz_loadu_ps(lanes, sums + j),
                                 _mm512_maskz_loadu_ps(lanes, out + j));
    _mm512_mask_storeu_ps(out + j, lanes, sum);
  }
}

static const Isa kAvx512 = {.dot = dotAvx512,
                            .swiglu = swigluAvx512,
                            .addScaled = addScaledAvx512};
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
          isa->swiglu(sums[i], sums[i] + kTileCols / 2, s, o, nr);
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

/* ------------------------------------------------------ packed weights */

/* A packed weight of either element type: panel q at depth p starts at
 * base + (q·stride + p·kPanel)·size bytes. */
typedef struct {
  const char *base;
  int64_t stride, count;
  PanelElement element;
} Panels;

static Panels f32Panels(const MoEMemRef3D *m) {
  return (Panels){(const char *)(m->aligned + m->offset), m->strides[0],
                  m->sizes[0], kPanelF32};
}

static Panels bf16Panels(const MoEMemRef3DBF16 *m) {
  return (Panels){(const char *)(m->aligned + m->offset), m->strides[0],
                  m->sizes[0], kPanelBf16};
}

static int64_t elementSize(PanelElement element) {
  return element == kPanelBf16 ? 2 : 4;
}

/* Panel q of a packed weight, from depth p. */
static const char *panelAt(const Panels *m, int64_t q, int64_t p) {
  return m->base + (q * m->stride + p * kPanel) * elementSize(m->element);
}

/* The two panels of pair `q`: the gate and up panel q when `second` is
 * given, else panels 2q and 2q+1 of `first` (the last alone repeats). */
static void pairPanels(const Panels *first, const Panels *second, int64_t q,
                       int64_t p, const char *b[2]) {
  if (second) {
    b[0] = panelAt(first, q, p);
    b[1] = panelAt(second, q, p);
    return;
  }
  b[0] = panelAt(first, 2 * q, p);
  b[1] = panelAt(first, minI64(2 * q + 1, first->count - 1), p);
}

/* What a packed kernel does with a finished tile row. */
typedef struct {
  const MoEMemRef1DI32 *tok; /* down: the row's token in `out` */
  const MoEMemRef1D *rowScale;
  const MoEMemRef2D *out;
  int32_t activation; /* gate/up: the activation; down: -1 */
  int32_t flags;
} Epilogue;

static void finishRow(const Isa *isa, const Epilogue *e, int64_t r,
                      const float acc[2 * kPanel], int64_t col, int64_t width) {
  float s = weightOf(e->rowScale, e->flags, r);
  if (e->activation < 0) {
    isa->addScaled(acc, s, at(e->out, rowOf(e->tok, e->flags, r), col), width);
    return;
  }
  float *o = at(e->out, r, col);
  if (!isGated(e->activation)) {
    for (int64_t j = 0; j < width; ++j)
      o[j] = activate(e->activation, 0.0f, s * acc[j]);
    return;
  }
  if (e->activation == MOE_UKERNEL_SWIGLU) {
    isa->swiglu(acc, acc + kPanel, s, o, width);
    return;
  }
  for (int64_t j = 0; j < width; ++j)
    o[j] = activate(e->activation, s * acc[j], s * acc[kPanel + j]);
}

/* Requests the output lines that finishRow will update for rows
 * [r0, r0 + mr), columns [col, col + width): issued as a tile starts its
 * last depth block, they arrive while it computes (scattered token rows
 * would otherwise miss in cache at the epilogue). */
static void prefetchOutputRows(const Epilogue *e, int64_t r0, int mr,
                               int64_t col, int64_t width) {
  for (int i = 0; i < mr; ++i) {
    int64_t row = e->activation < 0 ? rowOf(e->tok, e->flags, r0 + i) : r0 + i;
    const float *o = at(e->out, row, col);
    for (int64_t j = 0; j < width; j += 16)
      __builtin_prefetch(o + j, 1, 3);
  }
}

/* rows × n outputs from A rows (x[tok[r]] when `gather`, else x[r]) and
 * the panel pairs of b0/b1. Pairs outside, then blocks of rows, blocks of
 * depth and row tiles; while the tiles of a block pass, they prefetch the
 * next depth block (or the next pair's first) into L2, a share each. */
static void packedPanels(const Isa *isa, const MoEMemRef2D *x,
                         const MoEMemRef1DI32 *gatherTok, int64_t rows,
                         const Panels *b0, const Panels *b1, int64_t n,
                         const Epilogue *epilogue) {
  int64_t k = x->sizes[1], width = b1 ? kPanel : 2 * kPanel;
  int64_t lineValues = 64 / elementSize(b0->element);
  const MoETiles *isaTiles = moeSelectedTiles();
  int64_t pairs = (n + width - 1) / width;
  for (int64_t q = 0; q < pairs; ++q) {
    int64_t cols = minI64(width, n - q * width);
    for (int64_t r0 = 0; r0 < rows; r0 += MOE_UKERNEL_ROW_BLOCK) {
      int64_t blockRows = minI64(MOE_UKERNEL_ROW_BLOCK, rows - r0);
      int64_t tiles = (blockRows + kPanelRows - 1) / kPanelRows;
      float acc[MOE_UKERNEL_ROW_BLOCK / kPanelRows][kPanelRows][2 * kPanel];
      float widened[2][MOE_UKERNEL_TILE_DEPTH * kPanel];
      for (int64_t p0 = 0; p0 < k; p0 += MOE_UKERNEL_TILE_DEPTH) {
        int64_t kc = minI64(MOE_UKERNEL_TILE_DEPTH, k - p0);
        const char *b[2], *next[2] = {NULL, NULL};
        pairPanels(b0, b1, q, p0, b);
        int64_t nextDepth = 0;
        if (p0 + MOE_UKERNEL_TILE_DEPTH < k) {
          pairPanels(b0, b1, q, p0 + MOE_UKERNEL_TILE_DEPTH, next);
          nextDepth = minI64(MOE_UKERNEL_TILE_DEPTH, k - p0 - MOE_UKERNEL_TILE_DEPTH);
        } else if (q + 1 < pairs && r0 + MOE_UKERNEL_ROW_BLOCK >= rows) {
          pairPanels(b0, b1, q + 1, 0, next);
          nextDepth = minI64(MOE_UKERNEL_TILE_DEPTH, k);
        }
        // bf16 weights shared by several row tiles are widened once per
        // block, into an f32 block the tiles then read from L1; a lone
        // tile (decode) widens in registers, where the time goes to memory.
        const void *tileB[2] = {b[0], b[1]};
        PanelElement tileElement = b0->element;
        if (tileElement == kPanelBf16 && tiles > 1) {
          for (int j = 0; j < 2; ++j) {
            isaTiles->widenBf16((const uint16_t *)b[j], widened[j], kc * kPanel);
            tileB[j] = widened[j];
          }
          tileElement = kPanelF32;
        }
        // Lines of the next block, both panels, dealt out over the tiles.
        int64_t lines = nextDepth * kPanel / lineValues;
        for (int64_t t = 0; t < tiles; ++t) {
          int mr = (int)minI64(kPanelRows, blockRows - t * kPanelRows);
          const float *a[kPanelRows];
          for (int i = 0; i < mr; ++i)
            a[i] = at(x,
                      rowOf(gatherTok, gatherTok ? MOE_UKERNEL_HAS_TOKENS : 0,
                            r0 + t * kPanelRows + i),
                      p0);
          int64_t first = 2 * lines * t / tiles,
                  last = 2 * lines * (t + 1) / tiles;
          Lines prefetch = {NULL, 0};
          if (next[0] && first < lines)
            prefetch =
                (Lines){next[0] + 64 * first, minI64(last, lines) - first};
          else if (next[0])
            prefetch = (Lines){next[1] + 64 * (first - lines), last - first};
          if (p0 + kc >= k)
            prefetchOutputRows(epilogue, r0 + t * kPanelRows, mr, q * width,
                               cols);
          isaTiles->tile[tileElement](mr, a, tileB[0], tileB[1], kc, acc[t],
                                     p0 == 0, prefetch);
          if (p0 + kc < k)
            continue;
          for (int i = 0; i < mr; ++i)
            finishRow(isa, epilogue, r0 + t * kPanelRows + i, acc[t][i],
                      q * width, cols);
        }
      }
    }
  }
}

/* ------------------------------------------------------ instruction set */

static const Isa *isaTable(MoEUkernelIsa isa) {
#ifdef MOE_X86
  if (isa == MOE_UKERNEL_ISA_AVX512)
    return &kAvx512;
  if (isa == MOE_UKERNEL_ISA_AVX2)
    return &kAvx2;
#endif
  return &kPortable;
}

/* The selected instruction set's loops' helpers (Tiles.c selects). */
static const Isa *currentIsa(void) { return isaTable(moeSelectedIsa()); }

/* ------------------------------------------------------------------- entry */

/* C += A·Bᵀ is down_scatter_add without tokens or weights: row r adds into
 * row r with weight 1, which the kernel's FMA adds exactly. */
void MOE_UKERNEL_CIFACE(MOE_UKERNEL_MATMUL_NT_F32)(MoEMemRef2D *A,
                                                   MoEMemRef2D *B,
                                                   MoEMemRef2D *C) {
  MOE_UKERNEL_CIFACE(MOE_UKERNEL_DOWN_SCATTER_ADD_F32)(A, B, NULL, NULL, C, 0);
}

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_GATHER_GATE_UP_F32)(
    MoEMemRef2D *x, MoEMemRef1DI32 *tok, MoEMemRef1D *scale, MoEMemRef2D *gate,
    MoEMemRef2D *up, MoEMemRef2D *out, int32_t activation, int32_t flags) {
  if (out->sizes[0] == 0 || up->sizes[0] == 0)
    return;
  gatherGateUp(currentIsa(), x, tok, scale, gate, up, out, activation, flags);
}

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_DOWN_SCATTER_ADD_F32)(
    MoEMemRef2D *h, MoEMemRef2D *down, MoEMemRef1DI32 *tok, MoEMemRef1D *weight,
    MoEMemRef2D *out, int32_t flags) {
  if (h->sizes[0] == 0 || h->sizes[1] == 0 || down->sizes[0] == 0)
    return;
  downScatterAdd(currentIsa(), h, down, tok, weight, out, flags);
}

/* The packed kernels on either element type of panels. */
static void gatherGateUpPacked(MoEMemRef2D *x, MoEMemRef1DI32 *tok,
                               MoEMemRef1D *scale, const Panels *gate,
                               const Panels *up, MoEMemRef2D *out,
                               int32_t activation, int32_t flags) {
  if (out->sizes[0] == 0 || out->sizes[1] == 0)
    return;
  Epilogue epilogue = {NULL, scale, out, activation, flags};
  packedPanels(currentIsa(), x, (flags & MOE_UKERNEL_HAS_TOKENS) ? tok : NULL,
               out->sizes[0], isGated(activation) ? gate : up,
               isGated(activation) ? up : NULL, out->sizes[1], &epilogue);
}

static void downScatterAddPacked(MoEMemRef2D *h, const Panels *down,
                                 MoEMemRef1DI32 *tok, MoEMemRef1D *weight,
                                 MoEMemRef2D *out, int32_t flags) {
  if (h->sizes[0] == 0 || out->sizes[1] == 0)
    return;
  Epilogue epilogue = {tok, weight, out, -1, flags};
  packedPanels(currentIsa(), h, NULL, h->sizes[0], down, NULL, out->sizes[1],
               &epilogue);
}

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_GATHER_GATE_UP_PACKED_F32)(
    MoEMemRef2D *x, MoEMemRef1DI32 *tok, MoEMemRef1D *scale, MoEMemRef3D *gate,
    MoEMemRef3D *up, MoEMemRef2D *out, int32_t activation, int32_t flags) {
  Panels g = f32Panels(gate), u = f32Panels(up);
  gatherGateUpPacked(x, tok, scale, &g, &u, out, activation, flags);
}

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_DOWN_SCATTER_ADD_PACKED_F32)(
    MoEMemRef2D *h, MoEMemRef3D *down, MoEMemRef1DI32 *tok, MoEMemRef1D *weight,
    MoEMemRef2D *out, int32_t flags) {
  Panels d = f32Panels(down);
  downScatterAddPacked(h, &d, tok, weight, out, flags);
}

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_GATHER_GATE_UP_PACKED_BF16)(
    MoEMemRef2D *x, MoEMemRef1DI32 *tok, MoEMemRef1D *scale,
    MoEMemRef3DBF16 *gate, MoEMemRef3DBF16 *up, MoEMemRef2D *out,
    int32_t activation, int32_t flags) {
  Panels g = bf16Panels(gate), u = bf16Panels(up);
  gatherGateUpPacked(x, tok, scale, &g, &u, out, activation, flags);
}

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_DOWN_SCATTER_ADD_PACKED_BF16)(
    MoEMemRef2D *h, MoEMemRef3DBF16 *down, MoEMemRef1DI32 *tok,
    MoEMemRef1D *weight, MoEMemRef2D *out, int32_t flags) {
  Panels d = bf16Panels(down);
  downScatterAddPacked(h, &d, tok, weight, out, flags);
}
