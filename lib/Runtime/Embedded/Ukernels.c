/*===- Ukernels.c - the router's matmul micro-kernel ---------------------===*
 *
 * C[M,N] += A[M,K]·B[N,K]ᵀ for the x·Wᵀ matmuls that are not expert kernels
 * (the router GEMM): both operands are contiguous along K, so nothing is
 * packed. The register tile is 3 rows × 8 columns of dot products along K:
 *  - AVX-512: 24 accumulators, three A rows and eight B rows loaded once
 *    per 16 values of k; a row's eight accumulators are reduced together
 *    (a transposing add tree, 24 instructions instead of 8 reductions);
 *  - AVX2 + FMA: the same tile as two 3×4 halves of 8-float vectors (12
 *    accumulators, 16 registers in all);
 *  - portable C: scalar loops, for other CPUs.
 * The loops keep the eight B rows in L1 while the row tiles of A pass, and
 * block K so that they fit. Meanwhile the row tiles prefetch the next B
 * tile into L2, a share each. Every output element's sum is formed in the
 * same order wherever its tile lies, so results do not depend on how the
 * caller splits the columns among threads.
 *
 * The expert kernels are not here: the compiler generates their loops,
 * gathers, activations and scatter-adds around the register tiles of
 * Tile*.c (moe-cpu-lower-to-ukernels). The instruction set is picked once,
 * at the first call: the best the CPU has, or the one MOE_UKERNEL_ISA
 * names (Tiles.c, moe_ukernel_use_isa).
 *===----------------------------------------------------------------------===*/

#include "Tiles.h"

#include <stddef.h>


enum { kTileRows = 3, kTileCols = 8 };


/* Depth block of the linear kernels: eight B rows of 1024 floats (32 KiB)
 * stay in a 48 KiB L1 beside three A rows. */
static const int64_t kDepthBlock = 1024;


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

/* What an instruction set supplies: the register tile, and the add of a
 * tile row's sums into C. The loops around them are shared (matmulNt). */
typedef struct {
  /* sums[i][j] = Σ_p a[i][p]·b[j][p] over p < k, for i < mr and the eight
   * columns; meanwhile it prefetches `prefetch`. */
  void (*dot)(int mr, const float *const a[kTileRows],
              const float *const b[kTileCols], int64_t k,
              float sums[kTileRows][kTileCols], Span prefetch);
  /* out[j] += sums[j] for j < count. */
  void (*addSums)(const float *sums, float *out, int64_t count);
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

static void addSumsPortable(const float *sums, float *out, int64_t count) {
  for (int64_t j = 0; j < count; ++j)
    out[j] += sums[j];
}


static const Isa kPortable = {.dot = dotPortable, .addSums = addSumsPortable};

#ifdef MOE_X86

/* ------------------------------------------------------------- AVX2 add */

/* A mask of the first `count` (0..8) of eight lanes. */
MOE_AVX2 static inline __m256i firstLanes(int count) {
  static const int32_t kOnesThenZeros[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                             0,  0,  0,  0,  0,  0,  0,  0};
  return _mm256_loadu_si256((const __m256i *)(kOnesThenZeros + 8 - count));
}

MOE_AVX2 static void addSumsAvx2(const float *sums, float *out,
                                 int64_t count) {
  for (int64_t j = 0; j < count; j += 8) {
    __m256i lanes = firstLanes((int)minI64(8, count - j));
    __m256 sum = _mm256_add_ps(_mm256_maskload_ps(sums + j, lanes),
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
static const Isa kAvx2 = {.dot = dotAvx2, .addSums = addSumsAvx2};

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

MOE_AVX512 static void addSumsAvx512(const float *sums, float *out,
                                     int64_t count) {
  for (int64_t j = 0; j < count; j += 16) {
    __mmask16 lanes = (__mmask16)((1u << minI64(16, count - j)) - 1u);
    __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, sums + j),
                               _mm512_maskz_loadu_ps(lanes, out + j));
    _mm512_mask_storeu_ps(out + j, lanes, sum);
  }
}

static const Isa kAvx512 = {.dot = dotAvx512, .addSums = addSumsAvx512};
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

/* ------------------------------------------------------------------ loops */

/* C[M,N] += A[M,K]·B[N,K]ᵀ: depth blocks, eight B rows at a time held in
 * L1 while the row tiles of A pass, each prefetching its share of the next
 * B tile. */
static void matmulNt(const Isa *isa, const MoEMemRef2D *h,
                     const MoEMemRef2D *down, const MoEMemRef2D *out) {
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
          isa->addSums(sums[i], at(out, i0 + i, j0), nr);
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

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_MATMUL_NT_F32)(MoEMemRef2D *A,
                                                   MoEMemRef2D *B,
                                                   MoEMemRef2D *C) {
  if (A->sizes[0] == 0 || B->sizes[0] == 0)
    return;
  matmulNt(currentIsa(), A, B, C);
}
