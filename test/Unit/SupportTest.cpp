//===- SupportTest.cpp - safetensors and .npy readers ---------------------===//
//
// Round trips, dtype conversion, and one case for each kind of malformed
// input: each must come back as an error naming the problem.
//
//===----------------------------------------------------------------------===//

#include "moe/Support/Npy.h"
#include "moe/Support/SafeTensors.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>

using namespace moe;

namespace {
std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "moe-support-" + std::to_string(getpid()) +
         "-" + name;
}

/// A safetensors file with the given header text and data bytes.
std::string writeRaw(const std::string &name, const std::string &header,
                     size_t dataBytes, uint64_t lengthField = UINT64_MAX) {
  std::string path = tempPath(name);
  std::ofstream out(path, std::ios::binary);
  uint64_t length = lengthField == UINT64_MAX ? header.size() : lengthField;
  for (int i = 0; i < 8; ++i)
    out.put(static_cast<char>((length >> (8 * i)) & 0xff));
  out << header << std::string(dataBytes, '\0');
  return path;
}

std::vector<uint8_t> bytesOf(const std::vector<float> &values) {
  std::vector<uint8_t> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::string openError(const std::string &path) {
  std::string error;
  EXPECT_EQ(Checkpoint::open(path, error), nullptr);
  return error;
}

// Tests that written tensors read back, F32 zero-copy and BF16/F16
// converted.
TEST(SafeTensors, RoundTripAndConversion) {
  std::map<std::string, TensorData> tensors;
  tensors["a"] = {DType::F32, {2, 2}, bytesOf({1.0f, -2.0f, 0.5f, 3.0f})};
  // bf16 1.5 = 0x3FC0, f16 -0.25 = 0xB400.
  tensors["b"] = {DType::BF16, {1}, {0xC0, 0x3F}};
  tensors["c"] = {DType::F16, {1}, {0x00, 0xB4}};
  std::string path = tempPath("ok.safetensors"), error;
  ASSERT_TRUE(writeSafeTensors(path, tensors, error)) << error;
  auto checkpoint = Checkpoint::open(path, error);
  ASSERT_TRUE(checkpoint) << error;
  const TensorView *a = checkpoint->find("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 2}));
  float values[4];
  ASSERT_TRUE(a->copyToF32(values));
  EXPECT_EQ(values[1], -2.0f);
  float b, c;
  ASSERT_TRUE(checkpoint->find("b")->copyToF32(&b));
  ASSERT_TRUE(checkpoint->find("c")->copyToF32(&c));
  EXPECT_EQ(b, 1.5f);
  EXPECT_EQ(c, -0.25f);
  EXPECT_EQ(checkpoint->find("missing"), nullptr);
}

// Tests that a shard index gathers the tensors of every shard.
TEST(SafeTensors, ShardIndex) {
  std::string error;
  std::string dir = ::testing::TempDir();
  std::string one = "moe-shard-1-" + std::to_string(getpid()) + ".safetensors";
  std::string two = "moe-shard-2-" + std::to_string(getpid()) + ".safetensors";
  ASSERT_TRUE(writeSafeTensors(
      dir + one, {{"x", {DType::F32, {1}, bytesOf({1})}}}, error));
  ASSERT_TRUE(writeSafeTensors(
      dir + two, {{"y", {DType::F32, {1}, bytesOf({2})}}}, error));
  std::string index = dir + "moe-" + std::to_string(getpid()) + ".index.json";
  std::ofstream(index) << "{\"metadata\": {}, \"weight_map\": {\"x\": \"" << one
                       << "\", \"y\": \"" << two << "\"}}";
  auto checkpoint = Checkpoint::open(index, error);
  ASSERT_TRUE(checkpoint) << error;
  EXPECT_TRUE(checkpoint->find("x") && checkpoint->find("y"));
  std::ofstream(index) << "{\"weight_map\": {\"z\": \"" << one << "\"}}";
  EXPECT_NE(openError(index).find("tensor 'z' is listed in shard"),
            std::string::npos);
}

// Tests each malformed-file error.
TEST(SafeTensors, MalformedFiles) {
  std::string shortFile = tempPath("short.safetensors");
  std::ofstream(shortFile) << "abc";
  EXPECT_NE(openError(shortFile).find("truncated: 3 bytes"), std::string::npos);

  EXPECT_NE(openError(writeRaw("len.safetensors", "{}", 0, 1000))
                .find("header length 1000 runs past the end of the file"),
            std::string::npos);
  EXPECT_NE(openError(writeRaw("json.safetensors", "not json", 0))
                .find("the header is not a JSON object"),
            std::string::npos);
  EXPECT_NE(
      openError(
          writeRaw("range.safetensors",
                   R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                   4))
          .find("data_offsets [0, 8) out of range: the data holds 4 bytes"),
      std::string::npos);
  EXPECT_NE(
      openError(
          writeRaw("overlap.safetensors",
                   R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   12))
          .find("tensor data overlaps"),
      std::string::npos);
  EXPECT_NE(
      openError(
          writeRaw("span.safetensors",
                   R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                   8))
          .find("span 8 bytes but F32 shape needs 12"),
      std::string::npos);
  EXPECT_NE(
      openError(
          writeRaw("dtype.safetensors",
                   R"({"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})",
                   1))
          .find("unknown dtype 'Q4'"),
      std::string::npos);
  EXPECT_NE(
      openError(writeRaw("fields.safetensors", R"({"w":{"dtype":"F32"}})", 0))
          .find("needs \"dtype\", \"shape\" and two \"data_offsets\""),
      std::string::npos);
  EXPECT_NE(openError(tempPath("absent.safetensors")).find("cannot open"),
            std::string::npos);
}

// Tests that .npy arrays round-trip and that bad ones are refused.
TEST(Npy, RoundTripAndErrors) {
  NpyArray array{{3, 2}, {1, 2, 3, 4, 5, 6}};
  std::string path = tempPath("a.npy"), error;
  ASSERT_TRUE(writeNpy(path, array, error)) << error;
  NpyArray back;
  ASSERT_TRUE(readNpy(path, back, error)) << error;
  EXPECT_EQ(back.shape, array.shape);
  EXPECT_EQ(back.data, array.data);

  auto readError = [&](const std::string &name, const std::string &bytes) {
    std::string file = tempPath(name);
    std::ofstream(file, std::ios::binary) << bytes;
    NpyArray ignored;
    std::string message;
    EXPECT_FALSE(readNpy(file, ignored, message));
    return message;
  };
  auto npy = [](const std::string &header, const std::string &data) {
    std::string h = header;
    std::string out = std::string("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(h.size() & 0xff);
    out += static_cast<char>(h.size() >> 8);
    return out + h + data;
  };
  EXPECT_NE(readError("magic.npy", "hello").find("bad magic"),
            std::string::npos);
  EXPECT_NE(
      readError("f8.npy",
                npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
                    std::string(8, '\0')))
          .find("dtype must be float32"),
      std::string::npos);
  EXPECT_NE(
      readError("fortran.npy",
                npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
                    std::string(4, '\0')))
          .find("C order"),
      std::string::npos);
  EXPECT_NE(
      readError("short.npy",
                npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
                    std::string(4, '\0')))
          .find("truncated data: expected 16 bytes"),
      std::string::npos);
  EXPECT_NE(
      readError(
          "shape.npy",
          npy("{'descr': '<f4', 'fortran_order': False, 'shape': (a,), }", ""))
          .find("cannot read the shape"),
      std::string::npos);
}
} // namespace
