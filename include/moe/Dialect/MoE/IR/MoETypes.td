//===- MoETypes.td - moe dialect types ---------------------*- tablegen -*-===//
//
// The handle of an in-flight expert-parallel exchange.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOETYPES_TD
#define MOE_DIALECT_MOE_IR_MOETYPES_TD

include "moe/Dialect/MoE/IR/MoEBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/BuiltinTypeInterfaces.td"

def MoE_ExchangeType : TypeDef<MoE_Dialect, "Exchange"> {
  let mnemonic = "exchange";
  let summary = "an all-to-all exchange in flight";
  let description = [{
    Returned by `moe.all_to_all_start` and consumed by `moe.all_to_all_wait`;
    it carries the types of the rows and counts the exchange delivers, so
    compute can be scheduled between the two.

    Example: `!moe.exchange<tensor<?x4096xf32>, tensor<4x2xi32>>`
  }];
  let parameters = (ins
    "::mlir::RankedTensorType":$rowsType,
    "::mlir::RankedTensorType":$countsType
  );
  let assemblyFormat = "`<` $rowsType `,` $countsType `>`";
}

#endif // MOE_DIALECT_MOE_IR_MOETYPES_TD
