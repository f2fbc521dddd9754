//===- Passes.h - CUDA-specific moe passes ----------------------*- C++ -*-===//
//
// Declarations and registration of the `moe-cuda-*` passes (Passes.td).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_CUDA_PASSES_H
#define MOE_TARGET_CUDA_PASSES_H

#include "moe/Dialect/MoE/IR/MoEDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::moe {
#define GEN_PASS_DECL
#include "moe/Target/CUDA/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moe/Target/CUDA/Passes.h.inc"
} // namespace mlir::moe

#endif // MOE_TARGET_CUDA_PASSES_H
