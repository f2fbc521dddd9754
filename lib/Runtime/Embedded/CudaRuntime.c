/*===- CudaRuntime.c - the CUDA runtime linked into CUDA libraries --------===*
 *
 * The host side of a library compiled by `moe-compile --target=cuda`
 * (interface and error rules: CudaRuntime.h): binding to a device, weight
 * uploads, and the mgpu* functions MLIR's lowered host code calls, all on
 * the driver API. The driver is dlopen'ed on the first bind and each cu*
 * function looked up by the symbol cuda.h maps its name to (cuMemAlloc is
 * cuMemAlloc_v2): the library links nothing of CUDA, loads without a
 * driver, and says "no CUDA driver" when a context asks for a device.
 *
 * One process binds a library to one device (its primary context) and one
 * stream, the last bind's: mgpuStreamCreate hands out that stream and
 * mgpuStreamDestroy leaves it, so everything the lowered code queues runs
 * in order on the stream the host gave (or on the library's own).
 *===----------------------------------------------------------------------===*/

#include "CudaRuntime.h"

#include <cuda.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The driver functions used, by the names cuda.h gives them; a missing
 * required one means a driver too old for this runtime. */
#define MOE_CUDA_REQUIRED(X)                                                   \
  X(cuInit)                                                                    \
  X(cuGetErrorString)                                                          \
  X(cuDeviceGetCount)                                                          \
  X(cuDeviceGet)                                                               \
  X(cuDeviceGetAttribute)                                                      \
  X(cuDevicePrimaryCtxRetain)                                                  \
  X(cuCtxGetCurrent)                                                           \
  X(cuCtxSetCurrent)                                                           \
  X(cuCtxPushCurrent)                                                          \
  X(cuCtxPopCurrent)                                                           \
  X(cuCtxSynchronize)                                                          \
  X(cuStreamCreate)                                                            \
  X(cuStreamDestroy)                                                           \
  X(cuStreamSynchronize)                                                       \
  X(cuStreamWaitEvent)                                                         \
  X(cuEventCreate)                                                             \
  X(cuEventDestroy)                                                            \
  X(cuEventRecord)                                                             \
  X(cuEventSynchronize)                                                        \
  X(cuModuleLoadData)                                                          \
  X(cuModuleLoadDataEx)                                                        \
  X(cuModuleUnload)                                                            \
  X(cuModuleGetFunction)                                                       \
  X(cuFuncSetAttribute)                                                        \
  X(cuLaunchKernel)                                                            \
  X(cuMemAlloc)                                                                \
  X(cuMemAllocManaged)                                                         \
  X(cuMemFree)                                                                 \
  X(cuMemcpyAsync)                                                             \
  X(cuMemcpyHtoD)                                                              \
  X(cuMemsetD32Async)                                                          \
  X(cuMemsetD16Async)                                                          \
  X(cuPointerGetAttribute)
/* Newer ones (CUDA 11.2: stream-ordered allocation; 12.0: clusters and
 * TMA): absent, the runtime falls back or says what is missing. */
#define MOE_CUDA_OPTIONAL(X)                                                   \
  X(cuMemAllocAsync)                                                           \
  X(cuMemFreeAsync)                                                            \
  X(cuDeviceGetDefaultMemPool)                                                 \
  X(cuMemPoolSetAttribute)                                                     \
  X(cuLaunchKernelEx)                                                          \
  X(cuTensorMapEncodeTiled)

#define MOE_CUDA_FIELD(name) __typeof__(name) *name;
typedef struct Driver {
  MOE_CUDA_REQUIRED(MOE_CUDA_FIELD)
  MOE_CUDA_OPTIONAL(MOE_CUDA_FIELD)
} Driver;
#undef MOE_CUDA_FIELD

#define MOE_STRINGIFY(x) #x
/* The symbol a name maps to in cuda.h ("cuMemAlloc_v2"). */
#define MOE_SYMBOL(x) MOE_STRINGIFY(x)

/*===--- the thread's error ---------------------------------------------===*/

static _Thread_local int32_t threadStatus;
static _Thread_local char threadMessage[512];

