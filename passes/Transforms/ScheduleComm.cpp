//===- ScheduleComm.cpp - exchanges overlapped with expert compute --------===//
//
// Implements `moe-schedule-comm`: the block moe-expert-parallel makes of a
// layer (dispatch, rows out, experts, results back, combine) is cloned once
// per chunk of the rank's tokens, and the clones are interleaved so that a
// chunk's exchange is in flight while another chunk's experts compute.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/IR/PlacementAttr.h"
#include "moe/Parallel/CostModel.h"
#include "moe/Support/Limits.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOESCHEDULECOMM
#include "moe/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// One layer's expert-parallel block: the ops from its dispatch to its
/// combine, in program order, split by the two exchanges of rows.
struct ExchangeBlock {
  DispatchOp dispatch;
  AllToAllOp out, back;
  CombineOp combine;
  /// Before the rows go out (the dispatch and the send counts), between
  /// (the experts), after they come back (the combine).
  SmallVector<Operation *> before, between, after;
};

/// The block whose results come back to `combine`, if it is one that
/// moe-expert-parallel made.
FailureOr<ExchangeBlock> matchBlock(CombineOp combine) {
  ExchangeBlock block;
  block.combine = combine;
  block.back = combine.getExpertOut().getDefiningOp<AllToAllOp>();
  if (!block.back)
    return failure();
  auto experts = block.back.getRows().getDefiningOp<FusedExpertsOp>();
  if (!experts)
    return failure();
  block.out = experts.getInput().getDefiningOp<AllToAllOp>();
  if (!block.out)
    return failure();
  block.dispatch = block.out.getRows().getDefiningOp<DispatchOp>();
  if (!block.dispatch ||
      combine.getRowToken() != block.dispatch.getRowToken() ||
      combine.getExpertOffsets() != block.dispatch.getExpertOffsets() ||
      combine.getInput() != block.dispatch.getInput())
    return failure();
  Block *parent = combine->getBlock();
  if (block.dispatch->getBlock() != parent)
    return failure();

  // Everything that depends on the dispatch up to the combine, in order
  // (uses inside an op's regions count as the op's).
  auto operandOwners = [&](Operation *op) {
    SmallVector<Operation *> owners;
    op->walk([&](Operation *nested) {
      for (Value operand : nested->getOperands())
        if (Operation *def = operand.getDefiningOp())
          if (Operation *owner = parent->findAncestorOpInBlock(*def))
            owners.push_back(owner);
    });
    return owners;
  };
  SmallVector<Operation *> ops = {block.dispatch};
  DenseSet<Operation *> inBlock = {block.dispatch}, afterOut, afterBack;
  for (Operation *op = block.dispatch->getNextNode(); op != combine;
       op = op->getNextNode()) {
    if (llvm::any_of(operandOwners(op),
                     [&](Operation *owner) { return inBlock.contains(owner); }))
      inBlock.insert(op), ops.push_back(op);
  }
  ops.push_back(combine);
  inBlock.insert(combine);
  // The block must stand alone: only the combine's result leaves it.
  for (Operation *op : ops)
    for (Operation *user : op->getUsers())
      if (op != combine &&
          !inBlock.contains(parent->findAncestorOpInBlock(*user)))
        return failure();

  // Before, between or after by what the op depends on.
  for (Operation *op : ops) {
    bool dependsOnOut = op == block.out, dependsOnBack = op == block.back;
    for (Operation *owner : operandOwners(op)) {
      dependsOnOut |= afterOut.contains(owner);
      dependsOnBack |= afterBack.contains(owner);
    }
    if (dependsOnOut)
      afterOut.insert(op);
    if (dependsOnBack)
      afterBack.insert(op);
    if (op == block.out || op == block.back)
      continue;
    if (dependsOnBack)
      block.after.push_back(op);
    else if (dependsOnOut)
      block.between.push_back(op);
    else
      block.before.push_back(op);
  }
  return block;
}

