//===- Entries.cpp - entry points of a compiled moe module ----------------===//
//
// Reads a module's public functions as entry points (before and after
// lowering), writes the manifest, and generates each entry's ABI v3
// functions in LLVM IR around the lowered function's C interface. The
// generated init checks the weights against the slots read here, so the
// rules a caller must meet come from the compile, not from the caller.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/Entries.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/IR/PlacementAttr.h"
#include "moe/Runtime/KernelABI.h"
#include "moe/Runtime/moe_runtime.h"
#include "moe/Support/Limits.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/JSON.h"

#include <cstddef>

using namespace mlir;
using namespace mlir::moe;

std::string mlir::moe::entrySymbol(StringRef entryName, StringRef suffix) {
  return (MOE_ENTRY_SYMBOL_PREFIX + entryName + suffix).str();
}

/// `tensor<?xHxf32>` with H static.
static bool isActivationType(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 2 && tensor.isDynamicDim(0) &&
         !tensor.isDynamicDim(1) && tensor.getElementType().isF32();
}

/// `tensor<?xi32>`: the token ids of routing by token id.
static bool isTokenIdsType(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 1 && tensor.isDynamicDim(0) &&
         tensor.getElementType().isInteger(32);
}

/// A static `[V,K]` i32 tensor: an expert table of routing by token id.
static bool isExpertTableType(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 2 && tensor.hasStaticShape() &&
         tensor.getElementType().isInteger(32);
}

/// The expert count bounding table argument `i`'s entries: its
/// kIndexBoundAttr, or the fewest experts of the moe.layer and moe.route
/// ops it is the `expert_table` of (recorded as kIndexBoundAttr for the
/// read after lowering, when those ops are gone).
static FailureOr<int64_t> readIndexBound(func::FuncOp func, unsigned i) {
  if (auto attr = func.getArgAttrOfType<IntegerAttr>(i, kIndexBoundAttr)) {
    int64_t bound = attr.getInt();
    if (bound < 1 || bound > ::moe::limits::kMaxExperts)
      return func.emitError()
             << "entry point @" << func.getSymName() << " argument #" << i
             << ": " << kIndexBoundAttr << " must be in [1, "
             << ::moe::limits::kMaxExperts << "], got " << bound;
    return bound;
  }
  std::optional<int64_t> bound;
  for (OpOperand &use : func.getArgument(i).getUses()) {
    std::optional<int64_t> experts;
    if (auto layer = dyn_cast<LayerOp>(use.getOwner());
        layer && layer.getExpertTable() == use.get())
      experts = layer.getNumExperts();
    if (auto route = dyn_cast<RouteOp>(use.getOwner());
        route && route.getExpertTable() == use.get())
      experts = route.getLogits().getType().getDimSize(1);
    if (experts)
      bound = std::min(bound.value_or(*experts), *experts);
  }
  if (!bound)
    return func.emitError()
           << "entry point @" << func.getSymName() << " argument #" << i
           << ": an i32 weight must be the expert_table of a moe.layer or "
              "moe.route (or carry "
           << kIndexBoundAttr << ")";
  func.setArgAttr(
      i, kIndexBoundAttr,
      IntegerAttr::get(IntegerType::get(func.getContext(), 64), *bound));
  return *bound;
}

/// Reads how argument `i`'s checkpoint tensors are stored when that is not
/// the source shape: reshaped (kWeightStoredShapeAttr: the same elements)
/// or in either orientation (kWeightEitherOrientationAttr).
static LogicalResult readStoredLayout(func::FuncOp func, unsigned i,
                                      EntryWeight &weight) {
  auto fail = [&]() {
    return func.emitError() << "entry point @" << func.getSymName()
                            << " argument #" << i << ": ";
  };
  ArrayRef<int64_t> tensor = weight.sourceShape;
  if (weight.stacked && !tensor.empty())
    tensor = tensor.drop_front();
  if (auto stored =
          func.getArgAttrOfType<DenseI64ArrayAttr>(i, kWeightStoredShapeAttr)) {
    weight.storedShape.assign(stored.asArrayRef().begin(),
                              stored.asArrayRef().end());
    int64_t storedCount = 0, tensorCount = 0;
    bool bounded =
        llvm::all_of(weight.storedShape, [](int64_t d) { return d >= 1; }) &&
        ::moe::limits::checkedProduct(
            std::vector<int64_t>(weight.storedShape.begin(),
                                 weight.storedShape.end()),
            ::moe::limits::kMaxTensorElements, storedCount) &&
        ::moe::limits::checkedProduct(
            std::vector<int64_t>(tensor.begin(), tensor.end()),
            ::moe::limits::kMaxTensorElements, tensorCount);
    if (weight.storedShape.empty() ||
        weight.storedShape.size() > ::moe::limits::kMaxRank || !bounded ||
        storedCount != tensorCount)
      return fail() << kWeightStoredShapeAttr
                    << " must hold the elements of the checkpoint tensor's "
                       "shape (the source shape"
                    << (weight.stacked ? " without its expert dimension" : "")
                    << "), in positive sizes";
  }
  weight.eitherOrientation =
      static_cast<bool>(func.getArgAttr(i, kWeightEitherOrientationAttr));
  if (weight.eitherOrientation &&
      (tensor.size() < 2 || !weight.storedShape.empty() ||
       (!weight.stacked && tensor.size() < 3 &&
        func.getArgAttr(i, kWeightPlacementAttr))))
    return fail() << kWeightEitherOrientationAttr
                  << " needs a checkpoint tensor of two dimensions or more "
                     "(three when placed) and no "
                  << kWeightStoredShapeAttr;
  return success();
}

