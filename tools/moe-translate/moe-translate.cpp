//===- moe-translate.cpp - translations into the moe dialect --------------===//
//
//   moe-translate --import-hf-config PATH/config.json [--layer=L] -o OUT.mlir
//
// mlir-translate's driver with the moe importers registered.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/HFConfig.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  mlir::moe::registerImportHFConfigTranslation();
  return mlir::failed(
             mlir::mlirTranslateMain(argc, argv, "moec translation driver\n"))
             ? 1
             : 0;
}
