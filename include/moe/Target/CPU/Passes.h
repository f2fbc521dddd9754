//===- Passes.h - CPU-specific moe passes -----------------------*- C++ -*-===//
//
// Declarations and registration of the `moe-cpu-*` passes (Passes.td).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_CPU_PASSES_H
#define MOE_TARGET_CPU_PASSES_H

// moe-cpu-pack-weights' panel width defaults to the micro-kernels'.
#include "moe/Runtime/KernelABI.h"

#include "moe/Dialect/MoE/IR/MoEDialect.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::moe {
#define GEN_PASS_DECL
#include "moe/Target/CPU/Passes.h.inc"

/// The `generated` epilogue mode of moe-cpu-lower-to-ukernels: ungrouped
/// expert kernels on packed panels become loops around the register tile
/// and generated epilogues (PanelLoops.cpp).
void populateMoECPUPanelLoopPatterns(RewritePatternSet &patterns);
/// Declares the register tiles (C interface) if anything calls them.
void declareMoECPUTiles(ModuleOp module);

#define GEN_PASS_REGISTRATION
#include "moe/Target/CPU/Passes.h.inc"
} // namespace mlir::moe

#endif // MOE_TARGET_CPU_PASSES_H
