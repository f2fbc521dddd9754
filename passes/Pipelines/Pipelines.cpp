//===- Pipelines.cpp - the target-neutral stages and their registration ---===//
//
// The stages every target shares: the moe dialect to the kernel layer and
// linalg on tensors (`moe-lower-to-linalg`), then tensors to buffers
// (`moe-bufferize`). Targets add their own stages around them
// (CPUPipeline.cpp). Why the order matters:
// * layers are decomposed, sharded over ranks (moe-expert-parallel: the
//   experts of each rank become a moe.fused_experts between exchanges),
//   their exchanges pipelined with the experts (moe-schedule-comm) and
//   their experts fused (moe-fuse-experts)
//   before lowering, which turns the fused experts into the grouped kernel
//   ops (moe.gather_gate_up, moe.down_scatter_add) in the checkpoint's
//   row layout: a target then packs, tiles and lowers them its own way;
// * bufferization runs on the whole module with function boundaries, so
//   entry points take and return plain memrefs (identity layouts) that the
//   C interface can describe.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Pipelines/Pipelines.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void moe::buildMoELowerToLinalgPipeline(OpPassManager &pm,
                                        const MoELoweringOptions &options,
                                        const MoELinalgForm &form) {
  pm.addPass(moe::createMoEDecompose());
  if (options.epSize != 1) {
    moe::MoEExpertParallelOptions parallel;
    parallel.epSize = options.epSize;
    parallel.placementSpec = options.placement;
    pm.addNestedPass<func::FuncOp>(moe::createMoEExpertParallel(parallel));
    moe::MoEScheduleCommOptions schedule;
    schedule.chunks = options.chunks;
    schedule.tokensPerRank = options.tokensPerRank;
    pm.addNestedPass<func::FuncOp>(moe::createMoEScheduleComm(schedule));
  }
  if (options.fuseExperts)
    pm.addPass(moe::createMoEFuseExperts());
  if (options.phaseMarks)
    pm.addPass(moe::createMoEPhaseMarks());
  moe::ConvertMoEToLinalgOptions toLinalg;
  toLinalg.tokensPerPart = form.tokensPerPart;
  toLinalg.parallelDispatch = form.parallelDispatch;
  toLinalg.fuseRouterGemm = form.fuseRouterGemm;
  pm.addPass(moe::createConvertMoEToLinalg(toLinalg));
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
}

void moe::registerMoEPipelines() {
  PassPipelineRegistration<MoELoweringOptions>(
      "moe-lower-to-linalg",
      "Lower the moe dialect to the kernel layer and linalg/scf/tensor "
      "(every target's first stage)",
      [](OpPassManager &pm, const MoELoweringOptions &options) {
        buildMoELowerToLinalgPipeline(pm, options);
      });
  PassPipelineRegistration<>("moe-bufferize",
                             "Bufferize a lowered module with deallocation",
                             buildMoEBufferizePipeline);
  PassPipelineRegistration<MoELoweringOptions>(
      "moe-cpu-prepare-kernels",
      "CPU: pack the expert kernels' weights and split their columns among "
      "threads (on tensors, after moe-lower-to-linalg)",
      [](OpPassManager &pm, const MoELoweringOptions &options) {
        buildMoECPUPrepareKernelsPipeline(pm, options);
      });
  PassPipelineRegistration<>(
      "moe-cpu-lower-to-llvm",
      "CPU: lower bufferized loops, kernels, memrefs and math to the LLVM "
      "dialect (after moe-bufferize)",
      buildMoECPULowerToLLVMPipeline);
  PassPipelineRegistration<MoELoweringOptions>(
      "moe-lower-to-cpu",
      "Lower the moe dialect to the LLVM dialect for the CPU (all stages)",
      [](OpPassManager &pm, const MoELoweringOptions &options) {
        buildMoELowerToCPUPipeline(pm, options);
      });
  PassPipelineRegistration<>(
      "moe-cuda-prepare-kernels",
      "CUDA: weights of the expert kernels in bf16 rows (on tensors, after "
      "moe-lower-to-linalg with one routing part per token)",
      buildMoECUDAPrepareKernelsPipeline);
  PassPipelineRegistration<MoELoweringOptions>(
      "moe-cuda-map-to-gpu",
      "CUDA: the grouped GEMMs as tensor-core kernels, the router GEMM as "
      "a warp-parallel kernel, the rest as GPU "
      "kernels, buffers on the device (after moe-bufferize)",
      [](OpPassManager &pm, const MoELoweringOptions &options) {
        buildMoECUDAMapToGPUPipeline(pm, options);
      });
  PassPipelineRegistration<MoELoweringOptions>(
      "moe-cuda-lower-to-llvm",
      "CUDA: kernels to NVVM and PTX/cubin in gpu.binary ops, host code to "
      "the LLVM dialect (after moe-cuda-map-to-gpu)",
      [](OpPassManager &pm, const MoELoweringOptions &options) {
        buildMoECUDALowerToLLVMPipeline(pm, options);
      });
  PassPipelineRegistration<MoELoweringOptions>(
      "moe-lower-to-cuda",
      "Lower the moe dialect to GPU kernels and host code in the LLVM "
      "dialect for CUDA (all stages)",
      [](OpPassManager &pm, const MoELoweringOptions &options) {
        buildMoELowerToCUDAPipeline(pm, options);
      });
}
