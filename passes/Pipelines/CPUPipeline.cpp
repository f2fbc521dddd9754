//===- CPUPipeline.cpp - moe to LLVM for the CPU --------------------------===//
//
// The staged CPU pipeline. Why the order matters:
// * bufferization runs on the whole module with function boundaries, so
//   entry points take and return plain memrefs (identity layouts) that the
//   C interface can describe;
// * finalize-memref-to-llvm runs before convert-scf-to-cf, and
//   expand-strided-metadata before both, as MLIR 22 requires;
// * math-to-llvm then math-to-libm: erf (exact GELU) has no LLVM intrinsic
//   and becomes a libm call;
// * layers are decomposed and their experts fused (moe-fuse-experts)
//   before lowering, which gives the fused experts their own parallel loops;
//   their weights are then packed in panels (moe-pack-weights), which
//   changes the entry points' weight arguments: moe-compile reads the entry
//   signatures after this stage;
// * x·Wᵀ matmuls and the fused experts' kernel-level ops on buffers call
//   the project's micro-kernels (moe-linalg-to-ukernels) before the rest of
//   linalg becomes loops;
// * scf.forall (the fused experts' column chunks) becomes scf.parallel and
//   then an OpenMP parallel loop, so compiled code runs on as many threads
//   as the OpenMP runtime is given; moe.num_workers, which sizes the
//   chunks, becomes that thread count.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Pipelines/Pipelines.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void moe::buildMoELowerToLinalgPipeline(OpPassManager &pm,
                                        const MoELoweringOptions &options) {
  pm.addPass(moe::createMoEDecompose());
  if (options.fuseExperts) {
    pm.addPass(moe::createMoEFuseExperts());
    moe::MoEPackWeightsOptions pack;
    pack.weightType = options.weightType;
    pm.addPass(moe::createMoEPackWeights(pack));
  }
  pm.addPass(moe::createConvertMoEToLinalg());
  // Tensor arithmetic the decomposition leaves (the shared-expert sum).
  pm.addPass(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void moe::buildMoEBufferizePipeline(OpPassManager &pm) {
  bufferization::OneShotBufferizePassOptions options;
  options.bufferizeFunctionBoundaries = true;
  options.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(options));
  bufferization::BufferDeallocationPipelineOptions deallocation;
  bufferization::buildBufferDeallocationPipeline(pm, deallocation);
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createForallToParallelLoopPass());
}

void moe::buildMoELowerBuffersToLLVMPipeline(OpPassManager &pm) {
  pm.addPass(moe::createMoELinalgToUkernels());
  pm.addPass(moe::createMoENumWorkersToOpenMP());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createConvertSCFToOpenMPPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void moe::buildMoELowerToCPUPipeline(OpPassManager &pm,
                                     const MoELoweringOptions &options) {
  buildMoELowerToLinalgPipeline(pm, options);
  buildMoEBufferizePipeline(pm);
  buildMoELowerBuffersToLLVMPipeline(pm);
}

void moe::registerMoEPipelines() {
  PassPipelineRegistration<MoELoweringOptions>(
      "moe-lower-to-linalg",
      "Lower the moe dialect to linalg/scf/tensor, then canonicalize",
      [](OpPassManager &pm, const MoELoweringOptions &options) {
        buildMoELowerToLinalgPipeline(pm, options);
      });
  PassPipelineRegistration<>("moe-bufferize",
                             "Bufferize a lowered module with deallocation",
                             buildMoEBufferizePipeline);
  PassPipelineRegistration<>(
      "moe-lower-buffers-to-llvm",
      "Lower bufferized loops, memrefs and math to the LLVM dialect",
      buildMoELowerBuffersToLLVMPipeline);
  PassPipelineRegistration<MoELoweringOptions>(
      "moe-lower-to-cpu",
      "Lower the moe dialect to the LLVM dialect for the CPU (all stages)",
      [](OpPassManager &pm, const MoELoweringOptions &options) {
        buildMoELowerToCPUPipeline(pm, options);
      });
}
