// RUN: moe-opt %s -split-input-file -moe-cuda-lower-router-gemm -verify-diagnostics | FileCheck %s
// RUN: moe-opt %s -split-input-file -moe-cuda-lower-router-gemm=cpu-twin -verify-diagnostics | FileCheck %s --check-prefix=TWIN

#x = affine_map<(t, e, h) -> (t, h)>
#w = affine_map<(t, e, h) -> (e, h)>
#o = affine_map<(t, e, h) -> (t, e)>

// Tests that the router GEMM becomes one launch of blocks of 8 warps over
// ceil(T/4) token blocks by ceil(E/8) expert blocks (E = 12: 2), that the
// zero fill before it is dropped (the kernel stores each logit), and that
// the kernel walks the depth from the lane in steps of 32 (H = 40: one
// full step, then lanes below 8 take the tail), fma chains for the block's
// 4 tokens sharing each weight load, then a butterfly of shuffles xor
// 16, 8, 4, 2, 1 whose result lane 0 stores for tokens below T.
// CHECK-LABEL: func.func @zero_fill
// CHECK-SAME: (%[[X:.*]]: memref<?x40xf32>, %[[W:.*]]: memref<12x40xf32>, %[[L:.*]]: memref<?x12xf32>)
// CHECK-NOT: linalg.fill
// CHECK: %[[T:.*]] = memref.dim %[[X]], %{{.*}}
// CHECK: %[[CEIL:.*]] = arith.ceildivui %[[T]], %{{.*}}
// CHECK: %[[TB:.*]] = arith.maxui %[[CEIL]], %{{.*}}
// CHECK: %[[EB:.*]] = arith.constant 2 : index
// CHECK: %[[START:.*]] = gpu.wait async
// CHECK: %[[C256:.*]] = arith.constant 256 : index
// CHECK: %[[DONE:.*]] = gpu.launch_func async [%[[START]]] @moe_kernels::@router_gemm
// CHECK-SAME: blocks in (%[[TB]], %[[EB]], %{{[^)]*}}) threads in (%[[C256]], %{{[^)]*}})
// CHECK-SAME: args(%[[X]] : memref<?x40xf32>, %[[W]] : memref<12x40xf32>, %[[L]] : memref<?x12xf32>, %[[T]] : index)
// CHECK: gpu.wait [%[[DONE]]]
// CHECK-NOT: linalg.matmul
// CHECK: gpu.module @moe_kernels
// CHECK: gpu.func @router_gemm(%[[KX:.*]]: memref<?x40xf32>, %[[KW:.*]]: memref<12x40xf32>, %[[KL:.*]]: memref<?x12xf32>, %[[KT:.*]]: index) kernel
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: %[[TID:.*]] = gpu.thread_id x
// CHECK: %[[WARP:.*]] = arith.divui %[[TID]]
// CHECK: %[[LANE:.*]] = arith.remui %[[TID]]
// CHECK: %[[BY:.*]] = gpu.block_id y
// CHECK: %[[EBASE:.*]] = arith.muli %[[BY]]
// CHECK: %[[E:.*]] = arith.addi %[[EBASE]], %[[WARP]]
// CHECK: scf.if
// CHECK: %[[T0:.*]] = arith.minui
// CHECK: %[[T1:.*]] = arith.minui
// CHECK: %[[T2:.*]] = arith.minui
// CHECK: %[[T3:.*]] = arith.minui
// CHECK: %[[FULL:.*]]:4 = scf.for %[[H:.*]] = %[[LANE]] to %{{.*}} step %{{.*}} iter_args(
// CHECK: %[[WV:.*]] = memref.load %[[KW]][%[[E]], %[[H]]]
// CHECK: %[[XV:.*]] = memref.load %[[KX]][%[[T0]], %[[H]]]
// CHECK: math.fma %[[XV]], %[[WV]]
// CHECK-COUNT-3: math.fma
// CHECK: %[[TAIL:.*]] = arith.cmpi ult, %[[LANE]], %{{.*}}
// CHECK: %[[SUMS:.*]]:4 = scf.if %[[TAIL]]
// CHECK-COUNT-4: math.fma
// CHECK: } else {
// CHECK-NEXT: scf.yield %[[FULL]]#0, %[[FULL]]#1, %[[FULL]]#2, %[[FULL]]#3
// CHECK: %[[LANE0:.*]] = arith.cmpi eq, %[[LANE]]
// CHECK: %[[S16:.*]], %{{.*}} = gpu.shuffle xor %[[SUMS]]#0, %c16_i32, %c32_i32 : f32
// CHECK: %[[A16:.*]] = arith.addf %[[SUMS]]#0, %[[S16]]
// CHECK: %[[S8:.*]], %{{.*}} = gpu.shuffle xor %[[A16]], %c8_i32{{[_0-9]*}}, %c32_i32{{[_0-9]*}}
// CHECK: %[[A8:.*]] = arith.addf %[[A16]], %[[S8]]
// CHECK: %[[S4:.*]], %{{.*}} = gpu.shuffle xor %[[A8]], %c4_i32{{[_0-9]*}}, %c32_i32{{[_0-9]*}}
// CHECK: %[[A4:.*]] = arith.addf %[[A8]], %[[S4]]
// CHECK: %[[S2:.*]], %{{.*}} = gpu.shuffle xor %[[A4]], %c2_i32{{[_0-9]*}}, %c32_i32{{[_0-9]*}}
// CHECK: %[[A2:.*]] = arith.addf %[[A4]], %[[S2]]
// CHECK: %[[S1:.*]], %{{.*}} = gpu.shuffle xor %[[A2]], %c1_i32{{[_0-9]*}}, %c32_i32{{[_0-9]*}}
// CHECK: %[[LOGIT:.*]] = arith.addf %[[A2]], %[[S1]]
// CHECK: scf.if
// CHECK-NEXT: memref.store %[[LOGIT]], %[[KL]][%{{.*}}, %[[E]]]
// CHECK-COUNT-15: gpu.shuffle xor
// CHECK: gpu.return
// Tests that the CPU twin computes the same, in the same order, as loops:
// an scf.forall over (token block, expert), each lane's partial sums (the
// kernel's own loop and tail) stored to a [4,32] buffer, then per token
// five butterfly steps (lane l adds lane l xor 16, 8, 4, 2, 1) and the
// store of lane 0's sum for tokens below T.
// TWIN-LABEL: func.func @zero_fill
// TWIN-NOT: linalg.fill
// TWIN-NOT: gpu.
// TWIN: %[[T:.*]] = memref.dim
// TWIN: %[[BLOCKS:.*]] = arith.ceildivui %[[T]]
// TWIN: scf.forall (%[[TB:.*]], %[[E:.*]]) in (%[[BLOCKS]], 12)
// TWIN: %[[PARTIALS:.*]] = memref.alloca() : memref<4x32xf32>
// TWIN: scf.for %[[LANE:.*]] =
// TWIN: scf.for %{{.*}} = %[[LANE]] to
// TWIN-COUNT-4: math.fma
// TWIN: memref.store %{{.*}}, %[[PARTIALS]][%{{.*}}, %[[LANE]]]
// TWIN: scf.for %[[L:.*]] =
// TWIN-NEXT: %[[C16:.*]] = arith.constant 16 : index
// TWIN-NEXT: %[[P:.*]] = arith.xori %[[L]], %[[C16]]
// TWIN-NEXT: %[[OWN:.*]] = memref.load %[[PARTIALS]][%{{.*}}, %[[L]]]
// TWIN-NEXT: %[[OTHER:.*]] = memref.load %[[PARTIALS]][%{{.*}}, %[[P]]]
// TWIN-NEXT: arith.addf %[[OWN]], %[[OTHER]]
// TWIN-COUNT-4: arith.xori
// TWIN: %[[STORE:.*]] = arith.cmpi ult, %{{.*}}, %[[T]]
// TWIN-NEXT: %[[SUM:.*]] = memref.load %[[PARTIALS]]
// TWIN-NEXT: scf.if %[[STORE]]
// TWIN-NEXT: memref.store %[[SUM]], %{{.*}}[%{{.*}}, %[[E]]]
func.func @zero_fill(%x: memref<?x40xf32>, %w: memref<12x40xf32>, %logits: memref<?x12xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%logits : memref<?x12xf32>)
  linalg.matmul indexing_maps = [#x, #w, #o] {moe.router_gemm}
    ins(%x, %w : memref<?x40xf32>, memref<12x40xf32>) outs(%logits : memref<?x12xf32>)
  return
}

