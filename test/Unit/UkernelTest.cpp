//===- UkernelTest.cpp - the micro-kernels against plain loops ------------===//
//
// Every path of the micro-kernels against double-precision loops, relative
// 1e-5, for each instruction set the CPU runs (portable C, AVX2, AVX-512):
// the router's matmul (row, column and depth tails of the 3x8 tile, depth
// blocks, padded leading dimensions, offsets, accumulation into C) and the
// expert kernels' register tile alone (each row count, depth tails, f32 and
// bf16 panels, fresh and accumulating, rows read through an index list).
// The loops and epilogues around the tile are generated code, tested by
// the execution tests (CompiledLayerTest.cpp).
//
//===----------------------------------------------------------------------===//

#include "../../lib/Runtime/Embedded/Ukernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {
/// A rows×cols matrix stored at an offset with a padded leading dimension,
/// as the subviews generated code passes.
struct Matrix {
  Matrix(int64_t rows, int64_t cols, std::mt19937 &rng)
      : rows(rows), cols(cols), ld(cols + 5), data(kOffset + rows * ld + 3) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (float &v : data)
      v = dist(rng);
  }
  MoEMemRef2D view() {
    return {data.data(), data.data(), kOffset, {rows, cols}, {ld, 1}};
  }
  float operator()(int64_t r, int64_t c) const {
    return data[kOffset + r * ld + c];
  }
  static constexpr int64_t kOffset = 11;
  int64_t rows, cols, ld;
  std::vector<float> data;
};

MoEMemRef1DI32 view(std::vector<int32_t> &v) {
  return {v.data(), v.data(), 0, {int64_t(v.size())}, {1}};
}

/// Σ a(i,:)·b(j,:) in double, and Σ|terms| for the tolerance.
std::pair<double, double> dot(const Matrix &a, int64_t i, const Matrix &b,
                              int64_t j) {
  double sum = 0, scale = 0;
  for (int64_t p = 0; p < a.cols; ++p) {
    double term = double(a(i, p)) * b(j, p);
    sum += term;
    scale += std::fabs(term);
  }
  return {sum, scale};
}

/// Every element outside the rows×cols views is unchanged.
void expectPaddingUntouched(const Matrix &after, const Matrix &before) {
  for (int64_t idx = 0; idx < int64_t(after.data.size()); ++idx) {
    int64_t rel = idx - Matrix::kOffset;
    bool inside =
        rel >= 0 && rel / after.ld < after.rows && rel % after.ld < after.cols;
    if (!inside) {
      ASSERT_EQ(after.data[idx], before.data[idx]) << "padding at " << idx;
    }
  }
}

void checkMatmul(int64_t m, int64_t n, int64_t k) {
  std::mt19937 rng(static_cast<uint32_t>(m * 1000003 + n * 1009 + k));
  Matrix a(m, k, rng), b(n, k, rng), c(m, n, rng);
  Matrix initial = c;
  MoEMemRef2D av = a.view(), bv = b.view(), cv = c.view();
  _mlir_ciface_moe_ukernel_matmul_nt_f32(&av, &bv, &cv);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      auto [sum, scale] = dot(a, i, b, j);
      ASSERT_NEAR(c(i, j), initial(i, j) + sum, 1e-5 * scale + 1e-6)
          << "m=" << m << " n=" << n << " k=" << k << " at " << i << "," << j;
    }
  expectPaddingUntouched(c, initial);
}

/// Rounds to the nearest bf16, ties to even (as checkpoints are stored).
uint16_t toBF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

