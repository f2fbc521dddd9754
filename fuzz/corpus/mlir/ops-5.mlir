func.func @stages(%x: tensor<?x32xf32>, %l: tensor<?x8xf32>, %b: tensor<8xf32>,
                  %g: tensor<8x16x32xf32>, %u: tensor<8x16x32xf32>,
                  %d: tensor<8x32x16xf32>, %sg: tensor<16x32xf32>,
                  %su: tensor<16x32xf32>, %sd: tensor<32x16xf32>,
                  %seg: tensor<1x32xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %w, %ids = moe.route %l bias(%b) {routing = #moe.routing<top_k = 2, scoring = sigmoid>}
      : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %rows, %tok, %rw, %off = moe.dispatch %x, %ids, %w
      {capacity = #moe.capacity<factor = 1.5>}
      : tensor<?x32xf32>, tensor<?x2xi32>, tensor<?x2xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>
  %out = moe.expert_mlp swiglu %rows offsets(%off) weights(gate %g, up %u, down %d)
      : (tensor<?x32xf32>, tensor<9xi32>, tensor<8x16x32xf32>,
         tensor<8x16x32xf32>, tensor<8x32x16xf32>) -> tensor<?x32xf32>
  %y = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x)
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>,
         tensor<?x32xf32>) -> tensor<?x32xf32>
  %s = moe.shared_mlp swiglu %x weights(gate %sg, up %su, down %sd) sigmoid_gate(%seg)
      : (tensor<?x32xf32>, tensor<16x32xf32>, tensor<16x32xf32>,
         tensor<32x16xf32>, tensor<1x32xf32>) -> tensor<?x32xf32>
  return %y, %s : tensor<?x32xf32>, tensor<?x32xf32>
}
