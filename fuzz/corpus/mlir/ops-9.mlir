func.func @fused_experts(%x: tensor<?x32xf32>, %tok: tensor<?xi32>, %w: tensor<?xf32>,
                         %off: tensor<9xi32>, %g: tensor<8x16x32xf32>,
                         %u: tensor<8x16x32xf32>, %d: tensor<8x32x16xf32>,
                         %sg: tensor<24x32xf32>, %su: tensor<24x32xf32>,
                         %sd: tensor<32x24xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %y = moe.fused_experts swiglu %x tokens(%tok) weights(%w) offsets(%off)
      experts(gate %g, up %u, down %d) shared(gate %sg, up %su, down %sd)
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>,
         tensor<8x16x32xf32>, tensor<8x16x32xf32>, tensor<8x32x16xf32>,
         tensor<24x32xf32>, tensor<24x32xf32>, tensor<32x24xf32>) -> tensor<?x32xf32>
  %z = moe.fused_experts relu %x tokens(%tok) weights(%w) offsets(%off)
      experts(up %u, down %d) {scale_expert_input}
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<9xi32>,
         tensor<8x16x32xf32>, tensor<8x32x16xf32>) -> tensor<?x32xf32>
  return %y, %z : tensor<?x32xf32>, tensor<?x32xf32>
}
