//===- HFConfig.h - import Hugging Face MoE configs -------------*- C++ -*-===//
//
// Reads a Hugging Face config.json of one of the MoE families moec knows
// (lib/Import/Families.cpp lists them) and emits one entry function per MoE
// decoder layer holding the whole-layer op with the family's routing
// semantics, its weights named as in the family's checkpoints.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_IMPORT_HFCONFIG_H
#define MOE_IMPORT_HFCONFIG_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <optional>

namespace mlir::moe {

/// Imports `configText` (the contents of `configPath`). With `layer`, only
/// that decoder layer, which must be an MoE layer. The text is untrusted:
/// its size, nesting and every size key are bounded by moe::limits before
/// anything is built. Errors are emitted at the key's line in the config
/// file, naming the key and value; returns null then.
OwningOpRef<ModuleOp> importHFConfig(StringRef configText, StringRef configPath,
                                     std::optional<int64_t> layer,
                                     MLIRContext *context);

/// Registers `--import-hf-config` (with `--layer`) for mlir-translate-style
/// drivers.
void registerImportHFConfigTranslation();

} // namespace mlir::moe

#endif // MOE_IMPORT_HFCONFIG_H
