//===- ExchangeToLinalg.cpp - expert-parallel ops on tensors --------------===//
//
// moe.place, moe.received_order and moe.all_to_all (and its start/wait
// form). The placement is a
// table of constants read by a linalg.generic; the received order is a
// sequential walk over the counts (scf.for on tensors); an all-to-all is the
// counts' exchange, a buffer of the rows they announce, and the rows'
// exchange: the kernel layer's destination-style exchange ops, which
// convert-moe-to-runtime turns into communicator calls once bufferized.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "moe/Conversion/MoEToLinalg.h"
#include "moe/Dialect/MoE/IR/MoEKernelOps.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/IR/PlacementAttr.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

namespace {
Value i32Table(ImplicitLocOpBuilder &b, ArrayRef<int32_t> values) {
  auto type = RankedTensorType::get({static_cast<int64_t>(values.size())},
                                    b.getI32Type());
  return arith::ConstantOp::create(b, DenseIntElementsAttr::get(type, values));
}

/// physical[t,k] = replicas[first[e] + (rank + t) mod (first[e+1] - first[e])]
/// with e = experts[t,k]: the replica rule of moe/Parallel/Placement.h.
struct PlaceOpLowering : OpRewritePattern<PlaceOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(PlaceOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    ::moe::ExpertPlacement placement = toPlacement(op.getPlacement());
    SmallVector<int32_t> first = {0}, replicas;
    for (int64_t e = 0; e < placement.numExperts; ++e) {
      for (int64_t physical : placement.replicas(e))
        replicas.push_back(static_cast<int32_t>(physical));
      first.push_back(static_cast<int32_t>(replicas.size()));
    }
    Value firstTable = i32Table(b, first);
    Value replicaTable = i32Table(b, replicas);
    bool replicated = placement.hasReplicas();
    Value rank = op.getRank();
    Value init = tensor::EmptyOp::create(b, getSizes(b, op.getExperts()),
                                         b.getI32Type());
    Value result = createElementwise(
        b, op.getExperts(), init,
        [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
          Value expert = toIndex(nb, args[0]);
          Value begin =
              toIndex(nb, tensor::ExtractOp::create(nb, firstTable, expert));
          if (replicated) {
            Value next =
                arith::AddIOp::create(nb, expert, indexConstant(nb, 1));
            Value end =
                toIndex(nb, tensor::ExtractOp::create(nb, firstTable, next));
            Value count = arith::SubIOp::create(nb, end, begin);
            Value token = linalg::IndexOp::create(nb, 0);
            Value turn = arith::RemUIOp::create(
                nb, arith::AddIOp::create(nb, rank, token), count);
            begin = arith::AddIOp::create(nb, begin, turn);
          }
          return tensor::ExtractOp::create(nb, replicaTable, begin);
        });
    rewriter.replaceOp(op, castToType(b, result, op.getType()));
    return success();
  }
};

/// offsets[g+1] = offsets[g] + Σ_n counts[n][g]; then, walking the received
/// rows in (source, slot) order, row p of (n, g) goes to slot g's next place.
struct ReceivedOrderOpLowering : OpRewritePattern<ReceivedOrderOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ReceivedOrderOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value counts = op.getCounts();
    auto countsType = cast<RankedTensorType>(counts.getType());
    int64_t ranks = countsType.getDimSize(0), slots = countsType.getDimSize(1);
    Value zero = i32Constant(b, 0);
    Value offsets = createFilled(
        b, ArrayRef<OpFoldResult>{b.getIndexAttr(slots + 1)}, zero);
    offsets = buildLoop(
        b, indexConstant(b, slots), offsets,
        [&](ImplicitLocOpBuilder &nb, Value g, ValueRange iter) {
          Value sum =
              buildLoop(nb, indexConstant(nb, ranks),
                        tensor::ExtractOp::create(nb, iter[0], g).getResult(),
                        [&](ImplicitLocOpBuilder &ib, Value n, ValueRange acc) {
                          Value count = tensor::ExtractOp::create(
                              ib, counts, ValueRange{n, g});
                          return SmallVector<Value>{
                              arith::AddIOp::create(ib, acc[0], count)};
                        })[0];
          Value next = arith::AddIOp::create(nb, g, indexConstant(nb, 1));
          return SmallVector<Value>{
              tensor::InsertOp::create(nb, sum, iter[0], next)};
        })[0];
    Value total = toIndex(
        b, tensor::ExtractOp::create(b, offsets, indexConstant(b, slots)));
    Value order = tensor::EmptyOp::create(b, ArrayRef<OpFoldResult>{total},
                                          b.getI32Type());
    // The next free place of each slot starts at its offset.
    Value cursor = tensor::ExtractSliceOp::create(
        b, offsets, ArrayRef<OpFoldResult>{b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(slots)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    Value source = indexConstant(b, 0);
    order = buildLoop(
        b, indexConstant(b, ranks), {order, cursor, source},
        [&](ImplicitLocOpBuilder &nb, Value n, ValueRange rankIter) {
          return SmallVector<Value>(buildLoop(
              nb, indexConstant(nb, slots), rankIter,
              [&](ImplicitLocOpBuilder &sb, Value g, ValueRange slotIter) {
                Value count = toIndex(sb, tensor::ExtractOp::create(
                                              sb, counts, ValueRange{n, g}));
                Value place =
                    toIndex(sb, tensor::ExtractOp::create(sb, slotIter[1], g));
                Value filled = buildLoop(
                    sb, count, slotIter[0],
                    [&](ImplicitLocOpBuilder &rb, Value i, ValueRange rowIter) {
                      Value from =
                          toI32(rb, arith::AddIOp::create(rb, slotIter[2], i));
                      Value to = arith::AddIOp::create(rb, place, i);
                      return SmallVector<Value>{
                          tensor::InsertOp::create(rb, from, rowIter[0], to)};
                    })[0];
                Value moved = tensor::InsertOp::create(
                    sb, toI32(sb, arith::AddIOp::create(sb, place, count)),
                    slotIter[1], g);
                Value nextSource =
                    arith::AddIOp::create(sb, slotIter[2], count);
                return SmallVector<Value>{filled, moved, nextSource};
              }));
        })[0];
    rewriter.replaceOp(op, {castToType(b, order, op.getOrder().getType()),
                            castToType(b, offsets, op.getOffsets().getType())});
    return success();
  }
};

