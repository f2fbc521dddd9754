// RUN: moe-opt %s -split-input-file -moe-cpu-lower-to-ukernels | FileCheck %s

// Tests that a gated gather_gate_up on f32 panels becomes loops over panel
// pairs, row blocks of 48, depth blocks of 128 and tiles of 6 rows, each
// tile a call of the register tile on a subview of the row tokens (the
// gathered rows) into a hoisted accumulator, and after the last depth block
// a generated epilogue: the Llama 4 scale, then SwiGLU with its exp
// expanded to a polynomial (no math.exp left).
// CHECK-DAG: func.func private @moe_ukernel_tile_f32(memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?xi32, strided<[?], offset: ?>>, index, memref<?x32xf32, strided<[32, 1], offset: ?>>, memref<?x32xf32, strided<[32, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, i32, i64, i64) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @gate_up
// CHECK-SAME: (%[[X:[a-z0-9]+]]: memref<?x256xf32>, %[[TOK:[a-z0-9]+]]: memref<?xi32>, %[[S:[a-z0-9]+]]: memref<?xf32>, %[[G:[a-z0-9]+]]: memref<2x256x32xf32>, %[[U:[a-z0-9]+]]: memref<2x256x32xf32>, %[[OUT:[a-z0-9]+]]: memref<?x40xf32>)
// CHECK-DAG: %[[C6:.*]] = arith.constant 6 : index
// CHECK-DAG: %[[C48:.*]] = arith.constant 48 : index
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : index
// CHECK: %[[ACC:.*]] = memref.alloca() : memref<8x6x64xf32>
// CHECK: scf.for %[[Q:.*]] = %{{.*}} to %{{.*}} step
// CHECK: scf.for %[[R0:.*]] = %{{.*}} to %{{.*}} step %[[C48]]
// CHECK: scf.for %[[P0:.*]] = %{{.*}} to %[[C256]] step %[[C128]]
// CHECK: %[[B0:.*]] = memref.subview %[[G]][%[[Q]], %[[P0]], 0]
// CHECK: %[[B1:.*]] = memref.subview %[[U]][%[[Q]], %[[P0]], 0]
// CHECK: scf.for %[[T:.*]] = %{{.*}} to %{{.*}} step
// CHECK: %[[ROWS:.*]] = memref.subview %[[TOK]][%{{.*}}] [%{{.*}}] [1]
// CHECK: %[[TILE:.*]] = memref.subview %[[ACC]][%[[T]], 0, 0]
// CHECK: memref.prefetch %[[OUT]]
// CHECK: %[[XC:.*]] = memref.cast %[[X]]
// CHECK: %[[RC:.*]] = memref.cast %[[ROWS]]
// CHECK: %[[AC:.*]] = memref.cast %[[TILE]]
// CHECK: call @moe_ukernel_tile_f32(%[[XC]], %[[RC]], %[[P0]], %[[B0]], %[[B1]], %[[AC]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK: scf.if
// CHECK: memref.load %[[S]]
// CHECK: memref.load %[[ACC]]
// CHECK: memref.load %[[ACC]]
// CHECK: arith.mulf
// CHECK: math.fma
// CHECK: arith.divf
// CHECK: memref.store %{{.*}}, %[[OUT]]
// CHECK-NOT: math.exp
// CHECK-NOT: moe.gather_gate_up
func.func @gate_up(%x: memref<?x256xf32>, %tok: memref<?xi32>, %s: memref<?xf32>,
                   %g: memref<2x256x32xf32>, %u: memref<2x256x32xf32>, %out: memref<?x40xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) weights(gate %g, up %u) layout <panels = 32> outs(%out)
      : (memref<?x256xf32>, memref<?xi32>, memref<?xf32>, memref<2x256x32xf32>, memref<2x256x32xf32>,
         memref<?x40xf32>) -> ()
  return
}

// -----

// Tests that down_scatter_add on f32 panels reads consecutive rows (a
// subview of the rows and of the constant row indices 0..5), takes panels
// 2q and 2q+1 (the last repeated) and adds w_r·acc into the row's token by
// math.fma.
// CHECK: memref.global "private" constant @__moe_tile_consecutive_rows : memref<6xi32> = dense<[0, 1, 2, 3, 4, 5]>
// CHECK-LABEL: func.func @down
// CHECK-SAME: (%[[H:[a-z0-9]+]]: memref<?x40xf32>, %[[D:[a-z0-9]+]]: memref<3x40x32xf32>, %[[TOK:[a-z0-9]+]]: memref<?xi32>, %[[W:[a-z0-9]+]]: memref<?xf32>, %[[OUT:[a-z0-9]+]]: memref<?x70xf32>)
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[IOTA:.*]] = memref.get_global @__moe_tile_consecutive_rows
// CHECK: scf.for %[[Q:.*]] =
// CHECK: %[[FIRST:.*]] = arith.muli %[[Q]], %[[C2]] : index
// CHECK: %[[NEXT:.*]] = arith.addi %[[FIRST]], %{{.*}} : index
// CHECK: %[[SECOND:.*]] = arith.minsi %[[NEXT]], %[[C2]] : index
// CHECK: memref.subview %[[D]][%[[FIRST]], %{{.*}}, 0]
// CHECK: memref.subview %[[D]][%[[SECOND]], %{{.*}}, 0]
// CHECK: memref.subview %[[H]][%{{.*}}, 0] [%{{.*}}, %{{.*}}] [1, 1]
// CHECK: memref.subview %[[IOTA]][0] [%{{.*}}] [1]
// CHECK: call @moe_ukernel_tile_f32
// CHECK: %[[WR:.*]] = memref.load %[[W]]
// CHECK: %[[T:.*]] = memref.load %[[TOK]]
// CHECK: %[[TI:.*]] = arith.index_cast %[[T]] : i32 to index
// CHECK: %[[OLD:.*]] = memref.load %[[OUT]][%[[TI]], %{{.*}}]
// CHECK: %[[SUM:.*]] = math.fma %[[WR]], %{{.*}}, %[[OLD]] : f32
// CHECK: memref.store %[[SUM]], %[[OUT]][%[[TI]], %{{.*}}]
// CHECK-NOT: moe.down_scatter_add
func.func @down(%h: memref<?x40xf32>, %d: memref<3x40x32xf32>, %tok: memref<?xi32>, %w: memref<?xf32>,
                %out: memref<?x70xf32>) {
  moe.down_scatter_add %h weights(down %d) tokens(%tok) row_weight(%w) layout <panels = 32> outs(%out)
      : (memref<?x40xf32>, memref<3x40x32xf32>, memref<?xi32>, memref<?xf32>, memref<?x70xf32>) -> ()
  return
}

