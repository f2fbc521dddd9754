//===- Pipelines.h - named moe lowering pipelines ---------------*- C++ -*-===//
//
// Staged pipelines from the moe dialect to the LLVM dialect. Each stage is
// also registered on its own so it can be run and tested alone.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

namespace mlir {
class OpPassManager;

namespace moe {
/// moe → linalg/scf/tensor, then canonicalize and CSE
/// (`moe-lower-to-linalg`).
void buildMoELowerToLinalgPipeline(OpPassManager &pm);
/// Tensors → buffers with deallocation (`moe-bufferize`).
void buildMoEBufferizePipeline(OpPassManager &pm);
/// Buffers and loops → LLVM dialect (`moe-lower-buffers-to-llvm`).
void buildMoELowerBuffersToLLVMPipeline(OpPassManager &pm);
/// All three stages (`moe-lower-to-cpu`).
void buildMoELowerToCPUPipeline(OpPassManager &pm);

/// Registers the pipelines above with their flags.
void registerMoEPipelines();
} // namespace moe
} // namespace mlir

#endif // MOE_PIPELINES_PIPELINES_H
