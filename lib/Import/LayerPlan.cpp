//===- LayerPlan.cpp - the sizes every family shares, and the layer built ===//

#include "LayerPlan.h"

#include "moe/Support/Limits.h"
#include "moe/Target/Entries.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

// What the key bounds alone guarantee, so that only the expert weights'
// E*F*H needs a run-time check against kMaxTensorElements.
static_assert(limits::kMaxExperts * limits::kMaxHidden <=
                  limits::kMaxTensorElements,
              "a router weight [E, H] within the key bounds fits the limit");
static_assert(limits::kMaxFfn * limits::kMaxHidden <=
                  limits::kMaxTensorElements,
              "a shared expert weight [F, H] within the bounds fits the limit");

LogicalResult mlir::moe::hf::readCommon(const ConfigReader &config,
                                        LayerPlan &plan, StringRef expertsKey,
                                        StringRef ffnKey) {
  FailureOr<int64_t> hidden =
      config.requireInt("hidden_size", 1, limits::kMaxHidden);
  // Some configs (Nemotron-H) derive the layer count from a per-layer list
  // and save only the list.
  FailureOr<int64_t> layers =
      !config.has(plan.layerCountKey) && !plan.layerListKey.empty() &&
              config.has(plan.layerListKey)
          ? config.listSize(plan.layerListKey, 1, limits::kMaxLayers)
          : config.requireInt(plan.layerCountKey, 1, limits::kMaxLayers);
  FailureOr<int64_t> experts =
      config.requireInt(expertsKey, 1, limits::kMaxExperts);
  FailureOr<int64_t> topK =
      plan.topK > 0
          ? FailureOr<int64_t>(plan.topK)
          : config.requireInt("num_experts_per_tok", 1, limits::kMaxExperts);
  FailureOr<int64_t> ffn = config.requireInt(ffnKey, 1, limits::kMaxFfn);
  FailureOr<std::string> act = config.optionalString("hidden_act", "silu");
  if (failed(hidden) || failed(layers) || failed(experts) || failed(topK) ||
      failed(ffn) || failed(act))
    return failure();
  if (*act != "silu")
    return config.error("hidden_act")
           << "config key 'hidden_act' is " << quote(*act) << "; "
           << plan.modelType << " experts use SiLU (SwiGLU), expected 'silu'";
  if (*topK > *experts)
    return config.error("num_experts_per_tok")
           << "config key 'num_experts_per_tok' (" << *topK << ") exceeds '"
           << expertsKey << "' (" << *experts << ")";
  // Gate, up and down each stack E*F*H elements (Llama 4's fused
  // gate_up_proj twice that, checked with the family).
  int64_t elements;
  if (!limits::checkedProduct({*experts, *ffn, *hidden},
                              limits::kMaxTensorElements, elements))
    return config.error(ffnKey)
           << "config keys '" << expertsKey << "' (" << *experts << ") * '"
           << ffnKey << "' (" << *ffn << ") * 'hidden_size' (" << *hidden
           << ") give one expert weight more elements than moec supports (at "
              "most "
           << limits::kMaxTensorElements << ")";
  plan.hidden = *hidden;
  plan.numLayers = *layers;
  plan.numExperts = *experts;
  plan.topK = *topK;
  plan.ffn = *ffn;
  plan.expertsKey = expertsKey.str();
  plan.ffnKey = ffnKey.str();
  return success();
}

LogicalResult mlir::moe::hf::checkFusedGateUpSize(const ConfigReader &config,
                                                  const LayerPlan &plan) {
  int64_t elements;
  if (limits::checkedProduct({plan.numExperts, plan.hidden, 2, plan.ffn},
                             limits::kMaxTensorElements, elements))
    return success();
  return config.error(plan.ffnKey)
         << "config keys '" << plan.expertsKey << "' (" << plan.numExperts
         << ") * 'hidden_size' (" << plan.hidden << ") * 2 * '" << plan.ffnKey
         << "' (" << plan.ffn
         << ") give experts.gate_up_proj more elements than moec supports (at "
            "most "
         << limits::kMaxTensorElements << ")";
}

void mlir::moe::hf::setEveryLayer(LayerPlan &plan) {
  plan.isMoELayer = [](int64_t) { return true; };
  plan.denseRule = "every layer being MoE";
}

