//===- RouteToLinalg.cpp - routing ops to linalg --------------------------===//
//
// moe.route and moe.expert_choice as linalg.generic ops on tensors: scores,
// group (and rank) masks and top-k as order-independent reductions, so later
// tiling and vectorisation may reorder them freely. moe.route runs them in one
// parallel loop over parts of the tokens, with the router GEMM that feeds
// it moved in when nothing else reads the logits (or, for a target that
// generates the GEMM itself, left whole and marked).
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "moe/Conversion/MoEToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/TilingInterface.h"

#include <limits>
#include <optional>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {
AffineMap rowMap(MLIRContext *ctx) {
  return AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
}
AffineMap columnMap(MLIRContext *ctx) {
  return AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
}

/// Picks `count` columns of `values` `[T,N]` per row, best first, as i32
/// `[T]` tensors.
SmallVector<Value> selectTopColumns(ImplicitLocOpBuilder &b, Value values,
                                    int64_t count) {
  SmallVector<Value> picked;
  for (int64_t k = 0; k < count; ++k)
    picked.push_back(createArgmaxExcluding(b, values, picked));
  return picked;
}

/// The groups of group-limited (and rank-limited) routing: `numGroups`
/// groups of experts scored by `score`, `kept` of which stay eligible.
struct ExpertGroups {
  int64_t numGroups = 0, kept = 0;
  GroupScore score = GroupScore::max;
  /// The group of each expert; empty when group g is the contiguous experts
  /// [g·P, (g+1)·P), which the lowering views as `[T,G,P]` without a map.
  SmallVector<int32_t> groupOf;
};

/// The groups `routing` limits tokens to: n_group's contiguous groups, or
/// expert_ranks' ranks (contiguous when the map happens to be), or none.
std::optional<ExpertGroups> getExpertGroups(RoutingAttr routing,
                                            int64_t numExperts) {
  ExpertGroups groups;
  groups.score = routing.getGroupScore();
  if (routing.isGrouped()) {
    groups.numGroups = routing.getNGroup();
    groups.kept = routing.getTopkGroup();
    return groups;
  }
  if (!routing.isRankLimited())
    return std::nullopt;
  groups.numGroups = routing.getNumRanks();
  groups.kept = routing.getRankLimit();
  ArrayRef<int64_t> ranks = routing.getExpertRanks();
  int64_t perRank = numExperts / groups.numGroups;
  bool contiguous = numExperts % groups.numGroups == 0;
  for (int64_t e = 0; e < numExperts && contiguous; ++e)
    contiguous = ranks[e] == e / perRank;
  // Ranks are below the expert count, and expert ids are i32 here already.
  if (!contiguous)
    for (int64_t rank : ranks)
      groups.groupOf.push_back(static_cast<int32_t>(rank));
  return groups;
}

