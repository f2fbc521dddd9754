//===- CUDAPipeline.cpp - the CUDA stages ----------------------------------===//
//
// The CUDA target's stages around the shared ones (Pipelines.cpp):
// `moe-lower-to-cuda` = moe-cuda-check-layers (a clear error for what the
// later stages cannot lower), moe-lower-to-linalg (one routing part per
// token, the parallel dispatch), moe-cuda-prepare-kernels, moe-bufferize,
// moe-cuda-map-to-gpu, moe-cuda-lower-to-llvm. Why the order matters:
// * routing is split into parts of one token on tensors, where the parts
//   get static shapes: their temporaries become thread-private arrays
//   instead of allocations inside kernels; the router GEMM stays out of
//   those parts, a whole matmul for its own warp-parallel kernel;
// * moe.dispatch's permutation is lowered in its parallel form (no loop
//   over all slots, which would run on one GPU thread);
// * the expert kernels' weights become bf16 rows on tensors, before
//   anything reads the entry signatures (the runtime converts the bound
//   weights at bind time, as for the CPU's panels);
// * the grouped GEMMs and the router GEMM are generated on buffers first,
//   as launches of their own kernels (moe-cuda-lower-grouped-gemm,
//   moe-cuda-lower-router-gemm); everything else that
//   touches buffers then moves into GPU kernels (moe-cuda-map-to-kernels),
//   so that host code only sizes, allocates and launches;
// * MLIR's NVVM pipeline then outlines the kernels, lowers them to NVVM and
//   serializes each gpu.module (PTX, and with ptxas and fatbinary a fatbin
//   holding the cubin for the arch and the PTX for newer GPUs' JIT), and
//   lowers the host side to runtime calls (mgpu*, the project's CUDA
//   runtime on the driver API).
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Pipelines.h"
#include "moe/Target/CUDA/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace {
/// The PTX ISA version each architecture needs: sm_90a's wgmma and TMA
/// came with PTX 8.0; sm_80 code is valid from PTX 7.0 (7.6 is CUDA 11.6,
/// what MLIR's NVVM backend is tested with).
StringRef ptxFeatures(StringRef arch) {
  return arch == "sm_90a" ? "+ptx80" : "+ptx76";
}
} // namespace

moe::MoELinalgForm moe::getCUDALinalgForm() {
  MoELinalgForm form;
  form.tokensPerPart = 1;
  form.parallelDispatch = true;
  form.fuseRouterGemm = false;
  return form;
}

void moe::buildMoECUDAPrepareKernelsPipeline(OpPassManager &pm) {
  pm.addPass(moe::createMoECUDABF16Weights());
  // The bf16 rounding of weights the graph computes.
  pm.addPass(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void moe::buildMoECUDAMapToGPUPipeline(OpPassManager &pm,
                                       const MoELoweringOptions &options) {
  moe::MoECUDALowerGroupedGemmOptions gemm;
  gemm.gpuArch = options.gpuArch;
  pm.addPass(moe::createMoECUDALowerGroupedGemm(gemm));
  pm.addPass(moe::createMoECUDALowerRouterGemm());
  pm.addPass(moe::createMoECUDAMapToKernels());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void moe::buildMoECUDALowerToLLVMPipeline(OpPassManager &pm,
                                          const MoELoweringOptions &options) {
  gpu::GPUToNVVMPipelineOptions nvvm;
  nvvm.cubinChip = options.gpuArch;
  nvvm.cubinFeatures = ptxFeatures(options.gpuArch).str();
  nvvm.cubinFormat = options.gpuBinaryFormat;
  nvvm.optLevel = 3;
  gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
}

void moe::buildMoELowerToCUDAPipeline(OpPassManager &pm,
                                      const MoELoweringOptions &options) {
  pm.addPass(moe::createMoECUDACheckLayers());
  buildMoELowerToLinalgPipeline(pm, options, getCUDALinalgForm());
  buildMoECUDAPrepareKernelsPipeline(pm);
  buildMoEBufferizePipeline(pm);
  buildMoECUDAMapToGPUPipeline(pm, options);
  buildMoECUDALowerToLLVMPipeline(pm, options);
}
