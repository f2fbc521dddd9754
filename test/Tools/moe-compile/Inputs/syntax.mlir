func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  return %x tensor<?x8xf32>
}
