//===- Json.h - the one bounded parse of untrusted JSON ---------*- C++ -*-===//
//
// Every JSON document moec reads (safetensors headers, shard indexes,
// library manifests, HF configs) comes from outside and is parsed by a
// recursive parser: its size and nesting depth are checked first, against
// the limits in Limits.h, and every refusal is worded the same way:
//   "<what>: 300000000 bytes exceed the limit 268435456"
//   "<what>: arrays and objects nested deeper than 128 levels"
//   "<what>: not valid JSON at byte 12: <the parser's reason>" (the offset,
//   from 0, of the byte where parsing stopped)
//   "<what>: not a JSON object"
// (without the "<what>: " when `what` is empty). The HF config importer
// parses with llvm::json and shares the bounds and the wording; the runtime
// and the checkpoint reader parse with nlohmann::json here. Plain C++ (no
// LLVM): the runtime shares it.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_SUPPORT_JSON_H
#define MOE_SUPPORT_JSON_H

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <string>

namespace moe {

/// Empty when JSON `text` of `size` bytes is within the size and depth
/// bounds a recursive parser may be given; otherwise the refusal, worded as
/// above.
std::string checkJsonBounds(const char *text, size_t size,
                            const std::string &what);

/// The refusal of text that does not parse: `reason` found at `byte`.
std::string jsonParseError(const std::string &what, size_t byte,
                           const std::string &reason);

/// `text` of `size` bytes parsed after checkJsonBounds, when it is a JSON
/// object; otherwise a discarded value (is_discarded()) with `error` set.
nlohmann::json parseBoundedJson(const char *text, size_t size,
                                const std::string &what, std::string &error);

} // namespace moe

#endif // MOE_SUPPORT_JSON_H
