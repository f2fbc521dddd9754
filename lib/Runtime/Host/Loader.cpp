//===- Loader.cpp - load compiled moe libraries and bind weights ----------===//

#include "moe/Runtime/Loader.h"
#include "moe/Support/Json.h"
#include "moe/Support/Limits.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <dlfcn.h>
#include <new>
#include <optional>
#include <sys/resource.h>
#include <tuple>
#include <unistd.h>
#include <utility>

using namespace moe;
using namespace moe::runtime;
using json = nlohmann::json;

std::string WeightSlot::tensorName(int64_t expert) const {
  if (!stacked)
    return name;
  std::string result = name;
  size_t at = result.find("{e}");
  result.replace(at, 3, std::to_string(expert));
  return result;
}

std::vector<int64_t> WeightSlot::expertsOf(int32_t rank) const {
  if (!stacked)
    return {0};
  if (!placement.empty())
    return placement[static_cast<size_t>(rank)];
  std::vector<int64_t> experts;
  for (int64_t e = expertBegin; e < expertEnd; ++e)
    experts.push_back(e);
  return experts;
}

int64_t WeightSlot::placementSlots() const {
  size_t most = 0;
  for (const std::vector<int64_t> &experts : placement)
    most = std::max(most, experts.size());
  return static_cast<int64_t>(most);
}

std::vector<int64_t> WeightSlot::viewShape() const {
  std::vector<int64_t> sliced = sourceShape;
  // One tensor of all experts: a rank holds the placement's slots of it.
  if (!stacked && !placement.empty())
    sliced[0] = placementSlots();
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
/// A row-major tensor of `shape` packed along `dim` in panels of `panel`:
/// [.., ceil(N/panel), .., panel] with N = shape[dim], zero past N, as
/// linalg.pack with inner_dims_pos = [dim], inner_tiles = [panel] gives.
/// Element (o, j, i) (o over the dims before `dim`, j along it, i over the
/// dims after it) goes to `at(o, j) + i * panel`. Panels of 1 along dim 0
/// are the row-major tensor itself.
struct PackGeometry {
  PackGeometry(const std::vector<int64_t> &shape, int64_t dim, int64_t panel)
      : n(shape[dim]), panel(panel) {
    for (int64_t d = 0; d < dim; ++d)
      outer *= shape[d];
    for (size_t d = dim + 1; d < shape.size(); ++d)
      inner *= shape[d];
    panels = (n + panel - 1) / panel;
  }
  int64_t packedSize() const { return outer * panels * inner * panel; }
  int64_t at(int64_t o, int64_t j) const {
    return (o * panels + j / panel) * inner * panel + j % panel;
  }
  int64_t outer = 1, inner = 1, n, panel, panels;
};

/// Values of a row read at once, and bytes of a tensor read between two
/// releases of its pages: small next to any weight worth releasing.
constexpr int64_t kRowSegment = 16384;
constexpr size_t kReleaseBytes = size_t(8) << 20;

/// One checkpoint tensor a slot reads: stored as floats, or quantised and
/// dequantised as it is read (QuantizedTensor: no dequantised copy of it
/// exists either).
struct SourceTensor {
  const TensorView *plain = nullptr;
  QuantizedTensor quantized;
  /// Elements are indexed in the order the file stores them
  /// (QuantizedTensor::copyStoredToF32; the slot's view turned to match).
  bool stored = false;

  void read(float *out, int64_t begin, int64_t count) const {
    if (plain)
      plain->copyToF32(out, begin, count);
    else if (stored)
      quantized.copyStoredToF32(out, begin, count);
    else
      quantized.copyToF32(out, begin, count);
  }
  /// The byte of the stored tensor that element `element` starts at, for
  /// releasing pages as reads pass them; 0 when reads do not follow the
  /// storage order (MXFP4 read as the parameter): released at the end only.
  size_t byteOf(int64_t element) const {
    if (plain)
      return static_cast<size_t>(element) * dtypeSize(plain->dtype);
    if (quantized.format == QuantizedTensor::Format::FP8BlockScaled)
      return static_cast<size_t>(element);
    return stored ? static_cast<size_t>(element) / 2 : 0;
  }
  void releasePages(size_t begin, size_t end) const {
    (plain ? plain : quantized.values)->releasePages(begin, end);
  }
  /// Releases the rest, from byte `released` on, once it is all read.
  void releaseRest(size_t released) const {
    const TensorView *values = plain ? plain : quantized.values;
    values->releasePages(released, values->bytes);
    if (!plain)
      quantized.scales->releasePages();
  }
};

/// `slot`'s view of tensors stored with their last two dimensions swapped
/// (QuantizedTensor::storedTransposed): the same view shape and values,
/// read from the stored order, whose rows are contiguous.
WeightSlot viewOfStoredTransposed(const WeightSlot &slot) {
  WeightSlot stored = slot;
  int64_t rank = static_cast<int64_t>(slot.sourceShape.size());
  auto swapped = [&](int64_t d) {
    return d == rank - 1 ? rank - 2 : d == rank - 2 ? rank - 1 : d;
  };
  std::swap(stored.sourceShape[rank - 2], stored.sourceShape[rank - 1]);
  if (!stored.slice.empty())
    stored.slice[0] = swapped(stored.slice[0]);
  stored.transpose.clear();
  for (int64_t d = 0; d < rank; ++d)
    stored.transpose.push_back(
        swapped(slot.transpose.empty() ? d : slot.transpose[d]));
  return stored;
}

/// The slot's checkpoint tensors `tensors` (stacked along the source's
/// first dimension when the slot is stacked) seen through the slot's slice
/// (strided or not) and transpose, packed along its pack dimension
/// (PackGeometry; a slot without a pack is the row-major view, panels of 1
/// along dim 0), as f32 or rounded to bf16, into `out` (zeroed, of the
/// slot's size). Read straight from the mapping in the source's order, a
/// segment of a row at a time, and each tensor's pages are released as the
/// reads pass them: no copy of the source, of the view or of the unpacked
/// weight exists, so that resident memory while binding stays near the
/// bound weights' size (a Llama 4 gate_up_proj sliced to gate and
/// transposed included). With `expertRows`, index i along a single
/// tensor's first dimension reads the tensor's row expertRows[i] (a rank's
/// experts of one tensor of all).
void packSlot(const WeightSlot &slot, const std::vector<SourceTensor> &tensors,
              bool bf16, void *out,
              const std::vector<int64_t> *expertRows = nullptr) {
  const std::vector<int64_t> &source = slot.sourceShape;
  size_t rank = source.size();
  std::vector<int64_t> perm = slot.transpose;
  if (perm.empty())
    for (size_t d = 0; d < rank; ++d)
      perm.push_back(static_cast<int64_t>(d));
  std::vector<int64_t> view = slot.viewShape();
  size_t packDim = slot.pack.empty() ? 0 : static_cast<size_t>(slot.pack[0]);
  int64_t panel = slot.pack.empty() ? 1 : slot.pack[1];
  PackGeometry pack(view, static_cast<int64_t>(packDim), panel);
  int64_t panelBlock = pack.inner * panel;

  // Where an index along view dimension d moves an element in `out`:
  // linearly by stride[d], except along the packed dimension (panel, then
  // place in it).
  std::vector<int64_t> stride(rank, 0);
  for (size_t d = rank, after = 1; d-- > packDim + 1;) {
    stride[d] = static_cast<int64_t>(after) * panel;
    after *= view[d];
  }
  for (size_t d = packDim, before = 1; d-- > 0;) {
    stride[d] = static_cast<int64_t>(before) * pack.panels * panelBlock;
    before *= view[d];
  }
  auto place = [&](size_t d, int64_t i) {
    return d == packDim ? (i / panel) * panelBlock + i % panel : i * stride[d];
  };

  // Each source dimension: the view dimension it becomes, the first index
  // the slice keeps, how many and how far apart; elements of one tensor
  // between indices.
  std::vector<size_t> viewDim(rank);
  for (size_t d = 0; d < rank; ++d)
    viewDim[perm[d]] = d;
  std::vector<int64_t> first(rank, 0), count(rank), step(rank, 1),
      elementStride(rank, 1);
  for (size_t s = 0; s < rank; ++s)
    count[s] = view[viewDim[s]];
  if (!slot.slice.empty()) {
    first[slot.slice[0]] = slot.slice[1];
    step[slot.slice[0]] = slot.sliceStride();
  }
  size_t tensorDims = slot.stacked ? 1 : 0;
  for (size_t s = rank - 1; s-- > tensorDims;)
    elementStride[s] = elementStride[s + 1] * source[s + 1];

  auto *halves = static_cast<uint16_t *>(out);
  auto *floats = static_cast<float *>(out);
  size_t last = rank - 1, lastView = viewDim[last];
  int64_t lastStep = step[last];
  std::vector<float> row(std::min(count[last], kRowSegment));
  // A strided last dimension reads the span of a segment, then picks.
  std::vector<float> span(lastStep == 1 ? 0 : (row.size() - 1) * lastStep + 1);
  // The index (relative to the slice) of every source dimension but the
  // last, odometer-style; the tensor is index 0 of a stacked source.
  std::vector<int64_t> index(rank, 0);
  const SourceTensor *tensor = nullptr;
  size_t released = 0, readEnd = 0;
  while (true) {
    const SourceTensor *current =
        &tensors[slot.stacked ? first[0] + index[0] * step[0] : 0];
    if (current != tensor) {
      if (tensor)
        tensor->releaseRest(released);
      tensor = current;
      released = 0;
    }
    int64_t base = 0, element = 0;
    for (size_t s = 0; s < last; ++s) {
      base += place(viewDim[s], index[s]);
      if (s >= tensorDims)
        element += (s == 0 && expertRows ? (*expertRows)[index[0]]
                                         : first[s] + index[s] * step[s]) *
                   elementStride[s];
    }
    for (int64_t begin = 0; begin < count[last]; begin += kRowSegment) {
      int64_t n = std::min(kRowSegment, count[last] - begin);
      int64_t from = element + first[last] + begin * lastStep;
      if (lastStep == 1) {
        tensor->read(row.data(), from, n);
      } else {
        tensor->read(span.data(), from, (n - 1) * lastStep + 1);
        for (int64_t k = 0; k < n; ++k)
          row[k] = span[k * lastStep];
      }
      readEnd = tensor->byteOf(from + (n - 1) * lastStep + 1);
      // Consecutive values of the row go `step` apart, or fill a panel
      // and then move to the next one when the row runs along the packed
      // dimension.
      int64_t at = base + place(lastView, begin);
      if (lastView == packDim) {
        int64_t j = begin % panel;
        for (int64_t k = 0; k < n; ++k) {
          if (bf16)
            halves[at] = floatToBF16(row[k]);
          else
            floats[at] = row[k];
          if (++j == panel) {
            j = 0;
            at += panelBlock - panel + 1;
          } else {
            ++at;
          }
        }
      } else {
        int64_t outStep = stride[lastView];
        if (bf16)
          for (int64_t k = 0; k < n; ++k, at += outStep)
            halves[at] = floatToBF16(row[k]);
        else
          for (int64_t k = 0; k < n; ++k, at += outStep)
            floats[at] = row[k];
      }
    }
    if (readEnd >= released + kReleaseBytes) {
      tensor->releasePages(released, readEnd);
      released = readEnd;
    }
    size_t s = last;
    while (s-- > 0 && ++index[s] == count[s])
      index[s] = 0;
    if (s == static_cast<size_t>(-1))
      break;
  }
  tensor->releaseRest(released);
}
} // namespace

