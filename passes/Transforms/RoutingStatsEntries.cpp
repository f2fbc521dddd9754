//===- RoutingStatsEntries.cpp - statistics entry points ------------------===//
//
// Implements `moe-routing-stats-entries`: next to each public function with
// one token-choice moe.layer, a function computing that layer's routing
// statistics (moe_runtime.h's layout: loads, summaries, the routing-weight
// histogram) from the same input and router weights.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Runtime/moe_runtime.h"
#include "moe/Transforms/Passes.h"
#include "moe/Transforms/RouterLogits.h"

#include "mlir/IR/Builders.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEROUTINGSTATSENTRIES
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
/// The layer whose statistics `func` can report: its only moe.layer, with
/// token-choice routing and router weights that are function arguments.
LayerOp findStatsLayer(func::FuncOp func) {
  LayerOp found;
  WalkResult walk = func.walk([&](LayerOp layer) {
    if (found)
      return WalkResult::interrupt();
    found = layer;
    return WalkResult::advance();
  });
  // Routing by token id would need the ids as a statistics input too.
  if (walk.wasInterrupted() || !found || !isa<RoutingAttr>(found.getRouter()) ||
      found.getExpertTable())
    return {};
  // Router probabilities (moe.routing_stats) are defined for softmax and
  // sigmoid scores; sparsemixer's router distribution is softmax(l).
  if (cast<RoutingAttr>(found.getRouter()).getScoring() ==
      ScoringFunc::sqrtsoftplus)
    return {};
  auto isArgument = [&](Value value) {
    auto arg = dyn_cast_or_null<BlockArgument>(value);
    return !value || (arg && arg.getOwner()->getParentOp() == func);
  };
  if (!isArgument(found.getInput()) || !isArgument(found.getRouterWeight()) ||
      !isArgument(found.getCorrectionBias()) ||
      !isArgument(found.getRouterBias()) ||
      !isArgument(found.getRouterInputScale()))
    return {};
  return found;
}

