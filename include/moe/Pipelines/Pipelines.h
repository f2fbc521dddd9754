//===- Pipelines.h - named moe lowering pipelines ---------------*- C++ -*-===//
//
// Staged pipelines from the moe dialect to the LLVM dialect. Each stage is
// also registered on its own so it can be run and tested alone.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

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
  Option<std::string> weightType{
      *this, "weight-type",
      llvm::cl::desc("Element type the fused experts' bound weights are "
                     "kept in: f32, or bf16 (half the memory and "
                     "bandwidth; f32 arithmetic) (moe-pack-weights)"),
      llvm::cl::init("f32")};
};

/// moe → linalg/scf/tensor (decomposed, experts fused unless disabled),
/// then canonicalize and CSE (`moe-lower-to-linalg`).
void buildMoELowerToLinalgPipeline(OpPassManager &pm,
                                   const MoELoweringOptions &options = {});
/// Tensors → buffers with deallocation (`moe-bufferize`).
void buildMoEBufferizePipeline(OpPassManager &pm);
/// Buffers and loops → LLVM dialect (`moe-lower-buffers-to-llvm`).
void buildMoELowerBuffersToLLVMPipeline(OpPassManager &pm);
/// All three stages (`moe-lower-to-cpu`).
void buildMoELowerToCPUPipeline(OpPassManager &pm,
                                const MoELoweringOptions &options = {});

/// Registers the pipelines above with their flags.
void registerMoEPipelines();
} // namespace moe
} // namespace mlir

#endif // MOE_PIPELINES_PIPELINES_H
