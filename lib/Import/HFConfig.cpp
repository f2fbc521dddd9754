//===- HFConfig.cpp - import Hugging Face MoE configs ---------------------===//
//
// Finds the family of a config.json's model_type (Families.cpp), lets its
// reader plan the MoE layers (LayerPlan.h) and builds one function per MoE
// decoder layer. Semantics follow each family's transformers 5 modeling
// code (DESIGN.md §4; the README's family table lists where that differs
// from the model's original code).
//
// The config is untrusted input: its size and nesting are bounded before
// the recursive JSON parser sees it, every key read is type- and
// range-checked against moe::limits (ConfigReader), and sizes derived from
// several keys use checked products, all before anything is built.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/HFConfig.h"
#include "LayerPlan.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Support/Json.h"
#include "moe/Target/Entries.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;

namespace {
/// The dtype the checkpoint stores, as moec names it ("bf16", "f16",
/// "f32"): `torch_dtype`, or transformers 5's `dtype`, of the language
/// model's config, else of the root (multimodal Llama 4). None when absent
/// or another value ("auto", an FP8 type): --weight-type=auto then keeps
/// f32. A value that is not a string is an error at its key.
FailureOr<std::optional<std::string>>
readCheckpointDType(const ConfigReader &config, const ConfigReader &root) {
  for (const ConfigReader *reader : {&config, &root})
    for (StringRef key : {"torch_dtype", "dtype"}) {
      if (!reader->has(key))
        continue;
      FailureOr<std::string> name = reader->optionalString(key, "");
      if (failed(name))
        return failure();
      return llvm::StringSwitch<std::optional<std::string>>(*name)
          .Case("bfloat16", std::string("bf16"))
          .Case("float16", std::string("f16"))
          .Case("float32", std::string("f32"))
          .Default(std::nullopt);
    }
  return std::optional<std::string>();
}
} // namespace

