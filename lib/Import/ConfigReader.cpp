//===- ConfigReader.cpp - typed, located reads of a config.json -----------===//

#include "ConfigReader.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe::hf;

/// A number for messages: to 15 digits, so that 4096.0 reads 4096 and 0.1
/// reads 0.1.
std::string mlir::moe::hf::formatNumber(double number) {
  std::string out;
  llvm::raw_string_ostream(out) << llvm::format("%.15g", number);
  return out;
}

/// A string from the config for messages: quoted, cut short, with control
/// and non-ASCII bytes escaped so that a config cannot drive the terminal.
std::string mlir::moe::hf::quote(StringRef text) {
  constexpr size_t kShown = 64;
  std::string out;
  llvm::raw_string_ostream os(out);
  os << '\'';
  llvm::printEscapedString(text.take_front(kShown), os);
  if (text.size() > kShown)
    os << "...";
  os << '\'';
  return out;
}

/// A config value for messages: integers exactly, lists and objects by kind.
std::string mlir::moe::hf::describe(const llvm::json::Value &value) {
  switch (value.kind()) {
  case llvm::json::Value::Null:
    return "null";
  case llvm::json::Value::Boolean:
    return *value.getAsBoolean() ? "true" : "false";
  case llvm::json::Value::Number: {
    double number = *value.getAsNumber();
    if (std::optional<uint64_t> positive = value.getAsUINT64())
      return std::to_string(*positive);
    // getAsInteger is safe below zero only (see checkInteger).
    if (number < 0)
      if (std::optional<int64_t> negative = value.getAsInteger())
        return std::to_string(*negative);
    return formatNumber(number);
  }
  case llvm::json::Value::String:
    return quote(*value.getAsString());
  case llvm::json::Value::Array:
    return "a list";
  case llvm::json::Value::Object:
    return "an object";
  }
  llvm_unreachable("unknown JSON kind");
}

/// Where `value` falls against [min, max], setting `out` when inside.
/// Integral numbers only; 4096.0 counts, as for llvm::json's getAsInteger.
/// The bounds are compared on the double first: getAsInteger converts a
/// double of 2^63 with undefined behaviour, and below 2^53 (every bound
/// here) the comparison is exact.
Range mlir::moe::hf::checkInteger(const llvm::json::Value &value, int64_t min,
                                  int64_t max, int64_t &out) {
  assert(max < (int64_t(1) << 53) && "bounds must be exact as doubles");
  std::optional<double> number = value.getAsNumber();
  if (!number || !std::isfinite(*number) || std::trunc(*number) != *number)
    return Range::NotInteger;
  if (*number < double(min))
    return Range::Below;
  if (*number > double(max))
    return Range::Above;
  out = *value.getAsInteger();
  return Range::Inside;
}

/// The location of byte `at` of `text`, the contents of `path`. The
/// diagnostic handler prints the source line with the message: a line longer
/// than a screenful (a minified or hostile config) gets column 0, which it
/// does not print.
Location mlir::moe::hf::locateOffset(StringRef text, size_t at, StringRef path,
                                     MLIRContext *ctx) {
  constexpr size_t kMaxShownLine = 1024;
  StringRef before = text.take_front(at);
  unsigned line = 1 + before.count('\n');
  size_t lineStart = before.rfind('\n');
  lineStart = lineStart == StringRef::npos ? 0 : lineStart + 1;
  size_t lineEnd = std::min(text.find('\n', at), text.size());
  unsigned column =
      lineEnd - lineStart > kMaxShownLine ? 0 : at - lineStart + 1;
  return FileLineColLoc::get(ctx, path, line, column);
}