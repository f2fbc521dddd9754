//===- FusedExpertsToLinalg.cpp - moe.fused_experts to kernel-level ops ---===//
//
// moe.fused_experts becomes two phases, each an scf.forall over column
// chunks of a projection's output with the experts in order inside:
//
//  1. `[rows, F]` activations: per chunk of F, per expert, one
//     moe.gather_gate_up on the expert's rows (read from the layer input
//     through row_token); the shared expert likewise on all tokens;
//  2. the output `[T,H]`: per chunk of H, per expert, one
//     moe.down_scatter_add of the expert's activations into its tokens,
//     then the shared expert's.
//
// Splitting columns rather than experts keeps the threads' work equal
// however the router spread the tokens, lets the shared expert use every
// thread, and gives each thread its own output columns: the scatter-add
// needs no atomics, and each output element is summed in expert order
// whatever the thread count. Each worker gets one chunk (moe.num_workers).
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "moe/Conversion/MoEToLinalg.h"
#include "moe/Runtime/KernelABI.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {
/// Column chunks are multiples of this: the kernels' tile of two panels
/// (gated: a gate and an up panel).
constexpr int64_t kColumnGranule = 2 * MOE_UKERNEL_PANEL;

using ChunkBody = function_ref<Value(ImplicitLocOpBuilder &, Value first,
                                     Value count, Value chunk)>;

/// `body` on each column chunk of `dest` `[R,N]`, in parallel, one chunk
/// per worker in multiples of kColumnGranule (forEachWorkerPart): a kernel
/// call then covers as many columns as it can, so it reads its rows once
/// for all of them and prefetches each next panel pair while it computes
/// (measured on one core: DeepSeek-style down projection 109 → 131
/// GFLOP/s from 64- to 512-column chunks).
Value forEachColumnChunk(ImplicitLocOpBuilder &b, Value dest, ChunkBody body) {
  return forEachWorkerPart(b, dest, /*dim=*/1, kColumnGranule,
                           [&](ImplicitLocOpBuilder &nb, Value first,
                               Value count, ValueRange parts) {
                             return SmallVector<Value>{
                                 body(nb, first, count, parts[0])};
                           })
      .front();
}

/// `body(expert, start, count, acc)` for each expert in order, threading
/// `init` through (scf.for).
Value forEachExpert(
    ImplicitLocOpBuilder &b, Value offsets, int64_t numExperts, Value init,
    function_ref<Value(ImplicitLocOpBuilder &, Value, Value, Value, Value)>
        body) {
  Location loc = b.getLoc();
  auto loop = scf::ForOp::create(
      b, indexConstant(b, 0), indexConstant(b, numExperts), indexConstant(b, 1),
      ValueRange{init},
      [&](OpBuilder &nested, Location, Value expert, ValueRange args) {
        ImplicitLocOpBuilder nb(loc, nested);
        auto [start, count] = expertRowRange(nb, offsets, expert);
        scf::YieldOp::create(nb, body(nb, expert, start, count, args[0]));
      });
  return loop.getResult(0);
}

