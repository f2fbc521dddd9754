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

#endif // MOE_TRANSFORMS_PASSES_TD
