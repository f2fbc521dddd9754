//===- SupportTest.cpp - safetensors and .npy readers ---------------------===//
//
// Round trips, dtype conversion, and one case for each kind of malformed
// input (files, shard indexes, .npy images in memory, FIFOs): each must come
// back as an error naming the problem.
//
//===----------------------------------------------------------------------===//

#include "moe/Support/Limits.h"
#include "moe/Support/Npy.h"
#include "moe/Support/SafeTensors.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sys/stat.h>
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

// Tests that written files start their data on a cache line (the header
// padded with spaces), so a tensor whose size is a multiple of 64 bytes
// lies on one too and f32 tensors can be used in place.
TEST(SafeTensors, DataStartsOnACacheLine) {
  std::map<std::string, TensorData> tensors;
  tensors["a"] = {DType::F32, {16}, bytesOf(std::vector<float>(16, 1.0f))};
  tensors["b"] = {DType::F32, {16}, bytesOf(std::vector<float>(16, 2.0f))};
  std::string path = tempPath("aligned.safetensors"), error;
  ASSERT_TRUE(writeSafeTensors(path, tensors, error)) << error;
  auto checkpoint = Checkpoint::open(path, error);
  ASSERT_TRUE(checkpoint) << error;
  for (const char *name : {"a", "b"})
    EXPECT_EQ(reinterpret_cast<uintptr_t>(checkpoint->find(name)->data) % 64,
              0u)
        << name;
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
                .find("the header: not valid JSON at byte 1: syntax error"),
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

  // Shapes are bounded in rank, size and elements; elements * dtype size
  // could overflow before.
  EXPECT_NE(openError(writeRaw("rank.safetensors",
                               R"({"w":{"dtype":"F32","shape":[1,1,1,1,1,1,)"
                               R"(1,1,1],"data_offsets":[0,4]}})",
                               4))
                .find("rank 9 exceeds the limit 8"),
            std::string::npos);
  EXPECT_NE(
      openError(writeRaw("elements.safetensors",
                         R"({"w":{"dtype":"F64","shape":)"
                         R"([4611686018427387904],"data_offsets":[0,0]}})",
                         0))
          .find("dimension 4611686018427387904 exceeds the limit"),
      std::string::npos);
  EXPECT_NE(openError(writeRaw("product.safetensors",
                               R"({"w":{"dtype":"F64","shape":)"
                               R"([1048576,1048576,2],"data_offsets":[0,0]}})",
                               0))
                .find("shape holds more than 1099511627776 elements"),
            std::string::npos);
  EXPECT_NE(
      openError(writeRaw("deep.safetensors",
                         std::string(200, '[') + std::string(200, ']'), 0))
          .find("the header: arrays and objects nested deeper than 128 levels"),
      std::string::npos);
}

// Tests that MappedFile (so every checkpoint read) refuses a FIFO at once.
TEST(SafeTensors, RefusesFifo) {
  std::string fifo = tempPath("fifo.safetensors");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(openError(fifo).find("not a regular file (a FIFO)"),
            std::string::npos);
  std::remove(fifo.c_str());
}

// Tests that an index keeps its shards inside its folder and names the
// shard that holds each tensor.
TEST(SafeTensors, ShardIndexIsChecked) {
  std::string error;
  std::string dir = tempPath("ckpt") + "/";
  ASSERT_TRUE(mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST);
  ASSERT_TRUE(writeSafeTensors(
      dir + "a.safetensors", {{"x", {DType::F32, {1}, bytesOf({1})}}}, error));
  ASSERT_TRUE(writeSafeTensors(
      dir + "b.safetensors", {{"y", {DType::F32, {1}, bytesOf({2})}}}, error));
  std::string index = dir + "model.safetensors.index.json";
  auto withMap = [&](const std::string &map) {
    std::ofstream(index) << "{\"weight_map\": {" << map << "}}";
    return index;
  };
  // Spellings of the same relative path are one shard.
  auto checkpoint = Checkpoint::open(
      withMap(R"("x": "./a.safetensors", "y": "b.safetensors")"), error);
  ASSERT_TRUE(checkpoint) << error;
  EXPECT_EQ(
      checkpoint->filePaths(),
      (std::vector<std::string>{dir + "a.safetensors", dir + "b.safetensors"}));
  EXPECT_EQ(checkpoint->path(), index);

  for (const char *shard :
       {"../a.safetensors", "/etc/passwd", "sub/../a.safetensors", "", ".",
        "..", "a.safetensors/.."})
    EXPECT_NE(openError(withMap(std::string(R"("x": ")") + shard + "\""))
                  .find("must be a relative path inside the index's folder"),
              std::string::npos)
        << shard;
  EXPECT_NE(
      openError(withMap(R"("x": "b.safetensors", "y": "a.safetensors")"))
          .find("tensor 'x' is listed in shard 'b.safetensors' but is held by "
                "shard 'a.safetensors'"),
      std::string::npos);
  EXPECT_NE(openError(withMap(R"("x": 3)")).find("is not a file name"),
            std::string::npos);
  std::ofstream(index) << std::string(200, '[') << std::string(200, ']');
  EXPECT_NE(openError(index).find(
                "the index: arrays and objects nested deeper than 128 levels"),
            std::string::npos);
}

