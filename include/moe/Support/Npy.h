//===- Npy.h - NumPy .npy arrays of float32 ---------------------*- C++ -*-===//
//
// Reads and writes the activations moe-run takes and gives: float32, C order
// ('<f4', fortran_order False), any rank. Malformed files are reported, never
// trusted.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_SUPPORT_NPY_H
#define MOE_SUPPORT_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace moe {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

bool readNpy(const std::string &path, NpyArray &array, std::string &error);
bool writeNpy(const std::string &path, const NpyArray &array,
              std::string &error);

} // namespace moe

#endif // MOE_SUPPORT_NPY_H