/// Keeps the `kept` best expert groups of `select` `[T,E]` and sets every
/// other expert to -inf.
Value maskGroups(ImplicitLocOpBuilder &b, Value select,
                 const ExpertGroups &groups, int64_t numExperts) {
  MLIRContext *ctx = b.getContext();
  int64_t numGroups = groups.numGroups;
  int64_t perGroup = numExperts / numGroups;
  bool mapped = !groups.groupOf.empty();
  SmallVector<OpFoldResult> sizes = getSizes(b, select);
  float minusInf = -std::numeric_limits<float>::infinity();
  Value groupOf;
  if (mapped)
    groupOf = arith::ConstantOp::create(
        b, DenseIntElementsAttr::get(
               RankedTensorType::get({numExperts}, b.getI32Type()),
               ArrayRef<int32_t>(groups.groupOf)));

  // Group scores [T,G]: the max, or the sum of the two largest members,
  // kept as the two largest values seen. Contiguous groups view the experts
  // as [T,G,P]; mapped ones reduce over [T,G,E], an expert outside the
  // group counting as -inf, which never displaces a member's value (every
  // group has a member, two for top2_sum).
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  if (mapped) {
    inputs = {select, groupOf};
    maps = {AffineMap::get(3, 0,
                           {getAffineDimExpr(0, ctx), getAffineDimExpr(2, ctx)},
                           ctx),
            AffineMap::get(3, 0, {getAffineDimExpr(2, ctx)}, ctx)};
  } else {
    auto selectType = cast<RankedTensorType>(select.getType());
    inputs = {tensor::ExpandShapeOp::create(
        b,
        RankedTensorType::get({selectType.getDimSize(0), numGroups, perGroup},
                              b.getF32Type()),
        select, ArrayRef<ReassociationIndices>{{0}, {1, 2}},
        ArrayRef<OpFoldResult>{sizes[0], b.getIndexAttr(numGroups),
                               b.getIndexAttr(perGroup)})};
    maps = {AffineMap::getMultiDimIdentityMap(3, ctx)};
  }
  AffineMap group = AffineMap::get(
      3, 0, {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx)}, ctx);
  maps.append({group, group});
  SmallVector<OpFoldResult> groupSizes = {sizes[0], b.getIndexAttr(numGroups)};
  Value first = createFilled(b, groupSizes, f32Constant(b, minusInf));
  Location loc = b.getLoc();
  auto topTwo = linalg::GenericOp::create(
      b, TypeRange{first.getType(), first.getType()}, inputs,
      ValueRange{first, first}, maps,
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::parallel,
                                    utils::IteratorType::reduction},
      [&](OpBuilder &nested, Location, ValueRange args) {
        ImplicitLocOpBuilder nb(loc, nested);
        Value value = args[0];
        if (mapped) {
          Value self = arith::IndexCastOp::create(
              nb, nb.getI32Type(), linalg::IndexOp::create(nb, 1));
          Value isMember = arith::CmpIOp::create(nb, arith::CmpIPredicate::eq,
                                                 args[1], self);
          value = arith::SelectOp::create(nb, isMember, value,
                                          f32Constant(nb, minusInf));
        }
        Value best = args[inputs.size()], second = args[inputs.size() + 1];
        Value beatsBest =
            arith::CmpFOp::create(nb, arith::CmpFPredicate::OGT, value, best);
        Value newBest = arith::SelectOp::create(nb, beatsBest, value, best);
        Value loser = arith::SelectOp::create(nb, beatsBest, best, value);
        Value newSecond = arith::MaximumFOp::create(nb, second, loser);
        linalg::YieldOp::create(nb, ValueRange{newBest, newSecond});
      });
  Value groupScores = topTwo.getResult(0);
  if (groups.score == GroupScore::top2_sum)
    groupScores = createElementwise(
        b, ValueRange{topTwo.getResult(0), topTwo.getResult(1)},
        tensor::EmptyOp::create(b, groupSizes, b.getF32Type()),
        [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          return arith::AddFOp::create(nb, args[0], args[1]);
        });

  SmallVector<Value> keptGroups = selectTopColumns(b, groupScores, groups.kept);
  SmallVector<Value> maskInputs = {select};
  SmallVector<AffineMap> maskMaps = {AffineMap::getMultiDimIdentityMap(2, ctx)};
  if (mapped) {
    maskInputs.push_back(groupOf);
    maskMaps.push_back(columnMap(ctx));
  }
  for (Value kept : keptGroups) {
    maskInputs.push_back(kept);
    maskMaps.push_back(rowMap(ctx));
  }
  return createElementwise(
      b, maskInputs, tensor::EmptyOp::create(b, sizes, b.getF32Type()),
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value groupOfExpert;
        if (mapped) {
          groupOfExpert = args[1];
        } else {
          Value expert = linalg::IndexOp::create(nb, 1);
          groupOfExpert = arith::IndexCastOp::create(
              nb, nb.getI32Type(),
              arith::DivUIOp::create(nb, expert, indexConstant(nb, perGroup)));
        }
        Value keep = arith::ConstantOp::create(nb, nb.getBoolAttr(false));
        for (Value kept : args.drop_front(mapped ? 2 : 1))
          keep = arith::OrIOp::create(
              nb, keep,
              arith::CmpIOp::create(nb, arith::CmpIPredicate::eq, groupOfExpert,
                                    kept));
        return arith::SelectOp::create(nb, keep, args[0],
                                       f32Constant(nb, minusInf));
      },
      maskMaps);
}

/// The per-expert scores `[T,E]` of `scoring` (not sparsemixer, which has
/// none).
Value createScores(ImplicitLocOpBuilder &b, ScoringFunc scoring, Value logits,
                   Value scratch) {
  switch (scoring) {
  case ScoringFunc::softmax:
    return createSoftmax(b, logits);
  case ScoringFunc::sigmoid:
    return createElementwise(b, logits, scratch,
                             [](ImplicitLocOpBuilder &nb, ValueRange args) {
                               return createSigmoid(nb, args[0]);
                             });
  case ScoringFunc::sqrtsoftplus:
    return createElementwise(b, logits, scratch,
                             [](ImplicitLocOpBuilder &nb, ValueRange args) {
                               return createSqrtSoftplus(nb, args[0]);
                             });
  case ScoringFunc::sparsemixer:
    break;
  }
  llvm_unreachable("sparsemixer has no per-expert scores");
}