struct MoERoutingStatsEntriesPass
    : public mlir::moe::impl::MoERoutingStatsEntriesBase<
          MoERoutingStatsEntriesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<std::pair<func::FuncOp, LayerOp>> work;
    for (auto func : module.getOps<func::FuncOp>())
      if (func.isPublic() && !func.isExternal() &&
          !func->hasAttr("moe.entry_kind"))
        if (LayerOp layer = findStatsLayer(func))
          work.push_back({func, layer});
    for (auto [func, layer] : work)
      buildStatsFunction(func, layer);
  }

  void buildStatsFunction(func::FuncOp func, LayerOp layer) {
    MLIRContext *ctx = &getContext();
    Location loc = layer.getLoc();
    OpBuilder b(ctx);
    b.setInsertionPointAfter(func);
    // Zero (identity) experts count as the ids E..E+Z-1 they are routed as.
    int64_t numExperts = layer.getNumRoutedExperts();

    // Arguments: the input, the router weight, the bias, with their
    // original attributes (checkpoint names).
    SmallVector<Value> sources = {layer.getInput(), layer.getRouterWeight()};
    // The optional ones, remembered by position among the arguments.
    auto addSource = [&](Value value) -> std::optional<unsigned> {
      if (!value)
        return std::nullopt;
      sources.push_back(value);
      return sources.size() - 1;
    };
    std::optional<unsigned> biasArg = addSource(layer.getCorrectionBias());
    std::optional<unsigned> routerBiasArg = addSource(layer.getRouterBias());
    std::optional<unsigned> inputScaleArg =
        addSource(layer.getRouterInputScale());
    SmallVector<Type> types;
    SmallVector<DictionaryAttr> argAttrs;
    for (Value source : sources) {
      types.push_back(source.getType());
      argAttrs.push_back(
          func.getArgAttrDict(cast<BlockArgument>(source).getArgNumber()));
    }
    auto resultType = RankedTensorType::get(
        {numExperts + MOE_ROUTING_STATS_TAIL}, b.getF32Type());
    auto stats = func::FuncOp::create(
        b, loc, (func.getSymName() + "_routing_stats").str(),
        FunctionType::get(ctx, types, {resultType}));
    for (auto [i, attrs] : llvm::enumerate(argAttrs))
      if (attrs)
        stats.setArgAttrs(i, attrs);
    stats->setAttr("moe.entry_kind",
                   b.getStringAttr(MOE_ENTRY_KIND_ROUTING_STATS));
    stats->setAttr("moe.stats_of", b.getStringAttr(func.getSymName()));

    Block *body = stats.addEntryBlock();
    b.setInsertionPointToStart(body);
    Value input = body->getArgument(0);
    auto argument = [&](std::optional<unsigned> index) -> Value {
      return index ? body->getArgument(*index) : Value();
    };
    Value logits = buildRouterLogits(
        b, loc, input, body->getArgument(1),
        RouterExtras{argument(routerBiasArg), layer.getRouterInputNormAttr(),
                     argument(inputScaleArg)});
    auto routing = cast<RoutingAttr>(layer.getRouter());
    int64_t numTokens = layer.getInput().getType().getDimSize(0);
    auto slotType = [&](Type element) {
      return RankedTensorType::get({numTokens, routing.getTopK()}, element);
    };
    auto route = RouteOp::create(
        b, loc, slotType(b.getF32Type()), slotType(b.getI32Type()), logits,
        argument(biasArg), /*expert_scale=*/Value(), /*expert_table=*/Value(),
        /*token_ids=*/Value(), routing);
    // Routing weights lie in [0, 1] (scores, softmaxes, weights divided by
    // a norm of themselves) times the scaling factor.
    double scaling = routing.getScalingFactor().convertToDouble();
    double weightRange = scaling > 0 ? scaling : 1.0;
    auto statsOp = RoutingStatsOp::create(
        b, loc, RankedTensorType::get({numExperts}, b.getI64Type()),
        b.getF32Type(), b.getF32Type(), b.getF32Type(), b.getF32Type(),
        RankedTensorType::get({MOE_ROUTING_STATS_WEIGHT_BINS}, b.getI64Type()),
        logits, route.getExperts(), route.getWeights(),
        ScoringFuncAttr::get(ctx, routing.getScoring() == ScoringFunc::sigmoid
                                      ? ScoringFunc::sigmoid
                                      : ScoringFunc::softmax),
        b.getF64FloatAttr(weightRange));

    // [load as f32 ..., entropy, max_share, confidence, aux_loss,
    //  weight range, weight histogram as f32 ...]
    auto countsToF32 = [&](Value counts, int64_t size) -> Value {
      Value floats = tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{size},
                                             b.getF32Type());
      return linalg::GenericOp::create(
                 b, loc, TypeRange{floats.getType()}, ValueRange{counts},
                 ValueRange{floats},
                 ArrayRef<AffineMap>{b.getMultiDimIdentityMap(1),
                                     b.getMultiDimIdentityMap(1)},
                 ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
                 [](OpBuilder &nested, Location l, ValueRange args) {
                   linalg::YieldOp::create(
                       nested, l,
                       ValueRange{arith::UIToFPOp::create(
                           nested, l, nested.getF32Type(), args[0])});
                 })
          .getResult(0);
    };
    Value loads = countsToF32(statsOp.getLoad(), numExperts);
    Value histogram = countsToF32(statsOp.getWeightHistogram(),
                                  MOE_ROUTING_STATS_WEIGHT_BINS);
    Value scalars = tensor::FromElementsOp::create(
        b, loc,
        RankedTensorType::get({MOE_ROUTING_STATS_SUMMARIES + 1},
                              b.getF32Type()),
        ValueRange{
            statsOp.getEntropy(), statsOp.getMaxShare(),
            statsOp.getConfidence(), statsOp.getAuxLoss(),
            arith::ConstantOp::create(
                b, loc, b.getF32FloatAttr(static_cast<float>(weightRange)))});
    Value result = tensor::EmptyOp::create(
        b, loc, ArrayRef<int64_t>{numExperts + MOE_ROUTING_STATS_TAIL},
        b.getF32Type());
    auto insert = [&](Value source, Value into, int64_t offset, int64_t size) {
      return tensor::InsertSliceOp::create(
          b, loc, source, into, ArrayRef<OpFoldResult>{b.getIndexAttr(offset)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(size)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    };
    result = insert(loads, result, 0, numExperts);
    result =
        insert(scalars, result, numExperts, MOE_ROUTING_STATS_SUMMARIES + 1);
    result =
        insert(histogram, result, numExperts + MOE_ROUTING_STATS_SUMMARIES + 1,
               MOE_ROUTING_STATS_WEIGHT_BINS);
    func::ReturnOp::create(b, loc, result);
  }
};
} // namespace
