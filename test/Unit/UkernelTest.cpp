//===- UkernelTest.cpp - the micro-kernels against plain loops ------------===//
//
// Every path of the micro-kernels (row, column and depth tails of the 3x8
// tile and of the packed 6x64 tile, depth and row blocks, padded leading
// dimensions, offsets, gathered and scattered rows, weights, each activation,
// accumulation into the output) against double-precision loops, relative 1e-5,
// for each instruction set the CPU runs (portable C, AVX2, AVX-512). The
// packed kernels on bf16 panels must give the very bits of the f32 ones on
// the same weights rounded to bf16.
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

MoEMemRef1D view(std::vector<float> &v) {
  return {v.data(), v.data(), 0, {int64_t(v.size())}, {1}};
}
MoEMemRef1DI32 view(std::vector<int32_t> &v) {
  return {v.data(), v.data(), 0, {int64_t(v.size())}, {1}};
}

/// `w` `[N,K]` as packed panels `[P,K,PANEL]` (KernelABI.h), zero past N,
/// stored at an offset.
struct Panels {
  explicit Panels(const Matrix &w)
      : count((w.rows + MOE_UKERNEL_PANEL - 1) / MOE_UKERNEL_PANEL),
        depth(w.cols), data(kOffset + count * depth * MOE_UKERNEL_PANEL, 0.0f) {
    for (int64_t n = 0; n < w.rows; ++n)
      for (int64_t p = 0; p < depth; ++p)
        data[kOffset +
             ((n / MOE_UKERNEL_PANEL) * depth + p) * MOE_UKERNEL_PANEL +
             n % MOE_UKERNEL_PANEL] = w(n, p);
  }
  MoEMemRef3D view() {
    return {data.data(),
            data.data(),
            kOffset,
            {count, depth, MOE_UKERNEL_PANEL},
            {depth * MOE_UKERNEL_PANEL, MOE_UKERNEL_PANEL, 1}};
  }
  static constexpr int64_t kOffset = 16;
  int64_t count, depth;
  std::vector<float> data;
};

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