/// Reads the optional checkpoint view of argument `i` and checks that the
/// source shape, sliced then transposed, is the argument's shape.
static LogicalResult readWeightView(func::FuncOp func, unsigned i,
                                    EntryWeight &weight) {
  auto array = [&](StringRef name) -> SmallVector<int64_t> {
    if (auto attr = func.getArgAttrOfType<DenseI64ArrayAttr>(i, name))
      return SmallVector<int64_t>(attr.asArrayRef());
    return {};
  };
  weight.sourceShape = array(kWeightSourceShapeAttr);
  weight.slice = array(kWeightSliceAttr);
  weight.transpose = array(kWeightTransposeAttr);
  weight.pack = array(kWeightPackAttr);
  auto fail = [&]() {
    return func.emitError() << "entry point @" << func.getSymName()
                            << " argument #" << i << ": ";
  };
  // Panels hide N's exact size: a packed weight names its source.
  if (weight.sourceShape.empty() && !weight.pack.empty())
    return fail() << kWeightPackAttr << " needs " << kWeightSourceShapeAttr;
  if (weight.sourceShape.empty())
    weight.sourceShape = weight.shape;
  SmallVector<int64_t> viewed = weight.sourceShape;
  // One tensor of all experts, placed: the argument holds a rank's slots.
  if (auto placement =
          func.getArgAttrOfType<PlacementAttr>(i, kWeightPlacementAttr);
      placement && !weight.stacked && !viewed.empty())
    viewed[0] = placement.getSlots();
  if (!weight.slice.empty()) {
    // The last index kept, offset + (size - 1) * stride, inside the source.
    ArrayRef<int64_t> slice = weight.slice;
    int64_t stride = slice.size() == 4 ? slice[3] : 1;
    if ((slice.size() != 3 && slice.size() != 4) || slice[0] < 0 ||
        slice[0] >= static_cast<int64_t>(viewed.size()) || slice[1] < 0 ||
        slice[2] < 1 || stride < 1 || slice[1] >= viewed[slice[0]] ||
        slice[2] - 1 > (viewed[slice[0]] - 1 - slice[1]) / stride)
      return fail() << kWeightSliceAttr
                    << " must be [dim, offset, size] or [dim, offset, size, "
                       "stride] within the source shape";
    viewed[weight.slice[0]] = weight.slice[2];
  }
  if (!weight.transpose.empty()) {
    SmallVector<int64_t> sorted = weight.transpose;
    llvm::sort(sorted);
    bool isPermutation = sorted.size() == viewed.size();
    for (size_t d = 0; isPermutation && d < sorted.size(); ++d)
      isPermutation = sorted[d] == static_cast<int64_t>(d);
    if (!isPermutation)
      return fail() << kWeightTransposeAttr << " must be a permutation of "
                    << viewed.size() << " dimensions";
    SmallVector<int64_t> permuted;
    for (int64_t d : weight.transpose)
      permuted.push_back(viewed[d]);
    viewed = permuted;
  }
  if (!weight.pack.empty()) {
    if (weight.pack.size() != 2 || weight.pack[0] < 0 ||
        weight.pack[0] >= static_cast<int64_t>(viewed.size()) ||
        weight.pack[1] < 1)
      return fail() << kWeightPackAttr << " must be [dim, panel width]";
    int64_t &packedDim = viewed[weight.pack[0]];
    packedDim = (packedDim + weight.pack[1] - 1) / weight.pack[1];
    viewed.push_back(weight.pack[1]);
  }
  if (viewed != weight.shape)
    return fail() << "the checkpoint view (source shape, slice, transpose, "
                     "pack) does not produce the argument's shape";
  return readStoredLayout(func, i, weight);
}

/// Reads the expert range of stacked argument `i`: `moe.experts`, or all
/// of its experts.
static LogicalResult readExpertRange(func::FuncOp func, unsigned i,
                                     int64_t ranks, EntryWeight &weight) {
  if (auto placement = func.getArgAttrOfType<PlacementAttr>(
          i, kWeightPlacementAttr)) {
    auto fail = [&]() {
      return func.emitError() << "entry point @" << func.getSymName()
                              << " argument #" << i << ": "
                              << kWeightPlacementAttr << " ";
    };
    if (func.getArgAttr(i, kWeightExpertsAttr))
      return fail() << "and " << kWeightExpertsAttr << " exclude each other";
    if (placement.getRanks() != ranks)
      return fail() << "places experts on " << placement.getRanks()
                    << " ranks but the function's " << kEpSizeAttr << " is "
                    << ranks;
    // Per-expert tensors stack into the slots; one tensor of all experts
    // holds every expert the placement names.
    int64_t expected =
        weight.stacked ? placement.getSlots() : placement.getExperts();
    if (weight.sourceShape.size() < 2 || weight.sourceShape[0] != expected)
      return fail() << "needs a weight leading with "
                    << (weight.stacked ? "the slots per rank (" : "the experts (")
                    << expected << "), got " << weight.sourceShape[0];
    weight.placement = toPlacement(placement).rankExperts;
    return success();
  }
  Attribute attr = func.getArgAttr(i, kWeightExpertsAttr);
  if (!attr) {
    weight.expertEnd = weight.stacked ? weight.sourceShape[0] : 0;
    return success();
  }
  auto fail = [&]() {
    return func.emitError() << "entry point @" << func.getSymName()
                            << " argument #" << i << ": " << kWeightExpertsAttr
                            << " ";
  };
  if (!weight.stacked)
    return fail() << "applies to per-expert weights (named with \"{e}\"), not "
                     "to '"
                  << weight.name << "'";
  auto range = dyn_cast<DenseI64ArrayAttr>(attr);
  if (!range || range.size() != 2)
    return fail() << "must be array<i64: begin, end>, got " << attr;
  int64_t begin = range[0], end = range[1];
  if (begin < 0 || begin >= end || end > ::moe::limits::kMaxExperts)
    return fail() << "[" << begin << ", " << end
                  << ") must satisfy 0 <= begin < end <= "
                  << ::moe::limits::kMaxExperts;
  if (end - begin != weight.sourceShape[0])
    return fail() << "[" << begin << ", " << end << ") holds " << end - begin
                  << " experts but the weight has " << weight.sourceShape[0];
  weight.expertBegin = begin;
  weight.expertEnd = end;
  return success();
}

