//===- DispatchToLinalg.cpp - permutation ops to loops on tensors ---------===//
//
// moe.dispatch and moe.combine. The permutation has two forms with the
// same bits: serial (counting, prefix sums and the scatter are scf.for
// loops over tensors, which one-shot bufferization makes in place: the
// CPU's) and parallel (chunked bucket counts and a gather over rows, all
// linalg.generic ops: what a GPU wants, see permuteInParallel). Gathers are
// linalg.generic ops.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "moe/Conversion/MoEToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {
/// `tensor[at] += delta` on an i32 tensor.
Value incrementAt(ImplicitLocOpBuilder &b, Value tensor, Value at,
                  Value delta) {
  Value old = tensor::ExtractOp::create(b, tensor, at);
  return tensor::InsertOp::create(b, arith::AddIOp::create(b, old, delta),
                                  tensor, at);
}

/// Exclusive prefix sums of `counts` `[E]` into `[E+1]`, starting at `base`.
Value prefixSums(ImplicitLocOpBuilder &b, Value counts, int64_t numExperts,
                 Value base) {
  Value offsets = tensor::EmptyOp::create(b, ArrayRef<int64_t>{numExperts + 1},
                                          b.getI32Type());
  offsets = tensor::InsertOp::create(b, base, offsets, indexConstant(b, 0));
  return buildLoop(b, indexConstant(b, numExperts), offsets,
                   [&](ImplicitLocOpBuilder &nb, Value e, ValueRange iter) {
                     Value next =
                         arith::AddIOp::create(nb, e, indexConstant(nb, 1));
                     Value sum = arith::AddIOp::create(
                         nb, tensor::ExtractOp::create(nb, iter[0], e),
                         tensor::ExtractOp::create(nb, counts, e));
                     return SmallVector<Value>{
                         tensor::InsertOp::create(nb, sum, iter[0], next)};
                   })[0];
}

/// What both forms of the permutation start from: the slots (token-major
/// `[T·K]`), the capacity and, under lowest_weight or choice_order, each
/// slot's rank in its expert's queue.
struct Slots {
  Value experts, weights, count;
  int64_t numExperts, topK;
  /// C as i32 (S when dropless: every slot is kept).
  Value capacity;
  /// Null under token order (the permutation counts that one itself).
  Value rank;
  bool canDrop;
};

/// The permutation's index results: row_token, row_weight, expert_offsets.
struct Permutation {
  Value rowToken, rowWeight, offsets;
};

