//===- Loader.cpp - load compiled moe libraries and bind weights ----------===//

#include "moe/Runtime/Loader.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <dlfcn.h>

using namespace moe;
using namespace moe::runtime;
using json = nlohmann::json;

std::string runtime::formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string WeightSlot::tensorName(int64_t expert) const {
  if (!stacked)
    return name;
  std::string result = name;
  size_t at = result.find("{e}");
  result.replace(at, 3, std::to_string(expert));
  return result;
}

std::vector<int64_t> WeightSlot::viewShape() const {
  std::vector<int64_t> sliced = sourceShape;
  if (!slice.empty())
    sliced[slice[0]] = slice[2];
  if (transpose.empty())
    return sliced;
  std::vector<int64_t> out;
  for (int64_t d : transpose)
    out.push_back(sliced[d]);
  return out;
}

std::vector<int64_t> WeightSlot::tensorShape() const {
  if (!stacked)
    return sourceShape;
  return std::vector<int64_t>(sourceShape.begin() + 1, sourceShape.end());
}

namespace {
/// `source` (row-major, the slot's source shape) sliced along slice[0]
/// from slice[1] for slice[2], then transposed: the slot's view shape.
AlignedFloats applyView(const AlignedFloats &source, const WeightSlot &slot) {
  const std::vector<int64_t> &sourceShape = slot.sourceShape,
                             &slice = slot.slice;
  size_t rank = sourceShape.size();
  std::vector<int64_t> perm = slot.transpose;
  if (perm.empty())
    for (size_t d = 0; d < rank; ++d)
      perm.push_back(static_cast<int64_t>(d));
  std::vector<int64_t> outShape = slot.viewShape(), sourceStrides(rank, 1);
  for (size_t d = rank - 1; d-- > 0;)
    sourceStrides[d] = sourceStrides[d + 1] * sourceShape[d + 1];
  int64_t count = 1;
  for (int64_t s : outShape)
    count *= s;
  AlignedFloats out(count);
  std::vector<int64_t> index(rank, 0);
  for (int64_t n = 0; n < count; ++n) {
    int64_t offset = 0;
    for (size_t d = 0; d < rank; ++d) {
      int64_t i = index[d];
      if (!slice.empty() && perm[d] == slice[0])
        i += slice[1];
      offset += i * sourceStrides[perm[d]];
    }
    out[n] = source[offset];
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < outShape[d])
        break;
      index[d] = 0;
    }
  }
  return out;
}

/// `source` (row-major, `shape`) packed along `dim` in panels of `panel`:
/// [.., ceil(N/panel), .., panel] with N = shape[dim], zero past N, as
/// linalg.pack with inner_dims_pos = [dim], inner_tiles = [panel] gives.
AlignedFloats applyPack(const AlignedFloats &source,
                        const std::vector<int64_t> &shape, int64_t dim,
                        int64_t panel) {
  int64_t outer = 1, inner = 1, n = shape[dim];
  for (int64_t d = 0; d < dim; ++d)
    outer *= shape[d];
  for (size_t d = dim + 1; d < shape.size(); ++d)
    inner *= shape[d];
  int64_t panels = (n + panel - 1) / panel;
  AlignedFloats out(outer * panels * inner * panel, 0.0f);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < inner; ++i)
        out[((o * panels + j / panel) * inner + i) * panel + j % panel] =
            source[(o * n + j) * inner + i];
  return out;
}

/// `source` rounded to bf16 (nearest, ties to even), two values to each
/// float of the result: the storage of a "bf16" slot, still cache-line
/// aligned.
AlignedFloats narrowToBF16(const AlignedFloats &source) {
  AlignedFloats out((source.size() + 1) / 2, 0.0f);
  auto *halves = reinterpret_cast<uint16_t *>(out.data());
  for (size_t i = 0; i < source.size(); ++i)
    halves[i] = floatToBF16(source[i]);
  return out;
}
} // namespace

