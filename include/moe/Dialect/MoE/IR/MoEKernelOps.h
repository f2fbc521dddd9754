//===- MoEKernelOps.h - target-neutral expert kernels -----------*- C++ -*-===//
//
// moe.gather_gate_up and moe.down_scatter_add: the kernel layer between the
// graph ops and a target (MoEKernelOps.td).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEKERNELOPS_H
#define MOE_DIALECT_MOE_IR_MOEKERNELOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/TilingInterface.h"

#include "moe/Dialect/MoE/IR/MoEAttrs.h"
#include "moe/Dialect/MoE/IR/MoEDialect.h"

#define GET_OP_CLASSES
#include "moe/Dialect/MoE/IR/MoEKernelOps.h.inc"

namespace mlir::moe {
/// The weight operands of an expert kernel op (moe.gather_gate_up's gate
/// when present and up, moe.down_scatter_add's down); none for other ops.
SmallVector<OpOperand *> getKernelWeightOperands(Operation *op);

/// Whether `use` is a weight operand of an expert kernel op.
bool isKernelWeightOperand(OpOperand &use);

/// The weight layout of an expert kernel op, and its replacement.
WeightLayoutAttr getKernelWeightLayout(Operation *op);
void setKernelWeightLayout(Operation *op, WeightLayoutAttr layout);
} // namespace mlir::moe

#endif // MOE_DIALECT_MOE_IR_MOEKERNELOPS_H
