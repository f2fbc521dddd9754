//===- GroupedGemmSm90.cpp - grouped expert GEMMs for sm_90a --------------===//
//
// The host side of the Hopper lowering of moe.gather_gate_up and
// moe.down_scatter_add on buffers: checks what the kernel supports, makes
// a TMA descriptor of each weight viewed as [E·N, K], and launches the
// kernel that GroupedGemmSm90Kernel.cpp builds, on a grid of the most row
// tiles the expert offsets can need by the column tiles. The down GEMM with
// row_token writes its weighted rows to a temporary device buffer that the
// combine (buildCombineLaunches) adds into the tokens in row order.
//
//===----------------------------------------------------------------------===//

#include "GroupedGemmSm90.h"

#include "GemmEpilogue.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::cuda;
using namespace mlir::moe::cuda::sm90;

namespace {

/// bf16 elements in 16 bytes: what TMA's global strides are a multiple of.
constexpr int64_t kDepthMultiple = 8;

MemRefType getMemRef(Value v) {
  return v ? dyn_cast<MemRefType>(v.getType()) : MemRefType();
}

bool isContiguous(MemRefType type) {
  return type && type.getLayout().isIdentity();
}

/// Checks one weight: bf16, rows layout, static, contiguous. Returns its
/// N and K.
FailureOr<std::pair<int64_t, int64_t>> checkWeight(Operation *op, Value weight,
                                                   WeightLayoutAttr layout,
                                                   bool grouped,
                                                   int64_t experts) {
  MemRefType type = getMemRef(weight);
  int64_t rank = grouped ? 3 : 2;
  if (layout.isPanels() || !type || !type.getElementType().isBF16() ||
      type.getRank() != rank) {
    op->emitOpError("on sm_90a needs bf16 weights in rows layout "
                    "(moe-cuda-prepare-kernels)");
    return failure();
  }
  if (!type.hasStaticShape() || !isContiguous(type) ||
      (grouped && type.getDimSize(0) != experts)) {
    op->emitOpError("on sm_90a needs static, contiguous weights");
    return failure();
  }
  int64_t n = type.getDimSize(rank - 2), k = type.getDimSize(rank - 1);
  // TMA needs the weight rows' stride a multiple of 16 bytes; the last
  // depth tile past K is zero-filled.
  if (k <= 0 || k % kDepthMultiple != 0) {
    op->emitOpError() << "on sm_90a needs a depth that is a multiple of "
                      << kDepthMultiple << " (got " << k << ")";
    return failure();
  }
  return std::make_pair(n, k);
}

/// Checks the activations: f32 [?, K] / [?, N] contiguous memrefs, i32
/// tokens and offsets, f32 per-row factors.
LogicalResult checkActivations(Operation *op, Value a, int64_t depth, Value out,
                               int64_t columns, Value rowToken, Value rowFactor,
                               Value offsets) {
  auto isF32Matrix = [](MemRefType t, int64_t inner) {
    return isContiguous(t) && t.getRank() == 2 && t.getElementType().isF32() &&
           t.getDimSize(1) == inner;
  };
  auto isVector = [](MemRefType t, Type element) {
    return !t || (isContiguous(t) && t.getRank() == 1 &&
                  t.getElementType() == element);
  };
  Builder b(op->getContext());
  if (!isF32Matrix(getMemRef(a), depth) ||
      !isF32Matrix(getMemRef(out), columns))
    return op->emitOpError("on sm_90a needs contiguous f32 activations");
  if (!isVector(getMemRef(rowToken), b.getI32Type()) ||
      !isVector(getMemRef(offsets), b.getI32Type()) ||
      !isVector(getMemRef(rowFactor), b.getF32Type()))
    return op->emitOpError("on sm_90a needs contiguous i32 tokens and "
                           "offsets and f32 row factors");
  return success();
}

/// A TMA descriptor of `weight` viewed as [E·N, K], boxes of
/// [columns, 64], as the `!llvm.ptr` the kernel takes.
Value buildWeightTensorMap(ImplicitLocOpBuilder &b, Value weight,
                           int64_t columns) {
  auto type = cast<MemRefType>(weight.getType());
  Value matrix = weight;
  if (type.getRank() == 3)
    matrix = memref::CollapseShapeOp::create(
        b, weight, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  auto unranked =
      UnrankedMemRefType::get(type.getElementType(), type.getMemorySpace());
  Value cast = memref::CastOp::create(b, unranked, matrix);
  auto mapType = getWeightTensorMapType(b.getContext(), columns);
  Value map = nvgpu::TmaCreateDescriptorOp::create(
      b, mapType, cast,
      ValueRange{arith::ConstantIndexOp::create(b, columns),
                 arith::ConstantIndexOp::create(b, kStageDepth)});
  return UnrealizedConversionCastOp::create(
             b, LLVM::LLVMPointerType::get(b.getContext()), map)
      .getResult(0);
}

/// Launches the kernel of `spec` over `numRows` rows.
void buildLaunch(ImplicitLocOpBuilder &b, gpu::GPUModuleOp kernels,
                 const KernelSpec &spec, Value numRows, ArrayRef<Value> args) {
  gpu::GPUFuncOp func = buildGroupedGemmKernel(kernels, spec, b.getLoc());
  Value one = arith::ConstantIndexOp::create(b, 1);
  Value rowTiles = buildRowTileCount(b, numRows, spec.experts, spec.tile.rows);
  Value columnTiles = arith::ConstantIndexOp::create(
      b, llvm::divideCeil(spec.columns, spec.tile.columns));
  Value threads = arith::ConstantIndexOp::create(b, spec.threads());
  Value shared =
      arith::ConstantIntOp::create(b, spec.dynamicSharedMemoryBytes(), 32);
  gpu::LaunchFuncOp::create(b, b.getLoc(), func,
                            gpu::KernelDim3{rowTiles, columnTiles, one},
                            gpu::KernelDim3{threads, one, one}, shared, args);
}

/// Runs `body` at the op's place only when there are rows (an empty grid
/// is a launch error), then erases the op.
template <typename Fn>
void replaceWithRowGuard(RewriterBase &rewriter, Operation *op,
                         Value rowsOperand, Fn body) {
  ImplicitLocOpBuilder b(op->getLoc(), op);
  Value numRows = memref::DimOp::create(b, rowsOperand, 0);
  Value any = arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, numRows,
                                    arith::ConstantIndexOp::create(b, 0));
  auto guard = scf::IfOp::create(b, any, /*withElseRegion=*/false);
  ImplicitLocOpBuilder gb(op->getLoc(), guard.getThenBodyBuilder());
  body(gb, numRows);
  rewriter.eraseOp(op);
}

std::string kernelName(StringRef base, const GemmTileShape &tile) {
  return (base + "_sm90_" + Twine(tile.rows) + "x" + Twine(tile.columns)).str();
}

LogicalResult checkTile(Operation *op, const GemmTileShape &tile,
                        int64_t numWeights) {
  // wgmma's N is a multiple of 8 up to 256; two accumulators of 64 x 128
  // are what the register file holds without spills.
  if (tile.rows <= 0 || tile.rows % kWarpgroupRows != 0 ||
      tile.rows > 2 * kWarpgroupRows || tile.columns <= 0 ||
      tile.columns % 8 != 0 || tile.columns > 256 / numWeights ||
      tile.depth != kStageDepth || tile.stages < 3)
    return op->emitOpError()
           << "has no sm_90a kernel for tiles of " << tile.rows << "x"
           << tile.columns << "x" << tile.depth << " in " << tile.stages
           << " stages";
  return success();
}

} // namespace

