/*===- run_entry.c - a C program calling a compiled entry directly --------===*
 *
 * What the ABI v3 functions of moe_runtime.h ask of a C program with its
 * own weights (no loader, no checkpoint): open the library, fill a context,
 * describe each weight buffer, init, forward, destroy. Built against
 * test/Tools/moe-run/Inputs/tiny.mlir (hidden 8, 4 experts, F 6, f32
 * panels of 32): its slots are the router [4, 8] and the gate, up and down
 * panels [4, 1, 8, 32], [4, 1, 8, 32], [4, 1, 6, 32]. With all-zero
 * weights every output is 0. It then gives init a bf16 router, which init
 * refuses with MOE_STATUS_WEIGHT_DTYPE.
 *
 *   cc -std=c11 -I include examples/c/run_entry.c -ldl -o run_entry
 *   ./run_entry tiny.so tiny
 *===----------------------------------------------------------------------===*/

#include "moe/Runtime/moe_runtime.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *symbol(void *library, const char *entry, const char *suffix) {
  char name[256];
  snprintf(name, sizeof name, "%s%s%s", MOE_ENTRY_SYMBOL_PREFIX, entry,
           suffix);
  void *function = dlsym(library, name);
  if (!function)
    fprintf(stderr, "no symbol %s\n", name);
  return function;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: run_entry LIB.so ENTRY\n");
    return 2;
  }
  void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  moe_entry_init_fn init =
      (moe_entry_init_fn)symbol(library, argv[2], MOE_ENTRY_INIT_SUFFIX);
  moe_entry_forward_fn forward =
      (moe_entry_forward_fn)symbol(library, argv[2], MOE_ENTRY_FORWARD_SUFFIX);
  moe_entry_destroy_fn destroy =
      (moe_entry_destroy_fn)symbol(library, argv[2], MOE_ENTRY_DESTROY_SUFFIX);
  if (!init || !forward || !destroy)
    return 1;

  static const int64_t shapes[4][4] = {
      {4, 8}, {4, 1, 8, 32}, {4, 1, 8, 32}, {4, 1, 6, 32}};
  static const int32_t ranks[4] = {2, 4, 4, 4};
  moe_weight_buffer weights[4];
  for (int i = 0; i < 4; ++i) {
    size_t count = 1;
    memset(&weights[i], 0, sizeof weights[i]);
    weights[i].dtype = MOE_DTYPE_F32;
    weights[i].rank = ranks[i];
    for (int d = 0; d < ranks[i]; ++d) {
      weights[i].shape[d] = shapes[i][d];
      count *= (size_t)shapes[i][d];
    }
    weights[i].data = calloc(count, sizeof(float));
  }

  moe_context context;
  moe_context_init_cpu(&context);
  context.num_threads = 1;
  void *state = NULL;
  int32_t status = init(&context, weights, 4, &state);
  printf("init: %s\n", moe_status_string(status));
  if (status != MOE_STATUS_OK)
    return 1;

  float input[3 * 8], output[3 * 8];
  for (int i = 0; i < 3 * 8; ++i) {
    input[i] = (float)i / 8.0f;
    output[i] = -1.0f;
  }
  moe_forward_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.input = input;
  args.output = output;
  args.tokens = 3;
  status = forward(state, &args);
  float largest = 0.0f;
  for (int i = 0; i < 3 * 8; ++i) {
    float magnitude = output[i] < 0 ? -output[i] : output[i];
    if (magnitude > largest)
      largest = magnitude;
  }
  printf("forward: %s, max |y| %g\n", moe_status_string(status), largest);
  destroy(state);

  weights[0].dtype = MOE_DTYPE_BF16;
  state = NULL;
  status = init(&context, weights, 4, &state);
  printf("bf16 router: status %d, %s, state %s\n", (int)status,
         moe_status_string(status), state ? "set" : "NULL");
  for (int i = 0; i < 4; ++i)
    free((void *)weights[i].data);
  dlclose(library);
  return status == MOE_STATUS_WEIGHT_DTYPE ? 0 : 1;
}