double activate(int32_t activation, double gate, double up) {
  switch (activation) {
  case MOE_UKERNEL_SWIGLU:
    return gate / (1 + std::exp(-gate)) * up;
  case MOE_UKERNEL_GEGLU:
    return 0.5 * gate * (1 + std::erf(gate / std::sqrt(2.0))) * up;
  case MOE_UKERNEL_GELU:
    return 0.5 * up * (1 + std::erf(up / std::sqrt(2.0)));
  default:
    return up > 0 ? up : 0;
  }
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

/// Rounds every value of `m` to bf16, in place.
void roundToBF16(Matrix &m) {
  for (float &v : m.data)
    v = fromBF16(toBF16(v));
}

/// `panels` in bf16 (their values already bf16, so exact), same layout.
struct BF16Panels {
  explicit BF16Panels(const Panels &panels)
      : count(panels.count), depth(panels.depth), data(panels.data.size()) {
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = toBF16(panels.data[i]);
  }
  MoEMemRef3DBF16 view() {
    return {data.data(),
            data.data(),
            Panels::kOffset,
            {count, depth, MOE_UKERNEL_PANEL},
            {depth * MOE_UKERNEL_PANEL, MOE_UKERNEL_PANEL, 1}};
  }
  int64_t count, depth;
  std::vector<uint16_t> data;
};

void expectSameBits(const Matrix &expected, const Matrix &actual,
                    const std::string &what) {
  ASSERT_EQ(expected.data.size(), actual.data.size());
  for (size_t i = 0; i < expected.data.size(); ++i)
    ASSERT_EQ(expected.data[i], actual.data[i]) << what << " at " << i;
}

/// How a test hands its weights to the kernels.
enum class Weights { Rows, F32Panels, BF16Panels };

void gateUpKernel(Weights weights, MoEMemRef2D &x, MoEMemRef1DI32 &tok,
                  MoEMemRef1D &scale, Matrix &gate, Matrix &up,
                  MoEMemRef2D &out, int32_t activation, int32_t flags) {
  if (weights == Weights::Rows) {
    MoEMemRef2D gv = gate.view(), uv = up.view();
    _mlir_ciface_moe_ukernel_gather_gate_up_f32(&x, &tok, &scale, &gv, &uv,
                                                &out, activation, flags);
    return;
  }
  Panels gatePanels(gate), upPanels(up);
  if (weights == Weights::F32Panels) {
    MoEMemRef3D gv = gatePanels.view(), uv = upPanels.view();
    _mlir_ciface_moe_ukernel_gather_gate_up_packed_f32(
        &x, &tok, &scale, &gv, &uv, &out, activation, flags);
    return;
  }
  BF16Panels gateBF16(gatePanels), upBF16(upPanels);
  MoEMemRef3DBF16 gv = gateBF16.view(), uv = upBF16.view();
  _mlir_ciface_moe_ukernel_gather_gate_up_packed_bf16(
      &x, &tok, &scale, &gv, &uv, &out, activation, flags);
}

void downKernel(Weights weights, MoEMemRef2D &h, Matrix &down,
                MoEMemRef1DI32 &tok, MoEMemRef1D &weight, MoEMemRef2D &out,
                int32_t flags) {
  if (weights == Weights::Rows) {
    MoEMemRef2D dv = down.view();
    _mlir_ciface_moe_ukernel_down_scatter_add_f32(&h, &dv, &tok, &weight, &out,
                                                  flags);
    return;
  }
  Panels downPanels(down);
  if (weights == Weights::F32Panels) {
    MoEMemRef3D dv = downPanels.view();
    _mlir_ciface_moe_ukernel_down_scatter_add_packed_f32(&h, &dv, &tok, &weight,
                                                         &out, flags);
    return;
  }
  BF16Panels downBF16(downPanels);
  MoEMemRef3DBF16 dv = downBF16.view();
  _mlir_ciface_moe_ukernel_down_scatter_add_packed_bf16(&h, &dv, &tok, &weight,
                                                        &out, flags);
}

/// gather_gate_up on `rows` rows drawn from 50 tokens (when `flags` has
/// tokens), n columns, depth k.
/// bf16 panels hold weights rounded to bf16 (as the f32 matrices then do),
/// and must also give the very bits of the f32 panels' kernel.
void checkGateUp(int64_t rows, int64_t n, int64_t k, int32_t activation,
                 int32_t flags, Weights weights = Weights::Rows) {
  std::mt19937 rng(static_cast<uint32_t>(rows * 7919 + n * 31 + k + flags));
  int64_t tokens = (flags & MOE_UKERNEL_HAS_TOKENS) ? 50 : rows;
  Matrix x(tokens, k, rng), gate(n, k, rng), up(n, k, rng), out(rows, n, rng);
  if (weights == Weights::BF16Panels) {
    roundToBF16(gate);
    roundToBF16(up);
  }
  Matrix initial = out;
  std::vector<int32_t> tok(rows);
  std::vector<float> scale(rows);
  for (int64_t r = 0; r < rows; ++r) {
    tok[r] = int32_t((r * 17 + 3) % tokens);
    scale[r] = 0.25f + 0.01f * float(r);
  }
  MoEMemRef2D xv = x.view(), ov = out.view();
  MoEMemRef1DI32 tv = view(tok);
  MoEMemRef1D sv = view(scale);
  gateUpKernel(weights, xv, tv, sv, gate, up, ov, activation, flags);
  if (weights == Weights::BF16Panels) {
    Matrix viaF32 = initial;
    MoEMemRef2D fv = viaF32.view();
    gateUpKernel(Weights::F32Panels, xv, tv, sv, gate, up, fv, activation,
                 flags);
    expectSameBits(viaF32, out,
                   "bf16 gate/up rows=" + std::to_string(rows) +
                       " n=" + std::to_string(n) + " k=" + std::to_string(k));
  }
  for (int64_t r = 0; r < rows; ++r) {
    int64_t t = (flags & MOE_UKERNEL_HAS_TOKENS) ? tok[r] : r;
    double s = (flags & MOE_UKERNEL_HAS_WEIGHTS) ? scale[r] : 1.0;
    for (int64_t j = 0; j < n; ++j) {
      auto [g, gScale] = dot(x, t, gate, j);
      auto [u, uScale] = dot(x, t, up, j);
      double expected = activate(activation, s * g, s * u);
      // The activation's slope is at most ~1.2 per unit of its inputs.
      double tol = 1e-5 * (gScale + 1) * (uScale + 1) + 1e-6;
      ASSERT_NEAR(out(r, j), expected, tol)
          << "rows=" << rows << " n=" << n << " k=" << k
          << " activation=" << activation << " flags=" << flags << " at " << r
          << "," << j;
    }
  }
  expectPaddingUntouched(out, initial);
}

/// down_scatter_add of `rows` rows into 40 tokens; each token appears at
/// most once, as within one expert.
void checkDown(int64_t rows, int64_t n, int64_t k, int32_t flags,
               Weights weights = Weights::Rows) {
  std::mt19937 rng(static_cast<uint32_t>(rows * 104729 + n * 13 + k + flags));
  int64_t tokens = (flags & MOE_UKERNEL_HAS_TOKENS) ? 40 : rows;
  ASSERT_LE(rows, tokens);
  Matrix h(rows, k, rng), down(n, k, rng), out(tokens, n, rng);
  if (weights == Weights::BF16Panels)
    roundToBF16(down);
  Matrix initial = out;
  std::vector<int32_t> tok(rows);
  std::vector<float> weight(rows);
  for (int64_t r = 0; r < rows; ++r) {
    tok[r] = int32_t((r * 7 + 5) % tokens); // 7 is coprime with 40
    weight[r] = 0.5f - 0.02f * float(r);
  }
  MoEMemRef2D hv = h.view(), ov = out.view();
  MoEMemRef1DI32 tv = view(tok);
  MoEMemRef1D wv = view(weight);
  downKernel(weights, hv, down, tv, wv, ov, flags);
  if (weights == Weights::BF16Panels) {
    Matrix viaF32 = initial;
    MoEMemRef2D fv = viaF32.view();
    downKernel(Weights::F32Panels, hv, down, tv, wv, fv, flags);
    expectSameBits(viaF32, out,
                   "bf16 down rows=" + std::to_string(rows) +
                       " n=" + std::to_string(n) + " k=" + std::to_string(k));
  }
  std::vector<double> expected(tokens * n), scale(tokens * n);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < n; ++j) {
      expected[t * n + j] = initial(t, j);
      scale[t * n + j] = std::fabs(initial(t, j));
    }
  for (int64_t r = 0; r < rows; ++r) {
    int64_t t = (flags & MOE_UKERNEL_HAS_TOKENS) ? tok[r] : r;
    double w = (flags & MOE_UKERNEL_HAS_WEIGHTS) ? weight[r] : 1.0;
    for (int64_t j = 0; j < n; ++j) {
      auto [sum, s] = dot(h, r, down, j);
      expected[t * n + j] += w * sum;
      scale[t * n + j] += std::fabs(w) * s;
    }
  }
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t j = 0; j < n; ++j)
      ASSERT_NEAR(out(t, j), expected[t * n + j],
                  1e-5 * scale[t * n + j] + 1e-6)
          << "rows=" << rows << " n=" << n << " k=" << k << " flags=" << flags
          << " at " << t << "," << j;
  expectPaddingUntouched(out, initial);
}

