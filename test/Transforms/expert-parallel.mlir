// RUN: moe-opt %s -split-input-file -moe-expert-parallel="ep-size=2" | FileCheck %s

// Tests that ep-size=2 on 8 experts gives each rank 4 contiguous experts:
// the weights become [4,...] with the placement for the loader; routed
// experts map to physical ones, the dispatch sorts by (rank, slot), the
// rows go out by its counts, the local experts run on the received rows in
// slot order, and the results come back (the returning exchange) in the
// dispatch's order for the combine.
// CHECK-LABEL: func.func @mixtral
// CHECK-SAME: %[[X:[^:]*]]: tensor<?x64xf32>
// CHECK-SAME: %[[G:[^:]*]]: tensor<4x128x64xf32> {moe.placement = #moe.placement<experts = 8, slots = 4, table = [0, 1, 2, 3, 4, 5, 6, 7]>, moe.weight = "e.{e}.w1"}
// CHECK-SAME: %[[U:[^:]*]]: tensor<4x128x64xf32> {moe.placement = #moe.placement<experts = 8, slots = 4, table = [0, 1, 2, 3, 4, 5, 6, 7]>, moe.weight = "e.{e}.w3"}
// CHECK-SAME: %[[D:[^:]*]]: tensor<4x64x128xf32> {moe.placement = #moe.placement<experts = 8, slots = 4, table = [0, 1, 2, 3, 4, 5, 6, 7]>, moe.weight = "e.{e}.w2"}
// CHECK-SAME: attributes {moe.ep_size = 2 : i64}
// CHECK: %[[W:.*]], %[[IDS:.*]] = moe.route
// CHECK: %[[RANK:.*]] = moe.rank
// CHECK: %[[P:.*]] = moe.place %[[IDS]] rank(%[[RANK]]) {placement = #moe.placement<experts = 8, slots = 4, table = [0, 1, 2, 3, 4, 5, 6, 7]>} : tensor<?x2xi32>
// CHECK: %[[ROWS:.*]], %[[TOK:.*]], %[[RW:.*]], %[[OFF:.*]] = moe.dispatch %[[X]], %[[P]], %[[W]] : {{.*}} -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
// CHECK: %[[SC:.*]] = tensor.generate
// CHECK: tensor.extract %[[OFF]]
// CHECK: } : tensor<2x4xi32>
// CHECK: %[[IN:.*]], %[[RC:.*]] = moe.all_to_all %[[ROWS]], %[[SC]] : tensor<?x64xf32>, tensor<2x4xi32>
// CHECK: %[[ORDER:.*]], %[[LOFF:.*]] = moe.received_order %[[RC]] : tensor<2x4xi32> -> tensor<?xi32>, tensor<5xi32>
// CHECK: %[[E:.*]] = moe.fused_experts swiglu %[[IN]] tokens(%[[ORDER]]) offsets(%[[LOFF]]) experts(gate %[[G]], up %[[U]], down %[[D]])
// CHECK: %[[BACK:.*]], %{{.*}} = moe.all_to_all %[[E]], %[[RC]] {returning} : tensor<?x64xf32>, tensor<2x4xi32>
// CHECK: moe.combine %[[BACK]] tokens(%[[TOK]]) weights(%[[RW]]) offsets(%[[OFF]]) input(%[[X]])
// CHECK-NOT: moe.expert_mlp
func.func @mixtral(%x: tensor<?x64xf32>, %logits: tensor<?x8xf32>,
    %g: tensor<8x128x64xf32> {moe.weight = "e.{e}.w1"},
    %u: tensor<8x128x64xf32> {moe.weight = "e.{e}.w3"},
    %d: tensor<8x64x128xf32> {moe.weight = "e.{e}.w2"}) -> tensor<?x64xf32> {
  %w, %ids = moe.route %logits {routing = #moe.routing<top_k = 2, renormalize = true>} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Tests that with the routing weight on the expert input (Llama 4) the
// weights travel with the rows, as rows of width one, are put in the
// expert op's row order, and scale the received rows' input; the combine
// stays unweighted. A source shape (the checkpoint's view) of per-expert
// tensors leads with the slots; one tensor of all experts (Llama 4's
// fused experts, no "{e}") keeps all of them, and the loader picks the
// rank's rows.
// CHECK-LABEL: func.func @llama4
// CHECK-SAME: moe.weight_source_shape = array<i64: 2, 64, 64>
// CHECK-SAME: tensor<2x64x32xf32> {moe.placement = {{.*}}, moe.weight = "e.down_all", moe.weight_source_shape = array<i64: 4, 64, 32>}
// CHECK: %[[ROWS:.*]], %[[TOK:.*]], %[[RW:.*]], %[[OFF:.*]] = moe.dispatch
// CHECK: %[[IN:.*]], %[[RC:.*]] = moe.all_to_all %[[ROWS]], %[[SC:[^ ]*]] :
// CHECK: %[[WIDE:.*]] = tensor.expand_shape %[[RW]] {{\[\[}}0, 1]] output_shape [%{{.*}}, 1] : tensor<?xf32> into tensor<?x1xf32>
// CHECK: %[[SCALE:.*]], %{{.*}} = moe.all_to_all %[[WIDE]], %[[SC]] : tensor<?x1xf32>, tensor<2x2xi32>
// CHECK: %[[S:.*]] = tensor.collapse_shape %[[SCALE]]
// CHECK: %[[ORDER:.*]], %[[LOFF:.*]] = moe.received_order %[[RC]]
// CHECK: %[[SORTED:.*]] = tensor.generate
// CHECK: %[[ROW:.*]] = tensor.extract %[[ORDER]]
// CHECK: tensor.extract %[[S]]
// CHECK: moe.fused_experts swiglu %[[IN]] tokens(%[[ORDER]]) weights(%[[SORTED]]) offsets(%[[LOFF]]) {{.*}} {scale_expert_input}
// CHECK: moe.combine %{{.*}} tokens(%[[TOK]]) offsets(%[[OFF]]) input
func.func @llama4(%x: tensor<?x64xf32>, %logits: tensor<?x4xf32>,
    %g: tensor<4x32x64xf32> {moe.weight = "e.{e}.gate_up", moe.weight_source_shape = array<i64: 4, 64, 64>, moe.weight_slice = array<i64: 1, 0, 32>},
    %u: tensor<4x32x64xf32> {moe.weight = "e.{e}.gate_up2"},
    %d: tensor<4x64x32xf32> {moe.weight = "e.down_all"}) -> tensor<?x64xf32> {
  %w, %ids = moe.route %logits {routing = #moe.routing<top_k = 1, scoring = sigmoid, select_on = logits>} : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w : tensor<?x64xf32>, tensor<?x1xi32>, tensor<?x1xf32> -> tensor<?x64xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d) scale(%rw) : (tensor<?x64xf32>, tensor<5xi32>, tensor<4x32x64xf32>, tensor<4x32x64xf32>, tensor<4x64x32xf32>, tensor<?xf32>) -> tensor<?x64xf32>
  %y = moe.combine %out tokens(%tok) offsets(%off) input(%x) : (tensor<?x64xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