/// Layers from `first` on are MoE; `rule` says why, for messages.
static void setFirstDense(LayerPlan &plan, int64_t first, std::string rule) {
  plan.isMoELayer = [first](int64_t layer) { return layer >= first; };
  plan.denseRule = std::move(rule);
}

LogicalResult mlir::moe::hf::readFirstDense(const ConfigReader &config,
                                            LayerPlan &plan, StringRef key,
                                            int64_t defaultFirst) {
  FailureOr<int64_t> first =
      config.optionalInt(key, defaultFirst, 0, limits::kMaxLayers);
  if (failed(first))
    return failure();
  setFirstDense(plan, *first,
                "'" + key.str() + "' = " + std::to_string(*first));
  return success();
}

LogicalResult mlir::moe::hf::setSharedWidth(const ConfigReader &config,
                                            LayerPlan &plan, StringRef countKey,
                                            int64_t count, StringRef widthKey,
                                            int64_t width, StringRef errorKey) {
  if (limits::checkedMul(count, width, plan.sharedFfn) &&
      plan.sharedFfn <= limits::kMaxFfn)
    return success();
  return config.error(errorKey.empty() ? countKey : errorKey)
         << "config keys '" << countKey << "' (" << count << ") * '" << widthKey
         << "' (" << width
         << ") give a shared expert wider than moec supports (at most "
         << limits::kMaxFfn << ")";
}

LogicalResult mlir::moe::hf::readMlpLayerTypes(const ConfigReader &config,
                                               LayerPlan &plan,
                                               bool readFirstDenseKey,
                                               int64_t defaultDense) {
  FailureOr<std::vector<std::string>> kinds = config.optionalLayerKinds(
      "mlp_layer_types", plan.numLayers, {"dense", "sparse"});
  if (failed(kinds))
    return failure();
  if (!kinds->empty()) {
    std::vector<std::string> types = *kinds;
    plan.isMoELayer = [types](int64_t layer) {
      return types[layer] == "sparse";
    };
    plan.denseRule = "'mlp_layer_types'";
    return success();
  }
  if (!readFirstDenseKey) {
    setFirstDense(plan, defaultDense,
                  "the default of 'mlp_layer_types' (the first " +
                      std::to_string(defaultDense) + " layers dense)");
    return success();
  }
  return readFirstDense(config, plan, "first_k_dense_replace", defaultDense);
}

/// The experts' linear biases of `plan`, as arguments: a fused gate_up
/// `[E,2F]` split like its weight (chunked or interleaved columns) or an
/// ungated up `[E,F]`, and down `[E,H]`. `addArg(shape, name)` adds an argument, `setView(index, source,
/// slice, transpose)` gives it a view of its checkpoint tensor.
template <typename AddArg, typename SetView>
static std::tuple<std::optional<unsigned>, std::optional<unsigned>,
                  std::optional<unsigned>>
addExpertBiases(const LayerPlan &plan, AddArg &addArg, SetView &setView) {
  int64_t E = plan.numExperts, F = plan.ffn, H = plan.hidden;
  std::optional<unsigned> gate, up, down;
  if (!plan.gateUpBiasName.empty()) {
    gate = addArg({E, F}, plan.gateUpBiasName);
    up = addArg({E, F}, plan.gateUpBiasName);
    if (plan.naming == ExpertNaming::FusedTransposedInterleaved) {
      setView(*gate, {E, 2 * F}, {1, 0, F, 2}, {0, 1});
      setView(*up, {E, 2 * F}, {1, 1, F, 2}, {0, 1});
    } else {
      setView(*gate, {E, 2 * F}, {1, 0, F}, {0, 1});
      setView(*up, {E, 2 * F}, {1, F, F}, {0, 1});
    }
  }
  if (!plan.upBiasName.empty())
    up = addArg({E, F}, plan.upBiasName);
  if (!plan.downBiasName.empty())
    down = addArg({E, H}, plan.downBiasName);
  return {gate, up, down};
}

