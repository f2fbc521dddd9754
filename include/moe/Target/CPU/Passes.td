//===- Passes.td - CPU-specific moe passes -----------------*- tablegen -*-===//
//
// What only the CPU target does with the kernel layer: weights packed for
// the micro-kernels' register tiles, columns split among OpenMP threads,
// micro-kernel calls, the OpenMP thread count. Flags are `moe-cpu-*`; the
// `moe-lower-to-cpu` pipeline runs them after the target-neutral stages.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_CPU_PASSES_TD
#define MOE_TARGET_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoECPUPackWeights : Pass<"moe-cpu-pack-weights", "::mlir::ModuleOp"> {
  let summary = "Pack the expert kernels' weights into the micro-kernels' panels";
  let description = [{
    The CPU micro-kernels read a weight `[N, K]` as panels of P columns,
    `[ceil(N/P), K, P]` (zero past N), so that each step of their register
    tile loads consecutive memory and needs no reduction across vector
    lanes. This pass gives every `moe.gather_gate_up` and
    `moe.down_scatter_add` in the `rows` layout its weights in
    `#moe.weight_layout<panels = P>`:

    * a weight the runtime binds (a public function's argument with a
      `moe.weight` name, used only as kernel-op weights) changes type and
      gets `moe.weight_pack = array<i64: dim, P>` (and, if it had none,
      `moe.weight_source_shape`: panels hide N's exact size): the runtime
      packs it once, at bind time, as `linalg.pack` would;
    * any other weight is packed where it is defined, by `linalg.pack`,
      lowered at once to pad, reshape and transpose.

    With `weight-type=bf16` the weights the runtime binds become bf16
    panels (the runtime rounds them to nearest even at bind time, or keeps
    a bf16 checkpoint's values): half the memory and half the bandwidth,
    which decode is bound by. Activations, products and sums stay f32.
    Weights packed in the graph are rounded there (`arith.truncf`), so that
    every weight of an op has one element type.

    Before:
    ```mlir
    func.func @layer(%x: tensor<?x64xf32>, %up: tensor<8x128x64xf32> {moe.weight = "up.{e}"}, ...) {
      %a = moe.gather_gate_up gelu %x tokens(%tok) offsets(%off) weights(up %up)
          layout <rows> outs(%init) : ...
    ```
    After:
    ```mlir
    func.func @layer(%x: tensor<?x64xf32>,
        %up: tensor<8x4x64x32xf32> {moe.weight = "up.{e}", moe.weight_pack = array<i64: 1, 32>,
                                    moe.weight_source_shape = array<i64: 8, 128, 64>}, ...) {
      %a = moe.gather_gate_up gelu %x tokens(%tok) offsets(%off) weights(up %up)
          layout <panels = 32> outs(%init) : ...
    ```
  }];
  let options = [
    // The default is the micro-kernels' width (MOE_UKERNEL_PANEL in
    // moe/Runtime/KernelABI.h, which Passes.h includes for the generated
    // options); moe-cpu-lower-to-ukernels finds no kernel for other widths.
    Option<"panelWidth", "panel-width", "int64_t", "MOE_UKERNEL_PANEL",
           "Columns per panel (the kernels take only MOE_UKERNEL_PANEL, the default)">,
    Option<"weightType", "weight-type", "std::string", "\"f32\"",
           "Element type of the panels the runtime binds: f32 or bf16">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::moe::MoEDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def MoECPUDistributeColumns : Pass<"moe-cpu-distribute-columns"> {
  let summary = "Split each expert kernel's output columns among the threads";
  let description = [{
    Tiles every `moe.gather_gate_up` and `moe.down_scatter_add` on tensors
    (through their TilingInterface) into an `scf.forall` with one chunk of
    output columns per worker (`moe.num_workers`), each chunk a multiple of
    the micro-kernels' tile of two panels (`2 × MOE_UKERNEL_PANEL`
    columns).

    Splitting columns rather than experts keeps the threads' work equal
    however the router spread the tokens, lets the shared expert use every
    thread, and gives each thread its own output columns: the scatter-add
    needs no atomics, and each output element is summed in expert order
    whatever the thread count. A chunk covers as many columns as it can, so
    that a kernel call reads its rows once for all of them and prefetches
    each next panel pair while it computes (measured on one core:
    DeepSeek-style down projection 109 → 131 GFLOP/s from 64- to
    512-column chunks).

    Before:
    ```mlir
    %y = moe.down_scatter_add %a offsets(%off) weights(down %d) tokens(%tok)
        layout <panels = 32> outs(%acc) : ...
    ```
    After:
    ```mlir
    %n = moe.num_workers
    ...
    %y = scf.forall (%i) = (0) to (%parts) step (1) shared_outs(%o = %acc) -> (tensor<?x64xf32>) {
      ...
      %t = moe.down_scatter_add %a offsets(%off) weights(down %dq) tokens(%tok)
          layout <panels = 32> outs(%oq) : ...
      scf.forall.in_parallel { tensor.parallel_insert_slice %t into %o[0, %c] [%T, %w] [1, 1] ... }
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::moe::MoEDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def MoECPULowerToUkernels : Pass<"moe-cpu-lower-to-ukernels", "::mlir::ModuleOp"> {
  let summary = "Call the CPU micro-kernels for x·Wᵀ and the expert kernels on buffers";
  let description = [{
    Every linear layer of an MoE block multiplies activations by a
    checkpoint weight in its `[out, in]` layout: `linalg.matmul` with a
    transposed B. Lowered to loops that is a scalar triple loop; this pass
    replaces such matmuls on f32 memrefs with unit inner strides by a call
    to `moe_ukernel_matmul_nt_f32`. A grouped `moe.gather_gate_up` /
    `moe.down_scatter_add` on buffers becomes a loop over its experts, each
    expert's rows and weights a subview, and every ungrouped one a call to
    its kernel (`moe_ukernel_gather_gate_up_*` /
    `moe_ukernel_down_scatter_add_*`, on rows or on f32 or bf16 panels),
    through the MLIR C interface, the way IREE calls its ukernels (the
    kernels: lib/Runtime/Embedded/Ukernels.c; symbols, flags and codes:
    moe/Runtime/KernelABI.h). An absent optional operand is passed as an
    empty buffer and a flag. It runs after bufferization and before linalg
    is lowered to loops; a matmul it does not match is lowered as before,
    an expert kernel it cannot take is an error (the CPU has no other
    lowering for them).

    With `epilogues=generated`, an expert kernel on packed panels (f32 or
    bf16) is instead lowered here to the loops Ukernels.c runs in C, as
    generated code: panel pairs (gated: gate panel q and up panel q), row
    blocks of MOE_UKERNEL_ROW_BLOCK, depth blocks of MOE_UKERNEL_TILE_DEPTH
    and row tiles of MOE_UKERNEL_TILE_ROWS, each a call of the register
    tile alone (`moe_ukernel_tile_f32` / `_bf16`, an indirect-GEMM tile:
    the tile's row indices are a subview of the row tokens, or consecutive
    rows) into an accumulator scratch (`memref.alloca` above the expert
    loop), with its share of the next block's lines to
    prefetch. After a tile's last depth block the epilogue runs as
    generated code: `out[r, c] = act(s_r·g, s_r·u)` with the activation
    built by ActivationBuilder.h (the lowering to linalg builds the same),
    or `out[t_r, c] += w_r·acc` (math.fma). exp and erf in the epilogue are
    expanded to MLIR's polynomial approximations, so that LLVM vectorises
    the epilogue loops. bf16 panels that several row tiles share are widened
    once per depth block (`arith.extf` into an f32 block). The mode exists
    while the generated path is tuned against the C one (`kernel`, the
    default).

    Before:
    ```mlir
    linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                   affine_map<(m, n, k) -> (n, k)>,
                                   affine_map<(m, n, k) -> (m, n)>]
        ins(%x, %w : memref<?x64xf32, strided<[64, 1], offset: ?>>, memref<128x64xf32, ...>)
        outs(%y : memref<?x128xf32>)
    moe.down_scatter_add %a weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%out) : ...
    ```
    After:
    ```mlir
    %a = memref.cast %x : ... to memref<?x?xf32, strided<[?, 1], offset: ?>>
    ...
    call @moe_ukernel_matmul_nt_f32(%a, %b, %c) : (...) -> ()
    %flags = arith.constant 3 : i32
    call @moe_ukernel_down_scatter_add_f32(%h, %dw, %t, %rw, %o, %flags) : (...) -> ()
    ```
  }];
  let options = [
    Option<"epilogues", "epilogues", "std::string", "\"kernel\"",
           "Who runs the loops and epilogues around the register tiles of "
           "kernels on panels: kernel (Ukernels.c's C) or generated (scf "
           "loops calling moe_ukernel_tile_*, epilogues as generated code)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
  ];
}

def MoECPUNumWorkersToOpenMP : Pass<"moe-cpu-num-workers-to-openmp", "::mlir::ModuleOp"> {
  let summary = "Make moe.num_workers the OpenMP runtime's thread count";
  let description = [{
    On the CPU the parallel loops (`scf.forall`) become OpenMP loops, run
    on as many threads as the OpenMP runtime is given (`moe_set_threads`,
    `OMP_NUM_THREADS`). This pass replaces each `moe.num_workers` by a call
    to `omp_get_max_threads()`, at least 1, so that work divided into that
    many parts gives each thread one.

    Before:
    ```mlir
    %n = moe.num_workers
    ```
    After:
    ```mlir
    %t = call @omp_get_max_threads() : () -> i32
    %i = arith.index_cast %t : i32 to index
    %n = arith.maxsi %i, %c1 : index
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
  ];
}

#endif // MOE_TARGET_CPU_PASSES_TD
