//===- Combine.cpp - the down GEMM's rows added into their tokens ---------===//
//
// A down GEMM with `row_token` writes one weighted row per (token, expert)
// slot; rows of one token come from different experts, so different
// blocks. Adding them with floating-point atomics would make each token's
// sum depend on which block finished first. Instead the combine finds,
// for every token, its rows, sorts them by row index and adds them into
// the token in that order, the order moe.down_scatter_add's semantics
// name:
//
//   count    one thread per row: counts[token] += 1 (integer atomics)
//   scan     one block: starts = exclusive prefix sum of counts
//   scatter  one thread per row: order[starts[token] + fill[token]++] = row
//            (integer atomics: the order within a token is arbitrary here)
//   sum      one block per token: thread 0 sorts the token's row indices,
//            then threads over columns add the rows in increasing order
//
// Integer atomics only decide where an index lands; the sort makes the
// summation order a function of the row indices alone.
//
//===----------------------------------------------------------------------===//

#include "GroupedGemm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace mlir::moe;
using mlir::moe::cuda::idx;

/// Bytes every shared-memory buffer of a kernel is aligned to.
static constexpr int64_t kSharedAlignment = 128;

gpu::GPUFuncOp cuda::createKernel(gpu::GPUModuleOp kernels, Location loc,
                                  StringRef name, TypeRange arguments,
                                  TypeRange workgroup, int64_t threads) {
  MLIRContext *ctx = kernels.getContext();
  OpBuilder b = OpBuilder::atBlockEnd(kernels.getBody());
  auto func = gpu::GPUFuncOp::create(
      b, loc, name, FunctionType::get(ctx, arguments, {}), workgroup);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), UnitAttr::get(ctx));
  // ldmatrix and 16-byte cp.async need 16-byte aligned shared addresses;
  // without this the buffers get their element type's alignment.
  for (unsigned i = 0; i < workgroup.size(); ++i)
    func.setWorkgroupAttributionAttr(
        i, LLVM::LLVMDialect::getAlignAttrName(),
        IntegerAttr::get(IntegerType::get(ctx, 64), kSharedAlignment));
  if (threads > 0)
    func.setKnownBlockSize(
        ArrayRef<int32_t>{static_cast<int32_t>(threads), 1, 1});
  // Renamed if a kernel of that name exists (each op lowers its own).
  SymbolTable(kernels).insert(func);
  return func;
}

cuda::StreamChain::StreamChain(ImplicitLocOpBuilder &b) : b(b) {
  token = gpu::WaitOp::create(b, gpu::AsyncTokenType::get(b.getContext()),
                              ValueRange())
              .getAsyncToken();
}

Value cuda::StreamChain::alloc(MemRefType type, ValueRange sizes) {
  auto op = gpu::AllocOp::create(b, type, token.getType(), ValueRange{token},
                                 sizes, ValueRange(), /*hostShared=*/false);
  token = op.getAsyncToken();
  return op.getMemref();
}

void cuda::StreamChain::memset(Value buffer, Value value) {
  token = gpu::MemsetOp::create(b, token.getType(), ValueRange{token}, buffer,
                                value)
              .getAsyncToken();
}

void cuda::StreamChain::launch(gpu::GPUFuncOp kernel, gpu::KernelDim3 grid,
                               gpu::KernelDim3 block, ValueRange arguments) {
  token =
      gpu::LaunchFuncOp::create(b, b.getLoc(), kernel, grid, block,
                                /*dynamicSharedMemorySize=*/Value(), arguments,
                                token.getType(), ValueRange{token})
          .getAsyncToken();
}

void cuda::StreamChain::dealloc(Value buffer) {
  token = gpu::DeallocOp::create(b, token.getType(), ValueRange{token}, buffer)
              .getAsyncToken();
}

void cuda::StreamChain::finish() {
  gpu::WaitOp::create(b, Type(), ValueRange{token});
}

