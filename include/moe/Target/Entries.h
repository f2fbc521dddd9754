//===- Entries.h - entry points of a compiled moe module --------*- C++ -*-===//
//
// What moe-compile needs to know about each public function before lowering:
// which argument is the activation input, which are weights, and under
// which checkpoint names the weights are found (the `moe.weight` argument
// attribute). The manifest a compiled library carries is built from this,
// and so are the C functions of ABI v3 (moe_runtime.h) each entry exports:
// init checks its weights against the slots recorded here.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_ENTRIES_H
#define MOE_TARGET_ENTRIES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "moe/Runtime/moe_runtime.h"

namespace llvm {
class Module;
} // namespace llvm

#include <optional>
#include <string>
#include <vector>

namespace mlir::moe {

/// The argument attribute naming a weight's checkpoint tensor; "{e}" in it
/// stands for the expert index of a stacked weight.
constexpr llvm::StringLiteral kWeightNameAttr = "moe.weight";
/// Optional view of a checkpoint tensor whose layout differs from the
/// argument's (Llama 4's fused, transposed expert weights): the shape the
/// checkpoint holds (stacked: with the expert dimension first), a slice
/// `[dim, offset, size]` taken from it, then a transpose permutation. The
/// slice may give a fourth element, its stride (default 1): indices
/// offset, offset + stride, ... (size of them) along dim, as GPT-OSS's
/// interleaved gate_up_proj needs (gate `[2, 0, F, 2]`, up `[2, 1, F, 2]`).
constexpr llvm::StringLiteral kWeightSourceShapeAttr =
    "moe.weight_source_shape";
constexpr llvm::StringLiteral kWeightSliceAttr = "moe.weight_slice";
constexpr llvm::StringLiteral kWeightTransposeAttr = "moe.weight_transpose";
/// The shape each checkpoint tensor is stored in, where it differs from
/// the source shape's (a stacked weight's: without the expert dimension)
/// by a reshape alone: the same elements in the same row-major order.
/// DBRX's experts are stored [E·F, H] and read as [E, F, H]; Ernie 4.5's
/// correction bias is stored [1, E] and read as [E].
constexpr llvm::StringLiteral kWeightStoredShapeAttr =
    "moe.weight_stored_shape";
/// Unit: the checkpoint tensor may hold the source shape with its last two
/// dimensions swapped, and the loader tells which by the tensor's shape
/// (refusing a tensor whose last two dimensions are equal, which could be
/// either). Qwen3-VL-MoE's fused experts: transformers 5 saves
/// gate_up_proj [E, 2F, H], the published checkpoints hold [E, H, 2F].
constexpr llvm::StringLiteral kWeightEitherOrientationAttr =
    "moe.weight_either_orientation";
/// `[dim, P]`: the argument holds the viewed weight packed along `dim` in
/// panels of P (`moe-cpu-pack-weights`; linalg.pack with inner_dims_pos =
/// [dim], inner_tiles = [P], zero padding), which the runtime does at bind.
constexpr llvm::StringLiteral kWeightPackAttr = "moe.weight_pack";
/// `array<i64: begin, end>` on a stacked weight: it holds experts
/// [begin, end) of the checkpoint (the experts of one rank of expert
/// parallelism); without it, [0, E).
constexpr llvm::StringLiteral kWeightExpertsAttr = "moe.experts";
/// `#moe.placement` on a stacked weight of expert parallelism
/// (`moe-expert-parallel`): it holds, on rank r, the experts of r's slots,
/// zero past the last (its leading dimension is the placement's slots).
constexpr llvm::StringLiteral kWeightPlacementAttr = "moe.placement";
/// On an i32 expert table `[V,K]` (routing by token id): its entries lie in
/// [0, bound), the experts of the ops it feeds; analyzeEntries records it
/// before lowering, and the manifest carries it as "index_bound" for the
/// loader to check at bind time.
constexpr llvm::StringLiteral kIndexBoundAttr = "moe.index_bound";
/// The function attribute giving the ranks an entry was compiled for.
constexpr llvm::StringLiteral kEpSizeAttr = "moe.ep_size";

struct EntryWeight {
  unsigned argIndex = 0;
  std::string name;
  SmallVector<int64_t> shape;
  /// Built from per-expert tensors (the name holds "{e}").
  bool stacked = false;
  /// The checkpoint's experts a stacked weight holds: [begin, end).
  int64_t expertBegin = 0, expertEnd = 0;
  /// Expert parallelism: each rank's experts, slot by slot; empty without.
  std::vector<std::vector<int64_t>> placement;
  /// The checkpoint-side shape (equal to `shape` without a view).
  SmallVector<int64_t> sourceShape;
  /// `[dim, offset, size]`, empty when the whole tensor is used.
  SmallVector<int64_t> slice;
  /// A permutation, empty when none.
  SmallVector<int64_t> transpose;
  /// kWeightStoredShapeAttr: each checkpoint tensor's shape, empty when it
  /// is the source shape's.
  SmallVector<int64_t> storedShape;
  /// kWeightEitherOrientationAttr.
  bool eitherOrientation = false;
  /// `[dim, P]` after the view, empty when not packed.
  SmallVector<int64_t> pack;
  /// The element type the runtime binds: "f32", "bf16" (packed only), or
  /// "i32" for an expert table, whose entries lie in [0, indexBound).
  std::string dtype = "f32";
  int64_t indexBound = 0;
};

/// The module attribute saying which dtype the checkpoint stores ("bf16",
/// "f16" or "f32"; moe-translate --import-hf-config records the config's
/// torch_dtype): `moe-compile --weight-type=auto` keeps bf16 panels for a
/// bf16 checkpoint.
constexpr llvm::StringLiteral kCheckpointDTypeAttr = "moe.checkpoint_dtype";

/// The function attribute marking an entry point's kind ("routing_stats";
/// forward entries have none), and for statistics the entry they describe.
constexpr llvm::StringLiteral kEntryKindAttr = "moe.entry_kind";
constexpr llvm::StringLiteral kStatsOfAttr = "moe.stats_of";

/// The twin of an entry point taking and returning bf16 activations
/// (`moe-bf16-io-entries`): `<name>` + kBF16IOSuffix, marked with
/// kBF16IOOfAttr = "<name>". The forward wrapper calls its C interface when
/// the caller's io_dtype is MOE_DTYPE_BF16.
constexpr llvm::StringLiteral kBF16IOSuffix = "_bf16_io";
constexpr llvm::StringLiteral kBF16IOOfAttr = "moe.bf16_io_of";

struct EntrySignature {
  std::string name;
  /// "forward": [tokens, hidden] out; "routing_stats": `outputSize` floats.
  std::string kind = MOE_ENTRY_KIND_FORWARD;
  std::string statsOf;
  int64_t outputSize = 0;
  unsigned inputArg = 0;
  int64_t hidden = 0;
  /// The ranks of expert parallelism it runs on (`moe.ep_size`).
  int64_t ranks = 1;
  std::vector<EntryWeight> weights;
  /// The function's argument count (input, token ids and weights).
  unsigned numArgs = 0;
  /// The `tensor<?xi32>` token ids argument of routing by token id, and
  /// the rows of its smallest expert table: ids must lie in [0, bound).
  std::optional<unsigned> tokenIdsArg;
  int64_t tokenIdBound = 0;
  /// The function marks its phases (moe-phase-marks): the wrapper times
  /// them as it times the exchanges of an entry of several ranks.
  bool marksPhases = false;
};

/// Describes every public function of `module` as an entry point, or
/// reports (at the function) why one cannot be: it needs exactly one
/// `tensor<?xHxf32>` input, static f32 weights and a `tensor<?xHxf32>`
/// result (a static 1-D f32 result for routing-statistics entries).
/// Weights are f32, or bf16 when packed or for MOE_TARGET_CUDA; on the CPU
/// an entry routing by token id also takes `tensor<?xi32>` token ids and
/// static `[V,K]` i32 expert tables (whose bound it records as
/// kIndexBoundAttr).
FailureOr<std::vector<EntrySignature>>
analyzeEntries(ModuleOp module, int32_t target = MOE_TARGET_CPU);

/// The manifest JSON of moe_runtime.h.
std::string buildManifest(ArrayRef<EntrySignature> entries, StringRef target);

/// The exported functions of an entry: MOE_ENTRY_SYMBOL_PREFIX, the name
/// and MOE_ENTRY_{INIT,FORWARD,DESTROY}_SUFFIX.
std::string entrySymbol(StringRef entryName, StringRef suffix);

/// Adds the ABI v3 functions of `entry` to `module` (LLVM IR, host C
/// calling convention): `_init` checks the context and each weight buffer's
/// dtype and shape against the entry's slots and keeps the pointers in a
/// state; `_forward` builds the memref descriptors of
/// `_mlir_ciface_<entry>` (or, for io_dtype MOE_DTYPE_BF16, of its bf16
/// twin's C interface, which the module must have: moe-bf16-io-entries)
/// from the state and the arguments, calls it and copies the result out;
/// `_destroy` frees the state. Errors (no C interface for the entry or its
/// twin) are emitted at `diagnosticsAt`. For
/// MOE_TARGET_CUDA, `_init` also binds the context's device and keeps
/// device copies of the weights (freed by `_destroy`), and `_forward`
/// copies the input to the device and the result back (or, with
/// io_on_device, reads and writes the caller's device buffers),
/// synchronizes, and returns MOE_STATUS_DEVICE on any failure of the CUDA
/// runtime; a CPU `_forward` refuses io_on_device.
LogicalResult addEntryFunctions(llvm::Module &module,
                                const EntrySignature &entry,
                                Operation *diagnosticsAt,
                                int32_t target = MOE_TARGET_CPU);

/// Adds `const char *moe_module_manifest(void)` returning `manifest`.
void addManifestFunction(llvm::Module &module, StringRef manifest);

} // namespace mlir::moe

#endif // MOE_TARGET_ENTRIES_H
