//===- Npy.cpp - NumPy .npy arrays of float32, bfloat16 or int ------------===//
//
// Format: "\x93NUMPY", major and minor version, a little-endian header length
// (2 bytes in version 1, 4 in versions 2 and 3), then a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (T, H), } padded with
// spaces and ending in a newline, then the data: exactly the bytes the shape
// needs. bfloat16 is descr '<V2' (ml_dtypes) or '|V2'; token ids '<i4' or
// '<i8'.
//
//===----------------------------------------------------------------------===//

#include "moe/Support/Npy.h"
#include "moe/Support/Limits.h"
#include "moe/Support/SafeTensors.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>

using namespace moe;

namespace {
std::string formatTuple(const std::vector<int64_t> &shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

/// The header dict, parsed strictly as numpy writes it: the three keys
/// exactly once, string / bool / int-tuple values, nothing else. A lenient
/// search for "'shape'" would also find it inside another value.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : text(text) {}

  bool parse(std::string &descr, bool &fortranOrder,
             std::vector<int64_t> &shape, std::string &problem) {
    bool seenDescr = false, seenFortran = false, seenShape = false;
    skipSpaces();
    if (!consume('{'))
      return fail("expected '{'", problem);
    skipSpaces();
    while (!consume('}')) {
      std::string key;
      if (!quoted(key))
        return fail("expected a quoted key or '}'", problem);
      skipSpaces();
      if (!consume(':'))
        return fail("expected ':' after '" + key + "'", problem);
      skipSpaces();
      bool &seen = key == "descr"           ? seenDescr
                   : key == "fortran_order" ? seenFortran
                                            : seenShape;
      if (key != "descr" && key != "fortran_order" && key != "shape")
        return fail("unexpected key '" + key + "'", problem);
      if (seen)
        return fail("duplicate key '" + key + "'", problem);
      seen = true;
      if (key == "descr") {
        if (!quoted(descr))
          return fail("'descr' must be a quoted string", problem);
      } else if (key == "fortran_order") {
        std::string word;
        while (at < text.size() && std::isalpha(uint8_t(text[at])))
          word += text[at++];
        if (word != "True" && word != "False")
          return fail("'fortran_order' must be True or False", problem);
        fortranOrder = word == "True";
      } else if (!tuple(shape, problem)) {
        return false;
      }
      skipSpaces();
      if (consume(','))
        skipSpaces();
      else if (at >= text.size() || text[at] != '}')
        return fail("expected ',' or '}'", problem);
    }
    if (!seenDescr || !seenFortran || !seenShape)
      return fail(std::string("missing key '") +
                      (!seenDescr     ? "descr"
                       : !seenFortran ? "fortran_order"
                                      : "shape") +
                      "'",
                  problem);
    skipSpaces();
    if (at + 1 != text.size() || text[at] != '\n')
      return fail("expected spaces and a newline after the dict", problem);
    return true;
  }

private:
  bool fail(const std::string &what, std::string &problem) const {
    problem = what + " at header byte " + std::to_string(at);
    return false;
  }
  void skipSpaces() {
    while (at < text.size() && text[at] == ' ')
      ++at;
  }
  bool consume(char c) {
    if (at >= text.size() || text[at] != c)
      return false;
    ++at;
    return true;
  }
  /// 'text' or "text", without escapes (no key or dtype needs one).
  bool quoted(std::string &out) {
    if (at >= text.size() || (text[at] != '\'' && text[at] != '"'))
      return false;
    char quote = text[at];
    size_t close = text.find(quote, at + 1);
    if (close == std::string::npos || text.find('\\', at + 1) < close)
      return false;
    out = text.substr(at + 1, close - at - 1);
    at = close + 1;
    return true;
  }
  /// (), (N,) or (N, M, ...): each size bounded, the rank too.
  bool tuple(std::vector<int64_t> &shape, std::string &problem) {
    if (!consume('('))
      return fail("'shape' must be a tuple", problem);
    skipSpaces();
    while (!consume(')')) {
      size_t begin = at;
      while (at < text.size() && std::isdigit(uint8_t(text[at])))
        ++at;
      std::string digits = text.substr(begin, at - begin);
      consume('L'); // Python 2 longs, as old numpy wrote them
      if (digits.empty())
        return fail("'shape' must hold non-negative integers", problem);
      if (digits.size() > 18 || std::stoll(digits) > limits::kMaxTensorElements)
        return fail("dimension " + digits + " exceeds the limit " +
                        std::to_string(limits::kMaxTensorElements),
                    problem);
      if (shape.size() == limits::kMaxRank)
        return fail("'shape' has more than " +
                        std::to_string(limits::kMaxRank) + " dimensions",
                    problem);
      shape.push_back(std::stoll(digits));
      skipSpaces();
      if (consume(','))
        skipSpaces();
      else if (at >= text.size() || text[at] != ')')
        return fail("expected ',' or ')' in 'shape'", problem);
    }
    return true;
  }

  const std::string &text;
  size_t at = 0;
};
} // namespace

