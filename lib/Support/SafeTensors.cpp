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
    {"F64", DType::F64, 8},   {"F32", DType::F32, 4}, {"F16", DType::F16, 2},
    {"BF16", DType::BF16, 2}, {"I64", DType::I64, 8}, {"I32", DType::I32, 4},
    {"I16", DType::I16, 2},   {"I8", DType::I8, 1},   {"U8", DType::U8, 1},
    {"BOOL", DType::Bool, 1}};

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

} // namespace

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
  default:
    return false;
  }
}

void TensorView::releasePages(size_t begin, size_t end) const {
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
