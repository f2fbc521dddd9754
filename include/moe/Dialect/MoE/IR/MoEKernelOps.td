//===- MoEKernelOps.td - target-neutral expert kernels -----*- tablegen -*-===//
//
// The kernel layer between the graph ops (MoEOps.td) and a target: the two
// halves of a group of expert FFNs, with the token gather, the input
// scaling and the activation fused into the first and the weighted
// scatter-add into tokens fused into the second; and the exchanges of rows
// between ranks. convert-moe-to-linalg makes them of moe.fused_experts and
// moe.all_to_all; each target tiles the kernels (TilingInterface) and lowers
// the tiles its own way (CPU: moe-cpu-* passes); convert-moe-to-runtime
// turns the exchanges into calls of the runtime's communicator.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEKERNELOPS_TD
#define MOE_DIALECT_MOE_IR_MOEKERNELOPS_TD

include "moe/Dialect/MoE/IR/MoEBase.td"
include "moe/Dialect/MoE/IR/MoEAttrs.td"
include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/TilingInterface.td"

// Destination-style and bufferizable, on tensors or on buffers (then without
// results), like linalg ops; tileable on tensors.
class MoE_KernelOp<string mnemonic, list<Trait> traits = []>
    : MoE_Op<mnemonic, !listconcat(traits, [
        AttrSizedOperandSegments,
        DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
        DestinationStyleOpInterface,
        DeclareOpInterfaceMethods<TilingInterface,
            ["getIterationDomain", "getLoopIteratorTypes",
             "getTiledImplementation", "getResultTilePosition"]>,
        DeclareOpInterfaceMethods<BufferizableOpInterface,
            ["bufferizesToMemoryRead", "bufferizesToMemoryWrite",
             "getAliasingValues", "bufferize"]>])> {
  let results = (outs Variadic<AnyRankedTensor>:$result);
  let extraClassDeclaration = [{
    MutableOperandRange getDpsInitsMutable() {
      return MutableOperandRange(getInitMutable());
    }
    /// Whether rows belong to experts by `expert_offsets` (weights stacked
    /// `[E, ...]`) rather than all to one weight.
    bool isGrouped() { return static_cast<bool>(getExpertOffsets()); }
    int64_t getNumExperts() {
      return isGrouped()
                 ? ::llvm::cast<::mlir::ShapedType>(
                       getExpertOffsets().getType()).getDimSize(0) - 1
                 : 1;
    }
  }];
}