// -----

#x = affine_map<(t, e, h) -> (t, h)>
#w = affine_map<(t, e, h) -> (e, h)>
#o = affine_map<(t, e, h) -> (t, e)>

// Tests that without a zero fill the kernel adds into the logits (matmul
// semantics), and that a depth that is a multiple of 32 has no tail.
// CHECK-LABEL: func.func @accumulate
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@router_gemm
// CHECK: gpu.func @router_gemm(%{{.*}}: memref<3x64xf32>, %{{.*}}: memref<8x64xf32>, %[[KL:.*]]: memref<3x8xf32>, %{{.*}}: index)
// CHECK: scf.for
// CHECK-NOT: scf.if {{.*}} -> (f32, f32, f32, f32)
// CHECK: gpu.shuffle xor
// CHECK: scf.if
// CHECK-NEXT: %[[OLD:.*]] = memref.load %[[KL]]
// CHECK-NEXT: %[[NEW:.*]] = arith.addf %[[OLD]]
// CHECK-NEXT: memref.store %[[NEW]], %[[KL]]
func.func @accumulate(%x: memref<3x64xf32>, %w: memref<8x64xf32>, %logits: memref<3x8xf32>) {
  linalg.matmul indexing_maps = [#x, #w, #o] {moe.router_gemm}
    ins(%x, %w : memref<3x64xf32>, memref<8x64xf32>) outs(%logits : memref<3x8xf32>)
  return
}

// -----

#x = affine_map<(t, e, h) -> (t, h)>
#w = affine_map<(t, e, h) -> (e, h)>
#o = affine_map<(t, e, h) -> (t, e)>

// Tests that a matmul without the mark is left alone.
// CHECK-LABEL: func.func @unmarked
// CHECK: linalg.matmul
// CHECK-NOT: gpu.launch_func
func.func @unmarked(%x: memref<?x64xf32>, %w: memref<8x64xf32>, %logits: memref<?x8xf32>) {
  linalg.matmul indexing_maps = [#x, #w, #o]
    ins(%x, %w : memref<?x64xf32>, memref<8x64xf32>) outs(%logits : memref<?x8xf32>)
  return
}

// -----

#x = affine_map<(t, e, h) -> (t, h)>
#w = affine_map<(t, e, h) -> (e, h)>
#o = affine_map<(t, e, h) -> (t, e)>

// Tests that a router GEMM on tensors is refused.
func.func @tensors(%x: tensor<?x64xf32>, %w: tensor<8x64xf32>, %logits: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @below {{must be bufferized before moe-cuda-lower-router-gemm}}
  %0 = linalg.matmul indexing_maps = [#x, #w, #o] {moe.router_gemm}
    ins(%x, %w : tensor<?x64xf32>, tensor<8x64xf32>) outs(%logits : tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

#x = affine_map<(t, e, h) -> (t, h)>
#w = affine_map<(t, e, h) -> (e, h)>
#o = affine_map<(t, e, h) -> (t, e)>

// Tests that a bf16 router weight is refused: the router is f32.
func.func @bf16(%x: memref<?x64xf32>, %w: memref<8x64xbf16>, %logits: memref<?x8xf32>) {
  // expected-error @below {{router GEMM: the kernel needs f32 operands}}
  linalg.matmul indexing_maps = [#x, #w, #o] {moe.router_gemm}
    ins(%x, %w : memref<?x64xf32>, memref<8x64xbf16>) outs(%logits : memref<?x8xf32>)
  return
}

// -----

// Tests that a marked matmul that is not x · wᵀ is refused.
func.func @not_transposed(%x: memref<?x64xf32>, %w: memref<64x8xf32>, %logits: memref<?x8xf32>) {
  // expected-error @below {{router GEMM: expected x[T,H] · w[E,H]ᵀ}}
  linalg.matmul {moe.router_gemm}
    ins(%x, %w : memref<?x64xf32>, memref<64x8xf32>) outs(%logits : memref<?x8xf32>)
  return
}

// -----

#x = affine_map<(t, e, h) -> (t, h)>
#w = affine_map<(t, e, h) -> (e, h)>
#o = affine_map<(t, e, h) -> (t, e)>

// Tests that a router weight of dynamic shape is refused.
func.func @dynamic(%x: memref<?x?xf32>, %w: memref<8x?xf32>, %logits: memref<?x8xf32>) {
  // expected-error @below {{router GEMM: the kernel needs a static router weight shape [E,H]}}
  linalg.matmul indexing_maps = [#x, #w, #o] {moe.router_gemm}
    ins(%x, %w : memref<?x?xf32>, memref<8x?xf32>) outs(%logits : memref<?x8xf32>)
  return
}
