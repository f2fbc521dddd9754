//===- LayerPlan.h - one family's MoE layer, as the importer plans it -*- C++
//-*-===//
//
// Each family reader fills a LayerPlan from its config (sizes, routing,
// shared expert, checkpoint naming, which layers are MoE), checking every
// key with messages that name it; buildLayer turns the plan into
// `func.func @<model_type>_layer<L>` around one moe.layer. The readers are
// registered in Families.cpp, one file per group of related families
// under Families/.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_IMPORT_LAYERPLAN_H
#define MOE_LIB_IMPORT_LAYERPLAN_H

#include "ConfigReader.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/Builders.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mlir::moe::hf {

/// How a family names and lays out its expert weights.
enum class ExpertNaming {
  /// block_sparse_moe.experts.{e}.w1 (gate) / w3 (up) / w2 (down)
  Mixtral,
  /// experts.{e}.gate_proj / up_proj / down_proj
  Projections,
  /// experts.gate_up_proj [E,H,2F] and experts.down_proj [E,F,H] (Llama 4)
  FusedTransposed,
  /// experts.gate_up_proj [E,2F,H] (gate rows first) and experts.down_proj
  /// [E,H,F]: transformers' own fused layout, which some families publish
  FusedChunked,
  /// experts.gate_up_proj [E,H,2F] with gate the even columns and up the
  /// odd ones, and experts.down_proj [E,F,H] (GPT-OSS)
  FusedTransposedInterleaved,
  /// experts.expert_{e}.<upName> / <downName>, ungated: wi/wo (Switch
  /// Transformers), fc1/fc2 (NLLB-MoE)
  UngatedPerExpert,
  /// experts.mlp.w1 (gate) / v1 (up) / w2 (down), each one [E·F, H] tensor
  /// read as [E, F, H]; w2 is the down projection transposed (DBRX)
  DbrxStacked,
  /// One stacked tensor per projection, `stackedPrefix` + gate_proj /
  /// up_proj `[E,F,H]`, down_proj `[E,H,F]` (Step-3.7's native names)
  Stacked,
};

/// How a family names its shared expert's linears.
enum class SharedNaming {
  /// gate_proj / up_proj / down_proj
  Projections,
  /// w1 (gate) / w3 (up) / w2 (down): Mistral's native checkpoints
  Mixtral,
  /// input_linear [2Fs,H] (gate rows first) and output_linear (Granite)
  FusedInput,
  /// linear_gate / up_proj / down_proj: Hy-V4 as save_pretrained writes it
  LinearGate,
};

/// A per-expert capacity (`#moe.capacity`): exactly one of `count` and
/// `tokenFraction` positive.
struct CapacityPlan {
  int64_t count = 0;
  double tokenFraction = 0.0;
  DropOrder dropOrder = DropOrder::token_order;
  /// Renormalise the kept weights after dropping (NLLB).
  bool renormalize = false;
  double outputScale = 1.0;
};

/// Which router the layer uses: the family's token choice, or one that
/// moec's own config key `moec_router` puts in its place.
enum class RouterKind { TokenChoice, ExpertChoice, SoftMoE };

