//===- LoweringUtils.cpp - builders shared by the moe-to-linalg patterns --===//

#include "LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::lowering;

SmallVector<OpFoldResult> lowering::getSizes(ImplicitLocOpBuilder &b,
                                             Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<OpFoldResult> sizes;
  for (int64_t dim = 0; dim < type.getRank(); ++dim) {
    if (type.isDynamicDim(dim))
      sizes.push_back(tensor::DimOp::create(b, tensor, dim).getResult());
    else
      sizes.push_back(b.getIndexAttr(type.getDimSize(dim)));
  }
  return sizes;
}

Value lowering::toIndex(ImplicitLocOpBuilder &b, Value i32) {
  return arith::IndexCastOp::create(b, b.getIndexType(), i32);
}

Value lowering::toI32(ImplicitLocOpBuilder &b, Value index) {
  return arith::IndexCastOp::create(b, b.getI32Type(), index);
}

ValueRange lowering::buildLoop(
    ImplicitLocOpBuilder &b, Value upper, ValueRange iterArgs,
    function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, Value, ValueRange)>
        body) {
  Location loc = b.getLoc();
  auto loop = scf::ForOp::create(
      b, indexConstant(b, 0), upper, indexConstant(b, 1), iterArgs,
      [&](OpBuilder &nested, Location, Value i, ValueRange iter) {
        ImplicitLocOpBuilder nb(loc, nested);
        scf::YieldOp::create(nb, body(nb, i, iter));
      });
  return loop.getResults();
}

Value lowering::indexConstant(ImplicitLocOpBuilder &b, int64_t value) {
  return arith::ConstantIndexOp::create(b, value);
}

Value lowering::f32Constant(ImplicitLocOpBuilder &b, float value) {
  return arith::ConstantOp::create(b, b.getF32FloatAttr(value));
}

Value lowering::i32Constant(ImplicitLocOpBuilder &b, int32_t value) {
  return arith::ConstantOp::create(b, b.getI32IntegerAttr(value));
}

Value lowering::createFilled(ImplicitLocOpBuilder &b,
                             ArrayRef<OpFoldResult> sizes, Value value) {
  Value empty = tensor::EmptyOp::create(b, sizes, value.getType());
  return linalg::FillOp::create(b, ValueRange{value}, ValueRange{empty})
      .getResult(0);
}

Value lowering::createMatmulTransposeB(ImplicitLocOpBuilder &b, Value lhs,
                                       Value rhs) {
  SmallVector<OpFoldResult> lhsSizes = getSizes(b, lhs);
  SmallVector<OpFoldResult> rhsSizes = getSizes(b, rhs);
  Value init = createFilled(b, {lhsSizes[0], rhsSizes[0]}, f32Constant(b, 0));
  return linalg::MatmulTransposeBOp::create(
             b, b.getLoc(), TypeRange{init.getType()}, ValueRange{lhs, rhs},
             ValueRange{init})
      .getResult(0);
}

Value lowering::createElementwise(ImplicitLocOpBuilder &b, ValueRange inputs,
                                  Value init, ScalarBody body,
                                  ArrayRef<AffineMap> inputMaps) {
  auto type = cast<RankedTensorType>(init.getType());
  AffineMap identity = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<AffineMap> maps;
  for (size_t i = 0; i < inputs.size(); ++i)
    maps.push_back(inputMaps.empty() ? identity : inputMaps[i]);
  maps.push_back(identity);
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  Location loc = b.getLoc();
  return linalg::GenericOp::create(
             b, TypeRange{type}, inputs, ValueRange{init}, maps, iterators,
             [&](OpBuilder &nested, Location, ValueRange args) {
               ImplicitLocOpBuilder nb(loc, nested);
               Value result = body(nb, args.drop_back());
               linalg::YieldOp::create(nb, result);
             })
      .getResult(0);
}

Value lowering::createNaNToMinusInf(ImplicitLocOpBuilder &b, Value values) {
  Value init = tensor::EmptyOp::create(b, getSizes(b, values), b.getF32Type());
  return createElementwise(
      b, values, init, [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value isNaN = arith::CmpFOp::create(nb, arith::CmpFPredicate::UNO,
                                            args[0], args[0]);
        Value minusInf =
            f32Constant(nb, -std::numeric_limits<float>::infinity());
        return arith::SelectOp::create(nb, isNaN, minusInf, args[0]);
      });
}

