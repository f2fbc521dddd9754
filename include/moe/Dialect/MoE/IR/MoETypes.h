//===- MoETypes.h - moe dialect types ---------------------------*- C++ -*-===//
//
// The `!moe.exchange` handle of an in-flight all-to-all.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOETYPES_H
#define MOE_DIALECT_MOE_IR_MOETYPES_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Types.h"

#define GET_TYPEDEF_CLASSES
#include "moe/Dialect/MoE/IR/MoETypes.h.inc"

#endif // MOE_DIALECT_MOE_IR_MOETYPES_H
