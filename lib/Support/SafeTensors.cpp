//===- SafeTensors.cpp - memory-mapped safetensors checkpoints ------------===//
//
// Format: an 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data; offsets are relative to the end of the header.
//
//===----------------------------------------------------------------------===//

#include "moe/Support/SafeTensors.h"
#include "moe/Support/Json.h"
#include "moe/Support/Limits.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <limits>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>

using namespace moe;
using json = nlohmann::json;

namespace {
struct DTypeInfo {
  const char *name;
  DType dtype;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {"F64", DType::F64, 8},        {"F32", DType::F32, 4},
    {"F16", DType::F16, 2},        {"BF16", DType::BF16, 2},
    {"I64", DType::I64, 8},        {"I32", DType::I32, 4},
    {"I16", DType::I16, 2},        {"I8", DType::I8, 1},
    {"U8", DType::U8, 1},          {"BOOL", DType::Bool, 1},
    {"F8_E4M3", DType::F8E4M3, 1}, {"F8_E8M0", DType::F8E8M0, 1}};

const DTypeInfo *findDType(const std::string &name) {
  for (const DTypeInfo &info : kDTypes)
    if (name == info.name)
      return &info;
  return nullptr;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f,
           mantissa = h & 0x3ff;
  float value;
  if (exponent == 0)
    value = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31)
    value = mantissa ? std::numeric_limits<float>::quiet_NaN()
                     : std::numeric_limits<float>::infinity();
  else
    value = std::ldexp(static_cast<float>(mantissa | 0x400),
                       static_cast<int>(exponent) - 25);
  return sign ? -value : value;
}

/// `decode` of every 8-bit code, for the dequantising loops.
template <float (*decode)(uint8_t)> const float *codeTable() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> values;
    for (int code = 0; code < 256; ++code)
      values[code] = decode(static_cast<uint8_t>(code));
    return values;
  }();
  return table.data();
}
} // namespace

float moe::fp8e4m3ToFloat(uint8_t code) {
  int exponent = (code >> 3) & 0xf, mantissa = code & 0x7;
  float value;
  if (exponent == 0xf && mantissa == 0x7)
    value = std::numeric_limits<float>::quiet_NaN();
  else if (exponent == 0) // subnormal: mantissa * 2^(1 - 7 - 3)
    value = std::ldexp(static_cast<float>(mantissa), -9);
  else
    value = std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);
  return code & 0x80 ? -value : value;
}

float moe::e2m1ToFloat(uint8_t code) {
  // Exponent 0 is subnormal (mantissa * 0.5); else (2 + m) * 2^(e - 2).
  static constexpr float kMagnitudes[8] = {0.0f, 0.5f, 1.0f, 1.5f,
                                           2.0f, 3.0f, 4.0f, 6.0f};
  float value = kMagnitudes[code & 0x7];
  return code & 0x8 ? -value : value;
}

float moe::e8m0ToFloat(uint8_t code) {
  if (code == 0xff)
    return std::numeric_limits<float>::quiet_NaN();
  return std::ldexp(1.0f, static_cast<int>(code) - 127);
}

float moe::bf16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

uint16_t moe::floatToBF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN: keep it a quiet NaN
    return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

bool moe::dtypeFromName(const std::string &name, DType &dtype) {
  const DTypeInfo *info = findDType(name);
  if (info)
    dtype = info->dtype;
  return info;
}

std::string moe::formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

const char *moe::dtypeName(DType dtype) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == dtype)
      return info.name;
  return "?";
}

size_t moe::dtypeSize(DType dtype) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == dtype)
      return info.size;
  return 0;
}

int64_t TensorView::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

bool TensorView::copyToF32(float *out) const {
  return copyToF32(out, 0, numElements());
}

bool TensorView::copyToF32(float *out, int64_t begin, int64_t count) const {
  switch (dtype) {
  case DType::F32:
    std::memcpy(out, data + 4 * begin, count * sizeof(float));
    return true;
  case DType::BF16:
  case DType::F16:
    for (int64_t i = 0; i < count; ++i) {
      uint16_t raw;
      std::memcpy(&raw, data + 2 * (begin + i), 2);
      out[i] = dtype == DType::BF16 ? bf16ToFloat(raw) : halfToFloat(raw);
    }
    return true;
  case DType::F8E4M3: {
    const float *table = codeTable<fp8e4m3ToFloat>();
    for (int64_t i = 0; i < count; ++i)
      out[i] = table[data[begin + i]];
    return true;
  }
  case DType::F8E8M0:
    for (int64_t i = 0; i < count; ++i)
      out[i] = e8m0ToFloat(data[begin + i]);
    return true;
  default:
    return false;
  }
}

