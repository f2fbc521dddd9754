//===- Families.cpp - the model types the importer reads -----------------===//
//
// One row per Hugging Face model_type: where its language model's config
// is, the attribute_map aliases its reader relies on, and the reader (in
// Families/, one file per group of related families).
//
//===----------------------------------------------------------------------===//

#include "LayerPlan.h"

using namespace mlir;
using namespace mlir::moe::hf;

namespace {
// transformers' attribute_map entries: {stored attribute, public alias}.
const KeyAlias kNumExpertsIsLocal[] = {{"num_local_experts", "num_experts"}};
const KeyAlias kNumExpertsIsRouted[] = {
    {"n_routed_experts", "num_experts"},
    {"n_routed_experts", "num_local_experts"}};
} // namespace

ArrayRef<Family> mlir::moe::hf::getFamilies() {
  static const Family families[] = {
      {"mixtral", "", kNumExpertsIsLocal, readMixtral},
      {"qwen2_moe",
       "",
       {},
       [](const ConfigReader &c, LayerPlan &p) {
         return readQwen(c, p, /*sharedExpert=*/true);
       }},
      {"qwen3_moe", "", kNumExpertsIsLocal,
       [](const ConfigReader &c, LayerPlan &p) {
         return readQwen(c, p, /*sharedExpert=*/false);
       }},
      {"deepseek_v2", "", kNumExpertsIsRouted,
       [](const ConfigReader &c, LayerPlan &p) {
         return readDeepSeek(c, p, /*v3=*/false);
       }},
      {"deepseek_v3", "", kNumExpertsIsRouted,
       [](const ConfigReader &c, LayerPlan &p) {
         return readDeepSeek(c, p, /*v3=*/true);
       }},
      {"llama4_text",
       "",
       {},
       [](const ConfigReader &c, LayerPlan &p) {
         return readLlama4(c, p, /*multimodal=*/false);
       }},
      {"llama4",
       "text_config",
       {},
       [](const ConfigReader &c, LayerPlan &p) {
         return readLlama4(c, p, /*multimodal=*/true);
       }},
  };
  return families;
}

std::string mlir::moe::hf::getSupportedModelTypes() {
  std::string list;
  for (const Family &family : getFamilies()) {
    if (!list.empty())
      list += ", ";
    list += family.modelType.str();
  }
  return list;
}
