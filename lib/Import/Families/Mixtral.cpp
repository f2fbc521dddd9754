//===- Mixtral.cpp - Mixtral ===//
//
// Mixtral: softmax top-k renormalised, experts w1/w3/w2.
//
//===----------------------------------------------------------------------===//

#include "../LayerPlan.h"

#include "moe/Support/Limits.h"

#include "llvm/ADT/STLExtras.h"

#include <cfloat>

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::hf;
namespace limits = ::moe::limits;

LogicalResult mlir::moe::hf::readMixtral(const ConfigReader &config,
                                         LayerPlan &plan) {
  if (failed(
          readCommon(config, plan, "num_local_experts", "intermediate_size")))
    return failure();
  plan.renormalize = true;
  plan.naming = ExpertNaming::Mixtral;
  plan.prefix = "model.layers.{L}.block_sparse_moe.";
  plan.routerName = "gate.weight";
  plan.isMoELayer = [](int64_t) { return true; };
  return success();
}
