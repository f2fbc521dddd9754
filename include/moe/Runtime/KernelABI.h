/*===- KernelABI.h - what generated code and the micro-kernels agree on ---===*
 *
 * The one home of every value that the compiler writes into generated code
 * and the micro-kernels (lib/Runtime/Embedded/) read back: the kernels'
 * symbols, the panel width of packed weights and the tile's blocking.
 * Plain C, included by the C kernels (Embedded/Ukernels.h) and by the C++
 * passes (moe-cpu-pack-weights, moe-cpu-distribute-columns,
 * moe-cpu-lower-to-ukernels), so that no value is kept
 * equal by hand; IREE keeps its ukernels' flags the same way
 * (runtime/src/iree/builtins/ukernel/exported_bits.h).
 *
 * Changing a value changes the ABI between the code moe-compile emits and
 * the kernels it links into each library (and the shared copy JIT tests
 * load): both must come from the same copy of this file. A library
 * compiled earlier keeps working, as it embeds its own kernels and its
 * manifest states its panel width ("pack": [dim, P]), which the loader
 * reads rather than assumes.
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_KERNELABI_H
#define MOE_RUNTIME_KERNELABI_H

/* Kernel symbols. moe-cpu-lower-to-ukernels declares each as a private
 * func.func with `llvm.emit_c_interface`, so generated code calls
 * `_mlir_ciface_<name>` with pointers to memref descriptors, which
 * Ukernels.c defines. They are tokens so that the C side declares and
 * defines the functions with them (MOE_UKERNEL_CIFACE) and the compiler
 * spells the same names as strings (MOE_UKERNEL_NAME). */
/* The router's x·Wᵀ matmul. */
#define MOE_UKERNEL_MATMUL_NT_F32 moe_ukernel_matmul_nt_f32
/* The expert kernels' register tiles, on f32 or bf16 panels (Ukernels.h). */
#define MOE_UKERNEL_TILE_F32 moe_ukernel_tile_f32
#define MOE_UKERNEL_TILE_BF16 moe_ukernel_tile_bf16

/* The name generated code calls, as a string: MOE_UKERNEL_NAME(
 * MOE_UKERNEL_MATMUL_NT_F32) is "moe_ukernel_matmul_nt_f32". */
#define MOE_UKERNEL_NAME(symbol) MOE_UKERNEL_STRINGIFY_(symbol)
#define MOE_UKERNEL_STRINGIFY_(name) #name

/* The C function behind it: _mlir_ciface_moe_ukernel_matmul_nt_f32. */
#define MOE_UKERNEL_CIFACE(symbol) MOE_UKERNEL_PASTE_(_mlir_ciface_, symbol)
#define MOE_UKERNEL_PASTE_(prefix, name) prefix##name

/* Packed weights: `[P, K, MOE_UKERNEL_PANEL]` panels of a `[N, K]` weight,
 * element [q, p, c] = W[q·PANEL + c, p] (zero past N), as
 * `linalg.pack inner_dims_pos = [0] inner_tiles = [PANEL]` gives; stacked
 * expert weights `[E, N, K]` become `[E, P, K, PANEL]`. moe-cpu-pack-weights
 * packs to this width (its default), moe-cpu-lower-to-ukernels calls the
 * tiles on panels of this width only, and a tile is two panels wide. */
#define MOE_UKERNEL_PANEL 32

/* The register tile and the blocks around it: a tile is up to TILE_ROWS
 * rows by two panels; rows go in blocks of ROW_BLOCK and depth in blocks
 * of TILE_DEPTH, so that the two panels' depth block (32 KiB of f32) stays
 * in L1 while the block's row tiles pass. The loops moe-cpu-lower-to-
 * ukernels generates around the tile use these; the tile itself takes any
 * mr up to TILE_ROWS and any depth. */
#define MOE_UKERNEL_TILE_ROWS 6
#define MOE_UKERNEL_ROW_BLOCK 48
#define MOE_UKERNEL_TILE_DEPTH 128

