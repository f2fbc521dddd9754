func.func private @helper(%x: tensor<?x8xf32>) -> tensor<?x8xf32>