OwningOpRef<ModuleOp> mlir::moe::importHFConfig(StringRef configText,
                                                StringRef configPath,
                                                std::optional<int64_t> layer,
                                                MLIRContext *context) {
  context->loadDialect<MoEDialect, func::FuncDialect>();
  Location fileLoc = locateOffset(configText, 0, configPath, context);
  // llvm::json::parse recurses once per nesting level (and so does the
  // value's destructor): bound the text and its depth before it runs.
  std::string tooLarge = ::moe::checkJsonBounds(
      configText.data(), configText.size(), "the config");
  if (!tooLarge.empty()) {
    emitError(fileLoc) << tooLarge;
    return nullptr;
  }
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(configText);
  if (!parsed) {
    // "[line:column, byte=offset]: what" (ParseError keeps its fields
    // private); reported at the offset, counted as for config keys.
    std::string message = llvm::toString(parsed.takeError());
    StringRef what = message;
    size_t byte = what.find("byte="), close = what.find("]: ");
    size_t at = 0;
    if (what.starts_with("[") && byte < close && close != StringRef::npos &&
        !what.slice(byte + 5, close).getAsInteger(10, at) &&
        at <= configText.size())
      what = what.drop_front(close + 3);
    else
      at = 0;
    emitError(locateOffset(configText, at, configPath, context))
        << ::moe::jsonParseError("the config", at, what.str());
    return nullptr;
  }
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root) {
    emitError(fileLoc) << "the config: not a JSON object, got "
                       << describe(*parsed);
    return nullptr;
  }
  size_t objectStart = configText.find_first_not_of(" \t\r\n");
  ConfigReader rootReader(*root, configText, objectStart, configPath, context);
  if (!rootReader.has("model_type")) {
    rootReader.error("model_type")
        << "config key 'model_type' is missing (supported: "
        << getSupportedModelTypes() << ")";
    return nullptr;
  }
  FailureOr<std::string> modelType =
      rootReader.optionalString("model_type", "");
  if (failed(modelType))
    return nullptr;
  const Family *family = llvm::find_if(getFamilies(), [&](const Family &f) {
    return f.modelType == *modelType;
  });
  if (family == getFamilies().end()) {
    const RefusedFamily *refused =
        llvm::find_if(getRefusedFamilies(), [&](const RefusedFamily &f) {
          return f.modelType == *modelType;
        });
    if (refused != getRefusedFamilies().end())
      rootReader.error("model_type")
          << "model_type " << quote(*modelType)
          << " cannot be compiled yet: moec lacks " << refused->missing
          << " (the README's family table lists what each family needs)";
    else
      rootReader.error("model_type")
          << "unsupported model_type " << quote(*modelType)
          << " (supported: " << getSupportedModelTypes() << ")";
    return nullptr;
  }
  // Multimodal models nest the language model's config, one object per
  // dot-separated key.
  const llvm::json::Object *object = root;
  SmallVector<StringRef> path;
  if (!family->textConfigKey.empty())
    family->textConfigKey.split(path, '.');
  for (StringRef key : path) {
    ConfigReader outer(*object, configText, objectStart, configPath, context);
    const llvm::json::Value *textConfig = outer.get(key);
    const llvm::json::Object *inner =
        textConfig ? textConfig->getAsObject() : nullptr;
    if (!inner) {
      outer.error(key) << "config key '" << family->textConfigKey << "' "
                       << (textConfig ? "must be an object, got " +
                                            describe(*textConfig)
                                      : std::string("is missing"))
                       << ": a " << *modelType
                       << " config nests the language model there";
      return nullptr;
    }
    // A key spelled with escapes is not found: report at the outer object.
    if (size_t at = outer.findValue(key); at != StringRef::npos)
      objectStart = at;
    object = inner;
  }
  ConfigReader config(*object, configText, objectStart, configPath, context);
  config.setAliases(family->aliases);
  LayerPlan plan;
  plan.modelType = *modelType;
  if (failed(family->read(config, plan)) ||
      failed(readRouterOverride(config, plan)))
    return nullptr;
  FailureOr<std::optional<std::string>> checkpointDType =
      readCheckpointDType(config, rootReader);
  if (failed(checkpointDType))
    return nullptr;

  // num_hidden_layers is bounded by now, so neither loop below nor the
  // functions built can run away.
  SmallVector<int64_t> layers;
  if (layer) {
    if (*layer < 0 || *layer >= plan.numLayers) {
      config.error(plan.layerCountKey)
          << "layer " << *layer << " is out of range: '" << plan.layerCountKey
          << "' is " << plan.numLayers;
      return nullptr;
    }
    if (!plan.isMoELayer(*layer)) {
      config.error(plan.layerCountKey)
          << "layer " << *layer << " is a dense layer (by " << plan.denseRule
          << ")";
      return nullptr;
    }
    layers.push_back(*layer);
  } else {
    for (int64_t l = 0; l < plan.numLayers; ++l)
      if (plan.isMoELayer(l))
        layers.push_back(l);
    if (layers.empty()) {
      config.error(plan.layerCountKey)
          << "the model has no MoE layer (by " << plan.denseRule << ")";
      return nullptr;
    }
  }

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  OpBuilder b(context);
  b.setInsertionPointToEnd(module->getBody());
  for (int64_t l : layers)
    buildLayer(b, fileLoc, plan, l);
  if (*checkpointDType)
    (*module)->setAttr(kCheckpointDTypeAttr,
                       b.getStringAttr(**checkpointDType));
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

void mlir::moe::registerImportHFConfigTranslation() {
  static llvm::cl::opt<int64_t> layer(
      "layer", llvm::cl::desc("Import only this decoder layer (an MoE layer)"),
      llvm::cl::init(-1));
  TranslateToMLIRRegistration registration(
      "import-hf-config", "Import the MoE layers of a Hugging Face config.json",
      [](llvm::SourceMgr &sourceMgr,
         MLIRContext *context) -> OwningOpRef<Operation *> {
        const llvm::MemoryBuffer *buffer =
            sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
        std::optional<int64_t> only;
        if (layer.getNumOccurrences())
          only = layer.getValue();
        return importHFConfig(buffer->getBuffer(),
                              buffer->getBufferIdentifier(), only, context);
      });
}