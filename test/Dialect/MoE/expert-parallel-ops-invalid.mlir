// RUN: moe-opt %s -split-input-file -verify-diagnostics

// Tests that a placement's table holds whole ranks of slots.
// expected-error @below {{placement 'table' must hold 'slots' (3) entries per rank, got 4}}
func.func @table_size() attributes {p = #moe.placement<experts = 4, slots = 3, table = [0, 1, 2, 3]>} { return }

// -----

// expected-error @below {{placement 'slots' must be in [1, 65536], got 0}}
func.func @slots() attributes {p = #moe.placement<experts = 4, slots = 0, table = [0, 1, 2, 3]>} { return }

// -----

// Tests that empty slots come last on a rank.
// expected-error @below {{placement 'table': rank 0 has an expert after an empty slot}}
func.func @gap() attributes {p = #moe.placement<experts = 3, slots = 2, table = [-1, 0, 1, 2]>} { return }

// -----

// Tests that every expert is placed, once per rank at most, in range.
// expected-error @below {{placement: expert 3 is on no rank}}
func.func @lost() attributes {p = #moe.placement<experts = 4, slots = 2, table = [0, 1, 2, -1]>} { return }

// -----

// expected-error @below {{placement: rank 1 holds expert 2 twice}}
func.func @twice() attributes {p = #moe.placement<experts = 3, slots = 2, table = [0, 1, 2, 2]>} { return }

// -----

// expected-error @below {{placement: rank 1: expert 5 is not in [0, 4)}}
func.func @range() attributes {p = #moe.placement<experts = 4, slots = 2, table = [0, 1, 2, 5]>} { return }

// -----

// expected-error @below {{placement: rank 1 holds no expert}}
func.func @empty_rank() attributes {p = #moe.placement<experts = 2, slots = 2, table = [0, 1, -1, -1]>} { return }

// -----

// Tests that the slots are the fullest rank's count.
// expected-error @below {{placement 'slots' is 3 but no rank fills more than 2}}
func.func @slack() attributes {p = #moe.placement<experts = 4, slots = 3, table = [0, 1, -1, 2, 3, -1]>} { return }

// -----

// Tests that the received order's offsets count the slots.
func.func @order(%counts: tensor<2x3xi32>) {
  // expected-error @below {{'offsets' slot count + 1 (dimension 0) is 3, expected 4}}
  %order, %off = moe.received_order %counts : tensor<2x3xi32> -> tensor<?xi32>, tensor<3xi32>
  return
}

// -----

func.func @order_dynamic(%counts: tensor<?x3xi32>) {
  // expected-error @below {{'counts' must have a static shape, got 'tensor<?x3xi32>'}}
  %order, %off = moe.received_order %counts : tensor<?x3xi32> -> tensor<?xi32>, tensor<4xi32>
  return
}

// -----

// Tests the exchange ops' operand checks.
func.func @counts_type(%sc: tensor<2x3xi32>, %init: tensor<3x2xi32>) {
  // expected-error @below {{'init' type 'tensor<3x2xi32>' differs from 'send_counts'}}
  %rc = moe.exchange_counts %sc, %init : (tensor<2x3xi32>, tensor<3x2xi32>) -> tensor<3x2xi32>
  return
}

// -----

func.func @counts_element(%sc: tensor<2x3xi64>, %init: tensor<2x3xi64>) {
  // expected-error @below {{'send_counts' must be a static [ranks, slots] of i32, got 'tensor<2x3xi64>'}}
  %rc = moe.exchange_counts %sc, %init : (tensor<2x3xi64>, tensor<2x3xi64>) -> tensor<2x3xi64>
  return
}

// -----

func.func @rows_width(%rows: tensor<?x16xf32>, %sc: tensor<2x3xi32>, %rc: tensor<2x3xi32>, %recv: tensor<?x8xf32>) {
  // expected-error @below {{'rows' 'tensor<?x16xf32>' and 'init' 'tensor<?x8xf32>' must be [rows, H] of one element type and a static H}}
  %r = moe.exchange_rows %rows, %sc, %rc, %recv : (tensor<?x16xf32>, tensor<2x3xi32>, tensor<2x3xi32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @mixed(%rows: tensor<?x16xf32>, %sc: tensor<2x3xi32>, %rc: tensor<2x3xi32>, %recv: memref<?x16xf32>) {
  // expected-error @below {{takes tensors or buffers, not both}}
  moe.exchange_rows %rows, %sc, %rc, %recv : (tensor<?x16xf32>, tensor<2x3xi32>, tensor<2x3xi32>, memref<?x16xf32>) -> ()
  return
}