FailureOr<std::vector<EntrySignature>>
mlir::moe::analyzeEntries(ModuleOp module, int32_t target) {
  std::vector<EntrySignature> entries;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isExternal())
      continue;
    EntrySignature entry;
    entry.name = func.getSymName().str();
    FunctionType type = func.getFunctionType();
    entry.numArgs = type.getNumInputs();
    if (Attribute ranks = func->getAttr(kEpSizeAttr)) {
      auto value = dyn_cast<IntegerAttr>(ranks);
      if (!value || value.getInt() < 1 ||
          value.getInt() > ::moe::limits::kMaxRanks)
        return func.emitError() << "entry point @" << entry.name << ": "
                                << kEpSizeAttr << " must be an integer in [1, "
                                << ::moe::limits::kMaxRanks << "], got "
                                << ranks;
      entry.ranks = value.getInt();
    }
    func.walk([&](func::CallOp call) {
      entry.marksPhases |= call.getCallee() == MOE_RT_PHASE_MARK;
    });
    if (auto kind = func->getAttrOfType<StringAttr>(kEntryKindAttr)) {
      entry.kind = kind.str();
      if (auto of = func->getAttrOfType<StringAttr>(kStatsOfAttr))
        entry.statsOf = of.str();
      auto result = type.getNumResults() == 1
                        ? dyn_cast<RankedTensorType>(type.getResult(0))
                        : RankedTensorType();
      if (entry.kind != MOE_ENTRY_KIND_ROUTING_STATS || !result ||
          result.getRank() != 1 || !result.hasStaticShape() ||
          !result.getElementType().isF32() ||
          result.getDimSize(0) < 1 + MOE_ROUTING_STATS_TAIL)
        return func.emitError()
               << "entry point @" << entry.name << " of kind '" << entry.kind
               << "' must be 'routing_stats' returning a static 1-D f32 "
                  "tensor of E loads and "
               << MOE_ROUTING_STATS_TAIL << " statistics (moe_runtime.h)";
      entry.outputSize = result.getDimSize(0);
    } else if (type.getNumResults() != 1 ||
               !isActivationType(type.getResult(0))) {
      return func.emitError()
             << "entry point @" << entry.name
             << " must return one tensor<?xHxf32> (tokens x hidden), got "
             << type.getResults();
    }
    std::optional<unsigned> input;
    for (unsigned i = 0; i < type.getNumInputs(); ++i) {
      Type argType = type.getInput(i);
      if (isTokenIdsType(argType)) {
        if (entry.tokenIdsArg)
          return func.emitError() << "entry point @" << entry.name
                                  << " has two token id inputs (arguments #"
                                  << *entry.tokenIdsArg << " and #" << i
                                  << "); it takes at most one";
        entry.tokenIdsArg = i;
        continue;
      }
      if (isActivationType(argType)) {
        if (input)
          return func.emitError()
                 << "entry point @" << entry.name
                 << " has two activation inputs (arguments #" << *input
                 << " and #" << i << "); it takes exactly one";
        input = i;
        continue;
      }
      auto tensor = dyn_cast<RankedTensorType>(argType);
      // bf16 is what the runtime makes of packed CPU weights and of every
      // CUDA kernel weight.
      bool bf16Allowed =
          target == MOE_TARGET_CUDA ||
          static_cast<bool>(func.getArgAttr(i, kWeightPackAttr));
      bool table = isExpertTableType(argType);
      if (!table && (!tensor || !tensor.hasStaticShape() ||
                     !(tensor.getElementType().isF32() ||
                       (bf16Allowed && tensor.getElementType().isBF16()))))
        return func.emitError()
               << "entry point @" << entry.name << " argument #" << i
               << " must be a static f32 weight tensor (bf16 when packed), "
                  "a static [V,K] i32 expert table, the tensor<?xi32> token "
                  "ids or the tensor<?xHxf32> input, got "
               << argType;
      if (table && target == MOE_TARGET_CUDA)
        return func.emitError()
               << "entry point @" << entry.name << " argument #" << i
               << ": routing by token id (an i32 expert table) is not "
                  "implemented for the cuda target";
      EntryWeight weight;
      weight.argIndex = i;
      weight.shape.assign(tensor.getShape().begin(), tensor.getShape().end());
      weight.dtype = table                              ? "i32"
                     : tensor.getElementType().isBF16() ? "bf16"
                                                        : "f32";
      if (table) {
        FailureOr<int64_t> bound = readIndexBound(func, i);
        if (failed(bound))
          return failure();
        weight.indexBound = *bound;
        if (weight.shape[0] > ::moe::limits::kMaxVocab)
          return func.emitError()
                 << "entry point @" << entry.name << " argument #" << i
                 << ": an expert table of " << weight.shape[0]
                 << " rows; moec supports at most " << ::moe::limits::kMaxVocab;
      }
      if (auto name = func.getArgAttrOfType<StringAttr>(i, kWeightNameAttr))
        weight.name = name.str();
      else
        weight.name = entry.name + ".arg" + std::to_string(i);
      weight.stacked = StringRef(weight.name).contains("{e}");
      if (failed(readWeightView(func, i, weight)))
        return failure();
      // The loader binds a table as it lies, one tensor.
      if (table && (weight.stacked || weight.sourceShape != weight.shape ||
                    !weight.slice.empty() || !weight.transpose.empty() ||
                    !weight.storedShape.empty() || weight.eitherOrientation ||
                    func.getArgAttr(i, kWeightPlacementAttr) ||
                    func.getArgAttr(i, kWeightExpertsAttr)))
        return func.emitError()
               << "entry point @" << entry.name << " argument #" << i
               << ": an expert table is one tensor, bound as it lies (no "
                  "\"{e}\", view or expert range)";
      if (weight.stacked && tensor.getRank() < 2)
        return func.emitError()
               << "entry point @" << entry.name << " argument #" << i
               << " is named per expert ('" << weight.name
               << "') but has no expert dimension";
      if (failed(readExpertRange(func, i, entry.ranks, weight)))
        return failure();
      entry.weights.push_back(std::move(weight));
    }
    if (!input)
      return func.emitError() << "entry point @" << entry.name
                              << " has no tensor<?xHxf32> activation input";
    entry.inputArg = *input;
    // Ids index every table of the entry: the smallest bounds them.
    for (const EntryWeight &weight : entry.weights)
      if (weight.dtype == "i32")
        entry.tokenIdBound =
            std::min(entry.tokenIdBound ? entry.tokenIdBound : weight.shape[0],
                     weight.shape[0]);
    if (entry.tokenIdsArg && !entry.tokenIdBound)
      return func.emitError() << "entry point @" << entry.name
                              << " takes token ids but no expert table "
                                 "(i32 weight) to index with them";
    entry.hidden = cast<RankedTensorType>(type.getInput(*input)).getDimSize(1);
    if (entry.kind == MOE_ENTRY_KIND_FORWARD &&
        cast<RankedTensorType>(type.getResult(0)).getDimSize(1) != entry.hidden)
      return func.emitError() << "entry point @" << entry.name
                              << " input and result hidden sizes differ";
    entries.push_back(std::move(entry));
  }
  if (entries.empty())
    return module.emitError("no entry point: the module has no public "
                            "function with a body");
  return entries;
}

std::string mlir::moe::buildManifest(ArrayRef<EntrySignature> entries,
                                     StringRef target) {
  llvm::json::Array entryArray;
  for (const EntrySignature &entry : entries) {
    llvm::json::Array weights;
    for (const EntryWeight &weight : entry.weights) {
      llvm::json::Object slot{
          {"name", weight.name},
          {"shape", llvm::json::Array(weight.shape)},
          {"dtype", weight.dtype},
          {"layout", weight.stacked ? "stacked" : "single"}};
      if (!weight.placement.empty()) {
        llvm::json::Array ranks;
        for (const std::vector<int64_t> &experts : weight.placement)
          ranks.push_back(llvm::json::Array(experts));
        slot["placement"] = std::move(ranks);
      } else if (weight.stacked) {
        slot["experts"] =
            llvm::json::Array{weight.expertBegin, weight.expertEnd};
      }
      if (weight.sourceShape != weight.shape || !weight.slice.empty() ||
          !weight.transpose.empty() || !weight.pack.empty())
        slot["source_shape"] = llvm::json::Array(weight.sourceShape);
      if (!weight.slice.empty())
        slot["slice"] = llvm::json::Array(weight.slice);
      if (!weight.transpose.empty())
        slot["transpose"] = llvm::json::Array(weight.transpose);
      if (!weight.storedShape.empty())
        slot["stored_shape"] = llvm::json::Array(weight.storedShape);
      if (weight.eitherOrientation)
        slot["either_orientation"] = true;
      if (!weight.pack.empty())
        slot["pack"] = llvm::json::Array(weight.pack);
      if (weight.dtype == "i32")
        slot["index_bound"] = weight.indexBound;
      weights.push_back(std::move(slot));
    }
    llvm::json::Object symbols{
        {"init", entrySymbol(entry.name, MOE_ENTRY_INIT_SUFFIX)},
        {"forward", entrySymbol(entry.name, MOE_ENTRY_FORWARD_SUFFIX)},
        {"destroy", entrySymbol(entry.name, MOE_ENTRY_DESTROY_SUFFIX)}};
    llvm::json::Object object{{"name", entry.name},
                              {"kind", entry.kind},
                              {"symbols", std::move(symbols)},
                              {"hidden", entry.hidden},
                              {"weights", std::move(weights)}};
    if (entry.ranks > 1)
      object["ranks"] = entry.ranks;
    if (entry.tokenIdsArg)
      object["token_ids"] = entry.tokenIdBound;
    if (entry.kind == MOE_ENTRY_KIND_ROUTING_STATS) {
      object["of"] = entry.statsOf;
      object["outputs"] = entry.outputSize;
    }
    entryArray.push_back(std::move(object));
  }
  llvm::json::Value manifest =
      llvm::json::Object{{"format", MOE_MANIFEST_FORMAT},
                         {"target", target},
                         {"entries", std::move(entryArray)}};
  std::string text;
  llvm::raw_string_ostream os(text);
  os << manifest;
  return text;
}