// Tests a checkpoint of tensors in the caller's memory: found by name,
// converted like a file's, never released (releasePages leaves the
// caller's bytes alone); and refused with the label and tensor named for a
// missing name, a duplicate, a negative dimension or bytes the shape does
// not fill.
TEST(SafeTensors, FromMemory) {
  std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f};
  std::vector<uint16_t> halves = {0x3fc0, 0xc000}; // bf16 1.5, -2
  auto view = [](std::string name, DType dtype, std::vector<int64_t> shape,
                 const void *data, size_t bytes) {
    TensorView v;
    v.name = std::move(name);
    v.dtype = dtype;
    v.shape = std::move(shape);
    v.data = static_cast<const uint8_t *>(data);
    v.bytes = bytes;
    return v;
  };
  std::string error;
  auto checkpoint = Checkpoint::fromMemory(
      {view("w", DType::F32, {2, 2}, values.data(), 16),
       view("h", DType::BF16, {2}, halves.data(), 4)},
      "<dict>", error);
  ASSERT_TRUE(checkpoint) << error;
  EXPECT_EQ(checkpoint->path(), "<dict>");
  EXPECT_EQ(checkpoint->mappedBytes(), 0u);
  const TensorView *w = checkpoint->find("w");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->file, "<dict>");
  w->releasePages();
  EXPECT_EQ(values[2], 3.25f);
  float out[2];
  ASSERT_TRUE(checkpoint->find("h")->copyToF32(out));
  EXPECT_EQ(out[0], 1.5f);
  EXPECT_EQ(out[1], -2.0f);

  EXPECT_FALSE(Checkpoint::fromMemory(
      {view("", DType::F32, {1}, values.data(), 4)}, "<dict>", error));
  EXPECT_EQ(error, "<dict>: a tensor has no name");
  EXPECT_FALSE(Checkpoint::fromMemory(
      {view("w", DType::F32, {1}, values.data(), 4),
       view("w", DType::F32, {1}, values.data(), 4)},
      "<dict>", error));
  EXPECT_EQ(error, "<dict>: two tensors are named 'w'");
  EXPECT_FALSE(Checkpoint::fromMemory(
      {view("w", DType::F32, {-1, 2}, values.data(), 4)}, "<dict>", error));
  EXPECT_NE(error.find("tensor 'w': shape [-1, 2] is negative"),
            std::string::npos)
      << error;
  EXPECT_FALSE(Checkpoint::fromMemory(
      {view("w", DType::F32, {2, 2}, values.data(), 12)}, "<dict>", error));
  EXPECT_EQ(error, "<dict>: tensor 'w': 12 bytes, but F32 [2, 2] needs 16");
}

// Tests that .npy arrays round-trip and that bad ones are refused.
// Tests that the nesting scanners count what the parsers recurse on and
// nothing else: brackets in strings and MLIR comments, and the `>` of `->`
// and `>=`, are not nesting.
TEST(Limits, NestingDepth) {
  auto json = [](const std::string &text) {
    return limits::jsonNestingDepth(text.data(), text.size());
  };
  auto mlir = [](const std::string &text) {
    return limits::mlirNestingDepth(text.data(), text.size());
  };
  EXPECT_EQ(json("{}"), 1u);
  EXPECT_EQ(json("{\"a\": [[1], {\"b\": 2}]}"), 3u);
  EXPECT_EQ(json("[\"[[[\\\"[[\"]"), 1u);
  EXPECT_EQ(json(std::string(1000, '[')), limits::kMaxJsonDepth + 1);
  EXPECT_EQ(mlir("tensor<?x8xf32>"), 1u);
  EXPECT_EQ(mlir("(tensor<8xf32>) -> tensor<8xf32>"), 2u);
  EXPECT_EQ(mlir("affine_set<(d0) : (d0 >= 0)>"), 2u);
  EXPECT_EQ(mlir("// [[[[[\n{}"), 1u);
  EXPECT_EQ(mlir("\"<<<<\" [ ]"), 1u);
  EXPECT_EQ(mlir(std::string(1000, '<')), limits::kMaxMLIRDepth + 1);
}

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
    std::string h = header + "\n";
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
          .find("truncated data: expected 16 bytes for shape (4,), the file "
                "holds 4"),
      std::string::npos);
  EXPECT_NE(
      readError(
          "shape.npy",
          npy("{'descr': '<f4', 'fortran_order': False, 'shape': (a,), }", ""))
          .find("malformed header: 'shape' must hold non-negative integers"),
      std::string::npos);
}

