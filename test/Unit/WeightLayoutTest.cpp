//===- WeightLayoutTest.cpp - checkpoint layouts the binder reads ---------===//
//
// The binder on small checkpoints written here whose tensors are not
// stored in the shape the weight reads: reshaped ("stored_shape": DBRX's
// [E·F, H] experts read as [E, F, H], its w2 then transposed to the down
// projection; Ernie 4.5's [1, E] correction bias read as [E]) and fused
// experts stored either way round ("either_orientation": Qwen3-VL-MoE's
// gate_up_proj [E, 2F, H] as transformers 5 saves it, [E, H, 2F] as
// published). What init receives is compared, bit for bit, with the
// values indexed here by hand; bad shapes are refused naming the tensor
// and its file.
//
//===----------------------------------------------------------------------===//

#include "FakeBind.h"

#include <map>
#include <unistd.h>

using namespace moe;
using namespace moe::test;
using json = nlohmann::json;

namespace {
std::string scratch(const std::string &name) {
  return ::testing::TempDir() + "moe-layout-" + std::to_string(getpid()) +
         "-" + name;
}

/// 0, 1, 2, ...: every element tells where it came from.
std::vector<float> iota(int64_t count) {
  std::vector<float> values(count);
  for (int64_t i = 0; i < count; ++i)
    values[i] = static_cast<float>(i);
  return values;
}

/// Writes F32 `tensors` to a file named `name`; its path.
std::string writeF32(const std::string &name,
                     const std::map<std::string, std::pair<std::vector<int64_t>,
                                                           std::vector<float>>>
                         &tensors) {
  std::map<std::string, TensorData> data;
  for (const auto &[tensorName, tensor] : tensors)
    data[tensorName] = {DType::F32, tensor.first, bytesOf(tensor.second)};
  std::string path = scratch(name), error;
  EXPECT_TRUE(writeSafeTensors(path, data, error)) << error;
  return path;
}

/// The manifest's refusal of `slots`.
std::string manifestError(const json &slots) {
  std::vector<runtime::Entry> entries;
  std::string error;
  EXPECT_FALSE(runtime::parseManifest(fakeManifest(slots).dump(), entries,
                                      error))
      << slots.dump();
  return error;
}

// Tests DBRX's layout: w1 and w2 stored [E·F, H] (E = 2, F = 3, H = 4)
// read as gate [E, F, H] (the same bytes: bound in place) and as the down
// projection [E, H, F] (w2 viewed [E, F, H], transposed), packed in bf16
// panels too; per-expert [1, E] rows read as [E] and stacked.
TEST(WeightLayout, ReshapedViewsBindTheSameElements) {
  const int64_t E = 2, F = 3, H = 4;
  std::vector<float> w1 = iota(E * F * H), w2 = iota(E * F * H);
  for (float &v : w2)
    v += 100.0f;
  std::vector<float> row0 = {0.5f, 1.5f, 2.5f}, row1 = {-1, -2, -3};
  std::string path = writeF32(
      "dbrx.safetensors", {{"w1", {{E * F, H}, w1}},
                           {"w2", {{E * F, H}, w2}},
                           {"b.0.bias", {{1, 3}, row0}},
                           {"b.1.bias", {{1, 3}, row1}}});
  runtime::Entry entry = fakeEntry(json::parse(R"([
    {"name": "w1", "shape": [2, 3, 4], "layout": "single",
     "stored_shape": [6, 4]},
    {"name": "w2", "shape": [2, 4, 3], "layout": "single",
     "source_shape": [2, 3, 4], "transpose": [0, 2, 1],
     "stored_shape": [6, 4]},
    {"name": "w2", "shape": [2, 4, 1, 4], "layout": "single",
     "dtype": "bf16", "source_shape": [2, 3, 4], "transpose": [0, 2, 1],
     "stored_shape": [6, 4], "pack": [2, 4]},
    {"name": "b.{e}.bias", "shape": [2, 3], "layout": "stacked",
     "experts": [0, 2], "stored_shape": [1, 3]}])"));
  ASSERT_EQ(bindError(entry, path), "");
  ASSERT_EQ(received.size(), 4u);
  expectFloats(received[0], w1, "w1 [E*F, H] read as [E, F, H]");
  std::vector<float> down;
  for (int64_t e = 0; e < E; ++e)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t f = 0; f < F; ++f)
        down.push_back(w2[(e * F + f) * H + h]);
  expectFloats(received[1], down, "down[e][h][f] = w2[e*F + f][h]");
  // One panel of 4 along F = 3, the last column zero.
  std::vector<uint8_t> panels;
  for (int64_t e = 0; e < E; ++e)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t f = 0; f < 4; ++f) {
        uint16_t half = f < F ? floatToBF16(w2[(e * F + f) * H + h]) : 0;
        panels.push_back(half & 0xff);
        panels.push_back(half >> 8);
      }
  EXPECT_EQ(received[2], panels) << "bf16 panels of the down projection";
  std::vector<float> rows = row0;
  rows.insert(rows.end(), row1.begin(), row1.end());
  expectFloats(received[3], rows, "[1, 3] rows stacked as [2, 3]");
}