//===----------------------------------------------------------------------===//
// The ABI v3 functions, in LLVM IR
//===----------------------------------------------------------------------===//

namespace {
/// The memref descriptor struct {allocated, aligned, offset, sizes, strides}.
llvm::StructType *descriptorType(llvm::LLVMContext &ctx, unsigned rank) {
  llvm::Type *ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type *i64 = llvm::Type::getInt64Ty(ctx);
  llvm::Type *dims = llvm::ArrayType::get(i64, rank);
  return llvm::StructType::get(ctx, {ptr, ptr, i64, dims, dims});
}

/// A stack descriptor of a dense row-major buffer.
llvm::Value *buildDescriptor(llvm::IRBuilder<> &b, llvm::Value *data,
                             ArrayRef<llvm::Value *> sizes) {
  llvm::LLVMContext &ctx = b.getContext();
  unsigned rank = sizes.size();
  llvm::StructType *type = descriptorType(ctx, rank);
  llvm::Value *desc = b.CreateAlloca(type);
  b.CreateStore(data, b.CreateStructGEP(type, desc, 0));
  b.CreateStore(data, b.CreateStructGEP(type, desc, 1));
  b.CreateStore(b.getInt64(0), b.CreateStructGEP(type, desc, 2));
  llvm::Value *stride = b.getInt64(1);
  for (unsigned i = rank; i-- > 0;) {
    b.CreateStore(sizes[i], b.CreateInBoundsGEP(
                                type, desc,
                                {b.getInt32(0), b.getInt32(3), b.getInt32(i)}));
    b.CreateStore(
        stride, b.CreateInBoundsGEP(
                    type, desc, {b.getInt32(0), b.getInt32(4), b.getInt32(i)}));
    stride = b.CreateMul(stride, sizes[i]);
  }
  return desc;
}

/// Builds one generated function: fields of the C structs are read at their
/// offsets in moe_runtime.h (the compiler and the library share the host's
/// C layout), and each check that fails returns its status.
class FunctionBuilder {
public:
  FunctionBuilder(llvm::Function *function)
      : function(function), ctx(function->getContext()),
        b(llvm::BasicBlock::Create(ctx, "entry", function)) {}

  /// The field of type `type` at byte `offset` of the struct at `base`.
  llvm::Value *load(llvm::Type *type, llvm::Value *base, size_t offset) {
    return b.CreateLoad(type, fieldAddress(base, offset));
  }
  llvm::Value *fieldAddress(llvm::Value *base, size_t offset) {
    return b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), base, offset);
  }
  llvm::Value *isNull(llvm::Value *pointer) {
    return b.CreateIsNull(pointer);
  }
  /// Returns `status` when `failed` holds; continues otherwise.
  void failIf(llvm::Value *failed, int32_t status) {
    llvm::BasicBlock *fail = llvm::BasicBlock::Create(ctx, "fail", function);
    llvm::BasicBlock *next = llvm::BasicBlock::Create(ctx, "ok", function);
    b.CreateCondBr(failed, fail, next);
    b.SetInsertPoint(fail);
    b.CreateRet(b.getInt32(status));
    b.SetInsertPoint(next);
  }

  llvm::Function *function;
  llvm::LLVMContext &ctx;
  llvm::IRBuilder<> b;
};

/// The generated state: the free hook and its user pointer (null: the
/// runtime's free), the thread count, the communicator, then one pointer
/// per weight slot.
struct StateLayout {
  static constexpr size_t kFree = 0, kUser = 8, kThreads = 16, kComm = 24,
                          kWeights = 32;
  static size_t bytes(size_t weights) { return kWeights + 8 * weights; }
};

int32_t slotDType(const EntryWeight &weight) {
  if (weight.dtype == "i32")
    return MOE_DTYPE_I32;
  return weight.dtype == "bf16" ? MOE_DTYPE_BF16 : MOE_DTYPE_F32;
}

/// int32_t <entry>_init(const moe_context *ctx,
///                      const moe_weight_buffer *weights,
///                      int64_t num_weights, void **state)
/// The CUDA runtime function `name` of the library (KernelABI.h).
llvm::FunctionCallee cudaRuntime(llvm::Module &module, StringRef name,
                                 llvm::Type *result,
                                 ArrayRef<llvm::Type *> params) {
  return module.getOrInsertFunction(
      name, llvm::FunctionType::get(result, params, false));
}

/// Bytes of a weight slot's buffer.
int64_t slotBytes(const EntryWeight &weight) {
  int64_t elements = 1;
  for (int64_t size : weight.shape)
    elements *= size;
  // f32 and i32: 4 bytes.
  return elements * (weight.dtype == "bf16" ? 2 : 4);
}

