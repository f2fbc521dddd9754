//===- Npy.h - NumPy .npy arrays of float32 ---------------------*- C++ -*-===//
//
// Reads and writes the activations moe-run takes and gives: float32, C order
// ('<f4', fortran_order False), rank up to limits::kMaxRank; and the token
// ids it takes (int32 or int64, read as int32). Malformed files
// are reported, never trusted: the header is parsed strictly, and the size
// it declares is checked against the file's real size before anything is
// allocated.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_SUPPORT_NPY_H
#define MOE_SUPPORT_NPY_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moe {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

/// Reads `path` (a regular file only: a FIFO or device is refused).
bool readNpy(const std::string &path, NpyArray &array, std::string &error);
/// Parses the `size` bytes of a whole .npy file at `data`; `name` starts
/// every message. The data must be exactly the bytes the shape needs: a
/// shorter file is truncated, a longer one has trailing garbage.
bool parseNpy(const uint8_t *data, size_t size, const std::string &name,
              NpyArray &array, std::string &error);

bool writeNpy(const std::string &path, const NpyArray &array,
              std::string &error);
/// Writes the product of `shape` floats from `data` without copying them.
bool writeNpy(const std::string &path, const std::vector<int64_t> &shape,
              const float *data, std::string &error);

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