Value lowering::createReduction(
    ImplicitLocOpBuilder &b, Value input, Value init, bool overRows,
    function_ref<Value(ImplicitLocOpBuilder &, Value, Value)> combine) {
  MLIRContext *ctx = b.getContext();
  // Iterate (kept, reduced): a column reduction reads the input transposed.
  AffineMap full =
      overRows
          ? AffineMap::get(
                2, 0, {getAffineDimExpr(1, ctx), getAffineDimExpr(0, ctx)}, ctx)
          : AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap kept = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  Location loc = b.getLoc();
  return linalg::GenericOp::create(
             b, TypeRange{init.getType()}, ValueRange{input}, ValueRange{init},
             ArrayRef<AffineMap>{full, kept},
             ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                           utils::IteratorType::reduction},
             [&](OpBuilder &nested, Location, ValueRange args) {
               ImplicitLocOpBuilder nb(loc, nested);
               linalg::YieldOp::create(nb, combine(nb, args[0], args[1]));
             })
      .getResult(0);
}

Value lowering::createAddF(ImplicitLocOpBuilder &b, Value lhs, Value rhs) {
  return arith::AddFOp::create(b, lhs, rhs);
}

Value lowering::createRowMax(ImplicitLocOpBuilder &b, Value values) {
  return createReduction(
      b, values,
      createFilled(b, {getSizes(b, values)[0]},
                   f32Constant(b, -std::numeric_limits<float>::infinity())),
      /*overRows=*/false,
      [](ImplicitLocOpBuilder &nb, Value value, Value acc) -> Value {
        return arith::MaximumFOp::create(nb, value, acc);
      });
}

Value lowering::createSoftmax(ImplicitLocOpBuilder &b, Value logits) {
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> sizes = getSizes(b, logits);
  Value rowMax = createRowMax(b, logits);
  AffineMap identity = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap row = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  Value init = tensor::EmptyOp::create(b, sizes, b.getF32Type());
  Value exps =
      createElementwise(b, ValueRange{logits, rowMax}, init,
                        [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
                          return math::ExpOp::create(
                              nb, arith::SubFOp::create(nb, args[0], args[1]));
                        },
                        {identity, row});
  Value rowSum = createReduction(
      b, exps, createFilled(b, {sizes[0]}, f32Constant(b, 0.0f)),
      /*overRows=*/false, createAddF);
  return createElementwise(
      b, ValueRange{exps, rowSum}, init,
      [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        return arith::DivFOp::create(nb, args[0], args[1]);
      },
      {identity, row});
}

Value lowering::createCapacity(ImplicitLocOpBuilder &b, Value count,
                               double factor, int64_t numExperts) {
  Value countF64 = arith::UIToFPOp::create(
      b, b.getF64Type(),
      arith::IndexCastUIOp::create(b, b.getI64Type(), count));
  Value scaled = arith::MulFOp::create(
      b, arith::ConstantOp::create(b, b.getF64FloatAttr(factor)), countF64);
  Value perExpert = arith::DivFOp::create(
      b, scaled,
      arith::ConstantOp::create(b, b.getF64FloatAttr(double(numExperts))));
  Value rounded = math::CeilOp::create(b, perExpert);
  return arith::IndexCastUIOp::create(
      b, b.getIndexType(), arith::FPToUIOp::create(b, b.getI64Type(), rounded));
}

Value lowering::createComesBefore(ImplicitLocOpBuilder &b, Value value,
                                  Value index, Value other, Value otherIndex) {
  Value greater =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, value, other);
  Value equal =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, value, other);
  Value lower =
      arith::CmpIOp::create(b, arith::CmpIPredicate::ult, index, otherIndex);
  return arith::OrIOp::create(b, greater,
                              arith::AndIOp::create(b, equal, lower));
}

Value lowering::createArgmaxExcluding(ImplicitLocOpBuilder &b, Value values,
                                      ValueRange excluded) {
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> sizes = getSizes(b, values);
  int64_t n = cast<RankedTensorType>(values.getType()).getDimSize(1);
  Value bestValue = createFilled(
      b, {sizes[0]}, f32Constant(b, -std::numeric_limits<float>::infinity()));
  // Index n stands for "none yet": any candidate, even -inf, beats it.
  Value bestIndex = createFilled(b, {sizes[0]}, i32Constant(b, n));
  AffineMap full = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap row = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  SmallVector<Value> inputs = {values};
  SmallVector<AffineMap> maps = {full};
  for (Value picked : excluded) {
    inputs.push_back(picked);
    maps.push_back(row);
  }
  maps.append({row, row});
  Location loc = b.getLoc();
  auto generic = linalg::GenericOp::create(
      b, TypeRange{bestValue.getType(), bestIndex.getType()}, inputs,
      ValueRange{bestValue, bestIndex}, maps,
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                    utils::IteratorType::reduction},
      [&](OpBuilder &nested, Location, ValueRange args) {
        ImplicitLocOpBuilder nb(loc, nested);
        Value value = args[0];
        Value current = args[args.size() - 2];
        Value currentIndex = args[args.size() - 1];
        Value index = arith::IndexCastOp::create(
            nb, nb.getI32Type(), linalg::IndexOp::create(nb, 1));
        Value better =
            createComesBefore(nb, value, index, current, currentIndex);
        for (Value picked : args.slice(1, excluded.size())) {
          Value taken = arith::CmpIOp::create(nb, arith::CmpIPredicate::eq,
                                              index, picked);
          Value free = arith::XOrIOp::create(
              nb, taken, arith::ConstantOp::create(nb, nb.getBoolAttr(true)));
          better = arith::AndIOp::create(nb, better, free);
        }
        linalg::YieldOp::create(
            nb, ValueRange{
                    arith::SelectOp::create(nb, better, value, current),
                    arith::SelectOp::create(nb, better, index, currentIndex)});
      });
  return generic.getResult(1);
}

