// RUN: moe-opt %s -one-shot-bufferize="bufferize-function-boundaries" -cse -canonicalize -split-input-file | FileCheck %s

// Tests that the kernel-level ops bufferize in place on slices of their
// destinations: gather_gate_up overwrites its init (no copy of the
// uninitialised tensor), down_scatter_add accumulates into the output
// (the copy back into the same slice folds away).
// CHECK-LABEL: func.func @in_place
// CHECK-SAME: (%[[X:.*]]: memref<?x64xf32, strided<[?, ?], offset: ?>>, %[[TOK:.*]]: memref<?xi32, strided<[?], offset: ?>>, %[[U:.*]]: memref<16x64xf32, strided<[?, ?], offset: ?>>, %[[D:.*]]: memref<64x16xf32, strided<[?, ?], offset: ?>>, %[[OUT:.*]]: memref<?x64xf32, strided<[?, ?], offset: ?>>)
// CHECK: %[[ACT:.*]] = memref.alloc(%{{.*}}) {{.*}} : memref<?x16xf32>
// CHECK-NOT: memref.copy
// CHECK: moe.gather_gate_up relu %[[X]] tokens(%[[TOK]]) weights(up %[[U]]) layout <rows> outs(%[[ACT]]) : ({{.*}}) -> ()
// CHECK: %[[HALF:.*]] = memref.subview %[[OUT]][0, 0] [%{{.*}}, 32] [1, 1]
// CHECK: %[[DHALF:.*]] = memref.subview %[[D]][0, 0] [32, 16] [1, 1]
// CHECK: moe.down_scatter_add %[[ACT]] weights(down %[[DHALF]]) tokens(%[[TOK]]) layout <rows> outs(%[[HALF]]) : ({{.*}}) -> ()
// CHECK-NOT: memref.copy
// CHECK: return %[[OUT]]
func.func @in_place(%x: tensor<?x64xf32>, %tok: tensor<?xi32>, %u: tensor<16x64xf32>,
                    %d: tensor<64x16xf32>, %out: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %tok, %c0 : tensor<?xi32>
  %t = tensor.dim %out, %c0 : tensor<?x64xf32>
  %empty = tensor.empty(%n) : tensor<?x16xf32>
  %act = moe.gather_gate_up relu %x tokens(%tok) weights(up %u) layout <rows> outs(%empty)
      : (tensor<?x64xf32>, tensor<?xi32>, tensor<16x64xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  %half = tensor.extract_slice %out[0, 0] [%t, 32] [1, 1] : tensor<?x64xf32> to tensor<?x32xf32>
  %dhalf = tensor.extract_slice %d[0, 0] [32, 16] [1, 1] : tensor<64x16xf32> to tensor<32x16xf32>
  %sum = moe.down_scatter_add %act weights(down %dhalf) tokens(%tok) layout <rows> outs(%half)
      : (tensor<?x16xf32>, tensor<32x16xf32>, tensor<?xi32>, tensor<?x32xf32>) -> tensor<?x32xf32>
  %y = tensor.insert_slice %sum into %out[0, 0] [%t, 32] [1, 1] : tensor<?x32xf32> into tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
