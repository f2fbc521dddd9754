/*===- run_layer.c - a C program running a compiled layer on a checkpoint -===*
 *
 * What the installed runtime gives a C program (moe/Runtime/moe_loader.h):
 * open a library from moe-compile, bind its weights from a safetensors
 * checkpoint, run it on TOKENS rows, print a checksum. The input is
 * x[t][h] = ((7t + 3h) mod 17 - 8) / 8, exact in float32, so that any
 * program can build the same one; the checksum is the sum of the outputs
 * in row-major order, in double. Built against an installed moec:
 *
 *   cc -std=c11 run_layer.c $(pkg-config --cflags --libs moec) -o run_layer
 *   ./run_layer layer.so weights.safetensors 37
 *===----------------------------------------------------------------------===*/

#include "moe/Runtime/moe_loader.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: run_layer LIB.so WEIGHTS.safetensors [TOKENS]\n");
    return 2;
  }
  long tokens = argc == 4 ? strtol(argv[3], NULL, 10) : 16;
  if (tokens < 1 || tokens > 65536) {
    fprintf(stderr, "run_layer: TOKENS must be in [1, 65536]\n");
    return 2;
  }
  char error[1024];
  moe_layer *layer = moe_layer_open(argv[1], NULL, argv[2], 0, error,
                                    sizeof error);
  if (!layer) {
    fprintf(stderr, "run_layer: %s\n", error);
    return 1;
  }
  int64_t hidden = moe_layer_hidden(layer);
  size_t count = (size_t)tokens * (size_t)hidden;
  float *input = malloc(count * sizeof(float));
  float *output = malloc(count * sizeof(float));
  if (!input || !output) {
    fprintf(stderr, "run_layer: out of memory\n");
    return 1;
  }
  for (long t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < hidden; ++h)
      input[t * hidden + h] = (float)((7 * t + 3 * h) % 17 - 8) / 8.0f;
  int status = 0;
  if (moe_layer_forward(layer, input, output, tokens, error, sizeof error)) {
    fprintf(stderr, "run_layer: %s\n", error);
    status = 1;
  } else {
    double checksum = 0;
    for (size_t i = 0; i < count; ++i)
      checksum += output[i];
    printf("entry %s: %ld tokens x %lld hidden, checksum %.17g\n",
           moe_layer_entry(layer), tokens, (long long)hidden, checksum);
  }
  free(input);
  free(output);
  moe_layer_close(layer);
  return status;
}
