// RUN: not moe-opt %s -moe-cuda-tile-grouped-gemm="tile-rows=0" 2>&1 | FileCheck %s

// Tests that a tile shape that is not positive is refused with a message
// naming the options.
// CHECK: moe-cuda-tile-grouped-gemm: tile-rows and tile-columns must be positive (got 0x128)
func.func @any(%h: memref<?x64xf32>, %d: memref<32x64xbf16>, %o: memref<?x32xf32>) {
  moe.down_scatter_add %h weights(down %d) layout <rows> outs(%o)
      : (memref<?x64xf32>, memref<32x64xbf16>, memref<?x32xf32>) -> ()
  return
}
