//===- FakeBind.h - the binder run without a compiled library ---*- C++ -*-===//
//
// Tests of the weight binder (runtime::BoundEntry::bind) on checkpoints
// they write: an entry parsed from a manifest of the given slots whose
// init records the bytes of every weight it is handed, and the checks on
// them (QuantizedCheckpointTest, WeightLayoutTest).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TEST_UNIT_FAKEBIND_H
#define MOE_TEST_UNIT_FAKEBIND_H

#include "moe/Runtime/Loader.h"
#include "moe/Support/SafeTensors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <string>
#include <vector>

namespace moe::test {

inline uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

inline std::vector<uint8_t> bytesOf(const std::vector<float> &values) {
  std::vector<uint8_t> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

/// What a fake library's init received: each weight's bytes.
inline std::vector<std::vector<uint8_t>> received;
inline std::vector<moe_weight_buffer> receivedBuffers;
inline int32_t recordInit(const moe_context *, const moe_weight_buffer *weights,
                   int64_t count, void **state) {
  received.clear();
  receivedBuffers.assign(weights, weights + count);
  for (int64_t w = 0; w < count; ++w) {
    int64_t elements = 1;
    for (int32_t d = 0; d < weights[w].rank; ++d)
      elements *= weights[w].shape[d];
    size_t bytes = elements * (weights[w].dtype == MOE_DTYPE_BF16 ? 2 : 4);
    const auto *data = static_cast<const uint8_t *>(weights[w].data);
    received.emplace_back(data, data + bytes);
  }
  *state = nullptr;
  return MOE_STATUS_OK;
}
inline int32_t noForward(void *, const moe_forward_args *) {
  return MOE_STATUS_INVALID_ARGUMENT;
}
inline void noDestroy(void *) {}

/// The manifest of one entry 'q' of hidden size 8 with `weights` (manifest
/// slots).
inline nlohmann::json fakeManifest(const nlohmann::json &weights) {
  return {{"format", MOE_MANIFEST_FORMAT},
          {"target", "cpu"},
          {"entries",
           {{{"name", "q"},
             {"symbols",
              {{"init", "moe_entry_q_init"},
               {"forward", "moe_entry_q_forward"},
               {"destroy", "moe_entry_q_destroy"}}},
             {"hidden", 8},
             {"weights", weights}}}}};
}

/// An entry of `weights` (manifest slots) bound by recordInit.
inline runtime::Entry fakeEntry(const nlohmann::json &weights) {
  std::vector<runtime::Entry> entries;
  std::string error;
  EXPECT_TRUE(
      runtime::parseManifest(fakeManifest(weights).dump(), entries, error))
      << error;
  if (entries.empty())
    return {};
  runtime::Entry entry = entries[0];
  entry.init = recordInit;
  entry.forward = noForward;
  entry.destroy = noDestroy;
  return entry;
}

/// Binds `entry` from `path`; the error, empty on success.
inline std::string bindError(const runtime::Entry &entry, const std::string &path) {
  std::string error;
  auto checkpoint = Checkpoint::open(path, error);
  EXPECT_TRUE(checkpoint) << error;
  if (!checkpoint)
    return error;
  auto bound = runtime::BoundEntry::bind(entry, *checkpoint, error);
  EXPECT_EQ(!bound, !error.empty());
  return error;
}

inline void expectFloats(const std::vector<uint8_t> &bytes,
                  const std::vector<float> &expected, const std::string &what) {
  ASSERT_EQ(bytes.size(), expected.size() * 4) << what;
  size_t wrong = 0, firstWrong = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, bytes.data() + 4 * i, 4);
    if (bits != bitsOf(expected[i]) && !wrong++)
      firstWrong = i;
  }
  EXPECT_EQ(wrong, 0u) << what << ": first at " << firstWrong;
}

} // namespace moe::test

#endif // MOE_TEST_UNIT_FAKEBIND_H
