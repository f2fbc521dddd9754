//===- GroupedGemmSm90Kernel.cpp - the sm_90a grouped GEMM kernel ---------===//
//
// Builds one block's work of a grouped expert GEMM for Hopper, in three
// parts:
//
// * schedule: the block's rows of one expert (buildRowTileSchedule on
//   block id x) and its columns (block id y);
// * mainloop: over the depth in order, 64 at a time (the last tile past
//   K zero-filled: TMA fills the weights, the gather stores zeros), through a
//   ring of `stages` shared-memory buffers. The weights come by TMA (a
//   `[columns, 64]` bf16 box, 128-byte swizzled, completing on the
//   stage's mbarrier); the row tile is gathered by the block's threads
//   (row r is `a[row_token[r]]`), rounded to bf16 and stored in the same
//   128-byte swizzle, then made visible to the async proxy. Each warpgroup
//   multiplies its 64 rows by the weight tile with wgmma (both operands
//   K-major), f32 accumulators in registers;
// * epilogue: from the accumulator registers, the row's scale or routing
//   weight, the activation, and masked stores.
//
// wgmma is written as nvvm.wgmma.mma_async: nvgpu.warpgroup.mma in MLIR 22
// accepts only a transposed (N-major) B, and the weights are K-major rows.
// The depth loop stays an scf.for (never unrolled; its first tile peeled
// so that no register move starts the accumulators) and accumulates in
// depth order: no split-K, so a row's bits do not depend on the tiling.
//
//===----------------------------------------------------------------------===//

#include "GroupedGemmSm90.h"


#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::cuda;
using namespace mlir::moe::cuda::sm90;