namespace {
/// What the manifest says, read strictly: nlohmann's get<int64_t>() would
/// truncate 2.5 and wrap 2^64 - 1, and value() throws on a wrong type.
/// Each reader sets `error` to "<where>: <what>" and returns false.
class ManifestReader {
public:
  explicit ManifestReader(std::string &error) : error(error) {}

  bool fail(const std::string &where, const std::string &what) {
    error = where.empty() ? what : where + ": " + what;
    return false;
  }

  /// Manifest text echoed in a message, kept short (it may be hostile).
  static std::string clip(const std::string &text) {
    return text.size() > 40 ? text.substr(0, 37) + "..." : text;
  }
  static std::string brief(const json &value) { return clip(value.dump()); }

  static bool isInt64(const json &value) {
    return value.is_number_integer() &&
           !(value.is_number_unsigned() &&
             value.get<uint64_t>() > uint64_t(INT64_MAX));
  }

  bool readInt(const json &object, const char *key, int64_t lo, int64_t hi,
               int64_t &out, const std::string &where) {
    auto it = object.find(key);
    if (it == object.end())
      return fail(where, std::string("needs an integer \"") + key + "\"");
    if (!isInt64(*it))
      return fail(where, std::string("\"") + key +
                             "\" must be an integer, got " + brief(*it));
    out = it->get<int64_t>();
    if (out < lo || out > hi)
      return fail(where, std::string("\"") + key + "\" is " +
                             std::to_string(out) + ", not in [" +
                             std::to_string(lo) + ", " + std::to_string(hi) +
                             "]");
    return true;
  }

  /// A string; `fallback` (when given) if the key is absent.
  bool readString(const json &object, const char *key, std::string &out,
                  const std::string &where, const char *fallback = nullptr) {
    auto it = object.find(key);
    if (it == object.end() && fallback) {
      out = fallback;
      return true;
    }
    if (it == object.end() || !it->is_string())
      return fail(where, std::string("needs a string \"") + key + "\"" +
                             (it == object.end() ? "" : ", got " + brief(*it)));
    out = it->get<std::string>();
    return true;
  }

  /// A boolean; false when absent.
  bool readBool(const json &object, const char *key, bool &out,
                const std::string &where) {
    auto it = object.find(key);
    out = false;
    if (it == object.end())
      return true;
    if (!it->is_boolean())
      return fail(where, std::string("\"") + key +
                             "\" must be true or false, got " + brief(*it));
    out = it->get<bool>();
    return true;
  }

  /// A list of at most `maxSize` integers; an absent one is empty unless
  /// `required`.
  bool readIntList(const json &object, const char *key, size_t maxSize,
                   std::vector<int64_t> &out, const std::string &where,
                   bool required = false) {
    out.clear();
    auto it = object.find(key);
    if (it == object.end()) {
      if (required)
        return fail(where, std::string("needs a list \"") + key + "\"");
      return true;
    }
    if (!it->is_array())
      return fail(where, std::string("\"") + key + "\" must be a list, got " +
                             brief(*it));
    if (it->size() > maxSize)
      return fail(where, std::string("\"") + key + "\" has " +
                             std::to_string(it->size()) + " items, more than " +
                             std::to_string(maxSize));
    for (const json &item : *it) {
      if (!isInt64(item))
        return fail(where, std::string("\"") + key +
                               "\" must hold integers, got " + brief(item));
      out.push_back(item.get<int64_t>());
    }
    return true;
  }

