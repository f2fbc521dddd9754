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
const KeyAlias kDeepSeekV4[] = {{"n_routed_experts", "num_local_experts"},
                                {"moe_intermediate_size", "intermediate_size"}};
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
const KeyAlias kHyV3[] = {{"n_routed_experts", "num_experts"},
                          {"n_routed_experts", "num_local_experts"},
                          {"n_shared_experts", "num_shared_experts"},
                          {"routed_scaling_factor", "router_scaling_factor"}};
const KeyAlias kHunYuan[] = {{"num_experts", "num_local_experts"},
                             {"num_experts_per_tok", "moe_topk"}};
const KeyAlias kAria[] = {{"num_experts_per_tok", "moe_topk"}};
const KeyAlias kNemotronH[] = {{"n_routed_experts", "num_local_experts"},
                               {"layers_block_type", "layer_types"}};
const KeyAlias kDbrx[] = {{"d_model", "hidden_size"},
                          {"n_layers", "num_hidden_layers"}};
const KeyAlias kErnie45Moe[] = {{"moe_num_experts", "num_experts"},
                                {"moe_k", "num_experts_per_tok"}};
const KeyAlias kStep3p7[] = {{"n_routed_experts", "num_local_experts"},
                             {"n_routed_experts", "moe_num_experts"},
                             {"num_experts_per_tok", "moe_top_k"},
                             {"share_expert_dim", "share_expert_dims"}};
const KeyAlias kMiniMaxM2[] = {{"n_routed_experts", "num_local_experts"},
                               {"n_routed_experts", "num_experts"},
                               {"moe_intermediate_size", "intermediate_size"}};
const KeyAlias kLongCatFlash[] = {
    {"n_routed_experts", "num_local_experts"},
    {"moe_topk", "num_experts_per_tok"},
    {"expert_ffn_hidden_size", "moe_intermediate_size"}};
const KeyAlias kSwitchTransformers[] = {{"d_model", "hidden_size"},
                                        {"num_layers", "num_hidden_layers"}};
const KeyAlias kGemma4[] = {{"top_k_experts", "num_experts_per_tok"}};
const KeyAlias kNllbMoe[] = {{"d_model", "hidden_size"},
                             {"encoder_layers", "num_hidden_layers"}};
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
      {"qwen3_omni_moe", "thinker_config.text_config", {}, readQwen3OmniMoe},
      {"flint", "", {}, readFlint},
      {"deepseek_v2", "", kNumExpertsIsRouted, readDeepSeekV2},
      {"deepseek_v3", "", kNumExpertsIsRouted, readDeepSeekV3},
      {"deepseek_v4", "", kDeepSeekV4, readDeepSeekV4},
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
      {"hy_v3", "", kHyV3, readHyV3},
      {"nemotron_h", "", kNemotronH, readNemotronH},
      {"minimax_m3_vl", "text_config", kMiniMaxM2, readMiniMaxM3VL},
      {"lfm2_moe", "", kNumExpertsIsRouted, readLfm2Moe},
      {"mistral4", "", kNumExpertsIsRouted, readMistral4},
      {"mistral_large4", "text_config", kNumExpertsIsRouted, readMistralLarge4},
      {"deepseek_ocr2", "text_config", kNumExpertsIsRouted, readDeepSeekV2Ocr},
      {"unlimited_ocr", "text_config", kNumExpertsIsRouted, readDeepSeekV2Ocr},
      // Softmax, then top-k (Families/SoftmaxTopK.cpp).
      {"flex_olmo", "", kLocalExpertsIsNum, readFlexOlmo},
      {"jamba", "", kLocalExpertsIsNum, readJamba},
      {"lara_mini", "", {}, readLaraMini},
      {"mellum", "", kNumExpertsIsLocal, readMellum},
      {"minimax", "", kNumExpertsIsLocal, readMiniMax},
      {"olmoe", "", kLocalExpertsIsNum, readOlmoe},
      {"phimoe", "", kNumExpertsIsLocal, readPhimoe},
      {"hunyuan_v1_moe", "", kHunYuan, readHunYuanV1Moe},
      {"granitemoe", "", {}, readGraniteMoe},
      {"granitemoeshared", "", {}, readGraniteMoeShared},
      {"granitemoehybrid", "", {}, readGraniteMoeShared},
      {"granitemoe_swa", "", {}, readGraniteMoeSwa},
      {"aria", "text_config", kAria, readAria},
      {"cohere2_moe", "", {}, readCohere2Moe},
      // Biases on the expert linears or the block (Families/GptOss.cpp).
      {"gpt_oss", "", kNumExpertsIsLocal, readGptOss},
      {"openai_privacy_filter", "", kNumExpertsIsLocal,
       readOpenAIPrivacyFilter},
      {"jetmoe", "", {}, readJetMoe},
      // Switch Transformers' encoder (Families/Switch.cpp).
      {"switch_transformers", "", kSwitchTransformers, readSwitchTransformers},
      {"nllb-moe", "", kNllbMoe, readNllbMoe},
      // Gemma 4's feed-forward half (Families/Gemma.cpp).
      {"gemma4", "text_config", kGemma4, readGemma4Text},
      {"gemma4_text", "", kGemma4, readGemma4Text},
      {"diffusion_gemma", "text_config", kGemma4, readDiffusionGemma},
      // Checkpoints read through reshaped or either-orientation views
      // (Families/Dbrx.cpp, Ernie.cpp, Qwen.cpp).
      {"dbrx", "", kDbrx, readDbrx},
      {"ernie4_5_moe", "", kErnie45Moe, readErnie45Moe},
      {"qwen3_vl_moe", "text_config", kNumExpertsIsLocal, readQwen3VLMoe},
      // Clamped SwiGLUs other than GPT-OSS's (Families/ClampedSwiGlu.cpp).
      {"glm5_next", "text_config", kNumExpertsIsRouted, readGlm5Next},
      {"hy_v4", "", kNumExpertsIsRouted, readHyV4},
      {"hy_v4_vl", "text_config", kNumExpertsIsRouted, readHyV4},
      {"step3p7", "text_config", kStep3p7, readStep3p7},
      // Zero (identity) experts (Families/LongCat.cpp).
      {"longcat_flash", "", kLongCatFlash, readLongCatFlash},
  };
  return families;
}

ArrayRef<RefusedFamily> mlir::moe::hf::getRefusedFamilies() {
  static const RefusedFamily families[] = {
      {"axk1", "an RMSNorm of the block's output"},
      {"axk2", "group-limited routing that masks dropped groups to 0 instead "
               "of excluding them"},
      {"doge", "product-key routing over single-neuron experts"},
      {"ernie4_5_vl_moe",
       "routing by token modality (text and vision experts)"},
      {"inkling_mm_model",
       "sink routing (shared experts weighted by the router)"},
      {"inkling2", "a soft-capped SwiGLU"},
      {"inkling2_loop", "a soft-capped SwiGLU"},
      {"kolibri1", "top-k on biased raw logits"},
      {"laguna", "a tanh soft cap on the router logits"},
      {"muse_spark",
       "router logit scaling, latent projections and per-expert output norms"},
      {"zaya", "MLP routers that carry state from layer to layer"},
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
