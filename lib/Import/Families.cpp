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
const KeyAlias kLocalExpertsIsNum[] = {{"num_experts", "num_local_experts"}};
const KeyAlias kNumExpertsIsRouted[] = {
    {"n_routed_experts", "num_experts"},
    {"n_routed_experts", "num_local_experts"}};
const KeyAlias kExaoneMoe[] = {{"n_routed_experts", "num_experts"},
                               {"n_shared_experts", "num_shared_experts"}};
const KeyAlias kKimiLinear[] = {
    {"n_routed_experts", "num_experts"},
    {"num_experts_per_tok", "num_experts_per_token"},
    {"n_shared_experts", "num_shared_experts"},
    {"norm_topk_prob", "moe_renormalize"},
    {"n_group", "num_expert_group"}};
const KeyAlias kBailing[] = {{"n_routed_experts", "num_experts"},
                             {"num_experts_per_tok", "num_experts_per_token"},
                             {"n_shared_experts", "num_shared_experts"},
                             {"norm_topk_prob", "moe_renormalize"},
                             {"n_group", "num_expert_group"}};
const KeyAlias kAfmoe[] = {{"n_routed_experts", "num_experts"},
                           {"n_shared_experts", "num_shared_experts"},
                           {"routed_scaling_factor", "route_scale"}};
const KeyAlias kMiniMaxM2[] = {{"n_routed_experts", "num_local_experts"},
                               {"n_routed_experts", "num_experts"},
                               {"moe_intermediate_size", "intermediate_size"}};
} // namespace

ArrayRef<Family> mlir::moe::hf::getFamilies() {
  static const Family families[] = {
      // The first six (Families/Mixtral.cpp, Qwen.cpp, DeepSeek.cpp,
      // Llama4.cpp).
      {"mixtral", "", kNumExpertsIsLocal, readMixtral},
      {"qwen2_moe", "", {}, readQwen2Moe},
      {"qwen3_moe", "", kNumExpertsIsLocal, readQwen3Moe},
      {"qwen3_next", "", {}, readQwen3Next},
      {"qwen3_5_moe", "text_config", {}, readQwen35Moe},
      {"qwen4_exp", "text_config", {}, readQwen4Exp},
      {"deepseek_v2", "", kNumExpertsIsRouted, readDeepSeekV2},
      {"deepseek_v3", "", kNumExpertsIsRouted, readDeepSeekV3},
      {"llama4_text", "", {}, readLlama4Text},
      {"llama4", "text_config", {}, readLlama4},
      // DeepSeek-V3's router (Families/DeepSeekLike.cpp).
      {"glm4_moe", "", kNumExpertsIsRouted, readGlm4Moe},
      {"glm4v_moe", "text_config", kNumExpertsIsRouted, readGlm4vMoe},
      {"glm4_moe_lite", "", kNumExpertsIsRouted, readGlm4MoeLite},
      {"glm_moe_dsa", "", kNumExpertsIsRouted, readGlmMoeDsa},
      {"exaone_moe", "", kExaoneMoe, readExaoneMoe},
      {"kimi_linear", "", kKimiLinear, readKimiLinear},
      {"mimo_v2_flash", "", kNumExpertsIsRouted, readMiMoV2Flash},
      {"minimax_m2", "", kMiniMaxM2, readMiniMaxM2},
      {"dots1", "", kNumExpertsIsRouted, readDots1},
      {"dots3_note", "text_config", kNumExpertsIsRouted, readDots3Note},
      {"dots3_note_text", "", kNumExpertsIsRouted, readDots3Note},
      {"deepseek_v32", "", kNumExpertsIsRouted, readDeepSeekV32},
      {"solar_open", "", kNumExpertsIsRouted, readSolarOpen},
      {"bailing_hybrid", "", kBailing, readBailingHybrid},
      {"beam", "", kNumExpertsIsRouted, readBeam},
      {"afmoe", "", kAfmoe, readAfmoe},
      {"deepseek_ocr2", "text_config", kNumExpertsIsRouted, readDeepSeekV2Ocr},
      {"unlimited_ocr", "text_config", kNumExpertsIsRouted, readDeepSeekV2Ocr},
      // Softmax, then top-k (Families/SoftmaxTopK.cpp).
      {"flex_olmo", "", kLocalExpertsIsNum, readFlexOlmo},
      {"jamba", "", kLocalExpertsIsNum, readJamba},
      {"lara_mini", "", {}, readLaraMini},
      {"mellum", "", kNumExpertsIsLocal, readMellum},
      {"minimax", "", kNumExpertsIsLocal, readMiniMax},
      {"olmoe", "", kLocalExpertsIsNum, readOlmoe},
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