void TensorView::releasePages(size_t begin, size_t end) const {
  // Advice on anonymous memory would zero it: only mappings of a file.
  if (!fileBacked)
    return;
  uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t start = reinterpret_cast<uintptr_t>(data);
  uintptr_t lo =
      std::max((start + begin) / page * page, (start + page - 1) / page * page);
  uintptr_t hi = (start + std::min(end, bytes)) / page * page;
  // The mapping is private and never written: dropped pages read back
  // from the file. Advice only: a failure leaves them resident.
  if (hi > lo)
    (void)madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_DONTNEED);
}

std::unique_ptr<MappedFile> MappedFile::open(const std::string &path,
                                             std::string &error) {
  int64_t size;
  int fd = limits::openRegularFile(path, error, &size);
  if (fd < 0)
    return nullptr;
  std::unique_ptr<MappedFile> file(new MappedFile());
  file->filePath = path;
  file->length = static_cast<size_t>(size);
  if (file->length > 0) {
    void *mapped = mmap(nullptr, file->length, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapped == MAP_FAILED) {
      error = path + ": cannot map: " + std::strerror(errno);
      ::close(fd);
      return nullptr;
    }
    file->bytes = static_cast<const uint8_t *>(mapped);
  }
  ::close(fd);
  return file;
}

MappedFile::~MappedFile() {
  if (bytes)
    munmap(const_cast<uint8_t *>(bytes), length);
}

namespace {
/// A shard name from an index, relative to the index's folder: "." and
/// empty components dropped, so that one file has one spelling. False for
/// names that could leave the folder (absolute, or with a ".." component)
/// or that the OS would cut short (a NUL byte). Symbolic links inside the
/// folder are followed: the Hugging Face cache links every shard to a blob
/// outside the snapshot folder.
bool normalizeShardName(const std::string &shard, std::string &normal) {
  if (shard.empty() || shard[0] == '/' || shard.find('\0') != std::string::npos)
    return false;
  normal.clear();
  size_t begin = 0;
  while (begin <= shard.size()) {
    size_t end = std::min(shard.find('/', begin), shard.size());
    std::string part = shard.substr(begin, end - begin);
    if (part == "..")
      return false;
    if (!part.empty() && part != ".")
      normal += (normal.empty() ? "" : "/") + part;
    begin = end + 1;
  }
  return !normal.empty();
}
} // namespace