namespace {
/// Reads the manifest into entries; false with `error` on anything amiss.
bool parseManifest(const std::string &text, std::vector<Entry> &entries,
                   std::string &error) {
  json manifest = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.is_object())
    return error = "the manifest is not a JSON object", false;
  if (manifest.value("format", 0) != MOE_MANIFEST_FORMAT)
    return error = "unsupported manifest format (expected " +
                   std::to_string(MOE_MANIFEST_FORMAT) + ")",
           false;
  try {
    for (const json &e : manifest.at("entries")) {
      Entry entry;
      entry.name = e.at("name").get<std::string>();
      entry.symbol = e.at("symbol").get<std::string>();
      entry.hidden = e.at("hidden").get<int64_t>();
      entry.kind = e.value("kind", std::string("forward"));
      if (entry.kind == "routing_stats") {
        entry.statsOf = e.at("of").get<std::string>();
        entry.outputSize = e.at("outputs").get<int64_t>();
      } else if (entry.kind != "forward") {
        error = "unknown entry kind '" + entry.kind + "'";
        return false;
      }
      for (const json &w : e.at("weights")) {
        WeightSlot slot;
        slot.name = w.at("name").get<std::string>();
        slot.shape = w.at("shape").get<std::vector<int64_t>>();
        slot.stacked = w.at("layout").get<std::string>() == "stacked";
        if (slot.stacked) {
          slot.expertBegin = w.at("experts").at(0).get<int64_t>();
          slot.expertEnd = w.at("experts").at(1).get<int64_t>();
        }
        slot.sourceShape = w.value("source_shape", slot.shape);
        slot.slice = w.value("slice", std::vector<int64_t>{});
        slot.transpose = w.value("transpose", std::vector<int64_t>{});
        slot.pack = w.value("pack", std::vector<int64_t>{});
        slot.dtype = w.value("dtype", std::string("f32"));
        if (slot.dtype != "f32" &&
            !(slot.dtype == "bf16" && !slot.pack.empty())) {
          error = "weight slot '" + slot.name + "': dtype '" + slot.dtype +
                  "' is not one the runtime binds (f32, or bf16 when packed)";
          return false;
        }
        entry.weights.push_back(std::move(slot));
      }
      entries.push_back(std::move(entry));
    }
  } catch (const json::exception &e) {
    error = std::string("malformed manifest: ") + e.what();
    return false;
  }
  return true;
}
} // namespace

std::unique_ptr<Library> Library::open(const std::string &path,
                                       std::string &error) {
  std::unique_ptr<Library> library(new Library());
  // A relative name without '/' would search the library path instead.
  std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  library->handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library->handle) {
    error = path + ": cannot load: " + dlerror();
    return nullptr;
  }
  auto manifest = reinterpret_cast<moe_manifest_fn>(
      dlsym(library->handle, MOE_MANIFEST_SYMBOL));
  if (!manifest) {
    error = path + ": not a moe library (no " MOE_MANIFEST_SYMBOL ")";
    return nullptr;
  }
  library->setThreads = reinterpret_cast<moe_set_threads_fn>(
      dlsym(library->handle, MOE_SET_THREADS_SYMBOL));
  if (!library->setThreads) {
    error = path + ": not a moe library (no " MOE_SET_THREADS_SYMBOL ")";
    return nullptr;
  }
  library->manifestText = manifest();
  if (!parseManifest(library->manifestText, library->entryList, error)) {
    error = path + ": " + error;
    return nullptr;
  }
  for (Entry &entry : library->entryList) {
    entry.function = reinterpret_cast<moe_entry_fn>(
        dlsym(library->handle, entry.symbol.c_str()));
    if (!entry.function) {
      error =
          path + ": entry '" + entry.name + "' has no symbol " + entry.symbol;
      return nullptr;
    }
  }
  return library;
}

Library::~Library() {
  if (handle)
    dlclose(handle);
}

const Entry *Library::findEntry(const std::string &name,
                                std::string &error) const {
  std::string names;
  const Entry *onlyForward = nullptr;
  int forwardCount = 0;
  for (const Entry &entry : entryList) {
    if (entry.name == name)
      return &entry;
    if (entry.kind != "forward")
      continue;
    names += (names.empty() ? "" : ", ") + entry.name;
    onlyForward = &entry;
    ++forwardCount;
  }
  if (name.empty() && forwardCount == 1)
    return onlyForward;
  error = name.empty() ? "the library has several entry points (" + names +
                             "): choose one with --entry"
                       : "no entry point '" + name +
                             "' (the library has: " + names + ")";
  return nullptr;
}

