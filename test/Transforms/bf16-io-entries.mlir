// RUN: moe-opt %s -split-input-file -verify-diagnostics -moe-bf16-io-entries | FileCheck %s
// RUN: moe-opt %s -split-input-file -verify-diagnostics -moe-bf16-io-entries=expand-bf16 | FileCheck %s --check-prefix=EXPAND

// Tests that a bufferized entry point gets a private bf16 twin with its
// arguments (the input as bf16, the weights as they are): the input widened
// into a new buffer in a linalg.generic of arith.extf, the f32 entry called
// (not copied), the widened buffer freed, the result narrowed into a new
// buffer in a linalg.generic of arith.truncf and the f32 result freed.
// CHECK-LABEL: func.func @layer(
// CHECK-LABEL: func.func private @layer_bf16_io(
// CHECK-SAME: %[[W:.*]]: memref<4x8xbf16>, %[[X:.*]]: memref<?x8xbf16>) -> memref<?x8xbf16>
// CHECK-SAME: attributes {llvm.emit_c_interface, moe.bf16_io_of = "layer"}
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[N:.*]] = memref.dim %[[X]], %[[C0]]
// CHECK: %[[WIDE:.*]] = memref.alloc(%[[N]]) : memref<?x8xf32>
// CHECK: linalg.generic {{.*}} ins(%[[X]] : memref<?x8xbf16>) outs(%[[WIDE]] : memref<?x8xf32>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: %[[Y:.*]] = call @layer(%[[W]], %[[WIDE]]) : (memref<4x8xbf16>, memref<?x8xf32>) -> memref<?x8xf32>
// CHECK: memref.dealloc %[[WIDE]] : memref<?x8xf32>
// CHECK: %[[NARROW:.*]] = memref.alloc(%{{.*}}) : memref<?x8xbf16>
// CHECK: linalg.generic {{.*}} ins(%[[Y]] : memref<?x8xf32>) outs(%[[NARROW]] : memref<?x8xbf16>)
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: memref.dealloc %[[Y]] : memref<?x8xf32>
// CHECK: return %[[NARROW]] : memref<?x8xbf16>
// CHECK-NOT: func.func
func.func @layer(%w: memref<4x8xbf16>, %x: memref<?x8xf32>) -> memref<?x8xf32> {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %y = memref.alloc(%n) : memref<?x8xf32>
  memref.copy %x, %y : memref<?x8xf32> to memref<?x8xf32>
  return %y : memref<?x8xf32>
}

// -----

// Tests that a routing-statistics entry's twin widens the input but returns
// the f32 statistics as they are (the caller frees them), and that private
// functions, public ones without an activation input and inputs with a
// layout get no twin.
// CHECK-LABEL: func.func @stats(
// CHECK-LABEL: func.func private @stats_bf16_io(
// CHECK-SAME: %[[X:.*]]: memref<?x8xbf16>) -> memref<6xf32>
// CHECK: %[[WIDE:.*]] = memref.alloc
// CHECK: linalg.generic
// CHECK: %[[S:.*]] = call @stats(%[[WIDE]])
// CHECK: memref.dealloc %[[WIDE]]
// CHECK-NOT: arith.truncf
// CHECK-NOT: memref.dealloc
// CHECK: return %[[S]] : memref<6xf32>
// CHECK-NOT: {{@helper_bf16_io|@no_activation_bf16_io|@strided_bf16_io}}
func.func @stats(%x: memref<?x8xf32>) -> memref<6xf32> {
  %s = memref.alloc() : memref<6xf32>
  return %s : memref<6xf32>
}
func.func private @helper(%x: memref<?x8xf32>) -> memref<?x8xf32> {
  return %x : memref<?x8xf32>
}
func.func @no_activation(%x: memref<4x8xf32>) -> memref<4x8xf32> {
  return %x : memref<4x8xf32>
}
func.func @strided(%x: memref<?x8xf32, strided<[16, 1]>>) -> memref<6xf32> {
  %s = memref.alloc() : memref<6xf32>
  return %s : memref<6xf32>
}

// -----

// Tests that a twin name already taken is an error, not a second symbol.
// expected-error @+1 {{moe-bf16-io-entries: the bf16 twin's name @layer_bf16_io is taken}}
func.func @layer(%x: memref<?x8xf32>) -> memref<?x8xf32> {
  return %x : memref<?x8xf32>
}
func.func private @layer_bf16_io(%x: memref<?x8xf32>) -> memref<?x8xf32> {
  return %x : memref<?x8xf32>
}

// -----

// Tests that expand-bf16 turns the twin's conversions into integer
// arithmetic (the CPU's form: no __truncsfbf2 call) and leaves the entry.
// EXPAND-LABEL: func.func @expanded(
// EXPAND: arith.addf
// EXPAND-LABEL: func.func private @expanded_bf16_io(
// EXPAND: linalg.generic
// EXPAND: arith.bitcast %{{.*}} : bf16 to i16
// EXPAND: arith.shli
// EXPAND: call @expanded(
// EXPAND: linalg.generic
// EXPAND: arith.bitcast %{{.*}} : f32 to i32
// EXPAND: arith.shrui
// EXPAND: arith.bitcast %{{.*}} : i16 to bf16
// EXPAND-NOT: arith.truncf
// EXPAND-NOT: arith.extf
func.func @expanded(%x: memref<?x8xf32>) -> memref<?x8xf32> {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x8xf32>
  %y = memref.alloc(%n) : memref<?x8xf32>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<?x8xf32>) outs(%y : memref<?x8xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  }
  return %y : memref<?x8xf32>
}
