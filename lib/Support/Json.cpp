//===- Json.cpp - the one bounded parse of untrusted JSON -----------------===//

#include "moe/Support/Json.h"
#include "moe/Support/Limits.h"

#include <nlohmann/json.hpp>

using namespace moe;
using json = nlohmann::json;

namespace {
std::string prefixed(const std::string &what, const std::string &message) {
  return what.empty() ? message : what + ": " + message;
}

/// A SAX handler that only remembers where and why parsing stopped: run on
/// text the DOM parser refused, to say where (the non-throwing DOM parse
/// drops the position).
struct ErrorFinder : nlohmann::json_sax<json> {
  size_t byte = 0;
  std::string reason;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t &) override { return true; }
  bool string(string_t &) override { return true; }
  bool binary(binary_t &) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t &) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string &,
                   const nlohmann::detail::exception &ex) override {
    // nlohmann counts the bytes read, the offending one included; moec
    // (like llvm::json) names the offset of that byte.
    byte = position > 0 ? position - 1 : 0;
    // "[json.exception.parse_error.101] parse error at line 1, column 2:
    // syntax error while parsing value - ...; last read: '...'": the
    // position is said separately, keep what follows it, clipped (the last
    // token read may be a whole document-long string).
    reason = ex.what();
    size_t colon = reason.find(": ", reason.find("parse error"));
    if (colon != std::string::npos)
      reason = reason.substr(colon + 2);
    constexpr size_t kMaxReason = 160;
    if (reason.size() > kMaxReason)
      reason = reason.substr(0, kMaxReason - 3) + "...";
    return false;
  }
};
} // namespace

std::string moe::checkJsonBounds(const char *text, size_t size,
                                 const std::string &what) {
  if (size > static_cast<uint64_t>(limits::kMaxJsonBytes))
    return prefixed(what, std::to_string(size) + " bytes exceed the limit " +
                              std::to_string(limits::kMaxJsonBytes));
  if (limits::jsonNestingDepth(text, size) > limits::kMaxJsonDepth)
    return prefixed(what, "arrays and objects nested deeper than " +
                              std::to_string(limits::kMaxJsonDepth) +
                              " levels");
  return std::string();
}

std::string moe::jsonParseError(const std::string &what, size_t byte,
                                const std::string &reason) {
  return prefixed(what, "not valid JSON at byte " + std::to_string(byte) +
                            ": " + reason);
}

json moe::parseBoundedJson(const char *text, size_t size,
                           const std::string &what, std::string &error) {
  error = checkJsonBounds(text, size, what);
  if (!error.empty())
    return json(json::value_t::discarded);
  json parsed = json::parse(text, text + size, nullptr,
                            /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    ErrorFinder finder;
    json::sax_parse(text, text + size, &finder);
    error = jsonParseError(what, finder.byte, finder.reason);
    return parsed;
  }
  if (!parsed.is_object()) {
    error = prefixed(what, "not a JSON object");
    return json(json::value_t::discarded);
  }
  return parsed;
}