/* Keeps the first failure; returns its status (or the kept one). */
static int32_t fail(int32_t status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static int32_t fail(int32_t status, const char *format, ...) {
  if (threadStatus != MOE_STATUS_OK)
    return threadStatus;
  threadStatus = status;
  va_list args;
  va_start(args, format);
  vsnprintf(threadMessage, sizeof threadMessage, format, args);
  va_end(args);
  return status;
}

int32_t moe_cuda_status(void) { return threadStatus; }
const char *moe_cuda_error_message(void) { return threadMessage; }
const char *moe_error_message(void) { return threadMessage; }
void moe_cuda_clear_error(void) {
  threadStatus = MOE_STATUS_OK;
  threadMessage[0] = '\0';
}

/*===--- the driver -----------------------------------------------------===*/

static const char *const kDefaultDriver = "libcuda.so.1";
static const char *driverPath;
static pthread_once_t driverOnce = PTHREAD_ONCE_INIT;
static Driver driver;
static int driverLoaded;
static char driverError[400];

static void loadDriver(void) {
  const char *path = driverPath ? driverPath : kDefaultDriver;
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    snprintf(driverError, sizeof driverError,
             "no CUDA driver (%s could not be loaded: %s)", path,
             why ? why : "unknown error");
    return;
  }
  /* POSIX: a data pointer from dlsym converts to a function pointer. */
#define MOE_CUDA_LOAD_REQUIRED(name)                                           \
  *(void **)&driver.name = dlsym(handle, MOE_SYMBOL(name));                    \
  if (!driver.name) {                                                          \
    snprintf(driverError, sizeof driverError,                                  \
             "the CUDA driver %s is too old (it has no %s)", path,             \
             MOE_SYMBOL(name));                                                \
    return;                                                                    \
  }
#define MOE_CUDA_LOAD_OPTIONAL(name)                                           \
  *(void **)&driver.name = dlsym(handle, MOE_SYMBOL(name));
  MOE_CUDA_REQUIRED(MOE_CUDA_LOAD_REQUIRED)
  MOE_CUDA_OPTIONAL(MOE_CUDA_LOAD_OPTIONAL)
#undef MOE_CUDA_LOAD_REQUIRED
#undef MOE_CUDA_LOAD_OPTIONAL
  driverLoaded = 1;
}

static const char *errorString(CUresult result) {
  const char *text = NULL;
  if (driver.cuGetErrorString(result, &text) != CUDA_SUCCESS || !text)
    return "unknown CUDA error";
  return text;
}

/* Keeps "<cuFunction>: <what the driver says>" for a failed call. */
static int failed(CUresult result, const char *function) {
  if (result == CUDA_SUCCESS)
    return 0;
  fail(MOE_STATUS_DEVICE, "%s: %s", function, errorString(result));
  return 1;
}

/* Calls driver function `fn` (by its cuda.h name): nonzero on failure,
 * which is kept under the name without the version suffix. */
#define CU(fn, ...) failed(driver.fn(__VA_ARGS__), #fn)

/*===--- the binding ----------------------------------------------------===*/

static pthread_mutex_t bindLock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int32_t device;
  CUcontext context;
  CUstream ownStream;
  /* Stream-ordered allocation (cuMemAllocAsync) works on the device. */
  int memoryPools;
  /* The most dynamic shared memory a block may opt in to. */
  int sharedOptIn;
} bound;
/* Set (release) once `bound` is filled; the stream of the last bind. */
static atomic_int isBound;
static _Atomic(CUstream) boundStream;

