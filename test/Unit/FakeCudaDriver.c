/*===- FakeCudaDriver.c - a stand-in libcuda for CPU-side tests -----------===*
 *
 * See FakeCudaDriver.h. Exports each function under the symbol cuda.h maps
 * its name to (cuMemAlloc_v2), as the real driver does.
 *===----------------------------------------------------------------------===*/

#include "FakeCudaDriver.h"

#include <cuda.h>

#include <stdlib.h>
#include <string.h>

static FakeCuda state;
/* The primary context: any distinct address. */
static int primaryContext;
static _Thread_local CUcontext current;
static _Thread_local int depth;
/* What each push covered, to restore on pop. */
static _Thread_local CUcontext covered[8];
/* Managed allocations, to answer CU_POINTER_ATTRIBUTE_IS_MANAGED. */
static void *managed[64];

FakeCuda *fake_cuda(void) { return &state; }
int fake_cuda_context_depth(void) { return depth; }
void *fake_cuda_current(void) { return current; }
void fake_cuda_set_current(void *context) { current = (CUcontext)context; }

void fake_cuda_reset(void) {
  memset(&state, 0, sizeof state);
  memset(managed, 0, sizeof managed);
  state.initResult = CUDA_SUCCESS;
  state.devices = 1;
  state.sharedOptIn = 227 * 1024;
  state.memoryPools = 1;
  state.jitLevel = -1;
}

__attribute__((constructor)) static void start(void) { fake_cuda_reset(); }

CUresult cuInit(unsigned flags) {
  (void)flags;
  return (CUresult)state.initResult;
}

