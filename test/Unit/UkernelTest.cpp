//===- UkernelTest.cpp - the matmul micro-kernel against a plain loop -----===//
//
// Every path of moe_ukernel_matmul_nt_f32 (few rows, packed tiles, row,
// column and depth tails, padded leading dimensions, offsets, accumulation
// into C) against a double-precision triple loop, relative 1e-5.
//
//===----------------------------------------------------------------------===//

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace {
struct MemRef2D {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
};
} // namespace

extern "C" void _mlir_ciface_moe_ukernel_matmul_nt_f32(MemRef2D *a, MemRef2D *b,
                                                       MemRef2D *c);

namespace {
/// A [rows, cols] view at `offset` into `data` with leading dimension `ld`.
MemRef2D view(std::vector<float> &data, int64_t offset, int64_t rows,
              int64_t cols, int64_t ld) {
  return {data.data(), data.data(), offset, {rows, cols}, {ld, 1}};
}

void check(int64_t m, int64_t n, int64_t k) {
  std::mt19937 rng(static_cast<uint32_t>(m * 1000003 + n * 1009 + k));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  // Padded leading dimensions and offsets, as subviews of larger buffers.
  int64_t lda = k + 3, ldb = k + 5, ldc = n + 7, offset = 11;
  std::vector<float> a(offset + m * lda), b(offset + n * ldb),
      c(offset + m * ldc);
  for (float &v : a)
    v = dist(rng);
  for (float &v : b)
    v = dist(rng);
  for (float &v : c)
    v = dist(rng);
  std::vector<float> initial = c;
  MemRef2D av = view(a, offset, m, k, lda), bv = view(b, offset, n, k, ldb),
           cv = view(c, offset, m, n, ldc);
  _mlir_ciface_moe_ukernel_matmul_nt_f32(&av, &bv, &cv);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = initial[offset + i * ldc + j], scale = std::fabs(sum);
      for (int64_t p = 0; p < k; ++p) {
        double term = double(a[offset + i * lda + p]) * b[offset + j * ldb + p];
        sum += term;
        scale += std::fabs(term);
      }
      ASSERT_NEAR(c[offset + i * ldc + j], sum, 1e-5 * scale + 1e-6)
          << "m=" << m << " n=" << n << " k=" << k << " at " << i << "," << j;
    }
  // Padding between rows is untouched.
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = n; j < ldc && offset + i * ldc + j < int64_t(c.size());
         ++j)
      ASSERT_EQ(c[offset + i * ldc + j], initial[offset + i * ldc + j]);
}

// Tests the few-rows path (M < 8) including depth tails.
TEST(MatmulUkernel, FewRows) {
  for (int64_t m : {1, 2, 7})
    for (int64_t k : {1, 16, 37, 64})
      check(m, 33, k);
}

// Tests the packed path: full and partial 6-row tiles, full and partial
// 32-column panels, odd depths.
TEST(MatmulUkernel, PackedTiles) {
  for (int64_t m : {8, 12, 13, 37})
    for (int64_t n : {1, 31, 32, 33, 96})
      for (int64_t k : {1, 5, 64, 100})
        check(m, n, k);
}

// Tests that empty shapes are no-ops.
TEST(MatmulUkernel, Empty) {
  check(0, 8, 8);
  check(8, 0, 8);
  check(8, 8, 0);
}
} // namespace
