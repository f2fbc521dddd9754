//===- Limits.h - bounds on every size read from an input ------*- C++ -*-===//
//
// The one home of the limits moec enforces on sizes that come from outside
// (HF configs, .npy and safetensors headers, shard indexes, library
// manifests, command-line options), and of the checked arithmetic used to
// apply them. Each limit is far above what any published MoE model needs
// and low enough that a size within it cannot overflow int64 arithmetic
// downstream or exhaust memory before the input's real size is checked.
// The README's "Limits" section lists them. Plain C++ (no LLVM): the
// runtime shares it.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_SUPPORT_LIMITS_H
#define MOE_SUPPORT_LIMITS_H

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace moe::limits {

/// Model sizes (HF config keys, moe.layer shapes). DeepSeek-V3 has hidden
/// 7168, 256 experts, 61 layers; Mixtral-8x22B intermediate 16384.
constexpr int64_t kMaxHidden = int64_t(1) << 18;  // 262144
constexpr int64_t kMaxExperts = int64_t(1) << 16; // 65536
constexpr int64_t kMaxFfn = int64_t(1) << 20;     // 1048576
constexpr int64_t kMaxLayers = 4096;              // decoder layers
// Rows of an expert table of routing by token id (the vocabulary).
constexpr int64_t kMaxVocab = int64_t(1) << 24;
/// Elements in one weight tensor, and in one stacked weight slot.
constexpr int64_t kMaxTensorElements = int64_t(1) << 40;
/// Tokens in one call; an input's rows.
constexpr int64_t kMaxTokens = int64_t(1) << 31;
/// Tensor rank in any header or manifest.
constexpr size_t kMaxRank = 8;
/// Threads of a library's OpenMP team (moe-run --threads).
constexpr int64_t kMaxThreads = 1024;
/// Nesting of any JSON document moec reads (configs, safetensors headers,
/// shard indexes, manifests): parsers recurse per level.
constexpr size_t kMaxJsonDepth = 128;
/// Bytes of a JSON document read whole (config, shard index, manifest).
constexpr int64_t kMaxJsonBytes = int64_t(1) << 28; // 256 MiB
/// Nesting of brackets, braces, parentheses and angle brackets in MLIR
/// text given to a tool: MLIR's parser recurses per level (and overflows
/// the stack near 10000 nested arrays).
constexpr size_t kMaxMLIRDepth = 512;
/// Timed runs of one moe-run call (--repeat): one time kept per run.
constexpr int64_t kMaxRepeat = 1000000;
/// Ranks of expert parallelism (--ep-size, placement files, mpirun -np).
constexpr int64_t kMaxRanks = int64_t(1) << 16;
/// Chunks each rank's tokens are pipelined in (moe-schedule-comm,
/// moe-compile --chunks): each adds clones of a layer's exchange block.
constexpr int64_t kMaxChunks = 64;

/// a * b into `out`; false (out untouched) on int64 overflow or a negative
/// operand.
bool checkedMul(int64_t a, int64_t b, int64_t &out);
/// The product of `sizes` into `out`; false on overflow, a negative size,
/// or a product above `max`.
bool checkedProduct(const std::vector<int64_t> &sizes, int64_t max,
                    int64_t &out);

/// The deepest nesting of arrays and objects in JSON `text` (brackets inside
/// strings ignored), stopping early once it exceeds `stopAt`. Run before a
/// recursive parser sees untrusted text.
size_t jsonNestingDepth(const char *text, size_t size,
                        size_t stopAt = kMaxJsonDepth);

/// The same for MLIR text: strings and `//` comments skipped, `<`...`>`
/// counted as brackets (the `>` of `->` and `>=` is not a closing one).
size_t mlirNestingDepth(const char *text, size_t size,
                        size_t stopAt = kMaxMLIRDepth);

/// Opens `path` for reading only if it is a regular file: FIFOs, sockets,
/// devices and directories are refused without blocking. Returns the file
/// descriptor (and its size in `size`, when given), or -1 with `error`
/// naming the path and the reason.
int openRegularFile(const std::string &path, std::string &error,
                    int64_t *size = nullptr);

/// Reads all of regular file `path` into `text` when it holds at most
/// `maxBytes` (a JSON document: kMaxJsonBytes); otherwise false with `error`
/// naming the path and the reason.
bool readBoundedFile(const std::string &path, int64_t maxBytes,
                     std::string &text, std::string &error);

} // namespace moe::limits

#endif // MOE_SUPPORT_LIMITS_H