/* The exchanges of expert parallelism (Embedded/Exchange.c). Generated
 * forward functions of an entry compiled for several ranks call BEGIN with
 * the context's communicator before the lowered function and END after it
 * (its MOE_STATUS_*), then PHASES for the call's time per phase when the
 * caller asks; in between, convert-moe-to-runtime's calls use that
 * communicator. Plain C calling convention, addresses as int64; `returning`
 * is 1 for the exchanges that return expert results (timed apart):
 *   int32_t RANK(void);
 *   void EXCHANGE_COUNTS(int64_t send, int64_t recv, int64_t ranks,
 *                        int64_t slots, int64_t returning); // i32 [ranks, slots]
 *   void EXCHANGE_ROWS(int64_t rows, int64_t send_counts, int64_t recv,
 *                      int64_t recv_counts, int64_t ranks, int64_t slots,
 *                      int64_t row_bytes, int64_t returning);
 *   void EXCHANGE_ROWS_START(the same);   // returns at once
 *   void EXCHANGE_WAIT(int64_t recv);     // the start with this buffer
 *   void PHASES(double seconds[MOE_PHASE_COUNT]); // of the last forward
 * A failed exchange zeroes what it would have received and makes END
 * return MOE_STATUS_COMMUNICATION, so the rest of the call runs on no
 * rows and ends. */
#define MOE_RT_FORWARD_BEGIN "moe_rt_forward_begin"
#define MOE_RT_FORWARD_END "moe_rt_forward_end"
#define MOE_RT_RANK "moe_rt_rank"
#define MOE_RT_EXCHANGE_COUNTS "moe_rt_exchange_counts"
#define MOE_RT_EXCHANGE_ROWS "moe_rt_exchange_rows"
#define MOE_RT_EXCHANGE_ROWS_START "moe_rt_exchange_rows_start"
#define MOE_RT_EXCHANGE_WAIT "moe_rt_exchange_wait"
#define MOE_RT_FORWARD_PHASES "moe_rt_forward_phases"

/* The phases of a single process (moe-phase-marks): its forward calls
 *   void PHASE_MARK(int32_t phase);   // MOE_PHASE_EXCHANGE (the dispatch),
 *                                     // MOE_PHASE_EXPERTS, MOE_PHASE_COMBINE
 * as each phase begins, and its wrapper brackets it with FORWARD_BEGIN
 * (a null communicator) and FORWARD_END, then PHASES as above: route from
 * the beginning to the first mark, each phase to the next mark, combine to
 * the end; exchange back is 0. */
#define MOE_RT_PHASE_MARK "moe_rt_phase_mark"

/* What the entry wrappers of a CUDA library call (the embedded CUDA
 * runtime, lib/Runtime/Embedded/CudaRuntime.h):
 *   int32_t BIND(const moe_context *ctx);        // driver, device, stream
 *   void *UPLOAD(const void *host, int64_t bytes); // a device copy or NULL
 *   void FREE(void *device);
 *   int32_t DOWNLOAD(void *host, const void *device, int64_t bytes);
 *   int32_t SYNCHRONIZE(void);
 *   int32_t STATUS(void);      // the thread's first failure since CLEAR
 *   void CLEAR_ERROR(void); */
#define MOE_RT_CUDA_BIND "moe_cuda_bind"
#define MOE_RT_CUDA_UPLOAD "moe_cuda_upload"
#define MOE_RT_CUDA_FREE "moe_cuda_free"
#define MOE_RT_CUDA_DOWNLOAD "moe_cuda_download"
#define MOE_RT_CUDA_SYNCHRONIZE "moe_cuda_synchronize"
#define MOE_RT_CUDA_STATUS "moe_cuda_status"
#define MOE_RT_CUDA_CLEAR_ERROR "moe_cuda_clear_error"

#endif /* MOE_RUNTIME_KERNELABI_H */