namespace {

constexpr int64_t kThreads = 256;
/// The combine's kernels leave ptxas its default register budget: told
/// the block size (256), ptxas aims at 32 registers a thread and spills
/// the scan's loop state.
constexpr int64_t kUnknownBlockSize = 0;

/// A kernel of the combine built before for operands of these types (both
/// tile variants of a down GEMM, or two down GEMMs of one layer, share
/// them), or null.
gpu::GPUFuncOp findKernel(gpu::GPUModuleOp kernels, StringRef name,
                          TypeRange arguments) {
  for (auto func : kernels.getOps<gpu::GPUFuncOp>())
    if (func.getName().starts_with(name) &&
        llvm::equal(func.getArgumentTypes(), arguments))
      return func;
  return nullptr;
}

Value lessThan(ImplicitLocOpBuilder &b, Value x, Value y) {
  return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, x, y);
}

/// The thread's global index over a 1-D grid of kThreads blocks.
Value globalThread(ImplicitLocOpBuilder &b) {
  Value block = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value thread = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  return arith::AddIOp::create(
      b, arith::MulIOp::create(b, block, idx(b, kThreads)), thread);
}

/// Starts an `if (cond)` without else and moves the builder into it.
void enterIf(ImplicitLocOpBuilder &b, Value cond) {
  auto op = scf::IfOp::create(b, cond, /*withElseRegion=*/false);
  b.setInsertionPointToStart(op.thenBlock());
}

/// Starts a kernel body; returns its arguments.
ValueRange enterKernel(ImplicitLocOpBuilder &b, gpu::GPUFuncOp func) {
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  gpu::ReturnOp::create(b);
  b.setInsertionPointToStart(&entry);
  return entry.getArguments().take_front(func.getNumArguments());
}

/// The row's token as an index, and whether it is one of `tokens` (rows
/// naming no token of this output add nothing).
std::pair<Value, Value> loadToken(ImplicitLocOpBuilder &b, Value rowToken,
                                  Value row, Value tokens) {
  Value token = arith::IndexCastUIOp::create(
      b, b.getIndexType(), memref::LoadOp::create(b, rowToken, row));
  return {token, lessThan(b, token, tokens)};
}

/// count(rowToken, counts, R, T): counts[token] += 1 per row.
gpu::GPUFuncOp buildCountKernel(ImplicitLocOpBuilder &host,
                                gpu::GPUModuleOp kernels, Type tokenType,
                                Type countType) {
  Type index = host.getIndexType();
  SmallVector<Type> arguments{tokenType, countType, index, index};
  if (auto built = findKernel(kernels, "combine_count", arguments))
    return built;
  auto func = cuda::createKernel(kernels, host.getLoc(), "combine_count",
                                 arguments, {}, kUnknownBlockSize);
  ImplicitLocOpBuilder b(host.getLoc(), host.getContext());
  ValueRange args = enterKernel(b, func);
  Value row = globalThread(b);
  enterIf(b, lessThan(b, row, args[2]));
  auto [token, known] = loadToken(b, args[0], row, args[3]);
  enterIf(b, known);
  Value one = arith::ConstantIntOp::create(b, 1, 32);
  memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::addi, one, args[1],
                              token);
  return func;
}

