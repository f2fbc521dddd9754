//===- Pipelines.h - named moe lowering pipelines ---------------*- C++ -*-===//
//
// Staged pipelines from the moe dialect to the LLVM dialect: the stages
// every target shares, then each target's own. Each stage is also
// registered on its own so it can be run and tested alone.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

#include "moe/Conversion/MoEToLinalg.h"

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class OpPassManager;

namespace moe {
/// Options of the pipelines that lower the moe dialect.
struct MoELoweringOptions : public PassPipelineOptions<MoELoweringOptions> {
  Option<bool> fuseExperts{
      *this, "fuse-experts",
      llvm::cl::desc("Fuse expert FFNs with their gather, combine and shared "
                     "expert (moe-fuse-experts); off lowers each stage on "
                     "its own, as a reference path"),
      llvm::cl::init(true)};
  Option<bool> phaseMarks{
      *this, "phase-marks",
      llvm::cl::desc("Mark where each single-process layer's dispatch, "
                     "experts and combine begin, for the entry wrapper to "
                     "time (moe-phase-marks; moe-compile's CPU target)"),
      llvm::cl::init(false)};
  Option<std::string> weightType{
      *this, "weight-type",
      llvm::cl::desc("Element type the expert kernels' bound weights are "
                     "kept in on the CPU: f32, or bf16 (half the memory and "
                     "bandwidth; f32 arithmetic) (moe-cpu-pack-weights)"),
      llvm::cl::init("f32")};
  Option<int64_t> epSize{
      *this, "ep-size",
      llvm::cl::desc("Ranks of expert parallelism the layers are sharded "
                     "over (moe-expert-parallel; 1: none)"),
      llvm::cl::init(1)};
  Option<std::string> placement{
      *this, "placement",
      llvm::cl::desc("Which rank holds which experts: contiguous, "
                     "round-robin, or a placement JSON file "
                     "(moe-expert-parallel)"),
      llvm::cl::init("contiguous")};
  Option<int64_t> chunks{
      *this, "chunks",
      llvm::cl::desc("With ep-size: parts each rank's tokens are pipelined "
                     "in, so that exchanges overlap expert compute "
                     "(moe-schedule-comm; 1: none; 0: the cost model's "
                     "choice for tokens-per-rank)"),
      llvm::cl::init(1)};
  Option<int64_t> tokensPerRank{
      *this, "tokens-per-rank",
      llvm::cl::desc("With chunks=0: the tokens each rank is expected to "
                     "hold"),
      llvm::cl::init(256)};
  Option<std::string> gpuArch{
      *this, "gpu-arch",
      llvm::cl::desc("CUDA: the GPU the kernels are for: sm_90a (Hopper: "
                     "TMA and wgmma) or sm_80 (Ampere and newer: mma.sync)"),
      llvm::cl::init("sm_90a")};
  Option<std::string> gpuBinaryFormat{
      *this, "gpu-binary-format",
      llvm::cl::desc("CUDA: what each gpu.module becomes: fatbin (the "
                     "cubin for gpu-arch and its PTX, for a library), isa "
                     "(PTX only, for reading and ptxas checks) or bin"),
      llvm::cl::init("fatbin")};
};

// Shared by every target (Pipelines.cpp).

/// moe → the kernel layer and linalg/scf/tensor (decomposed, experts fused
/// unless disabled), then canonicalize and CSE (`moe-lower-to-linalg`).
/// `form` (MoEToLinalg.h) is the target's choice of code shape.
void buildMoELowerToLinalgPipeline(OpPassManager &pm,
                                   const MoELoweringOptions &options = {},
                                   const MoELinalgForm &form = {});
/// Tensors → buffers with deallocation (`moe-bufferize`).
void buildMoEBufferizePipeline(OpPassManager &pm);

// The CPU target (CPUPipeline.cpp).

/// The expert kernels packed and split among threads, on tensors
/// (`moe-cpu-prepare-kernels`).
void buildMoECPUPrepareKernelsPipeline(OpPassManager &pm,
                                       const MoELoweringOptions &options = {});
/// Buffers, kernels and loops → LLVM dialect (`moe-cpu-lower-to-llvm`).
void buildMoECPULowerToLLVMPipeline(OpPassManager &pm);
/// All four stages (`moe-lower-to-cpu`).
void buildMoELowerToCPUPipeline(OpPassManager &pm,
                                const MoELoweringOptions &options = {});

// The CUDA target (CUDAPipeline.cpp).

/// The CUDA target's form of convert-moe-to-linalg: a routing part of
/// static size per token (one GPU thread), the permutation as parallel ops,
/// the router GEMM whole for its own kernel.
MoELinalgForm getCUDALinalgForm();

/// Tensors: one routing part per token, weights in bf16 rows
/// (`moe-cuda-prepare-kernels` after `moe-lower-to-linalg`: moe-cuda-bf16-weights).
void buildMoECUDAPrepareKernelsPipeline(OpPassManager &pm);
/// Buffers → GPU kernels and host launches (`moe-cuda-map-to-gpu`): the
/// grouped GEMMs, then everything else.
void buildMoECUDAMapToGPUPipeline(OpPassManager &pm,
                                  const MoELoweringOptions &options = {});
/// Kernels → NVVM → PTX/cubin, host → LLVM dialect with launches
/// (`moe-cuda-lower-to-llvm`).
void buildMoECUDALowerToLLVMPipeline(OpPassManager &pm,
                                     const MoELoweringOptions &options = {});
/// All stages (`moe-lower-to-cuda`).
void buildMoELowerToCUDAPipeline(OpPassManager &pm,
                                 const MoELoweringOptions &options = {});

/// Registers the pipelines above with their flags.
void registerMoEPipelines();
} // namespace moe
} // namespace mlir

#endif // MOE_PIPELINES_PIPELINES_H
