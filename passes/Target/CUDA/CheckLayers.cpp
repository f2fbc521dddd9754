//===- CheckLayers.cpp - what the CUDA target cannot lower yet
//-------------===//
//
// Implements `moe-cuda-check-layers`: the first stage of moe-lower-to-cuda
// refuses, with an error naming the op, the layers whose lowering would
// otherwise fail deep inside the GPU mapping with a message about some
// buffer instead of the layer.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/CUDA/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOECUDACHECKLAYERS
#include "moe/Target/CUDA/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
/// Why the CUDA target cannot lower capacity with dropped = input today.
constexpr llvm::StringLiteral kDroppedInput =
    "capacity with dropped = input is not supported by the CUDA target: "
    "the passed-through input of dropped slots is added by loops that do "
    "not map to GPU kernels (use dropped = zero, or --target=cpu)";

/// Why the CUDA target cannot lower zero (identity) experts today.
constexpr llvm::StringLiteral kZeroExperts =
    "zero (identity) experts ('zero_experts') are not supported by the CUDA "
    "target: the passed-through input of their slots is added by loops that "
    "do not map to GPU kernels (use --target=cpu)";

/// Why the CUDA target cannot lower GPT-OSS's clamped SwiGLU today.
constexpr llvm::StringLiteral kClampedSwiglu =
    "activation 'clamped_swiglu' is not supported by the CUDA target: its "
    "grouped GEMM epilogues do not carry the glu_clamp parameters (use "
    "--target=cpu)";

/// Why the CUDA target does not give the shared expert an activation of its
/// own today.
constexpr llvm::StringLiteral kSharedActivation =
    "a shared expert with an activation of its own ('shared_activation') is "
    "not supported by the CUDA target: its fused experts carry one "
    "activation (use --target=cpu)";

/// Why the CUDA target does not average the shared expert in today.
constexpr llvm::StringLiteral kSharedAverage =
    "shared_combine = average is not supported by the CUDA target: its "
    "fused experts add the shared expert to the routed sum (use "
    "--target=cpu)";

/// Why the CUDA target does not run moe.layer's norms today.
constexpr llvm::StringLiteral kLayerNorms =
    "moe.layer's norms ('norms(...)', Gemma 4) are not supported by the CUDA "
    "target: no kernel computes them yet (use --target=cpu)";

/// Why the CUDA target does not run routing by token id today.
constexpr llvm::StringLiteral kExpertTable =
    "routing by token id ('expert_table', 'token_ids') is not supported by "
    "the CUDA target: its entries take no token ids (use --target=cpu)";

/// Why the CUDA target cannot lower Soft MoE today.
constexpr llvm::StringLiteral kSoftMoE =
    "Soft MoE (#moe.soft_moe) is not supported by the CUDA target: its slot "
    "mixing and unfused moe.expert_mlp do not map to GPU kernels (use "
    "--target=cpu)";

/// Why the CUDA target cannot lower the linears' biases today.
constexpr llvm::StringLiteral kLinearBiases =
    "the experts' linear biases ('gate_bias', 'up_bias', 'down_bias') and "
    "the block's 'output_bias' are not supported by the CUDA target: its "
    "grouped GEMM epilogues do not add them (use --target=cpu)";

/// Whether `op` carries a linear bias of the expert FFN or the block's
/// output bias, at any level of the graph.
bool hasLinearBias(Operation *op) {
  if (auto layer = dyn_cast<LayerOp>(op))
    return layer.getExpertGateBias() || layer.getExpertUpBias() ||
           layer.getExpertDownBias() || layer.getOutputBias();
  if (auto mlp = dyn_cast<ExpertMlpOp>(op))
    return mlp.getGateBias() || mlp.getUpBias() || mlp.getDownBias();
  if (auto fused = dyn_cast<FusedExpertsOp>(op))
    return fused.getExpertGateBias() || fused.getExpertUpBias() ||
           fused.getExpertDownBias() || fused.getOutputBias();
  if (auto combine = dyn_cast<CombineOp>(op))
    return static_cast<bool>(combine.getOutputBias());
  return false;
}