int32_t moe_cuda_bind(const moe_context *ctx) {
  moe_cuda_clear_error();
  if (!ctx)
    return fail(MOE_STATUS_INVALID_ARGUMENT, "moe_cuda_bind: null context");
  pthread_once(&driverOnce, loadDriver);
  if (!driverLoaded)
    return fail(MOE_STATUS_DEVICE, "%s", driverError);
  CUresult init = driver.cuInit(0);
  int count = 0;
  if (init == CUDA_ERROR_NO_DEVICE ||
      (init == CUDA_SUCCESS &&
       driver.cuDeviceGetCount(&count) == CUDA_SUCCESS && count == 0))
    return fail(MOE_STATUS_DEVICE, "no GPU (the CUDA driver sees no device)");
  if (failed(init, "cuInit") || CU(cuDeviceGetCount, &count))
    return threadStatus;
  if (ctx->device < 0 || ctx->device >= count)
    return fail(MOE_STATUS_DEVICE, "device %d is out of range (%d devices)",
                ctx->device, count);

  pthread_mutex_lock(&bindLock);
  int32_t status = MOE_STATUS_OK;
  if (atomic_load_explicit(&isBound, memory_order_acquire)) {
    if (bound.device != ctx->device)
      status = fail(MOE_STATUS_DEVICE,
                    "device %d: this library is bound to device %d (a "
                    "process runs a library on one device)",
                    ctx->device, bound.device);
  } else {
    CUdevice device;
    CUcontext context;
    int optIn = 0, pools = 0;
    if (CU(cuDeviceGet, &device, ctx->device) ||
        CU(cuDevicePrimaryCtxRetain, &context, device) ||
        CU(cuDeviceGetAttribute, &optIn,
           CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device)) {
      status = threadStatus;
    } else {
      bound.device = ctx->device;
      bound.context = context;
      bound.sharedOptIn = optIn;
      /* Temporaries come from the device's pool, which keeps what is freed
       * (no release threshold) so that each forward does not go back to
       * the system for its buffers. */
      if (driver.cuMemAllocAsync && driver.cuMemFreeAsync &&
          driver.cuDeviceGetAttribute(
              &pools, CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, device) ==
              CUDA_SUCCESS &&
          pools) {
        bound.memoryPools = 1;
        CUmemoryPool pool;
        cuuint64_t keepAll = UINT64_MAX;
        if (driver.cuDeviceGetDefaultMemPool && driver.cuMemPoolSetAttribute &&
            driver.cuDeviceGetDefaultMemPool(&pool, device) == CUDA_SUCCESS)
          driver.cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                                       &keepAll);
      }
    }
  }
  if (status == MOE_STATUS_OK) {
    CUstream stream = (CUstream)ctx->stream;
    if (!stream && !bound.ownStream) {
      CUcontext previous;
      if (!CU(cuCtxPushCurrent, bound.context)) {
        CU(cuStreamCreate, &bound.ownStream, CU_STREAM_NON_BLOCKING);
        driver.cuCtxPopCurrent(&previous);
      }
      status = threadStatus;
    }
    if (status == MOE_STATUS_OK) {
      atomic_store(&boundStream, stream ? stream : bound.ownStream);
      atomic_store_explicit(&isBound, 1, memory_order_release);
    }
  }
  pthread_mutex_unlock(&bindLock);
  return status;
}

/* What a runtime call does first: nothing while an error is kept, an
 * error when no bind succeeded, and the bound context made current: set on
 * a thread that has none (it stays, sparing two driver calls on each later
 * call), pushed over another one and popped by leave. */
typedef struct Scope {
  int pushed;
} Scope;

static int enter(Scope *scope, const char *what) {
  scope->pushed = 0;
  if (threadStatus != MOE_STATUS_OK)
    return 0;
  if (!atomic_load_explicit(&isBound, memory_order_acquire)) {
    fail(MOE_STATUS_DEVICE,
         "%s: no device is bound (the entry's init did not succeed)", what);
    return 0;
  }
  CUcontext current = NULL;
  if (CU(cuCtxGetCurrent, &current))
    return 0;
  if (current == bound.context)
    return 1;
  if (!current)
    return !CU(cuCtxSetCurrent, bound.context);
  if (CU(cuCtxPushCurrent, bound.context))
    return 0;
  scope->pushed = 1;
  return 1;
}

static void leave(Scope *scope) {
  CUcontext previous;
  if (scope->pushed)
    driver.cuCtxPopCurrent(&previous);
}

/* The stream lowered code passes, or the bound one for none. */
static CUstream streamOr(void *stream) {
  return stream ? (CUstream)stream : atomic_load(&boundStream);
}

void *moe_cuda_upload(const void *host, int64_t bytes) {
  if (threadStatus != MOE_STATUS_OK)
    return NULL;
  if (bytes < 0 || (!host && bytes > 0)) {
    fail(MOE_STATUS_INVALID_ARGUMENT, "moe_cuda_upload: %lld bytes from %p",
         (long long)bytes, host);
    return NULL;
  }
  Scope scope;
  if (!enter(&scope, "moe_cuda_upload"))
    return NULL;
  CUdeviceptr device = 0;
  /* A distinct non-null pointer even for nothing: NULL means failure. */
  if (!CU(cuMemAlloc, &device, bytes ? (size_t)bytes : 1) && bytes &&
      CU(cuMemcpyHtoD, device, host, (size_t)bytes)) {
    driver.cuMemFree(device);
    device = 0;
  }
  leave(&scope);
  return (void *)(uintptr_t)device;
}