// Tests the refusals of reshaped views: a tensor of another shape at bind
// (naming the tensor, its file, the shape expected and the view), a
// stored shape of another element count, an empty one, one on an expert
// table, and a quantised tensor (bound only as stored).
TEST(WeightLayout, ReshapedViewsRefuseBadShapes) {
  std::string path =
      writeF32("dbrx-bad.safetensors", {{"w1", {{3, 8}, iota(24)}}});
  runtime::Entry entry = fakeEntry(json::parse(R"([
    {"name": "w1", "shape": [2, 3, 4], "layout": "single",
     "stored_shape": [6, 4]}])"));
  EXPECT_EQ(bindError(entry, path),
            "weight 'w1' in " + path +
                " has shape [3, 8], expected [6, 4] (read as [2, 3, 4])");

  EXPECT_EQ(manifestError(json::parse(R"([
    {"name": "w1", "shape": [2, 3, 4], "layout": "single",
     "stored_shape": [5, 4]}])")),
            "entry 'q' weight 'w1': \"stored_shape\" [5, 4] holds 20 "
            "elements, not the 24 of [2, 3, 4] (a reshape keeps every "
            "element)");
  EXPECT_EQ(manifestError(json::parse(R"([
    {"name": "w1", "shape": [2, 3, 4], "layout": "single",
     "stored_shape": []}])")),
            "entry 'q' weight 'w1': \"stored_shape\" must list the sizes of "
            "the stored tensor, got []");
  EXPECT_NE(manifestError(json::parse(R"([
    {"name": "w1", "shape": [2, 3, 4], "layout": "single",
     "stored_shape": [0, 4]}])"))
                .find("\"stored_shape\" [0, 4] has a size 0"),
            std::string::npos);
  EXPECT_NE(manifestError(json::parse(R"([
    {"name": "t", "shape": [4, 2], "layout": "single", "dtype": "i32",
     "index_bound": 4, "stored_shape": [8]}])"))
                .find("an i32 slot (an expert table) must be a single"),
            std::string::npos);

  // FP8 codes with their scale: refused through a reshape.
  std::map<std::string, TensorData> quantized;
  quantized["q"] = {DType::F8E4M3, {6, 4}, std::vector<uint8_t>(24, 0x38)};
  quantized["q_scale_inv"] = {DType::F32, {1, 1}, bytesOf({1.0f})};
  std::string quantizedPath = scratch("fp8-reshape.safetensors"), error;
  ASSERT_TRUE(writeSafeTensors(quantizedPath, quantized, error)) << error;
  runtime::Entry reshaped = fakeEntry(json::parse(R"([
    {"name": "q", "shape": [2, 3, 4], "layout": "single",
     "stored_shape": [6, 4]}])"));
  EXPECT_NE(bindError(reshaped, quantizedPath)
                .find("a quantised tensor is bound as it is stored, not "
                      "reshaped"),
            std::string::npos);
}

/// Qwen3-VL-MoE's experts, E = 2, F = 3, H = 4, as the manifest reads
/// them: gate and up sliced from gate_up_proj [E, 2F, H], down_proj
/// [E, H, F].
json fusedSlots() {
  return json::parse(R"([
    {"name": "gate_up_proj", "shape": [2, 3, 4], "layout": "single",
     "source_shape": [2, 6, 4], "slice": [1, 0, 3], "transpose": [0, 1, 2],
     "either_orientation": true},
    {"name": "gate_up_proj", "shape": [2, 3, 4], "layout": "single",
     "source_shape": [2, 6, 4], "slice": [1, 3, 3], "transpose": [0, 1, 2],
     "either_orientation": true},
    {"name": "down_proj", "shape": [2, 4, 3], "layout": "single",
     "either_orientation": true},
    {"name": "down_proj", "shape": [2, 4, 1, 4], "layout": "single",
     "dtype": "bf16", "source_shape": [2, 4, 3], "pack": [2, 4],
     "either_orientation": true}])");
}

