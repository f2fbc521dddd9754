// RUN: moe-opt %s -split-input-file -moe-cuda-lower-grouped-gemm -verify-diagnostics | FileCheck %s

// Tests that a gated swiglu gate/up with tokens, offsets and scale launches,
// under the pass's decode/prefill choice, a 64x64 kernel (one warpgroup)
// and a 128x128 kernel (two warpgroups) on TMA descriptors of the weights
// viewed as [E·N, K]: grid = ceil(R/rows) + E row tiles by ceil(N/columns)
// column tiles, the dynamic shared memory of 4 stages of row tile + gate
// tile + up tile (+1024 bytes of alignment slack). In the kernel: the
// schedule's walk over the experts, 4 mbarriers armed for two weight boxes
// per stage, the gathered row tile (token load, 16-byte f32 loads, bf16,
// swizzled column), the proxy fence and barrier before the stage's
// mbarrier wait, two accumulators through wgmma with K-major operands, and
// the epilogue's scale, sigmoid and column-masked pair stores (N = 96 is
// not a multiple of either column tile).
// CHECK-LABEL: func.func @gated_swiglu
// CHECK-SAME: (%[[X:[a-z0-9]+]]: memref<?x128xf32>, %[[TOK:[a-z0-9]+]]: memref<?xi32>, %[[S:[a-z0-9]+]]: memref<?xf32>, %[[OFF:[a-z0-9]+]]: memref<5xi32>, %[[G:[a-z0-9]+]]: memref<4x96x128xbf16>, %[[U:[a-z0-9]+]]: memref<4x96x128xbf16>, %[[OUT:[a-z0-9]+]]: memref<?x96xf32>)
// CHECK: %[[R:.*]] = memref.dim %[[OUT]]
// CHECK: %[[SMALL:.*]] = arith.cmpi ule, %[[R]], %c256
// CHECK: scf.if %[[SMALL]] {
// CHECK: %[[GC:.*]] = memref.collapse_shape %[[G]] {{\[\[}}0, 1], [2]] : memref<4x96x128xbf16> into memref<384x128xbf16>
// CHECK: %[[GU:.*]] = memref.cast %[[GC]] : memref<384x128xbf16> to memref<*xbf16>
// CHECK: %[[GD:.*]] = nvgpu.tma.create.descriptor %[[GU]] box[%c64{{.*}}, %c64{{.*}}] : memref<*xbf16> -> <tensor = memref<64x64xbf16, #gpu.address_space<workgroup>>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>
// CHECK: %[[GP:.*]] = builtin.unrealized_conversion_cast %[[GD]] {{.*}} to !llvm.ptr
// CHECK: memref.collapse_shape %[[U]]
// CHECK: %[[UP:.*]] = builtin.unrealized_conversion_cast {{.*}} to !llvm.ptr
// CHECK: %[[T:.*]] = arith.ceildivui %{{.*}}, %c64
// CHECK: %[[GX:.*]] = arith.addi %[[T]], %c4
// CHECK: gpu.launch_func @moe_kernels::@gather_gate_up_sm90_64x64 blocks in (%[[GX]], %c2, %c1) threads in (%c128, %c1, %c1) dynamic_shared_memory_size %c99328_i32 args(%[[GP]] : !llvm.ptr, %[[UP]] : !llvm.ptr, %[[X]] : memref<?x128xf32>, %[[TOK]] : memref<?xi32>, %[[S]] : memref<?xf32>, %[[OFF]] : memref<5xi32>, %[[OUT]] : memref<?x96xf32>)
// CHECK: } else {
// CHECK: nvgpu.tma.create.descriptor {{.*}} box[%c128{{.*}}, %c64{{.*}}] : memref<*xbf16> -> <tensor = memref<128x64xbf16
// CHECK: arith.ceildivui %{{.*}}, %c128
// CHECK: gpu.launch_func @moe_kernels::@gather_gate_up_sm90_128x128 blocks in (%{{.*}}, %c1{{.*}}, %c1) threads in (%c256{{.*}}, %c1, %c1) dynamic_shared_memory_size %c197632_i32