namespace {
/// A parsed .npy file: its dtype ('descr'), shape and data bytes.
struct NpyLayout {
  std::string descr;
  std::vector<int64_t> shape;
  int64_t count = 0;
  const uint8_t *payload = nullptr;
  uint64_t payloadBytes = 0;
};

/// Parses the header of the `size` bytes at `data` (C order, at most
/// kMaxTensorElements elements); the dtype is the caller's to check.
bool parseLayout(const uint8_t *data, size_t size, const std::string &name,
                 NpyLayout &layout, std::string &error) {
  if (size < 6 || std::memcmp(data, "\x93NUMPY", 6) != 0) {
    error = name + ": not a .npy file (bad magic)";
    return false;
  }
  if (size < 8) {
    error = name + ": truncated header: " + std::to_string(size) + " bytes";
    return false;
  }
  int major = data[6], minor = data[7];
  if (major < 1 || major > 3 || minor != 0) {
    error = name + ": unsupported .npy version " + std::to_string(major) + "." +
            std::to_string(minor) + " (1.0, 2.0 and 3.0 are read)";
    return false;
  }
  size_t lengthSize = major == 1 ? 2 : 4;
  if (size < 6 + 2 + lengthSize) {
    error = name + ": truncated header: " + std::to_string(size) + " bytes";
    return false;
  }
  uint64_t headerLength = 0;
  for (size_t i = lengthSize; i-- > 0;)
    headerLength = (headerLength << 8) | data[8 + i];
  size_t headerStart = 8 + lengthSize;
  if (headerLength > size - headerStart) {
    error = name + ": header length " + std::to_string(headerLength) +
            " runs past the end of the file (" + std::to_string(size) +
            " bytes)";
    return false;
  }
  std::string header(reinterpret_cast<const char *>(data) + headerStart,
                     headerLength);
  std::string problem;
  bool fortranOrder = false;
  if (!HeaderParser(header).parse(layout.descr, fortranOrder, layout.shape,
                                  problem)) {
    error = name + ": malformed header: " + problem;
    return false;
  }
  if (fortranOrder) {
    error = name + ": array must be in C order (fortran_order False)";
    return false;
  }
  if (!limits::checkedProduct(layout.shape, limits::kMaxTensorElements,
                              layout.count)) {
    error = name + ": shape " + formatTuple(layout.shape) +
            " holds more than " + std::to_string(limits::kMaxTensorElements) +
            " elements";
    return false;
  }
  layout.payload = data + headerStart + headerLength;
  layout.payloadBytes = size - headerStart - headerLength;
  return true;
}

/// Checks that the payload is exactly `elementSize` bytes per element,
/// before anything is allocated for it: a small file cannot make us
/// allocate what its header claims.
bool checkPayload(const NpyLayout &layout, size_t elementSize,
                  const std::string &name, std::string &error) {
  uint64_t needed = static_cast<uint64_t>(layout.count) * elementSize;
  uint64_t present = layout.payloadBytes;
  if (present < needed) {
    error = name + ": truncated data: expected " + std::to_string(needed) +
            " bytes for shape " + formatTuple(layout.shape) +
            ", the file holds " + std::to_string(present);
    return false;
  }
  if (present > needed) {
    error = name + ": " + std::to_string(present - needed) +
            " bytes of trailing data after the " + std::to_string(needed) +
            " bytes of shape " + formatTuple(layout.shape);
    return false;
  }
  return true;
}

/// Opens `path` and writes the header of a C-order .npy file of dtype
/// `descr`; `count` is the element count of `shape`.
bool writeHeader(const std::string &path, const char *descr,
                 const std::vector<int64_t> &shape, std::ofstream &out,
                 int64_t &count, std::string &error) {
  if (shape.size() > limits::kMaxRank ||
      !limits::checkedProduct(shape, limits::kMaxTensorElements, count)) {
    error = path + ": cannot write shape " + formatTuple(shape);
    return false;
  }
  std::string header =
      std::string("{'descr': '") + descr +
      "', 'fortran_order': False, 'shape': " + formatTuple(shape) + ", }";
  // Pad so that magic + length + header is a multiple of 64, ending in \n.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  out.open(path, std::ios::binary);
  if (!out) {
    error = path + ": cannot write: " + std::strerror(errno);
    return false;
  }
  out.write("\x93NUMPY\x01\x00", 8);
  uint16_t length = static_cast<uint16_t>(header.size());
  out.put(static_cast<char>(length & 0xff));
  out.put(static_cast<char>(length >> 8));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  return true;
}

/// Reports a failed write on `out`.
bool finishWrite(const std::string &path, std::ofstream &out,
                 std::string &error) {
  if (!out) {
    error = path + ": write failed";
    return false;
  }
  return true;
}

/// Writes a C-order .npy file of `shape` elements of dtype `descr`, each
/// `elementSize` bytes of `data` as they are.
bool writeRaw(const std::string &path, const char *descr,
              const std::vector<int64_t> &shape, const void *data,
              size_t elementSize, std::string &error) {
  std::ofstream out;
  int64_t count;
  if (!writeHeader(path, descr, shape, out, count, error))
    return false;
  out.write(reinterpret_cast<const char *>(data),
            static_cast<std::streamsize>(count * elementSize));
  return finishWrite(path, out, error);
}
} // namespace

