/*===- Ukernels.h - the micro-kernels generated code calls ----------------===*
 *
 * Entry points `moe-cpu-lower-to-ukernels` emits calls to, through the MLIR C
 * interface (`_mlir_ciface_` + pointers to memref descriptors). All of them
 * compute dot products of rows: every weight is in the checkpoint's
 * `[out, in]` layout, so both operands are contiguous along the reduction.
 *
 *  - matmul_nt:        C[M,N] += A[M,K] · B[N,K]ᵀ
 *  - gather_gate_up:   out[r,j] = act(s_r·(x[tok_r]·gate_j),
 *s_r·(x[tok_r]·up_j))
 *  - down_scatter_add: out[tok_r,j] += w_r · (h_r · down_j)
 *
 * `tok`, `s` and `w` are optional (flag bits); without `tok`, row r is
 * token r. Rows of x and out given by `tok` are trusted to be in range:
 * the compiler produces them. The symbols, the flag bits, the activation
 * codes and the panel width are moe/Runtime/KernelABI.h's, shared with
 * the compiler.
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

typedef struct {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[3];
  int64_t strides[3];
} MoEMemRef3D;

/* bf16 panels at a depth (the register tiles' weights). */
typedef struct {
  uint16_t *allocated;
  uint16_t *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
} MoEMemRef2DBF16;

/* Packed bf16 weights: each element the upper 16 bits of an f32. */
typedef struct {
  uint16_t *allocated;
  uint16_t *aligned;
  int64_t offset;
  int64_t sizes[3];
  int64_t strides[3];
} MoEMemRef3DBF16;

typedef struct {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[1];
  int64_t strides[1];
} MoEMemRef1D;

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

/* `gate` is read only for the gated activations (swiglu, geglu). */
void MOE_UKERNEL_CIFACE(MOE_UKERNEL_GATHER_GATE_UP_F32)(
    MoEMemRef2D *x, MoEMemRef1DI32 *tok, MoEMemRef1D *scale, MoEMemRef2D *gate,
    MoEMemRef2D *up, MoEMemRef2D *out, int32_t activation, int32_t flags);

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_DOWN_SCATTER_ADD_F32)(
    MoEMemRef2D *h, MoEMemRef2D *down, MoEMemRef1DI32 *tok, MoEMemRef1D *weight,
    MoEMemRef2D *out, int32_t flags);

/* Packed weights: `[P, K, MOE_UKERNEL_PANEL]` panels of a `[N, K]` weight
 * (KernelABI.h), each panel's `[K, PANEL]` dense (strides[1] = PANEL,
 * strides[2] = 1). One step of the tile then reads consecutive memory, and
 * the sums need no reduction across lanes. `out` is `[R, N]` (gate/up) or
 * `[T, N]` (down): its width says how many of the panels' columns are
 * real. */

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_GATHER_GATE_UP_PACKED_F32)(
    MoEMemRef2D *x, MoEMemRef1DI32 *tok, MoEMemRef1D *scale, MoEMemRef3D *gate,
    MoEMemRef3D *up, MoEMemRef2D *out, int32_t activation, int32_t flags);

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_DOWN_SCATTER_ADD_PACKED_F32)(
    MoEMemRef2D *h, MoEMemRef3D *down, MoEMemRef1DI32 *tok, MoEMemRef1D *weight,
    MoEMemRef2D *out, int32_t flags);

/* The same on bf16 panels: activations, products and sums stay f32 (each
 * weight is widened exactly), so the results are those of the f32 kernels
 * on the weights rounded to bf16; the weights take half the memory and
 * half the bandwidth. */
void MOE_UKERNEL_CIFACE(MOE_UKERNEL_GATHER_GATE_UP_PACKED_BF16)(
    MoEMemRef2D *x, MoEMemRef1DI32 *tok, MoEMemRef1D *scale,
    MoEMemRef3DBF16 *gate, MoEMemRef3DBF16 *up, MoEMemRef2D *out,
    int32_t activation, int32_t flags);

void MOE_UKERNEL_CIFACE(MOE_UKERNEL_DOWN_SCATTER_ADD_PACKED_BF16)(
    MoEMemRef2D *h, MoEMemRef3DBF16 *down, MoEMemRef1DI32 *tok,
    MoEMemRef1D *weight, MoEMemRef2D *out, int32_t flags);

/* The register tiles alone (Tiles.c; the `generated` epilogue mode calls
 * them from loops and epilogues the compiler emits). For i < mr =
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
