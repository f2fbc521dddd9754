//===- JitLayer.h - a test layer lowered and JIT-compiled -------*- C++ -*-===//
//
// What the execution tests that JIT a layer share: parse a layer's source,
// lower it with a pipeline of the test's choosing down to the LLVM
// dialect, JIT-compile it and call it on host buffers. CompiledLayerTest
// lowers with moe-lower-to-cpu, CUDATiledLayerTest with the CUDA target's
// stages and the tiled form of its GEMMs.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TEST_UNIT_JITLAYER_H
#define MOE_TEST_UNIT_JITLAYER_H

#include "LayerCases.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
class ExecutionEngine;
class OpPassManager;
} // namespace mlir

namespace moe::test {

/// Initialises LLVM's native target for the JIT (once).
void initialiseJit();

/// A layer `func.func @layer` lowered with `lower` and JIT-compiled with
/// `sharedLibs` loaded. The weights' `moe.weight` names are dropped (the
/// call passes them in argument order).
class JitLayer {
public:
  JitLayer(const std::string &source,
           const std::function<void(mlir::OpPassManager &)> &lower,
           llvm::ArrayRef<llvm::StringRef> sharedLibs);
  ~JitLayer();

  /// Empty when the layer lowered and compiled.
  std::string error;

  /// Runs the layer on `x` `[T,H]` with `weights` in argument order (f32).
  /// A layer routed by token id (TestLayer::expertTable) also takes
  /// `tokenIds` `[T]` after `x` and `table` `[V,K]` after the weights.
  std::vector<float> run(std::vector<float> &x, int64_t numTokens,
                         int64_t hidden, std::vector<WeightArg> &weights,
                         std::vector<int32_t> *tokenIds = nullptr,
                         std::vector<int32_t> *table = nullptr,
                         std::vector<int64_t> tableShape = {});

  /// Calls the C interface of function `name` (`_mlir_ciface_<name>`) with
  /// `args`, pointers to its arguments (a result struct first), for tests
  /// whose functions are not a layer's.
  llvm::Error call(llvm::StringRef name, llvm::MutableArrayRef<void *> args);

private:
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::unique_ptr<mlir::ExecutionEngine> engine;
};

} // namespace moe::test

#endif // MOE_TEST_UNIT_JITLAYER_H