Value slice1D(ImplicitLocOpBuilder &b, Value value, Value start, Value count) {
  if (!value)
    return Value();
  return tensor::ExtractSliceOp::create(
      b, value, ArrayRef<OpFoldResult>{start}, ArrayRef<OpFoldResult>{count},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
}

Value rowsSlice(ImplicitLocOpBuilder &b, Value value, Value start,
                Value count) {
  return tensor::ExtractSliceOp::create(
      b, value, ArrayRef<OpFoldResult>{start, b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{count, getSizes(b, value)[1]},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
}

/// The panels holding rows `[first, first+count)` of a packed weight
/// `[(E,) ceil(N/P), K, P]` (of expert `expert` when stacked), as
/// `[ceil(count/P), K, P]`; `first` is a multiple of P (the column chunks
/// are).
Value panelSlice(ImplicitLocOpBuilder &b, Value packed, Value expert,
                 Value first, Value count) {
  auto type = cast<RankedTensorType>(packed.getType());
  int64_t rank = type.getRank(), depth = type.getDimSize(rank - 2),
          panel = type.getDimSize(rank - 1);
  Value panelWidth = indexConstant(b, panel);
  SmallVector<OpFoldResult> offsets, sizes;
  if (expert) {
    offsets.push_back(expert);
    sizes.push_back(b.getIndexAttr(1));
  }
  offsets.append({arith::DivUIOp::create(b, first, panelWidth).getResult(),
                  b.getIndexAttr(0), b.getIndexAttr(0)});
  sizes.append({arith::CeilDivUIOp::create(b, count, panelWidth).getResult(),
                b.getIndexAttr(depth), b.getIndexAttr(panel)});
  SmallVector<OpFoldResult> unit(rank, b.getIndexAttr(1));
  auto sliceType = RankedTensorType::get({ShapedType::kDynamic, depth, panel},
                                         type.getElementType());
  return tensor::ExtractSliceOp::create(b, sliceType, packed, offsets, sizes,
                                        unit);
}

/// Rows `[first, first+count)` of a dense `[N,B]` weight, or their panels
/// when packed.
Value weightRows(ImplicitLocOpBuilder &b, Value weight, Value first,
                 Value count) {
  if (!weight)
    return Value();
  if (cast<RankedTensorType>(weight.getType()).getRank() == 3)
    return panelSlice(b, weight, Value(), first, count);
  return rowsSlice(b, weight, first, count);
}

/// Rows `[first, first+count)` of expert `expert`'s matrix of a stacked
/// weight, or their panels when packed.
Value expertWeightRows(ImplicitLocOpBuilder &b, Value stacked, Value expert,
                       Value first, Value count) {
  if (!stacked)
    return Value();
  if (cast<RankedTensorType>(stacked.getType()).getRank() == 4)
    return panelSlice(b, stacked, expert, first, count);
  return extractStackedRows(b, stacked, expert, first, count);
}

Value emptyActivations(ImplicitLocOpBuilder &b, OpFoldResult rows,
                       int64_t width) {
  return tensor::EmptyOp::create(
      b, ArrayRef<OpFoldResult>{rows, b.getIndexAttr(width)}, b.getF32Type());
}

struct FusedExpertsOpLowering : OpRewritePattern<FusedExpertsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(FusedExpertsOp op,
                                PatternRewriter &rewriter) const override {
    // The kernels compute in f32; packed weights may be held in bf16.
    SmallVector<Value> weights = {op.getExpertGate(), op.getExpertUp(),
                                  op.getExpertDown(), op.getSharedGate(),
                                  op.getSharedUp(),   op.getSharedDown()};
    for (Value value : op->getOperands()) {
      auto type = dyn_cast<RankedTensorType>(value.getType());
      if (!type || !isa<FloatType>(type.getElementType()) ||
          type.getElementType().isF32())
        continue;
      if (!(op.isPacked() && type.getElementType().isBF16() &&
            llvm::is_contained(weights, value)))
        return rewriter.notifyMatchFailure(
            op, "only f32, and bf16 packed weights, lower");
    }
    // Packed column chunks start on a panel.
    if (op.isPacked() && kColumnGranule % op.getPanelWidth() != 0)
      return rewriter.notifyMatchFailure(
          op, "panel width does not divide the column chunk");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value input = op.getInput(), rowToken = op.getRowToken(),
          offsets = op.getExpertOffsets();
    Activation activation = op.getActivation();
    int64_t numExperts = op.getNumExperts();
    bool scaleInput = op.getScaleExpertInput();
    Value inputScale = scaleInput ? op.getRowWeight() : Value();
    Value outputWeight = scaleInput ? Value() : op.getRowWeight();

    // Phase 1: the gated activations of every kept row, then of every
    // token for the shared expert.
    Value routedAct = forEachColumnChunk(
        b, emptyActivations(b, getSizes(b, rowToken)[0], op.getFfnWidth()),
        [&](ImplicitLocOpBuilder &cb, Value first, Value width, Value chunk) {
          return forEachExpert(
              cb, offsets, numExperts, chunk,
              [&](ImplicitLocOpBuilder &eb, Value expert, Value start,
                  Value count, Value acc) -> Value {
                Value dest = rowsSlice(eb, acc, start, count);
                Value rows = GatherGateUpOp::create(
                                 eb, dest.getType(), input,
                                 slice1D(eb, rowToken, start, count),
                                 slice1D(eb, inputScale, start, count),
                                 expertWeightRows(eb, op.getExpertGate(),
                                                  expert, first, width),
                                 expertWeightRows(eb, op.getExpertUp(), expert,
                                                  first, width),
                                 dest, activation)
                                 .getResult()[0];
                return tensor::InsertSliceOp::create(
                    eb, rows, acc,
                    ArrayRef<OpFoldResult>{start, eb.getIndexAttr(0)},
                    getSizes(eb, rows),
                    ArrayRef<OpFoldResult>{eb.getIndexAttr(1),
                                           eb.getIndexAttr(1)});
              });
        });
    Value sharedAct;
    if (op.hasSharedExpert())
      sharedAct = forEachColumnChunk(
          b,
          emptyActivations(
              b, getSizes(b, input)[0],
              op.isPacked()
                  ? cast<RankedTensorType>(op.getSharedDown().getType())
                        .getDimSize(1)
                  : cast<RankedTensorType>(op.getSharedUp().getType())
                        .getDimSize(0)),
          [&](ImplicitLocOpBuilder &cb, Value first, Value width,
              Value chunk) -> Value {
            return GatherGateUpOp::create(
                       cb, chunk.getType(), input, Value(), Value(),
                       weightRows(cb, op.getSharedGate(), first, width),
                       weightRows(cb, op.getSharedUp(), first, width), chunk,
                       activation)
                .getResult()[0];
          });

    // Phase 2: the down projections, added into the tokens' outputs.
    Value output = forEachColumnChunk(
        b, createFilled(b, getSizes(b, input), f32Constant(b, 0)),
        [&](ImplicitLocOpBuilder &cb, Value first, Value width, Value chunk) {
          Value result = forEachExpert(
              cb, offsets, numExperts, chunk,
              [&](ImplicitLocOpBuilder &eb, Value expert, Value start,
                  Value count, Value acc) -> Value {
                return DownScatterAddOp::create(
                           eb, acc.getType(),
                           rowsSlice(eb, routedAct, start, count),
                           expertWeightRows(eb, op.getExpertDown(), expert,
                                            first, width),
                           slice1D(eb, rowToken, start, count),
                           slice1D(eb, outputWeight, start, count), acc)
                    .getResult()[0];
              });
          if (sharedAct)
            result = DownScatterAddOp::create(
                         cb, result.getType(), sharedAct,
                         weightRows(cb, op.getSharedDown(), first, width),
                         Value(), Value(), result)
                         .getResult()[0];
          return result;
        });
    rewriter.replaceOp(op, castToType(b, output, op.getOutput().getType()));
    return success();
  }
};

/// linalg.pack (of weights packed in the graph) as pad + expand_shape +
/// transpose.
struct PackOpLowering : OpRewritePattern<linalg::PackOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::PackOp op,
                                PatternRewriter &rewriter) const override {
    if (failed(linalg::lowerPack(rewriter, op)))
      return rewriter.notifyMatchFailure(op, "linalg::lowerPack failed");
    return success();
  }
};
} // namespace

void mlir::moe::populatePackToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<PackOpLowering>(patterns.getContext());
}

void mlir::moe::populateFusedExpertsToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<FusedExpertsOpLowering>(patterns.getContext());
}
