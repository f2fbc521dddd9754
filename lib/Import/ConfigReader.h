//===- ConfigReader.h - typed, located reads of a config.json ---*- C++ -*-===//
//
// The importer's access to an untrusted Hugging Face config object: typed
// members checked against moe::limits, errors at the key's line in the file
// naming the key and value, and the key aliases of transformers' config
// classes (`attribute_map`), so that a config re-saved by transformers 5
// (which writes the attribute's own name) reads like the published one.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_IMPORT_CONFIGREADER_H
#define MOE_LIB_IMPORT_CONFIGREADER_H

#include "moe/Support/Limits.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/JSON.h"

#include <string>
#include <utility>
#include <vector>

namespace mlir::moe::hf {

/// A number for messages: to 15 digits, so that 4096.0 reads 4096 and 0.1
/// reads 0.1.
std::string formatNumber(double number);

/// A string from the config for messages: quoted, cut short, with control
/// and non-ASCII bytes escaped so that a config cannot drive the terminal.
std::string quote(StringRef text);

/// A config value for messages: integers exactly, lists and objects by kind.
std::string describe(const llvm::json::Value &value);

enum class Range { Inside, NotInteger, Below, Above };

/// Where `value` falls against [min, max], setting `out` when inside.
/// Integral numbers only; 4096.0 counts, as for llvm::json's getAsInteger.
Range checkInteger(const llvm::json::Value &value, int64_t min, int64_t max,
                   int64_t &out);

/// The location of byte `at` of `text`, the contents of `path` (column 0
/// on a line longer than a screenful, which the handler then does not
/// print).
Location locateOffset(StringRef text, size_t at, StringRef path,
                      MLIRContext *ctx);

/// Two names of one config attribute: transformers' `attribute_map` maps
/// `alias` (the public name, what published configs often hold) to `key`
/// (the attribute the config class stores, what save_pretrained writes).
struct KeyAlias {
  StringRef key;
  StringRef alias;
};

/// Reads typed members of one config object, reporting at the key's line in
/// the file.
class ConfigReader {
public:
  /// `start` is the offset of the object's `{` in `text`.
  ConfigReader(const llvm::json::Object &object, StringRef text, size_t start,
               StringRef path, MLIRContext *ctx)
      : object(object), text(text), start(start), path(path), ctx(ctx) {}

  /// Reads `key` also under its alias (the family's attribute_map).
  void setAliases(ArrayRef<KeyAlias> familyAliases) { aliases = familyAliases; }

  StringRef getPath() const { return path; }

  /// The offset of the object's member `key` in the text, or npos. The last
  /// one: llvm::json keeps the last of repeated keys, as Python does. Keys of
  /// nested objects and strings that are values are skipped.
  size_t find(StringRef key) const {
    key = spelling(key);
    size_t found = StringRef::npos;
    int depth = 0;
    for (size_t i = start; i < text.size(); ++i) {
      char c = text[i];
      if (c == '"') {
        size_t open = i;
        for (++i; i < text.size() && text[i] != '"'; ++i)
          if (text[i] == '\\')
            ++i;
        size_t next = text.find_first_not_of(" \t\r\n", i + 1);
        if (depth == 1 && text.slice(open + 1, i) == key &&
            next != StringRef::npos && text[next] == ':')
          found = open;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        break;
      }
    }
    return found;
  }

  /// The offset of member `key`'s value, or npos.
  size_t findValue(StringRef key) const {
    key = spelling(key);
    size_t at = find(key);
    if (at == StringRef::npos)
      return at;
    size_t colon = text.find(':', at + key.size() + 2);
    return text.find_first_not_of(" \t\r\n", colon + 1);
  }

  /// The location of member `key`, or of the object itself.
  Location locate(StringRef key) const {
    key = spelling(key);
    size_t at = find(key);
    return locateOffset(text, at == StringRef::npos ? start : at, path, ctx);
  }