const Entry *Library::findStatsEntry(const std::string &name) const {
  for (const Entry &entry : entryList)
    if (entry.kind == "routing_stats" && entry.statsOf == name)
      return &entry;
  return nullptr;
}

std::unique_ptr<BoundEntry> BoundEntry::bind(const Entry &entry,
                                             const Checkpoint &checkpoint,
                                             std::string &error) {
  std::unique_ptr<BoundEntry> bound(new BoundEntry());
  bound->boundEntry = &entry;
  for (const WeightSlot &slot : entry.weights) {
    std::vector<int64_t> shape = slot.tensorShape();
    int64_t perTensor = 1;
    for (int64_t d : shape)
      perTensor *= d;
    int64_t first = slot.stacked ? slot.expertBegin : 0;
    int64_t last = slot.stacked ? slot.expertEnd : 1;
    std::vector<const TensorView *> views;
    for (int64_t e = first; e < last; ++e) {
      std::string name = slot.tensorName(e);
      const TensorView *view = checkpoint.find(name);
      if (!view) {
        error = "missing weight '" + name +
                "': expected a F32, BF16 or F16 "
                "tensor of shape " +
                formatShape(shape);
        return nullptr;
      }
      if (view->shape != shape) {
        error = "weight '" + name + "' in " + view->file + " has shape " +
                formatShape(view->shape) + ", expected " + formatShape(shape);
        return nullptr;
      }
      if (view->dtype != DType::F32 && view->dtype != DType::BF16 &&
          view->dtype != DType::F16) {
        error = "weight '" + name + "' in " + view->file + " has dtype " +
                dtypeName(view->dtype) + "; F32, BF16 or F16 expected";
        return nullptr;
      }
      views.push_back(view);
    }
    // One F32 tensor on a cache line is used where it lies in the mapping
    // (see AlignedBuffer.h for why the line matters).
    if (views.size() == 1 && !slot.hasView() && views[0]->dtype == DType::F32 &&
        reinterpret_cast<uintptr_t>(views[0]->data) %
                CacheLineAllocator<float>::kCacheLine ==
            0) {
      bound->pointers.push_back(
          reinterpret_cast<const float *>(views[0]->data));
      bound->inPlaceBytes += views[0]->bytes;
      continue;
    }
    AlignedFloats buffer(perTensor * views.size());
    for (size_t i = 0; i < views.size(); ++i)
      views[i]->copyToF32(buffer.data() + i * perTensor);
    if (!slot.slice.empty() || !slot.transpose.empty())
      buffer = applyView(buffer, slot);
    if (!slot.pack.empty()) {
      std::vector<int64_t> viewed = slot.viewShape();
      if (slot.pack.size() != 2 || slot.pack[0] < 0 ||
          slot.pack[0] >= static_cast<int64_t>(viewed.size()) ||
          slot.pack[1] < 1) {
        error = "weight slot '" + slot.name + "': malformed pack in manifest";
        return nullptr;
      }
      buffer = applyPack(buffer, viewed, slot.pack[0], slot.pack[1]);
    }
    int64_t expected = 1;
    for (int64_t d : slot.shape)
      expected *= d;
    if (static_cast<int64_t>(buffer.size()) != expected) {
      error = "weight slot '" + slot.name + "': its view gives " +
              std::to_string(buffer.size()) + " values, the manifest's shape " +
              formatShape(slot.shape) + " holds " + std::to_string(expected);
      return nullptr;
    }
    if (slot.dtype == "bf16")
      buffer = narrowToBF16(buffer);
    bound->owned.push_back(std::move(buffer));
    bound->pointers.push_back(bound->owned.back().data());
  }
  return bound;
}

bool BoundEntry::forward(const float *input, float *output, int64_t tokens,
                         std::string &error) const {
  if (tokens < 0) {
    error = "negative token count";
    return false;
  }
  int32_t status = boundEntry->function(pointers.data(), input, output, tokens);
  if (status != 0) {
    error = "entry '" + boundEntry->name + "' failed with status " +
            std::to_string(status);
    return false;
  }
  return true;
}