/// The serial form: count, prefix sums, then every slot scattered to its row
/// in token order (scf.for loops on tensors).
Permutation permuteSerially(ImplicitLocOpBuilder &b, const Slots &slots) {
  int64_t numExperts = slots.numExperts;
  Value zeroI32 = i32Constant(b, 0), oneI32 = i32Constant(b, 1);
  SmallVector<OpFoldResult> expertSize = {b.getIndexAttr(numExperts)};

  // Slots per expert.
  Value counts = buildLoop(
      b, slots.count, createFilled(b, expertSize, zeroI32),
      [&](ImplicitLocOpBuilder &nb, Value s, ValueRange iter) {
        Value e = toIndex(nb, tensor::ExtractOp::create(nb, slots.experts, s));
        return SmallVector<Value>{incrementAt(nb, iter[0], e, oneI32)};
      })[0];

  // Kept rows per expert, their offsets, and where dropped rows start.
  Value kept = createElementwise(
      b, counts, tensor::EmptyOp::create(b, expertSize, b.getI32Type()),
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        return arith::MinUIOp::create(nb, args[0], slots.capacity);
      });
  Value offsets = prefixSums(b, kept, numExperts, zeroI32);
  Value dropped = createElementwise(
      b, ValueRange{counts, kept},
      tensor::EmptyOp::create(b, expertSize, b.getI32Type()),
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        return arith::SubIOp::create(nb, args[0], args[1]);
      });
  Value numKept = tensor::ExtractOp::create(
      b, offsets, ValueRange{indexConstant(b, numExperts)});
  Value dropStarts = prefixSums(b, dropped, numExperts, numKept);
  Value keptCursor = tensor::ExtractSliceOp::create(
      b, offsets, ArrayRef<OpFoldResult>{b.getIndexAttr(0)}, expertSize,
      ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  Value dropCursor = tensor::ExtractSliceOp::create(
      b, dropStarts, ArrayRef<OpFoldResult>{b.getIndexAttr(0)}, expertSize,
      ArrayRef<OpFoldResult>{b.getIndexAttr(1)});

  // Scatter every slot to its row, in token order.
  Value rowToken = createFilled(b, {slots.count}, zeroI32);
  Value rowWeight = createFilled(b, {slots.count}, f32Constant(b, 0));
  Value seen = createFilled(b, expertSize, zeroI32);
  ValueRange scattered = buildLoop(
      b, slots.count,
      ValueRange{rowToken, rowWeight, seen, keptCursor, dropCursor},
      [&](ImplicitLocOpBuilder &nb, Value s, ValueRange iter) {
        Value e = toIndex(nb, tensor::ExtractOp::create(nb, slots.experts, s));
        Value rank = slots.rank
                         ? Value(tensor::ExtractOp::create(nb, slots.rank, s))
                         : Value(tensor::ExtractOp::create(nb, iter[2], e));
        Value keep = arith::CmpIOp::create(nb, arith::CmpIPredicate::ult, rank,
                                           slots.capacity);
        Value keptAt = tensor::ExtractOp::create(nb, iter[3], e);
        Value droppedAt = tensor::ExtractOp::create(nb, iter[4], e);
        Value row =
            toIndex(nb, arith::SelectOp::create(nb, keep, keptAt, droppedAt));
        Value token = toI32(
            nb, arith::DivUIOp::create(nb, s, indexConstant(nb, slots.topK)));
        Value weight = tensor::ExtractOp::create(nb, slots.weights, s);
        Value keepI32 = arith::ExtUIOp::create(nb, nb.getI32Type(), keep);
        Value dropI32 = arith::SubIOp::create(nb, oneI32, keepI32);
        return SmallVector<Value>{
            tensor::InsertOp::create(nb, token, iter[0], row),
            tensor::InsertOp::create(nb, weight, iter[1], row),
            incrementAt(nb, iter[2], e, oneI32),
            incrementAt(nb, iter[3], e, keepI32),
            incrementAt(nb, iter[4], e, dropI32)};
      });
  return {scattered[0], scattered[1], offsets};
}

/// Slots per chunk of the parallel form: a row's thread scans at most one
/// chunk, and the per-chunk counts are `ceil(S/256)` rows of buckets.
constexpr int64_t kChunkSlots = 256;

/// `sums[i] = Σ_{j<i} counts[j]` for `i` in `[0, N]` (`counts` `[N]` or
/// `[N,B]`, summed along dim 0, each of the B columns on its own), plus
/// `Σ_j addAll[j]` when `addAll` (`[N]`) is given. A masked reduction:
/// parallel over the outputs, so no output waits on another.
Value createExclusiveSums(ImplicitLocOpBuilder &b, Value counts,
                          Value addAll = {}) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(counts.getType());
  bool hasColumns = type.getRank() == 2;
  SmallVector<OpFoldResult> sizes = getSizes(b, counts);
  if (std::optional<int64_t> rows = getConstantIntValue(sizes[0]))
    sizes[0] = b.getIndexAttr(*rows + 1);
  else
    sizes[0] = Value(arith::AddIOp::create(
        b, getValueOrCreateConstantIndexOp(b, b.getLoc(), sizes[0]),
        indexConstant(b, 1)));
  // Dims (i, [b,] j): j is the reduction.
  unsigned numDims = hasColumns ? 3 : 2;
  AffineExpr i = getAffineDimExpr(0, ctx),
             j = getAffineDimExpr(numDims - 1, ctx);
  SmallVector<AffineExpr> outExprs = {i}, countExprs = {j};
  if (hasColumns) {
    outExprs.push_back(getAffineDimExpr(1, ctx));
    countExprs.push_back(getAffineDimExpr(1, ctx));
  }
  SmallVector<Value> inputs = {counts};
  SmallVector<AffineMap> maps = {AffineMap::get(numDims, 0, countExprs, ctx)};
  if (addAll) {
    inputs.push_back(addAll);
    maps.push_back(AffineMap::get(numDims, 0, {j}, ctx));
  }
  maps.push_back(AffineMap::get(numDims, 0, outExprs, ctx));
  SmallVector<utils::IteratorType> iterators(numDims,
                                             utils::IteratorType::parallel);
  iterators.back() = utils::IteratorType::reduction;
  Value init = createFilled(b, sizes, i32Constant(b, 0));
  Location loc = b.getLoc();
  return linalg::GenericOp::create(
             b, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
             iterators,
             [&](OpBuilder &nested, Location, ValueRange args) {
               ImplicitLocOpBuilder nb(loc, nested);
               Value before = arith::CmpIOp::create(
                   nb, arith::CmpIPredicate::ult,
                   linalg::IndexOp::create(nb, numDims - 1),
                   linalg::IndexOp::create(nb, 0));
               Value term = arith::SelectOp::create(nb, before, args[0],
                                                    i32Constant(nb, 0));
               if (addAll)
                 term = arith::AddIOp::create(nb, term, args[1]);
               linalg::YieldOp::create(nb, ValueRange{arith::AddIOp::create(
                                               nb, args.back(), term)});
             })
      .getResult(0);
}