/// `values` `[T,E]` at the chosen `experts` `[T,K]`.
Value createGatherSelected(ImplicitLocOpBuilder &b, Value values, Value experts,
                           Value slotScratch) {
  return createElementwise(
      b, experts, slotScratch,
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value token = linalg::IndexOp::create(nb, 0);
        Value expert =
            arith::IndexCastOp::create(nb, nb.getIndexType(), args[0]);
        return tensor::ExtractOp::create(nb, values, ValueRange{token, expert});
      });
}

/// PhiMoE's sparsemixer weights (inference form) of the chosen `experts`
/// `[T,K]`, the top-k of `logits` in order: slot k's weight is
/// `1 / Σ_e exp(l_e - m_k)` over the experts e not chosen in slots before k
/// and within the jitter threshold of `m_k`, slot k's logit. One reduction
/// over e per (token, slot), in expert order.
Value createSparseMixerWeights(ImplicitLocOpBuilder &b, Value logits,
                               Value experts, Value slotScratch, int64_t topK,
                               double jitterEps) {
  MLIRContext *ctx = b.getContext();
  Value selected = createGatherSelected(b, logits, experts, slotScratch);
  AffineExpr t = getAffineDimExpr(0, ctx), k = getAffineDimExpr(1, ctx),
             e = getAffineDimExpr(2, ctx);
  auto slotSizes = getSizes(b, slotScratch);
  Value zeros = createFilled(b, slotSizes, f32Constant(b, 0.0f));
  Location loc = b.getLoc();
  Value sums =
      linalg::GenericOp::create(
          b, TypeRange{zeros.getType()}, ValueRange{logits, selected},
          ValueRange{zeros},
          ArrayRef<AffineMap>{AffineMap::get(3, 0, {t, e}, ctx),
                              AffineMap::get(3, 0, {t, k}, ctx),
                              AffineMap::get(3, 0, {t, k}, ctx)},
          ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                        utils::IteratorType::parallel,
                                        utils::IteratorType::reduction},
          [&](OpBuilder &nested, Location, ValueRange args) {
            ImplicitLocOpBuilder nb(loc, nested);
            Value l = args[0], m = args[1];
            Value token = linalg::IndexOp::create(nb, 0);
            Value slot = linalg::IndexOp::create(nb, 1);
            Value expert = toI32(nb, linalg::IndexOp::create(nb, 2));
            // (m - l) / max(|l|, m) > 2·eps masks the expert (false on NaN,
            // as PyTorch's comparison).
            Value factor =
                arith::MaximumFOp::create(nb, math::AbsFOp::create(nb, l), m);
            Value ratio = arith::DivFOp::create(
                nb, arith::SubFOp::create(nb, m, l), factor);
            Value drop = arith::CmpFOp::create(
                nb, arith::CmpFPredicate::OGT, ratio,
                f32Constant(nb, static_cast<float>(2.0 * jitterEps)));
            for (int64_t j = 0; j + 1 < topK; ++j) {
              Value earlier = arith::CmpIOp::create(
                  nb, arith::CmpIPredicate::ugt, slot, indexConstant(nb, j));
              Value chosenThen = tensor::ExtractOp::create(
                  nb, experts, ValueRange{token, indexConstant(nb, j)});
              Value same = arith::CmpIOp::create(nb, arith::CmpIPredicate::eq,
                                                 chosenThen, expert);
              drop = arith::OrIOp::create(
                  nb, drop, arith::AndIOp::create(nb, earlier, same));
            }
            Value term = arith::SelectOp::create(
                nb, drop, f32Constant(nb, 0.0f),
                math::ExpOp::create(nb, arith::SubFOp::create(nb, l, m)));
            linalg::YieldOp::create(
                nb, ValueRange{arith::AddFOp::create(nb, args[2], term)});
          })
          .getResult(0);
  return createElementwise(
      b, sums, slotScratch,
      [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        return arith::DivFOp::create(nb, f32Constant(nb, 1.0f), args[0]);
      });
}

