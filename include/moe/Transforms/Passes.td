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
    * `moe.shared_mlp` plus `arith.addf` when the layer has a shared expert
      (and `arith.mulf` by a `linalg.fill` of 0.5 when it averages them).

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
    "::mlir::math::MathDialect",
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

    A combine with `dropped = input` (dropped slots, zero experts) fuses
    too: the fused op keeps `dropped = input` and adds those rows' weighted
    input from the layer input. Left alone: a sigmoid-gated shared expert
    (Qwen2-MoE), and anything whose operands do not come from one row
    bundle.

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

def MoEPhaseMarks : Pass<"moe-phase-marks", "::mlir::ModuleOp"> {
  let summary = "Mark where a layer's dispatch, experts and combine begin, for timing";
  let description = [{
    A forward of one process has no exchanges to time it by, so nothing
    says how long its routing, dispatch, experts and combine took. This
    pass inserts, in each public function holding one MoE layer and no
    expert parallelism (after `moe-decompose` and `moe-fuse-experts`), a
    call to the embedded runtime's `moe_rt_phase_mark(phase)` before the
    first op of each phase: the dispatch (`moe.dispatch`,
    `moe.expert_choice`, `moe.soft_dispatch`: phase 1), the experts
    (`moe.expert_mlp`, `moe.fused_experts`: phase 2) and the combine
    (`moe.combine`, `moe.soft_combine`, or the first op after fused experts:
    phase 4), with the phase numbers of `MOE_PHASE_*` (moe_runtime.h:
    route 0 and the combine 4; a single process's dispatch takes the
    exchange's slot 1). The entry wrapper then brackets the call with
    `moe_rt_forward_begin`/`_end` and writes the phases for a caller that
    asks (`moe_forward_args.phase_seconds`). Calls have effects: the ops of
    each phase stay between its marks through lowering and bufferization.
    A function without those ops, or with `moe.ep_size` (its exchanges
    time it), is left alone.

    ```mlir
    %ids, %w = moe.route ...
    func.call @moe_rt_phase_mark(%c1) : (i32) -> ()
    %rows, %tok, %rw, %off = moe.dispatch ...
    func.call @moe_rt_phase_mark(%c2) : (i32) -> ()
    %y = moe.fused_experts ...
    func.call @moe_rt_phase_mark(%c4) : (i32) -> ()
    return %y
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::func::FuncDialect"];
}

def MoERoutingStatsEntries : Pass<"moe-routing-stats-entries", "::mlir::ModuleOp"> {
  let summary = "Add a routing-statistics entry point next to each MoE layer";
  let description = [{
    Users of a compiled layer want to see how its router spreads their
    tokens (load per expert, balance, confidence, the aux loss) without a
    second implementation of the routing. For every public function holding
    one token-choice `moe.layer` whose router weight (and bias) are function
    arguments (not routed by token id: that would need the ids too), this
    pass adds `@<name>_routing_stats` taking the same input
    and router weights (with their `moe.weight` names) and returning
    `tensor<(E+25)xf32>` (moe_runtime.h's layout): the load of each expert,
    then normalised entropy, largest share, mean router confidence and aux
    loss, as `moe.routing_stats` defines them, then the upper edge R of the
    routing-weight histogram (the routing's `scaling_factor`, 1 without
    one) and the histogram's 20 bins over `[0, R]`. With `zero_experts = Z` the
    statistics cover every routed id: E is then E + Z, the identity experts
    counted as ids E..E+Z-1. The new function is marked
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
        -> tensor<33xf32> attributes {moe.entry_kind = "routing_stats", moe.stats_of = "layer"} {
      %l = linalg.matmul ...
      %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2>} : ...
      %load, %h, %max, %conf, %aux, %hist = moe.routing_stats %l, %ids, %w softmax : ...
      ...
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect",
  ];
}
def MoEExpertParallel : Pass<"moe-expert-parallel", "::mlir::func::FuncOp"> {
  let summary = "Shard the experts of each MoE layer over ranks and exchange their rows";
  let description = [{
    Expert parallelism: each of `ep-size` ranks holds some of a layer's
    experts (the `placement`: `contiguous` blocks, `round-robin`, or a JSON
    file `{"experts": E, "ranks": [[...], ...]}` that may replicate
    experts), routes its own share of the tokens, sends each (token, expert)
    row to the rank computing it, computes the rows it receives, and sends
    the results back to be combined. Runs after `moe-decompose`, on a
    `moe.route`, `moe.dispatch`, `moe.expert_mlp`, `moe.combine` chain whose
    expert weights are function arguments: they become each rank's `[G,...]`
    experts (`G` the most a rank holds), marked `moe.placement` for the
    loader, which binds the rank's own experts only. The function is marked
    `moe.ep_size`.

    The rewrite: `moe.place` maps the routed experts to physical experts
    (rank, slot; a replicated expert's tokens alternate over its replicas);
    the dispatch sorts rows by them, so its offsets give the send counts
    `[N,G]`; `moe.all_to_all` delivers the rows, `moe.received_order` puts
    them in slot order for a `moe.fused_experts` on the local experts, and a
    second `moe.all_to_all` returns the results in the dispatch's order for
    the combine. With `scale_expert_input` (Llama 4) the routing weights
    travel with the rows.

    Refused with an error: an ep-size or placement that cannot serve the
    layer (more ranks than experts without replicas, a placement of another
    expert count or rank count), expert-choice routing, expert weights that
    are not function arguments, and a capacity unless every rank holds
    exactly `E/N` experts without replicas (a rank then drops per expert as
    a single process would on its tokens alone).

    Before:
    ```mlir
    %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2>} : ...
    %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : ...
    %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) : ...
    %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) : ...
    ```
    After (`ep-size=2`, 8 experts):
    ```mlir
    %r = moe.rank
    %w, %ids = moe.route %l {routing = #moe.routing<top_k = 2>} : ...
    %p = moe.place %ids rank(%r) {placement = #moe.placement<...>} : ...
    %rows, %tok, %rw, %off = moe.dispatch %x, %p, %w : ... tensor<9xi32>
    %sc = tensor.generate { ... %off[n*4+g+1] - %off[n*4+g] ... } : tensor<2x4xi32>
    %in, %rc = moe.all_to_all %rows, %sc : ...
    %order, %loff = moe.received_order %rc : ...
    %o = moe.fused_experts swiglu %in tokens(%order) offsets(%loff) experts(gate %g, up %u, down %d) : ...
    %back, %c = moe.all_to_all %o, %rc : ...
    %y = moe.combine %back tokens(%tok) weights(%rw) offsets(%off) input(%x) : ...
    ```
  }];
  let options = [
    Option<"epSize", "ep-size", "int64_t", "1",
           "ranks of expert parallelism (1: leave the function alone)">,
    Option<"placementSpec", "placement", "std::string", "\"contiguous\"",
           "contiguous, round-robin, or a placement JSON file">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect",
  ];
}
def MoEScheduleComm : Pass<"moe-schedule-comm", "::mlir::func::FuncOp"> {
  let summary = "Overlap the exchanges of expert parallelism with expert compute";
  let description = [{
    After `moe-expert-parallel` a layer exchanges all its rows, computes its
    experts, and exchanges the results back: the link and the cores take
    turns. This pass splits the rank's tokens into `chunks` parts (the first
    `T mod C` one token longer) and pipelines them: the rows of chunk i+1
    travel (`moe.all_to_all_start` ... `moe.all_to_all_wait`) while the
    experts of chunk i compute, and the results of chunk i travel back while
    chunk i+1 computes; each chunk's combine writes its tokens of the
    output. A token's result does not depend on the chunking (rows are
    computed one by one and combined in slot order). Every rank issues the
    same exchanges in the same order, whatever its token count. `chunks=1`
    leaves the function alone; `chunks=0` lets the expert-parallel cost
    model (`moe/Parallel/CostModel.h`, what `moe-plan cost` runs) pick the C
    in [1, 16] it predicts fastest for the layer's shape and placement, the
    expected tokens per rank, the link and the rank's compute rate.

    Before (one chunk, from moe-expert-parallel):
    ```mlir
    %rows, %tok, %rw, %off = moe.dispatch %x, %p, %w : ...
    %in, %rc = moe.all_to_all %rows, %sc : ...
    %o = moe.fused_experts ... %in ...
    %back, %c = moe.all_to_all %o, %rc : ...
    %y = moe.combine %back ... input(%x) : ...
    ```
    After (`chunks=2`): the dispatch of both chunks, then
    ```mlir
    %h0 = moe.all_to_all_start %rows0, %sc0 : !moe.exchange<...>
    %in0, %rc0 = moe.all_to_all_wait %h0 : ...
    %h1 = moe.all_to_all_start %rows1, %sc1 : ...   // in flight while chunk 0 computes
    %o0 = moe.fused_experts ... %in0 ...
    %b0 = moe.all_to_all_start %o0, %rc0 : ...
    %in1, %rc1 = moe.all_to_all_wait %h1 : ...
    %o1 = moe.fused_experts ... %in1 ...
    %b1 = moe.all_to_all_start %o1, %rc1 : ...
    %back0, %c0 = moe.all_to_all_wait %b0 : ...
    %y0 = moe.combine %back0 ... input(%x0) : ...
    %back1, %c1 = moe.all_to_all_wait %b1 : ...
    %y1 = moe.combine %back1 ... input(%x1) : ...
    ```
    and the chunks' outputs inserted into one `[T,H]` result.
  }];
  let options = [
    Option<"chunks", "chunks", "int64_t", "1",
           "parts each rank's tokens are pipelined in (1: no overlap; 0: "
           "the cost model's choice for the options below)">,
    Option<"tokensPerRank", "tokens-per-rank", "int64_t", "256",
           "with chunks=0: the tokens a rank is expected to hold">,
    Option<"link", "link", "std::string", "\"shm\"",
           "with chunks=0: the link between the ranks, a moe-plan preset "
           "(nvlink, infiniband, pcie, shm)">,
    Option<"flops", "flops", "double", "1.0e11",
           "with chunks=0: one rank's expert FLOP/s (default: a core of "
           "this project's CPU machines, bench/RESULTS.md)">,
    Option<"memBandwidth", "mem-bandwidth", "double", "2.0e10",
           "with chunks=0: one rank's weight-read bytes/s">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def MoEBF16IOEntries : Pass<"moe-bf16-io-entries", "::mlir::ModuleOp"> {
  let summary = "Give each entry point a twin taking and returning bf16 activations";
  let description = [{
    PyTorch callers hold bf16 activations; the layers compute on f32 rows
    (f32 accumulation). So that a compiled library takes bf16 in and out
    (`moe_forward_args.io_dtype = MOE_DTYPE_BF16`) without conversions
    written by hand in its entry wrappers, this pass adds, next to every
    public function with a body and one `memref<?xHxf32>` argument (the
    activation input of a bufferized entry point), a private twin
    `@<name>_bf16_io`: the same arguments with the input as
    `memref<?xHxbf16>`, which it widens exactly into a new buffer
    (`arith.extf` in a `linalg.generic`), then a `func.call` of the f32
    function (the layer's code stays one copy), and, when the result is
    `memref<?xHxf32>`, the result narrowed to bf16 into a new buffer
    (`arith.truncf`: round to nearest even). Other results (routing
    statistics) are returned as they are. The twin is marked
    `llvm.emit_c_interface` and `moe.bf16_io_of = "<name>"`; the entry
    wrappers call it when the caller asks for bf16.

    It runs after `moe-bufferize`, and frees its buffers itself: the widened
    input after the call, the f32 result after narrowing (a public
    function's result is its caller's, never one of its arguments, under
    ownership-based deallocation). Before bufferization the deallocation
    pass cannot tell that the call's result is not its argument and frees
    both through run-time alias checks, which on CUDA would put frees in
    kernels. The conversions are element-wise linalg ops on buffers, which
    the CPU lowers to vectorisable loops and `moe-cuda-map-to-kernels` to
    GPU launches. A twin name that is taken already is an error.

    With `expand-bf16`, the twins' conversions are expanded to integer
    arithmetic (bit casts and shifts; rounding to nearest even as
    arith.truncf does): for CPU code, where LLVM lowers an f32 to bf16
    truncation without AVX512-BF16 to a call of `__truncsfbf2`, which the
    libraries do not link.

    After, additionally:
    ```mlir
    func.func private @layer_bf16_io(%x: memref<?x64xbf16>, %w: memref<8x64xf32>)
        -> memref<?x64xbf16> attributes {llvm.emit_c_interface, moe.bf16_io_of = "layer"} {
      %wide = memref.alloc(%n) : memref<?x64xf32>
      linalg.generic ... ins(%x : memref<?x64xbf16>) outs(%wide : memref<?x64xf32>) {
        arith.extf ...
      %y = call @layer(%wide, %w) : ...
      memref.dealloc %wide : memref<?x64xf32>
      %narrow = memref.alloc(%m) : memref<?x64xbf16>
      linalg.generic ... ins(%y : memref<?x64xf32>) outs(%narrow : memref<?x64xbf16>) {
        arith.truncf ...
      memref.dealloc %y : memref<?x64xf32>
      return %narrow : memref<?x64xbf16>
    ```
  }];
  let options = [
    Option<"expandBF16", "expand-bf16", "bool", /*default=*/"false",
           "expand the bf16 conversions to integer arithmetic (CPU)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::memref::MemRefDialect"
  ];
}

#endif // MOE_TRANSFORMS_PASSES_TD
