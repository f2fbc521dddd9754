// RUN: moe-opt %s -split-input-file -moe-cuda-lower-grouped-gemm=gpu-arch=sm_80 | FileCheck %s

// Tests that a gated, grouped gate/up GEMM with tokens and scales becomes,
// under the pass's choice on the row count, two launches on one stream:
// decode tiles of 16 rows (ceil(R/16) + E row tiles, 128 threads) and
// prefill tiles of 128 rows (256 threads), the column tiles counting gate
// and up columns together (N = 128 gives 4 and 2). The kernel finds its
// expert in the offsets, gathers its rows by token while loading them,
// copies both weights with cp.async, multiplies with ldmatrix and bf16
// mma.sync, and scales then activates (SwiGLU: a sigmoid) in the epilogue.
// CHECK-LABEL: func.func @swiglu_grouped
// CHECK-SAME: (%[[X:[a-z0-9]+]]: memref<?x256xf32>, %[[TOK:[a-z0-9]+]]: memref<?xi32>, %[[S:[a-z0-9]+]]: memref<?xf32>, %[[OFF:[a-z0-9]+]]: memref<9xi32>, %[[G:[a-z0-9]+]]: memref<8x128x256xbf16>, %[[U:[a-z0-9]+]]: memref<8x128x256xbf16>, %[[A:[a-z0-9]+]]: memref<?x128xf32>)
// CHECK: %[[R:.*]] = memref.dim %[[A]], %{{.*}} : memref<?x128xf32>
// CHECK: %[[SMALL:.*]] = arith.cmpi ule, %[[R]], %c512
// CHECK: scf.if %[[SMALL]] {
// CHECK: %[[STREAM:.*]] = gpu.wait async
// CHECK: %[[T:.*]] = arith.ceildivui %{{.*}}, %c16
// CHECK: %[[TE:.*]] = arith.addi %[[T]], %c8
// CHECK: %[[GRID:.*]] = arith.maxui %[[TE]], %c1
// CHECK: %[[DONE:.*]] = gpu.launch_func async [%[[STREAM]]] @moe_kernels::@gather_gate_up_sm80_16x64 blocks in (%[[GRID]], %c4, %{{.*}}) threads in (%c128, %{{.*}}, %{{.*}}) args(%[[X]] : memref<?x256xf32>, %[[TOK]] : memref<?xi32>, %[[S]] : memref<?xf32>, %[[OFF]] : memref<9xi32>, %[[G]] : memref<8x128x256xbf16>, %[[U]] : memref<8x128x256xbf16>, %[[A]] : memref<?x128xf32>, %{{.*}} : index)
// CHECK: gpu.wait [%[[DONE]]]
// CHECK: } else {
// CHECK: arith.ceildivui %{{.*}}, %c128
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@gather_gate_up_sm80_128x128 blocks in (%{{.*}}, %c2, %{{.*}}) threads in (%c256,
// CHECK-NOT: moe.gather_gate_up
// CHECK: gpu.module @moe_kernels
// CHECK: gpu.func @gather_gate_up_sm80_16x64(%[[KX:.*]]: memref<?x256xf32>, %[[KTOK:.*]]: memref<?xi32>, %[[KS:.*]]: memref<?xf32>, %[[KOFF:.*]]: memref<9xi32>, %[[KG:.*]]: memref<8x128x256xbf16>, %[[KU:.*]]: memref<8x128x256xbf16>, %[[KA:.*]]: memref<?x128xf32>, %{{.*}}: index)
// CHECK-SAME: workgroup(%[[SA:.*]] : memref<2x16x32xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %[[SB:.*]] : memref<2x64x32xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64})
// CHECK-SAME: kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// CHECK: gpu.block_id x
// CHECK: scf.for
// CHECK: memref.load %[[KOFF]]
// CHECK: gpu.block_id y
// CHECK: scf.if
// CHECK: memref.load %[[KTOK]]
// CHECK: nvgpu.device_async_copy %[[KG]][{{.*}}], %[[SB]][{{.*}}], 8, %{{.*}} {bypassL1}
// CHECK: nvgpu.device_async_copy %[[KU]][{{.*}}], %[[SB]][{{.*}}], 8, %{{.*}} {bypassL1}
// CHECK: nvgpu.device_async_create_group
// CHECK: vector.load %[[KX]][{{.*}}] {alignment = 16 : i64} : memref<?x256xf32>, vector<4xf32>
// CHECK: arith.truncf %{{.*}} : vector<4xf32> to vector<4xbf16>
// CHECK: vector.store %{{.*}}, %[[SA]]
// CHECK: nvgpu.device_async_wait
// CHECK: gpu.barrier
// CHECK: scf.for {{.*}} iter_args
// CHECK: nvgpu.ldmatrix %[[SA]]{{.*}}numTiles = 4
// CHECK: nvgpu.ldmatrix %[[SB]]{{.*}}numTiles = 2
// CHECK: nvvm.mma.sync {{.*}}layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: gpu.barrier
// CHECK: scf.yield
// CHECK: %[[SCALE:.*]] = memref.load %[[KS]]
// CHECK: %[[SG:.*]] = arith.mulf %[[SCALE]],
// CHECK: %[[SU:.*]] = arith.mulf %[[SCALE]],
// CHECK: math.exp
// CHECK: memref.store %{{.*}}, %[[KA]]
// CHECK: gpu.func @gather_gate_up_sm80_128x128
// CHECK-SAME: workgroup(%{{.*}} : memref<2x128x32xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64}, %{{.*}} : memref<2x128x32xbf16, #gpu.address_space<workgroup>> {llvm.align = 128 : i64})
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK-COUNT-16: nvvm.mma.sync
func.func @swiglu_grouped(%x: memref<?x256xf32>, %tok: memref<?xi32>, %s: memref<?xf32>, %off: memref<9xi32>,
                          %g: memref<8x128x256xbf16>, %u: memref<8x128x256xbf16>, %a: memref<?x128xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) offsets(%off) weights(gate %g, up %u) layout <rows> outs(%a)
      : (memref<?x256xf32>, memref<?xi32>, memref<?xf32>, memref<9xi32>, memref<8x128x256xbf16>, memref<8x128x256xbf16>, memref<?x128xf32>) -> ()
  return
}

