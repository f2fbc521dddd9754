module {
  func.func @layer(%arg0: tensor<?x2048xf32>, %arg1: tensor<?x64xf32>, %arg2: tensor<8x1408x2048xf32> {moe.placement = #moe.placement<experts = 64, slots = 8, table = [0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57, 2, 10, 18, 26, 34, 42, 50, 58, 3, 11, 19, 27, 35, 43, 51, 59, 4, 12, 20, 28, 36, 44, 52, 60, 5, 13, 21, 29, 37, 45, 53, 61, 6, 14, 22, 30, 38, 46, 54, 62, 7, 15, 23, 31, 39, 47, 55, 63]>, moe.weight = "e.{e}.w1"}, %arg3: tensor<8x1408x2048xf32> {moe.placement = #moe.placement<experts = 64, slots = 8, table = [0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57, 2, 10, 18, 26, 34, 42, 50, 58, 3, 11, 19, 27, 35, 43, 51, 59, 4, 12, 20, 28, 36, 44, 52, 60, 5, 13, 21, 29, 37, 45, 53, 61, 6, 14, 22, 30, 38, 46, 54, 62, 7, 15, 23, 31, 39, 47, 55, 63]>, moe.weight = "e.{e}.w3"}, %arg4: tensor<8x2048x1408xf32> {moe.placement = #moe.placement<experts = 64, slots = 8, table = [0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57, 2, 10, 18, 26, 34, 42, 50, 58, 3, 11, 19, 27, 35, 43, 51, 59, 4, 12, 20, 28, 36, 44, 52, 60, 5, 13, 21, 29, 37, 45, 53, 61, 6, 14, 22, 30, 38, 46, 54, 62, 7, 15, 23, 31, 39, 47, 55, 63]>, moe.weight = "e.{e}.w2"}) -> tensor<?x2048xf32> attributes {moe.ep_size = 8 : i64} {
    %weights, %experts = moe.route %arg1 {routing = #moe.routing<top_k = 6, renormalize = true>} : tensor<?x64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
    %0 = moe.rank
    %1 = moe.place %experts rank(%0) {placement = #moe.placement<experts = 64, slots = 8, table = [0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57, 2, 10, 18, 26, 34, 42, 50, 58, 3, 11, 19, 27, 35, 43, 51, 59, 4, 12, 20, 28, 36, 44, 52, 60, 5, 13, 21, 29, 37, 45, 53, 61, 6, 14, 22, 30, 38, 46, 54, 62, 7, 15, 23, 31, 39, 47, 55, 63]>} : tensor<?x6xi32>
    %rows, %row_token, %row_weight, %expert_offsets = moe.dispatch %arg0, %1, %weights : tensor<?x2048xf32>, tensor<?x6xi32>, tensor<?x6xf32> -> tensor<?x2048xf32>, tensor<?xi32>, tensor<?xf32>, tensor<65xi32>
    %generated = tensor.generate  {
    ^bb0(%arg5: index, %arg6: index):
      %c8 = arith.constant 8 : index
      %c1 = arith.constant 1 : index
      %4 = arith.muli %arg5, %c8 : index
      %5 = arith.addi %4, %arg6 : index
      %6 = arith.addi %5, %c1 : index
      %extracted = tensor.extract %expert_offsets[%6] : tensor<65xi32>
      %extracted_2 = tensor.extract %expert_offsets[%5] : tensor<65xi32>
      %7 = arith.subi %extracted, %extracted_2 : i32
      tensor.yield %7 : i32
    } : tensor<8x8xi32>
    %received_rows, %received_counts = moe.all_to_all %rows, %generated : tensor<?x2048xf32>, tensor<8x8xi32>
    %order, %offsets = moe.received_order %received_counts : tensor<8x8xi32> -> tensor<?xi32>, tensor<9xi32>
    %2 = moe.fused_experts  swiglu %received_rows tokens(%order) offsets(%offsets) experts(gate %arg2, up %arg3, down %arg4) : (tensor<?x2048xf32>, tensor<?xi32>, tensor<9xi32>, tensor<8x1408x2048xf32>, tensor<8x1408x2048xf32>, tensor<8x2048x1408xf32>) -> tensor<?x2048xf32>
    %received_rows_0, %received_counts_1 = moe.all_to_all %2, %received_counts {returning} : tensor<?x2048xf32>, tensor<8x8xi32>
    %3 = moe.combine %received_rows_0 tokens(%row_token) weights(%row_weight) offsets(%expert_offsets) input(%arg0) : (tensor<?x2048xf32>, tensor<?xi32>, tensor<?xf32>, tensor<65xi32>, tensor<?x2048xf32>) -> tensor<?x2048xf32>
    return %3 : tensor<?x2048xf32>
  }
}