bool moe::parseNpy(const uint8_t *data, size_t size, const std::string &name,
                   NpyArray &array, std::string &error) {
  NpyLayout layout;
  if (!parseLayout(data, size, name, layout, error))
    return false;
  bool bf16 = layout.descr == "<V2" || layout.descr == "|V2";
  if (layout.descr != "<f4" && layout.descr != "=f4" && !bf16) {
    error = name + ": dtype must be float32 ('<f4'), got '" + layout.descr +
            "' (or bfloat16: 2-byte void '<V2', as ml_dtypes saves it)";
    return false;
  }
  if (!checkPayload(layout, bf16 ? 2 : sizeof(float), name, error))
    return false;
  try {
    array.data.resize(layout.count);
  } catch (const std::bad_alloc &) {
    error = name + ": out of memory for " +
            std::to_string(layout.payloadBytes) + " bytes of data";
    return false;
  }
  array.shape = layout.shape;
  array.dtype = bf16 ? NpyDType::BF16 : NpyDType::F32;
  const uint8_t *values = layout.payload;
  if (bf16)
    for (int64_t i = 0; i < layout.count; ++i)
      array.data[i] = bf16ToFloat(static_cast<uint16_t>(
          values[2 * i] | static_cast<uint16_t>(values[2 * i + 1]) << 8));
  else if (layout.count)
    std::memcpy(array.data.data(), values, layout.payloadBytes);
  return true;
}