std::unique_ptr<Checkpoint>
Checkpoint::fromMemory(std::vector<TensorView> views, const std::string &label,
                       std::string &error) {
  std::unique_ptr<Checkpoint> checkpoint(new Checkpoint());
  checkpoint->sourcePath = label;
  for (TensorView &view : views) {
    std::string where = label + ": tensor '" + view.name + "'";
    if (view.name.empty()) {
      error = label + ": a tensor has no name";
      return nullptr;
    }
    if (view.shape.size() > limits::kMaxRank) {
      error = where + ": rank " + std::to_string(view.shape.size()) +
              " exceeds the limit " + std::to_string(limits::kMaxRank);
      return nullptr;
    }
    int64_t count;
    if (std::any_of(view.shape.begin(), view.shape.end(),
                    [](int64_t d) { return d < 0; }) ||
        !limits::checkedProduct(view.shape, limits::kMaxTensorElements,
                                count)) {
      error = where + ": shape " + formatShape(view.shape) +
              " is negative or holds more than " +
              std::to_string(limits::kMaxTensorElements) + " elements";
      return nullptr;
    }
    uint64_t needed = static_cast<uint64_t>(count) * dtypeSize(view.dtype);
    if (view.bytes != needed || (view.bytes && !view.data)) {
      error = where + ": " + std::to_string(view.bytes) + " bytes, but " +
              dtypeName(view.dtype) + " " + formatShape(view.shape) +
              " needs " + std::to_string(needed);
      return nullptr;
    }
    view.file = label;
    view.fileBacked = false;
    std::string name = view.name;
    if (!checkpoint->byName.emplace(name, std::move(view)).second) {
      error = label + ": two tensors are named '" + name + "'";
      return nullptr;
    }
  }
  return checkpoint;
}

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string &path,
                                             std::string &error) {
  std::unique_ptr<Checkpoint> checkpoint(new Checkpoint());
  checkpoint->sourcePath = path;
  auto endsWith = [&](const std::string &suffix) {
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) ==
               0;
  };
  if (!endsWith(".index.json")) {
    if (!checkpoint->addFile(path, error))
      return nullptr;
    return checkpoint;
  }

  // A shard index: {"weight_map": {tensor name: shard file}}.
  std::unique_ptr<MappedFile> file = MappedFile::open(path, error);
  if (!file)
    return nullptr;
  json index = parseBoundedJson(reinterpret_cast<const char *>(file->data()),
                                file->size(), path + ": the index", error);
  if (index.is_discarded())
    return nullptr;
  auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object()) {
    error = path + ": no \"weight_map\" object";
    return nullptr;
  }
  std::string dir = path.substr(0, path.find_last_of('/') + 1);
  std::vector<std::pair<std::string, std::string>> listed; // tensor, shard
  std::vector<std::string> shards;
  for (auto &[name, shard] : map->items()) {
    if (!shard.is_string()) {
      error = path + ": weight_map entry '" + name + "' is not a file name";
      return nullptr;
    }
    std::string normal;
    if (!normalizeShardName(shard.get<std::string>(), normal)) {
      error = path + ": weight_map entry '" + name + "': shard '" +
              shard.get<std::string>() +
              "' must be a relative path inside the index's folder (no "
              "absolute path, no '..')";
      return nullptr;
    }
    listed.emplace_back(name, normal);
    shards.push_back(normal);
  }
  std::sort(shards.begin(), shards.end());
  shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
  for (const std::string &shard : shards)
    if (!checkpoint->addFile(dir + shard, error))
      return nullptr;
  for (const auto &[name, shard] : listed) {
    const TensorView *view = checkpoint->find(name);
    if (!view) {
      error = path + ": tensor '" + name + "' is listed in shard '" + shard +
              "' but not found there";
      return nullptr;
    }
    if (view->file != dir + shard) {
      error = path + ": tensor '" + name + "' is listed in shard '" + shard +
              "' but is held by shard '" + view->file.substr(dir.size()) + "'";
      return nullptr;
    }
  }
  return checkpoint;
}

std::vector<std::string> Checkpoint::filePaths() const {
  std::vector<std::string> paths;
  for (const std::unique_ptr<MappedFile> &file : files)
    paths.push_back(file->path());
  return paths;
}

size_t Checkpoint::mappedBytes() const {
  size_t bytes = 0;
  for (const std::unique_ptr<MappedFile> &file : files)
    bytes += file->size();
  return bytes;
}

const TensorView *Checkpoint::find(const std::string &name) const {
  auto it = byName.find(name);
  return it == byName.end() ? nullptr : &it->second;
}

