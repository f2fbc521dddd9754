//===- SafeTensors.h - memory-mapped safetensors checkpoints ----*- C++ -*-===//
//
// Reads safetensors files (one file, or a Hugging Face shard set through its
// model.safetensors.index.json) by memory-mapping them; tensors are views
// into the mapping. Every malformed input is reported as an error message
// naming the file and what is wrong, never a crash: headers and indexes are
// bounded in size and JSON depth, shapes in rank and elements (Limits.h).
// Quantised weights (FP8 E4M3 with block scales, MXFP4) are found by their
// Hugging Face companion names and read as the float32 tensor they
// dequantise to (QuantizedTensor). Plain C++ (no LLVM): the runtime shares
// it.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_SUPPORT_SAFETENSORS_H
#define MOE_SUPPORT_SAFETENSORS_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace moe {

/// F8E4M3 is OCP FP8 E4M3 ("e4m3fn": no infinities); F8E8M0 is the OCP
/// scale format UE8M0 (a power of two).
enum class DType {
  F64,
  F32,
  F16,
  BF16,
  I64,
  I32,
  I16,
  I8,
  U8,
  Bool,
  F8E4M3,
  F8E8M0
};

/// "F32", "BF16", ...: the safetensors spelling.
const char *dtypeName(DType dtype);
/// The dtype of a safetensors spelling; false (dtype untouched) for a name
/// that is none.
bool dtypeFromName(const std::string &name, DType &dtype);
/// "[8, 64]": a shape as messages write it.
std::string formatShape(const std::vector<int64_t> &shape);
size_t dtypeSize(DType dtype);
/// bf16 is the upper half of an f32: widening is exact; narrowing rounds to
/// nearest, ties to even (NaN stays NaN).
float bf16ToFloat(uint16_t b);
uint16_t floatToBF16(float value);
/// The element formats of quantised checkpoints, decoded exactly (every
/// code's value is a float32). FP8 E4M3: bias 7, subnormals, max 448, no
/// infinities; 0x7f and 0xff are NaN.
float fp8e4m3ToFloat(uint8_t code);
/// FP4 E2M1, the low four bits of `code`: sign, 2 exponent bits (bias 1),
/// 1 mantissa bit: +-{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
float e2m1ToFloat(uint8_t code);
/// E8M0 (UE8M0): 2^(code - 127), from 2^-127 (a float32 subnormal) to
/// 2^127; 0xff is NaN.
float e8m0ToFloat(uint8_t code);

/// One tensor: a view into its file's mapping.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr;
  size_t bytes = 0;
  /// The file it lives in, for messages.
  std::string file;
  /// Whether `data` is a read-only file mapping, whose pages can be given
  /// back (releasePages); false for a caller's memory
  /// (Checkpoint::fromMemory), which is never touched.
  bool fileBacked = true;

  int64_t numElements() const;
  /// Converts to float32 into `out` (numElements() values). Only the float
  /// dtypes F32, BF16, F16, F8E4M3 and F8E8M0 convert (FP8 without any
  /// scale: its codes' values); returns false for the others.
  bool copyToF32(float *out) const;
  /// The same for the `count` elements from element `begin` on.
  bool copyToF32(float *out, int64_t begin, int64_t count) const;
  /// Gives the memory pages wholly inside this tensor back to the kernel: a
  /// tensor copied into a buffer of its own need not stay resident twice.
  /// A later read maps the pages from the file again.
  void releasePages() const { releasePages(0, bytes); }
  /// The same for the pages of bytes [begin, end) of the tensor, read in
  /// order: the page holding byte `begin` is given back too (its bytes
  /// before `begin` are taken as read), the page holding byte `end` is not
  /// (it is still being read); pages reaching outside the tensor never are.
  /// Releasing [0, a), [a, b), ... [z, bytes) as a reader passes them gives
  /// back what releasePages() does.
  void releasePages(size_t begin, size_t end) const;
};

/// A read-only memory mapping of a whole regular file (a FIFO, device or
/// directory is refused without blocking).
class MappedFile {
public:
  static std::unique_ptr<MappedFile> open(const std::string &path,
                                          std::string &error);
  ~MappedFile();
  const uint8_t *data() const { return bytes; }
  size_t size() const { return length; }
  const std::string &path() const { return filePath; }

private:
  MappedFile() = default;
  const uint8_t *bytes = nullptr;
  size_t length = 0;
  std::string filePath;
};