namespace {
/// An activation and its `#moe.glu_clamp` (set for clamped_swiglu only).
struct ExpertActivation {
  Activation activation;
  GluClampAttr clamp;
};

ExpertActivation clampedOrPlain(MLIRContext *ctx, const LayerPlan &plan,
                                double limit) {
  if (limit <= 0.0)
    return {Activation::swiglu, {}};
  return {Activation::clamped_swiglu,
          GluClampAttr::get(ctx, APFloat(plan.gluAlpha), APFloat(limit),
                            plan.gluForm)};
}

/// The routed experts' activation in `layer`.
ExpertActivation getExpertActivation(MLIRContext *ctx, const LayerPlan &plan,
                                     int64_t layer) {
  if (!plan.layerGluLimits.empty())
    return clampedOrPlain(ctx, plan, plan.layerGluLimits[layer]);
  if (plan.activation != Activation::clamped_swiglu)
    return {plan.activation, {}};
  return clampedOrPlain(ctx, plan, plan.gluLimit);
}

/// The shared expert's `shared_activation` and `shared_glu_clamp` in
/// `layer`: both null when it takes the routed experts' activation.
struct SharedActivationAttrs {
  ActivationAttr activation;
  GluClampAttr clamp;
};

SharedActivationAttrs
getSharedActivation(MLIRContext *ctx, const LayerPlan &plan, int64_t layer) {
  if (plan.sharedFfn == 0)
    return {};
  std::optional<ExpertActivation> shared;
  if (!plan.layerSharedGluLimits.empty())
    shared = clampedOrPlain(ctx, plan, plan.layerSharedGluLimits[layer]);
  else if (plan.sharedActivation == Activation::clamped_swiglu)
    shared = clampedOrPlain(ctx, plan, plan.sharedGluLimit);
  else if (plan.sharedActivation)
    shared = ExpertActivation{*plan.sharedActivation, {}};
  if (!shared)
    return {};
  ExpertActivation routed = getExpertActivation(ctx, plan, layer);
  if (shared->activation == routed.activation && shared->clamp == routed.clamp)
    return {};
  return {ActivationAttr::get(ctx, shared->activation), shared->clamp};
}
} // namespace

LogicalResult mlir::moe::hf::checkScalingFactor(const ConfigReader &config,
                                               StringRef key, double scaling) {
  if (scaling >= FLT_MIN && scaling <= FLT_MAX)
    return success();
  return config.error(key) << "config key '" << key
                           << "' must be positive and within f32 ("
                           << formatNumber(FLT_MIN) << " to "
                           << formatNumber(FLT_MAX) << "), got "
                           << formatNumber(scaling);
}

LogicalResult mlir::moe::hf::refuseSharedMlpBias(const ConfigReader &config,
                                                const LayerPlan &plan) {
  FailureOr<bool> bias = config.optionalBool("mlp_bias", false);
  if (failed(bias))
    return failure();
  if (*bias)
    return config.error("mlp_bias")
           << "config key 'mlp_bias' is true: moec's shared experts of "
           << plan.modelType << " have no biases yet";
  return success();
}

