/*===- moe_loader.h - the loader for C programs ---------------------------===*
 *
 * The loader of moe/Runtime/Loader.h behind a C interface: open a library
 * compiled by moe-compile, bind one forward entry's weights by name from a
 * safetensors checkpoint (a file or a shard index), run it on float32 rows,
 * close. A C program gets what moe-run does without rewriting the loader
 * (stacking per-expert tensors, converting and packing, dequantising FP8
 * and MXFP4). Link the runtime: `pkg-config --cflags --libs moec`, or
 * CMake's `find_package(moec)` and `moec::runtime`.
 *
 * Every function that can fail writes a message naming the file, entry or
 * weight to `error` (at most `error_size` bytes, NUL-terminated; `error`
 * may be NULL) and returns NULL or a non-zero status. One layer may run one
 * forward at a time; distinct layers are independent.
 *
 *   char error[512];
 *   moe_layer *layer = moe_layer_open("layer.so", NULL, "w.safetensors", 0,
 *                                     error, sizeof error);
 *   if (!layer) { fprintf(stderr, "%s\n", error); return 1; }
 *   int64_t hidden = moe_layer_hidden(layer);
 *   ... input and output: tokens * hidden floats ...
 *   if (moe_layer_forward(layer, input, output, tokens, error, sizeof error))
 *     fprintf(stderr, "%s\n", error);
 *   moe_layer_close(layer);
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_MOE_LOADER_H
#define MOE_RUNTIME_MOE_LOADER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct moe_layer moe_layer;

/* Opens `library_path`, finds the forward entry `entry` (NULL or "": the
 * library's only one), binds its weights from `weights_path` and runs its
 * init with `num_threads` threads per forward (0: OpenMP's default). A CUDA
 * library binds to device 0. NULL with `error` on any failure. */
moe_layer *moe_layer_open(const char *library_path, const char *entry,
                          const char *weights_path, int32_t num_threads,
                          char *error, size_t error_size);

/* The entry's hidden size: a forward reads and writes [tokens, hidden]. */
int64_t moe_layer_hidden(const moe_layer *layer);

/* The entry's name (valid until moe_layer_close). */
const char *moe_layer_entry(const moe_layer *layer);

/* Runs the layer on `tokens` rows of `input` into `output` (both
 * [tokens, hidden] row-major float32 in host memory; 0 <= tokens). 0 on
 * success; non-zero with `error` otherwise (a null layer or buffer, a
 * token count out of range, an entry that routes by token id, a device
 * failure). */
int32_t moe_layer_forward(moe_layer *layer, const float *input, float *output,
                          int64_t tokens, char *error, size_t error_size);

/* Destroys the entry's state, frees its weights, unmaps the checkpoint and
 * closes the library. NULL is allowed. */
void moe_layer_close(moe_layer *layer);

#ifdef __cplusplus
}
#endif

#endif /* MOE_RUNTIME_MOE_LOADER_H */
