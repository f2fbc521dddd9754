//===- ExpertParallel.cpp - experts sharded over ranks --------------------===//
//
// Implements `moe-expert-parallel`: each moe.expert_mlp fed by a dispatch
// becomes an exchange of its rows with the ranks that hold their experts,
// the fused expert FFN on the rows this rank receives, and the exchange of
// the results back, in the dispatch's order, for the combine. The expert
// weights become this rank's slots of the placement; the loader fills them.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/IR/PlacementAttr.h"
#include "moe/Support/Limits.h"
#include "moe/Target/Entries.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEEXPERTPARALLEL
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The expert weight operand `weight` as the function argument it must be.
FailureOr<BlockArgument> weightArgument(ExpertMlpOp mlp, Value weight,
                                        StringRef name) {
  auto arg = dyn_cast<BlockArgument>(weight);
  if (!arg || !isa<func::FuncOp>(arg.getOwner()->getParentOp()))
    return mlp.emitOpError()
           << "expert parallelism needs the '" << name
           << "' weights as a function argument (the loader binds each "
              "rank's experts)";
  if (!arg.hasOneUse())
    return mlp.emitOpError() << "'" << name
                             << "' weights are used elsewhere too; expert "
                                "parallelism gives this op only the rank's "
                                "experts";
  return arg;
}

/// Send counts `[N,G]` from a dispatch's prefix sums over the N·G physical
/// experts: counts[n][g] = offsets[n·G+g+1] - offsets[n·G+g].
Value buildSendCounts(OpBuilder &b, Location loc, Value offsets, int64_t ranks,
                      int64_t slots) {
  auto type = RankedTensorType::get({ranks, slots}, b.getI32Type());
  return tensor::GenerateOp::create(
      b, loc, type, ValueRange{},
      [&](OpBuilder &nested, Location nestedLoc, ValueRange indices) {
        Value slotCount =
            arith::ConstantIndexOp::create(nested, nestedLoc, slots);
        Value one = arith::ConstantIndexOp::create(nested, nestedLoc, 1);
        Value begin = arith::AddIOp::create(
            nested, nestedLoc,
            arith::MulIOp::create(nested, nestedLoc, indices[0], slotCount),
            indices[1]);
        Value end = arith::AddIOp::create(nested, nestedLoc, begin, one);
        Value hi = tensor::ExtractOp::create(nested, nestedLoc, offsets, end);
        Value lo = tensor::ExtractOp::create(nested, nestedLoc, offsets, begin);
        tensor::YieldOp::create(
            nested, nestedLoc,
            Value(arith::SubIOp::create(nested, nestedLoc, hi, lo)));
      });
}

/// Exchanges 1-D per-row values `[R]` as rows of width one.
Value exchangeColumn(OpBuilder &b, Location loc, Value column, Value counts) {
  auto type = cast<RankedTensorType>(column.getType());
  auto wide =
      RankedTensorType::get({ShapedType::kDynamic, 1}, type.getElementType());
  Value rows = tensor::ExpandShapeOp::create(
      b, loc, wide, column, ArrayRef<ReassociationIndices>{{0, 1}},
      ArrayRef<OpFoldResult>{
          OpFoldResult(tensor::DimOp::create(b, loc, column, 0).getResult()),
          OpFoldResult(b.getIndexAttr(1))});
  auto exchange =
      AllToAllOp::create(b, loc, wide, counts.getType(), rows, counts);
  return tensor::CollapseShapeOp::create(
      b, loc, exchange.getReceivedRows(),
      ArrayRef<ReassociationIndices>{{0, 1}});
}

/// values[order[i]] for each i: per-row values in received order, read in
/// the order the expert op takes its rows.
Value gatherByOrder(OpBuilder &b, Location loc, Value values, Value order) {
  auto type = cast<RankedTensorType>(values.getType());
  Value count = tensor::DimOp::create(b, loc, order, 0);
  return tensor::GenerateOp::create(
      b, loc, type, ValueRange{count},
      [&](OpBuilder &nested, Location nestedLoc, ValueRange indices) {
        Value row = arith::IndexCastOp::create(
            nested, nestedLoc, nested.getIndexType(),
            tensor::ExtractOp::create(nested, nestedLoc, order, indices[0]));
        tensor::YieldOp::create(
            nested, nestedLoc,
            Value(tensor::ExtractOp::create(nested, nestedLoc, values, row)));
      });
}

