//===- Passes.td - CUDA-specific moe passes ----------------*- tablegen -*-===//
//
// What only the CUDA target does with the kernel layer: weights kept in
// bf16 rows for the tensor cores, the grouped expert GEMMs generated as
// gpu kernels (TMA + wgmma on sm_90a, ldmatrix + mma.sync on sm_80), and
// the rest of each entry mapped onto GPU threads. Flags are `moe-cuda-*`;
// the `moe-lower-to-cuda` pipeline runs them after the target-neutral
// stages.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_CUDA_PASSES_TD
#define MOE_TARGET_CUDA_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoECUDACheckLayers : Pass<"moe-cuda-check-layers", "::mlir::ModuleOp"> {
  let summary = "Refuse early the layers the CUDA target cannot lower yet";
  let description = [{
    The first stage of `moe-lower-to-cuda`: an error naming the op for
    each `moe.layer`, `moe.route` or `moe.combine` the later stages cannot lower, rather
    than a failure deep in the GPU mapping about a buffer. Today that is
    capacity with `dropped = input` (dropped slots pass their input
    through) and zero (identity) experts (`zero_experts`): the pass-through
    of those slots is a serial loop over dynamically sized rows, not a GPU
    kernel. It is also routing by token id (a
    `moe.layer` or `moe.route` with `expert_table`): the CUDA entries take
    no token ids.
  }];
}

