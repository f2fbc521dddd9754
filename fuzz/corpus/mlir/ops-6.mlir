func.func @expert_choice_stages(%x: tensor<?x32xf32>, %l: tensor<?x4xf32>,
                                %u: tensor<4x16x32xf32>, %d: tensor<4x32x16xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %rows, %tok, %rw, %off = moe.expert_choice %x, %l
      {routing = #moe.expert_choice<capacity_factor = 1.0>}
      : tensor<?x32xf32>, tensor<?x4xf32>
      -> tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>
  %out = moe.expert_mlp relu %rows offsets(%off) weights(up %u, down %d) scale(%rw)
      : (tensor<?x32xf32>, tensor<5xi32>, tensor<4x16x32xf32>,
         tensor<4x32x16xf32>, tensor<?xf32>) -> tensor<?x32xf32>
  %y = moe.combine %out tokens(%tok) offsets(%off) input(%x)
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<5xi32>, tensor<?x32xf32>)
      -> tensor<?x32xf32>
  %z = moe.combine %out tokens(%tok) weights(%rw) offsets(%off) input(%x)
      {dropped = #moe<dropped input>}
      : (tensor<?x32xf32>, tensor<?xi32>, tensor<?xf32>, tensor<5xi32>,
         tensor<?x32xf32>) -> tensor<?x32xf32>
  return %y, %z : tensor<?x32xf32>, tensor<?x32xf32>
}
