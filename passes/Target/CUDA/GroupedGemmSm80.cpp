//===- GroupedGemmSm80.cpp - grouped expert GEMMs with mma.sync (sm_80) ---===//
//
// The Ampere kernels of moe-cuda-lower-grouped-gemm. A block computes one
// tile of rows of one expert (TileSchedule.cpp) by a tile of columns, for
// every weight of the op at once (gate and up: two accumulators over the
// same columns), in three parts that a later kernel can reuse:
//
// * the block's schedule: its rows from the expert offsets, its columns
//   from the block id y;
// * the mainloop over the depth, double-buffered in shared memory: the
//   weight tile is copied with cp.async (zero-filled past N and K), the
//   row tile is gathered by token, converted from f32 to bf16 and stored by
//   the threads, both 16-byte chunks XOR-swizzled so that ldmatrix reads
//   them without bank conflicts; each warp then runs `mma.sync` m16n8k16
//   bf16 -> f32 on its part of the tile. The loads of the next depth step
//   are issued before the math of the current one;
// * the epilogue: from the accumulator fragments, masked to the tile's rows
//   and to N, the op's own scaling, activation or weighting and store.
//
// The accumulation order of an output element is the order of the 16-deep
// steps of the depth, the same whatever the tile shape and the batch.
//
//===----------------------------------------------------------------------===//

#include "GemmEpilogue.h"
#include "GroupedGemm.h"


#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/FormatVariadic.h"


using namespace mlir;
using namespace mlir::moe;
using mlir::moe::cuda::idx;

namespace {

constexpr int64_t kWarpSize = 32;
/// The instruction's shape: mma.sync.m16n8k16.
constexpr int64_t kMmaRows = 16, kMmaColumns = 8, kMmaDepth = 16;
/// bf16 elements of a 16-byte chunk: one cp.async, one ldmatrix row.
constexpr int64_t kChunk = 8;
/// f32 elements a thread loads at once from the row tile.
constexpr int64_t kRowVector = 4;
/// Shared-memory buffers of the mainloop (double buffering).
constexpr int64_t kStages = 2;
/// Warps side by side over the columns; the rows take one warp per 64.
constexpr int64_t kWarpsOverColumns = 4;
constexpr int64_t kRowsPerWarp = 64;
/// What a block may hold without opting in to more at launch.
constexpr int64_t kStaticSharedBytes = 48 * 1024;

/// How a block's threads split a tile. `matrices` weights share the tile's
/// columns: a gated op loads `columns/2` gate rows and as many up rows, so
/// that both variants of a tile shape cost the same shared memory and
/// registers.
struct KernelGeometry {
  int64_t rows, outColumns, depth, matrices;
  int64_t warpsM, warpsN, warpRows, warpColumns, threads;