// Tests fused experts in both orientations: gate_up_proj [E, 2F, H] and
// down_proj [E, H, F] (as transformers 5.24 saves them) and the same
// values stored [E, H, 2F] and [E, F, H] (as the hub publishes them) bind
// to the same bytes, packed panels included.
TEST(WeightLayout, FusedExpertsInEitherOrientation) {
  const int64_t E = 2, F = 3, H = 4;
  std::vector<float> gateUp = iota(E * 2 * F * H), down = iota(E * H * F);
  for (float &v : down)
    v = 0.25f * v - 3.0f;
  // The published layout: the last two dimensions swapped.
  std::vector<float> gateUpT(gateUp.size()), downT(down.size());
  for (int64_t e = 0; e < E; ++e) {
    for (int64_t r = 0; r < 2 * F; ++r)
      for (int64_t h = 0; h < H; ++h)
        gateUpT[(e * H + h) * 2 * F + r] = gateUp[(e * 2 * F + r) * H + h];
    for (int64_t h = 0; h < H; ++h)
      for (int64_t f = 0; f < F; ++f)
        downT[(e * F + f) * H + h] = down[(e * H + h) * F + f];
  }
  std::string saved = writeF32(
      "fused-saved.safetensors",
      {{"gate_up_proj", {{E, 2 * F, H}, gateUp}}, {"down_proj", {{E, H, F}, down}}});
  std::string published = writeF32(
      "fused-published.safetensors", {{"gate_up_proj", {{E, H, 2 * F}, gateUpT}},
                                      {"down_proj", {{E, F, H}, downT}}});
  runtime::Entry entry = fakeEntry(fusedSlots());
  ASSERT_EQ(bindError(entry, saved), "");
  std::vector<std::vector<uint8_t>> fromSaved = received;
  ASSERT_EQ(fromSaved.size(), 4u);
  std::vector<float> gate, up;
  for (int64_t e = 0; e < E; ++e)
    for (int64_t i = 0; i < F * H; ++i) {
      gate.push_back(gateUp[e * 2 * F * H + i]);
      up.push_back(gateUp[e * 2 * F * H + F * H + i]);
    }
  expectFloats(fromSaved[0], gate, "gate: rows [0, F)");
  expectFloats(fromSaved[1], up, "up: rows [F, 2F)");
  expectFloats(fromSaved[2], down, "down_proj as saved");

  ASSERT_EQ(bindError(entry, published), "");
  ASSERT_EQ(received.size(), 4u);
  for (size_t i = 0; i < received.size(); ++i)
    EXPECT_EQ(received[i], fromSaved[i])
        << "slot " << i << " differs between the two orientations";
}

// Tests the refusals of either orientation: a tensor whose last two
// dimensions are equal (H == 2F) could be either and is refused naming it
// and its file; a shape that is neither orientation names both; the
// experts of one stacked weight must agree; the manifest refuses the flag
// on a tensor of one dimension, beside a stored shape, or not a boolean.
TEST(WeightLayout, EitherOrientationRefusals) {
  // H = 6 == 2F: [2, 6, 6] reads both ways.
  std::string square = writeF32(
      "fused-square.safetensors",
      {{"gate_up_proj", {{2, 6, 6}, iota(72)}}, {"down_proj", {{2, 6, 3}, iota(36)}}});
  runtime::Entry entry = fakeEntry(json::parse(R"([
    {"name": "gate_up_proj", "shape": [2, 3, 6], "layout": "single",
     "source_shape": [2, 6, 6], "slice": [1, 0, 3], "transpose": [0, 1, 2],
     "either_orientation": true}])"));
  std::string error = bindError(entry, square);
  EXPECT_EQ(error.find("weight 'gate_up_proj' in " + square +
                       " has shape [2, 6, 6]: its last two dimensions are "
                       "equal"),
            0u)
      << error;
  EXPECT_NE(error.find("H == 2F"), std::string::npos) << error;

  std::string odd = writeF32("fused-odd.safetensors",
                             {{"down_proj", {{2, 12, 1}, iota(24)}}});
  runtime::Entry downOnly = fakeEntry(json::parse(R"([
    {"name": "down_proj", "shape": [2, 4, 3], "layout": "single",
     "either_orientation": true}])"));
  EXPECT_EQ(bindError(downOnly, odd),
            "weight 'down_proj' in " + odd +
                " has shape [2, 12, 1], expected [2, 4, 3] or, transposed, "
                "[2, 3, 4]");

  std::string mixed = writeF32(
      "mixed.safetensors",
      {{"e.0.w", {{3, 4}, iota(12)}}, {"e.1.w", {{4, 3}, iota(12)}}});
  runtime::Entry stacked = fakeEntry(json::parse(R"([
    {"name": "e.{e}.w", "shape": [2, 3, 4], "layout": "stacked",
     "experts": [0, 2], "either_orientation": true}])"));
  EXPECT_EQ(bindError(stacked, mixed),
            "weight 'e.1.w' in " + mixed +
                " is stored transposed, 'e.0.w' untransposed: the experts of "
                "one weight must agree");

  EXPECT_NE(manifestError(json::parse(R"([
    {"name": "b", "shape": [4], "layout": "single",
     "either_orientation": true}])"))
                .find("\"either_orientation\" needs a tensor of two "
                      "dimensions or more"),
            std::string::npos);
  EXPECT_NE(manifestError(json::parse(R"([
    {"name": "w", "shape": [2, 3, 4], "layout": "single",
     "stored_shape": [6, 4], "either_orientation": true}])"))
                .find("and no \"stored_shape\""),
            std::string::npos);
  EXPECT_EQ(manifestError(json::parse(R"([
    {"name": "w", "shape": [3, 4], "layout": "single",
     "either_orientation": 1}])")),
            "entry 'q' weight 'w': \"either_orientation\" must be true or "
            "false, got 1");
}
} // namespace