def MoECUDABF16Weights : Pass<"moe-cuda-bf16-weights", "::mlir::ModuleOp"> {
  let summary = "Keep the expert kernels' weights in bf16 rows for the tensor cores";
  let description = [{
    The tensor cores multiply bf16 (f32 accumulation), and decode is bound
    by the bytes of weights it reads: every weight of a `moe.gather_gate_up`
    and `moe.down_scatter_add` in the `rows` layout becomes bf16, still in
    the checkpoint's `[(E,) N, K]` rows (K contiguous, what TMA boxes and
    `ldmatrix` read).

    * A weight the runtime binds (a public function's argument with a
      `moe.weight` name, used only as kernel-op weights) changes type: the
      runtime rounds it to bf16 at bind time (to nearest even), or keeps a
      bf16 checkpoint's values, before the upload to the device.
    * Any other weight is rounded where it is used (`arith.truncf`).

    The router's weight and every activation stay f32. Runs on tensors,
    after `moe-lower-to-linalg`.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def MoECUDALowerGroupedGemm : Pass<"moe-cuda-lower-grouped-gemm", "::mlir::ModuleOp"> {
  let summary = "Generate the tensor-core kernels of the grouped expert GEMMs";
  let description = [{
    Replaces every `moe.gather_gate_up` and `moe.down_scatter_add` on
    buffers (after `moe-bufferize`) by the launch of a kernel generated into
    the module's `gpu.module @moe_kernels`:

    * the gate/up GEMM loads each tile of rows gathered by token (the
      gather fused into the row-tile load), multiplies it with the expert's
      bf16 weights on the tensor cores with f32 accumulation, and applies
      the input scaling and the activation in its epilogue;
    * the down GEMM weights each row by its routing weight in its epilogue
      and writes rows; a combine kernel then adds each token's rows into
      the output in row order, a fixed order per token (no floating-point
      atomics: the result does not depend on scheduling).

    Rows are grouped by expert (`offsets`): the grid is one block per tile
    of rows that stays within one expert, by column tiles; a block finds
    its expert and rows from the offsets on the device. The tile shape is
    chosen by the pass from the layer's sizes; no variant changes the order
    of the depth reduction, so a token's result does not depend on the
    batch it came in.

    `gpu-arch=sm_90a`: TMA loads of the weights, a manually gathered and
    128-byte swizzled row tile, an mbarrier-pipelined ring of shared-memory
    stages and `wgmma` (`nvgpu.warpgroup.mma`). `gpu-arch=sm_80`:
    `ldmatrix` and `mma.sync` m16n8k16 bf16 (written as `nvvm.mma.sync`,
    since nvgpu has no bf16 case in MLIR 22).
  }];
  let options = [
    Option<"gpuArch", "gpu-arch", "std::string", /*default=*/"\"sm_90a\"",
           "The GPU the kernels are for: sm_90a (Hopper, wgmma + TMA) or "
           "sm_80 (Ampere and newer, mma.sync)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def MoECUDALowerRouterGemm : Pass<"moe-cuda-lower-router-gemm", "::mlir::ModuleOp"> {
  let summary = "Generate the warp-parallel kernel of the router GEMM";
  let description = [{
    Replaces every `linalg.matmul` marked `moe.router_gemm` on buffers
    (what `convert-moe-to-linalg{fuse-router-gemm=false}` leaves, after
    `moe-bufferize`), `logits[T,E] += x[T,H] · w[E,H]ᵀ` in f32, by the
    launch of a kernel generated into `gpu.module @moe_kernels`:

    * a block of 8 warps computes 4 tokens (`blockIdx.x`) by 8 experts
      (`blockIdx.y`), one expert per warp, so each weight element a lane
      loads serves 4 tokens;
    * lane `l` walks the depth `h = l, l+32, l+64, ...` (each warp load is
      128 contiguous bytes), one `math.fma` chain per token;
    * the 32 partial sums meet in a fixed butterfly (`gpu.shuffle xor`
      16, 8, 4, 2, 1) and lane 0 adds the result to the logit (or
      stores it, when the `linalg.fill` of zero just before the GEMM is
      its initial value: that fill is removed).

    The order of each logit's reduction depends on H alone (never on T, the
    grid or scheduling), so a token's logits, and so its routing, are the
    same bits alone and in any batch. The router stays f32 (tensor cores
    would round its inputs and flip near-tie selections).

    The operands must be f32 memrefs `[T,H]`, `[E,H]` and `[T,E]` with the
    transposed-B maps of a router; anything else marked is an error.
    Runs in `moe-cuda-map-to-gpu` before `moe-cuda-map-to-kernels`.

    `cpu-twin` emits the same computation, in the same order, as host loops
    that run on the CPU (an `scf.forall` over token blocks and experts, the
    lanes as a loop writing their partial sums to a buffer, the butterfly
    as steps over it), for the CPU execution tests of the CUDA-shaped IR.
  }];
  let options = [
    Option<"cpuTwin", "cpu-twin", "bool", /*default=*/"false",
           "Emit the kernel's computation as host loops that run on the "
           "CPU, in the kernel's reduction order (for tests)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def MoECUDAMapToKernels : Pass<"moe-cuda-map-to-kernels", "::mlir::ModuleOp"> {
  let summary = "Run everything but the expert GEMMs as GPU kernels";
  let description = [{
    After bufferization and `moe-cuda-lower-grouped-gemm`, the entry
    functions still hold the routing, the permutation and the glue as host
    loops over buffers. On the CUDA target every buffer lives on the
    device, so this pass moves all code that reads or writes buffers into
    `gpu.launch` regions (outlined into kernels later), leaving the host
    only scalar size arithmetic, allocation and launches:

    * each top-level `scf.forall` (e.g. the routing's, one token per
      iteration with `convert-moe-to-linalg{tokens-per-part=1}`), each
      `scf.parallel` and each linalg op (as parallel loops) becomes a
      launch of one thread per iteration of its parallel dimensions
      (blocks of 256), and a `memref.copy` one thread per element;
    * inside those, linalg ops become loops and statically sized
      allocations become `memref.alloca` (thread-private);
    * every other run of consecutive ops that touch buffers (the
      permutation's counting loops, single loads and stores) becomes one
      single-thread launch, in program order: correct and deterministic,
      and the place later steps replace by parallel kernels;
    * `memref.alloc` / `memref.dealloc` become `gpu.alloc` / `gpu.dealloc`.

    A value read from a buffer that host code needs (a size computed on
    the device) is an error naming the op, as are the exchanges of expert
    parallelism, which this target does not run yet.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def MoECUDATileGroupedGemm : Pass<"moe-cuda-tile-grouped-gemm", "::mlir::ModuleOp"> {
  let summary = "The grouped expert GEMMs in the block-level tiled form of the GPU kernels";
  let description = [{
    Rewrites every `moe.gather_gate_up` and `moe.down_scatter_add` on
    buffers (after `moe-bufferize`) into what the kernels of
    `moe-cuda-lower-grouped-gemm` compute, block by block, in upstream ops
    that also run on the CPU: so the kernels' schedule, masking, epilogues
    and combine order are tested by executing this form against the
    reference.

    * An `scf.forall` over (row tile, column tile), mapped to
      `#gpu.block<x>` and `#gpu.block<y>`, sized as the kernels' grid
      (`ceil(R/rows) + E` row tiles, `ceil(N/columns)` column tiles); each
      iteration finds its expert and rows from the offsets with the
      kernels' own schedule (tiles never straddle experts; spare tiles do
      nothing).
    * The tile: the rows gathered by token into a bf16 tile (the rounding
      the kernels' shared-memory tile makes), a `linalg.matmul` per weight
      with the `[N,K]` bf16 weight slice transposed (f32 sums, the depth
      in order, never split), then a `linalg.generic` epilogue on the
      tile's rows and columns only: input scaling and activation (gate/up),
      or the routing weight (down).
    * A down GEMM with `row_token` writes weighted rows to an `[R,N]`
      buffer; a combine then adds each token's rows into it in increasing
      row order (the order of the kernels' count/scan/scatter/sort/sum
      combine), one token per iteration of an `scf.forall`.

    Weights must be bf16 rows (`moe-cuda-prepare-kernels`). The tile shape
    is an option (default: the wide variant's 128x128); `tile-columns`
    counts output columns (sm_80's gated kernels count gate and up
    columns together: their 128x128 is 64 here).
  }];
  let options = [
    Option<"tileRows", "tile-rows", "int64_t", /*default=*/"128",
           "Rows of a tile (of one expert)">,
    Option<"tileColumns", "tile-columns", "int64_t", /*default=*/"128",
           "Output columns of a tile">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

#endif // MOE_TARGET_CUDA_PASSES_TD