/// The norm renormalisation divides by: `(Σ |w|^p)^(1/p)` of each row of
/// `weights` `[T,K]` (`[T]`), the plain sum for p = 1 (weights are never
/// negative) and a square root for p = 2.
Value createRenormNorm(ImplicitLocOpBuilder &b, Value weights, double p,
                       OpFoldResult numTokens) {
  SmallVector<OpFoldResult> rowSizes = {numTokens};
  Value zeros = createFilled(b, rowSizes, f32Constant(b, 0));
  if (p == 1.0)
    return createReduction(b, weights, zeros, /*overRows=*/false, createAddF);
  float exponent = static_cast<float>(p);
  Value sum = createReduction(
      b, weights, zeros, /*overRows=*/false,
      [&](ImplicitLocOpBuilder &nb, Value w, Value acc) -> Value {
        Value magnitude = math::AbsFOp::create(nb, w);
        Value power =
            p == 2.0
                ? arith::MulFOp::create(nb, magnitude, magnitude).getResult()
                : math::PowFOp::create(nb, magnitude, f32Constant(nb, exponent))
                      .getResult();
        return arith::AddFOp::create(nb, acc, power);
      });
  return createElementwise(
      b, sum, tensor::EmptyOp::create(b, rowSizes, b.getF32Type()),
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        if (p == 2.0)
          return math::SqrtOp::create(nb, args[0]);
        return math::PowFOp::create(nb, args[0],
                                    f32Constant(nb, 1.0f / exponent));
      });
}

/// The top-k expert ids `[T,K]` of `logits` `[T,E]`, best first: ranked
/// on the logits, or on `scores` plus the bias, within the kept groups.
Value selectExperts(ImplicitLocOpBuilder &b, RouteOp op, Value logits,
                    Value scores, Value scratch,
                    ArrayRef<OpFoldResult> slotSizes) {
  MLIRContext *ctx = b.getContext();
  RoutingAttr routing = op.getRouting();
  int64_t numExperts = op.getLogits().getType().getDimSize(1);
  int64_t topK = routing.getTopK();
  // What top-k ranks: the logits, or the scores plus the bias.
  Value select = scores;
  if (routing.getSelectOn() == SelectionSource::logits)
    select = logits;
  else if (Value bias = op.getCorrectionBias())
    select = createElementwise(
        b, ValueRange{scores, bias}, scratch,
        [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          return arith::AddFOp::create(nb, args[0], args[1]);
        },
        {AffineMap::getMultiDimIdentityMap(2, ctx), columnMap(ctx)});
  select = createNaNToMinusInf(b, select);
  if (std::optional<ExpertGroups> groups = getExpertGroups(routing, numExperts))
    select = maskGroups(b, select, *groups, numExperts);

  SmallVector<Value> picked = selectTopColumns(b, select, topK);
  SmallVector<AffineMap> rowMaps(picked.size(), rowMap(ctx));
  return createElementwise(
      b, picked, tensor::EmptyOp::create(b, slotSizes, b.getI32Type()),
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value slot = linalg::IndexOp::create(nb, 1);
        Value chosen = args[0];
        for (int64_t k = 1; k < topK; ++k) {
          Value isK = arith::CmpIOp::create(nb, arith::CmpIPredicate::eq, slot,
                                            indexConstant(nb, k));
          chosen = arith::SelectOp::create(nb, isK, args[k], chosen);
        }
        return chosen;
      },
      rowMaps);
}

/// Routing by token id: row `tokenIds[t]` of `table` `[V,K]` for each
/// token, `[T,K]`. Ids and entries are clamped into [0, V) and [0, E)
/// (unsigned, so negative values clamp too): the entry and the loader
/// refuse such values, and the clamp keeps unchecked ones in bounds.
Value lookUpExperts(ImplicitLocOpBuilder &b, Value table, Value tokenIds,
                    int64_t numExperts, ArrayRef<OpFoldResult> slotSizes) {
  MLIRContext *ctx = b.getContext();
  int64_t numRows = cast<RankedTensorType>(table.getType()).getDimSize(0);
  return createElementwise(
      b, tokenIds, tensor::EmptyOp::create(b, slotSizes, b.getI32Type()),
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value id =
            arith::MinUIOp::create(nb, args[0], i32Constant(nb, numRows - 1));
        Value row = arith::IndexCastUIOp::create(nb, nb.getIndexType(), id);
        Value slot = linalg::IndexOp::create(nb, 1);
        Value expert =
            tensor::ExtractOp::create(nb, table, ValueRange{row, slot});
        return arith::MinUIOp::create(nb, expert,
                                      i32Constant(nb, numExperts - 1));
      },
      {rowMap(ctx)});
}