namespace {

/// Bytes of one 128-byte swizzle row, and the rows the pattern spans.
constexpr int64_t kSwizzleRowBytes = 128;
constexpr int64_t kSwizzleRows = 8;
/// bf16 elements per 16-byte chunk (the unit the swizzle permutes).
constexpr int64_t kChunkElems = 8;
/// wgmma's depth for bf16.
constexpr int64_t kMmaDepth = 16;
/// Ticks an mbarrier try_wait suspends for before it retries.
constexpr int64_t kWaitTicks = 10000000;

Attribute workgroupSpace(MLIRContext *ctx) {
  return gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
}

MemRefType sharedTile(MLIRContext *ctx, int64_t rows) {
  return MemRefType::get({rows, kStageDepth}, BFloat16Type::get(ctx),
                         MemRefLayoutAttrInterface(), workgroupSpace(ctx));
}

/// The register fragment of one warpgroup's 64 x columns f32 accumulator,
/// as nvvm.wgmma.mma_async carries it.
LLVM::LLVMStructType accumulatorType(MLIRContext *ctx, int64_t columns) {
  SmallVector<Type> fields(columns / 2, Float32Type::get(ctx));
  return LLVM::LLVMStructType::getLiteral(ctx, fields);
}

/// The kernel's values every part uses.
struct KernelState {
  const KernelSpec &spec;
  SmallVector<Value> tensorMaps;
  Value a, rowToken, rowScale, offsets, out;
  Value numRows;
  Value threadId, warpgroup, laneInWarpgroup;
  RowTile rows;
  Value columnBegin;
  /// Dynamic shared memory and the byte offset of the aligned ring.
  Value shared, ringBase;
};

//===----------------------------------------------------------------------===//
// Schedule
//===----------------------------------------------------------------------===//

/// Finds the block's rows and columns; returns the condition under which
/// it has work (false for the grid's spare blocks).
Value buildBlockSchedule(ImplicitLocOpBuilder &b, KernelState &k) {
  Value tile = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  k.rows =
      buildRowTileSchedule(b, k.offsets, tile, k.numRows, k.spec.tile.rows);
  k.columnBegin =
      arith::MulIOp::create(b, gpu::BlockIdOp::create(b, gpu::Dimension::y),
                            idx(b, k.spec.tile.columns));
  return arith::AndIOp::create(
      b, k.rows.valid,
      arith::CmpIOp::create(b, arith::CmpIPredicate::ult, k.rows.rowBegin,
                            k.rows.rowEnd));
}

//===----------------------------------------------------------------------===//
// Mainloop
//===----------------------------------------------------------------------===//

/// The byte offset in dynamic shared memory of stage `stage`'s row tile
/// (weight -1) or of its tile of weight `weight`.
Value stageOffset(ImplicitLocOpBuilder &b, const KernelState &k, Value stage,
                  int64_t weight) {
  const GemmTileShape &t = k.spec.tile;
  int64_t within =
      weight < 0 ? 0 : (t.rows + weight * t.columns) * kStageDepth * 2;
  Value start = arith::MulIOp::create(b, stage, idx(b, k.spec.stageBytes()));
  return arith::AddIOp::create(b, k.ringBase,
                               arith::AddIOp::create(b, start, idx(b, within)));
}

Value sharedView(ImplicitLocOpBuilder &b, const KernelState &k, Value offset,
                 int64_t rows) {
  return memref::ViewOp::create(b, sharedTile(b.getContext(), rows), k.shared,
                                offset, ValueRange{});
}

/// Thread 0 starts the TMA loads of depth tile `depthTile` into stage
/// `stage`, completing on that stage's mbarrier.
void buildIssueWeightLoads(ImplicitLocOpBuilder &b, const KernelState &k,
                           Value barriers, Value depthTile, Value stage) {
  const KernelSpec &s = k.spec;
  Value bytes = idx(b, s.numWeights * s.tile.columns * kStageDepth * 2);
  nvgpu::MBarrierArriveExpectTxOp::create(b, barriers, bytes, stage,
                                          /*predicate=*/Value());
  // The weights are viewed as [E·N, K]: expert e's rows start at e·N.
  Value weightRow = arith::AddIOp::create(
      b, arith::MulIOp::create(b, k.rows.expert, idx(b, s.columns)),
      k.columnBegin);
  Value depth = arith::MulIOp::create(b, depthTile, idx(b, kStageDepth));
  for (int64_t w = 0; w < s.numWeights; ++w) {
    Value dst = sharedView(b, k, stageOffset(b, k, stage, w), s.tile.columns);
    // TMA coordinates are innermost first.
    nvgpu::TmaAsyncLoadOp::create(b, dst, barriers, k.tensorMaps[w],
                                  ValueRange{depth, weightRow}, stage,
                                  /*multicastMask=*/Value(),
                                  /*predicate=*/Value());
  }
}

/// Where a thread's chunks of the row tile come from and go to; the same
/// for every depth tile, so computed once.
struct RowChunk {
  /// Source row of `a`, whether the tile row exists, the chunk's first
  /// depth element within the stage, and its column in the swizzled tile.
  Value sourceRow, valid, depthInStage, tileRow, swizzledColumn;
};

SmallVector<RowChunk> buildRowChunks(ImplicitLocOpBuilder &b,
                                     const KernelState &k) {
  int64_t threads = k.spec.threads();
  int64_t chunksPerRow = kStageDepth / kChunkElems;
  int64_t perThread = k.spec.tile.rows * chunksPerRow / threads;
  SmallVector<RowChunk> chunks;
  Value last = arith::SubIOp::create(b, k.rows.rowEnd, idx(b, 1));
  for (int64_t j = 0; j < perThread; ++j) {
    // Consecutive threads take consecutive chunks of a row: each row's
    // 256 bytes of f32 are read by 8 neighbouring threads.
    Value linear = arith::AddIOp::create(b, k.threadId, idx(b, j * threads));
    RowChunk c;
    c.tileRow = arith::DivUIOp::create(b, linear, idx(b, chunksPerRow));
    Value chunk = arith::RemUIOp::create(b, linear, idx(b, chunksPerRow));
    Value row = arith::AddIOp::create(b, k.rows.rowBegin, c.tileRow);
    c.valid =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, row, k.rows.rowEnd);
    // Rows past the tile read the tile's last row (never out of bounds)
    // and store zeros.
    Value clamped = arith::MinUIOp::create(b, row, last);
    if (k.rowToken) {
      Value token = memref::LoadOp::create(b, k.rowToken, clamped);
      c.sourceRow = arith::IndexCastUIOp::create(b, b.getIndexType(), token);
    } else {
      c.sourceRow = clamped;
    }
    c.depthInStage = arith::MulIOp::create(b, chunk, idx(b, kChunkElems));
    // The 128-byte swizzle: 16-byte chunk c of row r is stored at chunk
    // c ^ (r % 8) (rows of 128 bytes, the pattern repeating every 1024).
    Value swizzled = arith::XOrIOp::create(
        b, chunk, arith::RemUIOp::create(b, c.tileRow, idx(b, kSwizzleRows)));
    c.swizzledColumn = arith::MulIOp::create(b, swizzled, idx(b, kChunkElems));
    chunks.push_back(c);
  }
  return chunks;
}

