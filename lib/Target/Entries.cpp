//===- Entries.cpp - entry points of a compiled moe module ----------------===//

#include "moe/Target/Entries.h"
#include "moe/Runtime/moe_runtime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace mlir::moe;

std::string mlir::moe::entrySymbol(StringRef entryName) {
  return (MOE_ENTRY_SYMBOL_PREFIX + entryName).str();
}

/// `tensor<?xHxf32>` with H static.
static bool isActivationType(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 2 && tensor.isDynamicDim(0) &&
         !tensor.isDynamicDim(1) && tensor.getElementType().isF32();
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
  if (!weight.slice.empty()) {
    if (weight.slice.size() != 3 || weight.slice[0] < 0 ||
        weight.slice[0] >= static_cast<int64_t>(viewed.size()) ||
        weight.slice[1] < 0 || weight.slice[2] < 1 ||
        weight.slice[1] + weight.slice[2] > viewed[weight.slice[0]])
      return fail() << kWeightSliceAttr
                    << " must be [dim, offset, size] within the source shape";
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
  return success();
}

FailureOr<std::vector<EntrySignature>>
mlir::moe::analyzeEntries(ModuleOp module) {
  std::vector<EntrySignature> entries;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isExternal())
      continue;
    EntrySignature entry;
    entry.name = func.getSymName().str();
    FunctionType type = func.getFunctionType();
    entry.numArgs = type.getNumInputs();
    if (auto kind = func->getAttrOfType<StringAttr>(kEntryKindAttr)) {
      entry.kind = kind.str();
      if (auto of = func->getAttrOfType<StringAttr>(kStatsOfAttr))
        entry.statsOf = of.str();
      auto result = type.getNumResults() == 1
                        ? dyn_cast<RankedTensorType>(type.getResult(0))
                        : RankedTensorType();
      if (entry.kind != MOE_ENTRY_KIND_ROUTING_STATS || !result ||
          result.getRank() != 1 || !result.hasStaticShape() ||
          !result.getElementType().isF32())
        return func.emitError()
               << "entry point @" << entry.name << " of kind '" << entry.kind
               << "' must be 'routing_stats' returning a static 1-D f32 "
                  "tensor";
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
      bool packed = static_cast<bool>(func.getArgAttr(i, kWeightPackAttr));
      if (!tensor || !tensor.hasStaticShape() ||
          !(tensor.getElementType().isF32() ||
            (packed && tensor.getElementType().isBF16())))
        return func.emitError()
               << "entry point @" << entry.name << " argument #" << i
               << " must be a static f32 weight tensor (bf16 when packed) "
                  "or the tensor<?xHxf32> input, got "
               << argType;
      EntryWeight weight;
      weight.argIndex = i;
      weight.shape.assign(tensor.getShape().begin(), tensor.getShape().end());
      weight.dtype = tensor.getElementType().isBF16() ? "bf16" : "f32";
      if (auto name = func.getArgAttrOfType<StringAttr>(i, kWeightNameAttr))
        weight.name = name.str();
      else
        weight.name = entry.name + ".arg" + std::to_string(i);
      weight.stacked = StringRef(weight.name).contains("{e}");
      if (failed(readWeightView(func, i, weight)))
        return failure();
      if (weight.stacked && tensor.getRank() < 2)
        return func.emitError()
               << "entry point @" << entry.name << " argument #" << i
               << " is named per expert ('" << weight.name
               << "') but has no expert dimension";
      entry.weights.push_back(std::move(weight));
    }
    if (!input)
      return func.emitError() << "entry point @" << entry.name
                              << " has no tensor<?xHxf32> activation input";
    entry.inputArg = *input;
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
      if (weight.stacked)
        slot["experts"] = llvm::json::Array{0, weight.sourceShape[0]};
      if (weight.sourceShape != weight.shape || !weight.slice.empty() ||
          !weight.transpose.empty() || !weight.pack.empty())
        slot["source_shape"] = llvm::json::Array(weight.sourceShape);
      if (!weight.slice.empty())
        slot["slice"] = llvm::json::Array(weight.slice);
      if (!weight.transpose.empty())
        slot["transpose"] = llvm::json::Array(weight.transpose);
      if (!weight.pack.empty())
        slot["pack"] = llvm::json::Array(weight.pack);
      weights.push_back(std::move(slot));
    }
    llvm::json::Object object{{"name", entry.name},
                              {"kind", entry.kind},
                              {"symbol", entrySymbol(entry.name)},
                              {"hidden", entry.hidden},
                              {"weights", std::move(weights)}};
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
