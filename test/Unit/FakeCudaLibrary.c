/*===- FakeCudaLibrary.c - a hand-made CUDA library for loader tests ------===*
 *
 * What `moe-compile --target=cuda` emits, reduced to the ABI: a "cuda"
 * manifest with one forward entry ("scale", hidden 4, one bf16 weight of
 * [4]) whose init checks its context and weights, binds the embedded CUDA
 * runtime and uploads the weight, and whose forward moves the host input
 * through device memory with the mgpu* calls lowered code makes and writes
 * output[t][i] = input[t][i] * weight[i] (on the host: no kernel runs).
 * Linked with the embedded runtime as a compiled library is, so that the
 * loader and moe-run are tested on a CUDA library without a GPU (no
 * driver: "no CUDA driver"; the fake driver: a full run).
 *===----------------------------------------------------------------------===*/

#include "CudaRuntime.h"
#include "moe/Runtime/moe_runtime.h"

#include <stdlib.h>
#include <string.h>

enum { kHidden = 4 };

const char *moe_module_manifest(void) {
  return "{\"format\": 4, \"target\": \"cuda\", \"entries\": [\n"
         " {\"name\": \"scale\", \"kind\": \"forward\", \"hidden\": 4,\n"
         "  \"symbols\": {\"init\": \"moe_entry_scale_init\",\n"
         "              \"forward\": \"moe_entry_scale_forward\",\n"
         "              \"destroy\": \"moe_entry_scale_destroy\"},\n"
         "  \"weights\": [{\"name\": \"scale.weight\", \"shape\": [4],\n"
         "                \"dtype\": \"bf16\", \"layout\": \"single\"}]}]}";
}

typedef struct State {
  void *weight; /* device: kHidden bf16 values */
} State;

int32_t moe_entry_scale_init(const moe_context *ctx,
                             const moe_weight_buffer *weights,
                             int64_t num_weights, void **state) {
  if (!state)
    return MOE_STATUS_INVALID_ARGUMENT;
  *state = NULL;
  if (!ctx || !weights)
    return MOE_STATUS_INVALID_ARGUMENT;
  if (ctx->abi_version != MOE_ABI_VERSION)
    return MOE_STATUS_ABI_VERSION;
  if (ctx->target != MOE_TARGET_CUDA)
    return MOE_STATUS_WRONG_TARGET;
  if (num_weights != 1)
    return MOE_STATUS_WEIGHT_COUNT;
  if (weights[0].dtype != MOE_DTYPE_BF16)
    return MOE_STATUS_WEIGHT_DTYPE;
  if (weights[0].rank != 1 || weights[0].shape[0] != kHidden)
    return MOE_STATUS_WEIGHT_SHAPE;
  if (!weights[0].data)
    return MOE_STATUS_INVALID_ARGUMENT;
  int32_t status = moe_cuda_bind(ctx);
  if (status != MOE_STATUS_OK)
    return status;
  State *s = (State *)malloc(sizeof(State));
  if (!s)
    return MOE_STATUS_OUT_OF_MEMORY;
  s->weight = moe_cuda_upload(weights[0].data, kHidden * 2);
  if (!s->weight) {
    free(s);
    return moe_cuda_status();
  }
  *state = s;
  return MOE_STATUS_OK;
}

int32_t moe_entry_scale_forward(void *state, const moe_forward_args *args) {
  if (!state || !args || args->struct_size < MOE_FORWARD_ARGS_MIN_SIZE ||
      args->tokens < 0 || (args->tokens && (!args->input || !args->output)))
    return MOE_STATUS_INVALID_ARGUMENT;
  State *s = (State *)state;
  moe_cuda_clear_error();
  int64_t bytes = args->tokens * kHidden * 4;
  void *stream = mgpuStreamCreate();
  void *x = mgpuMemAlloc(bytes, stream, 0);
  /* mgpuMemcpy takes its source as non-const, as MLIR declares it. */
  void *input;
  memcpy(&input, &args->input, sizeof input);
  mgpuMemcpy(x, input, bytes, stream);
  mgpuMemcpy(args->output, x, bytes, stream);
  uint16_t weight[kHidden] = {0};
  mgpuMemcpy(weight, s->weight, sizeof weight, stream);
  mgpuMemFree(x, stream);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  if (moe_cuda_status() != MOE_STATUS_OK)
    return moe_cuda_status();
  for (int64_t t = 0; t < args->tokens; ++t)
    for (int i = 0; i < kHidden; ++i) {
      uint32_t bits = (uint32_t)weight[i] << 16;
      float w;
      memcpy(&w, &bits, 4);
      args->output[t * kHidden + i] *= w;
    }
  return MOE_STATUS_OK;
}

void moe_entry_scale_destroy(void *state) {
  State *s = (State *)state;
  if (!s)
    return;
  moe_cuda_free(s->weight);
  free(s);
}