/// Every thread stores its chunks of the row tile of depth tile
/// `depthTile`, rounded to bf16, into stage `stage`.
void buildStoreRowTile(ImplicitLocOpBuilder &b, const KernelState &k,
                       ArrayRef<RowChunk> chunks, Value depthTile,
                       Value stage) {
  auto f32x8 = VectorType::get({kChunkElems}, b.getF32Type());
  auto bf16x8 = VectorType::get({kChunkElems}, b.getBF16Type());
  Value tile = sharedView(b, k, stageOffset(b, k, stage, -1), k.spec.tile.rows);
  Value depth = arith::MulIOp::create(b, depthTile, idx(b, kStageDepth));
  Value zeros = arith::ConstantOp::create(
      b, f32x8, DenseElementsAttr::get(f32x8, b.getF32FloatAttr(0.0f)));
  // With K % 64 != 0 the last depth tile runs past K: its chunks there
  // (whole ones, as K % 8 == 0) store zeros, as TMA fills the weights'.
  bool depthMasked = k.spec.depth % kStageDepth != 0;
  for (const RowChunk &c : chunks) {
    Value column = arith::AddIOp::create(b, depth, c.depthInStage);
    Value valid = c.valid;
    if (depthMasked) {
      Value inside = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, column,
                                           idx(b, k.spec.depth));
      valid = arith::AndIOp::create(b, valid, inside);
      column = arith::SelectOp::create(b, inside, column, idx(b, 0));
    }
    // Rows of K % 8 == 0 f32 from an aligned base: 16-byte loads.
    Value v =
        vector::LoadOp::create(b, f32x8, k.a, ValueRange{c.sourceRow, column},
                               /*nontemporal=*/false, llvm::Align(16));
    v = arith::SelectOp::create(b, valid, v, zeros);
    Value rounded = arith::TruncFOp::create(b, bf16x8, v);
    vector::StoreOp::create(b, rounded, tile,
                            ValueRange{c.tileRow, c.swizzledColumn},
                            /*nontemporal=*/false, llvm::Align(16));
  }
}

/// The wgmma matrix descriptor of a 128-byte swizzled K-major tile.
Value buildDescriptor(ImplicitLocOpBuilder &b, Value tile, Value tensorMap) {
  auto type = nvgpu::WarpgroupMatrixDescriptorType::get(
      b.getContext(), cast<MemRefType>(tile.getType()));
  Value desc =
      nvgpu::WarpgroupGenerateDescriptorOp::create(b, type, tile, tensorMap);
  return UnrealizedConversionCastOp::create(b, b.getI64Type(), desc)
      .getResult(0);
}

