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
  let summary = "Generate the expert kernels' loops and epilogues around the CPU register tiles; call the router's matmul kernel";
  let description = [{
    The expert math comes out of this lowering; only the innermost register
    tiles are C (lib/Runtime/Embedded/Tile*.c, one file per instruction
    set, selected at run time by Tiles.c):

    * a grouped `moe.gather_gate_up` / `moe.down_scatter_add` on buffers
      becomes a loop over its experts, each expert's rows and weights a
      subview;
    * each expert's op on packed panels (f32 or bf16, `#moe.weight_layout<
      panels = 32>`) becomes generated loops: panel pairs (gated: gate
      panel q and up panel q), row blocks of MOE_UKERNEL_ROW_BLOCK, depth
      blocks of MOE_UKERNEL_TILE_DEPTH and row tiles of
      MOE_UKERNEL_TILE_ROWS, each a call of the register tile
      (`moe_ukernel_tile_f32` / `_bf16`, an indirect-GEMM tile: the tile's
      row indices are a subview of the row tokens — the gather — or
      consecutive rows) into an accumulator scratch (`memref.alloca` above
      the expert loop), with its share of the next block's lines to
      prefetch;
    * after a tile's last depth block the epilogue runs as generated code:
      `out[r, c] = act(s_r·g, s_r·u)` with the activation built by
      ActivationBuilder.h (the one copy of that math in the compiler; the
      unfused lowering builds the same), or the weighted scatter-add
      `out[t_r, c] += w_r·acc` (math.fma). exp and erf are expanded to
      MLIR's polynomial approximations, so that LLVM vectorises the
      epilogue loops; bf16 panels that several row tiles share are widened
      once per depth block (vector ops: zero-extend and shift);
    * every other x·Wᵀ `linalg.matmul` on f32 memrefs with unit inner
      strides (the router) becomes a call to `moe_ukernel_matmul_nt_f32`,
      through the MLIR C interface, the way IREE calls its ukernels.

    Symbols, the panel width and the tile's blocking are
    moe/Runtime/KernelABI.h's. It runs after bufferization and before
    linalg is lowered to loops; a matmul it does not match is lowered as
    before, an expert kernel it cannot take (rows layout, other panel
    widths, non-dense panels) is an error.

    Before:
    ```mlir
    moe.down_scatter_add %a weights(down %d) tokens(%tok) row_weight(%w)
        layout <panels = 32> outs(%out) : ...
    ```
    After (abridged):
    ```mlir
    scf.for %q = %c0 to %pairs step %c1 {
      scf.for %r0 = %c0 to %rows step %c48 {
        scf.for %p0 = %c0 to %depth step %c128 {
          scf.for %t = %c0 to %tiles step %c1 {
            call @moe_ukernel_tile_f32(%h, %rowsOfTile, %p0, %b0, %b1, %acc, %fresh, %next, %lines) : ...
            scf.if %last {
              scf.for %i ... { scf.for %c ... {
                %v = math.fma %w, %sum, %old : f32
                memref.store %v, %out[%token, %col] : ...
              } }
            }
          }
        }
      }
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
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