/// scan(counts, starts, T): starts[t] = Σ counts[0..t), starts[T] = total.
/// One block: each thread sums a contiguous chunk, thread 0 scans the
/// chunk sums in shared memory, each thread then writes its chunk.
gpu::GPUFuncOp buildScanKernel(ImplicitLocOpBuilder &host,
                               gpu::GPUModuleOp kernels, Type countType,
                               Type startType) {
  MLIRContext *ctx = host.getContext();
  Type index = host.getIndexType(), i32 = host.getI32Type();
  auto partials = MemRefType::get(
      {kThreads}, i32, MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
  SmallVector<Type> arguments{countType, startType, index};
  if (auto built = findKernel(kernels, "combine_scan", arguments))
    return built;
  auto func = cuda::createKernel(kernels, host.getLoc(), "combine_scan",
                                 arguments, {partials}, kUnknownBlockSize);
  ImplicitLocOpBuilder b(host.getLoc(), ctx);
  ValueRange args = enterKernel(b, func);
  Value counts = args[0], starts = args[1], tokens = args[2];
  Value shared = func.getWorkgroupAttributions()[0];
  Value zero = idx(b, 0), one = idx(b, 1);
  Value zeroI32 = arith::ConstantIntOp::create(b, 0, 32);
  Value thread = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value chunk = arith::CeilDivUIOp::create(b, tokens, idx(b, kThreads));
  Value begin = arith::MinUIOp::create(
      b, arith::MulIOp::create(b, thread, chunk), tokens);
  Value end =
      arith::MinUIOp::create(b, arith::AddIOp::create(b, begin, chunk), tokens);
  auto sumLoop = scf::ForOp::create(
      b, begin, end, one, ValueRange{zeroI32},
      [&](OpBuilder &ob, Location loc, Value t, ValueRange carried) {
        Value c = memref::LoadOp::create(ob, loc, counts, t);
        scf::YieldOp::create(
            ob, loc, ValueRange{arith::AddIOp::create(ob, loc, carried[0], c)});
      });
  memref::StoreOp::create(b, sumLoop.getResult(0), shared, thread);
  gpu::BarrierOp::create(b);
  {
    OpBuilder::InsertionGuard guard(b);
    enterIf(b,
            arith::CmpIOp::create(b, arith::CmpIPredicate::eq, thread, zero));
    auto scanLoop = scf::ForOp::create(
        b, zero, idx(b, kThreads), one, ValueRange{zeroI32},
        [&](OpBuilder &ob, Location loc, Value i, ValueRange carried) {
          Value c = memref::LoadOp::create(ob, loc, shared, i);
          memref::StoreOp::create(ob, loc, carried[0], shared, i);
          scf::YieldOp::create(
              ob, loc,
              ValueRange{arith::AddIOp::create(ob, loc, carried[0], c)});
        });
    memref::StoreOp::create(b, scanLoop.getResult(0), starts, tokens);
  }
  gpu::BarrierOp::create(b);
  Value first = memref::LoadOp::create(b, shared, thread);
  scf::ForOp::create(
      b, begin, end, one, ValueRange{first},
      [&](OpBuilder &ob, Location loc, Value t, ValueRange carried) {
        memref::StoreOp::create(ob, loc, carried[0], starts, t);
        Value c = memref::LoadOp::create(ob, loc, counts, t);
        scf::YieldOp::create(
            ob, loc, ValueRange{arith::AddIOp::create(ob, loc, carried[0], c)});
      });
  return func;
}

/// scatter(rowToken, starts, fill, order, R, T): each row's index into its
/// token's segment of `order`, at a slot an integer atomic hands out.
gpu::GPUFuncOp buildScatterKernel(ImplicitLocOpBuilder &host,
                                  gpu::GPUModuleOp kernels, Type tokenType,
                                  Type startType, Type fillType,
                                  Type orderType) {
  Type index = host.getIndexType();
  SmallVector<Type> arguments{tokenType, startType, fillType,
                              orderType, index,     index};
  if (auto built = findKernel(kernels, "combine_scatter", arguments))
    return built;
  auto func = cuda::createKernel(kernels, host.getLoc(), "combine_scatter",
                                 arguments, {}, kUnknownBlockSize);
  ImplicitLocOpBuilder b(host.getLoc(), host.getContext());
  ValueRange args = enterKernel(b, func);
  Value row = globalThread(b);
  enterIf(b, lessThan(b, row, args[4]));
  auto [token, known] = loadToken(b, args[0], row, args[5]);
  enterIf(b, known);
  Value one = arith::ConstantIntOp::create(b, 1, 32);
  Value slot = memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::addi, one,
                                           args[2], token);
  Value start = memref::LoadOp::create(b, args[1], token);
  Value at = arith::IndexCastUIOp::create(
      b, b.getIndexType(), arith::AddIOp::create(b, start, slot));
  Value rowI32 = arith::IndexCastUIOp::create(b, b.getI32Type(), row);
  memref::StoreOp::create(b, rowI32, args[3], at);
  return func;
}