void moe_cuda_free(void *device) {
  if (!device || !atomic_load_explicit(&isBound, memory_order_acquire))
    return;
  /* Runs while an error is kept: a state's memory is freed regardless. */
  int32_t kept = threadStatus;
  threadStatus = MOE_STATUS_OK;
  Scope scope;
  if (enter(&scope, "moe_cuda_free")) {
    CUresult result = driver.cuMemFree((CUdeviceptr)(uintptr_t)device);
    leave(&scope);
    if (kept == MOE_STATUS_OK)
      failed(result, "cuMemFree");
  }
  if (kept != MOE_STATUS_OK)
    threadStatus = kept;
}

int32_t moe_cuda_download(void *host, const void *device, int64_t bytes) {
  if (threadStatus != MOE_STATUS_OK)
    return threadStatus;
  if (bytes < 0 || ((!host || !device) && bytes > 0))
    return fail(MOE_STATUS_INVALID_ARGUMENT,
                "moe_cuda_download: %lld bytes from %p to %p", (long long)bytes,
                device, host);
  Scope scope;
  if (!enter(&scope, "moe_cuda_download"))
    return threadStatus;
  CUstream stream = atomic_load(&boundStream);
  if (bytes && !CU(cuMemcpyAsync, (CUdeviceptr)(uintptr_t)host,
                   (CUdeviceptr)(uintptr_t)device, (size_t)bytes, stream))
    CU(cuStreamSynchronize, stream);
  leave(&scope);
  return threadStatus;
}

int32_t moe_cuda_synchronize(void) {
  Scope scope;
  if (!enter(&scope, "moe_cuda_synchronize"))
    return threadStatus;
  CU(cuStreamSynchronize, atomic_load(&boundStream));
  leave(&scope);
  return threadStatus;
}

/*===--- modules and launches -------------------------------------------===*/

/* A kernel image registered by a global constructor, when no device may be
 * bound yet (or exist): loaded into the bound context on first use. */
typedef struct LazyModule {
  struct LazyModule *next;
  const void *image;
  /* The JIT optimisation level of a PTX image; -1 for a fatbin or cubin. */
  int32_t jitLevel;
  CUmodule module;
} LazyModule;

static pthread_mutex_t moduleLock = PTHREAD_MUTEX_INITIALIZER;
static LazyModule *modules;

static void *registerModule(const void *image, int32_t jitLevel) {
  LazyModule *module = (LazyModule *)calloc(1, sizeof(LazyModule));
  if (!module)
    return NULL;
  module->image = image;
  module->jitLevel = jitLevel;
  pthread_mutex_lock(&moduleLock);
  module->next = modules;
  modules = module;
  pthread_mutex_unlock(&moduleLock);
  return module;
}

void *mgpuModuleLoad(const void *data, int64_t size) {
  (void)size; /* a fatbin or cubin says its own size */
  return registerModule(data, -1);
}

void *mgpuModuleLoadJIT(const void *data, int32_t optLevel) {
  return registerModule(data, optLevel < 0 ? 0 : optLevel > 4 ? 4 : optLevel);
}

void mgpuModuleUnload(void *handle) {
  LazyModule *module = (LazyModule *)handle;
  if (!module)
    return;
  pthread_mutex_lock(&moduleLock);
  for (LazyModule **link = &modules; *link; link = &(*link)->next)
    if (*link == module) {
      *link = module->next;
      break;
    }
  pthread_mutex_unlock(&moduleLock);
  /* A global destructor, maybe at exit after the driver shut down: errors
   * are not the forward's, and not kept. */
  if (module->module && driverLoaded)
    driver.cuModuleUnload(module->module);
  free(module);
}

