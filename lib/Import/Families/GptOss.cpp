//===- GptOss.cpp - GPT-OSS, OpenAI's privacy filter, JetMoE --------------===//
//
// The families whose expert linears or whose block carry biases: GPT-OSS
// and OpenAI's privacy filter (a router bias, the softmax over the selected
// logits, clamped SwiGLU experts with biases on every linear, fused
// transposed weights, interleaved or chunked), and JetMoE (the softmax over
// the selected logits, chunked fused weights and a bias on the block's
// output).
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include <cfloat>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;

/// Top-k on the (biased) logits, weighted by their softmax over the k.
static void setSoftmaxOfSelectedLogits(LayerPlan &plan) {
  plan.selectOn = SelectionSource::logits;
  plan.routingWeights = RoutingWeights::softmax_selected;
}

/// GPT-OSS's block, shared by OpenAI's privacy filter (which scales the
/// weights by 1/k and the output by k: the same block); `interleaved`:
/// whether gate_up_proj's gate and up columns alternate.
static LogicalResult readGptOssBlock(const ConfigReader &config,
                                     LayerPlan &plan, bool interleaved) {
  if (failed(
          readCommon(config, plan, "num_local_experts", "intermediate_size")) ||
      failed(checkFusedGateUpSize(config, plan)))
    return failure();
  FailureOr<double> alpha = config.optionalNumber("swiglu_alpha", 1.702);
  FailureOr<double> limit = config.optionalNumber("swiglu_limit", 7.0);
  if (failed(alpha) || failed(limit))
    return failure();
  for (auto [key, value] :
       {std::pair<StringRef, double>("swiglu_alpha", *alpha),
        {"swiglu_limit", *limit}})
    if (!(value > 0 && value <= FLT_MAX))
      return config.error(key) << "config key '" << key
                               << "' must be positive and within f32, got "
                               << formatNumber(value);
  setSoftmaxOfSelectedLogits(plan);
  plan.activation = Activation::clamped_swiglu;
  plan.gluAlpha = *alpha;
  plan.gluLimit = *limit;
  plan.naming = interleaved ? ExpertNaming::FusedTransposedInterleaved
                            : ExpertNaming::FusedTransposed;
  plan.prefix = "model.layers.{L}.mlp.";
  plan.routerName = "router.weight";
  plan.routerBiasName = "router.bias";
  plan.gateUpBiasName = "experts.gate_up_proj_bias";
  plan.downBiasName = "experts.down_proj_bias";
  setEveryLayer(plan);
  return success();
}

LogicalResult mlir::moe::hf::readGptOss(const ConfigReader &config,
                                        LayerPlan &plan) {
  return readGptOssBlock(config, plan, /*interleaved=*/true);
}

LogicalResult mlir::moe::hf::readOpenAIPrivacyFilter(const ConfigReader &config,
                                                     LayerPlan &plan) {
  return readGptOssBlock(config, plan, /*interleaved=*/false);
}

LogicalResult mlir::moe::hf::readJetMoe(const ConfigReader &config,
                                        LayerPlan &plan) {
  if (failed(
          readCommon(config, plan, "num_local_experts", "intermediate_size")) ||
      failed(checkFusedGateUpSize(config, plan)))
    return failure();
  // JetMoE names its activation `activation_function`, not `hidden_act`.
  FailureOr<std::string> act =
      config.optionalString("activation_function", "silu");
  if (failed(act))
    return failure();
  if (*act != "silu")
    return config.error("activation_function")
           << "config key 'activation_function' is " << quote(*act)
           << "; jetmoe experts use SiLU (SwiGLU), expected 'silu'";
  setSoftmaxOfSelectedLogits(plan);
  plan.naming = ExpertNaming::FusedChunked;
  plan.prefix = "model.layers.{L}.mlp.";
  plan.routerName = "router.layer.weight";
  plan.gateUpName = "input_linear.weight";
  plan.downName = "output_linear.weight";
  plan.outputBiasName = "bias";
  setEveryLayer(plan);
  return success();
}