// CHECK: gpu.module @moe_kernels
// CHECK-LABEL: gpu.func @gather_gate_up_sm90_64x64
// CHECK-SAME: (%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %[[KX:.*]]: memref<?x128xf32>, %[[KTOK:.*]]: memref<?xi32>, %[[KS:.*]]: memref<?xf32>, %[[KOFF:.*]]: memref<5xi32>, %[[KOUT:.*]]: memref<?x96xf32>) kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// CHECK: gpu.block_id x
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c4
// CHECK: memref.load %[[KOFF]]
// CHECK: gpu.block_id y
// CHECK: %[[BARS:.*]] = nvgpu.mbarrier.create -> <memorySpace = #gpu.address_space<workgroup>, num_barriers = 4>
// CHECK-COUNT-4: nvgpu.mbarrier.init %[[BARS]]
// CHECK: nvvm.fence.mbarrier.init
// CHECK: nvgpu.mbarrier.arrive.expect_tx %[[BARS]][%{{.*}}], %c16384
// CHECK-COUNT-2: nvgpu.tma.async.load
// CHECK: nvgpu.mbarrier.arrive.expect_tx %[[BARS]][%{{.*}}], %c16384
// CHECK-COUNT-2: nvgpu.tma.async.load
// CHECK: gpu.barrier
// CHECK: memref.load %[[KTOK]]
// The first depth tile, peeled: the row tile, then wgmma that starts each
// accumulator (scale-d zero on undefined registers: no register moves).
// CHECK: vector.load %[[KX]][%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<?x128xf32>, vector<8xf32>
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] {alignment = 16 : i64} : memref<64x64xbf16, #gpu.address_space<workgroup>>, vector<8xbf16>
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// CHECK: scf.if
// CHECK: nvgpu.mbarrier.arrive.expect_tx
// CHECK: nvgpu.mbarrier.try_wait.parity %[[BARS]]
// CHECK: nvgpu.warpgroup.generate.descriptor
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: %[[P0:.*]] = llvm.mlir.poison
// CHECK: nvvm.wgmma.mma_async %{{.*}}, %{{.*}}, %[[P0]], <m = 64, n = 64, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK-COUNT-3: nvvm.wgmma.mma_async {{.*}} D[<f32>, <one>]
// CHECK: %[[P1:.*]] = llvm.mlir.poison
// CHECK: nvvm.wgmma.mma_async %{{.*}}, %{{.*}}, %[[P1]], <m = 64, n = 64, k = 16>, D[<f32>, <zero>]
// CHECK-COUNT-3: nvvm.wgmma.mma_async {{.*}} D[<f32>, <one>]
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// The other depth tiles, in order, accumulating:
// CHECK: %[[LOOP:.*]]:2 = scf.for %{{.*}} = %c1{{.*}} to %c2{{.*}} step %c1{{.*}} iter_args(%[[ACCG:.*]] = %{{.*}}, %[[ACCU:.*]] = %{{.*}}) -> (!llvm.struct<(f32,
// CHECK: vector.load %[[KX]]
// CHECK: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// CHECK: scf.if
// CHECK: nvgpu.mbarrier.try_wait.parity %[[BARS]]
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-NOT: llvm.mlir.poison
// CHECK: nvvm.wgmma.mma_async %{{.*}}, %{{.*}}, %[[ACCG]], <m = 64, n = 64, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK-COUNT-3: nvvm.wgmma.mma_async {{.*}} D[<f32>, <one>]
// CHECK: nvvm.wgmma.mma_async %{{.*}}, %{{.*}}, %[[ACCU]], <m = 64, n = 64, k = 16>, D[<f32>, <one>]
// CHECK-COUNT-3: nvvm.wgmma.mma_async {{.*}} D[<f32>, <one>]
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.wait.group.sync.aligned 1
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: memref.load %[[KS]]
// CHECK: llvm.extractvalue %[[LOOP]]#0[0]
// CHECK: llvm.extractvalue %[[LOOP]]#1[0]
// CHECK: math.exp
// CHECK: vector.from_elements
// CHECK: arith.cmpi ult, %{{.*}}, %c96
// CHECK: vector.store %{{.*}}, %[[KOUT]]{{.*}} {alignment = 8 : i64} : memref<?x96xf32>, vector<2xf32>
// CHECK-LABEL: gpu.func @gather_gate_up_sm90_128x128
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}, %c32768
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 128, k = 16>
func.func @gated_swiglu(%x: memref<?x128xf32>, %tok: memref<?xi32>, %s: memref<?xf32>, %off: memref<5xi32>, %g: memref<4x96x128xbf16>, %u: memref<4x96x128xbf16>, %out: memref<?x96xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) offsets(%off) weights(gate %g, up %u) layout <rows> outs(%out) : (memref<?x128xf32>, memref<?xi32>, memref<?xf32>, memref<5xi32>, memref<4x96x128xbf16>, memref<4x96x128xbf16>, memref<?x96xf32>) -> ()
  return
}

