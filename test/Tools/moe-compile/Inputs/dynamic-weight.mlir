func.func @dynamic_weight(%x: tensor<?x8xf32>, %w: tensor<4x?xf32>) -> tensor<?x8xf32> {
  return %x : tensor<?x8xf32>
}
