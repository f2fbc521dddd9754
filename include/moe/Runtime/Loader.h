//===- Loader.h - load compiled moe libraries and bind weights --*- C++ -*-===//
//
// The one loader moe-run and user programs share: it opens a library built
// by moe-compile, reads its manifest, binds each weight slot to checkpoint
// tensors by name (stacking per-expert tensors of the slot's expert range,
// converting BF16/F16 to float32 or rounding to bf16, dequantising FP8 and
// MXFP4 weights (QuantizedTensor, SafeTensors.h), packing, reading F32
// in place where it lies on a cache line) into buffers it allocates through
// the context's allocator hook, hands them to the entry's init (ABI v3,
// moe_runtime.h) and calls forward; the state is destroyed with the bound
// entry. A library's manifest is validated whole before any of it is used
// (every index, shape and size it gives is bounded and checked), and an
// entry can only be called the way its kind allows: forward entries through
// `forward`, routing statistics through `routingStats`, sized from the
// manifest. Errors come back as messages, never as exceptions.
// Plain C++ (no LLVM or MLIR).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_LOADER_H
#define MOE_RUNTIME_LOADER_H

#include "moe/Runtime/moe_runtime.h"
#include "moe/Support/AlignedBuffer.h"
#include "moe/Support/SafeTensors.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace moe::runtime {

struct WeightSlot {
  /// Checkpoint name; "{e}" stands for the expert index when stacked.
  std::string name;
  std::vector<int64_t> shape;
  bool stacked = false;
  int64_t expertBegin = 0, expertEnd = 0;
  /// Expert parallelism: the experts of each rank's slots (a stacked slot
  /// then holds the given rank's, zero past them; a single tensor holds
  /// every expert along its first dimension, of which the rank binds its
  /// rows); empty otherwise.
  std::vector<std::vector<int64_t>> placement;
  /// The checkpoint-side shape (stacked first) and the view from it to
  /// `shape`: a slice [dim, offset, size] or [dim, offset, size, stride]
  /// (indices offset, offset + stride, ...: GPT-OSS's interleaved gate and
  /// up), then a transpose; empty if none.
  std::vector<int64_t> sourceShape;
  std::vector<int64_t> slice;
  std::vector<int64_t> transpose;
  /// Each checkpoint tensor's shape when it is a reshape of tensorShape()
  /// (the same elements in the same order: DBRX's [E*F, H] experts, Ernie
  /// 4.5's [1, E] correction bias); empty if none.
  std::vector<int64_t> storedShape;
  /// The tensors may hold tensorShape() with its last two dimensions
  /// swapped (Qwen3-VL-MoE's fused experts, saved [E, 2F, H] by
  /// transformers 5 and published [E, H, 2F]): bind tells which by their
  /// shape, and refuses tensors whose last two dimensions are equal.
  bool eitherOrientation = false;
  /// [dim, P]: after the view, packed along `dim` in panels of P (as
  /// linalg.pack, zero past the end); empty if not packed.
  std::vector<int64_t> pack;
  /// What the compiled code reads: "f32", "bf16" (packed slots, or any
  /// slot of a cuda library; rounded to nearest even at bind time), or
  /// "i32": an expert table of routing by token id, read from an I32 or I64
  /// tensor whose values must lie in [0, indexBound) (checked at bind).
  std::string dtype = "f32";
  int64_t indexBound = 0;

  /// The checkpoint name of expert `e` (stacked) or of the tensor.
  std::string tensorName(int64_t expert) const;
  /// The checkpoint experts `rank` binds, in slot order ({0} for a single
  /// tensor, whose name has no expert).
  std::vector<int64_t> expertsOf(int32_t rank) const;
  /// The stacked slots of a placement: the most experts a rank holds.
  int64_t placementSlots() const;
  /// The shape of one checkpoint tensor: the source shape without the
  /// expert dimension when stacked.
  std::vector<int64_t> tensorShape() const;
  /// The shape bind expects each checkpoint tensor in: storedShape, or
  /// tensorShape() (or that with its last two dimensions swapped, when
  /// eitherOrientation).
  std::vector<int64_t> checkpointShape() const {
    return storedShape.empty() ? tensorShape() : storedShape;
  }
  /// The slice's stride: 1 unless it gives one.
  int64_t sliceStride() const { return slice.size() == 4 ? slice[3] : 1; }
  /// The shape after slice and transpose, before any pack.
  std::vector<int64_t> viewShape() const;
  bool hasView() const {
    return !slice.empty() || !transpose.empty() || !pack.empty();
  }
};