struct LayerPlan {
  std::string modelType;
  /// A family without a top-k key (Switch) sets `topK` before readCommon.
  int64_t hidden = 0, numExperts = 0, topK = 0, ffn = 0;
  /// The keys `numExperts` and `ffn` came from, for messages.
  std::string expertsKey, ffnKey;
  /// Shared expert width; 0 when there is none.
  int64_t sharedFfn = 0;
  bool sharedSigmoidGate = false;
  bool correctionBias = false;
  bool scaleExpertInput = false;
  ScoringFunc scoring = ScoringFunc::softmax;
  SelectionSource selectOn = SelectionSource::scores;
  bool renormalize = false;
  double scalingFactor = 1.0;
  int64_t nGroup = 1, topkGroup = 1;
  /// Renormalisation's denominator: the sum plus this epsilon.
  double renormEpsilon = 1e-20;
  /// PhiMoE's sparsemixer threshold (with ScoringFunc::sparsemixer).
  double jitterEps = 0.0;
  GroupScore groupScore = GroupScore::max;
  /// The router (readRouterOverride): expert choice's capacity factor, Soft
  /// MoE's slots per expert (the router weight then has E·S rows).
  RouterKind routerKind = RouterKind::TokenChoice;
  double expertChoiceFactor = 1.0;
  int64_t softMoESlots = 1;
  /// Routing by token id (hash layers): the `[vocabSize, topK]` table's
  /// checkpoint name relative to `prefix` (none when empty), and the
  /// layers it routes (every MoE layer when unset). Such a layer takes the
  /// token ids after its input and reads no correction bias.
  std::string expertTableName;
  int64_t vocabSize = 0;
  std::function<bool(int64_t)> isTableLayer;
  ExpertNaming naming = ExpertNaming::Projections;
  /// Checkpoint names: "{L}" is the layer index.
  std::string prefix;       // e.g. "model.layers.{L}.mlp."
  std::string routerName;   // relative to prefix
  std::string sharedPrefix; // relative to prefix, e.g. "shared_experts."
  std::string correctionBiasName = "gate.e_score_correction_bias";
  SharedNaming sharedNaming = SharedNaming::Projections;
  /// The experts' (and the shared expert's) activation; an ungated one
  /// has no gate weights.
  Activation activation = Activation::swiglu;
  /// clamped_swiglu's slope, clamp and form (`#moe.glu_clamp`).
  double gluAlpha = 1.702, gluLimit = 7.0;
  GluClampForm gluForm = GluClampForm::gpt_oss;
  /// The shared expert's own activation (moe.layer's `shared_activation`),
  /// with its clamp in `gluForm` when it is clamped_swiglu; unset: the
  /// routed experts'.
  std::optional<Activation> sharedActivation;
  double sharedGluLimit = 0.0;
  /// The output is (routed + shared) / 2 (moe.layer's `shared_combine`).
  bool sharedAverage = false;
  /// Per-layer clamps in `gluForm` (Step-3.7's `swiglu_limits` and
  /// `swiglu_limits_shared`, indexed by layer; 0: no clamp, plain swiglu).
  /// When set they replace `activation` / `sharedActivation` layer by layer.
  std::vector<double> layerGluLimits, layerSharedGluLimits;
  /// A shared MLP beside the MoE block: its own prefix pattern ("{L}" is
  /// the layer), used instead of `prefix` + `sharedPrefix`.
  std::string sharedLayerPrefix;
  /// The fused expert tensors' names (FusedTransposed, FusedChunked).
  std::string gateUpName = "experts.gate_up_proj";
  std::string downName = "experts.down_proj";
  /// The fused tensors may be stored either way round (FusedChunked read
  /// from [E,2F,H] or [E,H,2F], down_proj from [E,H,F] or [E,F,H]): the
  /// loader decides by shape (kWeightEitherOrientationAttr).
  bool fusedEitherOrientation = false;
  /// The correction bias is stored [1, E] (Ernie 4.5's moe_statics).
  bool correctionBiasRow = false;
  /// Renormalisation's p-norm (DBRX) and a floor in place of the epsilon
  /// (Ernie 4.5's moe_norm_min): `#moe.routing`'s renorm_p, renorm_clamp.
  double renormP = 1.0;
  bool renormClamp = false;
  /// The stacked per-projection tensors' prefix (Stacked), relative to
  /// `prefix`.
  std::string stackedPrefix = "experts.";
  int64_t numLayers = 0;
  /// The config key of the layer count (LongCat-Flash: `num_layers`, whose
  /// `num_hidden_layers` is a property, not saved).
  std::string layerCountKey = "num_hidden_layers";
  /// A per-layer list whose length is the layer count when the config has
  /// no `num_hidden_layers` (set before readCommon).
  std::string layerListKey;
  /// Why a layer is dense, for messages; and the test.
  std::function<bool(int64_t)> isMoELayer;
  std::string denseRule;
  /// The router's own bias `[E]` (GPT-OSS), relative to prefix; empty:
  /// none.
  std::string routerBiasName;
  /// The routing weights: the scores at the selected experts, or the
  /// softmax over the selected logits (GPT-OSS, JetMoE).
  RoutingWeights routingWeights = RoutingWeights::scores;
  /// The fused experts' linear biases, relative to prefix (empty: none):
  /// gate_up `[E,2F]`, split as the fused weight is (FusedTransposed,
  /// FusedTransposedInterleaved), and down `[E,H]`.
  std::string gateUpBiasName, downBiasName;
  /// An ungated expert's up-projection bias `[E,F]`, relative to prefix
  /// (per-expert names hold "{e}"); empty: none.
  std::string upBiasName;
  /// The projections' names under `experts.expert_{e}.` (UngatedPerExpert).
  std::string perExpertUpName = "wi.weight", perExpertDownName = "wo.weight";
  /// The block's output bias `[H]` (JetMoE), relative to prefix; empty:
  /// none.
  std::string outputBiasName;
  /// The layer's capacity; dropless when absent.
  std::optional<CapacityPlan> capacity;
  /// Gemma 4's router: the RMS normalisation of its input (epsilon > 0;
  /// multiplier H^-0.5) with the scale `[H]` `routerInputScaleName`, and the
  /// per-expert weight scale `[E]` `expertScaleName` (relative to prefix;
  /// empty: none).
  double routerInputNormEpsilon = 0.0;
  std::string routerInputScaleName, expertScaleName;
  /// moe.layer's norms around the FFNs: weight names `[H]` relative to
  /// prefix (empty: none), all with epsilon `normEpsilon`.
  std::string expertInputNormName, expertOutputNormName, sharedInputNormName,
      sharedOutputNormName, outputNormName;
  double normEpsilon = 1e-6;
  /// Identity experts routed after the numExperts real ones (LongCat-Flash's
  /// zero experts, moe.layer's `zero_experts`): the router and its biases
  /// have numExperts + zeroExperts rows.
  int64_t zeroExperts = 0;
};

