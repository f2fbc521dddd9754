// RUN: moe-opt %s -split-input-file -moe-cuda-tile-grouped-gemm="tile-rows=16 tile-columns=64" | FileCheck %s

// Tests that a gated, grouped gate/up GEMM with tokens and scales becomes
// an scf.forall over (ceil(R/16) + E row tiles, ceil(128/64) column tiles)
// mapped to blocks x and y, whose body finds its expert and rows by walking
// the offsets (the kernels' schedule), skips spare tiles, gathers its rows
// by token into a bf16 tile, multiplies it with each weight's [N,K] slice
// of its expert (transposed matmul, f32 sums), and applies the scale and
// SwiGLU to the tile's rows and columns of the output.
// CHECK-LABEL: func.func @swiglu_grouped
// CHECK-SAME: (%[[X:[a-z0-9]+]]: memref<?x256xf32>, %[[TOK:[a-z0-9]+]]: memref<?xi32>, %[[S:[a-z0-9]+]]: memref<?xf32>, %[[OFF:[a-z0-9]+]]: memref<9xi32>, %[[G:[a-z0-9]+]]: memref<8x128x256xbf16>, %[[U:[a-z0-9]+]]: memref<8x128x256xbf16>, %[[A:[a-z0-9]+]]: memref<?x128xf32>)
// CHECK: %[[R:.*]] = memref.dim %[[A]], %{{.*}} : memref<?x128xf32>
// CHECK: %[[T:.*]] = arith.ceildivui %[[R]], %c16
// CHECK: %[[TE:.*]] = arith.addi %[[T]], %c8
// CHECK: scf.forall (%[[RT:.*]], %[[CT:.*]]) in (%[[TE]], %c2) {
// CHECK: %[[WALK:.*]]:3 = scf.for %{{.*}} = %{{.*}} to %c8{{.*}} step %{{.*}} iter_args
// CHECK: memref.load %[[OFF]]
// CHECK: scf.if %{{.*}} {
// CHECK: %[[CB:.*]] = arith.muli %[[CT]], %c64
// CHECK: %[[RA:.*]] = memref.alloc(%{{.*}}) : memref<?x256xbf16>
// CHECK: scf.for
// CHECK: memref.load %[[TOK]]
// CHECK: memref.subview %[[X]]
// CHECK: linalg.generic
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: memref.subview %[[G]][%{{.*}}, %[[CB]], 0] [1, %{{.*}}, 256] [1, 1, 1] : memref<8x128x256xbf16> to memref<?x256xbf16, strided<[256, 1], offset: ?>>
// CHECK: linalg.fill
// CHECK: linalg.matmul indexing_maps = [#{{.*}}, #{{.*}}, #{{.*}}] ins(%[[RA]], %{{.*}} : memref<?x256xbf16>, memref<?x256xbf16, strided<[256, 1], offset: ?>>) outs(%{{.*}} : memref<?x?xf32>)
// CHECK: memref.subview %[[U]]
// CHECK: linalg.matmul
// CHECK: %[[OUT:.*]] = memref.subview %[[A]]
// CHECK: %[[SS:.*]] = memref.subview %[[S]]
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}}, %[[SS]] : memref<?x?xf32>, memref<?x?xf32>, memref<?xf32, strided<[1], offset: ?>>) outs(%[[OUT]] :
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: math.exp
// CHECK: linalg.yield
// CHECK: memref.dealloc
// CHECK: } {mapping = [#gpu.block<x>, #gpu.block<y>]}
// CHECK-NOT: moe.gather_gate_up
func.func @swiglu_grouped(%x: memref<?x256xf32>, %tok: memref<?xi32>, %s: memref<?xf32>, %off: memref<9xi32>,
                          %g: memref<8x128x256xbf16>, %u: memref<8x128x256xbf16>, %a: memref<?x128xf32>) {
  moe.gather_gate_up swiglu %x tokens(%tok) scale(%s) offsets(%off) weights(gate %g, up %u) layout <rows> outs(%a)
      : (memref<?x256xf32>, memref<?xi32>, memref<?xf32>, memref<9xi32>, memref<8x128x256xbf16>, memref<8x128x256xbf16>, memref<?x128xf32>) -> ()
  return
}

// -----

// Tests that an ungrouped GELU GEMM (no gate, no tokens, no scale) has
// ceil(R/16) row tiles (no expert term, no walk), one partial column tile
// of N = 40, reads its rows in place and applies GELU without scaling.
// CHECK-LABEL: func.func @gelu_ungrouped
// CHECK: %[[T:.*]] = arith.ceildivui %{{.*}}, %c16
// CHECK: scf.forall (%{{.*}}, %{{.*}}) in (%[[T]], %c1) {
// CHECK-NOT: scf.for {{.*}} iter_args
// CHECK: %[[LEFT:.*]] = arith.subi %c40{{.*}}, %{{.*}}
// CHECK: arith.minui %c64{{.*}}, %[[LEFT]]
// CHECK-NOT: memref.load
// CHECK: linalg.matmul
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : memref<?x?xf32>) outs(
// CHECK: math.erf
// CHECK: } {mapping = [#gpu.block<x>, #gpu.block<y>]}
func.func @gelu_ungrouped(%x: memref<?x24xf32>, %u: memref<40x24xbf16>, %a: memref<?x40xf32>) {
  moe.gather_gate_up gelu %x weights(up %u) layout <rows> outs(%a)
      : (memref<?x24xf32>, memref<40x24xbf16>, memref<?x40xf32>) -> ()
  return
}

// -----

// Tests that a grouped down GEMM with tokens and routing weights writes
// its weighted rows to a zeroed [R,N] buffer (4 column tiles of 64), then
// combines: one iteration per token (block x), each column the token's
// output plus its rows in increasing row order (a row adds only when its
// token is this one), and frees the buffer.
// CHECK-LABEL: func.func @down_tokens
// CHECK-SAME: %[[TOK:[a-z0-9]+]]: memref<?xi32>, %[[W:[a-z0-9]+]]: memref<?xf32>, %[[O:[a-z0-9]+]]: memref<?x256xf32>)
// CHECK: %[[ROWS:.*]] = memref.alloc(%{{.*}}) : memref<?x256xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[ROWS]] : memref<?x256xf32>)
// CHECK: scf.forall (%{{.*}}, %{{.*}}) in (%{{.*}}, %c4) {
// CHECK: linalg.matmul
// CHECK: %[[OUT:.*]] = memref.subview %[[ROWS]]
// CHECK: linalg.generic {{.*}} outs(%[[OUT]] :
// CHECK: ^bb0(%[[SUM:.*]]: f32, %[[WR:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[WR]], %[[SUM]] : f32
// CHECK-NEXT: linalg.yield %[[P]]
// CHECK: } {mapping = [#gpu.block<x>, #gpu.block<y>]}
// CHECK: %[[NT:.*]] = memref.dim %[[O]], %c0
// CHECK: scf.forall (%[[TK:.*]]) in (%[[NT]]) {
// CHECK: scf.for %[[N:.*]] =
// CHECK: %[[START:.*]] = memref.load %[[O]][%[[TK]], %[[N]]]
// CHECK: %[[SUMS:.*]] = scf.for %[[R:.*]] = %c0{{.*}} to %{{.*}} step %c1{{.*}} iter_args(%[[ACC:.*]] = %[[START]]) -> (f32) {
// CHECK: %[[RT:.*]] = memref.load %[[TOK]][%[[R]]]
// CHECK: %[[RTI:.*]] = arith.index_castui %[[RT]]
// CHECK: %[[MINE:.*]] = arith.cmpi eq, %[[RTI]], %[[TK]]
// CHECK: %[[V:.*]] = memref.load %[[ROWS]][%[[R]], %[[N]]]
// CHECK: %[[ADDED:.*]] = arith.addf %[[ACC]], %[[V]]
// CHECK: %[[NEXT:.*]] = arith.select %[[MINE]], %[[ADDED]], %[[ACC]]
// CHECK: scf.yield %[[NEXT]]
// CHECK: memref.store %[[SUMS]], %[[O]][%[[TK]], %[[N]]]
// CHECK: } {mapping = [#gpu.block<x>]}
// CHECK: memref.dealloc %[[ROWS]]
// CHECK-NOT: moe.down_scatter_add
func.func @down_tokens(%h: memref<?x128xf32>, %off: memref<9xi32>, %d: memref<8x256x128xbf16>, %tok: memref<?xi32>,
                       %w: memref<?xf32>, %o: memref<?x256xf32>) {
  moe.down_scatter_add %h offsets(%off) weights(down %d) tokens(%tok) row_weight(%w) layout <rows> outs(%o)
      : (memref<?x128xf32>, memref<9xi32>, memref<8x256x128xbf16>, memref<?xi32>, memref<?xf32>, memref<?x256xf32>) -> ()
  return
}

// -----

// Tests that a down GEMM without tokens adds each row's result into its
// own output row in the epilogue (old + sum): no row buffer, no combine.
// CHECK-LABEL: func.func @down_rows
// CHECK-NOT: memref.alloc(%{{.*}}) : memref<?x200xf32>
// CHECK: scf.forall (%{{.*}}, %{{.*}}) in (%{{.*}}, %c4) {
// CHECK: linalg.matmul
// CHECK: ^bb0(%[[SUM:.*]]: f32, %[[OLD:.*]]: f32):
// CHECK-NEXT: %[[NEW:.*]] = arith.addf %[[OLD]], %[[SUM]] : f32
// CHECK-NEXT: linalg.yield %[[NEW]]
// CHECK: } {mapping = [#gpu.block<x>, #gpu.block<y>]}
// CHECK-NOT: scf.forall
func.func @down_rows(%h: memref<?x128xf32>, %d: memref<200x128xbf16>, %o: memref<?x200xf32>) {
  moe.down_scatter_add %h weights(down %d) layout <rows> outs(%o)
      : (memref<?x128xf32>, memref<200x128xbf16>, memref<?x200xf32>) -> ()
  return
}