void addInit(llvm::Module &module, const EntrySignature &entry,
             int32_t target) {
  bool cuda = target == MOE_TARGET_CUDA;
  llvm::LLVMContext &ctx = module.getContext();
  llvm::Type *ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type *i32 = llvm::Type::getInt32Ty(ctx);
  llvm::Type *i64 = llvm::Type::getInt64Ty(ctx);
  auto *type = llvm::FunctionType::get(i32, {ptr, ptr, i64, ptr}, false);
  auto *function = llvm::Function::Create(
      type, llvm::Function::ExternalLinkage,
      entrySymbol(entry.name, MOE_ENTRY_INIT_SUFFIX), module);
  FunctionBuilder f(function);
  llvm::IRBuilder<> &b = f.b;
  llvm::Value *context = function->getArg(0), *weights = function->getArg(1),
              *count = function->getArg(2), *stateOut = function->getArg(3);

  f.failIf(f.isNull(stateOut), MOE_STATUS_INVALID_ARGUMENT);
  b.CreateStore(llvm::ConstantPointerNull::get(llvm::PointerType::getUnqual(ctx)),
                stateOut);
  f.failIf(f.isNull(context), MOE_STATUS_INVALID_ARGUMENT);
  f.failIf(b.CreateICmpNE(
               f.load(i32, context, offsetof(moe_context, abi_version)),
               b.getInt32(MOE_ABI_VERSION)),
           MOE_STATUS_ABI_VERSION);
  f.failIf(b.CreateICmpNE(f.load(i32, context, offsetof(moe_context, target)),
                          b.getInt32(target)),
           MOE_STATUS_WRONG_TARGET);
  llvm::Value *rank = f.load(i32, context, offsetof(moe_context, rank));
  llvm::Value *size = f.load(i32, context, offsetof(moe_context, size));
  f.failIf(b.CreateOr(b.CreateICmpSLT(rank, b.getInt32(0)),
                      b.CreateICmpSGE(rank, size)),
           MOE_STATUS_INVALID_ARGUMENT);
  llvm::Value *threads =
      f.load(i32, context, offsetof(moe_context, num_threads));
  f.failIf(b.CreateICmpUGT(threads, b.getInt32(::moe::limits::kMaxThreads)),
           MOE_STATUS_INVALID_ARGUMENT);
  // A library of expert parallelism runs on its ranks only, with their
  // communicator.
  llvm::Value *communicator =
      f.load(ptr, context, offsetof(moe_context, communicator));
  if (entry.ranks > 1) {
    f.failIf(b.CreateOr(f.isNull(communicator),
                        b.CreateICmpNE(size, b.getInt32(entry.ranks))),
             MOE_STATUS_RANKS);
    llvm::Value *commRank =
        f.load(i32, communicator, offsetof(moe_communicator, rank));
    llvm::Value *commSize =
        f.load(i32, communicator, offsetof(moe_communicator, size));
    f.failIf(b.CreateOr(b.CreateICmpNE(commRank, rank),
                        b.CreateICmpNE(commSize, size)),
             MOE_STATUS_RANKS);
  }
  llvm::Value *alloc = f.load(ptr, context, offsetof(moe_context, alloc));
  llvm::Value *freeHook = f.load(ptr, context, offsetof(moe_context, free));
  llvm::Value *user = f.load(ptr, context, offsetof(moe_context, user));
  f.failIf(b.CreateICmpNE(f.isNull(alloc), f.isNull(freeHook)),
           MOE_STATUS_INVALID_ARGUMENT);

  // The weights, slot by slot, against what the entry was compiled for.
  size_t slots = entry.weights.size();
  f.failIf(b.CreateICmpNE(count, b.getInt64(slots)), MOE_STATUS_WEIGHT_COUNT);
  if (slots)
    f.failIf(f.isNull(weights), MOE_STATUS_INVALID_ARGUMENT);
  SmallVector<llvm::Value *> data;
  for (auto [i, weight] : llvm::enumerate(entry.weights)) {
    llvm::Value *buffer = f.fieldAddress(weights, i * sizeof(moe_weight_buffer));
    llvm::Value *pointer =
        f.load(ptr, buffer, offsetof(moe_weight_buffer, data));
    f.failIf(f.isNull(pointer), MOE_STATUS_INVALID_ARGUMENT);
    f.failIf(b.CreateICmpNE(
                 f.load(i32, buffer, offsetof(moe_weight_buffer, dtype)),
                 b.getInt32(slotDType(weight))),
             MOE_STATUS_WEIGHT_DTYPE);
    f.failIf(b.CreateICmpNE(
                 f.load(i32, buffer, offsetof(moe_weight_buffer, rank)),
                 b.getInt32(weight.shape.size())),
             MOE_STATUS_WEIGHT_SHAPE);
    llvm::Value *differs = b.getFalse();
    for (auto [d, extent] : llvm::enumerate(weight.shape))
      differs = b.CreateOr(
          differs, b.CreateICmpNE(
                       f.load(i64, buffer,
                              offsetof(moe_weight_buffer, shape) + 8 * d),
                       b.getInt64(extent)));
    f.failIf(differs, MOE_STATUS_WEIGHT_SHAPE);
    data.push_back(pointer);
  }

  // The state, through the context's hook or malloc.
  llvm::Value *bytes = b.getInt64(StateLayout::bytes(slots));
  llvm::BasicBlock *hook = llvm::BasicBlock::Create(ctx, "hook", function);
  llvm::BasicBlock *plain = llvm::BasicBlock::Create(ctx, "malloc", function);
  llvm::BasicBlock *allocated =
      llvm::BasicBlock::Create(ctx, "allocated", function);
  b.CreateCondBr(f.isNull(alloc), plain, hook);
  b.SetInsertPoint(hook);
  auto *allocType = llvm::FunctionType::get(ptr, {ptr, i64, i64}, false);
  llvm::Value *fromHook = b.CreateCall(allocType, alloc,
                                       {user, bytes, b.getInt64(alignof(void *))});
  b.CreateBr(allocated);
  b.SetInsertPoint(plain);
  llvm::FunctionCallee malloc = module.getOrInsertFunction(
      "malloc", llvm::FunctionType::get(ptr, {i64}, false));
  llvm::Value *fromMalloc = b.CreateCall(malloc, {bytes});
  b.CreateBr(allocated);
  b.SetInsertPoint(allocated);
  llvm::PHINode *state = b.CreatePHI(ptr, 2);
  state->addIncoming(fromHook, hook);
  state->addIncoming(fromMalloc, plain);
  f.failIf(f.isNull(state), MOE_STATUS_OUT_OF_MEMORY);
  b.CreateStore(freeHook, f.fieldAddress(state, StateLayout::kFree));
  b.CreateStore(user, f.fieldAddress(state, StateLayout::kUser));
  b.CreateStore(threads, f.fieldAddress(state, StateLayout::kThreads));
  b.CreateStore(communicator, f.fieldAddress(state, StateLayout::kComm));
  if (!cuda) {
    for (auto [i, pointer] : llvm::enumerate(data))
      b.CreateStore(pointer,
                    f.fieldAddress(state, StateLayout::kWeights + 8 * i));
    b.CreateStore(state, stateOut);
    b.CreateRet(b.getInt32(MOE_STATUS_OK));
    return;
  }
  // CUDA: the state keeps device copies of the weights, made on the
  // context's device; on any failure those made so far and the state are
  // freed.
  llvm::Value *bound = b.CreateCall(
      cudaRuntime(module, MOE_RT_CUDA_BIND, b.getInt32Ty(), {ptr}), {context});
  llvm::BasicBlock *cleanup =
      llvm::BasicBlock::Create(ctx, "cleanup", function);
  auto failToCleanup = [&](llvm::Value *failed) {
    llvm::BasicBlock *next = llvm::BasicBlock::Create(ctx, "ok", function);
    b.CreateCondBr(failed, cleanup, next);
    b.SetInsertPoint(next);
  };
  llvm::Value *nullPointer = llvm::ConstantPointerNull::get(
      llvm::PointerType::getUnqual(ctx));
  for (size_t i = 0; i < slots; ++i)
    b.CreateStore(nullPointer,
                  f.fieldAddress(state, StateLayout::kWeights + 8 * i));
  failToCleanup(b.CreateICmpNE(bound, b.getInt32(MOE_STATUS_OK)));
  llvm::FunctionCallee upload =
      cudaRuntime(module, MOE_RT_CUDA_UPLOAD, ptr, {ptr, i64});
  for (auto [i, pointer] : llvm::enumerate(data)) {
    llvm::Value *device = b.CreateCall(
        upload, {pointer, b.getInt64(slotBytes(entry.weights[i]))});
    b.CreateStore(device, f.fieldAddress(state, StateLayout::kWeights + 8 * i));
    failToCleanup(f.isNull(device));
  }
  b.CreateStore(state, stateOut);
  b.CreateRet(b.getInt32(MOE_STATUS_OK));
  b.SetInsertPoint(cleanup);
  llvm::FunctionCallee freeDevice =
      cudaRuntime(module, MOE_RT_CUDA_FREE, b.getVoidTy(), {ptr});
  for (size_t i = 0; i < slots; ++i)
    b.CreateCall(freeDevice,
                 {f.load(ptr, state, StateLayout::kWeights + 8 * i)});
  llvm::BasicBlock *hookFree = llvm::BasicBlock::Create(ctx, "hook_free", function);
  llvm::BasicBlock *plainFree = llvm::BasicBlock::Create(ctx, "plain_free", function);
  llvm::BasicBlock *failed = llvm::BasicBlock::Create(ctx, "failed", function);
  b.CreateCondBr(f.isNull(freeHook), plainFree, hookFree);
  b.SetInsertPoint(hookFree);
  b.CreateCall(llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr}, false),
               freeHook, {user, state});
  b.CreateBr(failed);
  b.SetInsertPoint(plainFree);
  b.CreateCall(module.getOrInsertFunction(
                   "free", llvm::FunctionType::get(b.getVoidTy(), {ptr}, false)),
               {state});
  b.CreateBr(failed);
  b.SetInsertPoint(failed);
  // A failed bind returns its own status; a failed upload is the device's.
  b.CreateRet(b.CreateSelect(b.CreateICmpNE(bound, b.getInt32(MOE_STATUS_OK)),
                             bound, b.getInt32(MOE_STATUS_DEVICE)));
}