  int64_t weightRows() const { return outColumns * matrices; }
  int64_t chunksPerRow() const { return depth / kChunk; }
  int64_t mTiles() const { return warpRows / kMmaRows; }
  int64_t nTiles() const { return warpColumns / kMmaColumns; }
  int64_t sharedBytes() const {
    return kStages * (rows + weightRows()) * depth * 2;
  }
};

FailureOr<KernelGeometry>
getGeometry(Operation *op, const cuda::GemmTileShape &tile, int64_t matrices) {
  KernelGeometry g;
  g.rows = tile.rows;
  g.depth = tile.depth;
  g.matrices = matrices;
  g.outColumns = tile.columns / matrices;
  g.warpsM = std::max<int64_t>(1, tile.rows / kRowsPerWarp);
  g.warpsN = kWarpsOverColumns;
  g.warpRows = tile.rows / g.warpsM;
  g.warpColumns = g.outColumns / g.warpsN;
  g.threads = g.warpsM * g.warpsN * kWarpSize;
  int64_t chunks = g.chunksPerRow();
  // The swizzle spreads 8 rows of a 16-byte column over the 32 banks for
  // rows of 2, 4 or 8 chunks; each thread's loads stay in one weight.
  // The mainloop double-buffers: no other stage count is built.
  bool fits = tile.stages == kStages && tile.rows > 0 && tile.columns > 0 &&
              tile.rows % g.warpsM == 0 && g.warpRows % kMmaRows == 0 &&
              tile.columns % matrices == 0 && g.outColumns % g.warpsN == 0 &&
              g.warpColumns % kMmaColumns == 0 &&
              (g.depth == 16 || g.depth == 32 || g.depth == 64) &&
              (g.rows * g.depth / kRowVector) % g.threads == 0 &&
              (g.weightRows() * chunks) % g.threads == 0 &&
              g.outColumns % (g.threads / chunks) == 0 &&
              g.sharedBytes() <= kStaticSharedBytes;
  if (!fits)
    return op->emitOpError("has no sm_80 kernel for the tile shape ")
           << tile.rows << "x" << tile.columns << "x" << tile.depth << " ("
           << tile.stages << " stages)";
  return g;
}

/// The values a kernel reads, as its arguments.
struct GemmOperands {
  /// f32 rows [*, K] (gathered by `rowToken` when set).
  Value rows, rowToken;
  /// f32 per row: the input scale or the routing weight (may be null).
  Value rowScale;
  /// i32 [E+1], null when ungrouped.
  Value offsets;
  /// bf16 [E, N, K] or [N, K], one per matrix (gate, up or down).
  SmallVector<Value, 2> weights;
  /// f32 [R, N]: the op's output (or the down GEMM's row results).
  Value output;
  /// The row count R (index).
  Value numRows;
  int64_t depth, columns;
};

/// Column (in elements) of chunk `chunk` of row `row` in a swizzled tile:
/// the chunk is XORed with the row's place among the rows sharing a
/// 128-byte line, so that ldmatrix's 8 rows of one chunk hit 8 distinct
/// bank groups.
Value swizzledColumn(ImplicitLocOpBuilder &b, const KernelGeometry &g,
                     Value row, Value chunk) {
  int64_t chunks = g.chunksPerRow();
  int64_t rowsPerLine = std::max<int64_t>(1, kChunk / chunks);
  Value phase = arith::RemUIOp::create(
      b, arith::DivUIOp::create(b, row, idx(b, rowsPerLine)), idx(b, chunks));
  Value swizzled = arith::XOrIOp::create(b, chunk, phase);
  return arith::MulIOp::create(b, swizzled, idx(b, kChunk));
}

Value andAll(ImplicitLocOpBuilder &b, Value x, Value y) {
  return arith::AndIOp::create(b, x, y);
}

Value lessThan(ImplicitLocOpBuilder &b, Value x, Value y) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, x, y);
}

/// Part 1: which rows (one expert's) and columns the block computes.
struct BlockTile {
  cuda::RowTile rows;
  Value columnBegin;
};

BlockTile buildBlockSchedule(ImplicitLocOpBuilder &b, const KernelGeometry &g,
                             const GemmOperands &ops) {
  BlockTile tile;
  Value rowTile = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  tile.rows =
      cuda::buildRowTileSchedule(b, ops.offsets, rowTile, ops.numRows, g.rows);
  Value columnTile = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  tile.columnBegin = arith::MulIOp::create(b, columnTile, idx(b, g.outColumns));
  return tile;
}

/// The thread's place in the block.
struct ThreadPlace {
  Value thread, lane, warpM, warpN;
};

ThreadPlace buildThreadPlace(ImplicitLocOpBuilder &b, const KernelGeometry &g) {
  ThreadPlace p;
  p.thread = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  p.lane = arith::RemUIOp::create(b, p.thread, idx(b, kWarpSize));
  Value warp = arith::DivUIOp::create(b, p.thread, idx(b, kWarpSize));
  p.warpM = arith::RemUIOp::create(b, warp, idx(b, g.warpsM));
  p.warpN = arith::DivUIOp::create(b, warp, idx(b, g.warpsM));
  return p;
}

/// Part 2: the loads and the tensor-core math over the depth. Returns the
/// accumulators, `[matrix][mTile][nTile][4]` flattened, each the f32
/// fragment c0..c3 of mma.sync.
class Mainloop {
public:
  Mainloop(ImplicitLocOpBuilder &b, const KernelGeometry &g,
           const GemmOperands &ops, const BlockTile &tile,
           const ThreadPlace &place, Value sharedRows, Value sharedWeights)
      : b(b), g(g), ops(ops), tile(tile), place(place), sharedRows(sharedRows),
        sharedWeights(sharedWeights) {}

  SmallVector<Value> build();

private:
  /// The thread's rows of the row tile, fixed over the depth.
  struct RowSlot {
    Value sourceRow, valid, tileRow, chunk, half;
  };
  void planRowLoads();
  /// Starts the loads of depth step `step` into buffer `stage`: the weight
  /// tile by cp.async (one group), the row tile into registers.
  SmallVector<Value> startLoads(Value step, Value stage);
  void storeRows(ArrayRef<Value> loaded, Value stage);
  /// Waits for the copies started last and for every thread's stores.
  void waitAndSync();
  SmallVector<Value> multiply(Value stage, ArrayRef<Value> acc);
  SmallVector<Value> loadFragments(Value shared, Value stage, Value row,
                                   Value chunk, int64_t tiles);