bool moe::parseNpyInt32(const uint8_t *data, size_t size,
                        const std::string &name, NpyInt32Array &array,
                        std::string &error) {
  NpyLayout layout;
  if (!parseLayout(data, size, name, layout, error))
    return false;
  bool wide = layout.descr == "<i8" || layout.descr == "=i8";
  if (!wide && layout.descr != "<i4" && layout.descr != "=i4") {
    error = name + ": dtype must be int32 ('<i4') or int64 ('<i8'), got '" +
            layout.descr + "'";
    return false;
  }
  if (!checkPayload(layout, wide ? 8 : 4, name, error))
    return false;
  try {
    array.data.resize(layout.count);
  } catch (const std::bad_alloc &) {
    error = name + ": out of memory for " +
            std::to_string(layout.payloadBytes) + " bytes of data";
    return false;
  }
  for (int64_t i = 0; i < layout.count; ++i) {
    if (!wide) {
      std::memcpy(&array.data[i], layout.payload + 4 * i, 4);
      continue;
    }
    int64_t value;
    std::memcpy(&value, layout.payload + 8 * i, 8);
    if (value < INT32_MIN || value > INT32_MAX) {
      error = name + ": element " + std::to_string(i) + " is " +
              std::to_string(value) + ", outside the int32 range";
      return false;
    }
    array.data[i] = static_cast<int32_t>(value);
  }
  array.shape = layout.shape;
  return true;
}

bool moe::readNpyInt32(const std::string &path, NpyInt32Array &array,
                       std::string &error) {
  std::unique_ptr<MappedFile> file = MappedFile::open(path, error);
  return file && parseNpyInt32(file->data(), file->size(), path, array, error);
}

bool moe::writeNpyInt32(const std::string &path, const NpyInt32Array &array,
                        std::string &error) {
  int64_t count;
  if (!limits::checkedProduct(array.shape, limits::kMaxTensorElements, count) ||
      static_cast<size_t>(count) != array.data.size()) {
    error = path + ": shape " + formatTuple(array.shape) + " does not hold " +
            std::to_string(array.data.size()) + " values";
    return false;
  }
  return writeRaw(path, "<i4", array.shape, array.data.data(), 4, error);
}

bool moe::readNpy(const std::string &path, NpyArray &array,
                  std::string &error) {
  std::unique_ptr<MappedFile> file = MappedFile::open(path, error);
  return file && parseNpy(file->data(), file->size(), path, array, error);
}

bool moe::writeNpy(const std::string &path, const NpyArray &array,
                   std::string &error) {
  int64_t count;
  if (!limits::checkedProduct(array.shape, limits::kMaxTensorElements, count) ||
      static_cast<size_t>(count) != array.data.size()) {
    error = path + ": shape " + formatTuple(array.shape) + " does not hold " +
            std::to_string(array.data.size()) + " values";
    return false;
  }
  return writeNpy(path, array.shape, array.data.data(), error, array.dtype);
}

bool moe::writeNpy(const std::string &path, const std::vector<int64_t> &shape,
                   const float *data, std::string &error, NpyDType dtype) {
  if (dtype == NpyDType::F32)
    return writeRaw(path, "<f4", shape, data, sizeof(float), error);
  std::ofstream out;
  int64_t count;
  if (!writeHeader(path, "<V2", shape, out, count, error))
    return false;
  // A chunk at a time: no bf16 copy of the whole array.
  constexpr int64_t kChunk = 4096;
  std::vector<char> chunk(2 * std::min(count, kChunk));
  for (int64_t begin = 0; begin < count && out; begin += kChunk) {
    int64_t n = std::min(kChunk, count - begin);
    for (int64_t i = 0; i < n; ++i) {
      uint16_t half = floatToBF16(data[begin + i]);
      chunk[2 * i] = static_cast<char>(half & 0xff);
      chunk[2 * i + 1] = static_cast<char>(half >> 8);
    }
    out.write(chunk.data(), static_cast<std::streamsize>(2 * n));
  }
  return finishWrite(path, out, error);
}