CUresult cuGetErrorString(CUresult error, const char **text) {
  switch (error) {
  case CUDA_ERROR_OUT_OF_MEMORY:
    *text = "out of memory";
    return CUDA_SUCCESS;
  case CUDA_ERROR_NO_DEVICE:
    *text = "no CUDA-capable device is detected";
    return CUDA_SUCCESS;
  case CUDA_ERROR_NOT_INITIALIZED:
    *text = "initialization error";
    return CUDA_SUCCESS;
  default:
    *text = NULL;
    return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult cuDeviceGetCount(int *count) {
  *count = state.devices;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  if (ordinal < 0 || ordinal >= state.devices)
    return CUDA_ERROR_INVALID_DEVICE;
  *device = ordinal;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *value, CUdevice_attribute attribute,
                              CUdevice device) {
  (void)device;
  if (attribute == CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
    *value = state.sharedOptIn;
  else if (attribute == CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED)
    *value = state.memoryPools;
  else
    *value = 0;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice device) {
  (void)device;
  ++state.primaryRetains;
  *context = (CUcontext)&primaryContext;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext *context) {
  *context = current;
  return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext context) {
  current = context;
  return CUDA_SUCCESS;
}

CUresult cuCtxPushCurrent(CUcontext context) {
  if (depth == 8)
    return CUDA_ERROR_INVALID_VALUE;
  covered[depth++] = current;
  current = context;
  return CUDA_SUCCESS;
}

CUresult cuCtxPopCurrent(CUcontext *context) {
  if (depth == 0)
    return CUDA_ERROR_INVALID_CONTEXT;
  if (context)
    *context = current;
  current = covered[--depth];
  return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize(void) {
  ++state.contextSyncs;
  return CUDA_SUCCESS;
}

/* Work outside a context fails, as in the driver. */
static CUresult needContext(void) {
  return current ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

/* Stream and event handles: distinct addresses, never dereferenced (and
 * not heap memory, which a leak checker would count when a test forgets a
 * binding). */
static char handles[4096];
static int nextHandle;
static void *newHandle(void) { return &handles[nextHandle++ % 4096]; }

CUresult cuStreamCreate(CUstream *stream, unsigned flags) {
  (void)flags;
  ++state.streamsCreated;
  *stream = (CUstream)newHandle();
  return needContext();
}

CUresult cuStreamDestroy(CUstream stream) {
  (void)stream;
  ++state.streamsDestroyed;
  return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(CUstream stream) {
  ++state.syncs;
  state.lastStream = stream;
  return needContext();
}

CUresult cuStreamWaitEvent(CUstream stream, CUevent event, unsigned flags) {
  (void)stream, (void)event, (void)flags;
  return needContext();
}

CUresult cuEventCreate(CUevent *event, unsigned flags) {
  (void)flags;
  *event = (CUevent)newHandle();
  return needContext();
}

CUresult cuEventDestroy(CUevent event) {
  (void)event;
  return CUDA_SUCCESS;
}

CUresult cuEventRecord(CUevent event, CUstream stream) {
  (void)event, (void)stream;
  return needContext();
}

CUresult cuEventSynchronize(CUevent event) {
  (void)event;
  return CUDA_SUCCESS;
}

static int moduleHandle;
static int functionHandle;

CUresult cuModuleLoadData(CUmodule *module, const void *image) {
  (void)image;
  ++state.moduleLoads;
  *module = (CUmodule)&moduleHandle;
  return needContext();
}

CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned count,
                            CUjit_option *options, void **values) {
  (void)image;
  ++state.jitLoads;
  for (unsigned i = 0; i < count; ++i)
    if (options[i] == CU_JIT_OPTIMIZATION_LEVEL)
      state.jitLevel = (int)(uintptr_t)values[i];
  *module = (CUmodule)&moduleHandle;
  return needContext();
}

CUresult cuModuleUnload(CUmodule module) {
  (void)module;
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction *function, CUmodule module,
                             const char *name) {
  (void)module;
  if (strcmp(name, "missing") == 0)
    return CUDA_ERROR_NOT_FOUND;
  *function = (CUfunction)&functionHandle;
  return CUDA_SUCCESS;
}

CUresult cuFuncSetAttribute(CUfunction function, CUfunction_attribute attribute,
                            int value) {
  (void)function;
  if (attribute == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
    state.sharedAttribute = value;
  if (attribute == CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED)
    state.nonPortableClusters = value;
  return CUDA_SUCCESS;
}

static void recordLaunch(unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                         unsigned by, unsigned bz, unsigned smem,
                         CUstream stream) {
  unsigned dims[6] = {gx, gy, gz, bx, by, bz};
  memcpy(state.grid, dims, sizeof state.grid);
  memcpy(state.block, dims + 3, sizeof state.block);
  state.sharedBytes = smem;
  state.lastStream = stream;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned smem,
                        CUstream stream, void **params, void **extra) {
  (void)f, (void)params, (void)extra;
  ++state.launches;
  recordLaunch(gx, gy, gz, bx, by, bz, smem, stream);
  return needContext();
}

CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f,
                          void **params, void **extra) {
  (void)f, (void)params, (void)extra;
  ++state.clusterLaunches;
  recordLaunch(config->gridDimX, config->gridDimY, config->gridDimZ,
               config->blockDimX, config->blockDimY, config->blockDimZ,
               config->sharedMemBytes, config->hStream);
  for (unsigned i = 0; i < config->numAttrs; ++i)
    if (config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
      state.cluster[0] = config->attrs[i].value.clusterDim.x;
      state.cluster[1] = config->attrs[i].value.clusterDim.y;
      state.cluster[2] = config->attrs[i].value.clusterDim.z;
    }
  return needContext();
}

static CUresult allocate(CUdeviceptr *pointer, size_t bytes) {
  if (state.failAllocation)
    return CUDA_ERROR_OUT_OF_MEMORY;
  if (current == NULL)
    return CUDA_ERROR_INVALID_CONTEXT;
  /* 256-byte aligned, as the driver's allocations are. */
  *pointer =
      (CUdeviceptr)(uintptr_t)aligned_alloc(256, (bytes + 255) / 256 * 256);
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc(CUdeviceptr *pointer, size_t bytes) {
  ++state.allocations;
  return allocate(pointer, bytes);
}

CUresult cuMemAllocAsync(CUdeviceptr *pointer, size_t bytes, CUstream stream) {
  ++state.asyncAllocations;
  state.lastStream = stream;
  return allocate(pointer, bytes);
}

CUresult cuMemAllocManaged(CUdeviceptr *pointer, size_t bytes, unsigned flags) {
  (void)flags;
  ++state.managedAllocations;
  CUresult result = allocate(pointer, bytes);
  for (int i = 0; result == CUDA_SUCCESS && i < 64; ++i)
    if (!managed[i]) {
      managed[i] = (void *)(uintptr_t)*pointer;
      break;
    }
  return result;
}

CUresult cuMemFree(CUdeviceptr pointer) {
  ++state.frees;
  for (int i = 0; i < 64; ++i)
    if (managed[i] == (void *)(uintptr_t)pointer)
      managed[i] = NULL;
  free((void *)(uintptr_t)pointer);
  return CUDA_SUCCESS;
}

CUresult cuMemFreeAsync(CUdeviceptr pointer, CUstream stream) {
  ++state.asyncFrees;
  state.lastStream = stream;
  free((void *)(uintptr_t)pointer);
  return CUDA_SUCCESS;
}

CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute,
                               CUdeviceptr pointer) {
  if (attribute != CU_POINTER_ATTRIBUTE_IS_MANAGED)
    return CUDA_ERROR_INVALID_VALUE;
  unsigned isManaged = 0;
  for (int i = 0; i < 64; ++i)
    isManaged |= managed[i] == (void *)(uintptr_t)pointer;
  *(unsigned *)data = isManaged;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool, CUdevice device) {
  (void)device;
  *pool = (CUmemoryPool)&primaryContext;
  return CUDA_SUCCESS;
}

CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attribute,
                               void *value) {
  (void)pool;
  if (attribute == CU_MEMPOOL_ATTR_RELEASE_THRESHOLD &&
      *(cuuint64_t *)value == UINT64_MAX)
    state.poolThresholdSet = 1;
  return CUDA_SUCCESS;
}

CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes,
                       CUstream stream) {
  ++state.copies;
  state.lastStream = stream;
  memcpy((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, bytes);
  return needContext();
}

CUresult cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t bytes) {
  ++state.copies;
  memcpy((void *)(uintptr_t)dst, src, bytes);
  return needContext();
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count,
                          CUstream stream) {
  ++state.memsets;
  state.lastStream = stream;
  for (size_t i = 0; i < count; ++i)
    memcpy((char *)(uintptr_t)dst + 4 * i, &value, 4);
  return needContext();
}

CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short value, size_t count,
                          CUstream stream) {
  ++state.memsets;
  state.lastStream = stream;
  for (size_t i = 0; i < count; ++i)
    memcpy((char *)(uintptr_t)dst + 2 * i, &value, 2);
  return needContext();
}

CUresult cuTensorMapEncodeTiled(
    CUtensorMap *map, CUtensorMapDataType type, cuuint32_t rank, void *address,
    const cuuint64_t *dims, const cuuint64_t *strides, const cuuint32_t *box,
    const cuuint32_t *elementStrides, CUtensorMapInterleave interleave,
    CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2,
    CUtensorMapFloatOOBfill oob) {
  (void)elementStrides, (void)interleave, (void)l2, (void)oob;
  ++state.tensorMapEncodes;
  state.mapType = (int)type;
  state.mapRank = (int)rank;
  state.mapSwizzle = (int)swizzle;
  state.mapAddress = address;
  memset(state.mapDims, 0, sizeof state.mapDims);
  memset(state.mapStrides, 0, sizeof state.mapStrides);
  memset(state.mapBox, 0, sizeof state.mapBox);
  for (cuuint32_t i = 0; i < rank; ++i) {
    state.mapDims[i] = dims[i];
    state.mapBox[i] = box[i];
    if (i + 1 < rank)
      state.mapStrides[i] = strides[i];
  }
  /* A map that says what it maps, so that equal arguments give equal maps. */
  memset(map, 0, sizeof *map);
  memcpy(map->opaque, &address, sizeof address);
  memcpy(map->opaque + 1, dims, rank * sizeof *dims);
  memcpy(map->opaque + 6, box, rank * sizeof *box);
  map->opaque[9] = (cuuint64_t)type << 8 | (cuuint64_t)swizzle;
  return CUDA_SUCCESS;
}
