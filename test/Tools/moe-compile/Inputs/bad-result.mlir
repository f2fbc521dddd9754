func.func @bad_result(%x: tensor<?x8xf32>) -> tensor<?x8xf16> {
  %y = arith.truncf %x : tensor<?x8xf32> to tensor<?x8xf16>
  return %y : tensor<?x8xf16>
}