struct ExpertParallelPass
    : public mlir::moe::impl::MoEExpertParallelBase<ExpertParallelPass> {
  using MoEExpertParallelBase::MoEExpertParallelBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (epSize == 1)
      return;
    SmallVector<ExpertMlpOp> mlps;
    func.walk([&](ExpertMlpOp mlp) { mlps.push_back(mlp); });
    if (mlps.empty())
      return;
    if (epSize < 1 || epSize > ::moe::limits::kMaxRanks) {
      func.emitError() << "moe-expert-parallel: ep-size must be in [1, "
                       << ::moe::limits::kMaxRanks << "], got "
                       << static_cast<int64_t>(epSize);
      return signalPassFailure();
    }
    for (ExpertMlpOp mlp : mlps)
      if (failed(shard(func, mlp)))
        return signalPassFailure();
    func->setAttr(kEpSizeAttr,
                  IntegerAttr::get(IntegerType::get(&getContext(), 64),
                                   static_cast<int64_t>(epSize)));
  }

  FailureOr<::moe::ExpertPlacement> makePlacement(ExpertMlpOp mlp,
                                                  int64_t numExperts) {
    std::string error;
    ::moe::ExpertPlacement placement =
        ::moe::isPlacementRule(placementSpec)
            ? ::moe::placementByRule(placementSpec, numExperts, epSize, error)
            : ::moe::readPlacementFile(placementSpec, error);
    if (error.empty())
      error = ::moe::checkPlacementFits(placement, numExperts, epSize);
    if (!error.empty())
      return mlp.emitOpError()
             << "cannot shard " << numExperts << " experts over ep-size "
             << static_cast<int64_t>(epSize) << ": " << error;
    return placement;
  }

  LogicalResult shard(func::FuncOp func, ExpertMlpOp mlp) {
    auto dispatch = mlp.getRows().getDefiningOp<DispatchOp>();
    if (!dispatch) {
      if (mlp.getRows().getDefiningOp<ExpertChoiceOp>())
        return mlp.emitOpError()
               << "expert parallelism needs token-choice routing; "
                  "expert-choice routing is not supported";
      if (mlp.getRows().getDefiningOp<SoftDispatchOp>())
        return mlp.emitOpError()
               << "expert parallelism needs token-choice routing; Soft MoE "
                  "is not supported";
      return mlp.emitOpError()
             << "expert parallelism needs the rows of a moe.dispatch";
    }
    if (mlp.getRows() != dispatch.getRows() ||
        mlp.getExpertOffsets() != dispatch.getExpertOffsets() ||
        (mlp.getScale() && mlp.getScale() != dispatch.getRowWeight()))
      return mlp.emitOpError()
             << "expert parallelism needs the rows, offsets and scale of one "
                "moe.dispatch";
    if (dispatch.getZeroExperts())
      return mlp.emitOpError()
             << "expert parallelism with zero (identity) experts is not "
                "supported: their slots would need their input on the "
                "sending rank";
    int64_t numExperts = dispatch.getNumExperts();
    FailureOr<::moe::ExpertPlacement> placement =
        makePlacement(mlp, numExperts);
    if (failed(placement))
      return failure();
    int64_t ranks = placement->numRanks();
    int64_t slots = placement->slotsPerRank();
    if (dispatch.getCapacityAttr() &&
        (placement->hasReplicas() || ranks * slots != numExperts))
      return mlp.emitOpError()
             << "a capacity needs every rank to hold " << numExperts << "/"
             << ranks
             << " experts and no replica (each rank then drops per expert "
                "as one process would on its tokens); the placement gives "
             << slots << " slots per rank"
             << (placement->hasReplicas() ? " with replicas" : "");

    // The weights and the linears' biases: this rank's slots.
    SmallVector<BlockArgument> weights;
    for (auto [value, name] :
         {std::pair{mlp.getGate(), "gate"}, std::pair{mlp.getUp(), "up"},
          std::pair{mlp.getDown(), "down"},
          std::pair{mlp.getGateBias(), "gate_bias"},
          std::pair{mlp.getUpBias(), "up_bias"},
          std::pair{mlp.getDownBias(), "down_bias"}}) {
      if (!value)
        continue;
      FailureOr<BlockArgument> arg = weightArgument(mlp, value, name);
      if (failed(arg))
        return failure();
      if (func.getArgAttr(arg->getArgNumber(), kWeightExpertsAttr))
        return mlp.emitOpError()
               << "'" << name << "' weights already hold an expert range ("
               << kWeightExpertsAttr << "); expert parallelism places them";
      weights.push_back(*arg);
    }

    MLIRContext *context = &getContext();
    PlacementAttr placementAttr = getPlacementAttr(context, *placement);
    for (BlockArgument arg : weights) {
      auto type = cast<RankedTensorType>(arg.getType());
      SmallVector<int64_t> shape(type.getShape());
      shape[0] = slots;
      arg.setType(type.clone(shape));
      unsigned i = arg.getArgNumber();
      func.setArgAttr(i, kWeightPlacementAttr, placementAttr);
      // Per-expert checkpoint tensors ("{e}") stack into the rank's slots;
      // one tensor of all experts (Llama 4's) stays whole in the
      // checkpoint, and the loader picks the rank's rows of it.
      auto name = func.getArgAttrOfType<StringAttr>(i, kWeightNameAttr);
      bool perExpert = name && name.getValue().contains("{e}");
      auto source =
          func.getArgAttrOfType<DenseI64ArrayAttr>(i, kWeightSourceShapeAttr);
      SmallVector<int64_t> sourceShape =
          source ? SmallVector<int64_t>(source.asArrayRef())
                 : SmallVector<int64_t>(type.getShape());
      if (perExpert)
        sourceShape[0] = slots;
      if (source || !perExpert)
        func.setArgAttr(i, kWeightSourceShapeAttr,
                        DenseI64ArrayAttr::get(context, sourceShape));
    }
    func.setType(FunctionType::get(context, func.getBody().getArgumentTypes(),
                                   func.getResultTypes()));

    // Dispatch by physical expert: rows sorted by destination rank and slot.
    OpBuilder b(dispatch);
    Location loc = dispatch.getLoc();
    Value rank = RankOp::create(b, loc);
    Value physical =
        PlaceOp::create(b, loc, dispatch.getExperts().getType(),
                        dispatch.getExperts(), rank, placementAttr);
    auto offsetsType =
        RankedTensorType::get({ranks * slots + 1}, b.getI32Type());
    auto sharded = DispatchOp::create(
        b, loc, dispatch.getRows().getType(), dispatch.getRowToken().getType(),
        dispatch.getRowWeight().getType(), offsetsType, dispatch.getInput(),
        physical, dispatch.getWeights(), dispatch.getCapacityAttr(),
        /*zero_experts=*/IntegerAttr());
    dispatch.getRows().replaceAllUsesWith(sharded.getRows());
    dispatch.getRowToken().replaceAllUsesWith(sharded.getRowToken());
    dispatch.getRowWeight().replaceAllUsesWith(sharded.getRowWeight());
    dispatch.getExpertOffsets().replaceAllUsesWith(sharded.getExpertOffsets());
    dispatch.erase();

    // Rows out, local experts, results back.
    b.setInsertionPoint(mlp);
    loc = mlp.getLoc();
    Value sendCounts =
        buildSendCounts(b, loc, sharded.getExpertOffsets(), ranks, slots);
    auto rowsType = cast<RankedTensorType>(sharded.getRows().getType());
    auto exchange = AllToAllOp::create(b, loc, rowsType, sendCounts.getType(),
                                       sharded.getRows(), sendCounts);
    Value receivedCounts = exchange.getReceivedCounts();
    Value scale;
    if (mlp.getScale())
      scale = exchangeColumn(b, loc, sharded.getRowWeight(), sendCounts);
    auto indexType =
        RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type());
    auto order = ReceivedOrderOp::create(
        b, loc, indexType, RankedTensorType::get({slots + 1}, b.getI32Type()),
        receivedCounts);
    // The expert op reads row weights in its (slot-major) row order.
    if (scale)
      scale = gatherByOrder(b, loc, scale, order.getOrder());
    auto experts = FusedExpertsOp::create(
        b, loc, rowsType, exchange.getReceivedRows(), order.getOrder(), scale,
        order.getOffsets(), mlp.getGate(), mlp.getUp(), mlp.getDown(), Value(),
        Value(), Value(), mlp.getGateBias(), mlp.getUpBias(), mlp.getDownBias(),
        /*output_bias=*/Value(), mlp.getActivation(),
        /*scale_expert_input=*/static_cast<bool>(scale), mlp.getGluClampAttr(),
        /*dropped=*/DroppedSlot::zero);
    auto back = AllToAllOp::create(b, loc, rowsType, receivedCounts.getType(),
                                   experts.getResult(), receivedCounts);
    back.setReturning(true);
    mlp.getResult().replaceAllUsesWith(back.getReceivedRows());
    mlp.erase();
    return success();
  }
};

} // namespace
