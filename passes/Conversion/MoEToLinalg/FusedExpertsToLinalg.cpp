//===- FusedExpertsToLinalg.cpp - moe.fused_experts to kernel-level ops ---===//
//
// moe.fused_experts becomes the kernel layer (MoEKernelOps.td), in the
// weights' own layout:
//
//  1. `[rows, F]` activations: one grouped moe.gather_gate_up over every
//     kept row (read from the layer input through row_token, each with its
//     expert's weights);
//  2. the output `[T,H]`, starting from the output bias (or zero) plus,
//     under dropped = input, each row past offsets[E] (dropped slots,
//     identity experts) weighting its token's input; then one
//     grouped moe.down_scatter_add of the routed activations into their
//     tokens, then the shared expert on all tokens (an ungrouped pair,
//     addDenseFfnKernels).
//
// The experts' linear biases ride on the kernel ops, into their epilogues.
//
// Nothing here is a target's: how the ops are tiled over threads or
// blocks, which layout the weights take and what computes a tile are
// decided by the target's passes (CPU: moe-cpu-*).
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "moe/Conversion/MoEToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {
Value emptyActivations(ImplicitLocOpBuilder &b, OpFoldResult rows,
                       int64_t width) {
  return tensor::EmptyOp::create(
      b, ArrayRef<OpFoldResult>{rows, b.getIndexAttr(width)}, b.getF32Type());
}

/// `output[rowToken[r]] += rowWeight[r] · input[rowToken[r]]` for the rows
/// `r` in `[offsets[E], rows)`, in row order (serial: rows of one token add
/// into the same output row).
Value addPassedThroughRows(ImplicitLocOpBuilder &b, Value output, Value input,
                           Value rowToken, Value rowWeight, Value offsets) {
  int64_t numExperts =
      cast<RankedTensorType>(offsets.getType()).getDimSize(0) - 1;
  int64_t hidden = cast<RankedTensorType>(input.getType()).getDimSize(1);
  Value first = toIndex(
      b, tensor::ExtractOp::create(b, offsets, indexConstant(b, numExperts)));
  Value numRows =
      getValueOrCreateConstantIndexOp(b, b.getLoc(), getSizes(b, rowToken)[0]);
  Value count = arith::SubIOp::create(b, numRows, first);
  return buildLoop(
      b, count, output,
      [&](ImplicitLocOpBuilder &nb, Value i, ValueRange iter) {
        Value r = arith::AddIOp::create(nb, first, i);
        Value token = toIndex(nb, tensor::ExtractOp::create(nb, rowToken, r));
        Value weight = tensor::ExtractOp::create(nb, rowWeight, r);
        return SmallVector<Value>{buildLoop(
            nb, indexConstant(nb, hidden), iter[0],
            [&](ImplicitLocOpBuilder &hb, Value h, ValueRange hiter) {
              Value x =
                  tensor::ExtractOp::create(hb, input, ValueRange{token, h});
              Value old =
                  tensor::ExtractOp::create(hb, hiter[0], ValueRange{token, h});
              Value sum = arith::AddFOp::create(
                  hb, old, arith::MulFOp::create(hb, weight, x));
              return SmallVector<Value>{tensor::InsertOp::create(
                  hb, sum, hiter[0], ValueRange{token, h})};
            })[0]};
      })[0];
}

struct FusedExpertsOpLowering : OpRewritePattern<FusedExpertsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(FusedExpertsOp op,
                                PatternRewriter &rewriter) const override {
    // The kernel layer's activations are f32 (and the verifier holds the
    // weights to f32).
    for (Value value : op->getOperands()) {
      auto type = dyn_cast<RankedTensorType>(value.getType());
      if (type && isa<FloatType>(type.getElementType()) &&
          !type.getElementType().isF32())
        return rewriter.notifyMatchFailure(op, "only f32 lowers");
    }
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto layout = WeightLayoutAttr::getRows(getContext());
    Value input = op.getInput(), rowToken = op.getRowToken(),
          offsets = op.getExpertOffsets();
    Activation activation = op.getActivation();
    bool scaleInput = op.getScaleExpertInput();
    Value inputScale = scaleInput ? op.getRowWeight() : Value();
    Value outputWeight = scaleInput ? Value() : op.getRowWeight();

    // The gated activations of every kept row, grouped by expert.
    Value routedInit =
        emptyActivations(b, getSizes(b, rowToken)[0], op.getFfnWidth());
    Value routedAct =
        GatherGateUpOp::create(b, routedInit.getType(), input, rowToken,
                               inputScale, offsets, op.getExpertGate(),
                               op.getExpertUp(), routedInit,
                               op.getExpertGateBias(), op.getExpertUpBias(),
                               activation, layout, op.getGluClampAttr())
            .getResult()[0];

    // The down projections, added into the tokens' outputs: routed experts
    // in expert order, then the shared expert.
    Value output = op.getOutputBias()
                       ? createBroadcastRows(b, op.getOutputBias(), input)
                       : createFilled(b, getSizes(b, input), f32Constant(b, 0));
    if (op.getDropped() == DroppedSlot::input)
      output = addPassedThroughRows(b, output, input, rowToken,
                                    op.getRowWeight(), offsets);
    output = DownScatterAddOp::create(b, output.getType(), routedAct, offsets,
                                      op.getExpertDown(), rowToken,
                                      outputWeight, output,
                                      op.getExpertDownBias(), layout)
                 .getResult()[0];
    if (op.hasSharedExpert())
      output = addDenseFfnKernels(b, activation, op.getGluClampAttr(), input,
                                  op.getSharedGate(), op.getSharedUp(),
                                  op.getSharedDown(), output);
    rewriter.replaceOp(op, castToType(b, output, op.getOutput().getType()));
    return success();
  }
};

} // namespace

void mlir::moe::populateFusedExpertsToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<FusedExpertsOpLowering>(patterns.getContext());
}