struct Entry {
  std::string name;
  /// The ABI v3 functions: "moe_entry_<name>_init", "_forward", "_destroy".
  std::string initSymbol, forwardSymbol, destroySymbol;
  /// "forward" or "routing_stats".
  std::string kind = "forward";
  /// For routing statistics: the forward entry described, and the floats
  /// written (E + MOE_ROUTING_STATS_TAIL: each expert's load, entropy / log
  /// E, largest share, mean router confidence, aux loss, the routing-weight
  /// histogram's range and bins).
  std::string statsOf;
  int64_t outputSize = 0;
  int64_t hidden = 0;
  /// The ranks of expert parallelism it was compiled for ("ranks").
  int64_t ranks = 1;
  /// Routing by token id ("token_ids"): forward needs ids in [0, this);
  /// 0 when the entry takes none.
  int64_t tokenIdBound = 0;
  std::vector<WeightSlot> weights;
  /// The library's target: MOE_TARGET_CPU ("cpu") or MOE_TARGET_CUDA
  /// ("cuda"); init needs a context of it.
  int32_t target = MOE_TARGET_CPU;
  moe_entry_init_fn init = nullptr;
  moe_entry_forward_fn forward = nullptr;
  moe_entry_destroy_fn destroy = nullptr;
  /// A CUDA library's moe_error_message (why a call failed with
  /// MOE_STATUS_DEVICE), or null.
  moe_error_message_fn errorMessage = nullptr;
};

/// A loaded library and its manifest.
class Library {
public:
  static std::unique_ptr<Library> open(const std::string &path,
                                       std::string &error);
  ~Library();
  const std::vector<Entry> &entries() const { return entryList; }
  /// MOE_TARGET_CPU or MOE_TARGET_CUDA (the manifest's "target"): a CUDA
  /// library's entries need a context of moe_context_init_cuda().
  int32_t target() const;
  /// The forward entry called `name`; with an empty name, the only forward
  /// entry. Null (and `error` set) otherwise, also when `name` is a
  /// routing-statistics entry.
  const Entry *findEntry(const std::string &name, std::string &error) const;
  /// The routing-statistics entry of forward entry `name`, or null.
  const Entry *findStatsEntry(const std::string &name) const;
  const std::string &manifest() const { return manifestText; }

private:
  Library() = default;
  void *handle = nullptr;
  std::string manifestText;
  std::vector<Entry> entryList;
};

/// What binding an entry cost, for reports (moe-run prints it and writes
/// it to --timing-json).
struct BindStats {
  /// Weight slots bound (the entry's).
  size_t slots = 0;
  /// Wall time of BoundEntry::bind, in seconds.
  double seconds = 0;
  /// Bytes of the checkpoint's files mapped (all of them, shared by every
  /// entry bound from the checkpoint; mapped is not resident: pages are
  /// read in as the bind and the entry touch them).
  size_t mappedBytes = 0;
  /// Bytes of the checkpoint tensors the entry bound (a rank of expert
  /// parallelism reads its experts' only).
  size_t readBytes = 0;
  /// Bytes of weights read in place from the mapping (not copied).
  size_t inPlaceBytes = 0;
  /// Bytes the loader allocated (through the context's hook) and holds for
  /// the weights it could not read in place: stacked, converted to f32 or
  /// bf16, viewed or packed.
  size_t packedBytes = 0;
  /// The process's peak resident memory right after the bind
  /// (peakResidentBytes()): the weights bound plus the mapped pages not yet
  /// released (slots are packed straight from the mapping, with no
  /// full-size copy, viewed slots included).
  size_t peakResidentBytes = 0;
};

/// Memory the loader owns for one bound weight: from the context's
/// allocator hook, or the runtime's aligned allocation (AlignedBuffer.h)
/// without one; given back the same way.
class WeightBuffer {
public:
  /// `bytes` zeroed bytes, 64-byte aligned; empty (data() null) when the
  /// memory cannot be had.
  static WeightBuffer allocate(const moe_context &context, size_t bytes);
  WeightBuffer() = default;
  WeightBuffer(WeightBuffer &&other) noexcept { *this = std::move(other); }
  WeightBuffer &operator=(WeightBuffer &&other) noexcept;
  WeightBuffer(const WeightBuffer &) = delete;
  WeightBuffer &operator=(const WeightBuffer &) = delete;
  ~WeightBuffer() { reset(); }
  void *data() const { return pointer; }
  size_t size() const { return bytes; }

private:
  void reset();
  void *pointer = nullptr;
  size_t bytes = 0;
  void (*freeHook)(void *, void *) = nullptr;
  void *user = nullptr;
};

/// The context an entry runs with by default: moe_context_init_cpu()'s, or
/// moe_context_init_cuda(0)'s for a cuda library.
moe_context defaultContext(const Entry &entry);

/// Called by BoundEntry::bind before each weight slot and once after the
/// last: (slots bound so far, slots).
using BindProgress = std::function<void(size_t, size_t)>;