/// int32_t <entry>_forward(void *state, const moe_forward_args *args)
LogicalResult addForward(llvm::Module &module, const EntrySignature &entry,
                         Operation *diagnosticsAt, int32_t target) {
  bool cuda = target == MOE_TARGET_CUDA;
  llvm::LLVMContext &ctx = module.getContext();
  llvm::Function *callee = module.getFunction("_mlir_ciface_" + entry.name);
  if (!callee)
    return diagnosticsAt->emitError()
           << "lowering produced no C interface for @" << entry.name;
  // The bf16 twin (moe-bf16-io-entries): the same C signature, with bf16
  // activations behind the input's (and a forward result's) descriptor.
  std::string twinName = entry.name + kBF16IOSuffix.str();
  llvm::Function *twin = module.getFunction("_mlir_ciface_" + twinName);
  if (!twin)
    return diagnosticsAt->emitError()
           << "lowering produced no C interface for @" << twinName
           << ", the bf16 twin of @" << entry.name
           << " (run moe-bf16-io-entries after bufferization)";
  llvm::Type *ptr = llvm::PointerType::getUnqual(ctx);
  llvm::Type *i32 = llvm::Type::getInt32Ty(ctx);
  llvm::Type *i64 = llvm::Type::getInt64Ty(ctx);
  auto *type = llvm::FunctionType::get(i32, {ptr, ptr}, false);
  auto *function = llvm::Function::Create(
      type, llvm::Function::ExternalLinkage,
      entrySymbol(entry.name, MOE_ENTRY_FORWARD_SUFFIX), module);
  FunctionBuilder f(function);
  llvm::IRBuilder<> &b = f.b;
  llvm::Value *state = function->getArg(0), *args = function->getArg(1);

  f.failIf(b.CreateOr(f.isNull(state), f.isNull(args)),
           MOE_STATUS_INVALID_ARGUMENT);
  f.failIf(b.CreateICmpSLT(
               f.load(i64, args, offsetof(moe_forward_args, struct_size)),
               b.getInt64(MOE_FORWARD_ARGS_MIN_SIZE)),
           MOE_STATUS_INVALID_ARGUMENT);
  static_assert(offsetof(moe_forward_args, tokens) + sizeof(int64_t) ==
                    MOE_FORWARD_ARGS_MIN_SIZE,
                "forward reads input, output and tokens");
  llvm::Value *input = f.load(ptr, args, offsetof(moe_forward_args, input));
  llvm::Value *output = f.load(ptr, args, offsetof(moe_forward_args, output));
  llvm::Value *tokens = f.load(i64, args, offsetof(moe_forward_args, tokens));
  f.failIf(b.CreateICmpSLT(tokens, b.getInt64(0)),
           MOE_STATUS_INVALID_ARGUMENT);
  // A buffer is needed where it is read or written: the input and a
  // forward entry's output for any token, the statistics always.
  bool forward = entry.kind == MOE_ENTRY_KIND_FORWARD;
  llvm::Value *anyTokens = b.CreateICmpSGT(tokens, b.getInt64(0));
  llvm::Value *missing = b.CreateAnd(anyTokens, f.isNull(input));
  missing = b.CreateOr(missing, forward
                                    ? b.CreateAnd(anyTokens, f.isNull(output))
                                    : f.isNull(output));
  f.failIf(missing, MOE_STATUS_INVALID_ARGUMENT);

  // io_dtype and io_on_device, when the caller's struct has them (0: f32
  // host pointers, what an older caller means).
  constexpr size_t ioEnd = offsetof(moe_forward_args, io_on_device) +
                           sizeof(int32_t);
  static_assert(ioEnd == MOE_FORWARD_ARGS_IO_SIZE, "io fields end there");
  llvm::BasicBlock *before = b.GetInsertBlock();
  llvm::BasicBlock *readIO = llvm::BasicBlock::Create(ctx, "read_io", function);
  llvm::BasicBlock *haveIO = llvm::BasicBlock::Create(ctx, "have_io", function);
  b.CreateCondBr(
      b.CreateICmpSGE(f.load(i64, args, offsetof(moe_forward_args, struct_size)),
                      b.getInt64(ioEnd)),
      readIO, haveIO);
  b.SetInsertPoint(readIO);
  llvm::Value *givenDType = f.load(i32, args, offsetof(moe_forward_args, io_dtype));
  llvm::Value *givenOnDevice =
      f.load(i32, args, offsetof(moe_forward_args, io_on_device));
  b.CreateBr(haveIO);
  b.SetInsertPoint(haveIO);
  llvm::PHINode *ioDType = b.CreatePHI(i32, 2);
  ioDType->addIncoming(b.getInt32(0), before);
  ioDType->addIncoming(givenDType, readIO);
  llvm::PHINode *onDevice = b.CreatePHI(i32, 2);
  onDevice->addIncoming(b.getInt32(0), before);
  onDevice->addIncoming(givenOnDevice, readIO);
  llvm::Value *bf16 = b.CreateICmpEQ(ioDType, b.getInt32(MOE_DTYPE_BF16));
  f.failIf(b.CreateAnd(b.CreateICmpNE(ioDType, b.getInt32(0)),
                       b.CreateAnd(b.CreateICmpNE(ioDType,
                                                  b.getInt32(MOE_DTYPE_F32)),
                                   b.CreateNot(bf16))),
           MOE_STATUS_INVALID_ARGUMENT);
  llvm::Value *deviceIO = b.CreateICmpNE(onDevice, b.getInt32(0));
  // A CPU library has no device: its activations are host memory.
  if (!cuda)
    f.failIf(deviceIO, MOE_STATUS_INVALID_ARGUMENT);

  // Token ids, when the entry routes by them: given for any token (NULL,
  // or a caller's struct too short to hold the field, is refused) and each
  // in [0, V), checked here so that no id reaches the tables unchecked.
  llvm::Value *tokenIds = nullptr;
  if (entry.tokenIdsArg) {
    constexpr size_t idsEnd =
        offsetof(moe_forward_args, token_ids) + sizeof(const int32_t *);
    llvm::BasicBlock *from = b.GetInsertBlock();
    llvm::BasicBlock *readIds =
        llvm::BasicBlock::Create(ctx, "read_token_ids", function);
    llvm::BasicBlock *haveIds =
        llvm::BasicBlock::Create(ctx, "have_token_ids", function);
    b.CreateCondBr(
        b.CreateICmpSGE(
            f.load(i64, args, offsetof(moe_forward_args, struct_size)),
            b.getInt64(idsEnd)),
        readIds, haveIds);
    b.SetInsertPoint(readIds);
    llvm::Value *given =
        f.load(ptr, args, offsetof(moe_forward_args, token_ids));
    b.CreateBr(haveIds);
    b.SetInsertPoint(haveIds);
    llvm::PHINode *ids = b.CreatePHI(ptr, 2);
    ids->addIncoming(
        llvm::ConstantPointerNull::get(llvm::PointerType::getUnqual(ctx)),
        from);
    ids->addIncoming(given, readIds);
    tokenIds = ids;
    f.failIf(b.CreateAnd(anyTokens, f.isNull(tokenIds)),
             MOE_STATUS_INVALID_ARGUMENT);
    llvm::BasicBlock *entryBlock = b.GetInsertBlock();
    llvm::BasicBlock *loop =
        llvm::BasicBlock::Create(ctx, "check_ids", function);
    llvm::BasicBlock *body =
        llvm::BasicBlock::Create(ctx, "check_id", function);
    llvm::BasicBlock *checked =
        llvm::BasicBlock::Create(ctx, "ids_checked", function);
    b.CreateBr(loop);
    b.SetInsertPoint(loop);
    llvm::PHINode *index = b.CreatePHI(i64, 2);
    index->addIncoming(b.getInt64(0), entryBlock);
    b.CreateCondBr(b.CreateICmpSLT(index, tokens), body, checked);
    b.SetInsertPoint(body);
    llvm::Value *id =
        b.CreateLoad(i32, b.CreateInBoundsGEP(i32, tokenIds, index));
    // Unsigned: a negative id is out of range too.
    f.failIf(b.CreateICmpUGE(id, b.getInt32(entry.tokenIdBound)),
             MOE_STATUS_INVALID_ARGUMENT);
    index->addIncoming(b.CreateAdd(index, b.getInt64(1)), b.GetInsertBlock());
    b.CreateBr(loop);
    b.SetInsertPoint(checked);
  }

  llvm::Value *rowBytes = b.CreateSelect(
      bf16, b.getInt64(entry.hidden * 2), b.getInt64(entry.hidden * 4));
  llvm::Value *inputBytes = b.CreateMul(tokens, rowBytes);
  if (cuda) {
    // The input goes to the device first (unless it is there already);
    // every runtime call after a failure does nothing, and the status says
    // what failed.
    b.CreateCall(cudaRuntime(module, MOE_RT_CUDA_CLEAR_ERROR, b.getVoidTy(),
                             {}));
    llvm::BasicBlock *from = b.GetInsertBlock();
    llvm::BasicBlock *upload = llvm::BasicBlock::Create(ctx, "upload", function);
    llvm::BasicBlock *onDeviceNow =
        llvm::BasicBlock::Create(ctx, "input_on_device", function);
    b.CreateCondBr(deviceIO, onDeviceNow, upload);
    b.SetInsertPoint(upload);
    llvm::Value *uploaded = b.CreateCall(
        cudaRuntime(module, MOE_RT_CUDA_UPLOAD, ptr, {ptr, i64}),
        {input, inputBytes});
    b.CreateBr(onDeviceNow);
    b.SetInsertPoint(onDeviceNow);
    llvm::PHINode *deviceInput = b.CreatePHI(ptr, 2);
    deviceInput->addIncoming(input, from);
    deviceInput->addIncoming(uploaded, upload);
    input = deviceInput;
  } else {
    // The thread count of init, for this thread's next parallel regions.
    llvm::Value *threads = f.load(i32, state, StateLayout::kThreads);
    llvm::BasicBlock *setThreads =
        llvm::BasicBlock::Create(ctx, "set_threads", function);
    llvm::BasicBlock *run = llvm::BasicBlock::Create(ctx, "run", function);
    b.CreateCondBr(b.CreateICmpSGT(threads, b.getInt32(0)), setThreads, run);
    b.SetInsertPoint(setThreads);
    llvm::FunctionCallee ompSet = module.getOrInsertFunction(
        "omp_set_num_threads",
        llvm::FunctionType::get(b.getVoidTy(), {i32}, false));
    b.CreateCall(ompSet, {threads});
    b.CreateBr(run);
    b.SetInsertPoint(run);
  }

  llvm::StructType *resultType = descriptorType(ctx, forward ? 2 : 1);
  llvm::Value *result = b.CreateAlloca(resultType);
  SmallVector<llvm::Value *> callArgs = {result};
  unsigned weightIndex = 0;
  for (unsigned i = 0; i < entry.numArgs; ++i) {
    if (i == entry.inputArg) {
      callArgs.push_back(
          buildDescriptor(b, input, {tokens, b.getInt64(entry.hidden)}));
      continue;
    }
    if (i == entry.tokenIdsArg) {
      callArgs.push_back(buildDescriptor(b, tokenIds, {tokens}));
      continue;
    }
    const EntryWeight &weight = entry.weights[weightIndex];
    llvm::Value *pointer =
        f.load(ptr, state, StateLayout::kWeights + 8 * weightIndex++);
    SmallVector<llvm::Value *> sizes;
    for (int64_t size : weight.shape)
      sizes.push_back(b.getInt64(size));
    callArgs.push_back(buildDescriptor(b, pointer, sizes));
  }
  // The exchanges inside use this call's communicator (Exchange.c); they,
  // or a single process's phase marks, time the call's phases.
  bool exchanges = entry.ranks > 1 || entry.marksPhases;
  if (exchanges) {
    llvm::FunctionCallee begin = module.getOrInsertFunction(
        MOE_RT_FORWARD_BEGIN,
        llvm::FunctionType::get(b.getVoidTy(), {ptr}, false));
    b.CreateCall(begin, {f.load(ptr, state, StateLayout::kComm)});
  }
  b.CreateCall(callee->getFunctionType(), b.CreateSelect(bf16, twin, callee),
               callArgs);

  // Copy [tokens, hidden] (or the statistics) out of the returned buffer,
  // then free it.
  llvm::Value *allocated =
      b.CreateLoad(ptr, b.CreateStructGEP(resultType, result, 0));
  llvm::Value *aligned =
      b.CreateLoad(ptr, b.CreateStructGEP(resultType, result, 1));
  llvm::Value *offset =
      b.CreateLoad(i64, b.CreateStructGEP(resultType, result, 2));
  llvm::FunctionCallee freeFn = module.getOrInsertFunction(
      "free", llvm::FunctionType::get(b.getVoidTy(), {ptr}, false));
  if (exchanges) {
    llvm::FunctionCallee end = module.getOrInsertFunction(
        MOE_RT_FORWARD_END, llvm::FunctionType::get(i32, {}, false));
    llvm::Value *status = b.CreateCall(end);
    // The phases, when the caller's struct has the field and gives a
    // buffer.
    llvm::BasicBlock *hasField =
        llvm::BasicBlock::Create(ctx, "has_phases_field", function);
    llvm::BasicBlock *write =
        llvm::BasicBlock::Create(ctx, "write_phases", function);
    llvm::BasicBlock *after = llvm::BasicBlock::Create(ctx, "phases", function);
    constexpr size_t phasesEnd =
        offsetof(moe_forward_args, phase_seconds) + sizeof(double *);
    b.CreateCondBr(
        b.CreateICmpSGE(
            f.load(i64, args, offsetof(moe_forward_args, struct_size)),
            b.getInt64(phasesEnd)),
        hasField, after);
    b.SetInsertPoint(hasField);
    llvm::Value *phases =
        f.load(ptr, args, offsetof(moe_forward_args, phase_seconds));
    b.CreateCondBr(f.isNull(phases), after, write);
    b.SetInsertPoint(write);
    b.CreateCall(module.getOrInsertFunction(
                     MOE_RT_FORWARD_PHASES,
                     llvm::FunctionType::get(b.getVoidTy(), {ptr}, false)),
                 {phases});
    b.CreateBr(after);
    b.SetInsertPoint(after);
    llvm::BasicBlock *failed = llvm::BasicBlock::Create(ctx, "failed", function);
    llvm::BasicBlock *copy = llvm::BasicBlock::Create(ctx, "copy", function);
    b.CreateCondBr(b.CreateICmpNE(status, b.getInt32(MOE_STATUS_OK)), failed,
                   copy);
    b.SetInsertPoint(failed);
    b.CreateCall(freeFn, {allocated});
    b.CreateRet(status);
    b.SetInsertPoint(copy);
  }
  llvm::Value *elementBytes =
      forward ? b.CreateSelect(bf16, b.getInt64(2), b.getInt64(4))
              : b.getInt64(sizeof(float));
  llvm::Value *source = b.CreateInBoundsGEP(
      b.getInt8Ty(), aligned, b.CreateMul(offset, elementBytes));
  // A forward result is in the I/O dtype; statistics are always f32.
  llvm::Value *bytes =
      forward ? inputBytes : b.getInt64(entry.outputSize * sizeof(float));
  if (cuda) {
    // cuMemcpyAsync on unified addresses: into host memory, or into the
    // caller's device buffer with io_on_device.
    b.CreateCall(cudaRuntime(module, MOE_RT_CUDA_DOWNLOAD, i32,
                             {ptr, ptr, i64}),
                 {output, source, bytes});
    llvm::FunctionCallee freeDevice =
        cudaRuntime(module, MOE_RT_CUDA_FREE, b.getVoidTy(), {ptr});
    b.CreateCall(freeDevice, {allocated});
    // The upload's copy only: the caller's device input stays.
    b.CreateCall(freeDevice,
                 {b.CreateSelect(deviceIO,
                                 llvm::ConstantPointerNull::get(
                                     llvm::PointerType::getUnqual(ctx)),
                                 input)});
    b.CreateCall(cudaRuntime(module, MOE_RT_CUDA_SYNCHRONIZE, i32, {}));
    llvm::Value *status =
        b.CreateCall(cudaRuntime(module, MOE_RT_CUDA_STATUS, i32, {}));
    b.CreateRet(b.CreateSelect(b.CreateICmpEQ(status, b.getInt32(MOE_STATUS_OK)),
                               b.getInt32(MOE_STATUS_OK),
                               b.getInt32(MOE_STATUS_DEVICE)));
    return success();
  }
  // bf16 rows need only 2-byte alignment.
  b.CreateMemCpy(output, llvm::Align(2), source, llvm::Align(2), bytes);
  b.CreateCall(freeFn, {allocated});
  b.CreateRet(b.getInt32(MOE_STATUS_OK));
  return success();
}