void *mgpuModuleGetFunction(void *handle, const char *name) {
  LazyModule *module = (LazyModule *)handle;
  Scope scope;
  if (!enter(&scope, "mgpuModuleGetFunction"))
    return NULL;
  CUfunction function = NULL;
  if (!module) {
    fail(MOE_STATUS_OUT_OF_MEMORY,
         "kernel '%s': its module could not be registered (out of memory)",
         name);
  } else {
    pthread_mutex_lock(&moduleLock);
    if (!module->module) {
      if (module->jitLevel < 0) {
        CU(cuModuleLoadData, &module->module, module->image);
      } else {
        CUjit_option option = CU_JIT_OPTIMIZATION_LEVEL;
        void *value = (void *)(uintptr_t)module->jitLevel;
        CU(cuModuleLoadDataEx, &module->module, module->image, 1, &option,
           &value);
      }
    }
    CUmodule loaded = module->module;
    pthread_mutex_unlock(&moduleLock);
    if (loaded && CU(cuModuleGetFunction, &function, loaded, name))
      function = NULL;
  }
  leave(&scope);
  return function;
}

/* Launch geometry as the driver takes it; 0 when there is nothing to run
 * (an empty grid: a batch of no tokens), -1 after keeping an error. */
static int launchDims(const int64_t dims[6], unsigned out[6]) {
  int empty = 0;
  for (int i = 0; i < 6; ++i) {
    if (dims[i] < 0 || dims[i] > (int64_t)UINT32_MAX) {
      fail(MOE_STATUS_DEVICE, "launch: %s dimension %d is %lld",
           i < 3 ? "grid" : "block", i % 3, (long long)dims[i]);
      return -1;
    }
    out[i] = (unsigned)dims[i];
    empty |= dims[i] == 0;
  }
  return empty ? 0 : 1;
}

/* Kernels over the default 48 KiB of dynamic shared memory must opt in. */
static int optInSharedMemory(CUfunction function, int32_t smem) {
  if (smem < 0)
    return fail(MOE_STATUS_DEVICE, "launch: %d bytes of shared memory", smem),
           1;
  if (smem <= 48 * 1024)
    return 0;
  if (smem > bound.sharedOptIn) {
    fail(MOE_STATUS_DEVICE,
         "launch: a kernel asks for %d bytes of shared memory; device %d "
         "allows %d",
         smem, bound.device, bound.sharedOptIn);
    return 1;
  }
  return CU(cuFuncSetAttribute, function,
            CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem);
}

void mgpuLaunchKernel(void *function, int64_t gridX, int64_t gridY,
                      int64_t gridZ, int64_t blockX, int64_t blockY,
                      int64_t blockZ, int32_t smem, void *stream, void **params,
                      void **extra, int64_t paramsCount) {
  (void)paramsCount;
  Scope scope;
  if (!enter(&scope, "mgpuLaunchKernel"))
    return;
  int64_t dims[6] = {gridX, gridY, gridZ, blockX, blockY, blockZ};
  unsigned d[6];
  if (!function)
    fail(MOE_STATUS_DEVICE, "mgpuLaunchKernel: no kernel");
  else if (launchDims(dims, d) > 0 &&
           !optInSharedMemory((CUfunction)function, smem))
    CU(cuLaunchKernel, (CUfunction)function, d[0], d[1], d[2], d[3], d[4], d[5],
       (unsigned)smem, streamOr(stream), params, extra);
  leave(&scope);
}