/// The tensors of one checkpoint: a single .safetensors file or every shard
/// listed by an index.
class Checkpoint {
public:
  /// `path` is a .safetensors file or a model.safetensors.index.json. An
  /// index names each shard by a path relative to the index's folder that
  /// stays inside it (no absolute path, no ".." component; symbolic links
  /// are followed, as the Hugging Face cache needs), and each tensor by the
  /// shard that holds it.
  static std::unique_ptr<Checkpoint> open(const std::string &path,
                                          std::string &error);
  /// A checkpoint of tensors in the caller's memory (the Python package's
  /// dict of arrays), which must outlive it and is only read. Each view
  /// needs a name (unique), a dtype, a bounded shape and `bytes` that the
  /// shape and dtype fill exactly; `label` stands for the file in messages.
  static std::unique_ptr<Checkpoint> fromMemory(std::vector<TensorView> views,
                                                const std::string &label,
                                                std::string &error);
  /// Null when there is no tensor of that name.
  const TensorView *find(const std::string &name) const;
  const std::map<std::string, TensorView> &tensors() const { return byName; }
  /// What `open` was given: the file, or the index.
  const std::string &path() const { return sourcePath; }
  /// The files searched for tensors: the file, or every shard.
  std::vector<std::string> filePaths() const;
  /// Bytes mapped: the sizes of those files.
  size_t mappedBytes() const;

private:
  bool addFile(const std::string &path, std::string &error);
  std::string sourcePath;
  std::vector<std::unique_ptr<MappedFile>> files;
  std::map<std::string, TensorView> byName;
};

class Checkpoint;

/// A weight a checkpoint stores quantised, read as the float32 tensor it
/// dequantises to (row-major, `shape`), without a copy of it:
/// * FP8: tensor `name` of dtype F8_E4M3 [..., N, K] and its companion
///   `name` + "_scale_inv" [..., ceil(N/128), ceil(K/128)] (F32, BF16, F16,
///   or E8M0 as F8_E8M0 or U8): value = fp8 * scale of its 128 x 128 block,
///   edge blocks partial (DeepSeek-V3/R1 `...weight_scale_inv`, Qwen3 FP8;
///   transformers' finegrained_fp8).
/// * MXFP4: no tensor `name`, but `name` + "_blocks" [E, N, G, 16] (U8: two
///   E2M1 codes a byte, the low nibble first) and `name` + "_scales"
///   [E, N, G] (E8M0 as U8 or F8_E8M0): the parameter is [E, G * 32, N],
///   the blocks' last two dimensions transposed, and value (e, k, n) =
///   e2m1 code k of row n * 2^(scale of block k / 32 - 127) (GPT-OSS's
///   `..._proj_blocks`; transformers' mxfp4 convert_moe_packed_tensors).
/// Each value is one float32 product of two exact factors: the dequantised
/// f32 reference computes the same bits.
class QuantizedTensor {
public:
  enum class Format { FP8BlockScaled, MXFP4 };
  /// The FP8 scale block: 128 x 128 over the last two dimensions.
  static constexpr int64_t kFP8Block = 128;
  /// The MXFP4 block: 32 values (16 bytes) share one scale.
  static constexpr int64_t kMXFP4Block = 32;
  /// The companions' names: the weight's name and these suffixes.
  static constexpr const char *kScaleInvSuffix = "_scale_inv";
  static constexpr const char *kBlocksSuffix = "_blocks";
  static constexpr const char *kScalesSuffix = "_scales";

  /// Looks `name` up in `checkpoint` quantised. False with `error` empty
  /// when it is not stored in either form (a plain tensor of that name, or
  /// none); false with `error` naming the file and tensors when it is, but
  /// malformed (a companion missing, of the wrong dtype, or shapes that do
  /// not fit each other). True with `tensor` set otherwise.
  static bool find(const Checkpoint &checkpoint, const std::string &name,
                   QuantizedTensor &tensor, std::string &error);

  Format format = Format::FP8BlockScaled;
  /// The dequantised shape.
  std::vector<int64_t> shape;
  /// The F8_E4M3 values or the MXFP4 blocks, and their scales.
  const TensorView *values = nullptr;
  const TensorView *scales = nullptr;

  int64_t numElements() const;
  /// The dequantised values of elements [begin, begin + count) of `shape`,
  /// row-major, into `out`.
  void copyToF32(float *out, int64_t begin, int64_t count) const;
  /// MXFP4 holds `shape` with its last two dimensions swapped: reading the
  /// parameter row by row would touch a block per value.
  bool storedTransposed() const { return format == Format::MXFP4; }
  /// The same in the order the file stores them: [E, N, K] for MXFP4 (a
  /// row is K consecutive codes), `shape`'s order for FP8.
  void copyStoredToF32(float *out, int64_t begin, int64_t count) const;
  /// Bytes of the file's tensors (values and scales).
  size_t storedBytes() const { return values->bytes + scales->bytes; }
  void releasePages() const {
    values->releasePages();
    scales->releasePages();
  }
  /// "F8_E4M3 'w' with scales 'w_scale_inv'", for messages.
  std::string describe() const;
};

/// Writes `tensors` (name → dtype, shape, raw little-endian bytes) as one
/// safetensors file.
struct TensorData {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
bool writeSafeTensors(const std::string &path,
                      const std::map<std::string, TensorData> &tensors,
                      std::string &error);

} // namespace moe

#endif // MOE_SUPPORT_SAFETENSORS_H
