//===- moe-opt.cpp - mlir-opt with the moe dialect ------------------------===//
//
// The driver for testing and inspecting moe passes: every upstream dialect,
// extension and pass, plus the moe dialect and its passes.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Pipelines/Pipelines.h"
#include "moe/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::moe::registerMoETransformsPasses();
  mlir::moe::registerMoEConversionPasses();
  mlir::moe::registerMoEPipelines();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::moe::MoEDialect>();

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "moec optimizer driver: the moe dialect and its passes\n",
      registry));
}
