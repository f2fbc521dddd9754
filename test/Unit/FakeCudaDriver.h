/*===- FakeCudaDriver.h - a stand-in libcuda for CPU-side tests -*- C -*-===*
 *
 * The driver API functions the embedded CUDA runtime calls, implemented on
 * the host (device memory is malloc'ed, copies are memcpy, launches are
 * recorded, not run) with knobs that make them fail, so that the runtime's
 * binding, error keeping, launch set-up and TMA descriptors are tested
 * without a GPU. Built as a shared library the runtime dlopens instead of
 * libcuda.so.1; a test reaches this state through fake_cuda().
 *===----------------------------------------------------------------------===*/

#ifndef MOE_TEST_UNIT_FAKECUDADRIVER_H
#define MOE_TEST_UNIT_FAKECUDADRIVER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct FakeCuda {
  /* Knobs. */
  int initResult;  /* what cuInit returns (a CUresult) */
  int devices;     /* what cuDeviceGetCount says */
  int sharedOptIn; /* CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN */
  int memoryPools; /* CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED */
  int failAllocation; /* cuMemAlloc* return CUDA_ERROR_OUT_OF_MEMORY */
  /* What was called. */
  int primaryRetains, streamsCreated, streamsDestroyed;
  int allocations, asyncAllocations, managedAllocations;
  int frees, asyncFrees, copies, memsets, syncs, contextSyncs;
  int moduleLoads, jitLoads, jitLevel, launches, clusterLaunches;
  int tensorMapEncodes, poolThresholdSet;
  int sharedAttribute, nonPortableClusters;
  unsigned grid[3], block[3], cluster[3], sharedBytes;
  void *lastStream;
  /* The last tensor map encoded. */
  int mapType, mapRank, mapSwizzle;
  void *mapAddress;
  uint64_t mapDims[5], mapStrides[4];
  uint32_t mapBox[5];
} FakeCuda;

typedef FakeCuda *(*FakeCudaFn)(void);
/* The state; reset to one device, 227 KiB of opt-in shared memory and
 * memory pools by fake_cuda_reset(). */
FakeCuda *fake_cuda(void);
void fake_cuda_reset(void);
/* Context pushes not yet popped on the calling thread. */
int fake_cuda_context_depth(void);
/* The calling thread's current context, and a way to make it another. */
void *fake_cuda_current(void);
void fake_cuda_set_current(void *context);

#ifdef __cplusplus
}
#endif

#endif /* MOE_TEST_UNIT_FAKECUDADRIVER_H */