/// Token-choice routing of the rows of `logits` `[T,E]` (with `tokenIds`,
/// the same rows' ids, when routing by table): the routing weights (f32)
/// and expert ids (i32), both `[T,K]`.
std::pair<Value, Value> routeRows(ImplicitLocOpBuilder &b, RouteOp op,
                                  Value logits, Value tokenIds) {
  MLIRContext *ctx = b.getContext();
  RoutingAttr routing = op.getRouting();
  int64_t numExperts = op.getLogits().getType().getDimSize(1);
  int64_t topK = routing.getTopK();
  SmallVector<OpFoldResult> sizes = getSizes(b, logits);
  Value scratch = tensor::EmptyOp::create(b, sizes, b.getF32Type());

  bool sparseMixer = routing.getScoring() == ScoringFunc::sparsemixer;
  bool weightsFromScores =
      !sparseMixer && routing.getWeights() == RoutingWeights::scores;
  bool selectsOnScores = !op.getExpertTable() &&
                         routing.getSelectOn() == SelectionSource::scores;
  Value scores;
  if (selectsOnScores || weightsFromScores)
    scores = createScores(b, routing.getScoring(), logits, scratch);

  // Expert ids [T,K]: the table's row, or the best first.
  SmallVector<OpFoldResult> slotSizes = {sizes[0], b.getIndexAttr(topK)};
  Value experts =
      op.getExpertTable()
          ? lookUpExperts(b, op.getExpertTable(), tokenIds, numExperts,
                          slotSizes)
          : selectExperts(b, op, logits, scores, scratch, slotSizes);

  // Weights: the unbiased scores at the chosen experts, the softmax of
  // their logits, or sparsemixer's.
  Value slotScratch = tensor::EmptyOp::create(b, slotSizes, b.getF32Type());
  Value weights;
  if (sparseMixer)
    weights =
        createSparseMixerWeights(b, logits, experts, slotScratch, topK,
                                 routing.getJitterEps().convertToDouble());
  else if (weightsFromScores)
    weights = createGatherSelected(b, scores, experts, slotScratch);
  else
    weights =
        createSoftmax(b, createGatherSelected(b, logits, experts, slotScratch));
  double scaling = routing.getScalingFactor().convertToDouble();
  if (routing.getRenormalize()) {
    Value norm = createRenormNorm(
        b, weights, routing.getRenormP().convertToDouble(), sizes[0]);
    bool clamp = routing.getRenormClamp();
    auto epsilon =
        static_cast<float>(routing.getRenormEpsilon().convertToDouble());
    weights = createElementwise(
        b, ValueRange{weights, norm}, slotScratch,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value floor = f32Constant(nb, epsilon);
          Value denominator =
              clamp ? arith::MaximumFOp::create(nb, args[1], floor).getResult()
                    : arith::AddFOp::create(nb, args[1], floor).getResult();
          Value normalised = arith::DivFOp::create(nb, args[0], denominator);
          return arith::MulFOp::create(nb, normalised,
                                       f32Constant(nb, scaling));
        },
        {AffineMap::getMultiDimIdentityMap(2, ctx), rowMap(ctx)});
  } else if (scaling != 1.0) {
    weights = createElementwise(
        b, weights, slotScratch,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          return arith::MulFOp::create(nb, args[0], f32Constant(nb, scaling));
        });
  }
  // Last, each expert's own scale (Gemma 4).
  if (Value expertScale = op.getExpertScale())
    weights = createElementwise(
        b, ValueRange{weights, experts}, slotScratch,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value expert =
              arith::IndexCastOp::create(nb, nb.getIndexType(), args[1]);
          return arith::MulFOp::create(
              nb, args[0],
              tensor::ExtractOp::create(nb, expertScale, ValueRange{expert}));
        });
  return {weights, experts};
}

/// Computes `slice` from slices of its producer's operands when nothing
/// but `slice`, `replaced` (an op being replaced) and tensor.dim (which
/// folds to the producer's init) uses the producer, so
/// that each part of the routing loop computes its own tokens' logits; the
/// producer's own producers (the GEMM's zero fill) likewise.
Value fuseProducerInto(ImplicitLocOpBuilder &b, tensor::ExtractSliceOp slice,
                       Operation *replaced) {
  auto producer = dyn_cast<OpResult>(slice.getSource());
  if (!producer || !isa<TilingInterface>(producer.getOwner()) ||
      !llvm::all_of(producer.getUsers(), [&](Operation *user) {
        return user == slice || user == replaced || isa<tensor::DimOp>(user);
      }))
    return slice;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(slice);
  FailureOr<TilingResult> tiled =
      tensor::replaceExtractSliceWithTiledProducer(b, slice, producer);
  if (failed(tiled))
    return slice;
  for (Operation *generated : tiled->generatedSlices)
    if (auto operandSlice = dyn_cast<tensor::ExtractSliceOp>(generated))
      operandSlice.getResult().replaceAllUsesExcept(
          fuseProducerInto(b, operandSlice, producer.getOwner()), operandSlice);
  return tiled->tiledValues.front();
}