/// Runs each test on one instruction set; skipped where the CPU lacks it.
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
TEST_P(UkernelsOnIsa, GatherGateUp) {
  for (int32_t activation : {MOE_UKERNEL_SWIGLU, MOE_UKERNEL_GEGLU,
                             MOE_UKERNEL_GELU, MOE_UKERNEL_RELU})
    for (int32_t flags = 0; flags < 4; ++flags)
      for (int64_t rows : {1, 3, 4, 11})
        for (int64_t n : {3, 4, 8, 13})
          checkGateUp(rows, n, 37, activation, flags);
  checkGateUp(7, 9, 1030, MOE_UKERNEL_SWIGLU, 3);
  checkGateUp(0, 9, 16, MOE_UKERNEL_SWIGLU, 3);
}

// Tests the weighted scatter-add, with and without tokens and weights,
// tails and depth blocks.
TEST_P(UkernelsOnIsa, DownScatterAdd) {
  for (int32_t flags = 0; flags < 4; ++flags)
    for (int64_t rows : {1, 2, 3, 10, 40})
      for (int64_t n : {1, 8, 13})
        for (int64_t k : {7, 64})
          checkDown(rows, n, k, flags);
  checkDown(9, 11, 2100, 3);
  checkDown(0, 11, 16, 3);
}
// The packed kernels: row tails of the 6-row tile and of 48-row blocks,
// panel tails (32 columns; gated tiles take one gate and one up panel,
// others two panels), depth blocks of 128.
TEST_P(UkernelsOnIsa, GatherGateUpPacked) {
  for (int32_t activation : {MOE_UKERNEL_SWIGLU, MOE_UKERNEL_GEGLU,
                             MOE_UKERNEL_GELU, MOE_UKERNEL_RELU})
    for (int32_t flags = 0; flags < 4; ++flags)
      for (int64_t rows : {1, 6, 7, 50})
        for (int64_t n : {3, 32, 45, 70})
          checkGateUp(rows, n, 37, activation, flags, Weights::F32Panels);
  for (int64_t k : {128, 130, 300})
    checkGateUp(13, 40, k, MOE_UKERNEL_SWIGLU, 3, Weights::F32Panels);
  checkGateUp(0, 9, 16, MOE_UKERNEL_SWIGLU, 3, Weights::F32Panels);
}