  ImplicitLocOpBuilder &b;
  const KernelGeometry &g;
  const GemmOperands &ops;
  const BlockTile &tile;
  const ThreadPlace &place;
  Value sharedRows, sharedWeights;
  SmallVector<RowSlot> rowSlots;
  /// The cp.async group of the last startLoads.
  Value pendingGroup;
};

void Mainloop::planRowLoads() {
  int64_t vectorsPerRow = g.depth / kRowVector;
  int64_t perThread = g.rows * vectorsPerRow / g.threads;
  for (int64_t i = 0; i < perThread; ++i) {
    Value linear =
        arith::AddIOp::create(b, place.thread, idx(b, i * g.threads));
    RowSlot slot;
    slot.tileRow = arith::DivUIOp::create(b, linear, idx(b, vectorsPerRow));
    Value vector = arith::RemUIOp::create(b, linear, idx(b, vectorsPerRow));
    slot.chunk = arith::DivUIOp::create(b, vector, idx(b, 2));
    slot.half = arith::RemUIOp::create(b, vector, idx(b, 2));
    Value row = arith::AddIOp::create(b, tile.rows.rowBegin, slot.tileRow);
    slot.valid = lessThan(b, row, tile.rows.rowEnd);
    // Rows past the tile read its first row (always there) and are
    // replaced by zeros.
    Value clamped =
        arith::SelectOp::create(b, slot.valid, row, tile.rows.rowBegin);
    if (ops.rowToken) {
      Value token = memref::LoadOp::create(b, ops.rowToken, clamped);
      clamped = arith::IndexCastUIOp::create(b, b.getIndexType(), token);
    }
    slot.sourceRow = clamped;
    rowSlots.push_back(slot);
  }
}

SmallVector<Value> Mainloop::startLoads(Value step, Value stage) {
  Value depthBegin = arith::MulIOp::create(b, step, idx(b, g.depth));
  Value depth = idx(b, ops.depth);
  Value zeroIndex = idx(b, 0);
  // The weight tile: thread t copies chunks t, t + threads, ...; chunk
  // rows [m·outColumns, (m+1)·outColumns) hold matrix m.
  int64_t chunks = g.chunksPerRow();
  int64_t perThread = g.weightRows() * chunks / g.threads;
  int64_t rowsPerPass = g.threads / chunks;
  SmallVector<Value> tokens;
  for (int64_t i = 0; i < perThread; ++i) {
    int64_t matrix = i * rowsPerPass / g.outColumns;
    Value linear =
        arith::AddIOp::create(b, place.thread, idx(b, i * g.threads));
    Value tileRow = arith::DivUIOp::create(b, linear, idx(b, chunks));
    Value chunk = arith::RemUIOp::create(b, linear, idx(b, chunks));
    Value column = arith::AddIOp::create(
        b, tile.columnBegin,
        arith::SubIOp::create(b, tileRow, idx(b, matrix * g.outColumns)));
    Value k = arith::AddIOp::create(
        b, depthBegin, arith::MulIOp::create(b, chunk, idx(b, kChunk)));
    Value columnOk = lessThan(b, column, idx(b, ops.columns));
    Value depthOk = lessThan(b, k, depth);
    Value inside = andAll(b, columnOk, depthOk);
    // Outside the weight, copy nothing from a valid address: cp.async
    // fills the chunk with zeros.
    Value count = arith::SelectOp::create(b, inside, idx(b, kChunk), zeroIndex);
    SmallVector<Value> source;
    if (ops.offsets)
      source.push_back(tile.rows.expert);
    source.push_back(arith::SelectOp::create(b, columnOk, column, zeroIndex));
    source.push_back(arith::SelectOp::create(b, depthOk, k, zeroIndex));
    Value target = swizzledColumn(b, g, tileRow, chunk);
    tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
        b, sharedWeights, ValueRange{stage, tileRow, target},
        ops.weights[matrix], source, b.getIndexAttr(kChunk), count,
        b.getUnitAttr()));
  }
  pendingGroup = nvgpu::DeviceAsyncCreateGroupOp::create(
      b, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);

  // The row tile: f32 vectors into registers, zeros outside.
  auto vectorType = VectorType::get({kRowVector}, b.getF32Type());
  Value zeros = arith::ConstantOp::create(
      b, vectorType, DenseElementsAttr::get(vectorType, 0.0f));
  bool aligned = cast<MemRefType>(ops.rows.getType()).getLayout().isIdentity();
  SmallVector<Value> loaded;
  for (const RowSlot &slot : rowSlots) {
    Value k = arith::AddIOp::create(
        b, depthBegin,
        arith::AddIOp::create(
            b, arith::MulIOp::create(b, slot.chunk, idx(b, kChunk)),
            arith::MulIOp::create(b, slot.half, idx(b, kRowVector))));
    Value depthOk = lessThan(b, k, depth);
    Value source = arith::SelectOp::create(b, depthOk, k, zeroIndex);
    auto load = vector::LoadOp::create(b, vectorType, ops.rows,
                                       ValueRange{slot.sourceRow, source});
    // Identity layouts of K % 8 == 0 rows (checked) start every vector
    // on 16 bytes when the buffer does.
    if (aligned)
      load.setAlignment(static_cast<uint64_t>(kRowVector * 4));
    loaded.push_back(arith::SelectOp::create(b, andAll(b, slot.valid, depthOk),
                                             load, zeros));
  }
  return loaded;
}