// -----

// Tests that on bf16 panels a block of several row tiles widens both
// panels once into an f32 block (32 lanes at a time, as integers: zero-
// extend, shift left 16, the bits as f32) and calls the f32 tile, and a
// lone tile (decode) calls the bf16 tile, which widens in registers; GELU's
// erf is a polynomial too.
// CHECK-DAG: func.func private @moe_ukernel_tile_bf16(memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?xi32, strided<[?], offset: ?>>, index, memref<?x32xbf16, strided<[32, 1], offset: ?>>, memref<?x32xbf16, strided<[32, 1], offset: ?>>, memref<?x?xf32, strided<[?, 1], offset: ?>>, i32, i64, i64) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @bf16_gelu
// CHECK-DAG: memref.alloca() : memref<8x6x64xf32>
// CHECK-DAG: %[[WIDE:.*]] = memref.alloca() : memref<2x128x32xf32>
// CHECK: %[[SHARED:.*]] = arith.cmpi sgt
// CHECK: scf.if %[[SHARED]]
// CHECK: %[[HALF:.*]] = vector.load %{{.*}} : memref<?x32xbf16, strided<[32, 1], offset: ?>>, vector<32xbf16>
// CHECK: %[[BITS:.*]] = arith.bitcast %[[HALF]] : vector<32xbf16> to vector<32xi16>
// CHECK: %[[WIDE32:.*]] = arith.extui %[[BITS]] : vector<32xi16> to vector<32xi32>
// CHECK: %[[SHIFTED:.*]] = arith.shli %[[WIDE32]], %{{.*}} : vector<32xi32>
// CHECK: %[[F:.*]] = arith.bitcast %[[SHIFTED]] : vector<32xi32> to vector<32xf32>
// CHECK: vector.store %[[F]], %{{.*}} : memref<?x32xf32, strided<[32, 1]>>, vector<32xf32>
// CHECK: call @moe_ukernel_tile_f32
// CHECK: } else {
// CHECK: call @moe_ukernel_tile_bf16
// CHECK-NOT: math.erf
func.func @bf16_gelu(%x: memref<?x64xf32>, %u: memref<2x64x32xbf16>, %out: memref<?x64xf32>) {
  moe.gather_gate_up gelu %x weights(up %u) layout <panels = 32> outs(%out)
      : (memref<?x64xf32>, memref<2x64x32xbf16>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that the generated epilogue of geglu_tanh on f32 panels expands
// tanh to MLIR's polynomial (no math.tanh left), as it does exp and erf.
// CHECK-LABEL: func.func @geglu_tanh
// CHECK: call @moe_ukernel_tile_f32
// CHECK: memref.load
// CHECK: memref.load
// CHECK: math.fma
// CHECK-NOT: math.tanh
// CHECK-NOT: moe.gather_gate_up
func.func @geglu_tanh(%x: memref<?x64xf32>, %g: memref<2x64x32xf32>, %u: memref<2x64x32xf32>, %out: memref<?x64xf32>) {
  moe.gather_gate_up geglu_tanh %x weights(gate %g, up %u) layout <panels = 32> outs(%out)
      : (memref<?x64xf32>, memref<2x64x32xf32>, memref<2x64x32xf32>, memref<?x64xf32>) -> ()
  return
}

// -----

// Tests that the generated epilogue of clamped_swiglu applies its
// glu_clamp (the limit 0.5 bounds gate and up) after the register tile.
// CHECK-LABEL: func.func @clamped_swiglu
// CHECK-DAG: %[[NEG:.*]] = arith.constant -5.000000e-01 : f32
// CHECK-DAG: %[[LIMIT:.*]] = arith.constant 5.000000e-01 : f32
// CHECK: call @moe_ukernel_tile_f32
// CHECK: arith.minimumf %{{.*}}, %[[LIMIT]]
// CHECK: %[[UP:.*]] = arith.minimumf %{{.*}}, %[[LIMIT]]
// CHECK: arith.maximumf %[[UP]], %[[NEG]]
// CHECK-NOT: math.exp
// CHECK-NOT: moe.gather_gate_up
func.func @clamped_swiglu(%x: memref<?x64xf32>, %g: memref<2x64x32xf32>, %u: memref<2x64x32xf32>, %out: memref<?x64xf32>) {
  moe.gather_gate_up clamped_swiglu %x weights(gate %g, up %u) layout <panels = 32> outs(%out) {glu_clamp = #moe.glu_clamp<limit = 0.5>}
      : (memref<?x64xf32>, memref<2x64x32xf32>, memref<2x64x32xf32>, memref<?x64xf32>) -> ()
  return
}