  /// Rank, each size and the product bounded; sizes positive.
  bool checkShape(const std::vector<int64_t> &shape, const char *key,
                  const std::string &where) {
    for (int64_t d : shape)
      if (d < 1 || d > limits::kMaxTensorElements)
        return fail(where,
                    std::string("\"") + key + "\" " + formatShape(shape) +
                        " has a size " + std::to_string(d) + " outside [1, " +
                        std::to_string(limits::kMaxTensorElements) + "]");
    int64_t count;
    if (!limits::checkedProduct(shape, limits::kMaxTensorElements, count))
      return fail(where, std::string("\"") + key + "\" " + formatShape(shape) +
                             " holds more than " +
                             std::to_string(limits::kMaxTensorElements) +
                             " elements");
    return true;
  }

  /// "placement": one list of experts per rank, each at most the slots.
  bool readPlacement(const json &w, WeightSlot &slot,
                     const std::string &where) {
    const json &ranks = w["placement"];
    if (!ranks.is_array() || ranks.empty() ||
        ranks.size() > static_cast<size_t>(limits::kMaxRanks))
      return fail(where, "\"placement\" must list the experts of 1 to " +
                             std::to_string(limits::kMaxRanks) + " ranks");
    for (size_t r = 0; r < ranks.size(); ++r) {
      std::vector<int64_t> experts;
      json holder = {{"experts", ranks[r]}};
      if (!readIntList(holder, "experts", limits::kMaxExperts, experts,
                       where + " placement rank " + std::to_string(r),
                       /*required=*/true))
        return false;
      if (experts.empty())
        return fail(where, "placement rank " + std::to_string(r) +
                               " holds no expert");
      for (int64_t e : experts)
        if (e < 0 || e >= limits::kMaxExperts)
          return fail(where, "placement rank " + std::to_string(r) +
                                 ": expert " + std::to_string(e) +
                                 " is not in [0, " +
                                 std::to_string(limits::kMaxExperts) + ")");
      slot.placement.push_back(std::move(experts));
    }
    return true;
  }

  bool readSlot(const json &w, const std::string &entryWhere, size_t index,
                WeightSlot &slot);
  /// "stored_shape" and "either_orientation", once the view is checked.
  bool readStoredLayout(const json &w, WeightSlot &slot,
                        const std::string &where);
  bool readEntry(const json &e, size_t index, Entry &entry);

  /// The library's MOE_TARGET_*, read before its entries.
  int32_t target = MOE_TARGET_CPU;

private:
  std::string &error;
};

/// Entry names become symbols ("moe_entry_<name>_init") and JSON strings
/// (--timing-json): no quotes, spaces or control characters.
bool isSaneName(const std::string &name) {
  if (name.empty() || name.size() > 1024)
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' &&
        c != '$' && c != '-')
      return false;
  return true;
}

bool ManifestReader::readSlot(const json &w, const std::string &entryWhere,
                              size_t index, WeightSlot &slot) {
  std::string where = entryWhere + " weight #" + std::to_string(index);
  if (!w.is_object())
    return fail(where, "is not an object");
  if (!readString(w, "name", slot.name, where))
    return false;
  if (slot.name.empty())
    return fail(where, "has an empty name");
  where = entryWhere + " weight '" + slot.name + "'";
  std::string layout;
  if (!readString(w, "layout", layout, where))
    return false;
  if (layout != "stacked" && layout != "single")
    return fail(where, "layout '" + layout + "' is not 'stacked' or 'single'");
  slot.stacked = layout == "stacked";
  size_t first = slot.name.find("{e}");
  size_t marks =
      first == std::string::npos
          ? 0
          : 1 + (slot.name.find("{e}", first + 3) != std::string::npos);
  if (slot.stacked && marks != 1)
    return fail(where, "a stacked name must hold \"{e}\" exactly once");
  if (!slot.stacked && marks != 0)
    return fail(where, "a single tensor's name holds \"{e}\"");

  if (!readIntList(w, "shape", limits::kMaxRank, slot.shape, where,
                   /*required=*/true) ||
      !checkShape(slot.shape, "shape", where))
    return false;
  if (!readString(w, "dtype", slot.dtype, where, "f32"))
    return false;
  if (!readIntList(w, "source_shape", limits::kMaxRank, slot.sourceShape,
                   where) ||
      !readIntList(w, "slice", 4, slot.slice, where) ||
      !readIntList(w, "transpose", limits::kMaxRank, slot.transpose, where) ||
      !readIntList(w, "pack", 2, slot.pack, where) ||
      !readIntList(w, "stored_shape", limits::kMaxRank, slot.storedShape,
                   where) ||
      !readBool(w, "either_orientation", slot.eitherOrientation, where))
    return false;
  // Present means applied: an empty list is malformed, not "none".
  if (w.contains("slice") && slot.slice.size() != 3 && slot.slice.size() != 4)
    return fail(where, "\"slice\" must be [dim, offset, size], got " +
                           formatShape(slot.slice) +
                           " (or [dim, offset, size, stride])");
  if (w.contains("pack") && slot.pack.size() != 2)
    return fail(where, "\"pack\" must be [dim, panel width], got " +
                           formatShape(slot.pack));
  if (w.contains("stored_shape") && slot.storedShape.empty())
    return fail(where, "\"stored_shape\" must list the sizes of the stored "
                       "tensor, got []");
  if (w.contains("stored_shape") &&
      !checkShape(slot.storedShape, "stored_shape", where))
    return false;
  // An expert table (routing by token id): one tensor bound as it lies,
  // its values checked against "index_bound" at bind time.
  if (slot.dtype == "i32") {
    if (slot.stacked || slot.shape.size() != 2 || w.contains("source_shape") ||
        w.contains("slice") || w.contains("transpose") || w.contains("pack") ||
        w.contains("stored_shape") || w.contains("either_orientation") ||
        w.contains("placement") || target == MOE_TARGET_CUDA)
      return fail(where, "an i32 slot (an expert table) must be a single "
                         "[V, K] tensor without view or placement, in a cpu "
                         "library");
    if (!readInt(w, "index_bound", 1, limits::kMaxExperts, slot.indexBound,
                 where))
      return false;
  } else if (w.contains("index_bound")) {
    return fail(where, "\"index_bound\" belongs to i32 slots");
  }
  // CUDA libraries keep their weights as bf16 rows; CPU code reads bf16
  // only from packed panels.
  if (slot.dtype != "f32" && slot.dtype != "i32" &&
      !(slot.dtype == "bf16" &&
        (!slot.pack.empty() || target == MOE_TARGET_CUDA)))
    return fail(where, "dtype '" + slot.dtype +
                           "' is not one the runtime binds (f32, bf16 when "
                           "packed or in a cuda library, i32 for an expert "
                           "table)");
  if (!w.contains("source_shape"))
    slot.sourceShape = slot.shape;
  else if (!checkShape(slot.sourceShape, "source_shape", where))
    return false;
  const std::vector<int64_t> &source = slot.sourceShape;

  if (slot.stacked && w.contains("placement")) {
    if (!readPlacement(w, slot, where))
      return false;
    if (source.size() < 2 || source[0] != slot.placementSlots())
      return fail(where, "stacked source shape " + formatShape(source) +
                             " must lead with the placement's " +
                             std::to_string(slot.placementSlots()) +
                             " slots and hold a tensor's dimensions after "
                             "them");
  } else if (slot.stacked) {
    std::vector<int64_t> experts;
    if (!readIntList(w, "experts", 2, experts, where, /*required=*/true))
      return false;
    if (experts.size() != 2 || experts[0] < 0 || experts[0] >= experts[1] ||
        experts[1] > limits::kMaxExperts)
      return fail(where, "\"experts\" must be [begin, end) with 0 <= begin < "
                         "end <= " +
                             std::to_string(limits::kMaxExperts) + ", got " +
                             formatShape(experts));
    slot.expertBegin = experts[0];
    slot.expertEnd = experts[1];
    if (source.size() < 2 || source[0] != slot.expertEnd - slot.expertBegin)
      return fail(where, "stacked source shape " + formatShape(source) +
                             " must lead with the " +
                             std::to_string(slot.expertEnd - slot.expertBegin) +
                             " experts of " + formatShape(experts) +
                             " and hold a tensor's dimensions after them");
  } else if (w.contains("placement")) {
    // One tensor holding every expert along its first dimension (Llama 4's
    // fused experts): a rank reads its experts' rows of it.
    if (!readPlacement(w, slot, where))
      return false;
    int64_t largest = 0;
    for (const std::vector<int64_t> &experts : slot.placement)
      for (int64_t e : experts)
        largest = std::max(largest, e);
    if (source.size() < 2 || source[0] <= largest)
      return fail(where, "source shape " + formatShape(source) +
                             " must lead with the experts the placement "
                             "names (expert " +
                             std::to_string(largest) + " included)");
    if ((!slot.slice.empty() && slot.slice[0] == 0) ||
        (!slot.transpose.empty() && slot.transpose[0] != 0))
      return fail(where, "a placed tensor's first dimension holds the "
                         "experts: no slice along it, and it stays first");
  }

  int64_t rank = static_cast<int64_t>(source.size());
  if (!slot.slice.empty()) {
    const std::vector<int64_t> &slice = slot.slice;
    // The last index kept, offset + (size - 1) * stride, inside the
    // dimension; compared by division so that nothing overflows.
    int64_t stride = slot.sliceStride();
    if (slice[0] < 0 || slice[0] >= rank || slice[1] < 0 || slice[2] < 1 ||
        stride < 1 || slice[1] >= source[slice[0]] ||
        (slice[2] - 1) > (source[slice[0]] - 1 - slice[1]) / stride)
      return fail(
          where,
          "\"slice\" " + formatShape(slice) + " is not [dim, " +
              (slice.size() == 4 ? "offset, size, stride" : "offset, size") +
              "] within the source shape " + formatShape(source));
  }
  if (w.contains("transpose")) {
    std::vector<bool> seen(rank, false);
    bool isPermutation = static_cast<int64_t>(slot.transpose.size()) == rank;
    for (int64_t d : slot.transpose) {
      isPermutation = isPermutation && d >= 0 && d < rank && !seen[d];
      if (isPermutation)
        seen[d] = true;
    }
    if (!isPermutation)
      return fail(where, "\"transpose\" " + formatShape(slot.transpose) +
                             " is not a permutation of " +
                             std::to_string(rank) + " dimensions");
  }
  // Slice and transpose are valid: the loader's own view shape applies.
  std::vector<int64_t> viewed = slot.viewShape();
  if (!slot.pack.empty()) {
    const std::vector<int64_t> &pack = slot.pack;
    if (pack[0] < 0 || pack[0] >= rank || pack[1] < 1 ||
        pack[1] > limits::kMaxTensorElements)
      return fail(where, "\"pack\" " + formatShape(pack) +
                             " is not [dim, panel width] within rank " +
                             std::to_string(rank));
    viewed[pack[0]] = (viewed[pack[0]] + pack[1] - 1) / pack[1];
    viewed.push_back(pack[1]);
  }
  if (viewed != slot.shape)
    return fail(where, "source shape " + formatShape(source) +
                           " with its slice, transpose and pack gives " +
                           formatShape(viewed) + ", not the shape " +
                           formatShape(slot.shape));
  return readStoredLayout(w, slot, where);
}

