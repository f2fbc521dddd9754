/*===- Tiles.c - which register tile runs, and its entry points -----------===*
 *
 * Picks the instruction set once, at the first call: the best the CPU has,
 * or the one MOE_UKERNEL_ISA names (moe_ukernel_use_isa), for the tiles and
 * the router's matmul kernel (Ukernels.c) alike. Defines the tile entry
 * points generated code calls (`moe_ukernel_tile_*`, Ukernels.h): the compiler emits the
 * loops over panel pairs, row blocks and depth blocks, the epilogues and
 * the prefetch policy's arithmetic; here a call only finds its rows and
 * runs one tile, as IREE's mmt4d tile functions do.
 *===----------------------------------------------------------------------===*/

#include "Tiles.h"

#include <stdio.h>
#include <stdlib.h>

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

static const MoETiles *tilesOf(MoEUkernelIsa isa) {
#ifdef MOE_X86
  if (isa == MOE_UKERNEL_ISA_AVX512)
    return &moeTilesAvx512;
  if (isa == MOE_UKERNEL_ISA_AVX2)
    return &moeTilesAvx2;
#endif
  return &moeTilesPortable;
}

/* The selected MoEUkernelIsa plus one; 0 until the first call picks. */
static int selectedIsa = 0;

int moe_ukernel_use_isa(MoEUkernelIsa isa) {
  if (!cpuRuns(isa))
    return 0;
  __atomic_store_n(&selectedIsa, (int)isa + 1, __ATOMIC_RELEASE);
  return 1;
}

/* The best the CPU runs, or the one MOE_UKERNEL_ISA names. */
MoEUkernelIsa moeSelectedIsa(void) {
  int selected = __atomic_load_n(&selectedIsa, __ATOMIC_ACQUIRE);
  if (selected)
    return (MoEUkernelIsa)(selected - 1);
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
  return pick;
}

const MoETiles *moeSelectedTiles(void) { return tilesOf(moeSelectedIsa()); }

/* ------------------------------------------------------------------- entry */

/* Row i of the tile: x's row rows[i], from depth p0. */
static void tileRowPointers(const MoEMemRef2D *x, const MoEMemRef1DI32 *rows,
                            int64_t p0, const float *a[kPanelRows]) {
  const float *base = x->aligned + x->offset + p0;
  for (int64_t i = 0; i < rows->sizes[0]; ++i)
    a[i] = base + (int64_t)rows->aligned[rows->offset + i * rows->strides[0]] *
                      x->strides[0];
}

/* The tile on panels of `element` at b0/b1 (depth kc = their rows). */
static void runTile(const MoEMemRef2D *x, const MoEMemRef1DI32 *rows,
                    int64_t p0, const void *b0, const void *b1, int64_t kc,
                    MoEMemRef2D *acc, int32_t fresh, int64_t prefetchAddress,
                    int64_t prefetchLines, PanelElement element) {
  int mr = (int)rows->sizes[0];
  if (mr <= 0 || mr > kPanelRows)
    return;
  const float *a[kPanelRows];
  tileRowPointers(x, rows, p0, a);
  Lines prefetch = {(const char *)(intptr_t)prefetchAddress,
                    prefetchAddress ? prefetchLines : 0};
  moeSelectedTiles()->tile[element](
      mr, a, b0, b1, kc,
      (float(*)[2 * kPanel])(acc->aligned + acc->offset), fresh, prefetch);
}

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_TILE_F32)(
    MoEMemRef2D *x, MoEMemRef1DI32 *rows, int64_t p0, MoEMemRef2D *b0,
    MoEMemRef2D *b1, MoEMemRef2D *acc, int32_t fresh, int64_t prefetchAddress,
    int64_t prefetchLines) {
  runTile(x, rows, p0, b0->aligned + b0->offset, b1->aligned + b1->offset,
          b0->sizes[0], acc, fresh, prefetchAddress, prefetchLines, kPanelF32);
}

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_TILE_BF16)(
    MoEMemRef2D *x, MoEMemRef1DI32 *rows, int64_t p0, MoEMemRef2DBF16 *b0,
    MoEMemRef2DBF16 *b1, MoEMemRef2D *acc, int32_t fresh,
    int64_t prefetchAddress, int64_t prefetchLines) {
  runTile(x, rows, p0, b0->aligned + b0->offset, b1->aligned + b1->offset,
          b0->sizes[0], acc, fresh, prefetchAddress, prefetchLines,
          kPanelBf16);
}