void mlir::moe::hf::buildLayer(OpBuilder &b, Location loc,
                               const LayerPlan &plan, int64_t layer) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  int64_t H = plan.hidden, E = plan.numExperts, F = plan.ffn,
          Fs = plan.sharedFfn;
  std::string prefix = plan.prefix;
  prefix.replace(prefix.find("{L}"), 3, std::to_string(layer));

  struct Arg {
    Type type;
    NamedAttrList attrs;
  };
  SmallVector<Arg> args;
  auto addArg = [&](ArrayRef<int64_t> shape, StringRef name) -> unsigned {
    Arg arg{RankedTensorType::get(shape, f32), {}};
    if (!name.empty())
      arg.attrs.set(kWeightNameAttr, b.getStringAttr(prefix + name.str()));
    args.push_back(std::move(arg));
    return args.size() - 1;
  };
  auto setView = [&](unsigned index, ArrayRef<int64_t> source,
                     ArrayRef<int64_t> slice, ArrayRef<int64_t> transpose) {
    NamedAttrList &attrs = args[index].attrs;
    attrs.set(kWeightSourceShapeAttr, b.getDenseI64ArrayAttr(source));
    if (!slice.empty())
      attrs.set(kWeightSliceAttr, b.getDenseI64ArrayAttr(slice));
    attrs.set(kWeightTransposeAttr, b.getDenseI64ArrayAttr(transpose));
  };
  auto setStoredShape = [&](unsigned index, ArrayRef<int64_t> stored) {
    args[index].attrs.set(kWeightStoredShapeAttr,
                          b.getDenseI64ArrayAttr(stored));
  };

  unsigned input = addArg({ShapedType::kDynamic, H}, "");
  bool byTable = !plan.expertTableName.empty() &&
                 (!plan.isTableLayer || plan.isTableLayer(layer));
  // The ABI's token ids follow the input (i32, one per token).
  std::optional<unsigned> tokenIds;
  if (byTable) {
    args.push_back(
        {RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type()), {}});
    tokenIds = args.size() - 1;
  }
  // Soft MoE has a router row per slot (E·S within the bounds,
  // readRouterOverride checked).
  // Zero experts are router rows (and bias entries) without weights.
  int64_t routedIds = E + plan.zeroExperts;
  int64_t routerRows = plan.routerKind == RouterKind::SoftMoE
                           ? E * plan.softMoESlots
                           : routedIds;
  unsigned router = addArg({routerRows, H}, plan.routerName);
  std::optional<unsigned> bias, routerBias;
  if (plan.correctionBias && !byTable) {
    bias = addArg({routedIds}, plan.correctionBiasName);
    if (plan.correctionBiasRow)
      setStoredShape(*bias, {1, routedIds});
  }
  if (!plan.routerBiasName.empty())
    routerBias = addArg({routedIds}, plan.routerBiasName);
  std::optional<unsigned> routerInputScale, expertScale;
  if (!plan.routerInputScaleName.empty())
    routerInputScale = addArg({H}, plan.routerInputScaleName);
  if (!plan.expertScaleName.empty())
    expertScale = addArg({routedIds}, plan.expertScaleName);
  std::optional<unsigned> gate;
  unsigned up = 0, down = 0;
  bool gated = isGated(plan.activation);
  switch (plan.naming) {
  case ExpertNaming::Mixtral:
    if (gated)
      gate = addArg({E, F, H}, "experts.{e}.w1.weight");
    up = addArg({E, F, H}, "experts.{e}.w3.weight");
    down = addArg({E, H, F}, "experts.{e}.w2.weight");
    break;
  case ExpertNaming::Projections:
    if (gated)
      gate = addArg({E, F, H}, "experts.{e}.gate_proj.weight");
    up = addArg({E, F, H}, "experts.{e}.up_proj.weight");
    down = addArg({E, H, F}, "experts.{e}.down_proj.weight");
    break;
  case ExpertNaming::FusedTransposed:
    // gate_up_proj [E,H,2F]: gate is columns [0,F), up [F,2F), each
    // transposed to [E,F,H]; down_proj [E,F,H] transposed to [E,H,F].
    gate = addArg({E, F, H}, plan.gateUpName);
    // 2 * F cannot overflow: F <= kMaxFfn.
    setView(*gate, {E, H, 2 * F}, {2, 0, F}, {0, 2, 1});
    up = addArg({E, F, H}, plan.gateUpName);
    setView(up, {E, H, 2 * F}, {2, F, F}, {0, 2, 1});
    down = addArg({E, H, F}, plan.downName);
    setView(down, {E, F, H}, {}, {0, 2, 1});
    break;
  case ExpertNaming::FusedTransposedInterleaved:
    // gate_up_proj [E,H,2F]: gate is the even columns, up the odd ones
    // (strided slices), each transposed to [E,F,H]; down_proj as above.
    gate = addArg({E, F, H}, plan.gateUpName);
    setView(*gate, {E, H, 2 * F}, {2, 0, F, 2}, {0, 2, 1});
    up = addArg({E, F, H}, plan.gateUpName);
    setView(up, {E, H, 2 * F}, {2, 1, F, 2}, {0, 2, 1});
    down = addArg({E, H, F}, plan.downName);
    setView(down, {E, F, H}, {}, {0, 2, 1});
    break;
  case ExpertNaming::FusedChunked:
    // gate_up_proj [E,2F,H]: gate is rows [0,F), up [F,2F); down_proj is
    // already [E,H,F].
    gate = addArg({E, F, H}, plan.gateUpName);
    setView(*gate, {E, 2 * F, H}, {1, 0, F}, {0, 1, 2});
    up = addArg({E, F, H}, plan.gateUpName);
    setView(up, {E, 2 * F, H}, {1, F, F}, {0, 1, 2});
    down = addArg({E, H, F}, plan.downName);
    if (plan.fusedEitherOrientation)
      for (unsigned index : {*gate, up, down})
        args[index].attrs.set(kWeightEitherOrientationAttr, b.getUnitAttr());
    break;
  case ExpertNaming::DbrxStacked:
    // Each [E·F, H] (E·F within the bounds: readDbrx checked E·F·H) read
    // as [E, F, H]; w2[e] is [F, H], the down projection transposed.
    gate = addArg({E, F, H}, "experts.mlp.w1");
    setStoredShape(*gate, {E * F, H});
    up = addArg({E, F, H}, "experts.mlp.v1");
    setStoredShape(up, {E * F, H});
    down = addArg({E, H, F}, "experts.mlp.w2");
    setView(down, {E, F, H}, {}, {0, 2, 1});
    setStoredShape(down, {E * F, H});
    break;
  case ExpertNaming::UngatedPerExpert:
    up = addArg({E, F, H}, "experts.expert_{e}." + plan.perExpertUpName);
    down = addArg({E, H, F}, "experts.expert_{e}." + plan.perExpertDownName);
    break;
  case ExpertNaming::Stacked:
    if (gated)
      gate = addArg({E, F, H}, plan.stackedPrefix + "gate_proj.weight");
    up = addArg({E, F, H}, plan.stackedPrefix + "up_proj.weight");
    down = addArg({E, H, F}, plan.stackedPrefix + "down_proj.weight");
    break;
  }
  std::optional<unsigned> sharedGate, sharedUp, sharedDown, sharedSigmoid;
  if (Fs > 0) {
    // Relative to the MoE block, or a pattern of its own (a shared MLP
    // beside the block in the decoder layer).
    std::string shared = plan.sharedPrefix;
    if (!plan.sharedLayerPrefix.empty()) {
      shared = plan.sharedLayerPrefix;
      shared.replace(shared.find("{L}"), 3, std::to_string(layer));
    }
    auto addShared = [&](ArrayRef<int64_t> shape, StringRef suffix) {
      unsigned index = addArg(shape, "");
      std::string full = plan.sharedLayerPrefix.empty()
                             ? prefix + shared + suffix.str()
                             : shared + suffix.str();
      args[index].attrs.set(kWeightNameAttr, b.getStringAttr(full));
      return index;
    };
    switch (plan.sharedNaming) {
    case SharedNaming::Projections:
      if (gated)
        sharedGate = addShared({Fs, H}, "gate_proj.weight");
      sharedUp = addShared({Fs, H}, "up_proj.weight");
      sharedDown = addShared({H, Fs}, "down_proj.weight");
      break;
    case SharedNaming::Mixtral:
      if (gated)
        sharedGate = addShared({Fs, H}, "w1.weight");
      sharedUp = addShared({Fs, H}, "w3.weight");
      sharedDown = addShared({H, Fs}, "w2.weight");
      break;
    case SharedNaming::FusedInput:
      // input_linear [2Fs,H]: gate is rows [0,Fs), up [Fs,2Fs).
      sharedGate = addShared({Fs, H}, "input_linear.weight");
      setView(*sharedGate, {2 * Fs, H}, {0, 0, Fs}, {0, 1});
      sharedUp = addShared({Fs, H}, "input_linear.weight");
      setView(*sharedUp, {2 * Fs, H}, {0, Fs, Fs}, {0, 1});
      sharedDown = addShared({H, Fs}, "output_linear.weight");
      break;
    case SharedNaming::LinearGate:
      sharedGate = addShared({Fs, H}, "linear_gate.weight");
      sharedUp = addShared({Fs, H}, "up_proj.weight");
      sharedDown = addShared({H, Fs}, "down_proj.weight");
      break;
    }
    if (plan.sharedSigmoidGate)
      sharedSigmoid = addArg({1, H}, "shared_expert_gate.weight");
  }
  auto [gateBias, upBias, downBias] = addExpertBiases(plan, addArg, setView);
  std::optional<unsigned> outputBias;
  if (!plan.outputBiasName.empty())
    outputBias = addArg({H}, plan.outputBiasName);
  auto addNorm = [&](const std::string &name) -> std::optional<unsigned> {
    if (name.empty())
      return std::nullopt;
    return addArg({H}, name);
  };
  std::optional<unsigned> expertInputNorm = addNorm(plan.expertInputNormName),
                          expertOutputNorm =
                              addNorm(plan.expertOutputNormName),
                          sharedInputNorm = addNorm(plan.sharedInputNormName),
                          sharedOutputNorm =
                              addNorm(plan.sharedOutputNormName),
                          outputNorm = addNorm(plan.outputNormName);
  bool hasNorms = expertInputNorm || expertOutputNorm || sharedInputNorm ||
                  sharedOutputNorm || outputNorm;

  std::optional<unsigned> table;
  if (byTable) {
    Arg arg{RankedTensorType::get({plan.vocabSize, plan.topK}, b.getI32Type()),
            {}};
    arg.attrs.set(kWeightNameAttr,
                  b.getStringAttr(prefix + plan.expertTableName));
    args.push_back(std::move(arg));
    table = args.size() - 1;
  }

  SmallVector<Type> types;
  for (const Arg &arg : args)
    types.push_back(arg.type);
  Type activationType = types[input];
  // A C identifier (the entry's _mlir_ciface_ symbol): nllb-moe's '-'
  // becomes '_'.
  std::string name = plan.modelType + "_layer" + std::to_string(layer);
  std::replace(name.begin(), name.end(), '-', '_');
  auto func = func::FuncOp::create(
      b, loc, name, FunctionType::get(ctx, types, {activationType}));
  for (unsigned i = 0; i < args.size(); ++i)
    func.setArgAttrs(i, args[i].attrs.getDictionary(ctx));
  Block *body = func.addEntryBlock();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(body);
  auto value = [&](std::optional<unsigned> index) -> Value {
    return index ? body->getArgument(*index) : Value();
  };
  SharedActivationAttrs shared = getSharedActivation(ctx, plan, layer);
  Attribute routing;
  switch (plan.routerKind) {
  case RouterKind::TokenChoice:
    routing = RoutingAttr::get(
        ctx, plan.topK, plan.scoring, plan.selectOn, plan.renormalize,
        APFloat(plan.scalingFactor), plan.nGroup, plan.topkGroup,
        plan.groupScore, /*rank_limit=*/0, ArrayRef<int64_t>(),
        plan.routingWeights,
        APFloat(plan.renormalize ? plan.renormP : 1.0),
        APFloat(plan.renormalize ? plan.renormEpsilon : 1e-20),
        plan.renormalize && plan.renormClamp, APFloat(plan.jitterEps));
    break;
  case RouterKind::ExpertChoice:
    routing = ExpertChoiceAttr::get(ctx, APFloat(plan.expertChoiceFactor));
    break;
  case RouterKind::SoftMoE:
    routing = SoftMoEAttr::get(ctx, plan.softMoESlots);
    break;
  }
  CapacityAttr capacity;
  if (plan.capacity)
    capacity = CapacityAttr::get(
        ctx, /*factor=*/APFloat(0.0), plan.capacity->dropOrder,
        DroppedSlot::zero, plan.capacity->count,
        APFloat(plan.capacity->tokenFraction), plan.capacity->renormalize,
        APFloat(plan.capacity->outputScale));
  ExpertActivation routed = getExpertActivation(ctx, plan, layer);
  Value output = LayerOp::create(
      b, loc, activationType, value(input), value(router), value(bias),
      value(routerBias), value(routerInputScale), value(expertScale),
      value(table), value(tokenIds), value(gate),
      value(up), value(down), value(sharedGate), value(sharedUp),
      value(sharedDown), value(sharedSigmoid), value(gateBias), value(upBias),
      value(downBias), value(outputBias), routing,
      ActivationAttr::get(ctx, routed.activation), capacity,
      plan.scaleExpertInput ? b.getUnitAttr() : UnitAttr(), routed.clamp,
      plan.routerInputNormEpsilon > 0.0
          ? RouterInputNormAttr::get(
                ctx, APFloat(plan.routerInputNormEpsilon),
                APFloat(1.0 / std::sqrt(static_cast<double>(H))))
          : RouterInputNormAttr(),
      shared.activation, shared.clamp,
      plan.sharedAverage && Fs > 0
          ? SharedCombineAttr::get(ctx, SharedCombine::average)
          : SharedCombineAttr(),
      value(expertInputNorm), value(expertOutputNorm), value(sharedInputNorm),
      value(sharedOutputNorm), value(outputNorm),
      hasNorms ? b.getF64FloatAttr(plan.normEpsilon) : FloatAttr(),
      plan.zeroExperts > 0 ? b.getI64IntegerAttr(plan.zeroExperts)
                           : IntegerAttr());
  func::ReturnOp::create(b, loc, output);
}