  InFlightDiagnostic error(StringRef key) const {
    key = spelling(key);
    return emitError(locate(key));
  }

  /// Member `key`, or null when it is missing or JSON null (HF's "unset").
  const llvm::json::Value *get(StringRef key) const {
    key = spelling(key);
    const llvm::json::Value *value = object.get(key);
    return value && !value->getAsNull() ? value : nullptr;
  }

  bool has(StringRef key) const { return get(key) != nullptr; }

  /// A reader of `inner`, the object value of member `key`, reporting at
  /// its lines.
  ConfigReader nested(StringRef key, const llvm::json::Object &inner) const {
    size_t at = findValue(key);
    return ConfigReader(inner, text, at == StringRef::npos ? start : at, path,
                        ctx);
  }

  /// The name `key` has in this config: `key` itself, or its alias (either
  /// way round) when only that is present.
  StringRef spelling(StringRef key) const {
    if (object.get(key))
      return key;
    for (const KeyAlias &pair : aliases) {
      StringRef other = pair.key == key     ? pair.alias
                        : pair.alias == key ? pair.key
                                            : StringRef();
      if (!other.empty() && object.get(other))
        return other;
    }
    return key;
  }

  /// `key` and its alias for a message about a missing key.
  std::string missingName(StringRef key) const {
    std::string name = "'" + key.str() + "'";
    for (const KeyAlias &pair : aliases)
      if (pair.key == key || pair.alias == key)
        name +=
            " (or '" + (pair.key == key ? pair.alias : pair.key).str() + "')";
    return name;
  }

  /// Integer `key` in [min, max], where `max` is moec's limit for it.
  FailureOr<int64_t> requireInt(StringRef key, int64_t min, int64_t max) const {
    key = spelling(key);
    const llvm::json::Value *value = object.get(key);
    if (!value) {
      error(key) << "config key " << missingName(key) << " is missing";
      return failure();
    }
    int64_t number = 0;
    switch (checkInteger(*value, min, max, number)) {
    case Range::Inside:
      return number;
    case Range::NotInteger:
      error(key) << "config key '" << key << "' must be an integer, got "
                 << describe(*value);
      break;
    case Range::Below:
      error(key) << "config key '" << key << "' must be at least " << min
                 << ", got " << describe(*value);
      break;
    case Range::Above:
      error(key) << "config key '" << key << "' is " << describe(*value)
                 << "; moec supports at most " << max;
      break;
    }
    return failure();
  }

  FailureOr<int64_t> optionalInt(StringRef key, int64_t fallback, int64_t min,
                                 int64_t max) const {
    key = spelling(key);
    if (!has(key))
      return fallback;
    return requireInt(key, min, max);
  }

  /// A finite number.
  FailureOr<double> optionalNumber(StringRef key, double fallback) const {
    key = spelling(key);
    const llvm::json::Value *value = get(key);
    if (!value)
      return fallback;
    std::optional<double> number = value->getAsNumber();
    if (!number || !std::isfinite(*number)) {
      error(key) << "config key '" << key << "' must be a finite number, got "
                 << describe(*value);
      return failure();
    }
    return *number;
  }

  FailureOr<bool> optionalBool(StringRef key, bool fallback) const {
    key = spelling(key);
    const llvm::json::Value *value = get(key);
    if (!value)
      return fallback;
    std::optional<bool> flag = value->getAsBoolean();
    if (!flag) {
      error(key) << "config key '" << key << "' must be true or false, got "
                 << describe(*value);
      return failure();
    }
    return *flag;
  }

  FailureOr<std::string> optionalString(StringRef key,
                                        StringRef fallback) const {
    key = spelling(key);
    const llvm::json::Value *value = get(key);
    if (!value)
      return fallback.str();
    std::optional<StringRef> string = value->getAsString();
    if (!string) {
      error(key) << "config key '" << key << "' must be a string, got "
                 << describe(*value);
      return failure();
    }
    return string->str();
  }