/// moe.route in one parallel loop over parts of the tokens: each part
/// computes its router logits (the GEMM fused in), scores, top-k and
/// weights, the whole router as one kernel per worker. Without
/// `fuseRouterGemm` the GEMM stays whole, marked kRouterGemmAttr, for a
/// target's own kernel (the CUDA target's warps beat a thread per token).
struct RouteOpLowering : OpRewritePattern<RouteOp> {
  RouteOpLowering(MLIRContext *ctx, int64_t tokensPerPart, bool fuseRouterGemm)
      : OpRewritePattern(ctx), tokensPerPart(tokensPerPart),
        fuseRouterGemm(fuseRouterGemm) {}
  int64_t tokensPerPart;
  bool fuseRouterGemm;

  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value logits = op.getLogits();
    int64_t topK = op.getRouting().getTopK();
    OpFoldResult numTokens = getSizes(b, logits)[0];
    SmallVector<OpFoldResult> slotSizes = {numTokens, b.getIndexAttr(topK)};
    SmallVector<Value> dests = {
        tensor::EmptyOp::create(b, slotSizes, b.getF32Type()),
        tensor::EmptyOp::create(b, slotSizes, b.getI32Type())};
    int64_t numExperts = op.getLogits().getType().getDimSize(1);
    auto routerGemm = logits.getDefiningOp<linalg::MatmulOp>();
    if (!fuseRouterGemm && routerGemm)
      rewriter.modifyOpInPlace(routerGemm, [&] {
        routerGemm->setAttr(kRouterGemmAttr, rewriter.getUnitAttr());
      });
    SmallVector<Value> results = forEachWorkerPart(
        b, dests, /*dim=*/0, /*granule=*/1, tokensPerPart,
        [&](ImplicitLocOpBuilder &pb, Value first, Value count,
            ValueRange) -> SmallVector<Value> {
          auto rows = tensor::ExtractSliceOp::create(
              pb, logits, ArrayRef<OpFoldResult>{first, pb.getIndexAttr(0)},
              ArrayRef<OpFoldResult>{count, pb.getIndexAttr(numExperts)},
              ArrayRef<OpFoldResult>{pb.getIndexAttr(1), pb.getIndexAttr(1)});
          Value partLogits = rows;
          if (fuseRouterGemm)
            partLogits = fuseProducerInto(pb, rows, op);
          Value partIds;
          if (Value tokenIds = op.getTokenIds())
            partIds = tensor::ExtractSliceOp::create(
                pb, tokenIds, ArrayRef<OpFoldResult>{first},
                ArrayRef<OpFoldResult>{count},
                ArrayRef<OpFoldResult>{pb.getIndexAttr(1)});
          auto [weights, experts] = routeRows(pb, op, partLogits, partIds);
          return {weights, experts};
        });
    rewriter.replaceOp(op,
                       {castToType(b, results[0], op.getWeights().getType()),
                        castToType(b, results[1], op.getExperts().getType())});
    return success();
  }
};