/// The largest `m` in `[lo, hi)` with `valueAt(m) <= target` (i32, compared
/// unsigned), for a non-decreasing `valueAt` with `valueAt(lo) <= target <
/// valueAt(hi)`; `valueAt` is only called strictly between lo and hi.
Value createLastAtMost(
    ImplicitLocOpBuilder &b, Value lo, Value hi, Value target,
    function_ref<Value(ImplicitLocOpBuilder &, Value)> valueAt) {
  Location loc = b.getLoc();
  Type index = b.getIndexType();
  auto loop = scf::WhileOp::create(
      b, TypeRange{index, index}, ValueRange{lo, hi},
      [&](OpBuilder &nested, Location, ValueRange bounds) {
        ImplicitLocOpBuilder nb(loc, nested);
        Value width = arith::SubIOp::create(nb, bounds[1], bounds[0]);
        Value more = arith::CmpIOp::create(nb, arith::CmpIPredicate::ugt, width,
                                           indexConstant(nb, 1));
        scf::ConditionOp::create(nb, more, bounds);
      },
      [&](OpBuilder &nested, Location, ValueRange bounds) {
        ImplicitLocOpBuilder nb(loc, nested);
        Value mid = arith::ShRUIOp::create(
            nb, arith::AddIOp::create(nb, bounds[0], bounds[1]),
            indexConstant(nb, 1));
        Value atMost = arith::CmpIOp::create(nb, arith::CmpIPredicate::ule,
                                             valueAt(nb, mid), target);
        scf::YieldOp::create(
            nb,
            ValueRange{arith::SelectOp::create(nb, atMost, mid, bounds[0]),
                       arith::SelectOp::create(nb, atMost, bounds[1], mid)});
      });
  return loop.getResult(0);
}