def MoE_GatherGateUpOp : MoE_KernelOp<"gather_gate_up"> {
  let summary = "activated gate/up projections of rows gathered by token";
  let description = [{
    `init[r, j] = act(s_r · (x[t_r]·gate[j]), s_r · (x[t_r]·up[j]))` for
    each row `r` of `init` `[R,N]`, with `t_r = row_token[r]` (or `r`
    without `row_token`) and `s_r = scale[r]` (or 1). `gate` is present
    exactly for the gated activations, `glu_clamp` exactly for
    `clamped_swiglu` (act as in `moe.expert_mlp`). With `gate_bias` (gated
    only) or `up_bias`, `[N]` or stacked `[E,N]` f32, their column `j` is
    added to the scaled projection before the activation. This is the first half of an expert
    FFN with the token gather in its prologue and the input scaling and the
    activation in its epilogue. `init` is overwritten, not read.

    Grouped (with `offsets`, `[E+1]` prefix sums): row `r` in
    `[offsets[e], offsets[e+1])` uses expert `e`'s weights, which are
    stacked first (`[E, ...]`); rows outside every group are left as they
    are. Without `offsets` every row uses the one weight.

    `layout` says how the weights are held (`#moe.weight_layout`): rows
    `[N,H]` or panels `[ceil(N/P),H,P]`, stacked `[E,...]` when grouped, in
    f32, bf16 or f16; the sums are f32.

    Tiling (TilingInterface): the iteration domain is `[R, C]`, rows by
    column units (`C = N` for rows, `ceil(N/P)` panels for panels), both
    parallel. A column tile slices the weights; a row tile slices `init`,
    `row_token`, `scale` (and `input` without `row_token`) and shifts the
    offsets into the tile.

    Example:
    ```mlir
    %a = moe.gather_gate_up swiglu %x tokens(%tok) offsets(%off)
        weights(gate %g, up %u) layout <rows> outs(%init)
        : (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>,
           tensor<8x32x64xf32>, tensor<8x32x64xf32>, tensor<?x32xf32>)
        -> tensor<?x32xf32>
    ```
  }];
  let arguments = (ins
    AnyShaped:$input,
    Optional<AnyShaped>:$row_token,
    Optional<AnyShaped>:$scale,
    Optional<AnyShaped>:$expert_offsets,
    Optional<AnyShaped>:$gate,
    AnyShaped:$up,
    AnyShaped:$init,
    Optional<AnyShaped>:$gate_bias,
    Optional<AnyShaped>:$up_bias,
    MoE_ActivationAttr:$activation,
    MoE_WeightLayoutAttr:$layout,
    OptionalAttr<MoE_GluClampAttr>:$glu_clamp
  );
  let assemblyFormat = [{
    $activation $input (`tokens` `(` $row_token^ `)`)?
    (`scale` `(` $scale^ `)`)? (`offsets` `(` $expert_offsets^ `)`)?
    `weights` `(` custom<GateUpWeights>($gate, $up)
        `` custom<GateUpBiases>($gate_bias, $up_bias) `)` `layout` $layout
    `outs` `(` $init `)` attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def MoE_DownScatterAddOp : MoE_KernelOp<"down_scatter_add"> {
  let summary = "down projection of rows, weighted and added into their tokens";
  let description = [{
    `init[t_r, j] += w_r · (rows[r]·down[j] + b[j])` for each row `r` of
    `rows` `[R,F]`, with `t_r = row_token[r]` (or `r`), `w_r =
    row_weight[r]` (or 1) and `b` the optional `down_bias` `[N]` (stacked
    `[E,N]` when grouped, f32; else 0); `init` is `[T,N]`. Rows of one group (or all rows, ungrouped)
    name distinct tokens, and rows are added in row order, so each output
    element is summed in the same order whatever the tiling. This is the
    second half of an expert FFN with the weighted combine in its epilogue.

    Grouped (with `offsets`): row `r` in `[offsets[e], offsets[e+1])` uses
    expert `e`'s weights, stacked first; rows outside every group add
    nothing. `layout` is as for `moe.gather_gate_up`.

    Tiling: the domain is `[R, C]` (C as for `moe.gather_gate_up`); columns
    are parallel, rows a reduction into the tokens when `row_token` is
    given (a row tile updates all of `init`'s rows), else parallel.

    Example:
    ```mlir
    %y = moe.down_scatter_add %a offsets(%off) weights(down %d) tokens(%tok)
        row_weight(%w) layout <panels = 32> outs(%acc)
        : (tensor<?x128xf32>, tensor<9xi32>, tensor<8x1x128x32xbf16>,
           tensor<?xi32>, tensor<?xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins
    AnyShaped:$rows,
    Optional<AnyShaped>:$expert_offsets,
    AnyShaped:$down,
    Optional<AnyShaped>:$row_token,
    Optional<AnyShaped>:$row_weight,
    AnyShaped:$init,
    Optional<AnyShaped>:$down_bias,
    MoE_WeightLayoutAttr:$layout
  );
  let assemblyFormat = [{
    $rows (`offsets` `(` $expert_offsets^ `)`)? `weights` `(` `down` $down
        (`,` `down_bias` $down_bias^)? `)`
    (`tokens` `(` $row_token^ `)`)? (`row_weight` `(` $row_weight^ `)`)?
    `layout` $layout `outs` `(` $init `)`
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Exchanges between ranks
//===----------------------------------------------------------------------===//

// Destination-style and bufferizable like the kernels; every one is a
// collective that each rank runs in program order, so it has an effect on
// the exchange resource on tensors too (never erased, merged or reordered).
// `returning` marks the exchanges that return expert results (the
// combine's), which the runtime times apart.
class MoE_ExchangeOp<string mnemonic, list<Trait> traits = []>
    : MoE_Op<mnemonic, !listconcat(traits, [
        DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
        DestinationStyleOpInterface,
        DeclareOpInterfaceMethods<BufferizableOpInterface,
            ["bufferizesToMemoryRead", "bufferizesToMemoryWrite",
             "getAliasingValues", "bufferize"]>])> {
  let results = (outs Variadic<AnyRankedTensor>:$result);
  let extraClassDeclaration = [{
    MutableOperandRange getDpsInitsMutable() {
      return MutableOperandRange(getInitMutable());
    }
  }];
  let assemblyFormat = [{
    operands attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def MoE_ExchangeCountsOp : MoE_ExchangeOp<"exchange_counts"> {
  let summary = "all-to-all of the row counts of an exchange";
  let description = [{
    Every rank sends row `n` of `send_counts` `[N,G]` to rank `n` and
    receives rank `n`'s row for it into row `n` of `init` `[N,G]` (i32):
    what `moe.all_to_all` does first, so that each rank can size its
    receive buffer. Lowering calls the runtime's communicator.

    Example:
    ```mlir
    %rc = moe.exchange_counts %sc, %init
        : (tensor<4x2xi32>, tensor<4x2xi32>) -> tensor<4x2xi32>
    ```
  }];
  let arguments = (ins AnyShaped:$send_counts, AnyShaped:$init,
                       UnitAttr:$returning);
}

def MoE_ExchangeRowsOp : MoE_ExchangeOp<"exchange_rows"> {
  let summary = "all-to-all-v of rows between ranks";
  let description = [{
    `rows` `[R,H]` are sorted by destination rank; the first
    `Σ_g send_counts[n][g]` rows after those of the ranks before `n` go to
    rank `n`. `init` `[R',H]` receives, in source-rank order,
    `Σ_g received_counts[n][g]` rows from each rank `n`
    (`received_counts` is what `moe.exchange_counts` returned, and `R'`
    their sum). Rows past the sent ones are not read.

    Example:
    ```mlir
    %r = moe.exchange_rows %rows, %sc, %rc, %init
        : (tensor<?x64xf32>, tensor<4x2xi32>, tensor<4x2xi32>,
           tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins AnyShaped:$rows, AnyShaped:$send_counts,
                       AnyShaped:$received_counts, AnyShaped:$init,
                       UnitAttr:$returning);
}

def MoE_ExchangeRowsStartOp : MoE_ExchangeOp<"exchange_rows_start"> {
  let summary = "start an all-to-all-v of rows (the asynchronous form)";
  let description = [{
    Starts what `moe.exchange_rows` does and returns at once; the rows
    arrive in `init` once `moe.exchange_wait` on its result returns, and
    neither `rows` nor `init` may be touched before. Compute placed between
    the two overlaps the exchange. The runtime knows the exchange by its
    receive buffer.

    Example:
    ```mlir
    %r = moe.exchange_rows_start %rows, %sc, %rc, %init
        : (tensor<?x64xf32>, tensor<4x2xi32>, tensor<4x2xi32>,
           tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins AnyShaped:$rows, AnyShaped:$send_counts,
                       AnyShaped:$received_counts, AnyShaped:$init,
                       UnitAttr:$returning);
}

def MoE_ExchangeWaitOp : MoE_ExchangeOp<"exchange_wait"> {
  let summary = "complete an all-to-all-v of rows";
  let description = [{
    Waits for the exchange started with receive buffer `init` (the result
    of `moe.exchange_rows_start`) and returns it filled. `rows` are the
    rows that exchange sends: an operand so that they stay alive, and
    unchanged, until the exchange completes.

    Example:
    ```mlir
    %done = moe.exchange_wait %rows, %r
        : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins AnyShaped:$rows, AnyShaped:$init);
}

#endif // MOE_DIALECT_MOE_IR_MOEKERNELOPS_TD
