//===- PlacementAttr.h - #moe.placement and moe::ExpertPlacement -*- C++
//-*-===//
//
// Converts between the dialect's placement attribute and the plain C++
// placement the runtime, the tools and the cost model share. Kept out of
// MoEAttrs.h: the plain placement lives in the top-level namespace `moe`,
// which code that says `using namespace mlir` would find ambiguous with
// `mlir::moe`; include this only where `::moe::` is spelled out.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_PLACEMENTATTR_H
#define MOE_DIALECT_MOE_IR_PLACEMENTATTR_H

#include "moe/Dialect/MoE/IR/MoEAttrs.h"
#include "moe/Parallel/Placement.h"

namespace mlir::moe {
/// The placement `attr` describes (already verified).
::moe::ExpertPlacement toPlacement(PlacementAttr attr);
/// `placement` (verified) as an attribute.
PlacementAttr getPlacementAttr(MLIRContext *context,
                               const ::moe::ExpertPlacement &placement);
} // namespace mlir::moe

#endif // MOE_DIALECT_MOE_IR_PLACEMENTATTR_H