LogicalResult cuda::lowerGatherGateUpSm90(RewriterBase &rewriter,
                                          GatherGateUpOp op,
                                          gpu::GPUModuleOp kernels,
                                          const GemmTileShape &tile) {
  bool gated = static_cast<bool>(op.getGate());
  FailureOr<std::pair<int64_t, int64_t>> shape = checkWeight(
      op, op.getUp(), op.getLayout(), op.isGrouped(), op.getNumExperts());
  if (failed(shape))
    return failure();
  if (gated) {
    FailureOr<std::pair<int64_t, int64_t>> gateShape = checkWeight(
        op, op.getGate(), op.getLayout(), op.isGrouped(), op.getNumExperts());
    if (failed(gateShape))
      return failure();
    if (*gateShape != *shape)
      return op.emitOpError("on sm_90a needs gate and up of one shape");
  }
  auto [columns, depth] = *shape;
  if (failed(cuda::checkEpilogueActivation(op)) ||
      failed(checkActivations(op, op.getInput(), depth, op.getInit(), columns,
                              op.getRowToken(), op.getScale(),
                              op.getExpertOffsets())) ||
      failed(checkTile(op, tile, gated ? 2 : 1)))
    return failure();

  KernelSpec spec;
  spec.name = kernelName("gather_gate_up", tile);
  spec.tile = tile;
  spec.epilogue = GemmEpilogue::Activate;
  spec.activation = op.getActivation();
  spec.numWeights = gated ? 2 : 1;
  spec.depth = depth;
  spec.columns = columns;
  spec.experts = op.getNumExperts();
  spec.aType = getMemRef(op.getInput());
  spec.rowTokenType = getMemRef(op.getRowToken());
  spec.rowScaleType = getMemRef(op.getScale());
  spec.offsetsType = getMemRef(op.getExpertOffsets());
  spec.outType = getMemRef(op.getInit());
  spec.rowsFromA = false;

  replaceWithRowGuard(
      rewriter, op, op.getInit(), [&](ImplicitLocOpBuilder &b, Value rows) {
        SmallVector<Value> args;
        if (gated)
          args.push_back(buildWeightTensorMap(b, op.getGate(), tile.columns));
        args.push_back(buildWeightTensorMap(b, op.getUp(), tile.columns));
        args.push_back(op.getInput());
        for (Value v : {op.getRowToken(), op.getScale(), op.getExpertOffsets()})
          if (v)
            args.push_back(v);
        args.push_back(op.getInit());
        buildLaunch(b, kernels, spec, rows, args);
      });
  return success();
}

