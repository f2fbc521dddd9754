// RUN: not moe-opt %s -split-input-file 2>&1 | FileCheck %s
// RUN: not moe-opt %s.missing 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not moe-opt %s -split-input-file -moe-decompose 2>&1 | FileCheck %s

// Malformed input makes moe-opt fail with a located error and a non-zero
// exit (checked by `not`), never a crash; passes do not run on it.

// MISSING: moe-opt: error: {{.*}}errors.mlir.missing: cannot open: No such file or directory

// Tests that a syntax error names the file, line and column.
// CHECK: errors.mlir:[[@LINE+2]]:32: error: expected ')' to end operand list
func.func @syntax(%x: tensor<?x8xf32>) {
  %y = "moe.combine"(%x, %x, %x %x) : () -> ()
  return
}

// -----

// Tests that an unknown routing parameter is reported where it stands.
// CHECK: errors.mlir:[[@LINE+2]]:{{[0-9]+}}: error: {{.*}}top_kk
func.func @unknown_parameter(%l: tensor<?x4xf32>) {
  %w, %ids = moe.route %l {routing = #moe.routing<top_kk = 2>} : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Tests that a verifier error carries the op's location.
// CHECK: errors.mlir:[[@LINE+2]]:14: error: 'moe.route' op top_k (5) exceeds the number of experts (4)
func.func @verifier(%l: tensor<?x4xf32>) {
  %w, %ids = moe.route %l {routing = #moe.routing<top_k = 5>} : tensor<?x4xf32> -> tensor<?x5xf32>, tensor<?x5xi32>
  return
}

// -----

// Tests that an unknown enum keyword is rejected with its location.
// CHECK: errors.mlir:[[@LINE+2]]:23: error: {{.*}}Activation to be one of: swiglu, geglu, gelu, relu
func.func @unknown_activation(%r: tensor<?x8xf32>, %o: tensor<5xi32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) {
  %y = moe.expert_mlp swish %r offsets(%o) weights(up %u, down %d) : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<?x8xf32>
  return
}
