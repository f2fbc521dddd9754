//===- Passes.td - moe transformation passes ---------------*- tablegen -*-===//
//
// Transformations on the moe dialect. Flags are `moe-*`.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TRANSFORMS_PASSES_TD
#define MOE_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoEDecompose : Pass<"moe-decompose"> {
  let summary = "Expand moe.layer into routing, dispatch, expert FFN and combine";
  let description = [{
    `moe.layer` is what importers emit: one op per MoE block, easy to read
    and to match. Everything after it (fusion, expert parallelism, lowering)
    works on the stages, so this pass runs first. Each layer becomes

    * the router GEMM `l = x·Wgᵀ` as `linalg.matmul` (transposed B), in f32;
    * `moe.route` (token choice) then `moe.dispatch`, or `moe.expert_choice`;
    * `moe.expert_mlp` over the expert-major rows (with the routing weight as
      its input `scale` under `scale_expert_input`);
    * `moe.combine` back to token order (unweighted when the weight went to
      the input; `dropped` from the capacity attribute);
    * `moe.shared_mlp` plus `arith.addf` when the layer has a shared expert.

    Before:
    ```mlir
    %y = moe.layer %x router(%wg) experts(gate %g, up %u, down %d)
        {router = #moe.routing<top_k = 2, renormalize = true>} : ...
    ```
    After:
    ```mlir
    %l = linalg.matmul indexing_maps = [...] ins(%x, %wg : ...) outs(%zero : ...)
    %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2, renormalize = true>} : ...
    %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : ...
    %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) : ...
    %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) : ...
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def MoEFuseExperts : Pass<"moe-fuse-experts"> {
  let summary = "Fuse the expert FFN with its gather, its combine and the shared expert";
  let description = [{
    After `moe-decompose` a layer computes its experts on a gathered row
    bundle `[T·K,H]`, keeps their output `[T·K,H]` and scatters it back in
    `moe.combine`: two copies of the activations that a fused kernel never
    makes. This pass replaces `moe.expert_mlp` between a `moe.dispatch` (or
    `moe.expert_choice`) and its `moe.combine` by `moe.fused_experts`, which
    reads each row of the layer input through `row_token` and adds the
    weighted down projection into the output, and folds a `moe.shared_mlp`
    added to the result into the same op, so that lowering splits the
    columns of routed and shared experts among threads alike. The gather
    itself becomes dead and is removed once lowered.

    Left alone: a combine with `dropped = input` (its dropped rows pass the
    gathered input through), a sigmoid-gated shared expert (Qwen2-MoE), and
    anything whose operands do not come from one row bundle.

    Before:
    ```mlir
    %rows, %tok, %w, %off = moe.dispatch %x, %ids, %rw : ...
    %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) : ...
    %y = moe.combine %out tokens(%tok) weights(%w) offsets(%off) input(%x) : ...
    %s = moe.shared_mlp swiglu %x weights(gate %sg, up %su, down %sd) : ...
    %z = arith.addf %y, %s : tensor<?x64xf32>
    ```
    After:
    ```mlir
    %rows, %tok, %w, %off = moe.dispatch %x, %ids, %rw : ...
    %z = moe.fused_experts swiglu %x tokens(%tok) weights(%w) offsets(%off)
        experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd) : ...
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def MoEPackWeights : Pass<"moe-pack-weights", "::mlir::ModuleOp"> {
  let summary = "Pack the fused experts' weights into the micro-kernels' panels";
  let description = [{
    The packed micro-kernels read a weight `[N, K]` as panels of P
    columns, `[ceil(N/P), K, P]` (zero past N), so that each step of their
    register tile loads consecutive memory and needs no reduction across
    vector lanes. This pass gives every `moe.fused_experts` packed weights:

    * a weight the runtime binds (a public function's argument with a
      `moe.weight` name, used only as fused-expert weights) changes type
      and gets `moe.weight_pack = array<i64: dim, P>` (and, if it had
      none, `moe.weight_source_shape`: panels hide N's exact size): the
      runtime packs it once, at bind time, as `linalg.pack` would;
    * any other weight is packed where it is defined, by `linalg.pack`
      (lowered to loops by `convert-moe-to-linalg`).

    With `weight-type=bf16` the weights the runtime binds become bf16
    panels (the runtime rounds them to nearest even at bind time, or keeps
    a bf16 checkpoint's values): half the memory and half the bandwidth,
    which decode is bound by. Activations, products and sums stay f32, so
    the layer computes what it would in f32 on the rounded weights.
    Weights packed in the graph are rounded there (`arith.truncf`), so
    that every weight of an op has one element type.

    Before:
    ```mlir
    func.func @layer(%x: tensor<?x64xf32>, %up: tensor<8x128x64xf32> {moe.weight = "up.{e}"}, ...) {
      %y = moe.fused_experts gelu %x ... experts(up %up, down %down) : ...
    ```
    After:
    ```mlir
    func.func @layer(%x: tensor<?x64xf32>,
        %up: tensor<8x4x64x32xf32> {moe.weight = "up.{e}", moe.weight_pack = array<i64: 1, 32>,
                                    moe.weight_source_shape = array<i64: 8, 128, 64>}, ...) {
      %y = moe.fused_experts gelu %x ... experts(up %up, down %down) : ...
    ```
  }];
  let options = [
    // The default is the micro-kernels' width, 32 (MOE_UKERNEL_PANEL in
    // moe/Runtime/KernelABI.h, which Passes.h includes for the generated
    // options); moe-linalg-to-ukernels finds no kernel for other widths.
    Option<"panelWidth", "panel-width", "int64_t", "MOE_UKERNEL_PANEL",
           "Columns per panel (the kernels take only MOE_UKERNEL_PANEL, the default)">,
    Option<"weightType", "weight-type", "std::string", "\"f32\"",
           "Element type of the panels the runtime binds: f32 or bf16">,
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def MoELinalgToUkernels : Pass<"moe-linalg-to-ukernels", "::mlir::ModuleOp"> {
  let summary = "Call the project's f32 micro-kernels for x·Wᵀ and the moe kernel-level ops on buffers";
  let description = [{
    Every linear layer of an MoE block multiplies activations by a
    checkpoint weight in its `[out, in]` layout: `linalg.matmul` with a
    transposed B. Lowered to loops that is a scalar triple loop; this pass
    replaces such matmuls on f32 memrefs with unit inner strides by a call
    to `moe_ukernel_matmul_nt_f32`, and `moe.gather_gate_up` /
    `moe.down_scatter_add` on buffers by calls to
    `moe_ukernel_gather_gate_up_f32` / `moe_ukernel_down_scatter_add_f32`
    (lib/Runtime/Embedded/Ukernels.c: register-blocked AVX-512 kernels with
    a portable fallback), through the MLIR C interface, the way IREE calls
    its ukernels. An absent optional operand is passed as an empty buffer
    and a flag. It runs after bufferization and before linalg is lowered to
    loops; a matmul it does not match is lowered as before, a kernel-level
    op it cannot take is an error (they have no other lowering).

    Before:
    ```mlir
    linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                   affine_map<(m, n, k) -> (n, k)>,
                                   affine_map<(m, n, k) -> (m, n)>]
        ins(%x, %w : memref<?x64xf32, strided<[64, 1], offset: ?>>, memref<128x64xf32, ...>)
        outs(%y : memref<?x128xf32>)
    moe.down_scatter_add %a weights(down %d) tokens(%tok) row_weight(%w) outs(%out) : ...
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
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

def MoENumWorkersToOpenMP : Pass<"moe-num-workers-to-openmp", "::mlir::ModuleOp"> {
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

def MoERoutingStatsEntries : Pass<"moe-routing-stats-entries", "::mlir::ModuleOp"> {
  let summary = "Add a routing-statistics entry point next to each MoE layer";
  let description = [{
    Users of a compiled layer want to see how its router spreads their
    tokens (load per expert, balance, confidence, the aux loss) without a
    second implementation of the routing. For every public function holding
    one token-choice `moe.layer` whose router weight (and bias) are function
    arguments, this pass adds `@<name>_routing_stats` taking the same input
    and router weights (with their `moe.weight` names) and returning
    `tensor<(E+4)xf32>`: the load of each expert, then normalised entropy,
    largest share, mean router confidence and aux loss, as
    `moe.routing_stats` defines them. The new function is marked
    `moe.entry_kind = "routing_stats"` and `moe.stats_of = "<name>"`, so
    moe-compile exports it beside the forward entry.

    Before:
    ```mlir
    func.func @layer(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32> {moe.weight = "gate.weight"}, ...) {
      %y = moe.layer %x router(%wg) ... {router = #moe.routing<top_k = 2>}
    ```
    After, additionally:
    ```mlir
    func.func @layer_routing_stats(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32> {moe.weight = "gate.weight"})
        -> tensor<12xf32> attributes {moe.entry_kind = "routing_stats", moe.stats_of = "layer"} {
      %l = linalg.matmul ...
      %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2>} : ...
      %load, %h, %max, %conf, %aux = moe.routing_stats %l, %ids softmax : ...
      ...
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

#endif // MOE_TRANSFORMS_PASSES_TD