bool Checkpoint::addFile(const std::string &path, std::string &error) {
  std::unique_ptr<MappedFile> file = MappedFile::open(path, error);
  if (!file)
    return false;
  if (file->size() < 8) {
    error = path + ": truncated: " + std::to_string(file->size()) +
            " bytes, shorter than the 8-byte header length";
    return false;
  }
  uint64_t headerLength = 0;
  for (int i = 7; i >= 0; --i)
    headerLength = (headerLength << 8) | file->data()[i];
  if (headerLength > file->size() - 8) {
    error = path + ": header length " + std::to_string(headerLength) +
            " runs past the end of the file (" + std::to_string(file->size()) +
            " bytes)";
    return false;
  }
  const char *headerText = reinterpret_cast<const char *>(file->data() + 8);
  json header =
      parseBoundedJson(headerText, headerLength, path + ": the header", error);
  if (header.is_discarded())
    return false;
  const uint8_t *dataStart = file->data() + 8 + headerLength;
  size_t dataSize = file->size() - 8 - headerLength;

  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto &[name, entry] : header.items()) {
    if (name == "__metadata__")
      continue;
    std::string where = path + ": tensor '" + name + "'";
    if (!entry.is_object()) {
      error = where + ": entry is not an object";
      return false;
    }
    auto dtype = entry.find("dtype");
    auto shape = entry.find("shape");
    auto offsets = entry.find("data_offsets");
    if (dtype == entry.end() || !dtype->is_string() || shape == entry.end() ||
        !shape->is_array() || offsets == entry.end() || !offsets->is_array() ||
        offsets->size() != 2) {
      error = where + ": needs \"dtype\", \"shape\" and two \"data_offsets\"";
      return false;
    }
    const DTypeInfo *info = findDType(dtype->get<std::string>());
    if (!info) {
      error = where + ": unknown dtype '" + dtype->get<std::string>() + "'";
      return false;
    }
    TensorView view;
    view.name = name;
    view.dtype = info->dtype;
    view.file = path;
    if (shape->size() > limits::kMaxRank) {
      error = where + ": rank " + std::to_string(shape->size()) +
              " exceeds the limit " + std::to_string(limits::kMaxRank);
      return false;
    }
    for (const json &dim : *shape) {
      if (!dim.is_number_unsigned()) {
        error = where + ": shape holds a non-integer or negative size";
        return false;
      }
      uint64_t size = dim.get<uint64_t>();
      if (size > static_cast<uint64_t>(limits::kMaxTensorElements)) {
        error = where + ": dimension " + std::to_string(size) +
                " exceeds the limit " +
                std::to_string(limits::kMaxTensorElements);
        return false;
      }
      view.shape.push_back(static_cast<int64_t>(size));
    }
    int64_t count;
    if (!limits::checkedProduct(view.shape, limits::kMaxTensorElements,
                                count)) {
      error = where + ": shape holds more than " +
              std::to_string(limits::kMaxTensorElements) + " elements";
      return false;
    }
    uint64_t elements = static_cast<uint64_t>(count);
    if (!(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned()) {
      error = where + ": data_offsets must be non-negative integers";
      return false;
    }
    uint64_t begin = (*offsets)[0].get<uint64_t>();
    uint64_t end = (*offsets)[1].get<uint64_t>();
    if (begin > end || end > dataSize) {
      error = where + ": data_offsets [" + std::to_string(begin) + ", " +
              std::to_string(end) + ") out of range: the data holds " +
              std::to_string(dataSize) + " bytes";
      return false;
    }
    if (end - begin != elements * info->size) {
      error = where + ": data_offsets span " + std::to_string(end - begin) +
              " bytes but " + std::string(info->name) + " shape needs " +
              std::to_string(elements * info->size);
      return false;
    }
    if (byName.count(name)) {
      error = where + ": appears in more than one file";
      return false;
    }
    view.data = dataStart + begin;
    view.bytes = end - begin;
    ranges.push_back({begin, end});
    byName.emplace(name, std::move(view));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) {
      error = path + ": tensor data overlaps at bytes [" +
              std::to_string(ranges[i].first) + ", " +
              std::to_string(ranges[i - 1].second) + ")";
      return false;
    }
  files.push_back(std::move(file));
  return true;
}