void Mainloop::storeRows(ArrayRef<Value> loaded, Value stage) {
  auto bf16Type = VectorType::get({kRowVector}, b.getBF16Type());
  for (auto [slot, value] : llvm::zip(rowSlots, loaded)) {
    Value narrow = arith::TruncFOp::create(b, bf16Type, value);
    Value column = arith::AddIOp::create(
        b, swizzledColumn(b, g, slot.tileRow, slot.chunk),
        arith::MulIOp::create(b, slot.half, idx(b, kRowVector)));
    vector::StoreOp::create(b, narrow, sharedRows,
                            ValueRange{stage, slot.tileRow, column});
  }
}

void Mainloop::waitAndSync() {
  nvgpu::DeviceAsyncWaitOp::create(b, pendingGroup, b.getI32IntegerAttr(0));
  gpu::BarrierOp::create(b);
}

/// ldmatrix of `tiles` (2 or 4) 8x8 matrices; each lane passed its row and
/// chunk. Returns the fragments as i32 (two bf16 each), matrix by matrix.
SmallVector<Value> Mainloop::loadFragments(Value shared, Value stage, Value row,
                                           Value chunk, int64_t tiles) {
  auto resultType = VectorType::get({tiles, 2}, b.getBF16Type());
  auto wordType = VectorType::get({1}, b.getI32Type());
  Value column = swizzledColumn(b, g, row, chunk);
  Value matrices = nvgpu::LdMatrixOp::create(
      b, resultType, shared, ValueRange{stage, row, column},
      /*transpose=*/false, static_cast<uint32_t>(tiles));
  SmallVector<Value> words;
  for (int64_t t = 0; t < tiles; ++t) {
    Value pair = vector::ExtractOp::create(b, matrices, ArrayRef<int64_t>{t});
    Value word = vector::BitCastOp::create(b, wordType, pair);
    words.push_back(vector::ExtractOp::create(b, word, ArrayRef<int64_t>{0}));
  }
  return words;
}