/// The parallel form, the same bits as the serial one. Slots fall in
/// buckets: the expert, or with a slot rank (lowest_weight, choice_order)
/// (expert, dropped?). Slots are cut in chunks of kChunkSlots; the
/// per-chunk bucket counts and their exclusive sums over chunks tell, for
/// the i-th slot of a bucket in token order, which chunk holds it. Every row then finds its own slot: its
/// expert and index i there by binary search of the offsets (kept rows: an
/// expert's first min(count, C) slots, or those of rank < C) or the dropped
/// rows' starts, the chunk by binary search, the slot by a scan of the
/// chunk. Rows are a permutation of the slots, so each is written once, by
/// one thread, and nothing depends on the order threads run in.
Permutation permuteInParallel(ImplicitLocOpBuilder &b, const Slots &slots) {
  MLIRContext *ctx = b.getContext();
  int64_t numExperts = slots.numExperts;
  bool byWeight = static_cast<bool>(slots.rank);
  int64_t numBuckets = byWeight ? 2 * numExperts : numExperts;
  Type i32 = b.getI32Type();
  Value chunkSlots = indexConstant(b, kChunkSlots);
  Value numChunks = arith::CeilDivUIOp::create(b, slots.count, chunkSlots);

  // Each slot's bucket, [chunks, kChunkSlots]; -1 past the last slot.
  Value buckets = createElementwise(
      b, ValueRange{},
      tensor::EmptyOp::create(
          b, ArrayRef<OpFoldResult>{numChunks, b.getIndexAttr(kChunkSlots)},
          i32),
      [&](ImplicitLocOpBuilder &nb, ValueRange) -> Value {
        Value slot = arith::AddIOp::create(
            nb,
            arith::MulIOp::create(nb, linalg::IndexOp::create(nb, 0),
                                  chunkSlots),
            linalg::IndexOp::create(nb, 1));
        Value valid = arith::CmpIOp::create(nb, arith::CmpIPredicate::ult, slot,
                                            slots.count);
        Value at =
            arith::SelectOp::create(nb, valid, slot, indexConstant(nb, 0));
        Value bucket = tensor::ExtractOp::create(nb, slots.experts, at);
        if (byWeight) {
          Value rank = tensor::ExtractOp::create(nb, slots.rank, at);
          Value dropped = arith::CmpIOp::create(nb, arith::CmpIPredicate::uge,
                                                rank, slots.capacity);
          bucket = arith::AddIOp::create(
              nb, bucket,
              arith::SelectOp::create(nb, dropped, i32Constant(nb, numExperts),
                                      i32Constant(nb, 0)));
        }
        return arith::SelectOp::create(nb, valid, bucket, i32Constant(nb, -1));
      });

  // counts[c, b]: slots of chunk c in bucket b (dims c, b, slot of chunk).
  AffineExpr c = getAffineDimExpr(0, ctx), bk = getAffineDimExpr(1, ctx),
             q = getAffineDimExpr(2, ctx);
  Location loc = b.getLoc();
  Value chunkCounts =
      linalg::GenericOp::create(
          b,
          TypeRange{
              RankedTensorType::get({ShapedType::kDynamic, numBuckets}, i32)},
          ValueRange{buckets},
          ValueRange{createFilled(b, {numChunks, b.getIndexAttr(numBuckets)},
                                  i32Constant(b, 0))},
          ArrayRef<AffineMap>{AffineMap::get(3, 0, {c, q}, ctx),
                              AffineMap::get(3, 0, {c, bk}, ctx)},
          ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                        utils::IteratorType::parallel,
                                        utils::IteratorType::reduction},
          [&](OpBuilder &nested, Location, ValueRange args) {
            ImplicitLocOpBuilder nb(loc, nested);
            Value bucket = toI32(nb, linalg::IndexOp::create(nb, 1));
            Value match = arith::CmpIOp::create(nb, arith::CmpIPredicate::eq,
                                                args[0], bucket);
            Value one = arith::ExtUIOp::create(nb, i32, match);
            linalg::YieldOp::create(
                nb, ValueRange{arith::AddIOp::create(nb, args[1], one)});
          })
          .getResult(0);
  // before[c, b]: slots of bucket b in the chunks ahead of c, c in
  // [0, chunks]: the last row is each bucket's total.
  Value before = createExclusiveSums(b, chunkCounts);
  Value totals = tensor::ExtractSliceOp::create(
      b, RankedTensorType::get({numBuckets}, i32), before,
      ArrayRef<OpFoldResult>{numChunks, b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(numBuckets)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});

  // Kept and dropped slots per expert: with a slot rank the two halves
  // of the buckets (ranks are distinct, so the kept half is min(count, C)
  // as in the serial form), else the first min(count, C) of each expert.
  SmallVector<OpFoldResult> expertSize = {b.getIndexAttr(numExperts)};
  auto half = [&](int64_t first) -> Value {
    return tensor::ExtractSliceOp::create(
        b, totals, ArrayRef<OpFoldResult>{b.getIndexAttr(first)}, expertSize,
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  };
  Value kept, dropped;
  if (byWeight) {
    kept = half(0);
    dropped = half(numExperts);
  } else {
    kept = createElementwise(
        b, totals, tensor::EmptyOp::create(b, expertSize, i32),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          return arith::MinUIOp::create(nb, args[0], slots.capacity);
        });
    if (slots.canDrop)
      dropped = createElementwise(
          b, ValueRange{totals, kept},
          tensor::EmptyOp::create(b, expertSize, i32),
          [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
            return arith::SubIOp::create(nb, args[0], args[1]);
          });
  }
  Value offsets = createExclusiveSums(b, kept);
  // Dropped rows follow all kept ones.
  Value dropStarts =
      slots.canDrop ? createExclusiveSums(b, dropped, kept) : Value();

  // Every row finds its slot.
  Value rowSize = getValueOrCreateConstantIndexOp(b, loc, slots.count);
  Value tokenInit =
      tensor::EmptyOp::create(b, ArrayRef<OpFoldResult>{rowSize}, i32);
  Value weightInit = tensor::EmptyOp::create(b, ArrayRef<OpFoldResult>{rowSize},
                                             b.getF32Type());
  AffineMap identity = AffineMap::getMultiDimIdentityMap(1, ctx);
  auto gathered = linalg::GenericOp::create(
      b, TypeRange{tokenInit.getType(), weightInit.getType()}, ValueRange{},
      ValueRange{tokenInit, weightInit},
      ArrayRef<AffineMap>{identity, identity},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
      [&](OpBuilder &nested, Location, ValueRange) {
        ImplicitLocOpBuilder nb(loc, nested);
        Value row = linalg::IndexOp::create(nb, 0);
        Value rowI32 = toI32(nb, row);
        Value zero = indexConstant(nb, 0);
        Value experts = indexConstant(nb, numExperts);
        // Kept rows are [0, offsets[E]), the dropped ones the rest.
        Value inKept = arith::ConstantIntOp::create(nb, 1, 1);
        if (dropStarts)
          inKept = arith::CmpIOp::create(
              nb, arith::CmpIPredicate::ult, rowI32,
              tensor::ExtractOp::create(nb, offsets, experts));
        auto startOf = [&](ImplicitLocOpBuilder &sb, Value expert) -> Value {
          Value keptStart = tensor::ExtractOp::create(sb, offsets, expert);
          if (!dropStarts)
            return keptStart;
          return arith::SelectOp::create(
              sb, inKept, keptStart,
              tensor::ExtractOp::create(sb, dropStarts, expert));
        };
        Value expert = createLastAtMost(nb, zero, experts, rowI32, startOf);
        Value indexInRun =
            arith::SubIOp::create(nb, rowI32, startOf(nb, expert));
        // The bucket, and the slot's index among the bucket's in token order.
        Value bucket = expert, index = indexInRun;
        if (byWeight) {
          bucket = arith::SelectOp::create(
              nb, inKept, expert, arith::AddIOp::create(nb, expert, experts));
        } else if (dropStarts) {
          // An expert's dropped slots are those after its kept ones.
          Value keptCount = arith::SubIOp::create(
              nb,
              tensor::ExtractOp::create(nb, offsets,
                                        ValueRange{arith::AddIOp::create(
                                            nb, expert, indexConstant(nb, 1))}),
              tensor::ExtractOp::create(nb, offsets, expert));
          index = arith::SelectOp::create(
              nb, inKept, indexInRun,
              arith::AddIOp::create(nb, indexInRun, keptCount));
        }
        auto beforeChunk = [&](ImplicitLocOpBuilder &sb, Value chunk) {
          return Value(
              tensor::ExtractOp::create(sb, before, ValueRange{chunk, bucket}));
        };
        Value chunk = createLastAtMost(nb, zero, numChunks, index, beforeChunk);
        // The slot is the `skip`-th of the bucket in its chunk.
        Value skip = toIndex(
            nb, arith::SubIOp::create(nb, index, beforeChunk(nb, chunk)));
        Value bucketI32 = toI32(nb, bucket);
        Type indexType = nb.getIndexType();
        auto scan = scf::WhileOp::create(
            nb, TypeRange{indexType, indexType}, ValueRange{zero, skip},
            [&](OpBuilder &nested, Location, ValueRange state) {
              ImplicitLocOpBuilder sb(loc, nested);
              Value match = arith::CmpIOp::create(
                  sb, arith::CmpIPredicate::eq,
                  tensor::ExtractOp::create(sb, buckets,
                                            ValueRange{chunk, state[0]}),
                  bucketI32);
              Value last = arith::CmpIOp::create(
                  sb, arith::CmpIPredicate::eq, state[1], indexConstant(sb, 0));
              Value found = arith::AndIOp::create(sb, match, last);
              Value go = arith::XOrIOp::create(
                  sb, found, arith::ConstantIntOp::create(sb, 1, 1));
              Value left = arith::SubIOp::create(
                  sb, state[1],
                  arith::IndexCastUIOp::create(sb, indexType, match));
              scf::ConditionOp::create(sb, go, ValueRange{state[0], left});
            },
            [&](OpBuilder &nested, Location, ValueRange state) {
              ImplicitLocOpBuilder sb(loc, nested);
              scf::YieldOp::create(
                  sb, ValueRange{arith::AddIOp::create(sb, state[0],
                                                       indexConstant(sb, 1)),
                                 state[1]});
            });
        Value slot = arith::AddIOp::create(
            nb, arith::MulIOp::create(nb, chunk, chunkSlots),
            scan.getResult(0));
        Value token = toI32(nb, arith::DivUIOp::create(
                                    nb, slot, indexConstant(nb, slots.topK)));
        Value weight = tensor::ExtractOp::create(nb, slots.weights, slot);
        linalg::YieldOp::create(nb, ValueRange{token, weight});
      });
  return {gathered.getResult(0), gathered.getResult(1), offsets};
}