/// sum(rowResults, starts, order, init, T): block t sorts order[starts[t]
/// .. starts[t+1]) (a token has few rows: an exchange sort by one thread),
/// then init[t, n] += rowResults[r, n] for those rows r in increasing order.
gpu::GPUFuncOp buildSumKernel(ImplicitLocOpBuilder &host,
                              gpu::GPUModuleOp kernels, Type resultType,
                              Type startType, Type orderType, Type initType) {
  Type index = host.getIndexType();
  SmallVector<Type> arguments{resultType, startType, orderType, initType,
                              index};
  if (auto built = findKernel(kernels, "combine_sum", arguments))
    return built;
  auto func = cuda::createKernel(kernels, host.getLoc(), "combine_sum",
                                 arguments, {}, kUnknownBlockSize);
  ImplicitLocOpBuilder b(host.getLoc(), host.getContext());
  ValueRange args = enterKernel(b, func);
  Value results = args[0], starts = args[1], order = args[2], init = args[3];
  Value zero = idx(b, 0), one = idx(b, 1);
  Value token = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value thread = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  // Uniform per block: the barrier below is reached by all or none.
  enterIf(b, lessThan(b, token, args[4]));
  auto loadIndex = [&](OpBuilder &ob, Location loc, Value memref, Value i) {
    return arith::IndexCastUIOp::create(
        ob, loc, ob.getIndexType(), memref::LoadOp::create(ob, loc, memref, i));
  };
  Value first = loadIndex(b, b.getLoc(), starts, token);
  Value last =
      loadIndex(b, b.getLoc(), starts, arith::AddIOp::create(b, token, one));
  {
    OpBuilder::InsertionGuard guard(b);
    enterIf(b,
            arith::CmpIOp::create(b, arith::CmpIPredicate::eq, thread, zero));
    Value count = arith::SubIOp::create(b, last, first);
    // Pass p moves the largest of the first count-p entries to their end.
    scf::ForOp::create(
        b, zero, count, one, ValueRange(),
        [&](OpBuilder &ob, Location loc, Value pass, ValueRange) {
          Value end = arith::SubIOp::create(
              ob, loc, arith::SubIOp::create(ob, loc, last, pass),
              arith::ConstantIndexOp::create(ob, loc, 1));
          scf::ForOp::create(
              ob, loc, first, end, arith::ConstantIndexOp::create(ob, loc, 1),
              ValueRange(),
              [&](OpBuilder &ib, Location iloc, Value j, ValueRange) {
                Value next = arith::AddIOp::create(
                    ib, iloc, j, arith::ConstantIndexOp::create(ib, iloc, 1));
                Value x = memref::LoadOp::create(ib, iloc, order, j);
                Value y = memref::LoadOp::create(ib, iloc, order, next);
                memref::StoreOp::create(
                    ib, iloc, arith::MinUIOp::create(ib, iloc, x, y), order, j);
                memref::StoreOp::create(ib, iloc,
                                        arith::MaxUIOp::create(ib, iloc, x, y),
                                        order, next);
                scf::YieldOp::create(ib, iloc);
              });
          scf::YieldOp::create(ob, loc);
        });
  }
  // Makes thread 0's global writes visible to the block.
  gpu::BarrierOp::create(b);
  Value columns = memref::DimOp::create(b, init, 1);
  scf::ForOp::create(
      b, thread, columns, idx(b, kThreads), ValueRange(),
      [&](OpBuilder &ob, Location loc, Value n, ValueRange) {
        Value start =
            memref::LoadOp::create(ob, loc, init, ValueRange{token, n});
        auto add = scf::ForOp::create(
            ob, loc, first, last, arith::ConstantIndexOp::create(ob, loc, 1),
            ValueRange{start},
            [&](OpBuilder &ib, Location iloc, Value p, ValueRange carried) {
              Value r = loadIndex(ib, iloc, order, p);
              Value v =
                  memref::LoadOp::create(ib, iloc, results, ValueRange{r, n});
              scf::YieldOp::create(
                  ib, iloc,
                  ValueRange{arith::AddFOp::create(ib, iloc, carried[0], v)});
            });
        memref::StoreOp::create(ob, loc, add.getResult(0), init,
                                ValueRange{token, n});
        scf::YieldOp::create(ob, loc);
      });
  return func;
}