/// The math of one buffer: for each 16-deep step, the A fragments of the
/// warp's m-tiles, the B fragments of its n-tiles of each matrix, then one
/// mma.sync per (matrix, m-tile, n-tile).
///
/// Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating
/// point type"; g = lane / 4, i = lane % 4): A (16x16, row) a0a1 = (g,
/// 2i..2i+1), a2a3 = (g+8, 2i..), a4a5 = (g, 8+2i..), a6a7 = (g+8, 8+2i..);
/// B (16x8, col) b0b1 = (k 2i..2i+1, n g), b2b3 = (k 8+2i.., n g); C c0c1 =
/// (g, 2i..2i+1), c2c3 = (g+8, 2i..). ldmatrix gives lane l of matrix j the
/// pair at (row l/4, columns 2(l%4)..) of the 8x8 matrix whose rows lanes
/// 8j..8j+7 addressed, so A's four matrices are (rows 0-7 | 8-15) x (depth
/// 0-7 | 8-15) in the order a0a1, a2a3, a4a5, a6a7 (lane l addresses row
/// l%16, chunk l/16), and the weight rows (n-major, K contiguous) give B
/// without transposition (lane l addresses row l%8 + 8(l/16), chunk
/// (l/8)%2: n-tiles two at a time).
SmallVector<Value> Mainloop::multiply(Value stage, ArrayRef<Value> acc) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
  SmallVector<Value> next(acc.begin(), acc.end());
  Value lane = place.lane;
  Value laneRow16 = arith::RemUIOp::create(b, lane, idx(b, 16));
  Value laneHalf = arith::DivUIOp::create(b, lane, idx(b, 16));
  Value laneRow8 = arith::RemUIOp::create(b, lane, idx(b, 8));
  Value laneChunk8 = arith::RemUIOp::create(
      b, arith::DivUIOp::create(b, lane, idx(b, 8)), idx(b, 2));
  Value warpRowBase = arith::MulIOp::create(b, place.warpM, idx(b, g.warpRows));
  Value warpColumnBase =
      arith::MulIOp::create(b, place.warpN, idx(b, g.warpColumns));
  for (int64_t step = 0; step < g.depth / kMmaDepth; ++step) {
    Value firstChunk = idx(b, step * (kMmaDepth / kChunk));
    SmallVector<SmallVector<Value>> aFragments;
    for (int64_t mt = 0; mt < g.mTiles(); ++mt) {
      Value row = arith::AddIOp::create(
          b, arith::AddIOp::create(b, warpRowBase, idx(b, mt * kMmaRows)),
          laneRow16);
      Value chunk = arith::AddIOp::create(b, firstChunk, laneHalf);
      aFragments.push_back(loadFragments(sharedRows, stage, row, chunk, 4));
    }
    for (int64_t m = 0; m < g.matrices; ++m) {
      SmallVector<Value> bWords;
      for (int64_t nt = 0; nt < g.nTiles(); nt += 2) {
        int64_t tiles = nt + 1 < g.nTiles() ? 4 : 2;
        Value base = arith::AddIOp::create(
            b, warpColumnBase, idx(b, m * g.outColumns + nt * kMmaColumns));
        Value row = arith::AddIOp::create(b, base, laneRow8);
        if (tiles == 4)
          row = arith::AddIOp::create(
              b, row, arith::MulIOp::create(b, laneHalf, idx(b, 8)));
        Value chunk = arith::AddIOp::create(b, firstChunk, laneChunk8);
        llvm::append_range(
            bWords, loadFragments(sharedWeights, stage, row, chunk, tiles));
      }
      for (int64_t mt = 0; mt < g.mTiles(); ++mt) {
        for (int64_t nt = 0; nt < g.nTiles(); ++nt) {
          int64_t first = ((m * g.mTiles() + mt) * g.nTiles() + nt) * 4;
          ArrayRef<Value> c = ArrayRef<Value>(next).slice(first, 4);
          auto mma = NVVM::MmaOp::create(
              b, resultType, aFragments[mt],
              ValueRange{bWords[2 * nt], bWords[2 * nt + 1]}, c,
              ArrayRef<int64_t>{kMmaRows, kMmaColumns, kMmaDepth}, std::nullopt,
              std::nullopt,
              std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16,
                                            NVVM::MMATypes::bf16},
              std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                             NVVM::MMALayout::col});
          for (int64_t e = 0; e < 4; ++e)
            next[first + e] = LLVM::ExtractValueOp::create(b, mma, e);
        }
      }
    }
  }
  return next;
}

SmallVector<Value> Mainloop::build() {
  planRowLoads();
  Value zero = idx(b, 0), one = idx(b, 1);
  // Prologue: step 0 into buffer 0.
  SmallVector<Value> first = startLoads(zero, zero);
  storeRows(first, zero);
  waitAndSync();

  int64_t steps = llvm::divideCeil(ops.depth, g.depth);
  int64_t accumulators = g.matrices * g.mTiles() * g.nTiles() * 4;
  Value fzero = arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
  SmallVector<Value> init(accumulators, fzero);
  auto loop = scf::ForOp::create(b, zero, idx(b, steps), one, init);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value step = loop.getInductionVar();
  Value stage = arith::RemUIOp::create(b, step, idx(b, kStages));
  Value other = arith::SubIOp::create(b, one, stage);
  // The last step's prefetch reads nothing (past K: zeros) into the
  // buffer no one reads again.
  SmallVector<Value> loaded =
      startLoads(arith::AddIOp::create(b, step, one), other);
  SmallVector<Value> acc =
      multiply(stage, SmallVector<Value>(loop.getRegionIterArgs()));
  storeRows(loaded, other);
  waitAndSync();
  scf::YieldOp::create(b, acc);
  b.setInsertionPointAfter(loop);
  return SmallVector<Value>(loop.getResults());
}

