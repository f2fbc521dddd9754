//===- ParallelDispatchTest.cpp - moe.dispatch's two forms, bit for bit ---===//
//
// convert-moe-to-linalg lowers moe.dispatch serially (the CPU's loops) or,
// with parallel-dispatch, as parallel ops (the CUDA target's). Both must
// give the same permutation: each case JIT-compiles a moe.dispatch both
// ways and compares all four results (rows, row_token, row_weight,
// expert_offsets) bit for bit, for dropless and capacity dispatch with each
// drop order, at token counts whose slots fill no chunk, several chunks,
// exactly two chunks and a partial last one (the parallel form cuts slots
// in chunks of 256). Weights take a few values only, so ties in the
// lowest_weight rank are common, and some experts get no slot.
// moe.expert_choice's rows (a scatter serially, a gather with
// parallel-dispatch) are compared the same way, with tied and NaN logits.
//
//===----------------------------------------------------------------------===//

#include "JitLayer.h"

#include "moe/Conversion/Passes.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

using namespace moe::test;

namespace {

constexpr int64_t kHidden = 3;

/// One dispatch configuration: experts, slots per token, the capacity
/// attribute ("" when dropless) and how slots pick experts.
struct DispatchCase {
  const char *name;
  int64_t numExperts, topK;
  std::string capacity;
  /// Experts >= this get no slot (every expert when equal to numExperts).
  int64_t usedExperts;
  /// Percent of tokens whose first slot goes to expert 0 (a hot expert
  /// whose slots span several chunks).
  int hotPercent;
};

const DispatchCase kCases[] = {
    {"dropless", 8, 2, "", 8, 0},
    {"dropless_k8_some_empty", 64, 8, "", 40, 30},
    {"dropless_top1_hot", 4, 1, "", 4, 90},
    {"token_order", 8, 2, "{capacity = #moe.capacity<factor = 1.0>}", 6, 20},
    {"token_order_tight", 16, 4,
     "{capacity = #moe.capacity<factor = 0.5, drop_order = token_order>}", 12,
     50},
    {"lowest_weight", 8, 2,
     "{capacity = #moe.capacity<factor = 1.0, drop_order = lowest_weight>}", 6,
     20},
    {"lowest_weight_tight", 16, 4,
     "{capacity = #moe.capacity<factor = 0.5, drop_order = lowest_weight>}", 12,
     50},
    {"lowest_weight_top1_hot", 4, 1,
     "{capacity = #moe.capacity<factor = 1.25, drop_order = lowest_weight>}", 3,
     90},
    {"count_top1_hot", 4, 1, "{capacity = #moe.capacity<count = 6>}", 4, 90},
    {"choice_order_renormalized", 8, 2,
     "{capacity = #moe.capacity<drop_order = choice_order, token_fraction = "
     "0.25, renormalize = true, output_scale = 0.8>}",
     6, 20},
    {"choice_order_tight", 16, 4,
     "{capacity = #moe.capacity<drop_order = choice_order, token_fraction = "
     "0.2>}",
     12, 50},
};

/// Token counts: none, one slot, a few, several per expert, S = 256 (two full
/// chunks with K = 2), S not a multiple of 256, and many chunks.
const int64_t kTokenCounts[] = {0, 1, 7, 37, 128, 300, 1000};

std::string functionSource(const DispatchCase &c, int index) {
  std::string k = std::to_string(c.topK), h = std::to_string(kHidden);
  std::string x = "tensor<?x" + h + "xf32>";
  std::string ids = "tensor<?x" + k + "xi32>", w = "tensor<?x" + k + "xf32>";
  std::string offsets = "tensor<" + std::to_string(c.numExperts + 1) + "xi32>";
  std::string results = x + ", tensor<?xi32>, tensor<?xf32>, " + offsets;
  return "func.func @dispatch" + std::to_string(index) + "(%x: " + x +
         ", %ids: " + ids + ", %w: " + w + ") -> (" + results + ") {\n" +
         "  %rows, %tok, %wt, %off = moe.dispatch %x, %ids, %w " + c.capacity +
         " : " + x + ", " + ids + ", " + w + " -> " + results + "\n" +
         "  return %rows, %tok, %wt, %off : " + results + "\n}\n";
}

std::string moduleSource() {
  std::string source;
  int index = 0;
  for (const DispatchCase &c : kCases)
    source += functionSource(c, index++);
  return source;
}

void lowerDispatch(mlir::OpPassManager &pm, bool parallel) {
  mlir::moe::ConvertMoEToLinalgOptions toLinalg;
  toLinalg.parallelDispatch = parallel;
  pm.addPass(mlir::moe::createConvertMoEToLinalg(toLinalg));
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  mlir::moe::buildMoEBufferizePipeline(pm);
  mlir::moe::buildMoECPULowerToLLVMPipeline(pm);
}

const llvm::StringRef kLibs[] = {MOEC_C_RUNNER_UTILS};

/// The four results of one call, as the C interface returns them.
struct DispatchResults {
  StridedMemRefType<float, 2> rows;
  StridedMemRefType<int32_t, 1> rowToken;
  StridedMemRefType<float, 1> rowWeight;
  StridedMemRefType<int32_t, 1> offsets;
};

/// The results' bits, the buffers freed.
struct Bits {
  std::vector<float> rows, rowWeight;
  std::vector<int32_t> rowToken, offsets;
};

template <typename T, int N>
std::vector<T> takeAll(StridedMemRefType<T, N> &m) {
  int64_t count = 1;
  for (int d = 0; d < N; ++d)
    count *= m.sizes[d];
  std::vector<T> values(m.data + m.offset, m.data + m.offset + count);
  free(m.basePtr);
  return values;
}

template <typename T, int N>
StridedMemRefType<T, N> describe(std::vector<T> &data,
                                 const int64_t (&sizes)[N]) {
  StridedMemRefType<T, N> m;
  m.basePtr = m.data = data.data();
  m.offset = 0;
  int64_t stride = 1;
  for (int d = N - 1; d >= 0; --d) {
    m.sizes[d] = sizes[d];
    m.strides[d] = stride;
    stride *= sizes[d];
  }
  return m;
}

/// Calls `function` (results first, as the C interface takes them) on
/// the memref descriptors `inputs` and takes its results' bits.
Bits callForBits(JitLayer &compiled, const std::string &function,
                 std::initializer_list<void *> inputs) {
  DispatchResults results{};
  std::vector<void *> pointers = {&results};
  pointers.insert(pointers.end(), inputs);
  std::vector<void *> args;
  for (void *&pointer : pointers)
    args.push_back(&pointer);
  if (llvm::Error err = compiled.call(function, args)) {
    ADD_FAILURE() << llvm::toString(std::move(err));
    return {};
  }
  Bits bits;
  bits.rows = takeAll(results.rows);
  bits.rowToken = takeAll(results.rowToken);
  bits.rowWeight = takeAll(results.rowWeight);
  bits.offsets = takeAll(results.offsets);
  return bits;
}

Bits callDispatch(JitLayer &compiled, int index, std::vector<float> &x,
                  std::vector<int32_t> &ids, std::vector<float> &weights,
                  int64_t numTokens, int64_t topK) {
  auto xRef = describe<float, 2>(x, {numTokens, kHidden});
  auto idsRef = describe<int32_t, 2>(ids, {numTokens, topK});
  auto wRef = describe<float, 2>(weights, {numTokens, topK});
  return callForBits(compiled, "dispatch" + std::to_string(index),
                     {&xRef, &idsRef, &wRef});
}

/// One expert-choice configuration: experts and the capacity factor.
struct ExpertChoiceCase {
  const char *name;
  int64_t numExperts;
  const char *capacityFactor;
};

/// C = min(T, ceil(f·T/E)): under, at and over one token per expert, and
/// a factor large enough that C = T (every expert takes every token).
const ExpertChoiceCase kExpertChoiceCases[] = {
    {"half", 8, "0.5"},
    {"two", 8, "2.0"},
    {"odd", 5, "1.25"},
    {"all_tokens", 4, "16.0"},
};

std::string expertChoiceSource(const ExpertChoiceCase &c, int index) {
  std::string h = std::to_string(kHidden);
  std::string x = "tensor<?x" + h + "xf32>";
  std::string logits = "tensor<?x" + std::to_string(c.numExperts) + "xf32>";
  std::string offsets = "tensor<" + std::to_string(c.numExperts + 1) + "xi32>";
  std::string results = x + ", tensor<?xi32>, tensor<?xf32>, " + offsets;
  return "func.func @expert_choice" + std::to_string(index) + "(%x: " + x +
         ", %logits: " + logits + ") -> (" + results + ") {\n" +
         "  %rows, %tok, %wt, %off = moe.expert_choice %x, %logits " +
         "{routing = #moe.expert_choice<capacity_factor = " + c.capacityFactor +
         ">} : " + x + ", " + logits + " -> " + results + "\n" +
         "  return %rows, %tok, %wt, %off : " + results + "\n}\n";
}

std::string expertChoiceModuleSource() {
  std::string source;
  int index = 0;
  for (const ExpertChoiceCase &c : kExpertChoiceCases)
    source += expertChoiceSource(c, index++);
  return source;
}

Bits callExpertChoice(JitLayer &compiled, int index, std::vector<float> &x,
                      std::vector<float> &logits, int64_t numTokens,
                      int64_t numExperts) {
  auto xRef = describe<float, 2>(x, {numTokens, kHidden});
  auto logitsRef = describe<float, 2>(logits, {numTokens, numExperts});
  return callForBits(compiled, "expert_choice" + std::to_string(index),
                     {&xRef, &logitsRef});
}

template <typename T>
bool sameBits(const std::vector<T> &a, const std::vector<T> &b) {
  return a.size() == b.size() &&
         (a.empty() ||
          std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

/// Each of the four results has the same bits in both forms.
void expectSameBits(const Bits &expected, const Bits &actual,
                    const char *name, int64_t T) {
  EXPECT_TRUE(sameBits(expected.offsets, actual.offsets))
      << name << ", T = " << T << ": expert_offsets differ";
  EXPECT_TRUE(sameBits(expected.rowToken, actual.rowToken))
      << name << ", T = " << T << ": row_token differs";
  EXPECT_TRUE(sameBits(expected.rowWeight, actual.rowWeight))
      << name << ", T = " << T << ": row_weight differs";
  EXPECT_TRUE(sameBits(expected.rows, actual.rows))
      << name << ", T = " << T << ": rows differ";
}

// Tests that the parallel permutation gives the serial one's bits for
// every case and token count.
TEST(ParallelDispatch, SameBitsAsSerial) {
  std::string source = moduleSource();
  JitLayer serial(
      source, [](mlir::OpPassManager &pm) { lowerDispatch(pm, false); }, kLibs);
  ASSERT_TRUE(serial.error.empty()) << serial.error;
  JitLayer parallel(
      source, [](mlir::OpPassManager &pm) { lowerDispatch(pm, true); }, kLibs);
  ASSERT_TRUE(parallel.error.empty()) << parallel.error;

  std::mt19937 rng(2024);
  int index = 0;
  for (const DispatchCase &c : kCases) {
    for (int64_t T : kTokenCounts) {
      std::vector<float> x(T * kHidden);
      for (size_t i = 0; i < x.size(); ++i)
        x[i] = static_cast<float>(i) * 0.5f - 7.0f;
      // Distinct experts per token, as routing picks them.
      std::vector<int32_t> ids(T * c.topK);
      std::vector<float> weights(T * c.topK);
      std::uniform_int_distribution<int32_t> expert(0, c.usedExperts - 1);
      std::uniform_int_distribution<int> percent(0, 99), level(1, 4);
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t k = 0; k < c.topK; ++k) {
          int32_t pick;
          bool distinct;
          do {
            pick = (k == 0 && percent(rng) < c.hotPercent) ? 0 : expert(rng);
            distinct = true;
            for (int64_t j = 0; j < k; ++j)
              distinct &= ids[t * c.topK + j] != pick;
          } while (!distinct);
          ids[t * c.topK + k] = pick;
          weights[t * c.topK + k] = 0.25f * static_cast<float>(level(rng));
        }
      }
      Bits expected = callDispatch(serial, index, x, ids, weights, T, c.topK);
      Bits actual = callDispatch(parallel, index, x, ids, weights, T, c.topK);
      ASSERT_EQ(expected.rowToken.size(), static_cast<size_t>(T * c.topK));
      expectSameBits(expected, actual, c.name, T);
    }
    ++index;
  }
}

// Tests that expert choice's parallel gather gives the serial scatter's
// bits for every case and token count. Logits take four levels, so many
// tokens tie for an expert (rank by token order then), and a few are NaN
// (ranked as -inf). Ranks are a permutation of the tokens per expert and
// C <= T, so every row is taken: the fills are never visible.
TEST(ParallelDispatch, ExpertChoiceSameBitsAsSerial) {
  std::string source = expertChoiceModuleSource();
  JitLayer serial(
      source, [](mlir::OpPassManager &pm) { lowerDispatch(pm, false); }, kLibs);
  ASSERT_TRUE(serial.error.empty()) << serial.error;
  JitLayer parallel(
      source, [](mlir::OpPassManager &pm) { lowerDispatch(pm, true); }, kLibs);
  ASSERT_TRUE(parallel.error.empty()) << parallel.error;

  std::mt19937 rng(15);
  std::uniform_int_distribution<int> level(0, 3), percent(0, 99);
  const int64_t tokenCounts[] = {0, 1, 2, 7, 37, 128, 300};
  int index = 0;
  for (const ExpertChoiceCase &c : kExpertChoiceCases) {
    for (int64_t T : tokenCounts) {
      std::vector<float> x(T * kHidden);
      for (size_t i = 0; i < x.size(); ++i)
        x[i] = static_cast<float>(i) * 0.5f - 7.0f;
      std::vector<float> logits(T * c.numExperts);
      for (float &l : logits)
        l = percent(rng) < 2 ? std::nanf("")
                             : 0.5f * static_cast<float>(level(rng));
      Bits expected =
          callExpertChoice(serial, index, x, logits, T, c.numExperts);
      Bits actual =
          callExpertChoice(parallel, index, x, logits, T, c.numExperts);
      EXPECT_EQ(expected.offsets.size(), static_cast<size_t>(c.numExperts + 1));
      expectSameBits(expected, actual, c.name, T);
    }
    ++index;
  }
}

} // namespace
