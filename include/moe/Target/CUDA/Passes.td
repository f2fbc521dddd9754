//===- Passes.td - CUDA-specific moe passes ----------------*- tablegen -*-===//
//
// What only the CUDA target does with the kernel layer: weights kept in
// bf16 rows for the tensor cores, the grouped expert GEMMs generated as
// gpu kernels (TMA + wgmma on sm_90a, ldmatrix + mma.sync on sm_80), and
// the rest of each entry mapped onto GPU threads. Flags are `moe-cuda-*`;
// the `moe-lower-to-cuda` pipeline runs them after the target-neutral
// stages.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_CUDA_PASSES_TD
#define MOE_TARGET_CUDA_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoECUDALowerGroupedGemm : Pass<"moe-cuda-lower-grouped-gemm", "::mlir::ModuleOp"> {
  let summary = "Generate the tensor-core kernels of the grouped expert GEMMs";
  let description = [{
    Replaces every `moe.gather_gate_up` and `moe.down_scatter_add` on
    buffers (after `moe-bufferize`) by the launch of a kernel generated into
    the module's `gpu.module @moe_kernels`:

    * the gate/up GEMM loads each tile of rows gathered by token (the
      gather fused into the row-tile load), multiplies it with the expert's
      bf16 weights on the tensor cores with f32 accumulation, and applies
      the input scaling and the activation in its epilogue;
    * the down GEMM weights each row by its routing weight in its epilogue
      and writes rows; a combine kernel then adds each token's rows into
      the output in row order, a fixed order per token (no floating-point
      atomics: the result does not depend on scheduling).

    Rows are grouped by expert (`offsets`): the grid is one block per tile
    of rows that stays within one expert, by column tiles; a block finds
    its expert and rows from the offsets on the device. The tile shape is
    chosen by the pass from the layer's sizes; no variant changes the order
    of the depth reduction, so a token's result does not depend on the
    batch it came in.

    `gpu-arch=sm_90a`: TMA loads of the weights, a manually gathered and
    128-byte swizzled row tile, an mbarrier-pipelined ring of shared-memory
    stages and `wgmma` (`nvgpu.warpgroup.mma`). `gpu-arch=sm_80`:
    `ldmatrix` and `mma.sync` m16n8k16 bf16 (written as `nvvm.mma.sync`,
    since nvgpu has no bf16 case in MLIR 22).
  }];
  let options = [
    Option<"gpuArch", "gpu-arch", "std::string", /*default=*/"\"sm_90a\"",
           "The GPU the kernels are for: sm_90a (Hopper, wgmma + TMA) or "
           "sm_80 (Ampere and newer, mma.sync)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

#endif // MOE_TARGET_CUDA_PASSES_TD
