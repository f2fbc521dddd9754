//===- TileSchedule.cpp - which rows each block of a grouped GEMM computes -===//
//
// Rows of a grouped GEMM are sorted by expert, with the group boundaries
// in `offsets` on the device; the host knows only the total. The grid is
// sized for the most tiles any split of the rows can need (ceil(R/rows) +
// E), and each block walks the experts' row counts to find its tile, so
// that no tile mixes two experts' weights and no host round trip is
// needed. Spare blocks return at once.
//
//===----------------------------------------------------------------------===//

#include "GroupedGemm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::moe;

gpu::GPUModuleOp cuda::getOrCreateKernelModule(ModuleOp module) {
  if (auto existing =
          module.lookupSymbol<gpu::GPUModuleOp>(kKernelModuleName))
    return existing;
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  return gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModuleName);
}

Value cuda::buildRowTileCount(ImplicitLocOpBuilder &b, Value numRows,
                              int64_t numExperts, int64_t tileRows) {
  Value tiles = arith::CeilDivUIOp::create(
      b, numRows, arith::ConstantIndexOp::create(b, tileRows));
  if (numExperts <= 1)
    return tiles;
  return arith::AddIOp::create(b, tiles,
                               arith::ConstantIndexOp::create(b, numExperts));
}

cuda::RowTile cuda::buildRowTileSchedule(ImplicitLocOpBuilder &b,
                                         Value offsets, Value tile,
                                         Value numRows, int64_t tileRows) {
  Value zero = arith::ConstantIndexOp::create(b, 0);
  Value one = arith::ConstantIndexOp::create(b, 1);
  Value rowsPerTile = arith::ConstantIndexOp::create(b, tileRows);
  auto loadOffset = [&](OpBuilder &ob, Location loc, Value e) -> Value {
    Value v = memref::LoadOp::create(ob, loc, offsets, e);
    return arith::IndexCastUIOp::create(ob, loc, ob.getIndexType(), v);
  };
  RowTile result;
  if (!offsets) {
    result.expert = zero;
    result.rowBegin = arith::MulIOp::create(b, tile, rowsPerTile);
    result.rowEnd = arith::MinUIOp::create(
        b, arith::AddIOp::create(b, result.rowBegin, rowsPerTile), numRows);
    result.valid = arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                         result.rowBegin, numRows);
    return result;
  }
  int64_t numExperts =
      cast<MemRefType>(offsets.getType()).getDimSize(0) - 1;
  Value experts = arith::ConstantIndexOp::create(b, numExperts);
  // Carried: tiles before expert e, and the expert found (E: none yet)
  // with the first tile of it.
  auto walk = scf::ForOp::create(
      b, zero, experts, one, ValueRange{zero, experts, zero},
      [&](OpBuilder &ob, Location loc, Value e, ValueRange carried) {
        Value before = carried[0];
        Value begin = loadOffset(ob, loc, e);
        Value end = loadOffset(
            ob, loc, arith::AddIOp::create(ob, loc, e, one));
        Value count = arith::SubIOp::create(ob, loc, end, begin);
        Value tiles = arith::CeilDivUIOp::create(ob, loc, count, rowsPerTile);
        Value after = arith::AddIOp::create(ob, loc, before, tiles);
        // The first expert whose tiles reach past `tile` holds it.
        Value notFound = arith::CmpIOp::create(
            ob, loc, arith::CmpIPredicate::eq, carried[1], experts);
        Value inside = arith::CmpIOp::create(
            ob, loc, arith::CmpIPredicate::ult, tile, after);
        Value here = arith::AndIOp::create(ob, loc, notFound, inside);
        Value expert = arith::SelectOp::create(ob, loc, here, e, carried[1]);
        Value first =
            arith::SelectOp::create(ob, loc, here, before, carried[2]);
        scf::YieldOp::create(ob, loc, ValueRange{after, expert, first});
      });
  Value expert = walk.getResult(1);
  result.valid = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, expert,
                                       experts);
  // Spare blocks read expert 0's bounds and get an empty tile.
  result.expert = arith::SelectOp::create(b, result.valid, expert, zero);
  Value groupBegin = loadOffset(b, b.getLoc(), result.expert);
  Value groupEnd = loadOffset(
      b, b.getLoc(), arith::AddIOp::create(b, result.expert, one));
  Value within = arith::SubIOp::create(b, tile, walk.getResult(2));
  Value begin = arith::AddIOp::create(
      b, groupBegin, arith::MulIOp::create(b, within, rowsPerTile));
  result.rowBegin = arith::SelectOp::create(b, result.valid, begin, zero);
  Value end = arith::MinUIOp::create(
      b, arith::AddIOp::create(b, begin, rowsPerTile), groupEnd);
  result.rowEnd = arith::SelectOp::create(b, result.valid, end, zero);
  return result;
}
