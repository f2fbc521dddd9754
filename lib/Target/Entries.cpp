//===- Entries.cpp - entry points of a compiled moe module ----------------===//

#include "moe/Target/Entries.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace mlir::moe;

std::string mlir::moe::entrySymbol(StringRef entryName) {
  return ("moe_entry_" + entryName).str();
}

/// `tensor<?xHxf32>` with H static.
static bool isActivationType(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 2 && tensor.isDynamicDim(0) &&
         !tensor.isDynamicDim(1) && tensor.getElementType().isF32();
}

FailureOr<SmallVector<EntrySignature>> mlir::moe::analyzeEntries(ModuleOp module) {
  SmallVector<EntrySignature> entries;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isExternal())
      continue;
    EntrySignature entry;
    entry.name = func.getSymName().str();
    FunctionType type = func.getFunctionType();
    entry.numArgs = type.getNumInputs();
    if (type.getNumResults() != 1 || !isActivationType(type.getResult(0)))
      return func.emitError()
             << "entry point @" << entry.name
             << " must return one tensor<?xHxf32> (tokens x hidden), got "
             << type.getResults();
    entry.hidden = cast<RankedTensorType>(type.getResult(0)).getDimSize(1);
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
      if (!tensor || !tensor.hasStaticShape() ||
          !tensor.getElementType().isF32())
        return func.emitError()
               << "entry point @" << entry.name << " argument #" << i
               << " must be a static f32 weight tensor or the "
                  "tensor<?xHxf32> input, got "
               << argType;
      EntryWeight weight;
      weight.argIndex = i;
      weight.shape.assign(tensor.getShape().begin(), tensor.getShape().end());
      if (auto name = func.getArgAttrOfType<StringAttr>(i, kWeightNameAttr))
        weight.name = name.str();
      else
        weight.name = entry.name + ".arg" + std::to_string(i);
      weight.stacked = StringRef(weight.name).contains("{e}");
      if (weight.stacked && tensor.getRank() < 2)
        return func.emitError() << "entry point @" << entry.name
                                << " argument #" << i << " is named per expert ('"
                                << weight.name
                                << "') but has no expert dimension";
      entry.weights.push_back(std::move(weight));
    }
    if (!input)
      return func.emitError() << "entry point @" << entry.name
                              << " has no tensor<?xHxf32> activation input";
    entry.inputArg = *input;
    if (cast<RankedTensorType>(type.getInput(*input)).getDimSize(1) !=
        entry.hidden)
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
      llvm::json::Object slot{{"name", weight.name},
                              {"shape", llvm::json::Array(weight.shape)},
                              {"dtype", "f32"},
                              {"layout", weight.stacked ? "stacked" : "single"}};
      if (weight.stacked)
        slot["experts"] = llvm::json::Array{0, weight.shape[0]};
      weights.push_back(std::move(slot));
    }
    entryArray.push_back(llvm::json::Object{{"name", entry.name},
                                            {"symbol", entrySymbol(entry.name)},
                                            {"hidden", entry.hidden},
                                            {"weights", std::move(weights)}});
  }
  llvm::json::Value manifest = llvm::json::Object{
      {"format", 1}, {"target", target}, {"entries", std::move(entryArray)}};
  std::string text;
  llvm::raw_string_ostream os(text);
  os << manifest;
  return text;
}