bool ManifestReader::readStoredLayout(const json &w, WeightSlot &slot,
                                      const std::string &where) {
  // Each tensor's shape is bounded (checkShape): these products fit.
  std::vector<int64_t> tensor = slot.tensorShape();
  if (!slot.storedShape.empty()) {
    int64_t storedCount = 1, tensorCount = 1;
    for (int64_t d : slot.storedShape)
      storedCount *= d;
    for (int64_t d : tensor)
      tensorCount *= d;
    if (storedCount != tensorCount)
      return fail(where, "\"stored_shape\" " + formatShape(slot.storedShape) +
                             " holds " + std::to_string(storedCount) +
                             " elements, not the " +
                             std::to_string(tensorCount) + " of " +
                             formatShape(tensor) +
                             " (a reshape keeps every element)");
  }
  if (slot.eitherOrientation &&
      (tensor.size() < 2 || w.contains("stored_shape") ||
       (!slot.stacked && !slot.placement.empty() && tensor.size() < 3)))
    return fail(where, "\"either_orientation\" needs a tensor of two "
                       "dimensions or more (three when placed) and no "
                       "\"stored_shape\"");
  return true;
}

bool ManifestReader::readEntry(const json &e, size_t index, Entry &entry) {
  std::string where = "entry #" + std::to_string(index);
  if (!e.is_object())
    return fail(where, "is not an object");
  if (!readString(e, "name", entry.name, where))
    return false;
  if (!isSaneName(entry.name))
    return fail(where, "name '" + entry.name +
                           "' must be 1 to 1024 letters, digits, '_', '.', "
                           "'$' or '-'");
  where = "entry '" + entry.name + "'";
  // The ABI names the functions after the entry; any other symbol could be
  // anything the library links, libc included.
  auto symbols = e.find("symbols");
  if (symbols == e.end() || !symbols->is_object())
    return fail(where, "needs an object \"symbols\" (init, forward, destroy)");
  std::string prefix = MOE_ENTRY_SYMBOL_PREFIX + entry.name;
  for (auto [key, suffix, symbol] :
       {std::make_tuple("init", MOE_ENTRY_INIT_SUFFIX, &entry.initSymbol),
        std::make_tuple("forward", MOE_ENTRY_FORWARD_SUFFIX,
                        &entry.forwardSymbol),
        std::make_tuple("destroy", MOE_ENTRY_DESTROY_SUFFIX,
                        &entry.destroySymbol)}) {
    if (!readString(*symbols, key, *symbol, where + " symbols"))
      return false;
    if (*symbol != prefix + suffix)
      return fail(where, std::string(key) + " symbol '" + clip(*symbol) +
                             "' is not '" + prefix + suffix + "'");
  }
  if (!readString(e, "kind", entry.kind, where, MOE_ENTRY_KIND_FORWARD) ||
      !readInt(e, "hidden", 1, limits::kMaxHidden, entry.hidden, where) ||
      (e.contains("ranks") &&
       !readInt(e, "ranks", 1, limits::kMaxRanks, entry.ranks, where)) ||
      (e.contains("token_ids") && !readInt(e, "token_ids", 1, limits::kMaxVocab,
                                           entry.tokenIdBound, where)))
    return false;
  if (entry.kind == MOE_ENTRY_KIND_ROUTING_STATS) {
    if (!readString(e, "of", entry.statsOf, where) ||
        !readInt(e, "outputs", 1 + MOE_ROUTING_STATS_TAIL,
                 limits::kMaxExperts + MOE_ROUTING_STATS_TAIL, entry.outputSize,
                 where))
      return false;
  } else if (entry.kind != MOE_ENTRY_KIND_FORWARD) {
    return fail(where, "unknown kind '" + entry.kind +
                           "' (expected 'forward' or 'routing_stats')");
  }
  auto weights = e.find("weights");
  if (weights == e.end() || !weights->is_array())
    return fail(where, "needs a list \"weights\"");
  for (size_t i = 0; i < weights->size(); ++i) {
    WeightSlot slot;
    if (!readSlot((*weights)[i], where, i, slot))
      return false;
    // One list per rank of the entry, and a placement only with ranks:
    // a library of one rank may run on any rank of a data-parallel job.
    if (!slot.placement.empty() &&
        (entry.ranks < 2 ||
         static_cast<int64_t>(slot.placement.size()) != entry.ranks))
      return fail(where + " weight '" + slot.name + "'",
                  entry.ranks < 2
                      ? std::string("\"placement\" needs an entry of "
                                    "\"ranks\" 2 or more")
                      : "\"placement\" lists " +
                            std::to_string(slot.placement.size()) +
                            " ranks but the entry has \"ranks\" " +
                            std::to_string(entry.ranks));
    entry.weights.push_back(std::move(slot));
  }
  // Ids index the entry's tables: at most the rows of each.
  bool hasTable = false;
  for (const WeightSlot &slot : entry.weights) {
    if (slot.dtype != "i32")
      continue;
    hasTable = true;
    if (entry.tokenIdBound > slot.shape[0])
      return fail(where, "\"token_ids\" " + std::to_string(entry.tokenIdBound) +
                             " exceeds the rows of expert table '" + slot.name +
                             "' " + formatShape(slot.shape));
  }
  if (entry.tokenIdBound && !hasTable)
    return fail(where, "\"token_ids\" needs an expert table (an i32 slot)");
  return true;
}
} // namespace