/// One warpgroup's wgmma over a stage: for each accumulator (one per
/// weight), 64 depth elements in four k16 steps, in depth order. With no
/// `accumulators` (the first depth tile) the first step ignores its input
/// (scale-d 0) and takes undefined registers: zero constants there would
/// be register moves between wgmma.fence and wgmma, which make ptxas
/// serialise every wgmma of the kernel (C7519/C7517).
SmallVector<Value> buildStageMma(ImplicitLocOpBuilder &b, const KernelState &k,
                                 Value stage, ValueRange accumulators) {
  const KernelSpec &s = k.spec;
  MLIRContext *ctx = b.getContext();
  // This warpgroup's 64 rows of the row tile.
  Value rowOffset = arith::AddIOp::create(
      b, stageOffset(b, k, stage, -1),
      arith::MulIOp::create(b, k.warpgroup,
                            idx(b, kWarpgroupRows * kSwizzleRowBytes)));
  Value descA = buildDescriptor(b, sharedView(b, k, rowOffset, kWarpgroupRows),
                                k.tensorMaps[0]);
  auto shape =
      NVVM::MMAShapeAttr::get(ctx, kWarpgroupRows, s.tile.columns, kMmaDepth);
  auto bf16 = NVVM::WGMMATypesAttr::get(ctx, NVVM::WGMMATypes::bf16);
  auto f32 = NVVM::WGMMATypesAttr::get(ctx, NVVM::WGMMATypes::f32);
  auto accumulate = NVVM::WGMMAScaleOutAttr::get(ctx, NVVM::WGMMAScaleOut::one);
  auto overwrite = NVVM::WGMMAScaleOutAttr::get(ctx, NVVM::WGMMAScaleOut::zero);
  bool first = accumulators.empty();
  auto scaleIn = NVVM::WGMMAScaleInAttr::get(ctx, NVVM::WGMMAScaleIn::one);
  // Both operands K-major (PTX imm-trans-a = imm-trans-b = 0): NVVM
  // spells that A `row` ([M, K], K contiguous) and B `col` (K x N stored
  // by columns, i.e. the weights' [N, K] rows).
  auto layoutA = NVVM::MMALayoutAttr::get(ctx, NVVM::MMALayout::row);
  auto layoutB = NVVM::MMALayoutAttr::get(ctx, NVVM::MMALayout::col);
  SmallVector<Value> results;
  NVVM::WgmmaFenceAlignedOp::create(b);
  for (int64_t w = 0; w < s.numWeights; ++w) {
    Value descB = buildDescriptor(
        b, sharedView(b, k, stageOffset(b, k, stage, w), s.tile.columns),
        k.tensorMaps[w]);
    Value acc =
        first ? LLVM::PoisonOp::create(b, accumulatorType(ctx, s.tile.columns))
              : accumulators[w];
    for (int64_t step = 0; step < kStageDepth / kMmaDepth; ++step) {
      auto scaleOut = first && step == 0 ? overwrite : accumulate;
      // A k16 step is 32 bytes along the swizzled row; the descriptor's
      // address field counts 16-byte units.
      Value advance = arith::ConstantOp::create(
          b, b.getI64IntegerAttr(step * kMmaDepth * 2 / 16));
      Value stepA = arith::AddIOp::create(b, descA, advance);
      Value stepB = arith::AddIOp::create(b, descB, advance);
      acc = NVVM::WgmmaMmaAsyncOp::create(
          b, acc.getType(), acc, stepA, stepB, shape, bf16, bf16, f32, scaleOut,
          scaleIn, scaleIn, layoutA, layoutB,
          /*satfinite=*/NVVM::MMAIntOverflowAttr());
    }
    results.push_back(acc);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  return results;
}

/// One depth tile `t` of the mainloop: the row tile into its stage, the
/// refill of the stage of tile t-2, the wait for the weights, the wgmma
/// (left in flight: at most one group a warpgroup). Returns the
/// accumulators; with none given, starts them (see buildStageMma).
SmallVector<Value> buildDepthTile(ImplicitLocOpBuilder &b, const KernelState &k,
                                  ArrayRef<RowChunk> chunks, Value barriers,
                                  Value isLeader, Value t,
                                  ValueRange accumulators) {
  MLIRContext *ctx = b.getContext();
  int64_t depthTiles = llvm::divideCeil(k.spec.depth, kStageDepth);
  int64_t stages = k.spec.tile.stages;
  int64_t lookahead = stages - 2;
  Value stage = arith::RemUIOp::create(b, t, idx(b, stages));
  buildStoreRowTile(b, k, chunks, t, stage);
  // The row tile was written through the generic proxy; wgmma reads
  // through the async proxy.
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKindAttr::get(ctx, NVVM::ProxyKind::async_shared),
      NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
  gpu::BarrierOp::create(b);
  // Every warpgroup is done with tile t-2: refill its stage.
  Value next = arith::AddIOp::create(b, t, idx(b, lookahead));
  Value issue =
      arith::AndIOp::create(b, isLeader,
                            arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                                  next, idx(b, depthTiles)));
  auto refill = scf::IfOp::create(b, issue, /*withElseRegion=*/false);
  {
    ImplicitLocOpBuilder rb(b.getLoc(), refill.getThenBodyBuilder());
    buildIssueWeightLoads(rb, k, barriers, next,
                          arith::RemUIOp::create(rb, next, idx(rb, stages)));
  }
  // The stage's n-th use completes its mbarrier's phase n.
  Value use = arith::DivUIOp::create(b, t, idx(b, stages));
  Value parity = arith::TruncIOp::create(
      b, b.getI1Type(), arith::IndexCastUIOp::create(b, b.getI64Type(), use));
  nvgpu::MBarrierTryWaitParityOp::create(b, barriers, parity,
                                         idx(b, kWaitTicks), stage);
  SmallVector<Value> results = buildStageMma(b, k, stage, accumulators);
  NVVM::WgmmaWaitGroupSyncOp::create(b, 1);
  return results;
}