TEST_P(UkernelsOnIsa, DownScatterAddPacked) {
  for (int32_t flags = 0; flags < 4; ++flags)
    for (int64_t rows : {1, 5, 6, 40})
      for (int64_t n : {1, 32, 33, 64, 70})
        for (int64_t k : {7, 129})
          checkDown(rows, n, k, flags, Weights::F32Panels);
  checkDown(9, 11, 300, 3, Weights::F32Panels);
  checkDown(0, 11, 16, 3, Weights::F32Panels);
}

// bf16 panels: the same tails and blocks, and decode's few rows (several
// prefetched lines per step).
TEST_P(UkernelsOnIsa, GatherGateUpPackedBF16) {
  for (int32_t activation : {MOE_UKERNEL_SWIGLU, MOE_UKERNEL_GELU})
    for (int32_t flags = 0; flags < 4; ++flags)
      for (int64_t rows : {1, 7, 50})
        for (int64_t n : {3, 45, 70})
          checkGateUp(rows, n, 37, activation, flags, Weights::BF16Panels);
  for (int64_t k : {128, 300})
    checkGateUp(2, 64, k, MOE_UKERNEL_SWIGLU, 3, Weights::BF16Panels);
  checkGateUp(0, 9, 16, MOE_UKERNEL_SWIGLU, 3, Weights::BF16Panels);
}

TEST_P(UkernelsOnIsa, DownScatterAddPackedBF16) {
  for (int32_t flags = 0; flags < 4; ++flags)
    for (int64_t rows : {1, 6, 40})
      for (int64_t n : {1, 33, 70})
        for (int64_t k : {7, 129})
          checkDown(rows, n, k, flags, Weights::BF16Panels);
  checkDown(3, 64, 600, 3, Weights::BF16Panels);
}

/// One call of the register tile alone: `mr` rows of x picked through a
/// row index list (out of order, as tokens), `kc` steps of depth from
/// `p0`, on f32 or bf16 panels, from zero or accumulating, against a
/// double-precision loop.
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