/// Expert choice's rows `[E·C]` (row_token, row_weight) in the serial form:
/// every token t and expert e with rank[t,e] < C writes row e·C + rank, in
/// (t, e) order (scf.for loops on tensors, in place after bufferization);
/// rows no token takes keep token 0 and weight 0.
std::pair<Value, Value> scatterTakenTokens(ImplicitLocOpBuilder &b, Value rank,
                                           Value probs, Value numTokens,
                                           Value capacity, Value numRows,
                                           int64_t numExperts) {
  Location loc = b.getLoc();
  Value rowToken = createFilled(b, {numRows}, i32Constant(b, 0));
  Value rowWeight = createFilled(b, {numRows}, f32Constant(b, 0));
  Value zero = indexConstant(b, 0), one = indexConstant(b, 1);
  auto tokenLoop = scf::ForOp::create(
      b, zero, numTokens, one, ValueRange{rowToken, rowWeight},
      [&](OpBuilder &nested, Location, Value token, ValueRange tokenIter) {
        ImplicitLocOpBuilder nb(loc, nested);
        auto expertLoop = scf::ForOp::create(
            nb, zero, indexConstant(nb, numExperts), one, tokenIter,
            [&](OpBuilder &nested2, Location, Value expert, ValueRange iter) {
              ImplicitLocOpBuilder eb(loc, nested2);
              Value slot = arith::IndexCastOp::create(
                  eb, eb.getIndexType(),
                  tensor::ExtractOp::create(eb, rank,
                                            ValueRange{token, expert}));
              Value taken = arith::CmpIOp::create(eb, arith::CmpIPredicate::ult,
                                                  slot, capacity);
              auto ifOp = scf::IfOp::create(eb, iter.getTypes(), taken,
                                            /*addThenBlock=*/true,
                                            /*addElseBlock=*/true);
              {
                OpBuilder::InsertionGuard guard(eb);
                eb.setInsertionPointToStart(ifOp.thenBlock());
                Value row = arith::AddIOp::create(
                    eb, arith::MulIOp::create(eb, expert, capacity), slot);
                Value tokenI32 =
                    arith::IndexCastOp::create(eb, eb.getI32Type(), token);
                Value prob = tensor::ExtractOp::create(
                    eb, probs, ValueRange{token, expert});
                Value newTokens =
                    tensor::InsertOp::create(eb, tokenI32, iter[0], row);
                Value newWeights =
                    tensor::InsertOp::create(eb, prob, iter[1], row);
                scf::YieldOp::create(eb, ValueRange{newTokens, newWeights});
                eb.setInsertionPointToStart(ifOp.elseBlock());
                scf::YieldOp::create(eb, iter);
              }
              scf::YieldOp::create(eb, ifOp.getResults());
            });
        scf::YieldOp::create(nb, expertLoop.getResults());
      });
  return {tokenLoop.getResult(0), tokenLoop.getResult(1)};
}

/// The same rows as scatterTakenTokens, as a gather: row (e, c) looks for
/// the token whose rank for e is c, a reduction over the tokens
/// (`linalg.generic` over (e, c, t)). Ranks are distinct per expert, so at
/// most one token matches and the reduction's order does not matter; each
/// row is written by one iteration of the parallel dims, which the CUDA
/// target maps to one thread: no single-thread scatter.
std::pair<Value, Value> gatherTakenTokens(ImplicitLocOpBuilder &b, Value rank,
                                          Value probs, Value capacity,
                                          int64_t numExperts) {
  MLIRContext *ctx = b.getContext();
  Location loc = b.getLoc();
  Type i32 = b.getI32Type(), f32 = b.getF32Type();
  SmallVector<OpFoldResult> gridSize = {b.getIndexAttr(numExperts), capacity};
  AffineExpr e = getAffineDimExpr(0, ctx), c = getAffineDimExpr(1, ctx),
             t = getAffineDimExpr(2, ctx);
  AffineMap perToken = AffineMap::get(3, 0, {t, e}, ctx);
  AffineMap perRow = AffineMap::get(3, 0, {e, c}, ctx);
  auto gather = linalg::GenericOp::create(
      b,
      TypeRange{RankedTensorType::get({numExperts, ShapedType::kDynamic}, i32),
                RankedTensorType::get({numExperts, ShapedType::kDynamic}, f32)},
      ValueRange{rank, probs},
      ValueRange{createFilled(b, gridSize, i32Constant(b, 0)),
                 createFilled(b, gridSize, f32Constant(b, 0))},
      ArrayRef<AffineMap>{perToken, perToken, perRow, perRow},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::parallel,
                                    utils::IteratorType::reduction},
      [&](OpBuilder &nested, Location, ValueRange args) {
        ImplicitLocOpBuilder nb(loc, nested);
        Value slot = toI32(nb, linalg::IndexOp::create(nb, 1));
        Value token = toI32(nb, linalg::IndexOp::create(nb, 2));
        Value match =
            arith::CmpIOp::create(nb, arith::CmpIPredicate::eq, args[0], slot);
        linalg::YieldOp::create(
            nb,
            ValueRange{arith::SelectOp::create(nb, match, token, args[2]),
                       arith::SelectOp::create(nb, match, args[1], args[3])});
      });
  // [E, C] to the rows [E·C], expert-major as the serial form's.
  SmallVector<ReassociationIndices> allDims = {{0, 1}};
  auto flatten = [&](Value grid) -> Value {
    return tensor::CollapseShapeOp::create(b, grid, allDims);
  };
  return {flatten(gather.getResult(0)), flatten(gather.getResult(1))};
}

