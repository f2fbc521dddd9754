//===- CPUPipeline.cpp - the CPU stages ------------------------------------===//
//
// The CPU target's stages around the shared ones (Pipelines.cpp):
// `moe-lower-to-cpu` = moe-lower-to-linalg, moe-cpu-prepare-kernels,
// moe-bufferize, moe-cpu-lower-to-llvm. Why the order matters:
// * the expert kernels' weights are packed in panels (moe-cpu-pack-weights)
//   before anything reads the entry signatures: packing changes the entry
//   points' weight arguments, and moe-compile reads them after this stage;
// * the kernels' columns are split among threads (scf.forall over column
//   chunks, moe-cpu-distribute-columns) on tensors, where tiling is
//   value-based;
// * the kernels on buffers become generated loops and epilogues around
//   the register tiles, and x·Wᵀ matmuls calls of the matmul micro-kernel
//   (moe-cpu-lower-to-ukernels), before the rest of linalg becomes loops;
//   the epilogues' exp/erf are polynomials by then;
// * exchanges between ranks on buffers become calls of the runtime's
//   communicator (convert-moe-to-runtime) first, as they leave memref ops
//   that expand-strided-metadata lowers;
// * scf.forall becomes scf.parallel and then an OpenMP parallel loop, so
//   compiled code runs on as many threads as the OpenMP runtime is given;
//   moe.num_workers, which sizes the chunks, becomes that thread count;
// * finalize-memref-to-llvm runs before convert-scf-to-cf, and
//   expand-strided-metadata before both, as MLIR 22 requires;
// * math-to-llvm then math-to-libm: erf (exact GELU) has no LLVM intrinsic
//   and becomes a libm call.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Pipelines/Pipelines.h"
#include "moe/Target/CPU/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void moe::buildMoECPUPrepareKernelsPipeline(
    OpPassManager &pm, const MoELoweringOptions &options) {
  moe::MoECPUPackWeightsOptions pack;
  pack.weightType = options.weightType;
  pm.addPass(moe::createMoECPUPackWeights(pack));
  pm.addPass(moe::createMoECPUDistributeColumns());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void moe::buildMoECPULowerToLLVMPipeline(OpPassManager &pm) {
  pm.addPass(moe::createConvertMoEToRuntime());
  pm.addPass(createForallToParallelLoopPass());
  pm.addPass(moe::createMoECPULowerToUkernels());
  pm.addPass(moe::createMoECPUNumWorkersToOpenMP());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createConvertSCFToOpenMPPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // Vector ops of the generated epilogues' bf16 widening.
  pm.addPass(createConvertVectorToLLVMPass());
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
  buildMoECPUPrepareKernelsPipeline(pm, options);
  buildMoEBufferizePipeline(pm);
  buildMoECPULowerToLLVMPipeline(pm);
}