/// The depth loop, ceil(K / 64) tiles. Stage s of depth tile t is reused
/// for tile t+stages; the weights of tile t+stages-2 are requested at tile
/// t, once every warpgroup is past the barrier that follows its wait for
/// the wgmma of tile t-2 (each warpgroup keeps at most one wgmma group in
/// flight), so no load overwrites a stage a wgmma may still read. Tile 0
/// is peeled: it starts the accumulators without register moves.
SmallVector<Value> buildMainloop(ImplicitLocOpBuilder &b, KernelState &k) {
  const KernelSpec &s = k.spec;
  MLIRContext *ctx = b.getContext();
  int64_t depthTiles = llvm::divideCeil(s.depth, kStageDepth);
  int64_t stages = s.tile.stages;
  int64_t lookahead = stages - 2;

  auto barrierType =
      nvgpu::MBarrierGroupType::get(ctx, workgroupSpace(ctx), stages);
  Value barriers = nvgpu::MBarrierCreateOp::create(b, barrierType);
  Value isLeader =
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, k.threadId, idx(b, 0));
  auto leader = scf::IfOp::create(b, isLeader, /*withElseRegion=*/false);
  {
    ImplicitLocOpBuilder lb(b.getLoc(), leader.getThenBodyBuilder());
    for (int64_t st = 0; st < stages; ++st)
      nvgpu::MBarrierInitOp::create(lb, barriers, idx(lb, 1), idx(lb, st),
                                    /*predicate=*/Value());
    NVVM::FenceMbarrierInitOp::create(lb);
    for (Value map : k.tensorMaps)
      nvgpu::TmaPrefetchOp::create(lb, map, /*predicate=*/Value());
    for (int64_t t = 0; t < std::min(lookahead, depthTiles); ++t)
      buildIssueWeightLoads(lb, k, barriers, idx(lb, t), idx(lb, t));
  }
  gpu::BarrierOp::create(b);

  SmallVector<RowChunk> chunks = buildRowChunks(b, k);
  SmallVector<Value> first =
      buildDepthTile(b, k, chunks, barriers, isLeader, idx(b, 0), ValueRange{});
  auto loop =
      scf::ForOp::create(b, idx(b, 1), idx(b, depthTiles), idx(b, 1), first);
  {
    ImplicitLocOpBuilder lb(b.getLoc(), loop.getBody(),
                            loop.getBody()->begin());
    SmallVector<Value> results =
        buildDepthTile(lb, k, chunks, barriers, isLeader,
                       loop.getInductionVar(), loop.getRegionIterArgs());
    scf::YieldOp::create(lb, results);
  }
  // The epilogue reads the accumulators: every wgmma must be done.
  NVVM::WgmmaWaitGroupSyncOp::create(b, 0);
  return SmallVector<Value>(loop.getResults());
}

//===----------------------------------------------------------------------===//
// Epilogue
//===----------------------------------------------------------------------===//

/// Per row: the factor of the row (s_r or w_r), null when absent.
Value buildRowFactor(ImplicitLocOpBuilder &b, const KernelState &k, Value row) {
  if (!k.rowScale)
    return Value();
  return memref::LoadOp::create(b, k.rowScale, row);
}

/// The f32 result of one element from the accumulators' values; AddRows'
/// add comes with the store, on pairs of elements.
Value buildElement(ImplicitLocOpBuilder &b, const KernelState &k, Value factor,
                   ArrayRef<Value> values) {
  GemmEpilogue kind = k.spec.epilogue == GemmEpilogue::AddRows
                          ? GemmEpilogue::StoreRows
                          : k.spec.epilogue;
  return buildEpilogueElement(b, kind, k.spec.activation, factor, values,
                              /*old=*/Value());
}