void mgpuLaunchClusterKernel(void *function, int64_t clusterX, int64_t clusterY,
                             int64_t clusterZ, int64_t gridX, int64_t gridY,
                             int64_t gridZ, int64_t blockX, int64_t blockY,
                             int64_t blockZ, int32_t smem, void *stream,
                             void **params, void **extra) {
  Scope scope;
  if (!enter(&scope, "mgpuLaunchClusterKernel"))
    return;
  int64_t dims[6] = {gridX, gridY, gridZ, blockX, blockY, blockZ};
  int64_t cluster[3] = {clusterX, clusterY, clusterZ};
  unsigned d[6];
  if (!function) {
    fail(MOE_STATUS_DEVICE, "mgpuLaunchClusterKernel: no kernel");
  } else if (!driver.cuLaunchKernelEx) {
    fail(MOE_STATUS_DEVICE, "cluster launch: the CUDA driver has no "
                            "cuLaunchKernelEx (CUDA 12 or later is needed)");
  } else if (launchDims(dims, d) > 0 &&
             !optInSharedMemory((CUfunction)function, smem)) {
    int clusterSize = 1;
    for (int i = 0; i < 3; ++i) {
      if (cluster[i] < 1 || cluster[i] > 1024 || dims[i] % cluster[i]) {
        fail(MOE_STATUS_DEVICE,
             "cluster launch: cluster dimension %d is %lld for a grid of "
             "%lld",
             i, (long long)cluster[i], (long long)dims[i]);
        leave(&scope);
        return;
      }
      clusterSize *= (int)cluster[i];
    }
    /* Past 8 blocks a cluster is non-portable: the kernel must allow it. */
    if (clusterSize > 8 &&
        CU(cuFuncSetAttribute, (CUfunction)function,
           CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1)) {
      leave(&scope);
      return;
    }
    CUlaunchAttribute attribute;
    memset(&attribute, 0, sizeof attribute);
    attribute.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attribute.value.clusterDim.x = (unsigned)clusterX;
    attribute.value.clusterDim.y = (unsigned)clusterY;
    attribute.value.clusterDim.z = (unsigned)clusterZ;
    CUlaunchConfig config;
    memset(&config, 0, sizeof config);
    config.gridDimX = d[0];
    config.gridDimY = d[1];
    config.gridDimZ = d[2];
    config.blockDimX = d[3];
    config.blockDimY = d[4];
    config.blockDimZ = d[5];
    config.sharedMemBytes = (unsigned)smem;
    config.hStream = streamOr(stream);
    config.attrs = &attribute;
    config.numAttrs = 1;
    CU(cuLaunchKernelEx, &config, (CUfunction)function, params, extra);
  }
  leave(&scope);
}

/*===--- streams and events ---------------------------------------------===*/

void *mgpuStreamCreate(void) {
  Scope scope;
  if (!enter(&scope, "mgpuStreamCreate"))
    return NULL;
  leave(&scope);
  return atomic_load(&boundStream);
}

void mgpuStreamDestroy(void *stream) {
  /* Only the bound stream is ever handed out; it outlives the call. */
  (void)stream;
}

void mgpuStreamSynchronize(void *stream) {
  Scope scope;
  if (!enter(&scope, "mgpuStreamSynchronize"))
    return;
  CU(cuStreamSynchronize, streamOr(stream));
  leave(&scope);
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  Scope scope;
  if (!enter(&scope, "mgpuStreamWaitEvent"))
    return;
  if (event)
    CU(cuStreamWaitEvent, streamOr(stream), (CUevent)event, 0);
  leave(&scope);
}

void *mgpuEventCreate(void) {
  Scope scope;
  if (!enter(&scope, "mgpuEventCreate"))
    return NULL;
  CUevent event = NULL;
  if (CU(cuEventCreate, &event, CU_EVENT_DISABLE_TIMING))
    event = NULL;
  leave(&scope);
  return event;
}

void mgpuEventDestroy(void *event) {
  /* Like memory, events are given back after a failure too. */
  if (event && driverLoaded)
    driver.cuEventDestroy((CUevent)event);
}

void mgpuEventRecord(void *event, void *stream) {
  Scope scope;
  if (!enter(&scope, "mgpuEventRecord"))
    return;
  if (event)
    CU(cuEventRecord, (CUevent)event, streamOr(stream));
  leave(&scope);
}

void mgpuEventSynchronize(void *event) {
  Scope scope;
  if (!enter(&scope, "mgpuEventSynchronize"))
    return;
  if (event)
    CU(cuEventSynchronize, (CUevent)event);
  leave(&scope);
}

void mgpuSetDefaultDevice(int32_t device) {
  if (threadStatus == MOE_STATUS_OK &&
      atomic_load_explicit(&isBound, memory_order_acquire) &&
      device != bound.device)
    fail(MOE_STATUS_DEVICE,
         "mgpuSetDefaultDevice(%d): this library is bound to device %d", device,
         bound.device);
}

/*===--- memory ---------------------------------------------------------===*/

void *mgpuMemAlloc(int64_t bytes, void *stream, int8_t hostShared) {
  Scope scope;
  if (!enter(&scope, "mgpuMemAlloc"))
    return NULL;
  CUdeviceptr pointer = 0;
  if (bytes < 0)
    fail(MOE_STATUS_DEVICE, "mgpuMemAlloc: %lld bytes", (long long)bytes);
  else if (bytes == 0)
    ; /* an empty buffer: nothing to allocate or to free */
  else if (hostShared)
    CU(cuMemAllocManaged, &pointer, (size_t)bytes, CU_MEM_ATTACH_GLOBAL);
  else if (bound.memoryPools)
    CU(cuMemAllocAsync, &pointer, (size_t)bytes, streamOr(stream));
  else
    CU(cuMemAlloc, &pointer, (size_t)bytes);
  leave(&scope);
  return (void *)(uintptr_t)pointer;
}

