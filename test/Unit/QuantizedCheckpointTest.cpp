//===- QuantizedCheckpointTest.cpp - FP8 and MXFP4 checkpoints bound ------===//
//
// The element decoders over every code, and the binder on small quantised
// checkpoints written here with known codes and scales: what it hands to a
// library's init must equal, bit for bit, the values the formats define
// (computed here from the specifications, not with the library's decoders),
// through the weight views (strided slices included). Malformed quantised
// checkpoints are refused with a message naming the file and the tensor.
//
//===----------------------------------------------------------------------===//

#include "FakeBind.h"

#include "moe/Runtime/Loader.h"
#include "moe/Support/Npy.h"
#include "moe/Support/SafeTensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <unistd.h>

using namespace moe;
using namespace moe::test;
using json = nlohmann::json;

namespace {
std::string scratch(const std::string &name) {
  return ::testing::TempDir() + "moe-quant-" + std::to_string(getpid()) + "-" +
         name;
}

/// OCP FP8 E4M3 from its definition: (-1)^s 2^(e-7) (1 + m/8), subnormal
/// 2^-6 (m/8) for e = 0; S.1111.111 is NaN.
double fp8Spec(uint8_t code) {
  int sign = code >> 7, exponent = (code >> 3) & 0xf, mantissa = code & 0x7;
  double value = exponent == 0
                     ? mantissa / 8.0 * std::pow(2.0, -6)
                     : (1 + mantissa / 8.0) * std::pow(2.0, exponent - 7);
  return sign ? -value : value;
}

/// transformers' FP4_VALUES (integrations/mxfp4.py): E2M1 by code.
constexpr float kFP4Values[16] = {+0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f,
                                  +4.0f, +6.0f, -0.0f, -0.5f, -1.0f, -1.5f,
                                  -2.0f, -3.0f, -4.0f, -6.0f};

// Tests every FP8 E4M3 code against the format's definition: 0x7f and 0xff
// are NaN, 0x7e is the largest (448), 0x01 the smallest subnormal (2^-9).
TEST(QuantizedFormats, FP8E4M3EveryCode) {
  for (int code = 0; code < 256; ++code) {
    float value = fp8e4m3ToFloat(static_cast<uint8_t>(code));
    if ((code & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(value)) << code;
      continue;
    }
    EXPECT_EQ(bitsOf(value), bitsOf(static_cast<float>(fp8Spec(code))))
        << "code " << code;
  }
  EXPECT_EQ(fp8e4m3ToFloat(0x7e), 448.0f);
  EXPECT_EQ(fp8e4m3ToFloat(0x38), 1.0f);
  EXPECT_EQ(fp8e4m3ToFloat(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(bitsOf(fp8e4m3ToFloat(0x80)), bitsOf(-0.0f));
}

// Tests the 16 E2M1 codes against transformers' table, and that only the
// low nibble counts.
TEST(QuantizedFormats, E2M1EveryCode) {
  for (int code = 0; code < 16; ++code) {
    EXPECT_EQ(bitsOf(e2m1ToFloat(static_cast<uint8_t>(code))),
              bitsOf(kFP4Values[code]))
        << code;
    EXPECT_EQ(bitsOf(e2m1ToFloat(static_cast<uint8_t>(code | 0xa0))),
              bitsOf(kFP4Values[code]))
        << code;
  }
}

// Tests the 256 E8M0 codes: 2^(code - 127), 2^-127 a float subnormal,
// 0xff NaN.
TEST(QuantizedFormats, E8M0EveryCode) {
  for (int code = 0; code < 255; ++code)
    EXPECT_EQ(e8m0ToFloat(static_cast<uint8_t>(code)),
              static_cast<float>(std::pow(2.0, code - 127)))
        << code;
  EXPECT_GT(e8m0ToFloat(0), 0.0f);
  EXPECT_TRUE(std::isnan(e8m0ToFloat(0xff)));
}

// Tests that the FP8 dtypes read from and write to a file by their
// safetensors names, and that copyToF32 decodes them unscaled.
TEST(QuantizedFormats, SafeTensorsDTypes) {
  std::string path = scratch("dtypes.safetensors"), error;
  ASSERT_TRUE(writeSafeTensors(path,
                               {{"a", {DType::F8E4M3, {3}, {0x38, 0xb8, 0x7e}}},
                                {"b", {DType::F8E8M0, {2}, {127, 130}}}},
                               error))
      << error;
  auto checkpoint = Checkpoint::open(path, error);
  ASSERT_TRUE(checkpoint) << error;
  const TensorView *a = checkpoint->find("a"), *b = checkpoint->find("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->dtype, DType::F8E4M3);
  EXPECT_STREQ(dtypeName(a->dtype), "F8_E4M3");
  EXPECT_STREQ(dtypeName(b->dtype), "F8_E8M0");
  float values[3];
  ASSERT_TRUE(a->copyToF32(values));
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[1], -1.0f);
  EXPECT_EQ(values[2], 448.0f);
  ASSERT_TRUE(b->copyToF32(values));
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[1], 8.0f);
}

/// Random FP8 codes, NaN codes excluded.
std::vector<uint8_t> randomFP8(std::mt19937 &rng, size_t count) {
  std::vector<uint8_t> codes(count);
  for (uint8_t &code : codes) {
    do
      code = static_cast<uint8_t>(rng());
    while ((code & 0x7f) == 0x7f);
  }
  return codes;
}

/// Scales over a wide range (2^-20 to 2^4, any mantissa).
std::vector<float> randomScales(std::mt19937 &rng, size_t count) {
  std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
  std::uniform_int_distribution<int> exponent(-20, 4);
  std::vector<float> scales(count);
  for (float &s : scales)
    s = std::ldexp(mantissa(rng), exponent(rng));
  return scales;
}

/// The f32 values of FP8 `codes` [..., n, k] with `scales` per 128 x 128
/// block, from the definition.
std::vector<float> dequantizeFP8(const std::vector<uint8_t> &codes,
                                 const std::vector<float> &scales, int64_t n,
                                 int64_t k) {
  int64_t sn = (n + 127) / 128, sk = (k + 127) / 128;
  std::vector<float> out(codes.size());
  for (size_t i = 0; i < codes.size(); ++i) {
    int64_t matrix = i / (n * k), row = i / k % n, col = i % k;
    out[i] = static_cast<float>(fp8Spec(codes[i])) *
             scales[(matrix * sn + row / 128) * sk + col / 128];
  }
  return out;
}

// Tests FP8 binding: per-expert tensors [200, 136] (a full 128 x 128
// block and partial ones at both edges) each with its own F32 scales,
// stacked; and one tensor of all experts [3, 130, 129] with BF16 scales
// and one with E8M0 (U8) scales. The bound f32 weights equal the codes'
// values times their block's scale, bit for bit.
TEST(QuantizedCheckpoint, FP8BindsDequantized) {
  std::mt19937 rng(11);
  std::map<std::string, TensorData> tensors;
  std::vector<float> stacked;
  for (int e = 0; e < 2; ++e) {
    std::vector<uint8_t> codes = randomFP8(rng, 200 * 136);
    std::vector<float> scales = randomScales(rng, 2 * 2);
    std::string name = "e." + std::to_string(e) + ".w";
    tensors[name] = {DType::F8E4M3, {200, 136}, codes};
    tensors[name + "_scale_inv"] = {DType::F32, {2, 2}, bytesOf(scales)};
    std::vector<float> values = dequantizeFP8(codes, scales, 200, 136);
    stacked.insert(stacked.end(), values.begin(), values.end());
  }
  std::vector<uint8_t> codes = randomFP8(rng, 3 * 130 * 129);
  // BF16 scales: the upper halves of random floats.
  std::vector<float> scales = randomScales(rng, 3 * 2 * 2);
  std::vector<uint8_t> halves;
  for (float &s : scales) {
    uint16_t h = static_cast<uint16_t>(bitsOf(s) >> 16);
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    std::memcpy(&s, &bits, 4);
    halves.push_back(h & 0xff);
    halves.push_back(h >> 8);
  }
  tensors["fused"] = {DType::F8E4M3, {3, 130, 129}, codes};
  tensors["fused_scale_inv"] = {DType::BF16, {3, 2, 2}, halves};
  std::vector<float> fused = dequantizeFP8(codes, scales, 130, 129);
  std::vector<uint8_t> exponents = {100, 127, 131, 140};
  std::vector<float> powers;
  for (uint8_t x : exponents)
    powers.push_back(static_cast<float>(std::pow(2.0, x - 127)));
  std::vector<uint8_t> small = randomFP8(rng, 130 * 129);
  tensors["mx"] = {DType::F8E4M3, {130, 129}, small};
  tensors["mx_scale_inv"] = {DType::U8, {2, 2}, exponents};
  std::string path = scratch("fp8.safetensors"), error;
  ASSERT_TRUE(writeSafeTensors(path, tensors, error)) << error;

  runtime::Entry entry = fakeEntry(json::parse(R"([
    {"name": "e.{e}.w", "shape": [2, 200, 136], "layout": "stacked",
     "experts": [0, 2]},
    {"name": "fused", "shape": [3, 130, 129], "layout": "single"},
    {"name": "mx", "shape": [130, 129], "layout": "single"}])"));
  ASSERT_EQ(bindError(entry, path), "");
  ASSERT_EQ(received.size(), 3u);
  expectFloats(received[0], stacked, "stacked, F32 scales");
  expectFloats(received[1], fused, "one tensor, BF16 scales");
  expectFloats(received[2], dequantizeFP8(small, powers, 130, 129),
               "E8M0 scales");
}

/// GPT-OSS's MXFP4 layout: blocks [E, N, G, 16], scales [E, N, G]; the
/// parameter [E, G * 32, N], from the definition.
std::vector<float> dequantizeMXFP4(const std::vector<uint8_t> &blocks,
                                   const std::vector<uint8_t> &scales,
                                   int64_t experts, int64_t n, int64_t groups) {
  int64_t k = groups * 32;
  std::vector<float> out(experts * k * n);
  for (int64_t e = 0; e < experts; ++e)
    for (int64_t r = 0; r < n; ++r)
      for (int64_t g = 0; g < groups; ++g)
        for (int64_t b = 0; b < 16; ++b) {
          int64_t at = (e * n + r) * groups + g;
          uint8_t byte = blocks[at * 16 + b];
          float scale =
              static_cast<float>(std::pow(2.0, int(scales[at]) - 127));
          for (int half = 0; half < 2; ++half) {
            int64_t kk = g * 32 + 2 * b + half;
            out[(e * k + kk) * n + r] =
                kFP4Values[half ? byte >> 4 : byte & 0xf] * scale;
          }
        }
  return out;
}

// Tests MXFP4 binding: gate_up_proj_blocks [2, 6, 2, 16] and its scales
// become the parameter [2, 64, 6] (transposed), bound whole and through
// GPT-OSS's strided views (gate = [..., 0::2], up = [..., 1::2], then
// transposed to [E, F, H]), and through a bf16 packed view; the values
// equal the definition's, bit for bit (bf16: rounded once).
TEST(QuantizedCheckpoint, MXFP4BindsDequantizedThroughStridedViews) {
  std::mt19937 rng(5);
  const int64_t experts = 2, n = 6, groups = 2, k = groups * 32;
  std::vector<uint8_t> blocks(experts * n * groups * 16), scales;
  for (uint8_t &b : blocks)
    b = static_cast<uint8_t>(rng());
  for (int64_t i = 0; i < experts * n * groups; ++i)
    scales.push_back(static_cast<uint8_t>(110 + rng() % 30));
  std::string path = scratch("mxfp4.safetensors"), error;
  ASSERT_TRUE(writeSafeTensors(
      path,
      {{"gate_up_proj_blocks", {DType::U8, {experts, n, groups, 16}, blocks}},
       {"gate_up_proj_scales", {DType::U8, {experts, n, groups}, scales}}},
      error))
      << error;
  std::vector<float> whole =
      dequantizeMXFP4(blocks, scales, experts, n, groups);
  // gate (offset 0) or up (offset 1): [e, f, h] = whole[e, h, 2 f + offset].
  auto half = [&](int64_t offset) {
    std::vector<float> out;
    for (int64_t e = 0; e < experts; ++e)
      for (int64_t f = 0; f < n / 2; ++f)
        for (int64_t h = 0; h < k; ++h)
          out.push_back(whole[(e * k + h) * n + 2 * f + offset]);
    return out;
  };
  runtime::Entry entry = fakeEntry(json::parse(R"([
    {"name": "gate_up_proj", "shape": [2, 64, 6], "layout": "single"},
    {"name": "gate_up_proj", "shape": [2, 3, 64], "layout": "single",
     "source_shape": [2, 64, 6], "slice": [2, 0, 3, 2],
     "transpose": [0, 2, 1]},
    {"name": "gate_up_proj", "shape": [2, 3, 64], "layout": "single",
     "source_shape": [2, 64, 6], "slice": [2, 1, 3, 2],
     "transpose": [0, 2, 1]},
    {"name": "gate_up_proj", "shape": [2, 3, 2, 32], "layout": "single",
     "dtype": "bf16", "source_shape": [2, 64, 6], "slice": [2, 1, 3, 2],
     "transpose": [0, 2, 1], "pack": [2, 32]}])"));
  ASSERT_EQ(bindError(entry, path), "");
  ASSERT_EQ(received.size(), 4u);
  expectFloats(received[0], whole, "the parameter");
  expectFloats(received[1], half(0), "gate = [..., 0::2]");
  std::vector<float> up = half(1);
  expectFloats(received[2], up, "up = [..., 1::2]");
  // Panels of 32 along H = 64: [e, f, panel, 32] is the row-major view.
  std::vector<uint8_t> rounded;
  for (float v : up) {
    uint16_t h = floatToBF16(v);
    rounded.push_back(h & 0xff);
    rounded.push_back(h >> 8);
  }
  EXPECT_EQ(received[3], rounded) << "bf16 panels of up";

  // QuantizedTensor read directly: as the parameter, from an odd element
  // on, and in the stored order ([E, N, K]: the parameter transposed).
  auto checkpoint = Checkpoint::open(path, error);
  ASSERT_TRUE(checkpoint) << error;
  QuantizedTensor tensor;
  ASSERT_TRUE(QuantizedTensor::find(*checkpoint, "gate_up_proj", tensor, error))
      << error;
  EXPECT_TRUE(tensor.storedTransposed());
  std::vector<float> read(whole.size() - 7), stored(whole.size());
  tensor.copyToF32(read.data(), 7, static_cast<int64_t>(read.size()));
  EXPECT_EQ(std::vector<float>(whole.begin() + 7, whole.end()), read);
  tensor.copyStoredToF32(stored.data(), 0, static_cast<int64_t>(stored.size()));
  for (int64_t e = 0; e < experts; ++e)
    for (int64_t r = 0; r < n; ++r)
      for (int64_t kk = 0; kk < k; ++kk)
        ASSERT_EQ(bitsOf(stored[(e * n + r) * k + kk]),
                  bitsOf(whole[(e * k + kk) * n + r]))
            << e << ", " << r << ", " << kk;
}

// Tests a strided slice along a dimension that is not the last (rows 1
// and 3 of a [4, 6] F32 tensor), and that the manifest refuses strides
// below 1 and slices whose last index leaves the source.
TEST(QuantizedCheckpoint, StridedSliceAndItsBounds) {
  std::vector<float> values(24);
  for (int i = 0; i < 24; ++i)
    values[i] = static_cast<float>(i);
  std::string path = scratch("strided.safetensors"), error;
  ASSERT_TRUE(writeSafeTensors(
      path, {{"w", {DType::F32, {4, 6}, bytesOf(values)}}}, error))
      << error;
  runtime::Entry entry = fakeEntry(json::parse(R"([
    {"name": "w", "shape": [2, 6], "layout": "single",
     "source_shape": [4, 6], "slice": [0, 1, 2, 2]}])"));
  ASSERT_EQ(bindError(entry, path), "");
  std::vector<float> rows(values.begin() + 6, values.begin() + 12);
  rows.insert(rows.end(), values.begin() + 18, values.end());
  expectFloats(received[0], rows, "rows 1::2");

  auto refused = [](const std::string &slice, const std::string &shape) {
    json manifest = fakeManifest(json::parse(
        R"([{"name": "w", "layout": "single", "source_shape": [4, 6], "shape": )" +
        shape + R"(, "slice": )" + slice + "}]"));
    std::vector<runtime::Entry> entries;
    std::string error;
    EXPECT_FALSE(runtime::parseManifest(manifest.dump(), entries, error))
        << slice;
    return error;
  };
  EXPECT_EQ(refused("[0, 1, 2, 0]", "[2, 6]"),
            "entry 'q' weight 'w': \"slice\" [0, 1, 2, 0] is not [dim, "
            "offset, size, stride] within the source shape [4, 6]");
  // 1 + (2 - 1) * 3 = 4 is past the last row.
  EXPECT_NE(refused("[0, 1, 2, 3]", "[2, 6]").find("not [dim, offset"),
            std::string::npos);
  EXPECT_NE(refused("[0, 0, 2, 9223372036854775807]", "[2, 6]")
                .find("not [dim, offset"),
            std::string::npos);
  EXPECT_NE(refused("[0, 0, 1, 1, 1]", "[1, 6]").find("more than 4"),
            std::string::npos);
}

// Tests GPT-OSS's expert biases bound like its weights: gate_up_proj_bias
// [E, 2F] viewed as its even columns (gate) and odd ones (up), each [E, F],
// and the privacy filter's chunked halves; and a BF16 bias widened to f32.
TEST(QuantizedCheckpoint, FusedBiasViews) {
  const int64_t experts = 2, f = 3;
  std::vector<float> values(experts * 2 * f);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(i) - 4.5f;
  std::vector<uint8_t> halves;
  for (float v : values) {
    uint16_t h = floatToBF16(v); // exact: small integers and halves
    halves.push_back(h & 0xff);
    halves.push_back(h >> 8);
  }
  std::string path = scratch("fused-bias.safetensors"), error;
  ASSERT_TRUE(writeSafeTensors(
      path,
      {{"gate_up_proj_bias", {DType::F32, {experts, 2 * f}, bytesOf(values)}},
       {"bf16_bias", {DType::BF16, {experts, 2 * f}, halves}}},
      error))
      << error;
  runtime::Entry entry = fakeEntry(json::parse(R"([
    {"name": "gate_up_proj_bias", "shape": [2, 3], "layout": "single",
     "source_shape": [2, 6], "slice": [1, 0, 3, 2], "transpose": [0, 1]},
    {"name": "gate_up_proj_bias", "shape": [2, 3], "layout": "single",
     "source_shape": [2, 6], "slice": [1, 1, 3, 2], "transpose": [0, 1]},
    {"name": "gate_up_proj_bias", "shape": [2, 3], "layout": "single",
     "source_shape": [2, 6], "slice": [1, 3, 3], "transpose": [0, 1]},
    {"name": "bf16_bias", "shape": [2, 6], "layout": "single"}])"));
  ASSERT_EQ(bindError(entry, path), "");
  ASSERT_EQ(received.size(), 4u);
  auto columns = [&](int64_t first, int64_t step) {
    std::vector<float> out;
    for (int64_t e = 0; e < experts; ++e)
      for (int64_t j = 0; j < f; ++j)
        out.push_back(values[e * 2 * f + first + j * step]);
    return out;
  };
  expectFloats(received[0], columns(0, 2), "gate = [..., 0::2]");
  expectFloats(received[1], columns(1, 2), "up = [..., 1::2]");
  expectFloats(received[2], columns(f, 1), "up = [..., F:]");
  expectFloats(received[3], values, "BF16 widened");
}

/// A version 1.0 .npy image of `header` (padded as numpy pads it) and data.
std::string npyImage(const std::string &header, const std::string &data) {
  std::string text = header;
  text.append(63 - (10 + text.size()) % 64, ' ');
  text += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(text.size() & 0xff);
  out += static_cast<char>(text.size() >> 8);
  return out + text + data;
}

// Tests bf16 .npy files: the header and bytes ml_dtypes writes
// (np.save of a bfloat16 array: descr '<V2') read as their exact values,
// '|V2' too; writeNpy with NpyDType::BF16 writes that form, rounded to
// nearest even; a bf16 file's size is checked at 2 bytes a value.
TEST(NpyBF16, ReadsAndWritesMlDtypesForm) {
  // 1.0, -2.0, 0.5 and the smallest bf16 above 1 (1 + 2^-7).
  std::string data("\x80\x3f\x00\xc0\x00\x3f\x81\x3f", 8);
  for (const char *descr : {"<V2", "|V2"}) {
    std::string image = npyImage(std::string("{'descr': '") + descr +
                                     "', 'fortran_order': False, 'shape': "
                                     "(2, 2), }",
                                 data);
    NpyArray array;
    std::string error;
    ASSERT_TRUE(parseNpy(reinterpret_cast<const uint8_t *>(image.data()),
                         image.size(), "x.npy", array, error))
        << error;
    EXPECT_EQ(array.dtype, NpyDType::BF16);
    EXPECT_EQ(array.shape, (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(array.data,
              (std::vector<float>{1.0f, -2.0f, 0.5f, 1.0f + 1.0f / 128}));
    NpyArray truncated;
    std::string cut = image.substr(0, image.size() - 1);
    EXPECT_FALSE(parseNpy(reinterpret_cast<const uint8_t *>(cut.data()),
                          cut.size(), "x.npy", truncated, error));
    EXPECT_NE(error.find("truncated data: expected 8 bytes"), std::string::npos)
        << error;
  }
  // Written: 1 + 2^-8 is a tie, to even (1.0); 1 + 3 * 2^-8 rounds up.
  std::string path = scratch("bf16.npy"), error;
  std::vector<float> values = {1.0f,
                               -2.0f,
                               0.5f,
                               1.0f + 1.0f / 128,
                               1.0f + 1.0f / 256,
                               1.0f + 3.0f / 256};
  ASSERT_TRUE(writeNpy(path, {3, 2}, values.data(), error, NpyDType::BF16))
      << error;
  std::ifstream in(path, std::ios::binary);
  std::string written((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
  EXPECT_EQ(written,
            npyImage("{'descr': '<V2', 'fortran_order': False, 'shape': (3, "
                     "2), }",
                     data + std::string("\x80\x3f\x82\x3f", 4)));
  NpyArray back;
  ASSERT_TRUE(readNpy(path, back, error)) << error;
  EXPECT_EQ(back.dtype, NpyDType::BF16);
  EXPECT_EQ(back.data[5], 1.0f + 2.0f / 128);
}

// Tests that malformed quantised checkpoints are refused with a message
// naming the file and the tensor: FP8 without its scales, scales of the
// wrong shape or dtype, MXFP4 blocks without scales or of the wrong shape,
// and a dequantised shape other than the slot's.
TEST(QuantizedCheckpoint, RefusesMalformed) {
  runtime::Entry entry = fakeEntry(json::parse(R"([
    {"name": "w", "shape": [130, 8], "layout": "single"}])"));
  std::vector<uint8_t> codes(130 * 8, 0x38);
  struct Case {
    const char *what;
    std::map<std::string, TensorData> tensors;
    std::string message;
  };
  std::vector<Case> cases = {
      {"no scales",
       {{"w", {DType::F8E4M3, {130, 8}, codes}}},
       "weight 'w': FILE: tensor 'w': F8_E4M3 without its block scales "
       "'w_scale_inv'"},
      {"scale shape",
       {{"w", {DType::F8E4M3, {130, 8}, codes}},
        {"w_scale_inv", {DType::F32, {1, 1}, bytesOf({1.0f})}}},
       "weight 'w': FILE: tensor 'w_scale_inv': FP8 block scales of shape "
       "[1, 1] for 'w' of shape [130, 8]; expected [2, 1] (128 x 128 "
       "blocks)"},
      {"scale dtype",
       {{"w", {DType::F8E4M3, {130, 8}, codes}},
        {"w_scale_inv", {DType::I32, {2, 1}, std::vector<uint8_t>(8)}}},
       "weight 'w': FILE: tensor 'w_scale_inv': FP8 block scales of dtype "
       "I32; F32, BF16, F16, F8_E8M0 or U8 (E8M0) expected"},
      {"fp8 shape",
       {{"w", {DType::F8E4M3, {8, 130}, codes}},
        {"w_scale_inv", {DType::F32, {1, 2}, bytesOf({1.0f, 1.0f})}}},
       "weight 'w' (F8_E4M3 'w' with scales 'w_scale_inv' in FILE) "
       "dequantises to shape [8, 130], expected [130, 8]"},
      {"blocks without scales",
       {{"w_blocks", {DType::U8, {1, 8, 1, 16}, std::vector<uint8_t>(128)}}},
       "weight 'w': FILE: tensor 'w_blocks': MXFP4 blocks without their "
       "scales 'w_scales'"},
      {"blocks shape",
       {{"w_blocks", {DType::U8, {8, 1, 16}, std::vector<uint8_t>(128)}},
        {"w_scales", {DType::U8, {8, 1}, std::vector<uint8_t>(8)}}},
       "weight 'w': FILE: tensor 'w_blocks': MXFP4 blocks of shape [8, 1, "
       "16]; [experts, rows, blocks, 16] expected"},
      {"scales shape",
       {{"w_blocks", {DType::U8, {1, 8, 1, 16}, std::vector<uint8_t>(128)}},
        {"w_scales", {DType::U8, {1, 8, 2}, std::vector<uint8_t>(16)}}},
       "weight 'w': FILE: tensor 'w_scales': MXFP4 scales of shape [1, 8, "
       "2] for blocks [1, 8, 1, 16]; expected [1, 8, 1]"},
      {"blocks dtype",
       {{"w_blocks", {DType::I8, {1, 8, 1, 16}, std::vector<uint8_t>(128)}},
        {"w_scales", {DType::U8, {1, 8, 1}, std::vector<uint8_t>(8)}}},
       "weight 'w': FILE: tensor 'w_blocks': MXFP4 blocks of dtype I8; U8 "
       "expected"},
  };
  for (Case &c : cases) {
    std::string path = scratch("bad.safetensors"), error;
    ASSERT_TRUE(writeSafeTensors(path, c.tensors, error)) << error;
    std::string message = c.message;
    for (size_t at; (at = message.find("FILE")) != std::string::npos;)
      message.replace(at, 4, path);
    EXPECT_EQ(bindError(entry, path), message) << c.what;
  }
}
} // namespace