bool runtime::parseManifest(const std::string &text,
                            std::vector<Entry> &entries, std::string &error,
                            bool *foreign) {
  ManifestReader reader(error);
  if (foreign)
    *foreign = false;
  std::string parseError;
  json manifest =
      parseBoundedJson(text.data(), text.size(), /*what=*/"", parseError);
  if (manifest.is_discarded())
    return reader.fail("", parseError);
  // Format first: another format may say its target differently, or not
  // at all. Both are checked before anything else is read, so that a
  // library of another format or target is named as such rather than
  // reported as malformed by the rules of this one.
  int64_t format;
  if (!reader.readInt(manifest, "format", INT64_MIN, INT64_MAX, format, ""))
    return false;
  if (format != MOE_MANIFEST_FORMAT) {
    if (foreign)
      *foreign = true;
    if (format >= 1 && format < MOE_MANIFEST_FORMAT)
      return reader.fail("", "built for manifest format " +
                                 std::to_string(format) +
                                 "; rebuild it with this moe-compile");
    return reader.fail("", "manifest format " + std::to_string(format) +
                               "; this loader reads format " +
                               std::to_string(MOE_MANIFEST_FORMAT));
  }
  std::string target;
  if (!reader.readString(manifest, "target", target, ""))
    return false;
  if (target != MOE_MANIFEST_TARGET && target != MOE_MANIFEST_TARGET_CUDA) {
    if (foreign)
      *foreign = true;
    return reader.fail("", "built for target '" + ManifestReader::clip(target) +
                               "'; this loader runs '" MOE_MANIFEST_TARGET
                               "' and '" MOE_MANIFEST_TARGET_CUDA
                               "' libraries");
  }
  reader.target =
      target == MOE_MANIFEST_TARGET_CUDA ? MOE_TARGET_CUDA : MOE_TARGET_CPU;
  auto list = manifest.find("entries");
  if (list == manifest.end() || !list->is_array() || list->empty())
    return reader.fail("", "needs a non-empty list \"entries\"");
  std::vector<Entry> parsed;
  try {
    for (size_t i = 0; i < list->size(); ++i) {
      Entry entry;
      entry.target = reader.target;
      if (!reader.readEntry((*list)[i], i, entry))
        return false;
      for (const Entry &other : parsed)
        if (other.name == entry.name)
          return reader.fail("entry '" + entry.name + "'", "appears twice");
      parsed.push_back(std::move(entry));
    }
  } catch (const std::exception &e) {
    // The readers check every type first; this is only a safety net.
    return reader.fail("", std::string("malformed: ") + e.what());
  }
  for (const Entry &stats : parsed) {
    if (stats.kind != MOE_ENTRY_KIND_ROUTING_STATS)
      continue;
    std::string where = "entry '" + stats.name + "'";
    const Entry *of = nullptr;
    for (const Entry &entry : parsed)
      if (entry.kind == MOE_ENTRY_KIND_FORWARD && entry.name == stats.statsOf)
        of = &entry;
    if (!of)
      return reader.fail(where, "\"of\" names no forward entry: '" +
                                    stats.statsOf + "'");
    if (of->hidden != stats.hidden)
      return reader.fail(where, "hidden " + std::to_string(stats.hidden) +
                                    " differs from entry '" + of->name +
                                    "' hidden " + std::to_string(of->hidden));
    for (const Entry &other : parsed)
      if (&other != &stats && other.kind == MOE_ENTRY_KIND_ROUTING_STATS &&
          other.statsOf == stats.statsOf)
        return reader.fail(where, "entry '" + stats.statsOf +
                                      "' has a second statistics entry '" +
                                      other.name + "'");
  }
  entries = std::move(parsed);
  return true;
}