struct DispatchOpLowering : OpRewritePattern<DispatchOp> {
  DispatchOpLowering(MLIRContext *ctx, bool parallel)
      : OpRewritePattern(ctx), parallel(parallel) {}

  LogicalResult matchAndRewrite(DispatchOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    CapacityAttr capacityAttr = op.getCapacityAttr();
    Slots slots;
    // Identity experts are permuted as experts E..E+Z-1, after the real
    // ones; only the real experts' offsets are the op's result.
    int64_t numZero = op.getNumZeroExperts();
    slots.numExperts = op.getNumExperts() + numZero;
    slots.topK = op.getExperts().getType().getDimSize(1);
    slots.experts = tensor::CollapseShapeOp::create(
        b, op.getExperts(), ArrayRef<ReassociationIndices>{{0, 1}});
    slots.weights = tensor::CollapseShapeOp::create(
        b, op.getWeights(), ArrayRef<ReassociationIndices>{{0, 1}});
    slots.count = getValueOrCreateConstantIndexOp(
        b, b.getLoc(), getSizes(b, slots.experts)[0]);
    slots.canDrop = static_cast<bool>(capacityAttr);

    // C as #moe.capacity defines it; dropless keeps up to S, i.e.
    // everything.
    Value capacity = slots.count;
    if (capacityAttr)
      capacity = buildCapacity(b, capacityAttr, slots.count, op.getExperts(),
                               slots.numExperts);
    slots.capacity = toI32(b, capacity);

    // A slot's rank in its expert's queue: kept when below C.
    DropOrder order =
        capacityAttr ? capacityAttr.getDropOrder() : DropOrder::token_order;
    Value rank;
    if (order != DropOrder::token_order ||
        (capacityAttr && capacityAttr.getRenormalize()))
      rank = buildSlotRank(b, slots.experts, slots.weights, order, slots.topK);
    if (order != DropOrder::token_order)
      slots.rank = rank;
    if (capacityAttr)
      slots.weights =
          buildWeightsAfterDropping(b, capacityAttr, op.getWeights(),
                                    slots.weights, rank, slots.capacity);

    Permutation permutation =
        parallel ? permuteInParallel(b, slots) : permuteSerially(b, slots);
    Value rows = createGatherRows(b, op.getInput(), permutation.rowToken);
    if (numZero > 0)
      permutation.offsets = tensor::ExtractSliceOp::create(
          b, permutation.offsets, ArrayRef<OpFoldResult>{b.getIndexAttr(0)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(op.getNumExperts() + 1)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    rewriter.replaceOp(
        op, {castToType(b, rows, op.getRows().getType()),
             castToType(b, permutation.rowToken, op.getRowToken().getType()),
             castToType(b, permutation.rowWeight, op.getRowWeight().getType()),
             permutation.offsets});
    return success();
  }

  /// C for `#moe.capacity`'s form: ceil(factor · S / E), the count, or
  /// ceil(token_fraction · T).
  static Value buildCapacity(ImplicitLocOpBuilder &b, CapacityAttr capacity,
                             Value numSlots, Value experts,
                             int64_t numExperts) {
    if (capacity.getCount() > 0)
      return indexConstant(b, capacity.getCount());
    if (!capacity.getTokenFraction().isZero()) {
      Value numTokens = getValueOrCreateConstantIndexOp(
          b, b.getLoc(), getSizes(b, experts)[0]);
      return createCapacity(b, numTokens,
                            capacity.getTokenFraction().convertToDouble(), 1);
    }
    return createCapacity(b, numSlots, capacity.getFactor().convertToDouble(),
                          numExperts);
  }

  /// rank[s] = #{s' of the same expert ahead of s}: ahead in token order
  /// (s' < s); by weight (w[s'] > w[s], or equal and s' < s); or by choice
  /// (s' mod K < s mod K, or equal and s' < s).
  static Value buildSlotRank(ImplicitLocOpBuilder &b, Value slotExperts,
                             Value slotWeights, DropOrder order, int64_t topK) {
    MLIRContext *ctx = b.getContext();
    AffineMap own = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
    AffineMap other = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    Value init = createFilled(b, getSizes(b, slotExperts), i32Constant(b, 0));
    Location loc = b.getLoc();
    return linalg::GenericOp::create(
               b, TypeRange{init.getType()},
               ValueRange{slotExperts, slotWeights, slotExperts, slotWeights},
               ValueRange{init},
               ArrayRef<AffineMap>{own, own, other, other, own},
               ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                             utils::IteratorType::reduction},
               [&](OpBuilder &nested, Location, ValueRange args) {
                 ImplicitLocOpBuilder nb(loc, nested);
                 Value slot = linalg::IndexOp::create(nb, 0);
                 Value rival = linalg::IndexOp::create(nb, 1);
                 Value sameExpert = arith::CmpIOp::create(
                     nb, arith::CmpIPredicate::eq, args[0], args[2]);
                 Value earlier = arith::CmpIOp::create(
                     nb, arith::CmpIPredicate::ult, rival, slot);
                 Value before = earlier;
                 if (order == DropOrder::lowest_weight) {
                   before =
                       createComesBefore(nb, args[3], rival, args[1], slot);
                 } else if (order == DropOrder::choice_order) {
                   Value k = indexConstant(nb, topK);
                   Value choice = arith::RemUIOp::create(nb, slot, k);
                   Value rivalChoice = arith::RemUIOp::create(nb, rival, k);
                   Value lowerChoice = arith::CmpIOp::create(
                       nb, arith::CmpIPredicate::ult, rivalChoice, choice);
                   Value sameChoice = arith::CmpIOp::create(
                       nb, arith::CmpIPredicate::eq, rivalChoice, choice);
                   before = arith::OrIOp::create(
                       nb, lowerChoice,
                       arith::AndIOp::create(nb, sameChoice, earlier));
                 }
                 Value ahead = arith::AndIOp::create(nb, sameExpert, before);
                 Value one = arith::ExtUIOp::create(nb, nb.getI32Type(), ahead);
                 linalg::YieldOp::create(
                     nb, ValueRange{arith::AddIOp::create(nb, args[4], one)});
               })
        .getResult(0);
  }

  /// The slot weights `[S]` after dropping: under `renormalize` each
  /// token's kept weights over max(their sum, f32 epsilon) (a dropped slot,
  /// rank >= C, weighs 0), summed over its K slots in order; then times
  /// `output_scale`. `weights` is the `[T,K]` operand, `slotWeights` the
  /// same values collapsed.
  static Value buildWeightsAfterDropping(ImplicitLocOpBuilder &b,
                                         CapacityAttr capacity, Value weights,
                                         Value slotWeights, Value rank,
                                         Value capacityI32) {
    double scale = capacity.getOutputScale().convertToDouble();
    if (!capacity.getRenormalize() && scale == 1.0)
      return slotWeights;
    MLIRContext *ctx = b.getContext();
    int64_t topK = cast<RankedTensorType>(weights.getType()).getDimSize(1);
    AffineExpr d0 = getAffineDimExpr(0, ctx), d1 = getAffineDimExpr(1, ctx);
    Value slotInit =
        tensor::EmptyOp::create(b, getSizes(b, slotWeights), b.getF32Type());
    if (!capacity.getRenormalize())
      return createElementwise(
          b, slotWeights, slotInit,
          [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
            return arith::MulFOp::create(nb, args[0],
                                         f32Constant(nb, float(scale)));
          });
    // Kept weights [T,K], their sums [T], then each slot's share.
    SmallVector<OpFoldResult> sizes = getSizes(b, weights);
    Value kept = createElementwise(
        b, ValueRange{weights, rank},
        tensor::EmptyOp::create(b, sizes, b.getF32Type()),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value keep = arith::CmpIOp::create(nb, arith::CmpIPredicate::ult,
                                             args[1], capacityI32);
          return arith::SelectOp::create(nb, keep, args[0],
                                         f32Constant(nb, 0.0f));
        },
        {AffineMap::get(2, 0, {d0, d1}, ctx),
         AffineMap::get(2, 0, {d0 * topK + d1}, ctx)});
    Value sums = createReduction(
        b, kept, createFilled(b, {sizes[0]}, f32Constant(b, 0.0f)),
        /*overRows=*/false, createAddF);
    return createElementwise(
        b, ValueRange{kept, sums}, slotInit,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value denominator = arith::MaximumFOp::create(
              nb, args[1],
              f32Constant(nb, std::numeric_limits<float>::epsilon()));
          Value share = arith::DivFOp::create(nb, args[0], denominator);
          if (scale == 1.0)
            return share;
          return arith::MulFOp::create(nb, share,
                                       f32Constant(nb, float(scale)));
        },
        {AffineMap::get(1, 0, {d0.floorDiv(topK), d0 % topK}, ctx),
         AffineMap::get(1, 0, {d0.floorDiv(topK)}, ctx)});
  }