  /// The length of list `key`, in [min, max].
  FailureOr<int64_t> listSize(StringRef key, int64_t min, int64_t max) const {
    key = spelling(key);
    const llvm::json::Value *value = get(key);
    const llvm::json::Array *array = value ? value->getAsArray() : nullptr;
    if (!array) {
      error(key) << "config key '" << key << "' must be a list, got "
                 << (value ? describe(*value) : std::string("nothing"));
      return failure();
    }
    int64_t size = static_cast<int64_t>(array->size());
    if (size < min || size > max) {
      error(key) << "config key '" << key << "' lists " << size
                 << " layers; moec supports " << min << " to " << max;
      return failure();
    }
    return size;
  }

  /// A list of one of `choices` per decoder layer (transformers'
  /// `mlp_layer_types`), exactly `numLayers` long; empty when absent.
  FailureOr<std::vector<std::string>>
  optionalLayerKinds(StringRef key, int64_t numLayers,
                     ArrayRef<StringRef> choices) const {
    key = spelling(key);
    std::vector<std::string> kinds;
    const llvm::json::Value *value = get(key);
    if (!value)
      return kinds;
    const llvm::json::Array *array = value->getAsArray();
    if (!array || static_cast<int64_t>(array->size()) != numLayers) {
      error(key) << "config key '" << key << "' must be a list of " << numLayers
                 << " strings (one per 'num_hidden_layers'), got "
                 << (array ? std::to_string(array->size()) + " items"
                           : describe(*value));
      return failure();
    }
    for (auto [index, item] : llvm::enumerate(*array)) {
      std::optional<StringRef> kind = item.getAsString();
      if (!kind || !llvm::is_contained(choices, *kind)) {
        auto diag = error(key)
                    << "config key '" << key << "' holds " << describe(item)
                    << " at index " << index << "; expected one of";
        for (StringRef choice : choices)
          diag << " '" << choice << "'";
        return failure();
      }
      kinds.push_back(kind->str());
    }
    return kinds;
  }

  /// A list of decoder layer indexes, each in [0, numLayers), at most
  /// kMaxLayers long.
  FailureOr<std::vector<int64_t>> optionalLayerList(StringRef key,
                                                    int64_t numLayers) const {
    key = spelling(key);
    std::vector<int64_t> layers;
    const llvm::json::Value *value = get(key);
    if (!value)
      return layers;
    const llvm::json::Array *array = value->getAsArray();
    if (!array) {
      error(key) << "config key '" << key
                 << "' must be a list of layer indexes, got "
                 << describe(*value);
      return failure();
    }
    if (array->size() > size_t(::moe::limits::kMaxLayers)) {
      error(key) << "config key '" << key << "' lists " << array->size()
                 << " layers; moec supports at most "
                 << ::moe::limits::kMaxLayers;
      return failure();
    }
    for (auto [index, item] : llvm::enumerate(*array)) {
      int64_t layer = 0;
      switch (checkInteger(item, 0, numLayers - 1, layer)) {
      case Range::Inside:
        layers.push_back(layer);
        continue;
      case Range::NotInteger:
        error(key) << "config key '" << key
                   << "' must be a list of layer indexes, got "
                   << describe(item) << " at index " << index;
        return failure();
      case Range::Below:
      case Range::Above:
        error(key) << "config key '" << key << "' lists layer "
                   << describe(item)
                   << ", out of range: 'num_hidden_layers' is " << numLayers;
        return failure();
      }
    }
    return layers;
  }

private:
  const llvm::json::Object &object;
  StringRef text;
  size_t start;
  StringRef path;
  MLIRContext *ctx;
  ArrayRef<KeyAlias> aliases;
};

} // namespace mlir::moe::hf

#endif // MOE_LIB_IMPORT_CONFIGREADER_H
