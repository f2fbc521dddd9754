//===- SafeTensors.h - memory-mapped safetensors checkpoints ----*- C++ -*-===//
//
// Reads safetensors files (one file, or a Hugging Face shard set through its
// model.safetensors.index.json) by memory-mapping them; tensors are views
// into the mapping. Every malformed input is reported as an error message
// naming the file and what is wrong, never a crash: headers and indexes are
// bounded in size and JSON depth, shapes in rank and elements (Limits.h). Plain
// C++ (no LLVM): the runtime shares it.
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

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

/// "F32", "BF16", ...: the safetensors spelling.
const char *dtypeName(DType dtype);
size_t dtypeSize(DType dtype);
/// bf16 is the upper half of an f32: widening is exact; narrowing rounds to
/// nearest, ties to even (NaN stays NaN).
float bf16ToFloat(uint16_t b);
uint16_t floatToBF16(float value);

/// One tensor: a view into its file's mapping.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr;
  size_t bytes = 0;
  /// The file it lives in, for messages.
  std::string file;

  int64_t numElements() const;
  /// Converts to float32 into `out` (numElements() values). Only the float
  /// dtypes F32, BF16 and F16 convert; returns false for the others.
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