/// Reads the sizes every family has (hidden size, layers, experts, top-k,
/// expert width from `expertsKey` / `ffnKey`) and checks that the experts
/// use SiLU.
LogicalResult readCommon(const ConfigReader &config, LayerPlan &plan,
                         StringRef expertsKey, StringRef ffnKey);

/// Checks that a fused gate_up_proj, 2 * E * F * H elements, fits
/// moe::limits (E, F, H already read into `plan`).
LogicalResult checkFusedGateUpSize(const ConfigReader &config,
                                   const LayerPlan &plan);

/// Layer rules. Every decoder layer is MoE.
void setEveryLayer(LayerPlan &plan);

/// Layers from config key `key` (default `defaultFirst`) on are MoE.
LogicalResult readFirstDense(const ConfigReader &config, LayerPlan &plan,
                             StringRef key, int64_t defaultFirst);

/// A shared expert `count` * `width` wide (from config keys `countKey` and
/// `widthKey`), checked against moe::limits; an error is reported at
/// `errorKey` (default: `countKey`).
LogicalResult setSharedWidth(const ConfigReader &config, LayerPlan &plan,
                             StringRef countKey, int64_t count,
                             StringRef widthKey, int64_t width,
                             StringRef errorKey = "");

/// transformers' `mlp_layer_types` ("dense" / "sparse" per layer); without
/// it, the first layers are dense: `first_k_dense_replace` when the family
/// reads that key (`readFirstDenseKey`), else `defaultDense`.
LogicalResult readMlpLayerTypes(const ConfigReader &config, LayerPlan &plan,
                                bool readFirstDenseKey, int64_t defaultDense);

/// moec's `moec_router` key (RouterOverride.cpp): expert choice or Soft MoE
/// in place of the token-choice router `plan` holds from its family.
LogicalResult readRouterOverride(const ConfigReader &config, LayerPlan &plan);

/// Builds `func.func @<model>_layer<L>` for one layer of `plan`.
void buildLayer(OpBuilder &b, Location loc, const LayerPlan &plan,
                int64_t layer);

/// One model_type the importer reads.
struct Family {
  StringRef modelType;
  /// The config key nesting the language model's config (multimodal
  /// models: "text_config"; dots separate nested keys), or empty when the
  /// root is it.
  StringRef textConfigKey;
  /// The config class's attribute_map entries the reader uses.
  ArrayRef<KeyAlias> aliases;
  /// Fills the plan from the (text) config.
  LogicalResult (*read)(const ConfigReader &, LayerPlan &);
};

/// Every family, in the order messages list them.
ArrayRef<Family> getFamilies();

/// A transformers MoE family moec cannot express yet.
struct RefusedFamily {
  StringRef modelType;
  /// What moec lacks, for the message.
  StringRef missing;
};

/// The families moec knows and refuses (the README's family table).
ArrayRef<RefusedFamily> getRefusedFamilies();