float fromBF16(uint16_t half) {
  uint32_t bits = uint32_t(half) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

class UkernelsOnIsa : public ::testing::TestWithParam<MoEUkernelIsa> {
protected:
  void SetUp() override {
    if (!moe_ukernel_use_isa(GetParam()))
      GTEST_SKIP() << "this CPU does not run it";
  }
  void TearDown() override {
    // Back to the best the CPU runs, as without the test.
    if (!moe_ukernel_use_isa(MOE_UKERNEL_ISA_AVX512) &&
        !moe_ukernel_use_isa(MOE_UKERNEL_ISA_AVX2))
      moe_ukernel_use_isa(MOE_UKERNEL_ISA_PORTABLE);
  }
};

std::string isaName(const ::testing::TestParamInfo<MoEUkernelIsa> &info) {
  switch (info.param) {
  case MOE_UKERNEL_ISA_AVX512:
    return "Avx512";
  case MOE_UKERNEL_ISA_AVX2:
    return "Avx2";
  default:
    return "Portable";
  }
}

INSTANTIATE_TEST_SUITE_P(, UkernelsOnIsa,
                         ::testing::Values(MOE_UKERNEL_ISA_PORTABLE,
                                           MOE_UKERNEL_ISA_AVX2,
                                           MOE_UKERNEL_ISA_AVX512),
                         isaName);

// Tests that an instruction set that does not exist is refused.
TEST(Ukernels, UnknownIsaRefused) {
  EXPECT_EQ(moe_ukernel_use_isa(static_cast<MoEUkernelIsa>(7)), 0);
}

// Tests full and partial 3-row tiles, full and partial 8-column tiles,
// depth tails and more than one depth block.
TEST_P(UkernelsOnIsa, MatmulTiles) {
  for (int64_t m : {1, 2, 3, 4, 8, 37})
    for (int64_t n : {1, 7, 8, 9, 33})
      for (int64_t k : {1, 5, 16, 100})
        checkMatmul(m, n, k);
  checkMatmul(5, 17, 2500); // three depth blocks, the last partial
}

// Tests that empty shapes are no-ops.
TEST_P(UkernelsOnIsa, MatmulEmpty) {
  checkMatmul(0, 8, 8);
  checkMatmul(8, 0, 8);
  checkMatmul(8, 8, 0);
}

// Tests every activation, gathered or not, scaled or not, with row and
// column tails (four columns per tile when gated).
void checkTile(int mr, int64_t kc, bool bf16, bool fresh) {
  constexpr int64_t kPanel = MOE_UKERNEL_PANEL;
  std::mt19937 rng(unsigned(mr * 1000 + kc * 10 + bf16 * 2 + fresh));
  Matrix x(9, kc + 7, rng);
  int64_t p0 = 5;
  std::vector<int32_t> rows = {7, 2, 8, 0, 5, 3};
  rows.resize(mr);
  MoEMemRef1DI32 rowView = view(rows);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> panel[2];
  std::vector<uint16_t> panelBF16[2];
  for (int j = 0; j < 2; ++j) {
    for (int64_t i = 0; i < 3 + kc * kPanel; ++i) {
      float v = dist(rng);
      panelBF16[j].push_back(toBF16(v));
      panel[j].push_back(bf16 ? fromBF16(panelBF16[j].back()) : v);
    }
  }
  std::vector<float> acc(MOE_UKERNEL_TILE_ROWS * 2 * kPanel + 4);
  for (float &v : acc)
    v = dist(rng);
  std::vector<float> initial = acc;
  MoEMemRef2D accView = {acc.data(), acc.data(), 4,
                         {mr, 2 * kPanel}, {2 * kPanel, 1}};
  MoEMemRef2D xView = x.view();
  // A prefetch of lines that exist (the next block, here the panel itself).
  auto address = int64_t(reinterpret_cast<intptr_t>(panel[0].data()));
  if (bf16) {
    MoEMemRef2DBF16 b[2];
    for (int j = 0; j < 2; ++j)
      b[j] = {panelBF16[j].data(), panelBF16[j].data(), 3, {kc, kPanel},
              {kPanel, 1}};
    MOE_UKERNEL_CIFACE(MOE_UKERNEL_TILE_BF16)(&xView, &rowView, p0, &b[0],
                                              &b[1], &accView, fresh, address,
                                              kc * kPanel * 2 / 64);
  } else {
    MoEMemRef2D b[2];
    for (int j = 0; j < 2; ++j)
      b[j] = {panel[j].data(), panel[j].data(), 3, {kc, kPanel}, {kPanel, 1}};
    MOE_UKERNEL_CIFACE(MOE_UKERNEL_TILE_F32)(&xView, &rowView, p0, &b[0], &b[1],
                                             &accView, fresh, address,
                                             kc * kPanel * 4 / 64);
  }
  for (int i = 0; i < MOE_UKERNEL_TILE_ROWS; ++i)
    for (int64_t c = 0; c < 2 * kPanel; ++c) {
      size_t at = 4 + i * 2 * kPanel + c;
      if (i >= mr) {
        ASSERT_EQ(acc[at], initial[at]) << "row " << i << " past mr written";
        continue;
      }
      double sum = fresh ? 0.0 : initial[at], scale = std::fabs(sum);
      for (int64_t p = 0; p < kc; ++p) {
        double term = double(x(rows[i], p0 + p)) *
                      panel[c / kPanel][3 + p * kPanel + c % kPanel];
        sum += term;
        scale += std::fabs(term);
      }
      ASSERT_NEAR(acc[at], sum, 1e-5 * scale + 1e-6)
          << "mr=" << mr << " kc=" << kc << " bf16=" << bf16
          << " fresh=" << fresh << " at " << i << "," << c;
    }
}

// Tests the register tile alone: every row count up to the tile's, depth
// tails and a full depth block, f32 and bf16 panels, fresh and
// accumulating, rows read through an index list.
TEST_P(UkernelsOnIsa, Tile) {
  for (int mr = 1; mr <= MOE_UKERNEL_TILE_ROWS; ++mr)
    for (int64_t kc : {1, 7, MOE_UKERNEL_TILE_DEPTH})
      for (bool bf16 : {false, true})
        for (bool fresh : {false, true})
          checkTile(mr, kc, bf16, fresh);
}
} // namespace