LogicalResult cuda::lowerDownScatterAddSm90(RewriterBase &rewriter,
                                            DownScatterAddOp op,
                                            gpu::GPUModuleOp kernels,
                                            const GemmTileShape &tile) {
  FailureOr<std::pair<int64_t, int64_t>> shape = checkWeight(
      op, op.getDown(), op.getLayout(), op.isGrouped(), op.getNumExperts());
  if (failed(shape))
    return failure();
  auto [columns, depth] = *shape;
  if (failed(checkActivations(op, op.getRows(), depth, op.getInit(), columns,
                              op.getRowToken(), op.getRowWeight(),
                              op.getExpertOffsets())) ||
      failed(checkTile(op, tile, 1)))
    return failure();

  bool combine = static_cast<bool>(op.getRowToken());
  KernelSpec spec;
  spec.name = kernelName(combine ? "down_rows" : "down_add", tile);
  spec.tile = tile;
  spec.epilogue =
      combine ? GemmEpilogue::StoreRows : GemmEpilogue::AddRows;
  spec.numWeights = 1;
  spec.depth = depth;
  spec.columns = columns;
  spec.experts = op.getNumExperts();
  spec.aType = getMemRef(op.getRows());
  spec.rowScaleType = getMemRef(op.getRowWeight());
  spec.offsetsType = getMemRef(op.getExpertOffsets());
  // With tokens the kernel writes [R, N] rows for the combine.
  spec.outType = combine ? MemRefType::get({ShapedType::kDynamic, columns},
                                           Float32Type::get(op.getContext()))
                         : getMemRef(op.getInit());
  spec.rowsFromA = true;

  LogicalResult result = success();
  replaceWithRowGuard(
      rewriter, op, op.getRows(), [&](ImplicitLocOpBuilder &b, Value rows) {
        SmallVector<Value> args;
        args.push_back(buildWeightTensorMap(b, op.getDown(), tile.columns));
        args.push_back(op.getRows());
        for (Value v : {op.getRowWeight(), op.getExpertOffsets()})
          if (v)
            args.push_back(v);
        if (!combine) {
          args.push_back(op.getInit());
          buildLaunch(b, kernels, spec, rows, args);
          return;
        }
        // Every row's weighted result; rows outside every group are never
        // written, so the buffer starts at zero for the combine.
        auto rowsBuffer = gpu::AllocOp::create(
            b, b.getLoc(), spec.outType, /*asyncToken=*/Type(), ValueRange{},
            ValueRange{rows}, ValueRange{}, /*hostShared=*/false);
        Value buffer = rowsBuffer.getMemref();
        gpu::MemsetOp::create(
            b, b.getLoc(), /*asyncToken=*/Type(), ValueRange{}, buffer,
            arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f)));
        args.push_back(buffer);
        buildLaunch(b, kernels, spec, rows, args);
        if (failed(buildCombineLaunches(b, kernels, buffer, op.getRowToken(),
                                        op.getInit())))
          result = failure();
        gpu::DeallocOp::create(b, b.getLoc(), /*asyncToken=*/Type(),
                               ValueRange{}, buffer);
      });
  return result;
}