/// The model types of getFamilies(), comma-separated, for messages.
std::string getSupportedModelTypes();

// The readers, one group of families per file under Families/.
LogicalResult readMixtral(const ConfigReader &config, LayerPlan &plan);
LogicalResult readQwen2Moe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readQwen3Moe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readQwen3Next(const ConfigReader &config, LayerPlan &plan);
LogicalResult readQwen35Moe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readQwen4Exp(const ConfigReader &config, LayerPlan &plan);
LogicalResult readQwen3OmniMoe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readFlint(const ConfigReader &config, LayerPlan &plan);
LogicalResult readDeepSeekV2(const ConfigReader &config, LayerPlan &plan);
LogicalResult readDeepSeekV3(const ConfigReader &config, LayerPlan &plan);
/// DeepSeek-V4: sqrtsoftplus (or sigmoid) with a correction bias, hash
/// layers routed by token id, clamped SwiGLU experts and shared expert.
LogicalResult readDeepSeekV4(const ConfigReader &config, LayerPlan &plan);

/// How a DeepSeek-style router is configured where the family's config
/// has no key for it.
struct DeepSeekDefaults {
  /// noaux_tc sigmoid routing with a correction bias, else V2's softmax.
  bool v3 = true;
  /// `norm_topk_prob` when the key is absent.
  bool renormalize = false;
  /// Whether the family has `n_shared_experts` at all.
  bool sharedExperts = true;

  /// The DeepSeek-V3-router families whose configs default norm_topk_prob
  /// to true.
  static DeepSeekDefaults renormalizing() {
    DeepSeekDefaults defaults;
    defaults.renormalize = true;
    return defaults;
  }
};

/// DeepSeek's routing, groups, scaling and shared experts (names as
/// DeepSeek's checkpoints; the caller sets the layer rule and renames).
LogicalResult readDeepSeekRouting(const ConfigReader &config, LayerPlan &plan,
                                  const DeepSeekDefaults &defaults);

/// The DeepSeek-V3-router families: GLM-4.5 and relatives, EXAONE-MoE,
/// Kimi-Linear, MiMo-V2-Flash, MiniMax-M2, dots, DeepSeek-V3.2, Solar
/// Open, Bailing, Beam, AFMoE (Families/DeepSeekLike.cpp).
LogicalResult readGlm4Moe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readGlm4vMoe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readGlm4MoeLite(const ConfigReader &config, LayerPlan &plan);
LogicalResult readGlmMoeDsa(const ConfigReader &config, LayerPlan &plan);
LogicalResult readExaoneMoe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readKimiLinear(const ConfigReader &config, LayerPlan &plan);
LogicalResult readMiMoV2Flash(const ConfigReader &config, LayerPlan &plan);
LogicalResult readMiniMaxM2(const ConfigReader &config, LayerPlan &plan);
LogicalResult readDots1(const ConfigReader &config, LayerPlan &plan);
LogicalResult readDots3Note(const ConfigReader &config, LayerPlan &plan);
LogicalResult readDeepSeekV32(const ConfigReader &config, LayerPlan &plan);
LogicalResult readSolarOpen(const ConfigReader &config, LayerPlan &plan);
LogicalResult readBailingHybrid(const ConfigReader &config, LayerPlan &plan);
LogicalResult readBeam(const ConfigReader &config, LayerPlan &plan);
LogicalResult readAfmoe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readHyV3(const ConfigReader &config, LayerPlan &plan);
LogicalResult readMistral4(const ConfigReader &config, LayerPlan &plan);
LogicalResult readMistralLarge4(const ConfigReader &config, LayerPlan &plan);
LogicalResult readNemotronH(const ConfigReader &config, LayerPlan &plan);
LogicalResult readMiniMaxM3VL(const ConfigReader &config, LayerPlan &plan);
LogicalResult readLfm2Moe(const ConfigReader &config, LayerPlan &plan);
/// DeepSeek-V2's router in OCR models' language models.
LogicalResult readDeepSeekV2Ocr(const ConfigReader &config, LayerPlan &plan);

