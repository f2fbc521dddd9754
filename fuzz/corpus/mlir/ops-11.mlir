func.func @num_workers() -> index {
  %n = moe.num_workers
  return %n : index
}