/// Part 3: the epilogue (cuda::GemmEpilogue.h) of every accumulator element
/// inside the tile's rows and N, stored to the output.
void buildEpilogue(ImplicitLocOpBuilder &b, const KernelGeometry &g,
                   const GemmOperands &ops, const BlockTile &tile,
                   const ThreadPlace &place, ArrayRef<Value> acc,
                   cuda::GemmEpilogue kind, Activation activation) {
  Value group = arith::DivUIOp::create(b, place.lane, idx(b, 4));
  Value pairColumn = arith::MulIOp::create(
      b, arith::RemUIOp::create(b, place.lane, idx(b, 4)), idx(b, 2));
  Value rowBase = arith::AddIOp::create(
      b, tile.rows.rowBegin,
      arith::AddIOp::create(
          b, arith::MulIOp::create(b, place.warpM, idx(b, g.warpRows)), group));
  Value columnBase = arith::AddIOp::create(
      b, tile.columnBegin,
      arith::AddIOp::create(
          b, arith::MulIOp::create(b, place.warpN, idx(b, g.warpColumns)),
          pairColumn));
  Value columns = idx(b, ops.columns);
  for (int64_t mt = 0; mt < g.mTiles(); ++mt) {
    for (int64_t half = 0; half < 2; ++half) {
      Value row =
          arith::AddIOp::create(b, rowBase, idx(b, mt * kMmaRows + half * 8));
      auto rowIf = scf::IfOp::create(b, lessThan(b, row, tile.rows.rowEnd),
                                     /*withElseRegion=*/false);
      OpBuilder::InsertionGuard rowGuard(b);
      b.setInsertionPointToStart(rowIf.thenBlock());
      // The row's s or w, loaded once for its columns.
      Value factor = ops.rowScale
                         ? Value(memref::LoadOp::create(b, ops.rowScale, row))
                         : Value();
      for (int64_t nt = 0; nt < g.nTiles(); ++nt) {
        for (int64_t e = 0; e < 2; ++e) {
          Value column = arith::AddIOp::create(b, columnBase,
                                               idx(b, nt * kMmaColumns + e));
          auto columnIf = scf::IfOp::create(b, lessThan(b, column, columns),
                                            /*withElseRegion=*/false);
          OpBuilder::InsertionGuard columnGuard(b);
          b.setInsertionPointToStart(columnIf.thenBlock());
          SmallVector<Value> sums;
          for (int64_t m = 0; m < g.matrices; ++m)
            sums.push_back(acc[((m * g.mTiles() + mt) * g.nTiles() + nt) * 4 +
                               half * 2 + e]);
          ValueRange at{row, column};
          Value old = kind == cuda::GemmEpilogue::AddRows
                          ? Value(memref::LoadOp::create(b, ops.output, at))
                          : Value();
          Value result =
              cuda::buildEpilogueElement(b, kind, activation, factor, sums, old);
          memref::StoreOp::create(b, result, ops.output, at);
        }
      }
    }
  }
}

/// What differs between the two ops' kernels.
struct KernelSpec {
  std::string name;
  KernelGeometry geometry;
  GemmOperands hostOperands;
  cuda::GemmEpilogue epilogue = cuda::GemmEpilogue::Activate;
  Activation activation = Activation::relu;
};