// -----

// Tests that an ungrouped gelu (no gate, no tokens, no offsets) takes a
// 2-D [N,K] weight without collapsing it, gets ceil(R/rows) row tiles (no
// spare blocks), reads row r of the input itself, keeps one accumulator,
// and stores gelu (math.erf) without column masks (N = 128 is a multiple
// of both column tiles).
// CHECK-LABEL: func.func @ungrouped_gelu
// CHECK-SAME: (%[[X:[a-z0-9]+]]: memref<?x256xf32>, %[[U:[a-z0-9]+]]: memref<128x256xbf16>, %[[OUT:[a-z0-9]+]]: memref<?x128xf32>)
// CHECK-NOT: memref.collapse_shape
// CHECK: %[[UU:.*]] = memref.cast %[[U]] : memref<128x256xbf16> to memref<*xbf16>
// CHECK: nvgpu.tma.create.descriptor %[[UU]]
// CHECK: %[[T:.*]] = arith.ceildivui %{{.*}}, %c64
// CHECK: gpu.launch_func @moe_kernels::@gather_gate_up_sm90_64x64 blocks in (%[[T]], %c2, %c1) threads in (%c128, %c1, %c1) dynamic_shared_memory_size %c66560_i32 args(%{{.*}} : !llvm.ptr, %[[X]] : memref<?x256xf32>, %[[OUT]] : memref<?x128xf32>)
// CHECK: gpu.launch_func @moe_kernels::@gather_gate_up_sm90_128x128 {{.*}} dynamic_shared_memory_size %c132096_i32
// CHECK-LABEL: gpu.func @gather_gate_up_sm90_64x64
// CHECK-NOT: memref.load
// CHECK-COUNT-4: nvvm.wgmma.mma_async
// CHECK: scf.for %{{.*}} = %c1{{.*}} to %c4{{.*}} step %c1{{.*}} iter_args(%{{.*}} = %{{.*}}) -> (!llvm.struct<(f32,
// CHECK-COUNT-4: nvvm.wgmma.mma_async
// CHECK-NOT: nvvm.wgmma.mma_async
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK-NOT: memref.load
// CHECK: math.erf
// CHECK-NOT: arith.cmpi ult, %{{.*}}, %c128
// CHECK: vector.store {{.*}} : memref<?x128xf32>, vector<2xf32>
// CHECK-LABEL: gpu.func @gather_gate_up_sm90_128x128
func.func @ungrouped_gelu(%x: memref<?x256xf32>, %u: memref<128x256xbf16>, %out: memref<?x128xf32>) {
  moe.gather_gate_up gelu %x weights(up %u) layout <rows> outs(%out) : (memref<?x256xf32>, memref<128x256xbf16>, memref<?x128xf32>) -> ()
  return
}