/// Softmax top-k families (Families/SoftmaxTopK.cpp): FlexOlmo, Jamba,
/// Mellum, MiniMax, LaraMini, OLMoE.
LogicalResult readFlexOlmo(const ConfigReader &config, LayerPlan &plan);
LogicalResult readJamba(const ConfigReader &config, LayerPlan &plan);
LogicalResult readMellum(const ConfigReader &config, LayerPlan &plan);
LogicalResult readMiniMax(const ConfigReader &config, LayerPlan &plan);
LogicalResult readLaraMini(const ConfigReader &config, LayerPlan &plan);
LogicalResult readOlmoe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readPhimoe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readHunYuanV1Moe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readGraniteMoe(const ConfigReader &config, LayerPlan &plan);
/// granitemoeshared and granitemoehybrid (a shared MLP beside the block).
LogicalResult readGraniteMoeShared(const ConfigReader &config, LayerPlan &plan);
LogicalResult readGraniteMoeSwa(const ConfigReader &config, LayerPlan &plan);
LogicalResult readAria(const ConfigReader &config, LayerPlan &plan);
LogicalResult readCohere2Moe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readLlama4Text(const ConfigReader &config, LayerPlan &plan);

/// Requires the routing weights' scaling factor `key` to be a normal
/// positive f32, so that scaled weights stay finite and nonzero.
LogicalResult checkScalingFactor(const ConfigReader &config, StringRef key,
                                 double scaling);

/// Refuses `mlp_bias` = true, which gives a family's shared expert biases
/// that moe.layer's shared expert does not have.
LogicalResult refuseSharedMlpBias(const ConfigReader &config,
                                  const LayerPlan &plan);

/// GLM-5's clamped SwiGLU `silu(min(g, L))·clamp(u, ±L)` as `plan`'s
/// activation, L the `swiglu_limit` (default 10) of the families clamping
/// in that form (GLM-5, Hy-V4, DeepSeek-V4). Their code clamps whatever the
/// value, so a limit of 0 or below (which Hy-V4's docstring calls "no
/// clamp") would zero every expert: refused rather than guessed.
LogicalResult readGlm5Clamp(const ConfigReader &config, LayerPlan &plan);

/// Families with a clamped SwiGLU other than GPT-OSS's
/// (Families/ClampedSwiGlu.cpp): GLM-5, Hy-V4 (and its multimodal model),
/// Step-3.7.
LogicalResult readGlm5Next(const ConfigReader &config, LayerPlan &plan);
LogicalResult readHyV4(const ConfigReader &config, LayerPlan &plan);
LogicalResult readStep3p7(const ConfigReader &config, LayerPlan &plan);
/// LongCat-Flash: zero (identity) experts (Families/LongCat.cpp).
LogicalResult readLongCatFlash(const ConfigReader &config, LayerPlan &plan);
/// Multimodal Llama 4: the text config nests in text_config.
LogicalResult readLlama4(const ConfigReader &config, LayerPlan &plan);
/// Switch Transformers' encoder (Families/Switch.cpp).
LogicalResult readSwitchTransformers(const ConfigReader &config,
                                     LayerPlan &plan);
/// Gemma 4's feed-forward half (Families/Gemma.cpp): gemma4 and
/// gemma4_text, and block-diffusion Gemma's decoder.
LogicalResult readGemma4Text(const ConfigReader &config, LayerPlan &plan);
LogicalResult readDiffusionGemma(const ConfigReader &config, LayerPlan &plan);
/// NLLB-MoE's encoder (Families/Nllb.cpp).
LogicalResult readNllbMoe(const ConfigReader &config, LayerPlan &plan);

/// Linear-bias families (Families/GptOss.cpp): GPT-OSS, OpenAI's privacy
/// filter, JetMoE.
LogicalResult readGptOss(const ConfigReader &config, LayerPlan &plan);
LogicalResult readOpenAIPrivacyFilter(const ConfigReader &config,
                                      LayerPlan &plan);
LogicalResult readJetMoe(const ConfigReader &config, LayerPlan &plan);
/// Families whose checkpoints need a reshaped or either-orientation view
/// (Families/Dbrx.cpp, Families/Ernie.cpp; Qwen3-VL-MoE in Qwen.cpp).
LogicalResult readDbrx(const ConfigReader &config, LayerPlan &plan);
LogicalResult readErnie45Moe(const ConfigReader &config, LayerPlan &plan);
LogicalResult readQwen3VLMoe(const ConfigReader &config, LayerPlan &plan);

} // namespace mlir::moe::hf

#endif // MOE_LIB_IMPORT_LAYERPLAN_H