/// Builds the kernel (schedule, mainloop, epilogue) into `kernels` and
/// launches it at the builder's point over (row tiles, column tiles).
void buildKernelAndLaunch(ImplicitLocOpBuilder &b, cuda::StreamChain &stream,
                          gpu::GPUModuleOp kernels, const KernelSpec &spec) {
  const KernelGeometry &g = spec.geometry;
  const GemmOperands &host = spec.hostOperands;
  MLIRContext *ctx = b.getContext();
  // Kernel arguments, in this order; null operands are left out.
  SmallVector<Value> arguments;
  for (Value v : {host.rows, host.rowToken, host.rowScale, host.offsets})
    if (v)
      arguments.push_back(v);
  llvm::append_range(arguments, host.weights);
  arguments.push_back(host.output);
  arguments.push_back(host.numRows);

  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto rowsShared = MemRefType::get({kStages, g.rows, g.depth}, b.getBF16Type(),
                                    MemRefLayoutAttrInterface(), workgroup);
  auto weightsShared =
      MemRefType::get({kStages, g.weightRows(), g.depth}, b.getBF16Type(),
                      MemRefLayoutAttrInterface(), workgroup);
  gpu::GPUFuncOp func = cuda::createKernel(
      kernels, b.getLoc(), spec.name, ValueRange(arguments).getTypes(),
      {rowsShared, weightsShared}, g.threads);

  // The kernel's view of the operands.
  Block &entry = func.getBody().front();
  GemmOperands ops = host;
  unsigned next = 0;
  for (Value *v : {&ops.rows, &ops.rowToken, &ops.rowScale, &ops.offsets})
    if (*v)
      *v = entry.getArgument(next++);
  for (Value &w : ops.weights)
    w = entry.getArgument(next++);
  ops.output = entry.getArgument(next++);
  ops.numRows = entry.getArgument(next++);

  ImplicitLocOpBuilder kb(b.getLoc(), ctx);
  kb.setInsertionPointToStart(&entry);
  BlockTile tile = buildBlockSchedule(kb, g, ops);
  // The grid's spare blocks have no rows (uniform per block: barriers
  // inside are fine).
  auto valid = scf::IfOp::create(kb, tile.rows.valid, /*withElseRegion=*/false);
  gpu::ReturnOp::create(kb);
  kb.setInsertionPointToStart(valid.thenBlock());
  ThreadPlace place = buildThreadPlace(kb, g);
  Mainloop mainloop(kb, g, ops, tile, place, func.getWorkgroupAttributions()[0],
                    func.getWorkgroupAttributions()[1]);
  SmallVector<Value> acc = mainloop.build();
  buildEpilogue(kb, g, ops, tile, place, acc, spec.epilogue, spec.activation);

  // Host: grid (row tiles, column tiles), at least one block.
  int64_t experts =
      host.offsets ? cast<MemRefType>(host.offsets.getType()).getDimSize(0) - 1
                   : 1;
  Value rowTiles = cuda::buildRowTileCount(b, host.numRows, experts, g.rows);
  rowTiles = arith::MaxUIOp::create(b, rowTiles, idx(b, 1));
  Value columnTiles = idx(
      b, std::max<int64_t>(1, llvm::divideCeil(host.columns, g.outColumns)));
  Value one = idx(b, 1);
  stream.launch(func, gpu::KernelDim3{rowTiles, columnTiles, one},
                gpu::KernelDim3{idx(b, g.threads), one, one}, arguments);
}

bool isMemRefOf(Value v, Type element) {
  auto type = dyn_cast_or_null<MemRefType>(v ? v.getType() : Type());
  return type && type.getElementType() == element;
}

/// Whether the innermost dimension is contiguous (vector and cp.async
/// loads need it).
bool hasContiguousRows(Value v) {
  auto type = cast<MemRefType>(v.getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return false;
  return !strides.empty() && strides.back() == 1;
}

/// The checks both ops share; `rows` is the f32 operand the GEMM reads.
LogicalResult checkOperands(Operation *op, WeightLayoutAttr layout,
                            ArrayRef<Value> weights, Value rows,
                            ArrayRef<Value> f32Vectors,
                            ArrayRef<Value> i32Vectors, Value output) {
  MLIRContext *ctx = op->getContext();
  Type bf16 = BFloat16Type::get(ctx), f32 = Float32Type::get(ctx),
       i32 = IntegerType::get(ctx, 32);
  for (Value v : op->getOperands())
    if (!isa<MemRefType>(v.getType()))
      return op->emitOpError("must be on buffers for the sm_80 kernels");
  if (layout.isPanels() ||
      llvm::any_of(weights, [&](Value w) { return !isMemRefOf(w, bf16); }))
    return op->emitOpError("needs bf16 weights in rows layout "
                           "(moe-cuda-prepare-kernels) for the sm_80 kernels");
  if (!isMemRefOf(rows, f32) || !isMemRefOf(output, f32))
    return op->emitOpError("needs f32 rows and output for the sm_80 kernels");
  for (Value v : f32Vectors)
    if (v && !isMemRefOf(v, f32))
      return op->emitOpError("needs f32 row scales for the sm_80 kernels");
  for (Value v : i32Vectors)
    if (v && !isMemRefOf(v, i32))
      return op->emitOpError(
          "needs i32 row tokens and offsets for the sm_80 kernels");
  if (!llvm::all_of(weights, hasContiguousRows) || !hasContiguousRows(rows))
    return op->emitOpError(
        "needs weights and rows with a contiguous innermost dimension for "
        "the sm_80 kernels");
  auto weightType = cast<MemRefType>(weights.front().getType());
  int64_t depth = weightType.getShape().back();
  int64_t columns = weightType.getShape()[weightType.getRank() - 2];
  if (ShapedType::isDynamic(depth) || ShapedType::isDynamic(columns))
    return op->emitOpError("needs static weight shapes for the sm_80 kernels");
  // A 16-byte chunk of the depth is loaded whole or not at all.
  if (depth % kChunk != 0)
    return op->emitOpError("has depth K = ")
           << depth << ", not a multiple of " << kChunk
           << " as the sm_80 kernels need";
  return success();
}

Value dim(ImplicitLocOpBuilder &b, Value memref, int64_t d) {
  return memref::DimOp::create(b, memref, d);
}

} // namespace

