// Tests that moe-lower-to-cuda takes a layer to host code in the LLVM
// dialect and kernels serialized in gpu.binary ops, for both
// architectures, and that each stage runs on its own.
// REQUIRES: ptxas
// RUN: moe-opt %s -moe-lower-to-cuda="gpu-binary-format=isa" | FileCheck %s
// RUN: moe-opt %s -moe-lower-to-cuda="gpu-binary-format=isa" | %check-ptx - --arch sm_90a --require wgmma.mma_async --require cp.async.bulk.tensor
// RUN: moe-opt %s -moe-lower-to-cuda="gpu-arch=sm_80 gpu-binary-format=isa" | %check-ptx - --arch sm_80 --require mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// RUN: moe-opt %s -moe-lower-to-linalg -moe-cuda-prepare-kernels | FileCheck %s --check-prefix=PREPARE
// RUN: moe-opt %s -moe-decompose -moe-fuse-experts "-convert-moe-to-linalg=tokens-per-part=1 fuse-router-gemm=false" -moe-cuda-prepare-kernels -moe-bufferize -moe-cuda-map-to-gpu | FileCheck %s --check-prefix=MAPPED

// CHECK-NOT: moe.
// CHECK-DAG: gpu.binary @moe_kernels
// CHECK-DAG: llvm.func @layer(
// CHECK-DAG: llvm.call @mgpuMemAlloc
// CHECK-DAG: gpu.launch_func @moe_kernels::@gather_gate_up_sm90_128x128
// CHECK-DAG: gpu.launch_func {{.*}}@moe_kernels::@router_gemm

// PREPARE: %{{.*}}: tensor<8x128x64xbf16> {moe.weight = "w1.{e}"}

// MAPPED: func.func @layer
// MAPPED-NOT: memref.alloc
// MAPPED: gpu.launch_func async [%{{.*}}] @moe_kernels::@router_gemm
// MAPPED: gpu.launch blocks
// MAPPED: scf.if
// MAPPED: gpu.launch_func @moe_kernels::@gather_gate_up_sm90_64x64
// MAPPED: else
// MAPPED: gpu.launch_func @moe_kernels::@gather_gate_up_sm90_128x128

func.func @layer(%x: tensor<?x64xf32>,
                 %gate: tensor<8x64xf32> {moe.weight = "gate"},
                 %w1: tensor<8x128x64xf32> {moe.weight = "w1.{e}"},
                 %w3: tensor<8x128x64xf32> {moe.weight = "w3.{e}"},
                 %w2: tensor<8x64x128xf32> {moe.weight = "w2.{e}"}) -> tensor<?x64xf32> {
  %out = moe.layer %x router(%gate) experts(gate %w1, up %w3, down %w2)
           {router = #moe.routing<top_k = 2, renormalize = true>}
           : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
              tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}
