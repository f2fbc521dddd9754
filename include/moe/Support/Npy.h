//===- Npy.h - NumPy .npy arrays of float32 or bfloat16 ---------*- C++ -*-===//
//
// Reads and writes the activations moe-run takes and gives: float32 ('<f4')
// or bfloat16, C order (fortran_order False), rank up to limits::kMaxRank;
// and the token ids it takes (int32 or int64, read as int32).
// numpy has no bfloat16: ml_dtypes' bfloat16 arrays are saved as 2-byte
// void ('<V2'; '|V2' is read too), each element the bf16 bits little-endian;
// np.load gives a void array that `.view(ml_dtypes.bfloat16)` turns back.
// Malformed files are reported, never trusted: the header is parsed
// strictly, and the size it declares is checked against the file's real
// size before anything is allocated.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_SUPPORT_NPY_H
#define MOE_SUPPORT_NPY_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moe {

enum class NpyDType { F32, BF16 };

struct NpyArray {
  std::vector<int64_t> shape;
  /// The values as float32 (bf16 widened exactly).
  std::vector<float> data;
  /// What the file holds.
  NpyDType dtype = NpyDType::F32;
};

/// Reads `path` (a regular file only: a FIFO or device is refused).
bool readNpy(const std::string &path, NpyArray &array, std::string &error);
/// Parses the `size` bytes of a whole .npy file at `data`; `name` starts
/// every message. The data must be exactly the bytes the shape needs: a
/// shorter file is truncated, a longer one has trailing garbage.
bool parseNpy(const uint8_t *data, size_t size, const std::string &name,
              NpyArray &array, std::string &error);

/// Writes `array` as its dtype says.
bool writeNpy(const std::string &path, const NpyArray &array,
              std::string &error);
/// Writes the product of `shape` floats from `data` without copying them;
/// as `dtype` BF16, rounded to nearest even ('<V2', as ml_dtypes writes).
bool writeNpy(const std::string &path, const std::vector<int64_t> &shape,
              const float *data, std::string &error,
              NpyDType dtype = NpyDType::F32);

/// Integer arrays (moe-run's token ids): int32 ('<i4') as is, or int64
/// ('<i8') whose values must fit int32; written as int32.
struct NpyInt32Array {
  std::vector<int64_t> shape;
  std::vector<int32_t> data;
};
bool readNpyInt32(const std::string &path, NpyInt32Array &array,
                  std::string &error);
bool parseNpyInt32(const uint8_t *data, size_t size, const std::string &name,
                   NpyInt32Array &array, std::string &error);
bool writeNpyInt32(const std::string &path, const NpyInt32Array &array,
                   std::string &error);

} // namespace moe

#endif // MOE_SUPPORT_NPY_H