void mgpuMemFree(void *pointer, void *stream) {
  if (!pointer || !atomic_load_explicit(&isBound, memory_order_acquire))
    return;
  /* As moe_cuda_free: after a failure too, and only the first kept. */
  int32_t kept = threadStatus;
  threadStatus = MOE_STATUS_OK;
  Scope scope;
  if (enter(&scope, "mgpuMemFree")) {
    CUdeviceptr device = (CUdeviceptr)(uintptr_t)pointer;
    unsigned managed = 0;
    if (driver.cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED,
                                     device) != CUDA_SUCCESS)
      managed = 0;
    CUresult result = !managed && bound.memoryPools
                          ? driver.cuMemFreeAsync(device, streamOr(stream))
                          : driver.cuMemFree(device);
    leave(&scope);
    if (kept == MOE_STATUS_OK)
      failed(result,
             bound.memoryPools && !managed ? "cuMemFreeAsync" : "cuMemFree");
  }
  if (kept != MOE_STATUS_OK)
    threadStatus = kept;
}

void mgpuMemcpy(void *dst, void *src, int64_t bytes, void *stream) {
  Scope scope;
  if (!enter(&scope, "mgpuMemcpy"))
    return;
  if (bytes > 0)
    CU(cuMemcpyAsync, (CUdeviceptr)(uintptr_t)dst, (CUdeviceptr)(uintptr_t)src,
       (size_t)bytes, streamOr(stream));
  leave(&scope);
}

void mgpuMemset32(void *dst, uint32_t value, int64_t count, void *stream) {
  Scope scope;
  if (!enter(&scope, "mgpuMemset32"))
    return;
  if (count > 0)
    CU(cuMemsetD32Async, (CUdeviceptr)(uintptr_t)dst, value, (size_t)count,
       streamOr(stream));
  leave(&scope);
}

void mgpuMemset16(void *dst, uint16_t value, int64_t count, void *stream) {
  Scope scope;
  if (!enter(&scope, "mgpuMemset16"))
    return;
  if (count > 0)
    CU(cuMemsetD16Async, (CUdeviceptr)(uintptr_t)dst, value, (size_t)count,
       streamOr(stream));
  leave(&scope);
}

/*===--- TMA descriptors ------------------------------------------------===*/

/* The descriptors live in device memory (the kernel takes a pointer to
 * one). Lowered code encodes them on every call, so they are kept by
 * content: an identical descriptor (same tensor, box and modes) is the
 * same device copy, which no kernel in flight can see change. When the
 * table fills, the device is synchronized and the table starts over. */
enum { kTensorMapSlots = 256 };
static pthread_mutex_t tensorMapLock = PTHREAD_MUTEX_INITIALIZER;
static CUtensorMap tensorMaps[kTensorMapSlots];
static int tensorMapCount;
static CUdeviceptr tensorMapMemory;

