//===- MoEAttrs.h - moe dialect attributes and enums ------------*- C++ -*-===//
//
// Routing, expert-choice, capacity, weight layout and placement attributes
// and the enums they use.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEATTRS_H
#define MOE_DIALECT_MOE_IR_MOEATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectImplementation.h"

#include "moe/Dialect/MoE/IR/MoEEnums.h.inc"

namespace mlir::moe {
/// Float attribute parameters print in their shortest exact decimal form
/// ("2.5", "1.0") rather than in exponent notation.
FailureOr<llvm::APFloat> parseF64Parameter(AsmParser &parser);
void printF64Parameter(AsmPrinter &printer, const llvm::APFloat &value);

/// `expert_ranks` reads and prints as `[0, 1, 0, 1]`: a bare comma list
/// (MLIR's default for arrays) would not say where the list ends.
FailureOr<SmallVector<int64_t>> parseRankMapParameter(AsmParser &parser);
void printRankMapParameter(AsmPrinter &printer, ArrayRef<int64_t> ranks);

/// Whether the activation multiplies a gate projection into the up
/// projection (and so needs gate weights).
inline bool isGated(Activation activation) {
  return activation == Activation::swiglu || activation == Activation::geglu ||
         activation == Activation::geglu_tanh ||
         activation == Activation::clamped_swiglu;
}
} // namespace mlir::moe

#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/MoE/IR/MoEAttrs.h.inc"

#endif // MOE_DIALECT_MOE_IR_MOEATTRS_H