/// An entry with its weights bound and its state initialised, ready to
/// run; destroying it destroys the state, then frees the weights.
class BoundEntry {
public:
  /// Binds `entry`'s weights from `checkpoint` and calls its init with
  /// `context` (when null, moe_context_init_cpu()'s, or
  /// moe_context_init_cuda(0)'s for a cuda library): buffers are allocated
  /// through the context's hook, and the context's thread count sizes each
  /// forward's thread team. Null with `error` on a missing or mismatched
  /// weight, when memory for a converted weight cannot be had (the message
  /// names the slot), on a context out of range or of another target than
  /// the entry's, or when init refuses (its status and moe_status_string;
  /// for MOE_STATUS_DEVICE, the library's moe_error_message() alone, such
  /// as "no CUDA driver (...)"). `*initStatus`, when given, gets init's
  /// status (MOE_STATUS_OK when the loader refused before calling it). The
  /// checkpoint must outlive the bound entry (weights may be read in
  /// place). `progress`, when given, hears of each slot (a terminal's
  /// progress line).
  static std::unique_ptr<BoundEntry>
  bind(const Entry &entry, const Checkpoint &checkpoint, std::string &error,
       const moe_context *context = nullptr, int32_t *initStatus = nullptr,
       const BindProgress &progress = nullptr);
  ~BoundEntry();
  /// Runs a forward entry: `input` and `output` are [tokens, hidden]
  /// float32 in host memory (for a CUDA library too), 0 <= tokens <=
  /// limits::kMaxTokens; a device failure's message ends with the
  /// library's moe_error_message(). Refuses any other kind of
  /// entry (a statistics entry writes E + 25 floats, not [tokens, hidden]).
  /// An entry of expert parallelism writes its seconds per phase to
  /// `phaseSeconds` (MOE_PHASE_COUNT doubles) when given.
  bool forward(const float *input, float *output, int64_t tokens,
               std::string &error, double *phaseSeconds = nullptr) const;
  /// How a forward's activations are passed (moe_forward_args.io_dtype and
  /// io_on_device): MOE_DTYPE_F32 or MOE_DTYPE_BF16 rows, in host memory
  /// or, for a CUDA library, device memory.
  struct IO {
    int32_t dtype = MOE_DTYPE_F32;
    bool onDevice = false;
    /// [tokens] token ids in host memory, for an entry with a
    /// tokenIdBound (moe_forward_args.token_ids); null otherwise.
    const int32_t *tokenIds = nullptr;
  };
  /// As above, with `input` and `output` of `io`'s dtype and place. The
  /// library checks both (a CPU library refuses device pointers; the
  /// message then says so).
  bool forward(const void *input, void *output, int64_t tokens, const IO &io,
               std::string &error, double *phaseSeconds = nullptr) const;
  /// Runs a routing-statistics entry on [tokens, hidden] `input`; `values`
  /// gets the manifest's "outputs" floats. Refuses any other kind of entry.
  bool routingStats(const float *input, int64_t tokens,
                    std::vector<float> &values, std::string &error) const;
  const Entry &entry() const { return *boundEntry; }
  /// What the bind cost: its time and the bytes mapped, read in place and
  /// allocated.
  const BindStats &bindStats() const { return stats; }
  /// Bytes of weights read in place from the mapping (not copied).
  size_t zeroCopyBytes() const { return stats.inPlaceBytes; }

  /// The context init was given.
  const moe_context &context() const { return boundContext; }

private:
  BoundEntry() = default;
  const Entry *boundEntry = nullptr;
  moe_context boundContext;
  std::vector<WeightBuffer> owned;
  void *state = nullptr;
  BindStats stats;
};

/// Reads manifest `text` (moe_runtime.h) into `entries`, validating all of
/// it first: false with `error` ("entry 'x' weight 'y': ...") on anything
/// the loader could not use safely. A manifest of another "format" or
/// "target" is refused first, naming both sides ("built for target 'rocm';
/// this loader runs 'cpu' and 'cuda' libraries"; format 1: "built for
/// manifest format 1; rebuild it with this moe-compile"), with `*foreign`
/// (when given) set:
/// the library is not malformed, only not one this loader runs. Library::open
/// calls it; exposed so that it can be tested without a library.
bool parseManifest(const std::string &text, std::vector<Entry> &entries,
                   std::string &error, bool *foreign = nullptr);

/// The process's peak resident memory so far in bytes (getrusage's
/// ru_maxrss), or 0 where the system does not say.
size_t peakResidentBytes();

/// "[8, 64]" (SafeTensors.h's, for the runtime's callers too).
using moe::formatShape;

} // namespace moe::runtime

#endif // MOE_RUNTIME_LOADER_H
