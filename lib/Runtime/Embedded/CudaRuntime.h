/*===- CudaRuntime.h - the CUDA runtime linked into CUDA libraries -*- C -*-===*
 *
 * What CudaRuntime.c gives a library compiled by `moe-compile
 * --target=cuda`: the moe_cuda_* functions its entry wrappers call, and the
 * mgpu* functions MLIR's gpu-to-llvm lowering calls (declared here with
 * the argument types of MLIR 22's declarations, so that tests can call
 * them). Private to the runtime and its tests: generated code declares
 * what it calls itself.
 *
 * Everything runs on the NVIDIA driver API, loaded with dlopen on first
 * use: a library links no CUDA library and loads on a machine without a
 * driver, where moe_cuda_bind fails with MOE_STATUS_DEVICE and says so.
 *
 * Errors: the mgpu* functions return no status (MLIR calls them as void or
 * pointer functions), so each failure is kept per thread: the first one
 * since moe_cuda_clear_error() (moe_cuda_status, moe_cuda_error_message),
 * and while one is kept every mgpu*, upload, download and synchronize call
 * is a no-op (pointer results NULL, status results the kept status). A
 * forward wrapper clears first and checks moe_cuda_status() after the
 * lowered function and the synchronization.
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_EMBEDDED_CUDARUNTIME_H
#define MOE_RUNTIME_EMBEDDED_CUDARUNTIME_H

#include "moe/Runtime/moe_runtime.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Loads the driver (once per process), initialises it and binds the
 * library to ctx->device's primary context and to ctx->stream (a CUstream;
 * NULL: a stream of the library's own, made once). Clears the thread's
 * error first. The first successful bind fixes the device for the
 * process; a later one for another device fails. MOE_STATUS_OK, or
 * MOE_STATUS_INVALID_ARGUMENT / MOE_STATUS_DEVICE with the message set. */
int32_t moe_cuda_bind(const moe_context *ctx);
/* A device copy of `bytes` host bytes (cuMemAlloc, then a synchronous
 * copy), for weights that live as long as a state; NULL on failure. */
void *moe_cuda_upload(const void *host, int64_t bytes);
/* Frees what moe_cuda_upload returned (NULL is allowed). Runs even while
 * an error is kept: a state's destroy must give its memory back. */
void moe_cuda_free(void *device);
/* Copies `bytes` device bytes to the host after the work queued on the
 * bound stream, and waits for them. */
int32_t moe_cuda_download(void *host, const void *device, int64_t bytes);
/* Waits for the work queued on the bound stream. */
int32_t moe_cuda_synchronize(void);

/* The thread's kept error: MOE_STATUS_OK when none. */
int32_t moe_cuda_status(void);
/* Why (never NULL; "" when nothing failed). */
const char *moe_cuda_error_message(void);
void moe_cuda_clear_error(void);

/* MOE_ERROR_MESSAGE_SYMBOL: what a CUDA library exports for its host. */
const char *moe_error_message(void);

/* The mgpu* functions (MLIR 22's gpu-to-llvm and nvgpu-to-nvvm calls). */
void *mgpuModuleLoad(const void *data, int64_t size);
void *mgpuModuleLoadJIT(const void *data, int32_t optLevel);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, int64_t gridX, int64_t gridY,
                      int64_t gridZ, int64_t blockX, int64_t blockY,
                      int64_t blockZ, int32_t smem, void *stream, void **params,
                      void **extra, int64_t paramsCount);
void mgpuLaunchClusterKernel(void *function, int64_t clusterX, int64_t clusterY,
                             int64_t clusterZ, int64_t gridX, int64_t gridY,
                             int64_t gridZ, int64_t blockX, int64_t blockY,
                             int64_t blockZ, int32_t smem, void *stream,
                             void **params, void **extra);
void *mgpuStreamCreate(void);
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamWaitEvent(void *stream, void *event);
void *mgpuEventCreate(void);
void mgpuEventDestroy(void *event);
void mgpuEventRecord(void *event, void *stream);
void mgpuEventSynchronize(void *event);
void *mgpuMemAlloc(int64_t bytes, void *stream, int8_t hostShared);
void mgpuMemFree(void *pointer, void *stream);
void mgpuMemcpy(void *dst, void *src, int64_t bytes, void *stream);
void mgpuMemset32(void *dst, uint32_t value, int64_t count, void *stream);
void mgpuMemset16(void *dst, uint16_t value, int64_t count, void *stream);
void mgpuSetDefaultDevice(int32_t device);
void *mgpuTensorMapEncodeTiledMemref(int64_t rank, void *memref, int64_t dtype,
                                     int64_t interleave, int64_t swizzle,
                                     int64_t l2Promotion, int64_t oobFill,
                                     const int64_t *boxDims);

/* Tests only: gives back what the binding holds (its own stream, the TMA
 * descriptors), then forgets it and the loaded driver (not thread-safe),
 * so that the next bind loads `driverPath` (NULL: libcuda.so.1). Lets a
 * test run the runtime against a fake driver. */
__attribute__((visibility("hidden"))) void
moe_cuda_testing_reset(const char *driverPath);

#ifdef __cplusplus
}
#endif

#endif /* MOE_RUNTIME_EMBEDDED_CUDARUNTIME_H */