// -----

// Tests that an ungrouped GELU GEMM (no gate, no tokens, no scale) whose N
// (40) and K (24) are not multiples of the tile is one row-tile grid
// (ceil(R/16), no expert term) of one column tile, reads its rows in
// place, masks its stores to N and runs one depth step.
// CHECK-LABEL: func.func @gelu_ungrouped
// CHECK-SAME: (%[[X:[a-z0-9]+]]: memref<?x24xf32>, %[[U:[a-z0-9]+]]: memref<40x24xbf16>, %[[A:[a-z0-9]+]]: memref<?x40xf32>)
// CHECK: %[[T:.*]] = arith.ceildivui %{{.*}}, %c16
// CHECK-NOT: arith.addi
// CHECK: %[[GRID:.*]] = arith.maxui %[[T]], %c1
// CHECK: gpu.launch_func async [%{{.*}}] @moe_kernels::@gather_gate_up_sm80_16x64 blocks in (%[[GRID]], %c1{{.*}}, %c1{{.*}}) threads in (%c128, %{{.*}}, %{{.*}}) args(%[[X]] : memref<?x24xf32>, %[[U]] : memref<40x24xbf16>, %[[A]] : memref<?x40xf32>, %{{.*}} : index)
// CHECK: gpu.func @gather_gate_up_sm80_16x64(%[[KX:.*]]: memref<?x24xf32>, %[[KU:.*]]: memref<40x24xbf16>, %[[KA:.*]]: memref<?x40xf32>, %{{.*}}: index)
// CHECK-NOT: memref.load %{{.*}} : memref<?xi32>
// CHECK: %[[COLUMN_OK:.*]] = arith.cmpi ult, %{{.*}}, %c40
// CHECK: nvgpu.device_async_copy %[[KU]]
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c1{{.*}} step
// CHECK: math.erf
// CHECK: memref.store %{{.*}}, %[[KA]]
func.func @gelu_ungrouped(%x: memref<?x24xf32>, %u: memref<40x24xbf16>, %a: memref<?x40xf32>) {
  moe.gather_gate_up gelu %x weights(up %u) layout <rows> outs(%a)
      : (memref<?x24xf32>, memref<40x24xbf16>, memref<?x40xf32>) -> ()
  return
}

// -----

