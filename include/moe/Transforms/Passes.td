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

def MoELinalgToUkernels : Pass<"moe-linalg-to-ukernels", "::mlir::ModuleOp"> {
  let summary = "Call the project's f32 matmul micro-kernel for x·Wᵀ on buffers";
  let description = [{
    Every linear layer of an MoE block multiplies activations by a
    checkpoint weight in its `[out, in]` layout: `linalg.matmul` with a
    transposed B. Lowered to loops that is a scalar triple loop; this pass
    replaces such matmuls on f32 memrefs with unit inner strides by a call
    to `moe_ukernel_matmul_nt_f32` (lib/Runtime/Embedded/MatmulUkernel.c, a
    register-blocked AVX-512 kernel with a portable fallback) through the
    MLIR C interface, the way IREE calls its ukernels. It runs after
    bufferization and before linalg is lowered to loops; anything it does
    not match is lowered as before.

    Before:
    ```mlir
    linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                   affine_map<(m, n, k) -> (n, k)>,
                                   affine_map<(m, n, k) -> (m, n)>]
        ins(%x, %w : memref<?x64xf32, strided<[64, 1], offset: ?>>, memref<128x64xf32, ...>)
        outs(%y : memref<?x128xf32>)
    ```
    After:
    ```mlir
    %a = memref.cast %x : ... to memref<?x?xf32, strided<[?, 1], offset: ?>>
    ...
    call @moe_ukernel_matmul_nt_f32(%a, %b, %c) : (...) -> ()
    ```
  }];
  let dependentDialects = [
    "::mlir::func::FuncDialect",
    "::mlir::memref::MemRefDialect",
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