/// Writes the accumulators. The m64nNk16 f32 fragment: in warp w of the
/// warpgroup, lane l holds, for each 8 columns q, the elements
/// 4q..4q+3 = (row 16w + l/4, columns 8q + 2(l%4) + {0,1}) then
/// (row 16w + l/4 + 8, the same columns).
void buildEpilogue(ImplicitLocOpBuilder &b, const KernelState &k,
                   ArrayRef<Value> accumulators) {
  const KernelSpec &s = k.spec;
  Value warp = arith::DivUIOp::create(b, k.laneInWarpgroup, idx(b, 32));
  Value lane = arith::RemUIOp::create(b, k.laneInWarpgroup, idx(b, 32));
  Value firstRow = arith::AddIOp::create(
      b, k.rows.rowBegin,
      arith::AddIOp::create(
          b, arith::MulIOp::create(b, k.warpgroup, idx(b, kWarpgroupRows)),
          arith::AddIOp::create(b, arith::MulIOp::create(b, warp, idx(b, 16)),
                                arith::DivUIOp::create(b, lane, idx(b, 4)))));
  Value pairColumn = arith::AddIOp::create(
      b, k.columnBegin,
      arith::MulIOp::create(b, arith::RemUIOp::create(b, lane, idx(b, 4)),
                            idx(b, 2)));
  bool columnsMasked = s.columns % s.tile.columns != 0;
  // With N even, a pair starting below N ends below N: store it whole.
  bool pairs = s.columns % 2 == 0;
  auto f32x2 = VectorType::get({2}, b.getF32Type());
  for (int64_t half = 0; half < 2; ++half) {
    Value row = arith::AddIOp::create(b, firstRow, idx(b, 8 * half));
    Value rowValid =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, row, k.rows.rowEnd);
    auto inRow = scf::IfOp::create(b, rowValid, /*withElseRegion=*/false);
    ImplicitLocOpBuilder rb(b.getLoc(), inRow.getThenBodyBuilder());
    Value factor = buildRowFactor(rb, k, row);
    for (int64_t q = 0; q < s.tile.columns / 8; ++q) {
      Value column = arith::AddIOp::create(rb, pairColumn, idx(rb, 8 * q));
      SmallVector<Value> pair;
      for (int64_t e = 0; e < 2; ++e) {
        int64_t field = 4 * q + 2 * half + e;
        SmallVector<Value> values;
        for (Value acc : accumulators)
          values.push_back(
              LLVM::ExtractValueOp::create(rb, acc, ArrayRef<int64_t>{field}));
        pair.push_back(buildElement(rb, k, factor, values));
      }
      auto store = [&](ImplicitLocOpBuilder &sb, Value value, Value col) {
        if (s.epilogue == GemmEpilogue::AddRows) {
          Value old;
          if (isa<VectorType>(value.getType()))
            old = vector::LoadOp::create(sb, cast<VectorType>(value.getType()),
                                         k.out, ValueRange{row, col},
                                         /*nontemporal=*/false, llvm::Align(8));
          else
            old = memref::LoadOp::create(sb, k.out, ValueRange{row, col});
          value = arith::AddFOp::create(sb, old, value);
        }
        if (isa<VectorType>(value.getType()))
          vector::StoreOp::create(sb, value, k.out, ValueRange{row, col},
                                  /*nontemporal=*/false, llvm::Align(8));
        else
          memref::StoreOp::create(sb, value, k.out, ValueRange{row, col});
      };
      auto masked = [&](Value col,
                        function_ref<void(ImplicitLocOpBuilder &)> body) {
        if (!columnsMasked)
          return body(rb);
        Value inside = arith::CmpIOp::create(rb, arith::CmpIPredicate::ult, col,
                                             idx(rb, s.columns));
        auto guard = scf::IfOp::create(rb, inside, /*withElseRegion=*/false);
        ImplicitLocOpBuilder gb(rb.getLoc(), guard.getThenBodyBuilder());
        body(gb);
      };
      if (pairs) {
        Value both = vector::FromElementsOp::create(rb, f32x2, pair);
        masked(column,
               [&](ImplicitLocOpBuilder &sb) { store(sb, both, column); });
        continue;
      }
      for (int64_t e = 0; e < 2; ++e) {
        Value col = arith::AddIOp::create(rb, column, idx(rb, e));
        masked(col, [&](ImplicitLocOpBuilder &sb) { store(sb, pair[e], col); });
      }
    }
  }
}

} // namespace