// Tests that a grouped down GEMM with tokens and routing weights writes its
// weighted rows to a zeroed device buffer [R,N] (rows outside every group
// add nothing) and then runs the combine: count, scan, scatter and sum
// launches (built once, shared by both tile variants), integer atomics
// only, the buffers freed after.
// CHECK-LABEL: func.func @down_tokens
// CHECK-SAME: (%[[H:[a-z0-9]+]]: memref<?x128xf32>, %[[OFF:[a-z0-9]+]]: memref<9xi32>, %[[D:[a-z0-9]+]]: memref<8x256x128xbf16>, %[[TOK:[a-z0-9]+]]: memref<?xi32>, %[[W:[a-z0-9]+]]: memref<?xf32>, %[[O:[a-z0-9]+]]: memref<?x256xf32>)
// CHECK: scf.if
// CHECK: %[[S0:.*]] = gpu.wait async
// CHECK: %[[ROWS:.*]], %[[S1:.*]] = gpu.alloc async [%[[S0]]] (%{{.*}}) : memref<?x256xf32>
// CHECK: %[[S2:.*]] = gpu.memset async [%[[S1]]] %[[ROWS]], %{{.*}} : memref<?x256xf32>, f32
// CHECK: %[[S3:.*]] = gpu.launch_func async [%[[S2]]] @moe_kernels::@down_scatter_add_sm80_16x64 blocks in (%{{.*}}, %c4, %{{.*}}) threads in (%c128, {{.*}} args(%[[H]] : memref<?x128xf32>, %[[W]] : memref<?xf32>, %[[OFF]] : memref<9xi32>, %[[D]] : memref<8x256x128xbf16>, %[[ROWS]] : memref<?x256xf32>, %{{.*}} : index)
// CHECK: gpu.wait [%[[S3]]]
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@combine_count {{.*}} args(%[[TOK]] : memref<?xi32>,
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@combine_scan
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@combine_scatter {{.*}} args(%[[TOK]] : memref<?xi32>,
// CHECK: gpu.launch_func async {{.*}} @moe_kernels::@combine_sum {{.*}} args(%[[ROWS]] : memref<?x256xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?xi32>, %[[O]] : memref<?x256xf32>, %{{.*}} : index)
// CHECK: gpu.dealloc async
// CHECK: gpu.dealloc async {{.*}} %[[ROWS]] : memref<?x256xf32>
// CHECK: } else {
// CHECK: @moe_kernels::@down_scatter_add_sm80_128x128 blocks in (%{{.*}}, %c2,
// CHECK: @moe_kernels::@combine_count
// CHECK: @moe_kernels::@combine_scan
// CHECK: @moe_kernels::@combine_scatter
// CHECK: @moe_kernels::@combine_sum
// CHECK-NOT: moe.down_scatter_add
// CHECK: gpu.func @down_scatter_add_sm80_16x64(%{{.*}}: memref<?x128xf32>, %[[KW:.*]]: memref<?xf32>, %{{.*}}: memref<9xi32>, %{{.*}}: memref<8x256x128xbf16>, %[[KROWS:.*]]: memref<?x256xf32>, %{{.*}}: index)
// CHECK: nvvm.mma.sync
// CHECK: %[[WEIGHT:.*]] = memref.load %[[KW]]
// CHECK: %[[V:.*]] = arith.mulf %[[WEIGHT]],
// CHECK-NEXT: memref.store %[[V]], %[[KROWS]]
// CHECK: gpu.func @combine_count
// CHECK-NOT: nvvm.mma.sync
// CHECK: memref.atomic_rmw addi
// CHECK: gpu.func @combine_scan
// CHECK: gpu.func @combine_scatter
// CHECK: memref.atomic_rmw addi
// CHECK: gpu.func @combine_sum(%[[RR:.*]]: memref<?x256xf32>, %[[ST:.*]]: memref<?xi32>, %[[ORD:.*]]: memref<?xi32>, %[[INIT:.*]]: memref<?x256xf32>, %{{.*}}: index)
// CHECK: arith.minui
// CHECK: arith.maxui
// CHECK: gpu.barrier
// CHECK: %[[START:.*]] = memref.load %[[INIT]]
// CHECK: scf.for {{.*}} iter_args(%[[ACC:.*]] = %[[START]]) -> (f32)
// CHECK: %[[R:.*]] = arith.index_castui
// CHECK: %[[ROW:.*]] = memref.load %[[RR]][%[[R]],
// CHECK: arith.addf %[[ACC]], %[[ROW]]
// CHECK: gpu.func @down_scatter_add_sm80_128x128
// CHECK-NOT: gpu.func @combine
// CHECK-NOT: atomic_rmw addf
func.func @down_tokens(%h: memref<?x128xf32>, %off: memref<9xi32>, %d: memref<8x256x128xbf16>, %tok: memref<?xi32>,
                       %w: memref<?xf32>, %o: memref<?x256xf32>) {
  moe.down_scatter_add %h offsets(%off) weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%o)
      : (memref<?x128xf32>, memref<9xi32>, memref<8x256x128xbf16>, memref<?xi32>, memref<?xf32>, memref<?x256xf32>) -> ()
  return
}

// -----

// Tests that a down GEMM without tokens adds each row into its own output
// row in the epilogue: no row buffer, no combine.
// CHECK-LABEL: func.func @down_rows
// CHECK-NOT: gpu.alloc
// CHECK: @moe_kernels::@down_scatter_add_sm80_16x64
// CHECK-NOT: combine
// CHECK: gpu.func @down_scatter_add_sm80_16x64(%{{.*}}: memref<?x128xf32>, %{{.*}}: memref<200x128xbf16>, %[[KO:.*]]: memref<?x200xf32>, %{{.*}}: index)
// CHECK: nvvm.mma.sync
// CHECK: %[[OLD:.*]] = memref.load %[[KO]][%[[R:.*]], %[[C:.*]]] : memref<?x200xf32>
// CHECK-NEXT: %[[NEW:.*]] = arith.addf %[[OLD]], %{{.*}} : f32
// CHECK-NEXT: memref.store %[[NEW]], %[[KO]][%[[R]], %[[C]]]
// CHECK-NOT: gpu.func @combine
func.func @down_rows(%h: memref<?x128xf32>, %d: memref<200x128xbf16>, %o: memref<?x200xf32>) {
  moe.down_scatter_add %h weights(down %d) layout <rows> outs(%o)
      : (memref<?x128xf32>, memref<200x128xbf16>, memref<?x200xf32>) -> ()
  return
}
