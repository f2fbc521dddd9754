// RUN: moe-opt %s -split-input-file -moe-schedule-comm="chunks=2" | FileCheck %s
// RUN: moe-opt %s -split-input-file -moe-schedule-comm="chunks=3" | FileCheck %s --check-prefix=THREE
// RUN: moe-opt %s -split-input-file -moe-schedule-comm="chunks=1" | FileCheck %s --check-prefix=ONE

// Tests that the block moe-expert-parallel makes is cloned per chunk of
// the rank's tokens (the first T mod C one longer: count = T/C + (c < T mod
// C), first = c·(T/C) + min(c, T mod C)) and pipelined: both dispatches,
// then chunk 0's rows out and in, chunk 1's rows out while chunk 0's
// experts compute, chunk 0's results back while chunk 1 computes; each
// combine's output goes into its tokens of the result. chunks=1 leaves the
// function alone.
// CHECK-LABEL: func.func @layer
// CHECK-SAME: (%[[X:[^:]*]]: tensor<?x64xf32>, %[[P:[^:]*]]: tensor<?x2xi32>, %[[W:[^:]*]]: tensor<?x2xf32>
// CHECK: %[[T:.*]] = tensor.dim %[[X]], %c0
// CHECK: %[[BASE:.*]] = arith.divui %[[T]], %c2
// CHECK: %[[EXTRA:.*]] = arith.remui %[[T]], %c2
// CHECK: %[[X0:.*]] = tensor.extract_slice %[[X]][%[[F0:.*]], 0] [%[[N0:.*]], 64] [1, 1]
// CHECK: %[[P0:.*]] = tensor.extract_slice %[[P]][%[[F0]], 0] [%[[N0]], 2] [1, 1]
// CHECK: %[[W0:.*]] = tensor.extract_slice %[[W]][%[[F0]], 0] [%[[N0]], 2] [1, 1]
// CHECK: %[[X1:.*]] = tensor.extract_slice %[[X]][%[[F1:.*]], 0] [%[[N1:.*]], 64] [1, 1]
// CHECK: %[[R0:.*]], %[[TOK0:.*]], %[[RW0:.*]], %[[OFF0:.*]] = moe.dispatch %[[X0]], %[[P0]], %[[W0]]
// CHECK: %[[SC0:.*]] = tensor.generate
// CHECK: %[[R1:.*]], %[[TOK1:.*]], %[[RW1:.*]], %[[OFF1:.*]] = moe.dispatch %[[X1]]
// CHECK: %[[SC1:.*]] = tensor.generate
// CHECK: %[[H0:.*]] = moe.all_to_all_start %[[R0]], %[[SC0]]
// CHECK: %[[IN0:.*]], %[[RC0:.*]] = moe.all_to_all_wait %[[H0]]
// CHECK: %[[H1:.*]] = moe.all_to_all_start %[[R1]], %[[SC1]]
// CHECK: moe.received_order %[[RC0]]
// CHECK: %[[E0:.*]] = moe.fused_experts swiglu %[[IN0]]
// CHECK: %[[B0:.*]] = moe.all_to_all_start %[[E0]], %[[RC0]]
// CHECK: %[[IN1:.*]], %[[RC1:.*]] = moe.all_to_all_wait %[[H1]]
// CHECK: %[[E1:.*]] = moe.fused_experts swiglu %[[IN1]]
// CHECK: %[[B1:.*]] = moe.all_to_all_start %[[E1]], %[[RC1]]
// CHECK: %[[BACK0:.*]], %{{.*}} = moe.all_to_all_wait %[[B0]]
// CHECK: %[[Y0:.*]] = moe.combine %[[BACK0]] tokens(%[[TOK0]]) weights(%[[RW0]]) offsets(%[[OFF0]]) input(%[[X0]])
// CHECK: %[[BACK1:.*]], %{{.*}} = moe.all_to_all_wait %[[B1]]
// CHECK: %[[Y1:.*]] = moe.combine %[[BACK1]] tokens(%[[TOK1]]) weights(%[[RW1]]) offsets(%[[OFF1]]) input(%[[X1]])
// CHECK: %[[OUT:.*]] = tensor.empty(%{{.*}}) : tensor<?x64xf32>
// CHECK: %[[S0:.*]] = tensor.insert_slice %[[Y0]] into %[[OUT]][%[[F0]], 0] [%[[N0]], 64] [1, 1]
// CHECK: %[[S1:.*]] = tensor.insert_slice %[[Y1]] into %[[S0]][%[[F1]], 0] [%[[N1]], 64] [1, 1]
// CHECK: %[[Z:.*]] = arith.addf %[[S1]], %[[X]]
// CHECK: return %[[Z]]
// THREE-LABEL: func.func @layer
// THREE-COUNT-6: moe.all_to_all_start
// THREE-COUNT-3: moe.combine
// ONE-LABEL: func.func @layer
// ONE-NOT: moe.all_to_all_start
func.func @layer(%x: tensor<?x64xf32>, %p: tensor<?x2xi32>, %w: tensor<?x2xf32>,
    %g: tensor<4x128x64xf32>, %u: tensor<4x128x64xf32>, %d: tensor<4x64x128xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %p, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %sc = tensor.generate {
  ^bb0(%n: index, %s: index):
    %c4 = arith.constant 4 : index
    %c1 = arith.constant 1 : index
    %i = arith.muli %n, %c4 : index
    %j = arith.addi %i, %s : index
    %k = arith.addi %j, %c1 : index
    %hi = tensor.extract %off[%k] : tensor<9xi32>
    %lo = tensor.extract %off[%j] : tensor<9xi32>
    %v = arith.subi %hi, %lo : i32
    tensor.yield %v : i32
  } : tensor<2x4xi32>
  %in, %rc = moe.all_to_all %rows, %sc : tensor<?x64xf32>, tensor<2x4xi32>
  %order, %loff = moe.received_order %rc : tensor<2x4xi32> -> tensor<?xi32>, tensor<5xi32>
  %e = moe.fused_experts swiglu %in tokens(%order) offsets(%loff) experts(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<?xi32>, tensor<5xi32>, tensor<4x128x64xf32>, tensor<4x128x64xf32>, tensor<4x64x128xf32>) -> tensor<?x64xf32>
  %back, %c = moe.all_to_all %e, %rc : tensor<?x64xf32>, tensor<2x4xi32>
  %y = moe.combine %back tokens(%tok) weights(%rw) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %z = arith.addf %y, %x : tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}

// -----

// Tests that a combine not fed by an expert-parallel block is left alone.
// CHECK-LABEL: func.func @single_process
// CHECK: moe.combine
// CHECK-NOT: all_to_all_start
func.func @single_process(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>,
    %g: tensor<8x128x64xf32>, %u: tensor<8x128x64xf32>, %d: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