Value lowering::createBroadcastRows(ImplicitLocOpBuilder &b, Value row,
                                    Value like) {
  MLIRContext *ctx = b.getContext();
  return createElementwise(
      b, ValueRange{row},
      tensor::EmptyOp::create(b, getSizes(b, like), b.getF32Type()),
      [](ImplicitLocOpBuilder &, ValueRange args) { return args[0]; },
      {AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx)});
}

Value lowering::createFfn(ImplicitLocOpBuilder &b, Activation activation,
                          GluClampAttr clamp, Value rows, Value gate, Value up,
                          Value down, const FfnBiases &biases) {
  MLIRContext *ctx = b.getContext();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap column = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
  // The projections, then their biases (broadcast over the rows), as the
  // inputs of one elementwise op.
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  Value upProj = createMatmulTransposeB(b, rows, up);
  if (gate)
    inputs.push_back(createMatmulTransposeB(b, rows, gate));
  inputs.push_back(upProj);
  maps.assign(inputs.size(), identity);
  Value gateBias = gate ? biases.gate : Value();
  for (Value bias : {gateBias, biases.up}) {
    if (!bias)
      continue;
    inputs.push_back(bias);
    maps.push_back(column);
  }
  bool hasGateBias = static_cast<bool>(gateBias);
  bool hasUpBias = static_cast<bool>(biases.up);
  Value init = tensor::EmptyOp::create(b, getSizes(b, upProj), b.getF32Type());
  bool gated = static_cast<bool>(gate);
  Value hidden = createElementwise(
      b, inputs, init,
      [&](ImplicitLocOpBuilder &nb, ValueRange args) {
        unsigned next = gated ? 2 : 1;
        Value g = gated ? args[0] : Value();
        Value u = args[gated ? 1 : 0];
        if (hasGateBias)
          g = arith::AddFOp::create(nb, g, args[next++]);
        if (hasUpBias)
          u = arith::AddFOp::create(nb, u, args[next++]);
        return createActivation(nb, activation, g, u, clamp);
      },
      maps);
  Value result = createMatmulTransposeB(b, hidden, down);
  if (!biases.down)
    return result;
  return createElementwise(
      b, ValueRange{result, biases.down},
      tensor::EmptyOp::create(b, getSizes(b, result), b.getF32Type()),
      [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        return arith::AddFOp::create(nb, args[0], args[1]);
      },
      {identity, column});
}

Value lowering::createGatherRows(ImplicitLocOpBuilder &b, Value source,
                                 Value indices) {
  auto sourceType = cast<RankedTensorType>(source.getType());
  SmallVector<OpFoldResult> sizes = {getSizes(b, indices)[0],
                                     getSizes(b, source)[1]};
  Value init = tensor::EmptyOp::create(b, sizes, sourceType.getElementType());
  MLIRContext *ctx = b.getContext();
  AffineMap row = AffineMap::get(2, 0, {getAffineDimExpr(0, ctx)}, ctx);
  return createElementwise(
      b, ValueRange{indices}, init,
      [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
        Value token =
            arith::IndexCastOp::create(nb, nb.getIndexType(), args[0]);
        Value column = linalg::IndexOp::create(nb, 1);
        return tensor::ExtractOp::create(nb, source, ValueRange{token, column});
      },
      {row});
}

Value lowering::castToType(ImplicitLocOpBuilder &b, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(b, type, value);
}

Value lowering::extractStackedRows(ImplicitLocOpBuilder &b, Value stacked,
                                   OpFoldResult index, OpFoldResult first,
                                   OpFoldResult count) {
  auto type = cast<RankedTensorType>(stacked.getType());
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  std::optional<int64_t> staticCount = getConstantIntValue(count);
  auto sliceType = RankedTensorType::get(
      {staticCount ? *staticCount : ShapedType::kDynamic, type.getDimSize(2)},
      type.getElementType());
  return tensor::ExtractSliceOp::create(
      b, sliceType, stacked, ArrayRef<OpFoldResult>{index, first, zero},
      ArrayRef<OpFoldResult>{one, count, b.getIndexAttr(type.getDimSize(2))},
      ArrayRef<OpFoldResult>{one, one, one});
}