/// The counts of an exchange of `rows` by `sendCounts`, exchanged first so
/// that each rank can size what it receives, and the empty buffer of that
/// size: (received counts, receive buffer).
std::pair<Value, Value> exchangeCounts(ImplicitLocOpBuilder &b, Value rows,
                                       Value sendCounts, bool returning) {
  auto countsType = cast<RankedTensorType>(sendCounts.getType());
  Value countsInit = tensor::EmptyOp::create(b, countsType.getShape(),
                                             countsType.getElementType());
  auto counts = ExchangeCountsOp::create(b, TypeRange{countsType},
                                         ValueRange{sendCounts, countsInit});
  counts.setReturning(returning);
  Value received = counts.getResult()[0];
  int64_t ranks = countsType.getDimSize(0), slots = countsType.getDimSize(1);
  Value total = buildLoop(
      b, indexConstant(b, ranks * slots), indexConstant(b, 0),
      [&](ImplicitLocOpBuilder &nb, Value i, ValueRange acc) {
        Value slotCount = indexConstant(nb, slots);
        Value n = arith::DivUIOp::create(nb, i, slotCount);
        Value g = arith::RemUIOp::create(nb, i, slotCount);
        Value count = toIndex(
            nb, tensor::ExtractOp::create(nb, received, ValueRange{n, g}));
        return SmallVector<Value>{arith::AddIOp::create(nb, acc[0], count)};
      })[0];
  auto rowsType = cast<RankedTensorType>(rows.getType());
  Value buffer = tensor::EmptyOp::create(
      b, ArrayRef<OpFoldResult>{total, b.getIndexAttr(rowsType.getDimSize(1))},
      rowsType.getElementType());
  return {received, buffer};
}

struct AllToAllOpLowering : OpRewritePattern<AllToAllOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AllToAllOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto [received, buffer] =
        exchangeCounts(b, op.getRows(), op.getSendCounts(), op.getReturning());
    auto exchange = ExchangeRowsOp::create(
        b, TypeRange{buffer.getType()},
        ValueRange{op.getRows(), op.getSendCounts(), received, buffer});
    exchange.setReturning(op.getReturning());
    Value rows = exchange.getResult()[0];
    rewriter.replaceOp(
        op, {castToType(b, rows, op.getReceivedRows().getType()), received});
    return success();
  }
};

/// A start and its wait together: the counts and the start of the rows at
/// the start, the completion at the wait.
struct AllToAllStartOpLowering : OpRewritePattern<AllToAllStartOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AllToAllStartOp op,
                                PatternRewriter &rewriter) const override {
    if (!op->hasOneUse())
      return rewriter.notifyMatchFailure(op, "not waited for exactly once");
    auto wait = dyn_cast<AllToAllWaitOp>(*op->getUsers().begin());
    if (!wait)
      return rewriter.notifyMatchFailure(op, "not waited for exactly once");
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto [received, buffer] =
        exchangeCounts(b, op.getRows(), op.getSendCounts(), op.getReturning());
    auto start = ExchangeRowsStartOp::create(
        b, TypeRange{buffer.getType()},
        ValueRange{op.getRows(), op.getSendCounts(), received, buffer});
    start.setReturning(op.getReturning());
    Value started = start.getResult()[0];
    rewriter.setInsertionPoint(wait);
    ImplicitLocOpBuilder w(wait.getLoc(), rewriter);
    Value done = ExchangeWaitOp::create(w, TypeRange{started.getType()},
                                        ValueRange{op.getRows(), started})
                     .getResult()[0];
    rewriter.replaceOp(
        wait,
        {castToType(w, done, wait.getReceivedRows().getType()), received});
    rewriter.eraseOp(op);
    return success();
  }
};
} // namespace

void mlir::moe::populateExchangeToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<PlaceOpLowering, ReceivedOrderOpLowering, AllToAllOpLowering,
               AllToAllStartOpLowering>(patterns.getContext());
}