namespace {

bool isE8M0(DType dtype) {
  return dtype == DType::F8E8M0 || dtype == DType::U8;
}

/// Scale `index` of `scales`: a float dtype, or E8M0 codes.
float scaleAt(const TensorView &scales, int64_t index) {
  if (isE8M0(scales.dtype))
    return codeTable<e8m0ToFloat>()[scales.data[index]];
  float value;
  scales.copyToF32(&value, index, 1);
  return value;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
} // namespace

bool QuantizedTensor::find(const Checkpoint &checkpoint,
                           const std::string &name, QuantizedTensor &tensor,
                           std::string &error) {
  error.clear();
  auto fail = [&](const TensorView &at, const std::string &what) {
    error = at.file + ": tensor '" + at.name + "': " + what;
    return false;
  };
  if (const TensorView *values = checkpoint.find(name)) {
    if (values->dtype != DType::F8E4M3)
      return false;
    const TensorView *scales = checkpoint.find(name + kScaleInvSuffix);
    if (!scales)
      return fail(*values, std::string("F8_E4M3 without its block scales '") +
                               name + kScaleInvSuffix + "'");
    if (scales->dtype != DType::F32 && scales->dtype != DType::BF16 &&
        scales->dtype != DType::F16 && !isE8M0(scales->dtype))
      return fail(*scales, std::string("FP8 block scales of dtype ") +
                               dtypeName(scales->dtype) +
                               "; F32, BF16, F16, F8_E8M0 or U8 (E8M0) "
                               "expected");
    // [..., N, K] and [..., ceil(N/128), ceil(K/128)].
    const std::vector<int64_t> &shape = values->shape;
    size_t rank = shape.size();
    std::vector<int64_t> expected = shape;
    if (rank >= 2) {
      expected[rank - 2] = ceilDiv(shape[rank - 2], kFP8Block);
      expected[rank - 1] = ceilDiv(shape[rank - 1], kFP8Block);
    }
    if (rank < 2 || scales->shape != expected)
      return fail(*scales,
                  "FP8 block scales of shape " + formatShape(scales->shape) +
                      " for '" + name + "' of shape " + formatShape(shape) +
                      (rank < 2 ? " (a matrix or a stack of them expected)"
                                : "; expected " + formatShape(expected) +
                                      " (128 x 128 blocks)"));
    tensor.format = Format::FP8BlockScaled;
    tensor.shape = shape;
    tensor.values = values;
    tensor.scales = scales;
    return true;
  }

  const TensorView *blocks = checkpoint.find(name + kBlocksSuffix);
  if (!blocks)
    return false;
  const TensorView *scales = checkpoint.find(name + kScalesSuffix);
  if (!scales)
    return fail(*blocks, std::string("MXFP4 blocks without their scales '") +
                             name + kScalesSuffix + "'");
  if (blocks->dtype != DType::U8)
    return fail(*blocks, std::string("MXFP4 blocks of dtype ") +
                             dtypeName(blocks->dtype) + "; U8 expected");
  if (!isE8M0(scales->dtype))
    return fail(*scales, std::string("MXFP4 scales of dtype ") +
                             dtypeName(scales->dtype) +
                             "; U8 or F8_E8M0 (E8M0) expected");
  // [E, N, G, 16] and [E, N, G].
  const std::vector<int64_t> &shape = blocks->shape;
  if (shape.size() != 4 || shape[3] != kMXFP4Block / 2)
    return fail(*blocks, "MXFP4 blocks of shape " + formatShape(shape) +
                             "; [experts, rows, blocks, 16] expected");
  std::vector<int64_t> expected(shape.begin(), shape.end() - 1);
  if (scales->shape != expected)
    return fail(*scales, "MXFP4 scales of shape " + formatShape(scales->shape) +
                             " for blocks " + formatShape(shape) +
                             "; expected " + formatShape(expected));
  int64_t count;
  std::vector<int64_t> dequantized = {shape[0], shape[2] * kMXFP4Block,
                                      shape[1]};
  if (!limits::checkedProduct(dequantized, limits::kMaxTensorElements, count))
    return fail(*blocks, "MXFP4 blocks of shape " + formatShape(shape) +
                             " dequantise to more than " +
                             std::to_string(limits::kMaxTensorElements) +
                             " elements");
  tensor.format = Format::MXFP4;
  tensor.shape = std::move(dequantized);
  tensor.values = blocks;
  tensor.scales = scales;
  return true;
}

int64_t QuantizedTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

void QuantizedTensor::copyToF32(float *out, int64_t begin,
                                int64_t count) const {
  size_t rank = shape.size();
  int64_t end = begin + count;
  if (format == Format::FP8BlockScaled) {
    const float *table = codeTable<fp8e4m3ToFloat>();
    int64_t n = shape[rank - 2], k = shape[rank - 1];
    int64_t scaleRows = ceilDiv(n, kFP8Block),
            scaleCols = ceilDiv(k, kFP8Block);
    // Runs within one row and one block share a scale.
    for (int64_t i = begin; i < end;) {
      int64_t matrix = i / (n * k), row = i / k % n, col = i % k;
      int64_t run = std::min({end - i, k - col, kFP8Block - col % kFP8Block});
      float scale =
          scaleAt(*scales, (matrix * scaleRows + row / kFP8Block) * scaleCols +
                               col / kFP8Block);
      for (int64_t j = 0; j < run; ++j)
        out[i - begin + j] = table[values->data[i + j]] * scale;
      i += run;
    }
    return;
  }
  // MXFP4: element (e, kk, r) of [E, K, N] is code kk of stored row r.
  int64_t k = shape[1], n = shape[2], groups = k / kMXFP4Block;
  for (int64_t i = begin; i < end; ++i) {
    int64_t expert = i / (k * n), kk = i / n % k, row = i % n;
    int64_t group = (expert * n + row) * groups + kk / kMXFP4Block;
    uint8_t byte =
        values->data[group * (kMXFP4Block / 2) + kk % kMXFP4Block / 2];
    out[i - begin] = e2m1ToFloat(kk % 2 ? byte >> 4 : byte & 0xf) *
                     codeTable<e8m0ToFloat>()[scales->data[group]];
  }
}

void QuantizedTensor::copyStoredToF32(float *out, int64_t begin,
                                      int64_t count) const {
  if (format == Format::FP8BlockScaled)
    return copyToF32(out, begin, count);
  // Element (e, r, kk) of [E, N, K]: code kk of stored row r, its 32-code
  // blocks in order, a byte (two codes, the low nibble first) at a time.
  static const std::array<float, 16> codes = [] {
    std::array<float, 16> values;
    for (int code = 0; code < 16; ++code)
      values[code] = e2m1ToFloat(static_cast<uint8_t>(code));
    return values;
  }();
  const float *powers = codeTable<e8m0ToFloat>();
  const uint8_t *bytes = values->data;
  for (int64_t i = begin, end = begin + count; i < end;) {
    int64_t group = i / kMXFP4Block, first = i % kMXFP4Block;
    int64_t run = std::min(end - i, kMXFP4Block - first);
    float scale = powers[scales->data[group]];
    float *to = out + (i - begin);
    const uint8_t *block = bytes + group * (kMXFP4Block / 2);
    if (first == 0 && run == kMXFP4Block) {
      for (int64_t b = 0; b < kMXFP4Block / 2; ++b) {
        to[2 * b] = codes[block[b] & 0xf] * scale;
        to[2 * b + 1] = codes[block[b] >> 4] * scale;
      }
    } else {
      for (int64_t j = first; j < first + run; ++j) {
        uint8_t byte = block[j / 2];
        to[j - first] = codes[j % 2 ? byte >> 4 : byte & 0xf] * scale;
      }
    }
    i += run;
  }
}

std::string QuantizedTensor::describe() const {
  return std::string(format == Format::MXFP4 ? "MXFP4 blocks '" : "F8_E4M3 '") +
         values->name + "' with scales '" + scales->name + "'";
}

bool moe::writeSafeTensors(const std::string &path,
                           const std::map<std::string, TensorData> &tensors,
                           std::string &error) {
  json header = json::object();
  uint64_t offset = 0;
  for (auto &[name, tensor] : tensors) {
    header[name] = {{"dtype", dtypeName(tensor.dtype)},
                    {"shape", tensor.shape},
                    {"data_offsets", {offset, offset + tensor.bytes.size()}}};
    offset += tensor.bytes.size();
  }
  std::string text = header.dump();
  // Pad the header (whitespace, as the format allows) so that the data
  // starts on a cache line: tensors whose sizes are multiples of 64 bytes
  // then lie on cache lines too, and the loader uses such f32 tensors in
  // place rather than copying them (Loader.cpp).
  constexpr size_t kDataAlignment = 64, kLengthBytes = 8;
  text.append((kDataAlignment - (kLengthBytes + text.size()) % kDataAlignment) %
                  kDataAlignment,
              ' ');
  std::ofstream out(path, std::ios::binary);
  if (!out) {
    error = path + ": cannot write: " + std::strerror(errno);
    return false;
  }
  uint64_t length = text.size();
  for (int i = 0; i < 8; ++i)
    out.put(static_cast<char>((length >> (8 * i)) & 0xff));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (auto &[name, tensor] : tensors)
    out.write(reinterpret_cast<const char *>(tensor.bytes.data()),
              static_cast<std::streamsize>(tensor.bytes.size()));
  if (!out) {
    error = path + ": write failed";
    return false;
  }
  return true;
}
