//===- Passes.td - moe conversion passes -------------------*- tablegen -*-===//
//
// Conversions out of the moe dialect. Flags are `convert-moe-to-*`.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_PASSES_TD
#define MOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMoEToLinalg : Pass<"convert-moe-to-linalg"> {
  let summary = "Lower the moe stages to linalg, scf, arith, math and tensor";
  let description = [{
    The first step of every code-generation path: after it, only upstream
    dialects and the moe kernel layer (`moe.gather_gate_up`,
    `moe.down_scatter_add`, which tile through TilingInterface) remain, on
    tensors, so upstream tiling, vectorisation and bufferisation apply.
    `moe.layer` is decomposed on the way.

    * `moe.route`: scores (softmax or sigmoid), the bias, group masks and
      each of the K picks are `linalg.generic` ops. A pick is an argmax
      reduction under a total order (larger value, then lower index; NaN
      counts as -inf), so it is independent of the reduction's order.
      They run in one `scf.forall` over parts of the tokens, each part
      computing its own rows of the router GEMM that produced the logits
      (unless `fuse-router-gemm=false`).
    * `moe.expert_choice`: softmax, then each token's rank per expert as a
      reduction over tokens; rank < C places the token at row `e·C + rank`
      (a scatter in `scf.for` loops; with `parallel-dispatch` a gather
      instead: row (e, c) finds the token of rank c, the same results).
    * `moe.dispatch`: counting, prefix sums and the scatter of slots to rows
      are `scf.for` loops on tensors; with `parallel-dispatch` they are
      `linalg.generic` ops instead (bucket counts per chunk of 256 slots,
      their sums as masked reductions, then a gather over rows where each
      row finds its slot by binary search and a scan of one chunk), with
      the same results. Rows are gathered by a `linalg.generic`. Capacity
      and both drop orders are handled here.
    * `moe.expert_mlp`: a loop over experts, each a pair of transposed-B
      `linalg.matmul` ops on the expert's contiguous rows with the activation
      between them as a `linalg.generic`.
    * `moe.combine`: a scatter-add loop; `moe.shared_mlp`: one dense FFN.
    * `moe.fused_experts`: one grouped `moe.gather_gate_up` over every kept
      row (gather, input scaling and activation fused) and one grouped
      `moe.down_scatter_add` (weighted scatter-add into the tokens), plus
      the shared expert's, in the weights' own layout; how they are split
      among threads or blocks is the target's (CPU: `moe-cpu-*`).
    * `moe.routing_stats`: a counting loop for the load, reductions for the
      router probabilities, and a loop over experts for the scalars.

    Activations must be f32 today (weights may be narrower: the matmuls
    extend them). Communication ops are left as they are.
  }];
  let options = [
    Option<"tokensPerPart", "tokens-per-part", "int64_t", /*default=*/"0",
           "Tokens of each parallel part of the routing: 0 splits them "
           "evenly among the workers (moe.num_workers: CPU threads); 1 "
           "gives every token a part of its own, of static size, which "
           "the CUDA target maps to one GPU thread">,
    Option<"parallelDispatch", "parallel-dispatch", "bool", /*default=*/"false",
           "moe.dispatch's permutation as parallel ops (chunked bucket "
           "counts, then each row finding its slot) instead of serial "
           "loops over the slots, and expert choice's rows as a gather "
           "instead of a scatter: the same bits; the CUDA target's">,
    Option<"fuseRouterGemm", "fuse-router-gemm", "bool", /*default=*/"true",
           "Compute each routing part's router logits inside the part (the "
           "GEMM fused into the loop); off keeps the router GEMM a whole "
           "linalg.matmul marked `moe.router_gemm`, which the CUDA target "
           "generates a warp-parallel kernel for">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
  ];
}
def ConvertMoEToRuntime : Pass<"convert-moe-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lower the exchanges between ranks to calls of the runtime's communicator";
  let description = [{
    After bufferization, `moe.exchange_counts`, `moe.exchange_rows` and
    its asynchronous form (`moe.exchange_rows_start`, `moe.exchange_wait`) on
    buffers become calls of the embedded runtime (`Exchange.c`; symbols
    and signatures in `moe/Runtime/KernelABI.h`), which move the bytes
    through the `moe_communicator` the library's context gave (MPI on the
    CPU); `moe.rank` becomes the communicator's rank. Buffers are passed as
    addresses (row-major; a strided one is copied first), with the rank and
    slot counts and the bytes of a row.

    Before:
    ```mlir
    moe.exchange_rows %rows, %sc, %rc, %recv
        : (memref<?x64xf32>, memref<2x4xi32>, memref<2x4xi32>, memref<?x64xf32>) -> ()
    ```
    After:
    ```mlir
    %p = memref.extract_aligned_pointer_as_index %rows : memref<?x64xf32> -> index
    ...
    call @moe_rt_exchange_rows(%rows_addr, %sc_addr, %recv_addr, %rc_addr, %c2, %c4, %c256)
        : (i64, i64, i64, i64, i64, i64, i64) -> ()
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::memref::MemRefDialect",
  ];
}

#endif // MOE_CONVERSION_PASSES_TD
