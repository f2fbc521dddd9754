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
#include <string>

namespace mlir::moe::hf {

/// How a family names and lays out its expert weights.
enum class ExpertNaming {
  /// block_sparse_moe.experts.{e}.w1 (gate) / w3 (up) / w2 (down)
  Mixtral,
  /// experts.{e}.gate_proj / up_proj / down_proj
  Projections,
  /// experts.gate_up_proj [E,H,2F] and experts.down_proj [E,F,H] (Llama 4)
  FusedTransposed,
};

struct LayerPlan {
  std::string modelType;
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
  GroupScore groupScore = GroupScore::max;
  ExpertNaming naming = ExpertNaming::Projections;
  /// Checkpoint names: "{L}" is the layer index.
  std::string prefix;       // e.g. "model.layers.{L}.mlp."
  std::string routerName;   // relative to prefix
  std::string sharedPrefix; // relative to prefix, e.g. "shared_experts."
  int64_t numLayers = 0;
  /// Why a layer is dense, for messages; and the test.
  std::function<bool(int64_t)> isMoELayer;
  std::string denseRule;
};

/// Reads the sizes every family has (hidden size, layers, experts, top-k,
/// expert width from `expertsKey` / `ffnKey`) and checks that the experts
/// use SiLU.
LogicalResult readCommon(const ConfigReader &config, LayerPlan &plan,
                         StringRef expertsKey, StringRef ffnKey);

/// Builds `func.func @<model>_layer<L>` for one layer of `plan`.
void buildLayer(OpBuilder &b, Location loc, const LayerPlan &plan,
                int64_t layer);

/// One model_type the importer reads.
struct Family {
  StringRef modelType;
  /// The config key nesting the language model's config (multimodal
  /// models: "text_config"), or empty when the root is it.
  StringRef textConfigKey;
  /// The config class's attribute_map entries the reader uses.
  ArrayRef<KeyAlias> aliases;
  /// Fills the plan from the (text) config.
  std::function<LogicalResult(const ConfigReader &, LayerPlan &)> read;
};

/// Every family, in the order messages list them.
ArrayRef<Family> getFamilies();

/// The model types of getFamilies(), comma-separated, for messages.
std::string getSupportedModelTypes();

// The readers, one group of families per file under Families/.
LogicalResult readMixtral(const ConfigReader &config, LayerPlan &plan);
LogicalResult readQwen(const ConfigReader &config, LayerPlan &plan,
                       bool sharedExpert);
LogicalResult readDeepSeek(const ConfigReader &config, LayerPlan &plan,
                           bool v3);
LogicalResult readLlama4(const ConfigReader &config, LayerPlan &plan,
                         bool multimodal);

} // namespace mlir::moe::hf

#endif // MOE_LIB_IMPORT_LAYERPLAN_H