struct ExpertChoiceOpLowering : OpRewritePattern<ExpertChoiceOp> {
  ExpertChoiceOpLowering(MLIRContext *ctx, bool parallelScatter)
      : OpRewritePattern(ctx), parallelScatter(parallelScatter) {}

  LogicalResult matchAndRewrite(ExpertChoiceOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    MLIRContext *ctx = b.getContext();
    Value logits = op.getLogits();
    int64_t numExperts = op.getLogits().getType().getDimSize(1);
    Value probs = createNaNToMinusInf(b, createSoftmax(b, logits));
    SmallVector<OpFoldResult> sizes = getSizes(b, logits);
    Value numTokens = getValueOrCreateConstantIndexOp(b, b.getLoc(), sizes[0]);

    // C = min(T, ceil(capacity_factor · T / E)).
    Value capacity = arith::MinUIOp::create(
        b,
        createCapacity(b, numTokens,
                       op.getRouting().getCapacityFactor().convertToDouble(),
                       numExperts),
        numTokens);

    // rank[t,e]: how many tokens expert e prefers to t (higher probability,
    // or equal and earlier). Expert e takes token t at slot rank < C.
    AffineMap own = AffineMap::get(
        3, 0, {getAffineDimExpr(0, ctx), getAffineDimExpr(1, ctx)}, ctx);
    AffineMap other = AffineMap::get(
        3, 0, {getAffineDimExpr(2, ctx), getAffineDimExpr(1, ctx)}, ctx);
    Location loc = b.getLoc();
    Value rank =
        linalg::GenericOp::create(
            b,
            TypeRange{RankedTensorType::get(op.getLogits().getType().getShape(),
                                            b.getI32Type())},
            ValueRange{probs, probs},
            ValueRange{createFilled(b, sizes, i32Constant(b, 0))},
            ArrayRef<AffineMap>{own, other, own},
            ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                          utils::IteratorType::parallel,
                                          utils::IteratorType::reduction},
            [&](OpBuilder &nested, Location, ValueRange args) {
              ImplicitLocOpBuilder nb(loc, nested);
              Value token = linalg::IndexOp::create(nb, 0);
              Value rival = linalg::IndexOp::create(nb, 2);
              Value ahead =
                  createComesBefore(nb, args[1], rival, args[0], token);
              Value one = arith::ExtUIOp::create(nb, nb.getI32Type(), ahead);
              linalg::YieldOp::create(
                  nb, ValueRange{arith::AddIOp::create(nb, args[2], one)});
            })
            .getResult(0);

    Value numRows =
        arith::MulIOp::create(b, capacity, indexConstant(b, numExperts));
    auto [rowToken, rowWeight] =
        parallelScatter
            ? gatherTakenTokens(b, rank, probs, capacity, numExperts)
            : scatterTakenTokens(b, rank, probs, numTokens, capacity, numRows,
                                 numExperts);

    Value offsets = createElementwise(
        b, ValueRange{},
        tensor::EmptyOp::create(b, ArrayRef<int64_t>{numExperts + 1},
                                b.getI32Type()),
        [&](ImplicitLocOpBuilder &nb, ValueRange) -> Value {
          Value expert = linalg::IndexOp::create(nb, 0);
          return arith::IndexCastOp::create(
              nb, nb.getI32Type(), arith::MulIOp::create(nb, expert, capacity));
        });
    Value rows = createGatherRows(b, op.getInput(), rowToken);
    rewriter.replaceOp(
        op, {castToType(b, rows, op.getRows().getType()),
             castToType(b, rowToken, op.getRowToken().getType()),
             castToType(b, rowWeight, op.getRowWeight().getType()), offsets});
    return success();
  }

private:
  /// Rows found by a gather (parallel-dispatch) instead of the serial
  /// scatter: the same bits.
  bool parallelScatter;
};
} // namespace

void mlir::moe::populateRouteToLinalgPatterns(RewritePatternSet &patterns,
                                              int64_t tokensPerPart,
                                              bool fuseRouterGemm,
                                              bool parallelScatter) {
  patterns.add<RouteOpLowering>(patterns.getContext(), tokensPerPart,
                                fuseRouterGemm);
  patterns.add<ExpertChoiceOpLowering>(patterns.getContext(), parallelScatter);
}