void *mgpuTensorMapEncodeTiledMemref(int64_t rank, void *memref, int64_t dtype,
                                     int64_t interleave, int64_t swizzle,
                                     int64_t l2Promotion, int64_t oobFill,
                                     const int64_t *boxDims) {
  /* Bytes per element of CUtensorMapDataType 0 (UINT8) to 12
   * (TFLOAT32_FTZ). */
  static const int kElementBytes[] = {1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
  Scope scope;
  if (!enter(&scope, "mgpuTensorMapEncodeTiledMemref"))
    return NULL;
  void *result = NULL;
  if (!driver.cuTensorMapEncodeTiled) {
    fail(MOE_STATUS_DEVICE, "TMA descriptor: the CUDA driver has no "
                            "cuTensorMapEncodeTiled (CUDA 12 or later is "
                            "needed)");
    goto done;
  }
  if (rank < 1 || rank > 5 || dtype < 0 || dtype > 12 || !memref || !boxDims) {
    fail(MOE_STATUS_DEVICE, "TMA descriptor: rank %lld, data type %lld",
         (long long)rank, (long long)dtype);
    goto done;
  }
  /* A ranked memref descriptor: allocated and aligned pointers, offset,
   * sizes[rank], strides[rank]. The driver's dimensions run innermost
   * first. */
  char *const *pointers = (char *const *)memref;
  const int64_t *fields = (const int64_t *)(pointers + 2);
  const int64_t *sizes = fields + 1, *strides = fields + 1 + rank;
  int elementBytes = kElementBytes[dtype];
  if (strides[rank - 1] != 1) {
    fail(MOE_STATUS_DEVICE,
         "TMA descriptor: the innermost stride is %lld, not 1",
         (long long)strides[rank - 1]);
    goto done;
  }
  cuuint64_t globalDim[5], globalStrides[5];
  cuuint32_t boxDim[5], elementStrides[5];
  for (int64_t i = 0; i < rank; ++i) {
    globalDim[i] = (cuuint64_t)sizes[rank - 1 - i];
    boxDim[i] = (cuuint32_t)boxDims[rank - 1 - i];
    elementStrides[i] = 1;
  }
  for (int64_t i = 0; i + 1 < rank; ++i)
    globalStrides[i] = (cuuint64_t)(strides[rank - 2 - i] * elementBytes);
  CUtensorMap map;
  memset(&map, 0, sizeof map);
  if (CU(cuTensorMapEncodeTiled, &map, (CUtensorMapDataType)dtype,
         (cuuint32_t)rank, pointers[1] + fields[0] * elementBytes, globalDim,
         globalStrides, boxDim, elementStrides,
         (CUtensorMapInterleave)interleave, (CUtensorMapSwizzle)swizzle,
         (CUtensorMapL2promotion)l2Promotion, (CUtensorMapFloatOOBfill)oobFill))
    goto done;

  pthread_mutex_lock(&tensorMapLock);
  int slot = -1;
  for (int i = 0; i < tensorMapCount && slot < 0; ++i)
    if (!memcmp(&tensorMaps[i], &map, sizeof map))
      slot = i;
  if (slot < 0 && !tensorMapMemory &&
      CU(cuMemAlloc, &tensorMapMemory, sizeof tensorMaps))
    tensorMapMemory = 0;
  if (slot < 0 && tensorMapMemory) {
    if (tensorMapCount == kTensorMapSlots && !CU(cuCtxSynchronize))
      tensorMapCount = 0;
    if (tensorMapCount < kTensorMapSlots) {
      /* Queued on the bound stream, ahead of the launches that read it; the
       * host copy stays put while the table lives. */
      tensorMaps[tensorMapCount] = map;
      if (!CU(cuMemcpyAsync,
              tensorMapMemory + (CUdeviceptr)tensorMapCount * sizeof map,
              (CUdeviceptr)(uintptr_t)&tensorMaps[tensorMapCount], sizeof map,
              atomic_load(&boundStream)))
        slot = tensorMapCount++;
    }
  }
  if (slot >= 0)
    result = (void *)(uintptr_t)(tensorMapMemory +
                                 (CUdeviceptr)slot * sizeof(CUtensorMap));
  pthread_mutex_unlock(&tensorMapLock);
done:
  leave(&scope);
  return result;
}

/*===--- tests ----------------------------------------------------------===*/

void moe_cuda_testing_reset(const char *path) {
  static const pthread_once_t fresh = PTHREAD_ONCE_INIT;
  /* What the binding holds goes back to the driver first. */
  CUcontext previous;
  if (atomic_load(&isBound) &&
      driver.cuCtxPushCurrent(bound.context) == CUDA_SUCCESS) {
    if (tensorMapMemory)
      driver.cuMemFree(tensorMapMemory);
    if (bound.ownStream)
      driver.cuStreamDestroy(bound.ownStream);
    driver.cuCtxPopCurrent(&previous);
  }
  driverPath = path;
  memcpy(&driverOnce, &fresh, sizeof fresh);
  memset(&driver, 0, sizeof driver);
  driverLoaded = 0;
  driverError[0] = '\0';
  memset(&bound, 0, sizeof bound);
  atomic_store(&isBound, 0);
  atomic_store(&boundStream, NULL);
  for (LazyModule *module = modules; module; module = module->next)
    module->module = NULL;
  tensorMapCount = 0;
  tensorMapMemory = 0;
  moe_cuda_clear_error();
}
