//===- Passes.h - moe transformation passes ---------------------*- C++ -*-===//
//
// Declarations and registration of the moe transformation passes, and the
// pattern sets other passes may reuse.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TRANSFORMS_PASSES_H
#define MOE_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;

namespace moe {
#define GEN_PASS_DECL
#include "moe/Transforms/Passes.h.inc"

/// Patterns expanding `moe.layer` into its stages (see `moe-decompose`).
void populateMoEDecomposePatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "moe/Transforms/Passes.h.inc"
} // namespace moe
} // namespace mlir

#endif // MOE_TRANSFORMS_PASSES_H