nvgpu::TensorMapDescriptorType sm90::getWeightTensorMapType(MLIRContext *ctx,
                                                            int64_t columns) {
  return nvgpu::TensorMapDescriptorType::get(
      ctx, sharedTile(ctx, columns), nvgpu::TensorMapSwizzleKind::SWIZZLE_128B,
      nvgpu::TensorMapL2PromoKind::L2PROMO_NONE,
      nvgpu::TensorMapOOBKind::OOB_ZERO,
      nvgpu::TensorMapInterleaveKind::INTERLEAVE_NONE);
}

gpu::GPUFuncOp sm90::buildGroupedGemmKernel(gpu::GPUModuleOp kernels,
                                            const KernelSpec &spec,
                                            Location loc) {
  MLIRContext *ctx = kernels.getContext();
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  SmallVector<Type> argTypes(spec.numWeights, ptrType);
  argTypes.push_back(spec.aType);
  for (MemRefType t : {spec.rowTokenType, spec.rowScaleType, spec.offsetsType})
    if (t)
      argTypes.push_back(t);
  argTypes.push_back(spec.outType);

  OpBuilder top = OpBuilder::atBlockEnd(kernels.getBody());
  auto func = gpu::GPUFuncOp::create(top, loc, spec.name,
                                     FunctionType::get(ctx, argTypes, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), UnitAttr::get(ctx));
  int32_t threads = static_cast<int32_t>(spec.threads());
  func.setKnownBlockSizeAttr(DenseI32ArrayAttr::get(ctx, {threads, 1, 1}));
  SymbolTable(kernels).insert(func);

  Block &entry = func.getBody().front();
  ImplicitLocOpBuilder b(loc, &entry, entry.begin());
  KernelState k{spec};
  unsigned arg = 0;
  auto tensorMapType = getWeightTensorMapType(ctx, spec.tile.columns);
  for (int64_t w = 0; w < spec.numWeights; ++w)
    k.tensorMaps.push_back(UnrealizedConversionCastOp::create(
                               b, tensorMapType, entry.getArgument(arg++))
                               .getResult(0));
  k.a = entry.getArgument(arg++);
  if (spec.rowTokenType)
    k.rowToken = entry.getArgument(arg++);
  if (spec.rowScaleType)
    k.rowScale = entry.getArgument(arg++);
  if (spec.offsetsType)
    k.offsets = entry.getArgument(arg++);
  k.out = entry.getArgument(arg++);
  k.numRows = memref::DimOp::create(b, spec.rowsFromA ? k.a : k.out, 0);

  k.threadId = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  k.warpgroup =
      arith::DivUIOp::create(b, k.threadId, idx(b, kWarpgroupThreads));
  k.laneInWarpgroup =
      arith::RemUIOp::create(b, k.threadId, idx(b, kWarpgroupThreads));

  Value hasWork = buildBlockSchedule(b, k);
  auto work = scf::IfOp::create(b, hasWork, /*withElseRegion=*/false);
  {
    ImplicitLocOpBuilder wb(loc, work.getThenBodyBuilder());
    k.shared = gpu::DynamicSharedMemoryOp::create(
        wb, MemRefType::get({ShapedType::kDynamic}, wb.getI8Type(),
                            MemRefLayoutAttrInterface(), workgroupSpace(ctx)));
    // TMA's and wgmma's 128-byte swizzle is a function of the address
    // bits: the ring must start 1024-aligned.
    Value address =
        memref::ExtractAlignedPointerAsIndexOp::create(wb, k.shared);
    k.ringBase = arith::AndIOp::create(
        wb, arith::SubIOp::create(wb, idx(wb, 0), address), idx(wb, 1023));
    SmallVector<Value> accumulators = buildMainloop(wb, k);
    buildEpilogue(wb, k, accumulators);
  }
  gpu::ReturnOp::create(b);
  return func;
}