struct ScheduleCommPass
    : public mlir::moe::impl::MoEScheduleCommBase<ScheduleCommPass> {
  using MoEScheduleCommBase::MoEScheduleCommBase;

  void runOnOperation() override {
    if (chunks == 1)
      return;
    if (chunks < 0 || chunks > ::moe::limits::kMaxChunks) {
      getOperation().emitError()
          << "moe-schedule-comm: chunks must be in [0, "
          << ::moe::limits::kMaxChunks
          << "] (0: the cost model's choice), got "
          << static_cast<int64_t>(chunks);
      return signalPassFailure();
    }
    SmallVector<ExchangeBlock> blocks;
    getOperation().walk([&](CombineOp combine) {
      if (FailureOr<ExchangeBlock> block = matchBlock(combine);
          succeeded(block))
        blocks.push_back(*block);
    });
    for (ExchangeBlock &block : blocks) {
      FailureOr<int64_t> parts =
          chunks ? FailureOr<int64_t>(chunks) : chooseChunks(block);
      if (failed(parts))
        return signalPassFailure();
      if (*parts > 1)
        pipeline(block, *parts);
    }
  }

  /// The cost model's C for the block's layer, placement and the options.
  FailureOr<int64_t> chooseChunks(ExchangeBlock &block) {
    auto place = block.dispatch.getExperts().getDefiningOp<PlaceOp>();
    FusedExpertsOp fused;
    for (Operation *user : block.out.getReceivedRows().getUsers())
      if (auto op = dyn_cast<FusedExpertsOp>(user))
        fused = op;
    if (!place || !fused)
      return block.combine.emitOpError()
             << "moe-schedule-comm: chunks=0 needs the moe.place and "
                "moe.fused_experts of moe-expert-parallel";
    ::moe::ExpertPlacement placement = toPlacement(place.getPlacement());
    ::moe::LayerShape shape;
    shape.hidden = block.dispatch.getInput().getType().getDimSize(1);
    shape.ffn = fused.getFfnWidth();
    shape.experts = placement.numExperts;
    shape.topK = block.dispatch.getExperts().getType().getDimSize(1);
    shape.gated = static_cast<bool>(fused.getExpertGate());
    shape.activationBytes = 4;
    shape.weightBytes = 4;
    ::moe::Topology topology;
    topology.ranksPerNode = placement.numRanks();
    if (!::moe::linkPreset(link, topology.intra))
      return block.combine.emitOpError()
             << "moe-schedule-comm: unknown link '" << link << "' ("
             << ::moe::linkPresetNames() << ")";
    topology.inter = topology.intra;
    ::moe::ComputeModel compute{"cpu", flops, memBandwidth};
    std::vector<double> loads = ::moe::uniformLoads(placement.numExperts);
    std::string problem = ::moe::verifyCostInputs(
        shape, placement, tokensPerRank, loads, topology, compute,
        /*chunks=*/1, /*rankLimit=*/0);
    if (!problem.empty())
      return block.combine.emitOpError()
             << "moe-schedule-comm: the cost model refuses: " << problem;
    return ::moe::chooseChunks(shape, placement, tokensPerRank, loads,
                               topology, compute, /*rankLimit=*/0);
  }

  /// A chunk's tokens: [first, first + count) of the rank's T.
  struct Chunk {
    Value first, count;
    IRMapping map;
  };

  void pipeline(ExchangeBlock &block, int64_t chunks) {
    OpBuilder b(block.combine);
    Location loc = block.combine.getLoc();
    Value input = block.dispatch.getInput();
    Value experts = block.dispatch.getExperts();
    Value weights = block.dispatch.getWeights();
    auto index = [&](int64_t value) -> Value {
      return arith::ConstantIndexOp::create(b, loc, value);
    };
    Value tokens = tensor::DimOp::create(b, loc, input, 0);
    Value parts = index(chunks);
    Value base = arith::DivUIOp::create(b, loc, tokens, parts);
    Value extra = arith::RemUIOp::create(b, loc, tokens, parts);

    // Slices of the input, the placed experts and the routing weights.
    auto sliceRows = [&](Value value, Value first, Value count) -> Value {
      auto type = cast<RankedTensorType>(value.getType());
      SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
      SmallVector<OpFoldResult> sizes,
          strides(type.getRank(), b.getIndexAttr(1));
      offsets[0] = first;
      sizes.push_back(count);
      for (int64_t d = 1; d < type.getRank(); ++d)
        sizes.push_back(b.getIndexAttr(type.getDimSize(d)));
      return tensor::ExtractSliceOp::create(b, loc, value, offsets, sizes,
                                            strides);
    };
    SmallVector<Chunk> chunkList(chunks);
    for (int64_t c = 0; c < chunks; ++c) {
      Chunk &chunk = chunkList[c];
      Value cv = index(c);
      // count = T/C + (c < T mod C); first = c·(T/C) + min(c, T mod C)
      Value longer = arith::SelectOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, cv, extra),
          index(1), index(0));
      chunk.count = arith::AddIOp::create(b, loc, base, longer);
      chunk.first =
          arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, cv, base),
                                arith::MinUIOp::create(b, loc, cv, extra));
      chunk.map.map(input, sliceRows(input, chunk.first, chunk.count));
      chunk.map.map(experts, sliceRows(experts, chunk.first, chunk.count));
      chunk.map.map(weights, sliceRows(weights, chunk.first, chunk.count));
    }
    auto cloneAll = [&](ArrayRef<Operation *> ops, Chunk &chunk) {
      for (Operation *op : ops)
        b.clone(*op, chunk.map);
    };
    auto start = [&](AllToAllOp exchange, Chunk &chunk) -> Value {
      auto type = ExchangeType::get(
          b.getContext(), cast<RankedTensorType>(exchange.getRows().getType()),
          cast<RankedTensorType>(exchange.getSendCounts().getType()));
      auto started = AllToAllStartOp::create(
          b, exchange.getLoc(), type, chunk.map.lookup(exchange.getRows()),
          chunk.map.lookup(exchange.getSendCounts()));
      started.setReturning(exchange.getReturning());
      return started.getResult();
    };
    auto wait = [&](AllToAllOp exchange, Value handle, Chunk &chunk) {
      auto done = AllToAllWaitOp::create(
          b, exchange.getLoc(), exchange.getReceivedRows().getType(),
          exchange.getReceivedCounts().getType(), handle);
      chunk.map.map(exchange.getReceivedRows(), done.getReceivedRows());
      chunk.map.map(exchange.getReceivedCounts(), done.getReceivedCounts());
    };

    // Every chunk's dispatch, then the pipeline.
    for (Chunk &chunk : chunkList)
      cloneAll(block.before, chunk);
    SmallVector<Value> outgoing(chunks), returning(chunks);
    outgoing[0] = start(block.out, chunkList[0]);
    auto finish = [&](int64_t c) {
      wait(block.back, returning[c], chunkList[c]);
      cloneAll(block.after, chunkList[c]);
    };
    for (int64_t c = 0; c < chunks; ++c) {
      wait(block.out, outgoing[c], chunkList[c]);
      if (c + 1 < chunks)
        outgoing[c + 1] = start(block.out, chunkList[c + 1]);
      cloneAll(block.between, chunkList[c]);
      returning[c] = start(block.back, chunkList[c]);
      if (c > 0)
        finish(c - 1);
    }
    finish(chunks - 1);

    // The chunks' outputs, in token order.
    auto outputType = cast<RankedTensorType>(block.combine.getType());
    Value output = tensor::EmptyOp::create(
        b, loc, outputType,
        ValueRange{tensor::DimOp::create(b, loc, input, 0)});
    for (Chunk &chunk : chunkList) {
      Value part = chunk.map.lookup(block.combine.getResult());
      SmallVector<OpFoldResult> offsets = {chunk.first, b.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes = {
          chunk.count, b.getIndexAttr(outputType.getDimSize(1))};
      SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
      output = tensor::InsertSliceOp::create(b, loc, part, output, offsets,
                                             sizes, strides);
    }
    block.combine.getResult().replaceAllUsesWith(output);

    // The unchunked block goes, last op first.
    SmallVector<Operation *> old;
    old.append(block.before);
    old.push_back(block.out);
    old.append(block.between);
    old.push_back(block.back);
    old.append(block.after);
    llvm::sort(
        old, [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
    for (Operation *op : llvm::reverse(old))
      op->erase();
  }
};

} // namespace