std::unique_ptr<Library> Library::open(const std::string &path,
                                       std::string &error) {
  // dlopen would block on a FIFO like any open(); refuse anything but a
  // regular file first.
  int fd = limits::openRegularFile(path, error);
  if (fd < 0)
    return nullptr;
  ::close(fd);
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
  const char *text = manifest();
  size_t length =
      text ? strnlen(text, static_cast<size_t>(limits::kMaxJsonBytes) + 1) : 0;
  if (!text || length > static_cast<size_t>(limits::kMaxJsonBytes)) {
    error = path + ": manifest: " +
            (text ? "longer than " + std::to_string(limits::kMaxJsonBytes) +
                        " bytes"
                  : std::string(MOE_MANIFEST_SYMBOL "() returned null"));
    return nullptr;
  }
  library->manifestText.assign(text, length);
  bool foreign;
  if (!parseManifest(library->manifestText, library->entryList, error,
                     &foreign)) {
    // A library for another target or format is sound, just not ours:
    // say that, not that its manifest is broken.
    error = path + (foreign ? ": " : ": manifest: ") + error;
    return nullptr;
  }
  for (Entry &entry : library->entryList) {
    for (auto [symbol, function] :
         {std::make_pair(&entry.initSymbol,
                         reinterpret_cast<void **>(&entry.init)),
          std::make_pair(&entry.forwardSymbol,
                         reinterpret_cast<void **>(&entry.forward)),
          std::make_pair(&entry.destroySymbol,
                         reinterpret_cast<void **>(&entry.destroy))}) {
      *function = dlsym(library->handle, symbol->c_str());
      if (!*function) {
        error = path + ": entry '" + entry.name + "' has no symbol " + *symbol;
        return nullptr;
      }
    }
    // Why a device failed, from a CUDA library (its embedded runtime).
    if (entry.target == MOE_TARGET_CUDA)
      entry.errorMessage = reinterpret_cast<moe_error_message_fn>(
          dlsym(library->handle, MOE_ERROR_MESSAGE_SYMBOL));
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
    if (entry.name == name && entry.kind != MOE_ENTRY_KIND_FORWARD) {
      error = "'" + name + "' is the routing-statistics entry of '" +
              entry.statsOf + "', not a forward entry";
      return nullptr;
    }
    if (entry.kind != MOE_ENTRY_KIND_FORWARD)
      continue;
    if (entry.name == name)
      return &entry;
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

int32_t Library::target() const {
  return entryList.empty() ? MOE_TARGET_CPU : entryList.front().target;
}

const Entry *Library::findStatsEntry(const std::string &name) const {
  for (const Entry &entry : entryList)
    if (entry.kind == MOE_ENTRY_KIND_ROUTING_STATS && entry.statsOf == name)
      return &entry;
  return nullptr;
}

namespace {
/// Where a missing weight was looked for: the file, or the index and its
/// first shards.
std::string searched(const Checkpoint &checkpoint) {
  std::vector<std::string> files = checkpoint.filePaths();
  // One file, or tensors in memory (Checkpoint::fromMemory: the label).
  if (files.empty() ||
      (files.size() == 1 && files[0] == checkpoint.path()))
    return "searched " + checkpoint.path();
  const std::string &index = checkpoint.path();
  std::string dir = index.substr(0, index.find_last_of('/') + 1);
  std::string text = "searched the " + std::to_string(files.size()) + " shard" +
                     (files.size() == 1 ? "" : "s") + " of " + index;
  constexpr size_t kListed = 3;
  for (size_t i = 0; i < files.size() && i < kListed; ++i)
    text += (i ? ", " : ": ") + files[i].substr(dir.size());
  if (files.size() > kListed)
    text += " and " + std::to_string(files.size() - kListed) + " more";
  return text;
}
} // namespace

size_t runtime::peakResidentBytes() {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0 || usage.ru_maxrss < 0)
    return 0;
  // Linux counts kilobytes (macOS would count bytes).
  return static_cast<size_t>(usage.ru_maxrss) * 1024;
}

WeightBuffer WeightBuffer::allocate(const moe_context &context, size_t bytes) {
  constexpr size_t kAlignment = CacheLineAllocator<float>::kCacheLine;
  WeightBuffer buffer;
  size_t size = bytes ? bytes : 1;
  if (context.alloc) {
    buffer.pointer = context.alloc(context.user, size, kAlignment);
    buffer.freeHook = context.free;
    buffer.user = context.user;
  } else {
    try {
      buffer.pointer = CacheLineAllocator<unsigned char>().allocate(size);
    } catch (const std::bad_alloc &) {
    }
  }
  if (buffer.pointer) {
    std::memset(buffer.pointer, 0, size);
    buffer.bytes = bytes;
  }
  return buffer;
}

WeightBuffer &WeightBuffer::operator=(WeightBuffer &&other) noexcept {
  if (this != &other) {
    reset();
    std::swap(pointer, other.pointer);
    std::swap(bytes, other.bytes);
    std::swap(freeHook, other.freeHook);
    std::swap(user, other.user);
  }
  return *this;
}

void WeightBuffer::reset() {
  if (pointer) {
    if (freeHook)
      freeHook(user, pointer);
    else
      CacheLineAllocator<unsigned char>().deallocate(
          static_cast<unsigned char *>(pointer), bytes);
  }
  pointer = nullptr;
  bytes = 0;
}

namespace {
/// The context a bind runs with: checked as the generated init checks it,
/// so that a bad one is a message naming the field rather than a status.
bool checkContext(const moe_context &context, int32_t target,
                  std::string &error) {
  if (context.abi_version != MOE_ABI_VERSION) {
    error = "context: abi_version " + std::to_string(context.abi_version) +
            "; this runtime is version " + std::to_string(MOE_ABI_VERSION);
    return false;
  }
  if (context.target != target) {
    error = "context: target " + std::to_string(context.target) +
            "; the library's is " +
            (target == MOE_TARGET_CUDA ? "MOE_TARGET_CUDA (a cuda library)"
                                       : "MOE_TARGET_CPU (a cpu library)");
    return false;
  }
  if (context.num_threads < 0 || context.num_threads > limits::kMaxThreads) {
    error = "thread count " + std::to_string(context.num_threads) +
            " is not in [0, " + std::to_string(limits::kMaxThreads) + "]";
    return false;
  }
  if (context.size < 1 || context.rank < 0 || context.rank >= context.size) {
    error = "context: rank " + std::to_string(context.rank) + " of " +
            std::to_string(context.size) + " ranks";
    return false;
  }
  if (context.communicator && (context.communicator->rank != context.rank ||
                               context.communicator->size != context.size)) {
    error = "context: the communicator is rank " +
            std::to_string(context.communicator->rank) + " of " +
            std::to_string(context.communicator->size) +
            ", the context rank " + std::to_string(context.rank) + " of " +
            std::to_string(context.size);
    return false;
  }
  if (!context.alloc != !context.free) {
    error = "context: give both allocator hooks (alloc and free) or neither";
    return false;
  }
  return true;
}

/// What a CUDA library says about a MOE_STATUS_DEVICE failure on this
/// thread (moe_error_message), kept short; empty for other failures.
std::string deviceMessage(const Entry &entry, int32_t status) {
  if (status != MOE_STATUS_DEVICE || !entry.errorMessage)
    return "";
  const char *text = entry.errorMessage();
  if (!text)
    return "";
  return std::string(text, strnlen(text, 1024));
}

/// Copies expert table `view` (I32 or I64, the slot's [V, K]) into `out`
/// as int32, checking that every value is an expert id in [0, bound).
bool copyExpertTable(const WeightSlot &slot, const TensorView &view,
                     int32_t *out, std::string &error) {
  size_t width = view.dtype == DType::I64 ? 8 : 4;
  int64_t numColumns = slot.shape[1];
  for (int64_t i = 0; i < view.numElements(); ++i) {
    int64_t value;
    if (width == 8) {
      std::memcpy(&value, view.data + 8 * i, 8);
    } else {
      int32_t narrow;
      std::memcpy(&narrow, view.data + 4 * i, 4);
      value = narrow;
    }
    if (value < 0 || value >= slot.indexBound) {
      error = "expert table '" + view.name + "' in " + view.file + ": entry [" +
              std::to_string(i / numColumns) + ", " +
              std::to_string(i % numColumns) + "] is " + std::to_string(value) +
              ", not an expert id in [0, " + std::to_string(slot.indexBound) +
              ")";
      return false;
    }
    out[i] = static_cast<int32_t>(value);
  }
  return true;
}

/// Checks checkpoint tensor `view` (named `name`) against the shape `slot`
/// expects of it; `transposed` says whether it holds that shape with its
/// last two dimensions swapped (allowed with slot.eitherOrientation).
bool matchStoredShape(const WeightSlot &slot, const TensorView &view,
                      const std::string &name, bool &transposed,
                      std::string &error) {
  std::vector<int64_t> expected = slot.checkpointShape(), swapped = expected;
  transposed = false;
  std::string where = "weight '" + name + "' in " + view.file;
  if (slot.eitherOrientation) {
    size_t rank = swapped.size();
    std::swap(swapped[rank - 2], swapped[rank - 1]);
    if (view.shape == expected && swapped == expected) {
      error = where + " has shape " + formatShape(view.shape) +
              ": its last two dimensions are equal, so whether it is stored " +
              "as moec reads it or transposed (as published checkpoints " +
              "store fused experts) cannot be told from its shape (a fused " +
              "gate_up_proj with H == 2F, a down_proj with H == F); moec " +
              "refuses to guess";
      return false;
    }
    if (view.shape == swapped) {
      transposed = true;
      return true;
    }
  }
  if (view.shape == expected)
    return true;
  error = where + " has shape " + formatShape(view.shape) + ", expected " +
          formatShape(expected);
  if (slot.eitherOrientation)
    error += " or, transposed, " + formatShape(swapped);
  if (!slot.storedShape.empty())
    error += " (read as " + formatShape(slot.tensorShape()) + ")";
  return false;
}

moe_weight_buffer describe(const WeightSlot &slot, const void *data) {
  moe_weight_buffer buffer{};
  buffer.data = data;
  buffer.dtype = slot.dtype == "bf16"  ? MOE_DTYPE_BF16
                 : slot.dtype == "i32" ? MOE_DTYPE_I32
                                       : MOE_DTYPE_F32;
  buffer.rank = static_cast<int32_t>(slot.shape.size());
  for (size_t d = 0; d < slot.shape.size(); ++d)
    buffer.shape[d] = slot.shape[d];
  return buffer;
}
} // namespace

moe_context moe::runtime::defaultContext(const Entry &entry) {
  moe_context context;
  if (entry.target == MOE_TARGET_CUDA)
    moe_context_init_cuda(&context, 0);
  else
    moe_context_init_cpu(&context);
  return context;
}

std::unique_ptr<BoundEntry> BoundEntry::bind(const Entry &entry,
                                             const Checkpoint &checkpoint,
                                             std::string &error,
                                             const moe_context *context,
                                             int32_t *initStatus,
                                             const BindProgress &progress) {
  auto start = std::chrono::steady_clock::now();
  if (initStatus)
    *initStatus = MOE_STATUS_OK;
  std::unique_ptr<BoundEntry> bound(new BoundEntry());
  bound->boundEntry = &entry;
  bound->boundContext = context ? *context : defaultContext(entry);
  const moe_context &ctx = bound->boundContext;
  if (!checkContext(ctx, entry.target, error))
    return nullptr;
  if (entry.ranks != 1 && (entry.ranks != ctx.size || !ctx.communicator)) {
    error = "entry '" + entry.name + "' was compiled for " +
            std::to_string(entry.ranks) + " ranks of expert parallelism; " +
            (entry.ranks != ctx.size
                 ? "this process is one of " + std::to_string(ctx.size) +
                       " (run it under mpirun -np " +
                       std::to_string(entry.ranks) + ")"
                 : std::string("the context has no communicator"));
    return nullptr;
  }
  BindStats &stats = bound->stats;
  stats.slots = entry.weights.size();
  stats.mappedBytes = checkpoint.mappedBytes();
  std::vector<moe_weight_buffer> buffers;
  for (const WeightSlot &slot : entry.weights) {
    if (progress)
      progress(buffers.size(), entry.weights.size());
    // Shapes are bounded by parseManifest: these products cannot overflow.
    std::vector<int64_t> shape = slot.tensorShape();
    // One tensor of all experts, of which this rank binds its own rows.
    std::vector<int64_t> rows;
    if (!slot.stacked && !slot.placement.empty())
      rows = slot.placement[static_cast<size_t>(ctx.rank)];
    std::vector<SourceTensor> sources;
    // Whether the tensors are stored transposed (eitherOrientation), and
    // the first one that said so or not: a stack must agree.
    std::optional<bool> transposed;
    std::string decidedBy;
    for (int64_t e : slot.expertsOf(ctx.rank)) {
      std::string name = slot.tensorName(e);
      bool table = slot.dtype == "i32";
      // A quantised weight: each tensor with its own scales (an expert
      // table never is one).
      SourceTensor source;
      std::string quantizedError;
      if (!table && QuantizedTensor::find(checkpoint, name, source.quantized,
                                          quantizedError)) {
        if (!slot.storedShape.empty() || slot.eitherOrientation) {
          error = "weight '" + name + "' (" + source.quantized.describe() +
                  " in " + source.quantized.values->file +
                  "): a quantised tensor is bound as it is stored, not "
                  "reshaped (\"stored_shape\") or in either orientation";
          return nullptr;
        }
        if (source.quantized.shape != shape) {
          error = "weight '" + name + "' (" + source.quantized.describe() +
                  " in " + source.quantized.values->file +
                  ") dequantises to shape " +
                  formatShape(source.quantized.shape) + ", expected " +
                  formatShape(shape);
          return nullptr;
        }
        sources.push_back(source);
        size_t bytes = source.quantized.storedBytes();
        stats.readBytes +=
            rows.empty() ? bytes
                         : bytes / static_cast<size_t>(shape[0]) * rows.size();
        continue;
      }
      if (!quantizedError.empty()) {
        error = "weight '" + name + "': " + quantizedError;
        return nullptr;
      }
      const TensorView *view = checkpoint.find(name);
      if (!view) {
        error = "missing weight '" + name + "': expected " +
                (table ? "an I32 or I64" : "a F32, BF16 or F16") +
                " tensor of shape " + formatShape(slot.checkpointShape()) +
                "; " + searched(checkpoint);
        return nullptr;
      }
      bool swapped;
      if (!matchStoredShape(slot, *view, name, swapped, error))
        return nullptr;
      if (transposed && *transposed != swapped) {
        error = "weight '" + name + "' in " + view->file + " is stored " +
                (swapped ? "transposed" : "untransposed") + ", '" + decidedBy +
                "' " + (swapped ? "untransposed" : "transposed") +
                ": the experts of one weight must agree";
        return nullptr;
      }
      if (!transposed) {
        transposed = swapped;
        decidedBy = name;
      }
      if (table && view->dtype != DType::I32 && view->dtype != DType::I64) {
        error = "expert table '" + name + "' in " + view->file + " has dtype " +
                dtypeName(view->dtype) + "; I32 or I64 expected";
        return nullptr;
      }
      if (!table && view->dtype != DType::F32 && view->dtype != DType::BF16 &&
          view->dtype != DType::F16) {
        error = "weight '" + name + "' in " + view->file + " has dtype " +
                dtypeName(view->dtype) +
                "; F32, BF16 or F16 expected (or F8_E4M3 with its '" + name +
                QuantizedTensor::kScaleInvSuffix + "', or MXFP4 '" + name +
                QuantizedTensor::kBlocksSuffix + "' and '" + name +
                QuantizedTensor::kScalesSuffix + "')";
        return nullptr;
      }
      source.plain = view;
      sources.push_back(source);
      stats.readBytes +=
          rows.empty() ? view->bytes
                       : view->bytes / static_cast<size_t>(shape[0]) *
                             rows.size();
    }
    // An expert table is always copied: its values are checked on the way
    // (untrusted, they index the experts).
    if (slot.dtype == "i32") {
      const TensorView &view = *sources[0].plain;
      size_t bytes = static_cast<size_t>(view.numElements()) * 4;
      WeightBuffer buffer = WeightBuffer::allocate(ctx, bytes);
      if (!buffer.data()) {
        error = "weight slot '" + slot.name + "': out of memory binding " +
                formatShape(slot.shape) + " (" + std::to_string(bytes) +
                " bytes as i32)";
        return nullptr;
      }
      if (!copyExpertTable(slot, view,
                           static_cast<int32_t *>(buffer.data()), error))
        return nullptr;
      stats.packedBytes += buffer.size();
      buffers.push_back(describe(slot, buffer.data()));
      bound->owned.push_back(std::move(buffer));
      continue;
    }
    // One F32 tensor (or BF16 for a bf16 slot) on a cache line is used
    // where it lies in the mapping (see AlignedBuffer.h for why the line
    // matters).
    bool bf16 = slot.dtype == "bf16";
    const TensorView *only = sources.size() == 1 ? sources[0].plain : nullptr;
    bool storedTransposed = transposed.value_or(false);
    if (only && !slot.hasView() && !storedTransposed && rows.empty() &&
        only->dtype == (bf16 ? DType::BF16 : DType::F32) &&
        reinterpret_cast<uintptr_t>(only->data) %
                CacheLineAllocator<float>::kCacheLine ==
            0) {
      buffers.push_back(describe(slot, only->data));
      stats.inPlaceBytes += only->bytes;
      continue;
    }
    int64_t stored = 1;
    for (int64_t d : slot.shape)
      stored *= d;
    size_t bytes = static_cast<size_t>(stored) * (bf16 ? 2 : 4);
    auto outOfMemory = [&] {
      error = "weight slot '" + slot.name + "': out of memory binding " +
              formatShape(slot.shape) + " (" + std::to_string(bytes) +
              " bytes as " + slot.dtype + ")";
      return nullptr;
    };
    WeightBuffer buffer = WeightBuffer::allocate(ctx, bytes);
    if (!buffer.data())
      return outOfMemory();
    // A rank with fewer experts than the placement's slots leaves the last
    // ones zero: no row is ever sent to them.
    WeightSlot filled = slot;
    if (slot.stacked &&
        static_cast<int64_t>(sources.size()) < slot.sourceShape[0]) {
      std::memset(buffer.data(), 0, bytes);
      filled.sourceShape[0] = static_cast<int64_t>(sources.size());
    }
    if (!rows.empty()) {
      std::memset(buffer.data(), 0, bytes);
      filled.sourceShape[0] = static_cast<int64_t>(rows.size());
      filled.placement.clear();
    }
    if (storedTransposed)
      filled = viewOfStoredTransposed(filled);
    // MXFP4 is read in the order it is stored, the view turned to match:
    // as the parameter, each value would come from another block.
    if (std::all_of(sources.begin(), sources.end(), [](const SourceTensor &t) {
          return !t.plain && t.quantized.storedTransposed();
        })) {
      filled = viewOfStoredTransposed(filled);
      for (SourceTensor &source : sources)
        source.stored = true;
    }
    try {
      packSlot(filled, sources, bf16, buffer.data(),
               rows.empty() ? nullptr : &rows);
    } catch (const std::bad_alloc &) {
      return outOfMemory();
    }
    stats.packedBytes += buffer.size();
    buffers.push_back(describe(slot, buffer.data()));
    bound->owned.push_back(std::move(buffer));
  }
  if (progress)
    progress(buffers.size(), entry.weights.size());
  int32_t status = entry.init(&ctx, buffers.data(),
                              static_cast<int64_t>(buffers.size()),
                              &bound->state);
  if (initStatus)
    *initStatus = status;
  if (status != MOE_STATUS_OK) {
    bound->state = nullptr;
    // A device failure is the device's, not the entry's: the library's
    // words alone ("no CUDA driver (...)").
    std::string why = deviceMessage(entry, status);
    error = why.empty() ? "entry '" + entry.name +
                              "': init failed: " + moe_status_string(status) +
                              " (status " + std::to_string(status) + ")"
                        : why;
    return nullptr;
  }
  stats.peakResidentBytes = peakResidentBytes();
  stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return bound;
}

BoundEntry::~BoundEntry() {
  // The state first: it points into the weights.
  if (state)
    boundEntry->destroy(state);
}

namespace {
bool checkCall(const Entry &entry, const char *kind, int64_t tokens,
               std::string &error) {
  if (entry.kind != kind) {
    error = "entry '" + entry.name + "' is of kind '" + entry.kind +
            "', not '" + kind + "'";
    return false;
  }
  if (tokens < 0 || tokens > limits::kMaxTokens) {
    error = "entry '" + entry.name + "': token count " +
            std::to_string(tokens) + " is not in [0, " +
            std::to_string(limits::kMaxTokens) + "]";
    return false;
  }
  return true;
}

bool call(const Entry &entry, void *state, const void *input, void *output,
          int64_t tokens, std::string &error, double *phaseSeconds = nullptr,
          const BoundEntry::IO &io = {}) {
  moe_forward_args args{};
  args.struct_size = sizeof(moe_forward_args);
  // A bf16 caller's rows travel behind the float pointers (moe_runtime.h).
  args.input = static_cast<const float *>(input);
  args.output = static_cast<float *>(output);
  args.tokens = tokens;
  args.phase_seconds = phaseSeconds;
  args.io_dtype = io.dtype;
  args.io_on_device = io.onDevice;
  args.token_ids = io.tokenIds;
  int32_t status = entry.forward(state, &args);
  if (status != MOE_STATUS_OK) {
    std::string why = deviceMessage(entry, status);
    if (status == MOE_STATUS_INVALID_ARGUMENT && entry.tokenIdBound)
      why = "it routes by token id: give " + std::to_string(tokens) +
            " token ids, each in [0, " + std::to_string(entry.tokenIdBound) +
            ")";
    if (status == MOE_STATUS_INVALID_ARGUMENT && io.onDevice &&
        entry.target != MOE_TARGET_CUDA)
      why = "io_on_device: a CPU library takes host pointers (device "
            "pointers are for CUDA libraries)";
    error = "entry '" + entry.name + "' failed: " + moe_status_string(status) +
            " (status " + std::to_string(status) + ")" +
            (why.empty() ? "" : ": " + why);
    return false;
  }
  return true;
}
} // namespace

bool BoundEntry::forward(const float *input, float *output, int64_t tokens,
                         std::string &error, double *phaseSeconds) const {
  return checkCall(*boundEntry, MOE_ENTRY_KIND_FORWARD, tokens, error) &&
         call(*boundEntry, state, input, output, tokens, error, phaseSeconds);
}

bool BoundEntry::forward(const void *input, void *output, int64_t tokens,
                         const IO &io, std::string &error,
                         double *phaseSeconds) const {
  return checkCall(*boundEntry, MOE_ENTRY_KIND_FORWARD, tokens, error) &&
         call(*boundEntry, state, input, output, tokens, error, phaseSeconds,
              io);
}

bool BoundEntry::routingStats(const float *input, int64_t tokens,
                              std::vector<float> &values,
                              std::string &error) const {
  if (!checkCall(*boundEntry, MOE_ENTRY_KIND_ROUTING_STATS, tokens, error))
    return false;
  values.assign(boundEntry->outputSize, 0.0f);
  return call(*boundEntry, state, input, values.data(), tokens, error);
}