LogicalResult cuda::lowerGatherGateUpSm80(RewriterBase &rewriter,
                                          GatherGateUpOp op,
                                          gpu::GPUModuleOp kernels,
                                          const GemmTileShape &tileShape) {
  if (failed(cuda::checkEpilogueActivation(op)))
    return failure();
  SmallVector<Value, 2> weights;
  if (Value gate = op.getGate())
    weights.push_back(gate);
  weights.push_back(op.getUp());
  if (failed(checkOperands(
          op, op.getLayout(), weights, op.getInput(), {op.getScale()},
          {op.getRowToken(), op.getExpertOffsets()}, op.getInit())))
    return failure();
  FailureOr<KernelGeometry> geometry =
      getGeometry(op, tileShape, weights.size());
  if (failed(geometry))
    return failure();

  ImplicitLocOpBuilder b(op.getLoc(), op);
  auto weightType = cast<MemRefType>(op.getUp().getType());
  GemmOperands host;
  host.rows = op.getInput();
  host.rowToken = op.getRowToken();
  host.rowScale = op.getScale();
  host.offsets = op.getExpertOffsets();
  host.weights = weights;
  host.output = op.getInit();
  host.numRows = dim(b, op.getInit(), 0);
  host.depth = weightType.getShape().back();
  host.columns = weightType.getShape()[weightType.getRank() - 2];

  KernelSpec spec;
  spec.name = llvm::formatv("gather_gate_up_sm80_{0}x{1}", tileShape.rows,
                            tileShape.columns)
                  .str();
  spec.geometry = *geometry;
  spec.hostOperands = host;
  spec.epilogue = cuda::GemmEpilogue::Activate;
  spec.activation = op.getActivation();
  cuda::StreamChain stream(b);
  buildKernelAndLaunch(b, stream, kernels, spec);
  stream.finish();
  rewriter.eraseOp(op);
  return success();
}

LogicalResult cuda::lowerDownScatterAddSm80(RewriterBase &rewriter,
                                            DownScatterAddOp op,
                                            gpu::GPUModuleOp kernels,
                                            const GemmTileShape &tileShape) {
  Value down = op.getDown();
  if (failed(checkOperands(
          op, op.getLayout(), {down}, op.getRows(), {op.getRowWeight()},
          {op.getRowToken(), op.getExpertOffsets()}, op.getInit())))
    return failure();
  FailureOr<KernelGeometry> geometry = getGeometry(op, tileShape, 1);
  if (failed(geometry))
    return failure();

  ImplicitLocOpBuilder b(op.getLoc(), op);
  auto weightType = cast<MemRefType>(down.getType());
  GemmOperands host;
  host.rows = op.getRows();
  host.rowScale = op.getRowWeight();
  host.offsets = op.getExpertOffsets();
  host.weights = {down};
  host.numRows = dim(b, op.getRows(), 0);
  host.depth = weightType.getShape().back();
  host.columns = weightType.getShape()[weightType.getRank() - 2];

  // With tokens, rows of different experts add into one token: the GEMM
  // writes weighted rows and the combine adds them in row order.
  cuda::StreamChain stream(b);
  Value rowResults;
  if (op.getRowToken()) {
    auto type =
        MemRefType::get({ShapedType::kDynamic, host.columns}, b.getF32Type());
    // At least one row: cuMemAlloc refuses zero bytes.
    Value allocated = arith::MaxUIOp::create(b, host.numRows, idx(b, 1));
    rowResults = stream.alloc(type, ValueRange{allocated});
    // Rows outside every group are not computed and must add nothing.
    if (host.offsets)
      stream.memset(rowResults,
                    arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f)));
    host.output = rowResults;
  } else {
    host.output = op.getInit();
  }

  KernelSpec spec;
  spec.name = llvm::formatv("down_scatter_add_sm80_{0}x{1}", tileShape.rows,
                            tileShape.columns)
                  .str();
  spec.geometry = *geometry;
  spec.hostOperands = host;
  spec.epilogue = rowResults ? cuda::GemmEpilogue::StoreRows : cuda::GemmEpilogue::AddRows;
  buildKernelAndLaunch(b, stream, kernels, spec);
  stream.finish();
  if (rowResults) {
    if (failed(cuda::buildCombineLaunches(b, kernels, rowResults,
                                          op.getRowToken(), op.getInit())))
      return failure();
    cuda::StreamChain release(b);
    release.dealloc(rowResults);
    release.finish();
  }
  rewriter.eraseOp(op);
  return success();
}
