// RUN: moe-opt %s -split-input-file -moe-phase-marks | FileCheck %s

// Tests that a fused layer gets a mark before its dispatch (phase 1, the
// exchange's slot), its fused experts (2), and the first op after them
// (the combine, 4), and that the runtime function is declared once.
// CHECK-LABEL: func.func private @moe_rt_phase_mark(i32)
// CHECK-LABEL: func.func @fused
// CHECK: %[[C1:.*]] = arith.constant 1 : i32
// CHECK-NEXT: call @moe_rt_phase_mark(%[[C1]]) : (i32) -> ()
// CHECK-NEXT: moe.dispatch
// CHECK-NEXT: %[[C2:.*]] = arith.constant 2 : i32
// CHECK-NEXT: call @moe_rt_phase_mark(%[[C2]]) : (i32) -> ()
// CHECK-NEXT: %[[Y:.*]] = moe.fused_experts
// CHECK-NEXT: %[[C4:.*]] = arith.constant 4 : i32
// CHECK-NEXT: call @moe_rt_phase_mark(%[[C4]]) : (i32) -> ()
// CHECK-NEXT: return %[[Y]]
// CHECK-NOT: func.func private @moe_rt_phase_mark
func.func @fused(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                 %g: tensor<8x128x64xf32>, %u: tensor<8x128x64xf32>, %d: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %y = moe.fused_experts swiglu %x tokens(%tok) weights(%rw) offsets(%off) experts(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// Tests that a second function of the module gets its own marks (the
// declaration is shared).
// CHECK-LABEL: func.func @unfused
// CHECK: call @moe_rt_phase_mark(%{{.*}}) : (i32) -> ()
// CHECK-NEXT: moe.dispatch
// CHECK: call @moe_rt_phase_mark(%{{.*}}) : (i32) -> ()
// CHECK-NEXT: moe.expert_mlp
// CHECK: call @moe_rt_phase_mark(%{{.*}}) : (i32) -> ()
// CHECK-NEXT: moe.combine
func.func @unfused(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>,
                   %g: tensor<8x128x64xf32>, %u: tensor<8x128x64xf32>, %d: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that a function of expert parallelism (its exchanges time it), a
// private function and one without a layer's phases get no marks and no
// declaration.
// CHECK-LABEL: func.func @parallel
// CHECK-NOT: moe_rt_phase_mark
// CHECK-LABEL: func.func private @helper
// CHECK-NOT: moe_rt_phase_mark
// CHECK-LABEL: func.func @plain
// CHECK-NOT: moe_rt_phase_mark
func.func @parallel(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) -> tensor<?x64xf32> attributes {moe.ep_size = 2 : i64} {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %rows : tensor<?x64xf32>
}
func.func private @helper(%x: tensor<?x64xf32>, %ids: tensor<?x2xi32>, %w: tensor<?x2xf32>) -> tensor<?x64xf32> {
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  return %rows : tensor<?x64xf32>
}
func.func @plain(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  return %x : tensor<?x64xf32>
}