/// Why the CUDA target does not run GShard's/NLLB's capacity rules today.
constexpr llvm::StringLiteral kCapacityRules =
    "capacity with drop_order = choice_order, renormalize or output_scale is "
    "not supported by the CUDA target: its rank and renormalisation kernels "
    "have not been verified on a GPU (use --target=cpu)";

/// Whether a capacity uses a rule the CUDA target does not run.
bool hasUnsupportedCapacityRule(CapacityAttr capacity) {
  return capacity && (capacity.getDropOrder() == DropOrder::choice_order ||
                      capacity.getRenormalize() ||
                      !capacity.getOutputScale().isExactlyValue(1.0));
}

struct MoECUDACheckLayersPass
    : public mlir::moe::impl::MoECUDACheckLayersBase<MoECUDACheckLayersPass> {
  void runOnOperation() override {
    bool failed = false;
    getOperation().walk([&](Operation *op) {
      // Every op carrying an activation names its parameters `glu_clamp`
      // (moe.layer's shared expert: `shared_glu_clamp`).
      if (op->getAttrOfType<GluClampAttr>("glu_clamp") ||
          op->getAttrOfType<GluClampAttr>("shared_glu_clamp")) {
        op->emitOpError(kClampedSwiglu);
        failed = true;
        return;
      }
      if (hasLinearBias(op)) {
        op->emitOpError(kLinearBiases);
        failed = true;
        return;
      }
      if (auto layer = dyn_cast<LayerOp>(op);
          layer && layer.getSharedActivation()) {
        op->emitOpError(kSharedActivation);
        failed = true;
        return;
      }
      if (auto layer = dyn_cast<LayerOp>(op); layer && layer.hasNorms()) {
        op->emitOpError(kLayerNorms);
        failed = true;
        return;
      }
      if (auto layer = dyn_cast<LayerOp>(op);
          layer && layer.averagesSharedExpert()) {
        op->emitOpError(kSharedAverage);
        failed = true;
        return;
      }
      bool byTable = false;
      if (auto layer = dyn_cast<LayerOp>(op))
        byTable = static_cast<bool>(layer.getExpertTable());
      else if (auto route = dyn_cast<RouteOp>(op))
        byTable = static_cast<bool>(route.getExpertTable());
      if (byTable) {
        op->emitOpError(kExpertTable);
        failed = true;
        return;
      }
      if (isa<SoftDispatchOp, SoftCombineOp>(op) ||
          (isa<LayerOp>(op) &&
           isa<SoftMoEAttr>(cast<LayerOp>(op).getRouter()))) {
        op->emitOpError(kSoftMoE);
        failed = true;
        return;
      }
      if (hasUnsupportedCapacityRule(
              op->getAttrOfType<CapacityAttr>("capacity"))) {
        op->emitOpError(kCapacityRules);
        failed = true;
        return;
      }
      if (op->getAttrOfType<IntegerAttr>("zero_experts") &&
          isa<LayerOp, DispatchOp>(op)) {
        op->emitOpError(kZeroExperts);
        failed = true;
        return;
      }
      bool passThrough = false;
      if (auto layer = dyn_cast<LayerOp>(op))
        passThrough =
            layer.getCapacityAttr() &&
            layer.getCapacityAttr().getDropped() == DroppedSlot::input;
      else if (auto combine = dyn_cast<CombineOp>(op))
        passThrough = combine.getDropped() == DroppedSlot::input;
      else if (auto fused = dyn_cast<FusedExpertsOp>(op))
        passThrough = fused.getDropped() == DroppedSlot::input;
      if (!passThrough)
        return;
      op->emitOpError(kDroppedInput);
      failed = true;
    });
    if (failed)
      signalPassFailure();
  }
};
} // namespace
