// RUN: moe-opt %s -moe-lower-to-cpu | FileCheck %s
// RUN: moe-opt %s -moe-lower-to-linalg | FileCheck %s --check-prefix=LINALG
// RUN: moe-opt %s -moe-lower-to-linalg -moe-cpu-prepare-kernels | FileCheck %s --check-prefix=KERNELS
// RUN: moe-opt %s -moe-lower-to-linalg -moe-cpu-prepare-kernels -moe-bufferize | FileCheck %s --check-prefix=BUFFERS
// RUN: moe-opt %s -moe-lower-to-linalg -moe-cpu-prepare-kernels -moe-bufferize -moe-cpu-lower-to-llvm | FileCheck %s

// Tests that the whole CPU pipeline leaves only the LLVM dialect, and that
// each stage runs alone: tensors after the first (of the moe dialect only
// the kernel layer and the routing's worker count), the kernels packed and
// split among threads after the second, memrefs with frees after the
// third. Its experts fuse (dropped slots pass their input through in the
// fused op) and run on the register tiles.
// CHECK-LABEL: llvm.func @deepseek_v3_like
// CHECK-NOT: moe.
// CHECK-NOT: linalg.
// CHECK-NOT: scf.
// CHECK-NOT: memref.
// CHECK-NOT: tensor.
// CHECK: llvm.call @omp_get_max_threads()
// CHECK: llvm.call @moe_ukernel_tile_f32
// CHECK: llvm.return
// LINALG-LABEL: func.func @deepseek_v3_like
// LINALG-NOT: moe.{{layer|route|dispatch|expert_mlp|combine|shared_mlp}}
// LINALG: moe.num_workers
// LINALG: scf.forall
// LINALG: linalg.matmul
// LINALG-NOT: moe.{{layer|route|dispatch|expert_mlp|combine|shared_mlp}}
// LINALG: return %{{.*}} : tensor<?x32xf32>
// BUFFERS-LABEL: func.func @deepseek_v3_like
// BUFFERS-SAME: -> memref<?x32xf32>
// BUFFERS-NOT: tensor.empty
// BUFFERS: memref.dealloc
func.func @deepseek_v3_like(%x: tensor<?x32xf32>, %wg: tensor<16x32xf32>,
                            %b: tensor<16xf32>, %g: tensor<16x24x32xf32>,
                            %u: tensor<16x24x32xf32>, %d: tensor<16x32x24xf32>,
                            %sg: tensor<48x32xf32>, %su: tensor<48x32xf32>,
                            %sd: tensor<32x48xf32>) -> tensor<?x32xf32> {
  %y = moe.layer %x router(%wg, bias %b) experts(gate %g, up %u, down %d)
         shared(gate %sg, up %su, down %sd)
         {router = #moe.routing<top_k = 4, scoring = sigmoid, renormalize = true,
                                scaling_factor = 2.5, n_group = 4, topk_group = 2,
                                group_score = top2_sum>,
          activation = #moe<activation geglu>,
          capacity = #moe.capacity<factor = 1.0, drop_order = lowest_weight, dropped = input>}
         : (tensor<?x32xf32>, tensor<16x32xf32>, tensor<16xf32>,
            tensor<16x24x32xf32>, tensor<16x24x32xf32>, tensor<16x32x24xf32>,
            tensor<48x32xf32>, tensor<48x32xf32>, tensor<32x48xf32>)
         -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// Tests that the CPU's tensor stage packs a fused layer's bound weights in
// 32-column panels and splits each kernel's columns among the threads.
// KERNELS-LABEL: func.func @mixtral_like
// KERNELS-SAME: tensor<8x4x64x32xf32> {moe.weight = "w1.{e}", moe.weight_pack = array<i64: 1, 32>, moe.weight_source_shape = array<i64: 8, 128, 64>}
// KERNELS: moe.num_workers
// KERNELS: scf.forall
// KERNELS: moe.gather_gate_up swiglu {{.*}} layout <panels = 32>
// KERNELS: scf.forall
// KERNELS: moe.down_scatter_add {{.*}} layout <panels = 32>
// CHECK-LABEL: llvm.func @mixtral_like
// CHECK: llvm.call @moe_ukernel_tile_f32
func.func @mixtral_like(%x: tensor<?x64xf32>, %wg: tensor<8x64xf32> {moe.weight = "gate"},
                        %w1: tensor<8x128x64xf32> {moe.weight = "w1.{e}"},
                        %w3: tensor<8x128x64xf32> {moe.weight = "w3.{e}"},
                        %w2: tensor<8x64x128xf32> {moe.weight = "w2.{e}"}) -> tensor<?x64xf32> {
  %y = moe.layer %x router(%wg) experts(gate %w1, up %w3, down %w2)
         {router = #moe.routing<top_k = 2, renormalize = true>}
         : (tensor<?x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>,
            tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