std::pair<Value, Value> lowering::expertRowRange(ImplicitLocOpBuilder &b,
                                                 Value offsets, Value expert) {
  auto offsetAt = [&](Value e) -> Value {
    return arith::IndexCastOp::create(b, b.getIndexType(),
                                      tensor::ExtractOp::create(b, offsets, e));
  };
  Value start = offsetAt(expert);
  Value next = arith::AddIOp::create(b, expert, indexConstant(b, 1));
  return {start, arith::SubIOp::create(b, offsetAt(next), start)};
}

SmallVector<Value> lowering::forEachWorkerPart(ImplicitLocOpBuilder &b,
                                               ValueRange dests, unsigned dim,
                                               int64_t granule,
                                               int64_t fixedPartSize,
                                               PartBody body) {
  Value extent = getValueOrCreateConstantIndexOp(b, b.getLoc(),
                                                 getSizes(b, dests[0])[dim]);
  Value partSize, numParts;
  if (fixedPartSize == 1) {
    // Every part is one element: parts of static size, none partial, and
    // none at all for an empty extent.
    partSize = indexConstant(b, 1);
    numParts = extent;
  } else {
    Value step = indexConstant(b, granule);
    Value perWorker =
        arith::CeilDivUIOp::create(b, extent, NumWorkersOp::create(b));
    // Never zero-sized parts, and at least one part, so that an empty
    // extent still yields its dests.
    partSize = arith::MaxUIOp::create(
        b,
        arith::MulIOp::create(
            b, arith::CeilDivUIOp::create(b, perWorker, step), step),
        step);
    numParts = arith::MaxUIOp::create(
        b, arith::CeilDivUIOp::create(b, extent, partSize),
        indexConstant(b, 1));
  }
  Location loc = b.getLoc();
  auto loop = scf::ForallOp::create(
      b, ArrayRef<OpFoldResult>{numParts}, dests, std::nullopt,
      [&](OpBuilder &nested, Location, ValueRange args) {
        ImplicitLocOpBuilder nb(loc, nested);
        Value first = arith::MulIOp::create(nb, args[0], partSize);
        Value count = fixedPartSize == 1
                          ? partSize
                          : arith::MinSIOp::create(
                                nb, partSize,
                                arith::SubIOp::create(nb, extent, first))
                                .getResult();
        SmallVector<SmallVector<OpFoldResult>> offsets, sizes, strides;
        SmallVector<Value> parts;
        for (Value dest : args.drop_front()) {
          SmallVector<OpFoldResult> destSizes = getSizes(nb, dest);
          offsets.emplace_back(destSizes.size(), nb.getIndexAttr(0));
          offsets.back()[dim] = first;
          sizes.push_back(destSizes);
          sizes.back()[dim] = fixedPartSize == 1 ? OpFoldResult(nb.getIndexAttr(1))
                                                 : OpFoldResult(count);
          strides.emplace_back(destSizes.size(), nb.getIndexAttr(1));
          parts.push_back(tensor::ExtractSliceOp::create(
              nb, dest, offsets.back(), sizes.back(), strides.back()));
        }
        SmallVector<Value> results = body(nb, first, count, parts);
        // Parts of static size insert results of that static shape.
        if (fixedPartSize == 1)
          for (auto [i, result] : llvm::enumerate(results))
            result = castToType(nb, result, parts[i].getType());
        auto inParallel = scf::InParallelOp::create(nb);
        nb.setInsertionPointToStart(&inParallel.getRegion().front());
        for (auto [i, result] : llvm::enumerate(results))
          tensor::ParallelInsertSliceOp::create(
              nb, result, args[1 + i], offsets[i], sizes[i], strides[i]);
      });
  return SmallVector<Value>(loop.getResults());
}

Value lowering::addDenseFfnKernels(ImplicitLocOpBuilder &b,
                                   Activation activation, GluClampAttr clamp,
                                   Value input, Value gate, Value up,
                                   Value down, Value output) {
  auto layout = WeightLayoutAttr::getRows(b.getContext());
  int64_t width = cast<RankedTensorType>(up.getType()).getDimSize(0);
  Value init = tensor::EmptyOp::create(
      b, ArrayRef<OpFoldResult>{getSizes(b, input)[0], b.getIndexAttr(width)},
      b.getF32Type());
  Value activations =
      GatherGateUpOp::create(b, init.getType(), input, Value(), Value(),
                             Value(), gate, up, init, /*gate_bias=*/Value(),
                             /*up_bias=*/Value(), activation, layout, clamp)
          .getResult()[0];
  return DownScatterAddOp::create(b, output.getType(), activations, Value(),
                                  down, Value(), Value(), output,
                                  /*down_bias=*/Value(), layout)
      .getResult()[0];
}
