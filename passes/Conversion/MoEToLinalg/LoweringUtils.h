//===- LoweringUtils.h - builders shared by the moe-to-linalg patterns ----===//
//
// Small IR builders the op-family lowerings share: sizes, filled tensors,
// transposed-B matmuls, elementwise generics (the activations are
// ActivationBuilder.h's) and the
// order-independent argmax that top-k selection is built from.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PASSES_CONVERSION_MOETOLINALG_LOWERINGUTILS_H
#define MOE_PASSES_CONVERSION_MOETOLINALG_LOWERINGUTILS_H

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Utils/ActivationBuilder.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::moe::lowering {

/// The sizes of a ranked tensor, static ones as attributes.
SmallVector<OpFoldResult> getSizes(ImplicitLocOpBuilder &b, Value tensor);

Value indexConstant(ImplicitLocOpBuilder &b, int64_t value);
Value f32Constant(ImplicitLocOpBuilder &b, float value);
Value i32Constant(ImplicitLocOpBuilder &b, int32_t value);

/// i32 <-> index casts.
Value toIndex(ImplicitLocOpBuilder &b, Value i32);
Value toI32(ImplicitLocOpBuilder &b, Value index);

/// A loop `for i in [0, upper)` carrying `iterArgs`; `body` returns the
/// next values.
ValueRange buildLoop(
    ImplicitLocOpBuilder &b, Value upper, ValueRange iterArgs,
    function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, Value, ValueRange)>
        body);

/// A tensor of `sizes` filled with the scalar `value`.
Value createFilled(ImplicitLocOpBuilder &b, ArrayRef<OpFoldResult> sizes,
                   Value value);

/// `lhs·rhsᵀ` for `lhs` `[m,k]` and `rhs` `[n,k]` into a fresh f32 `[m,n]`;
/// narrower inputs are extended by linalg.matmul itself.
Value createMatmulTransposeB(ImplicitLocOpBuilder &b, Value lhs, Value rhs);

using ScalarBody = function_ref<Value(ImplicitLocOpBuilder &, ValueRange)>;

/// An all-parallel linalg.generic over `init`'s shape. Each input is indexed
/// by the identity map, or by `inputMaps[i]` when given.
Value createElementwise(ImplicitLocOpBuilder &b, ValueRange inputs, Value init,
                        ScalarBody body, ArrayRef<AffineMap> inputMaps = {});


/// Replaces NaN by -inf so that selection order is total.
Value createNaNToMinusInf(ImplicitLocOpBuilder &b, Value values);

/// Reduces a `[T,N]` tensor into `init` with `combine(value, accumulator)`:
/// over N into `[T]`, or over T into `[N]` when `overRows`.
Value createReduction(
    ImplicitLocOpBuilder &b, Value input, Value init, bool overRows,
    function_ref<Value(ImplicitLocOpBuilder &, Value, Value)> combine);
/// `lhs + rhs`: the combiner of sums.
Value createAddF(ImplicitLocOpBuilder &b, Value lhs, Value rhs);

/// The largest value of each row of `values` `[T,N]` (f32), as `[T]`.
Value createRowMax(ImplicitLocOpBuilder &b, Value values);

/// Row-wise softmax of a `[T,N]` f32 tensor.
Value createSoftmax(ImplicitLocOpBuilder &b, Value logits);

/// `ceil(factor · count / numExperts)` as an index, computed in f64 in that
/// order (the reference's), for a run-time `count`.
Value createCapacity(ImplicitLocOpBuilder &b, Value count, double factor,
                     int64_t numExperts);

/// Whether (`value`, `index`) comes before (`other`, `otherIndex`) in the
/// selection order every top-k and rank here uses: the larger value first,
/// equal values by the lower index. Indices compare unsigned.
Value createComesBefore(ImplicitLocOpBuilder &b, Value value, Value index,
                        Value other, Value otherIndex);

/// For each row of `values` `[T,N]`, the index (i32 `[T]`) of the largest
/// value not among `excluded` (i32 `[T]` each), ties to the lower index.
/// The comparison is a total order, so the result does not depend on the
/// reduction's order.
Value createArgmaxExcluding(ImplicitLocOpBuilder &b, Value values,
                            ValueRange excluded);

/// `[T,H]` rows of f32, each a copy of `row` `[H]`, with T the row count
/// of `like` `[T,H]` (what an output bias starts every token from).
Value createBroadcastRows(ImplicitLocOpBuilder &b, Value row, Value like);

/// The optional biases of an FFN's linears: `gate`/`up` `[F]`, `down`
/// `[H]`, each null when absent.
struct FfnBiases {
  Value gate, up, down;
};

/// The FFN of DESIGN.md §4 on rows `[n,H]` with `gate`/`up` `[F,H]` and
/// `down` `[H,F]` (gate null when ungated), and `biases` added to the
/// projections, in f32; `clamp` is the op's `glu_clamp`.
Value createFfn(ImplicitLocOpBuilder &b, Activation activation,
                GluClampAttr clamp, Value rows, Value gate, Value up,
                Value down, const FfnBiases &biases = {});

/// `output + FFN(input)` for a dense FFN (`gate`/`up` `[F,H]`, `down`
/// `[H,F]`, gate null when ungated) on every row of `input` `[T,H]`, as the
/// kernel layer's ungrouped ops in the weights' row layout, so that a
/// target packs, tiles and lowers it as it does the experts.
Value addDenseFfnKernels(ImplicitLocOpBuilder &b, Activation activation,
                         GluClampAttr clamp, Value input, Value gate, Value up,
                         Value down, Value output);

/// Gathers rows of `source` `[T,H]` at `indices` (i32 `[R]`) into `[R,H]`.
Value createGatherRows(ImplicitLocOpBuilder &b, Value source, Value indices);

/// Rows `[first, first+count)` of matrix `index` of a stacked `[N,A,B]`
/// tensor, as an `[count,B]` slice.
Value extractStackedRows(ImplicitLocOpBuilder &b, Value stacked,
                         OpFoldResult index, OpFoldResult first,
                         OpFoldResult count);

/// `[start, end)` of expert `expert` (an index) from i32 `expert_offsets`,
/// as indices: the start and the row count.
std::pair<Value, Value> expertRowRange(ImplicitLocOpBuilder &b, Value offsets,
                                       Value expert);

using PartBody = function_ref<SmallVector<Value>(
    ImplicitLocOpBuilder &, Value first, Value count, ValueRange parts)>;

/// `body` on each part of dimension `dim` of `dests` (tensors of one extent
/// there), in parallel (scf.forall), its results inserted back in place;
/// returns the filled `dests`. There is one part per worker
/// (moe.num_workers), rounded up to a multiple of `granule`: the fewest
/// parts that keep every worker busy, so each does its share in one go.
/// A `fixedPartSize` of 1 makes one part per element of `dim` instead,
/// statically sized (what GPU threads want: no dynamic allocation).
SmallVector<Value> forEachWorkerPart(ImplicitLocOpBuilder &b, ValueRange dests,
                                     unsigned dim, int64_t granule,
                                     int64_t fixedPartSize, PartBody body);

/// Lowered tensors are dynamic where an op's results may be static (or the
/// other way round): reconcile with tensor.cast when the types differ.
Value castToType(ImplicitLocOpBuilder &b, Value value, Type type);

} // namespace mlir::moe::lowering

#endif // MOE_PASSES_CONVERSION_MOETOLINALG_LOWERINGUTILS_H