/// A device buffer of `size` i32, at least one element (cuMemAlloc
/// refuses zero bytes).
Value allocIndices(ImplicitLocOpBuilder &b, cuda::StreamChain &stream,
                   Value size) {
  auto type = MemRefType::get({ShapedType::kDynamic}, b.getI32Type());
  Value allocated = arith::MaxUIOp::create(b, size, idx(b, 1));
  return stream.alloc(type, ValueRange{allocated});
}

void launch(ImplicitLocOpBuilder &b, cuda::StreamChain &stream,
            gpu::GPUFuncOp func, Value blocks, ValueRange arguments) {
  Value one = idx(b, 1);
  stream.launch(func, gpu::KernelDim3{blocks, one, one},
                gpu::KernelDim3{idx(b, kThreads), one, one}, arguments);
}

} // namespace

LogicalResult cuda::buildCombineLaunches(ImplicitLocOpBuilder &b,
                                         gpu::GPUModuleOp kernels,
                                         Value rowResults, Value rowToken,
                                         Value init) {
  auto isMemRef = [](Value v, Type element, int64_t rank) {
    auto type = dyn_cast<MemRefType>(v.getType());
    return type && type.getElementType() == element && type.getRank() == rank;
  };
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  if (!isMemRef(rowResults, f32, 2) || !isMemRef(rowToken, i32, 1) ||
      !isMemRef(init, f32, 2))
    return emitError(b.getLoc(),
                     "the combine needs f32 [R,N] row results, i32 [R] row "
                     "tokens and an f32 [T,N] output on buffers");
  Value rows = memref::DimOp::create(b, rowToken, 0);
  Value tokens = memref::DimOp::create(b, init, 0);
  Value zeroI32 = arith::ConstantIntOp::create(b, 0, 32);
  cuda::StreamChain stream(b);
  Value counts = allocIndices(b, stream, tokens);
  Value fill = allocIndices(b, stream, tokens);
  Value starts =
      allocIndices(b, stream, arith::AddIOp::create(b, tokens, idx(b, 1)));
  Value order = allocIndices(b, stream, rows);
  stream.memset(counts, zeroI32);
  stream.memset(fill, zeroI32);

  Type indices = counts.getType();
  Value rowBlocks = arith::MaxUIOp::create(
      b, arith::CeilDivUIOp::create(b, rows, idx(b, kThreads)), idx(b, 1));
  launch(b, stream, buildCountKernel(b, kernels, rowToken.getType(), indices),
         rowBlocks, {rowToken, counts, rows, tokens});
  launch(b, stream, buildScanKernel(b, kernels, indices, indices), idx(b, 1),
         {counts, starts, tokens});
  launch(b, stream,
         buildScatterKernel(b, kernels, rowToken.getType(), indices, indices,
                            indices),
         rowBlocks, {rowToken, starts, fill, order, rows, tokens});
  launch(b, stream,
         buildSumKernel(b, kernels, rowResults.getType(), indices, indices,
                        init.getType()),
         arith::MaxUIOp::create(b, tokens, idx(b, 1)),
         {rowResults, starts, order, init, tokens});
  for (Value buffer : {counts, fill, starts, order})
    stream.dealloc(buffer);
  stream.finish();
  return success();
}