private:
  bool parallel;
};

struct CombineOpLowering : OpRewritePattern<CombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 activations lower");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    int64_t numExperts = op.getExpertOffsets().getType().getDimSize(0) - 1;
    int64_t hidden = op.getInput().getType().getDimSize(1);
    Value input = op.getInput(), expertOut = op.getExpertOut();
    Value rowToken = op.getRowToken(), rowWeight = op.getRowWeight();
    // Every token's sum starts from the output bias, or zero.
    Value output = op.getOutputBias()
                       ? createBroadcastRows(b, op.getOutputBias(), input)
                       : createFilled(b, getSizes(b, input), f32Constant(b, 0));
    Value numKept = toIndex(
        b, tensor::ExtractOp::create(b, op.getExpertOffsets(),
                                     ValueRange{indexConstant(b, numExperts)}));
    // Dropped rows matter only when they pass their input through.
    bool passThrough = op.getDropped() == DroppedSlot::input;
    Value numRows = passThrough ? getValueOrCreateConstantIndexOp(
                                      b, b.getLoc(), getSizes(b, rowToken)[0])
                                : numKept;
    output = buildLoop(
        b, numRows, output,
        [&](ImplicitLocOpBuilder &nb, Value r, ValueRange iter) {
          Value token = toIndex(nb, tensor::ExtractOp::create(nb, rowToken, r));
          Value weight =
              rowWeight ? Value(tensor::ExtractOp::create(nb, rowWeight, r))
                        : f32Constant(nb, 1.0f);
          Value isKept =
              arith::CmpIOp::create(nb, arith::CmpIPredicate::ult, r, numKept);
          return SmallVector<Value>{buildLoop(
              nb, indexConstant(nb, hidden), iter[0],
              [&](ImplicitLocOpBuilder &hb, Value h, ValueRange hiter) {
                Value value =
                    tensor::ExtractOp::create(hb, expertOut, ValueRange{r, h});
                if (passThrough)
                  value = arith::SelectOp::create(
                      hb, isKept, value,
                      tensor::ExtractOp::create(hb, input,
                                                ValueRange{token, h}));
                Value old = tensor::ExtractOp::create(hb, hiter[0],
                                                      ValueRange{token, h});
                Value sum = arith::AddFOp::create(
                    hb, old, arith::MulFOp::create(hb, weight, value));
                return SmallVector<Value>{tensor::InsertOp::create(
                    hb, sum, hiter[0], ValueRange{token, h})};
              })[0]};
        })[0];
    rewriter.replaceOp(op, castToType(b, output, op.getOutput().getType()));
    return success();
  }
};
} // namespace

void mlir::moe::populateDispatchToLinalgPatterns(RewritePatternSet &patterns,
                                                 bool parallelDispatch) {
  patterns.add<DispatchOpLowering>(patterns.getContext(), parallelDispatch);
  patterns.add<CombineOpLowering>(patterns.getContext());
}