/// void <entry>_destroy(void *state)
void addDestroy(llvm::Module &module, const EntrySignature &entry,
                int32_t target) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::Type *ptr = llvm::PointerType::getUnqual(ctx);
  auto *voidType = llvm::Type::getVoidTy(ctx);
  auto *function = llvm::Function::Create(
      llvm::FunctionType::get(voidType, {ptr}, false),
      llvm::Function::ExternalLinkage,
      entrySymbol(entry.name, MOE_ENTRY_DESTROY_SUFFIX), module);
  FunctionBuilder f(function);
  llvm::IRBuilder<> &b = f.b;
  llvm::Value *state = function->getArg(0);
  llvm::BasicBlock *done = llvm::BasicBlock::Create(ctx, "done", function);
  llvm::BasicBlock *release = llvm::BasicBlock::Create(ctx, "release", function);
  b.CreateCondBr(f.isNull(state), done, release);
  b.SetInsertPoint(done);
  b.CreateRetVoid();
  b.SetInsertPoint(release);
  if (target == MOE_TARGET_CUDA) {
    llvm::FunctionCallee freeDevice =
        cudaRuntime(module, MOE_RT_CUDA_FREE, voidType, {ptr});
    for (size_t i = 0; i < entry.weights.size(); ++i)
      b.CreateCall(freeDevice,
                   {f.load(ptr, state, StateLayout::kWeights + 8 * i)});
  }
  llvm::Value *freeHook = f.load(ptr, state, StateLayout::kFree);
  llvm::Value *user = f.load(ptr, state, StateLayout::kUser);
  llvm::BasicBlock *hook = llvm::BasicBlock::Create(ctx, "hook", function);
  llvm::BasicBlock *plain = llvm::BasicBlock::Create(ctx, "free", function);
  b.CreateCondBr(f.isNull(freeHook), plain, hook);
  b.SetInsertPoint(hook);
  b.CreateCall(llvm::FunctionType::get(voidType, {ptr, ptr}, false), freeHook,
               {user, state});
  b.CreateRetVoid();
  b.SetInsertPoint(plain);
  llvm::FunctionCallee freeFn = module.getOrInsertFunction(
      "free", llvm::FunctionType::get(voidType, {ptr}, false));
  b.CreateCall(freeFn, {state});
  b.CreateRetVoid();
}
} // namespace

LogicalResult mlir::moe::addEntryFunctions(llvm::Module &module,
                                           const EntrySignature &entry,
                                           Operation *diagnosticsAt,
                                           int32_t target) {
  if (failed(addForward(module, entry, diagnosticsAt, target)))
    return failure();
  addInit(module, entry, target);
  addDestroy(module, entry, target);
  return success();
}

void mlir::moe::addManifestFunction(llvm::Module &module, StringRef manifest) {
  llvm::LLVMContext &ctx = module.getContext();
  auto *type =
      llvm::FunctionType::get(llvm::PointerType::getUnqual(ctx), {}, false);
  auto *function = llvm::Function::Create(
      type, llvm::Function::ExternalLinkage, MOE_MANIFEST_SYMBOL, module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", function));
  b.CreateRet(b.CreateGlobalString(manifest, "moe_manifest_json"));
}