// -----

// Tests that a down GEMM without tokens adds each weighted row into its own
// row of init: the rows' count comes from `rows`, the kernel takes
// row_weight and offsets, and its epilogue loads the row weight, multiplies
// and adds into the pair it read (load, addf, store), no combine.
// CHECK-LABEL: func.func @down_add
// CHECK-SAME: (%[[ROWS:[a-z0-9]+]]: memref<?x128xf32>, %[[OFF:[a-z0-9]+]]: memref<3xi32>, %[[D:[a-z0-9]+]]: memref<2x64x128xbf16>, %[[W:[a-z0-9]+]]: memref<?xf32>, %[[ACC:[a-z0-9]+]]: memref<?x64xf32>)
// CHECK: memref.dim %[[ROWS]], %c0
// CHECK: memref.collapse_shape %[[D]] {{\[\[}}0, 1], [2]] : memref<2x64x128xbf16> into memref<128x128xbf16>
// CHECK: gpu.launch_func @moe_kernels::@down_add_sm90_64x64 {{.*}} args(%{{.*}} : !llvm.ptr, %[[ROWS]] : memref<?x128xf32>, %[[W]] : memref<?xf32>, %[[OFF]] : memref<3xi32>, %[[ACC]] : memref<?x64xf32>)
// CHECK-NOT: gpu.alloc
// CHECK: gpu.launch_func @moe_kernels::@down_add_sm90_128x128
// CHECK-NOT: gpu.alloc
// CHECK-LABEL: gpu.func @down_add_sm90_64x64
// CHECK-SAME: (%{{.*}}: !llvm.ptr, %[[KR:.*]]: memref<?x128xf32>, %[[KW:.*]]: memref<?xf32>, %{{.*}}: memref<3xi32>, %[[KA:.*]]: memref<?x64xf32>)
// CHECK: memref.dim %[[KR]], %c0
// CHECK: vector.load %[[KR]]
// CHECK: nvvm.wgmma.mma_async
// CHECK: nvvm.wgmma.wait.group.sync.aligned 0
// CHECK: %[[WR:.*]] = memref.load %[[KW]]
// CHECK: %[[V:.*]] = llvm.extractvalue
// CHECK: arith.mulf %[[WR]], %[[V]]
// CHECK: %[[OLD:.*]] = vector.load %[[KA]]{{.*}} : memref<?x64xf32>, vector<2xf32>
// CHECK: %[[SUM:.*]] = arith.addf %[[OLD]]
// CHECK: vector.store %[[SUM]], %[[KA]]
func.func @down_add(%rows: memref<?x128xf32>, %off: memref<3xi32>, %d: memref<2x64x128xbf16>, %w: memref<?xf32>, %acc: memref<?x64xf32>) {
  moe.down_scatter_add %rows offsets(%off) weights(down %d) row_weight(%w) layout <rows> outs(%acc) : (memref<?x128xf32>, memref<3xi32>, memref<2x64x128xbf16>, memref<?xf32>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that f32 weights are refused with the preparation pass to run.
func.func @f32_weights(%x: memref<?x128xf32>, %u: memref<64x128xf32>, %out: memref<?x64xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op on sm_90a needs bf16 weights in rows layout (moe-cuda-prepare-kernels)}}
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%out) : (memref<?x128xf32>, memref<64x128xf32>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that bf16 weights in panels are refused the same way.
func.func @panels(%rows: memref<?x128xf32>, %d: memref<2x128x32xbf16>, %acc: memref<?x64xf32>) {
  // expected-error @+1 {{'moe.down_scatter_add' op on sm_90a needs bf16 weights in rows layout (moe-cuda-prepare-kernels)}}
  moe.down_scatter_add %rows weights(down %d) layout <panels = 32> outs(%acc) : (memref<?x128xf32>, memref<2x128x32xbf16>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that a depth that is not a multiple of 8 is refused (TMA needs
// the weight rows' stride a multiple of 16 bytes).
func.func @ragged_depth(%x: memref<?x60xf32>, %u: memref<64x60xbf16>, %out: memref<?x64xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op on sm_90a needs a depth that is a multiple of 8 (got 60)}}
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%out) : (memref<?x60xf32>, memref<64x60xbf16>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that a depth that is a multiple of 8 but not of the 64-element
// stage (K = 96) gets ceil(96/64) = 2 depth tiles: the TMA box stays
// [columns, 64] (its part past K is TMA's zero fill, the mbarrier still
// expects the whole box), and the gathered row chunks past K read column
// 0 and store zeros.
// CHECK-LABEL: func.func @depth_96
// CHECK: nvgpu.tma.create.descriptor {{.*}} box[%c64{{.*}}, %c64{{.*}}]
// CHECK-LABEL: gpu.func @gather_gate_up_sm90_64x64
// CHECK: nvgpu.mbarrier.arrive.expect_tx %{{.*}}, %c8192
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[COL:.*]], %c96{{.*}} : index
// CHECK: %[[OK:.*]] = arith.andi %{{.*}}, %[[IN]] : i1
// CHECK: %[[SAFE:.*]] = arith.select %[[IN]], %[[COL]], %c0{{.*}} : index
// CHECK: %[[V:.*]] = vector.load %{{.*}}[%{{.*}}, %[[SAFE]]] {alignment = 16 : i64} : memref<?x96xf32>, vector<8xf32>
// CHECK: arith.select %[[OK]], %[[V]], %{{.*}} : vector<8xf32>
// CHECK: nvvm.wgmma.mma_async {{.*}} D[<f32>, <zero>]
// CHECK: scf.for %{{.*}} = %c1{{.*}} to %c2{{.*}}
// CHECK: arith.cmpi ult, %{{.*}}, %c96{{.*}} : index
func.func @depth_96(%x: memref<?x96xf32>, %u: memref<64x96xbf16>, %out: memref<?x64xf32>) {
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%out) : (memref<?x96xf32>, memref<64x96xbf16>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that strided activations are refused (rows are read as 16-byte
// vectors of a contiguous row).
func.func @strided_rows(%x: memref<?x128xf32, strided<[256, 1]>>, %u: memref<64x128xbf16>, %out: memref<?x64xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op on sm_90a needs contiguous f32 activations}}
  moe.gather_gate_up relu %x weights(up %u) layout <rows> outs(%out) : (memref<?x128xf32, strided<[256, 1]>>, memref<64x128xbf16>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that weights whose expert count disagrees with the offsets, or
// that are not static, are refused.
func.func @dynamic_weights(%x: memref<?x128xf32>, %off: memref<3xi32>, %u: memref<2x?x128xbf16>, %out: memref<?x64xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op on sm_90a needs static, contiguous weights}}
  moe.gather_gate_up relu %x offsets(%off) weights(up %u) layout <rows> outs(%out) : (memref<?x128xf32>, memref<3xi32>, memref<2x?x128xbf16>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that strided tokens are refused (the kernel indexes them as a
// contiguous vector).
func.func @strided_tokens(%x: memref<?x128xf32>, %tok: memref<?xi32, strided<[2]>>, %u: memref<64x128xbf16>, %out: memref<?x64xf32>) {
  // expected-error @+1 {{'moe.gather_gate_up' op on sm_90a needs contiguous i32 tokens and offsets and f32 row factors}}
  moe.gather_gate_up relu %x tokens(%tok) weights(up %u) layout <rows> outs(%out) : (memref<?x128xf32>, memref<?xi32, strided<[2]>>, memref<64x128xbf16>, memref<?x64xf32>) -> ()
  return
}