/// A whole .npy image: version 1.0 header `dict` (a newline appended) and
/// `data`.
std::string npyImage(const std::string &dict, const std::string &data,
                     int lengthDelta = 0) {
  std::string header = dict + "\n";
  size_t length = header.size() + lengthDelta;
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(length & 0xff);
  out += static_cast<char>((length >> 8) & 0xff);
  return out + header + data;
}

/// parseNpy's error for `image`, which must be refused.
std::string parseError(const std::string &image) {
  NpyArray array;
  std::string error;
  EXPECT_FALSE(parseNpy(reinterpret_cast<const uint8_t *>(image.data()),
                        image.size(), "x.npy", array, error));
  EXPECT_EQ(error.rfind("x.npy: ", 0), 0u) << error;
  return error;
}

// Tests token ids: int32 round-trips; int64 reads as int32 when every value
// fits and names the first element that does not; other dtypes and a
// truncated payload are refused like the float reader's.
TEST(Npy, Int32AndInt64) {
  NpyInt32Array ids{{4}, {0, 7, -1, 2147483647}};
  std::string path = tempPath("ids.npy"), error;
  ASSERT_TRUE(writeNpyInt32(path, ids, error)) << error;
  NpyInt32Array back;
  ASSERT_TRUE(readNpyInt32(path, back, error)) << error;
  EXPECT_EQ(back.shape, ids.shape);
  EXPECT_EQ(back.data, ids.data);

  auto npy = [](const std::string &descr, const std::string &data) {
    std::string h = "{'descr': '" + descr +
                    "', 'fortran_order': False, 'shape': (2,), }\n";
    std::string out = std::string("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(h.size() & 0xff);
    out += static_cast<char>(h.size() >> 8);
    return out + h + data;
  };
  auto parse = [&](const std::string &bytes, NpyInt32Array &array,
                   std::string &message) {
    return parseNpyInt32(reinterpret_cast<const uint8_t *>(bytes.data()),
                         bytes.size(), "ids.npy", array, message);
  };
  int64_t wide[2] = {5, -3};
  std::string wideBytes(reinterpret_cast<const char *>(wide), 16);
  ASSERT_TRUE(parse(npy("<i8", wideBytes), back, error)) << error;
  EXPECT_EQ(back.data, (std::vector<int32_t>{5, -3}));
  wide[1] = int64_t(1) << 32;
  wideBytes.assign(reinterpret_cast<const char *>(wide), 16);
  EXPECT_FALSE(parse(npy("<i8", wideBytes), back, error));
  EXPECT_EQ(error, "ids.npy: element 1 is 4294967296, outside the int32 range");
  EXPECT_FALSE(parse(npy("<f4", std::string(8, '\0')), back, error));
  EXPECT_EQ(error, "ids.npy: dtype must be int32 ('<i4') or int64 ('<i8'), "
                   "got '<f4'");
  EXPECT_FALSE(parse(npy("<i4", std::string(4, '\0')), back, error));
  EXPECT_NE(error.find("truncated data: expected 8 bytes"), std::string::npos)
      << error;
}

// Tests parseNpy on images in memory: a valid one of each rank reads back;
// each way a header or the data can be wrong is an error naming it, and
// the declared size is checked against the real one before allocating.
TEST(Npy, ParseFromMemory) {
  auto header = [](const std::string &shape) {
    return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  };
  float values[2] = {1.5f, -2.0f};
  std::string two(reinterpret_cast<const char *>(values), 8);
  for (const char *shape : {"(2,)", "(1, 2)", "(2, 1, 1)", "(2L,)"}) {
    std::string image = npyImage(header(shape), two);
    NpyArray array;
    std::string error;
    ASSERT_TRUE(parseNpy(reinterpret_cast<const uint8_t *>(image.data()),
                         image.size(), "x.npy", array, error))
        << shape << ": " << error;
    EXPECT_EQ(array.data, (std::vector<float>{1.5f, -2.0f}));
  }
  // A scalar: shape () holds one value; an empty array holds none.
  NpyArray scalar;
  std::string error, scalarImage = npyImage(header("()"), two.substr(0, 4));
  ASSERT_TRUE(parseNpy(reinterpret_cast<const uint8_t *>(scalarImage.data()),
                       scalarImage.size(), "x.npy", scalar, error))
      << error;
  EXPECT_TRUE(scalar.shape.empty() && scalar.data.size() == 1);
  std::string emptyImage = npyImage(header("(0, 8)"), "");
  ASSERT_TRUE(parseNpy(reinterpret_cast<const uint8_t *>(emptyImage.data()),
                       emptyImage.size(), "x.npy", scalar, error))
      << error;
  EXPECT_EQ(scalar.shape, (std::vector<int64_t>{0, 8}));

  struct Case {
    std::string image, message;
  };
  std::vector<Case> cases = {
      {"", "not a .npy file (bad magic)"},
      {std::string("\x93NUMPY\x01", 7), "truncated header: 7 bytes"},
      {std::string("\x93NUMPY\x04\x00\x00\x00", 10),
       "unsupported .npy version 4.0"},
      {std::string("\x93NUMPY\x01\x01\x00\x00", 10),
       "unsupported .npy version 1.1"},
      // The 1 KiB file whose header claims 25.6 GB.
      {npyImage(header("(100000000, 64)"), std::string(1024, '\0')),
       "truncated data: expected 25600000000 bytes for shape (100000000, 64), "
       "the file holds 1024"},
      {npyImage(header("(2,)"), two + "junk"),
       "4 bytes of trailing data after the 8 bytes of shape (2,)"},
      {npyImage(header("(2,)"), two, 1000),
       "header length 1058 runs past the end of the file (76 bytes)"},
      {npyImage(header("(2,)"), two, -1),
       "malformed header: expected spaces and a newline after the dict"},
      {npyImage(header("(1, 1, 1, 1, 1, 1, 1, 1, 1)"), two),
       "'shape' has more than 8 dimensions"},
      {npyImage(header("(2199023255552,)"), ""),
       "dimension 2199023255552 exceeds the limit 1099511627776"},
      {npyImage(header("(1048576, 1048576, 2)"), ""),
       "shape (1048576, 1048576, 2) holds more than 1099511627776 elements"},
      {npyImage(header("(99999999999999999999,)"), ""),
       "dimension 99999999999999999999 exceeds the limit"},
      {npyImage(header("(-1,)"), ""), "'shape' must hold non-negative"},
      {npyImage(header("(2,,)"), ""), "'shape' must hold non-negative"},
      {npyImage(header("[2]"), ""), "'shape' must be a tuple"},
      {npyImage("{'descr': '<f4', 'shape': (2,), }", two),
       "missing key 'fortran_order'"},
      {npyImage("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
                "'shape': (2,), }",
                two),
       "duplicate key 'descr'"},
      {npyImage("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), "
                "'extra': 1, }",
                two),
       "unexpected key 'extra'"},
      // A key-like string inside a value is not the key.
      {npyImage("{'descr': \"'shape': (2,)\", 'fortran_order': False, "
                "'shape': (2,), }",
                two),
       "dtype must be float32 ('<f4'), got ''shape': (2,)'"},
      {npyImage("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }",
                two),
       "'fortran_order' must be True or False"},
      {npyImage("not a dict", two), "malformed header: expected '{'"},
  };
  for (const Case &c : cases)
    EXPECT_NE(parseError(c.image).find(c.message), std::string::npos)
        << "expected: " << c.message << "\ngot: " << parseError(c.image);
}

// Tests that readNpy refuses a FIFO at once (it blocked forever) and a
// directory.
TEST(Npy, RefusesNonRegularFiles) {
  std::string fifo = tempPath("fifo.npy");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  NpyArray array;
  std::string error;
  EXPECT_FALSE(readNpy(fifo, array, error));
  EXPECT_NE(error.find("not a regular file (a FIFO)"), std::string::npos)
      << error;
  EXPECT_FALSE(readNpy(::testing::TempDir(), array, error));
  EXPECT_NE(error.find("not a regular file (a directory)"), std::string::npos)
      << error;
  std::remove(fifo.c_str());
}
} // namespace
