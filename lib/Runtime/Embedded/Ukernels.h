/*===- Ukernels.h - the micro-kernels generated code calls ----------------===*
 *
 * Entry points `moe-cpu-lower-to-ukernels` emits calls to, through the MLIR C
 * interface (`_mlir_ciface_` + pointers to memref descriptors):
 *
 *  - matmul_nt: C[M,N] += A[M,K] · B[N,K]ᵀ (the router GEMM; both operands
 *    in the checkpoint's `[out, in]` layout, contiguous along K);
 *  - tile_f32 / tile_bf16: the register tile of the expert kernels on
 *    packed panels (below). The gather, the input scaling, the activation
 *    and the weighted scatter-add around it are generated code.
 *
 * Row indices given to a tile are trusted to be in range: the compiler
 * produces them. The symbols, the panel width and the tile's blocking are
 * moe/Runtime/KernelABI.h's, shared with the compiler.
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_EMBEDDED_UKERNELS_H
#define MOE_RUNTIME_EMBEDDED_UKERNELS_H

#include "moe/Runtime/KernelABI.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} MoEMemRef2D;

/* bf16 panels at a depth (the register tiles' weights). */
typedef struct {
  uint16_t *allocated;
  uint16_t *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} MoEMemRef2DBF16;

typedef struct {
  int32_t *allocated;
  int32_t *aligned;
  int64_t offset;
  int64_t sizes[1];
  int64_t strides[1];
} MoEMemRef1DI32;

/* The code the kernels run: the best the CPU has (AVX-512, else AVX2 with
 * FMA, else portable C), unless the environment's MOE_UKERNEL_ISA names
 * another the CPU runs ("portable", "avx2", "avx512"; read at the first
 * call) or this is called (tests compare them). Returns 0, changing
 * nothing, if the CPU cannot run `isa`. */
typedef enum {
  MOE_UKERNEL_ISA_PORTABLE = 0,
  MOE_UKERNEL_ISA_AVX2 = 1,
  MOE_UKERNEL_ISA_AVX512 = 2
} MoEUkernelIsa;

int moe_ukernel_use_isa(MoEUkernelIsa isa);

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_MATMUL_NT_F32)(MoEMemRef2D *a,
                                                   MoEMemRef2D *b,
                                                   MoEMemRef2D *c);

/* The register tiles (Tiles.c), which moe-cpu-lower-to-ukernels calls
 * from the loops and epilogues it generates around them. For i < mr =
 * rows.sizes[0] (1..MOE_UKERNEL_TILE_ROWS), c < MOE_UKERNEL_PANEL and
 * p < kc = b0.sizes[0]:
 *   acc[i][c]         (+)= Σ_p x[rows[i], p0 + p] · b0[p, c]
 *   acc[i][PANEL + c] (+)= Σ_p x[rows[i], p0 + p] · b1[p, c]
 * from zero when `fresh`. `rows` holds the tile's row indices into x (the
 * tokens of gathered rows, or consecutive rows): an indirect-GEMM tile, as
 * XNNPACK's IGEMM takes row pointers. b0/b1 are panels at a depth, each
 * `[kc, PANEL]` dense; acc is `[mr, 2·PANEL]` dense. bf16 panels are
 * widened exactly in registers. Meanwhile the tile requests the
 * `prefetchLines` cache lines from byte address `prefetchAddress` (0:
 * none) into L2, spread over its steps. */
void MOE_UKERNEL_CIFACE(MOE_UKERNEL_TILE_F32)(
    MoEMemRef2D *x, MoEMemRef1DI32 *rows, int64_t p0, MoEMemRef2D *b0,
    MoEMemRef2D *b1, MoEMemRef2D *acc, int32_t fresh, int64_t prefetchAddress,
    int64_t prefetchLines);

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_TILE_BF16)(
    MoEMemRef2D *x, MoEMemRef1DI32 *rows, int64_t p0, MoEMemRef2DBF16 *b0,
    MoEMemRef2DBF16 *b1, MoEMemRef2D *acc, int32_t fresh,
    int64_t prefetchAddress, int64_t prefetchLines);

#ifdef __cplusplus
}
#endif

#endif /* MOE_RUNTIME_EMBEDDED_UKERNELS_H */
