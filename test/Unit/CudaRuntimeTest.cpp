//===- CudaRuntimeTest.cpp - the CUDA runtime linked into CUDA libraries --===//
//
// The embedded CUDA runtime (lib/Runtime/Embedded/CudaRuntime.c) three ways:
// against the machine's own driver (none here: "no CUDA driver", and every
// mgpu* call after it a no-op; with a GPU: a real bind, copies, a memset,
// a PTX kernel launched with 64 KiB of dynamic shared memory and a TMA
// descriptor), and against FakeCudaDriver.c, which records what the runtime
// asks of the driver and fails on request: binding, streams, lazy modules,
// launches, allocation, the errors kept per thread and TMA descriptors.
//
//===----------------------------------------------------------------------===//

#include "CudaRuntime.h"
#include "FakeCudaDriver.h"

#include <cuda.h>
#include <gtest/gtest.h>

#include <cstring>
#include <dlfcn.h>
#include <string>
#include <thread>
#include <vector>

namespace {

/// The fake driver's state, through the handle the runtime also gets.
FakeCuda &fake() {
  static FakeCudaFn state = [] {
    void *handle = dlopen(MOEC_FAKE_CUDA_DRIVER, RTLD_NOW | RTLD_LOCAL);
    EXPECT_NE(handle, nullptr) << dlerror();
    return reinterpret_cast<FakeCudaFn>(dlsym(handle, "fake_cuda"));
  }();
  return *state();
}

/// A function of the fake driver's.
template <typename F> F *fakeFunction(const char *name) {
  return reinterpret_cast<F *>(
      dlsym(dlopen(MOEC_FAKE_CUDA_DRIVER, RTLD_NOW | RTLD_LOCAL), name));
}

int contextDepth() { return fakeFunction<int()>("fake_cuda_context_depth")(); }

/// A runtime bound to the fake driver's device 0, on the runtime's own
/// stream.
class FakeDriver : public ::testing::Test {
protected:
  void SetUp() override {
    fake();
    reinterpret_cast<void (*)()>(
        dlsym(dlopen(MOEC_FAKE_CUDA_DRIVER, RTLD_NOW | RTLD_LOCAL),
              "fake_cuda_reset"))();
    moe_cuda_testing_reset(MOEC_FAKE_CUDA_DRIVER);
  }
  void TearDown() override { moe_cuda_testing_reset(nullptr); }
  int32_t bind(int32_t device = 0, void *stream = nullptr) {
    moe_context ctx;
    moe_context_init_cuda(&ctx, device);
    ctx.stream = stream;
    return moe_cuda_bind(&ctx);
  }
  std::string message() { return moe_cuda_error_message(); }
};

// A minimal kernel: thread i of the grid stores `value` at out[i] (i <
// count) after a round trip through dynamic shared memory at 64 KiB, so
// that it launches only when the runtime opted the kernel in past 48 KiB.
const char kFillPtx[] = R"(.version 7.6
.target sm_80
.address_size 64
.extern .shared .align 16 .b8 moe_test_shared[];
.visible .entry moe_test_fill(.param .u64 out, .param .u32 value,
                              .param .u32 count)
{
  .reg .pred %p<2>;
  .reg .b32 %r<8>;
  .reg .b64 %rd<5>;
  ld.param.u64 %rd1, [out];
  ld.param.u32 %r1, [value];
  ld.param.u32 %r2, [count];
  mov.u32 %r3, %ctaid.x;
  mov.u32 %r4, %ntid.x;
  mov.u32 %r5, %tid.x;
  mad.lo.s32 %r6, %r3, %r4, %r5;
  setp.ge.u32 %p1, %r6, %r2;
  @%p1 bra $L_done;
  mov.u32 %r7, moe_test_shared;
  shl.b32 %r3, %r5, 2;
  add.s32 %r7, %r7, %r3;
  add.s32 %r7, %r7, 65532;
  st.shared.u32 [%r7], %r1;
  ld.shared.u32 %r1, [%r7];
  cvta.to.global.u64 %rd2, %rd1;
  mul.wide.u32 %rd3, %r6, 4;
  add.s64 %rd4, %rd2, %rd3;
  st.global.u32 [%rd4], %r1;
$L_done:
  ret;
}
)";

/// A ranked memref descriptor of rank 2 as lowered code passes it.
struct MemRef2D {
  void *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
};

/// The calls lowered code makes after a failure: none may crash, and each
/// pointer result is null.
void expectNoOps() {
  int dims = 0;
  EXPECT_EQ(mgpuStreamCreate(), nullptr);
  EXPECT_EQ(mgpuEventCreate(), nullptr);
  EXPECT_EQ(mgpuMemAlloc(64, nullptr, 0), nullptr);
  EXPECT_EQ(moe_cuda_upload(&dims, sizeof dims), nullptr);
  void *module = mgpuModuleLoad(kFillPtx, sizeof kFillPtx);
  EXPECT_EQ(mgpuModuleGetFunction(module, "moe_test_fill"), nullptr);
  mgpuLaunchKernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  mgpuLaunchClusterKernel(nullptr, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, nullptr,
                          nullptr, nullptr);
  mgpuMemcpy(&dims, &dims, sizeof dims, nullptr);
  mgpuMemset32(&dims, 1, 1, nullptr);
  mgpuMemset16(&dims, 1, 1, nullptr);
  mgpuStreamSynchronize(nullptr);
  mgpuStreamWaitEvent(nullptr, nullptr);
  mgpuEventRecord(nullptr, nullptr);
  mgpuEventSynchronize(nullptr);
  mgpuEventDestroy(nullptr);
  mgpuMemFree(nullptr, nullptr);
  mgpuStreamDestroy(nullptr);
  moe_cuda_free(nullptr);
  MemRef2D memref{&dims, &dims, 0, {1, 1}, {1, 1}};
  int64_t box[2] = {1, 1};
  EXPECT_EQ(mgpuTensorMapEncodeTiledMemref(2, &memref, 9, 0, 0, 0, 0, box),
            nullptr);
  EXPECT_NE(moe_cuda_download(&dims, &dims, sizeof dims), MOE_STATUS_OK);
  EXPECT_NE(moe_cuda_synchronize(), MOE_STATUS_OK);
  mgpuModuleUnload(module);
  EXPECT_EQ(dims, 0);
}

// Tests the runtime on this machine's driver: without one (this project's
// build machines), bind says "no CUDA driver" with dlerror's reason, the
// calls after it are no-ops that keep the first message, and clearing
// forgets it. With a driver and a GPU, bind succeeds and bytes go to the
// device and back, a memset lands, a PTX kernel runs with 64 KiB of
// dynamic shared memory, and equal TMA descriptors share a device copy.
TEST(CudaRuntime, MachineDriver) {
  moe_cuda_testing_reset(nullptr);
  moe_context ctx;
  moe_context_init_cuda(&ctx, 0);
  EXPECT_EQ(ctx.target, MOE_TARGET_CUDA);
  void *probe = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!probe) {
    std::string why = dlerror();
    EXPECT_EQ(moe_cuda_bind(&ctx), MOE_STATUS_DEVICE);
    EXPECT_EQ(moe_cuda_status(), MOE_STATUS_DEVICE);
    std::string expected =
        "no CUDA driver (libcuda.so.1 could not be loaded: " + why + ")";
    EXPECT_EQ(std::string(moe_cuda_error_message()), expected);
    EXPECT_EQ(std::string(moe_error_message()), expected);
    expectNoOps();
    EXPECT_EQ(std::string(moe_cuda_error_message()), expected);
    moe_cuda_clear_error();
    EXPECT_EQ(moe_cuda_status(), MOE_STATUS_OK);
    EXPECT_STREQ(moe_cuda_error_message(), "");
    // Unbound: the first call says so, the rest are no-ops.
    EXPECT_EQ(mgpuStreamCreate(), nullptr);
    EXPECT_STREQ(moe_cuda_error_message(),
                 "mgpuStreamCreate: no device is bound (the entry's init did "
                 "not succeed)");
    expectNoOps();
    moe_cuda_clear_error();
    EXPECT_STREQ(moe_status_string(MOE_STATUS_DEVICE),
                 "the device or its driver failed");
    return;
  }
  dlclose(probe);
  int32_t status = moe_cuda_bind(&ctx);
  if (status != MOE_STATUS_OK) {
    EXPECT_STREQ(moe_cuda_error_message(),
                 "no GPU (the CUDA driver sees no device)");
    GTEST_SKIP() << "a driver but no GPU";
  }
  ctx.device = 4096;
  EXPECT_EQ(moe_cuda_bind(&ctx), MOE_STATUS_DEVICE);
  EXPECT_EQ(std::string(moe_cuda_error_message())
                .rfind("device 4096 is out "
                       "of range (",
                       0),
            0u)
      << moe_cuda_error_message();
  ctx.device = 0;
  ASSERT_EQ(moe_cuda_bind(&ctx), MOE_STATUS_OK) << moe_cuda_error_message();

  std::vector<uint8_t> bytes(1000), back(1000);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<uint8_t>(i * 7 + 3);
  void *device = moe_cuda_upload(bytes.data(), 1000);
  ASSERT_NE(device, nullptr) << moe_cuda_error_message();
  EXPECT_EQ(moe_cuda_download(back.data(), device, 1000), MOE_STATUS_OK);
  EXPECT_EQ(bytes, back);
  moe_cuda_free(device);

  constexpr int kCount = 1000;
  void *stream = mgpuStreamCreate();
  auto *values = static_cast<float *>(mgpuMemAlloc(4 * kCount, stream, 0));
  ASSERT_NE(values, nullptr) << moe_cuda_error_message();
  float one = 1.0f;
  uint32_t oneBits;
  std::memcpy(&oneBits, &one, 4);
  mgpuMemset32(values, oneBits, kCount, stream);
  std::vector<float> host(kCount, 0.0f);
  mgpuMemcpy(host.data(), values, 4 * kCount, stream);
  mgpuStreamSynchronize(stream);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_OK) << moe_cuda_error_message();
  EXPECT_EQ(host, std::vector<float>(kCount, 1.0f));

  void *module = mgpuModuleLoadJIT(kFillPtx, 3);
  void *function = mgpuModuleGetFunction(module, "moe_test_fill");
  ASSERT_NE(function, nullptr) << moe_cuda_error_message();
  uint32_t fill = 0x40400000, count = kCount; // 3.0f
  void *params[] = {&values, &fill, &count};
  mgpuLaunchKernel(function, (kCount + 127) / 128, 1, 1, 128, 1, 1, 65536 + 512,
                   stream, params, nullptr, 3);
  mgpuMemcpy(host.data(), values, 4 * kCount, stream);
  mgpuStreamSynchronize(stream);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_OK) << moe_cuda_error_message();
  EXPECT_EQ(host, std::vector<float>(kCount, 3.0f));

  // A bf16 [128, 64] tensor, 128-byte rows: the wgmma operand shape.
  auto *tile = static_cast<char *>(mgpuMemAlloc(128 * 64 * 2, stream, 0));
  MemRef2D memref{tile, tile, 0, {128, 64}, {64, 1}};
  int64_t box[2] = {64, 64};
  void *map = mgpuTensorMapEncodeTiledMemref(2, &memref, 9, 0, 3, 0, 0, box);
  EXPECT_NE(map, nullptr) << moe_cuda_error_message();
  EXPECT_EQ(mgpuTensorMapEncodeTiledMemref(2, &memref, 9, 0, 3, 0, 0, box),
            map);
  EXPECT_EQ(moe_cuda_synchronize(), MOE_STATUS_OK) << moe_cuda_error_message();
  mgpuMemFree(tile, stream);
  mgpuMemFree(values, stream);
  mgpuStreamDestroy(stream);
  EXPECT_EQ(moe_cuda_synchronize(), MOE_STATUS_OK) << moe_cuda_error_message();
  mgpuModuleUnload(module);
  moe_cuda_testing_reset(nullptr);
}

// Tests the "no GPU" message, for a failing cuInit and for no device.
TEST_F(FakeDriver, NoGpu) {
  fake().initResult = CUDA_ERROR_NO_DEVICE;
  EXPECT_EQ(bind(), MOE_STATUS_DEVICE);
  EXPECT_EQ(message(), "no GPU (the CUDA driver sees no device)");
  fake().initResult = CUDA_SUCCESS;
  fake().devices = 0;
  EXPECT_EQ(bind(), MOE_STATUS_DEVICE);
  EXPECT_EQ(message(), "no GPU (the CUDA driver sees no device)");
  fake().devices = 1;
  fake().initResult = CUDA_ERROR_NOT_INITIALIZED;
  EXPECT_EQ(bind(), MOE_STATUS_DEVICE);
  EXPECT_EQ(message(), "cuInit: initialization error");
  fake().initResult = CUDA_ERROR_INVALID_IMAGE;
  EXPECT_EQ(bind(), MOE_STATUS_DEVICE);
  EXPECT_EQ(message(), "cuInit: unknown CUDA error");
  EXPECT_EQ(fake().primaryRetains, 0);
}

// Tests that the device is checked against the driver's count, that a
// bind fixes the device, and that a null context is an invalid argument.
TEST_F(FakeDriver, DeviceRange) {
  fake().devices = 2;
  EXPECT_EQ(bind(5), MOE_STATUS_DEVICE);
  EXPECT_EQ(message(), "device 5 is out of range (2 devices)");
  EXPECT_EQ(bind(-1), MOE_STATUS_DEVICE);
  EXPECT_EQ(message(), "device -1 is out of range (2 devices)");
  EXPECT_EQ(moe_cuda_bind(nullptr), MOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(bind(1), MOE_STATUS_OK) << message();
  EXPECT_STREQ(moe_cuda_error_message(), "");
  EXPECT_EQ(bind(1), MOE_STATUS_OK) << message();
  EXPECT_EQ(fake().primaryRetains, 1);
  EXPECT_EQ(bind(0), MOE_STATUS_DEVICE);
  EXPECT_EQ(message(), "device 0: this library is bound to device 1 (a "
                       "process runs a library on one device)");
  mgpuSetDefaultDevice(1);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_DEVICE);
  moe_cuda_clear_error();
  mgpuSetDefaultDevice(1);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_OK);
  mgpuSetDefaultDevice(0);
  EXPECT_EQ(message(), "mgpuSetDefaultDevice(0): this library is bound to "
                       "device 1");
}

// Tests that lowered code's streams are the bound one: the host's when
// the context gives one (never destroyed by the library), else one of the
// library's own, made once; and that the pool keeps freed memory.
TEST_F(FakeDriver, Streams) {
  ASSERT_EQ(bind(), MOE_STATUS_OK) << message();
  EXPECT_EQ(fake().streamsCreated, 1);
  EXPECT_EQ(fake().poolThresholdSet, 1);
  void *own = mgpuStreamCreate();
  EXPECT_NE(own, nullptr);
  EXPECT_EQ(mgpuStreamCreate(), own);
  int hostStream;
  ASSERT_EQ(bind(0, &hostStream), MOE_STATUS_OK) << message();
  void *stream = mgpuStreamCreate();
  EXPECT_EQ(stream, &hostStream);
  mgpuStreamSynchronize(stream);
  EXPECT_EQ(fake().lastStream, &hostStream);
  mgpuStreamDestroy(stream);
  EXPECT_EQ(moe_cuda_synchronize(), MOE_STATUS_OK);
  EXPECT_EQ(fake().lastStream, &hostStream);
  // Back to the library's stream: the same one as before.
  ASSERT_EQ(bind(), MOE_STATUS_OK) << message();
  EXPECT_EQ(mgpuStreamCreate(), own);
  EXPECT_EQ(fake().streamsCreated, 1);
  EXPECT_EQ(fake().streamsDestroyed, 0);
  void *event = mgpuEventCreate();
  EXPECT_NE(event, nullptr);
  mgpuEventRecord(event, own);
  mgpuStreamWaitEvent(own, event);
  mgpuEventSynchronize(event);
  mgpuEventDestroy(event);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_OK) << message();
  // Every call left the calling thread with the bound context (it had
  // none); one with another context gets it back after each call.
  EXPECT_EQ(contextDepth(), 0);
  void *bound = fakeFunction<void *()>("fake_cuda_current")();
  EXPECT_NE(bound, nullptr);
  int foreign;
  fakeFunction<void(void *)>("fake_cuda_set_current")(&foreign);
  int syncs = fake().syncs;
  mgpuStreamSynchronize(own);
  EXPECT_EQ(fake().syncs, syncs + 1);
  EXPECT_EQ(fakeFunction<void *()>("fake_cuda_current")(), &foreign);
  EXPECT_EQ(contextDepth(), 0);
  fakeFunction<void(void *)>("fake_cuda_set_current")(bound);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_OK) << message();
}

// Tests uploads, downloads, stream-ordered and managed allocation, copies
// and memsets through the driver's memory.
TEST_F(FakeDriver, Memory) {
  ASSERT_EQ(bind(), MOE_STATUS_OK) << message();
  const char text[] = "weights";
  void *device = moe_cuda_upload(text, sizeof text);
  ASSERT_NE(device, nullptr);
  char back[sizeof text] = {};
  EXPECT_EQ(moe_cuda_download(back, device, sizeof text), MOE_STATUS_OK);
  EXPECT_STREQ(back, text);
  EXPECT_EQ(fake().allocations, 1);
  moe_cuda_free(device);
  EXPECT_EQ(fake().frees, 1);

  void *stream = mgpuStreamCreate();
  auto *values = static_cast<uint32_t *>(mgpuMemAlloc(16, stream, 0));
  ASSERT_NE(values, nullptr);
  EXPECT_EQ(fake().asyncAllocations, 1);
  mgpuMemset32(values, 0xdeadbeef, 4, stream);
  EXPECT_EQ(values[3], 0xdeadbeefu);
  mgpuMemset16(values, 0x1234, 2, stream);
  EXPECT_EQ(values[0], 0x12341234u);
  uint32_t host[4] = {};
  mgpuMemcpy(host, values, 16, stream);
  EXPECT_EQ(host[3], 0xdeadbeefu);
  mgpuMemFree(values, stream);
  EXPECT_EQ(fake().asyncFrees, 1);
  // Empty buffers and copies are nothing, not driver errors.
  EXPECT_EQ(mgpuMemAlloc(0, stream, 0), nullptr);
  mgpuMemcpy(nullptr, nullptr, 0, stream);
  mgpuMemset32(nullptr, 0, 0, stream);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_OK) << message();

  void *shared = mgpuMemAlloc(8, stream, 1);
  EXPECT_EQ(fake().managedAllocations, 1);
  mgpuMemFree(shared, stream);
  EXPECT_EQ(fake().frees, 2);
  EXPECT_EQ(fake().asyncFrees, 1);
  // Without memory pools, plain allocation.
  moe_cuda_testing_reset(MOEC_FAKE_CUDA_DRIVER);
  fake().memoryPools = 0;
  ASSERT_EQ(bind(), MOE_STATUS_OK) << message();
  void *plain = mgpuMemAlloc(8, nullptr, 0);
  EXPECT_EQ(fake().allocations, 2);
  mgpuMemFree(plain, nullptr);
  EXPECT_EQ(fake().frees, 3);
  EXPECT_EQ(moe_cuda_upload(nullptr, 4), nullptr);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_INVALID_ARGUMENT);
}

// Tests that a failure is kept with the driver's words, that the calls
// after it reach no driver function (and say nothing new) until the error
// is cleared, that memory is still given back, and that each thread keeps
// its own error.
TEST_F(FakeDriver, KeptError) {
  ASSERT_EQ(bind(), MOE_STATUS_OK) << message();
  void *stream = mgpuStreamCreate();
  void *kept = mgpuMemAlloc(8, stream, 0);
  fake().failAllocation = 1;
  EXPECT_EQ(mgpuMemAlloc(64, stream, 0), nullptr);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_DEVICE);
  EXPECT_EQ(message(), "cuMemAllocAsync: out of memory");
  EXPECT_STREQ(moe_error_message(), "cuMemAllocAsync: out of memory");
  int copies = fake().copies, memsets = fake().memsets;
  char host[8] = {};
  mgpuMemcpy(kept, host, 8, stream);
  mgpuMemset32(kept, 0, 2, stream);
  EXPECT_EQ(moe_cuda_download(host, kept, 8), MOE_STATUS_DEVICE);
  EXPECT_EQ(fake().copies, copies);
  EXPECT_EQ(fake().memsets, memsets);
  EXPECT_EQ(moe_cuda_upload(host, 8), nullptr);
  EXPECT_EQ(message(), "cuMemAllocAsync: out of memory");
  mgpuMemFree(kept, stream);
  EXPECT_EQ(fake().asyncFrees, 1);
  EXPECT_EQ(message(), "cuMemAllocAsync: out of memory");

  std::thread other([] {
    EXPECT_EQ(moe_cuda_status(), MOE_STATUS_OK);
    EXPECT_NE(mgpuStreamCreate(), nullptr);
  });
  other.join();

  moe_cuda_clear_error();
  fake().failAllocation = 0;
  void *again = mgpuMemAlloc(8, stream, 0);
  EXPECT_NE(again, nullptr);
  mgpuMemset32(again, 0, 2, stream);
  EXPECT_EQ(fake().memsets, memsets + 1);
  mgpuMemFree(again, stream);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_OK) << message();
  // bind starts afresh.
  fake().failAllocation = 1;
  EXPECT_EQ(moe_cuda_upload(host, 8), nullptr);
  EXPECT_EQ(message(), "cuMemAlloc: out of memory");
  EXPECT_EQ(bind(), MOE_STATUS_OK);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_OK);
}

// Tests that kernel images registered by global constructors are loaded
// only when a function is first asked for (a bound device may not exist
// before), once, as a fatbin or as PTX at the JIT level given; and that a
// missing kernel is a kept error naming the driver call.
TEST_F(FakeDriver, LazyModules) {
  void *fatbin = mgpuModuleLoad("fatbin", 6);
  void *ptx = mgpuModuleLoadJIT("ptx", 2);
  EXPECT_EQ(fake().moduleLoads + fake().jitLoads, 0);
  EXPECT_EQ(mgpuModuleGetFunction(fatbin, "k"), nullptr);
  EXPECT_EQ(message(), "mgpuModuleGetFunction: no device is bound (the "
                       "entry's init did not succeed)");
  ASSERT_EQ(bind(), MOE_STATUS_OK) << message();
  EXPECT_NE(mgpuModuleGetFunction(fatbin, "k"), nullptr);
  EXPECT_NE(mgpuModuleGetFunction(fatbin, "k2"), nullptr);
  EXPECT_EQ(fake().moduleLoads, 1);
  EXPECT_NE(mgpuModuleGetFunction(ptx, "k"), nullptr);
  EXPECT_EQ(fake().jitLoads, 1);
  EXPECT_EQ(fake().jitLevel, 2);
  EXPECT_EQ(mgpuModuleGetFunction(ptx, "missing"), nullptr);
  EXPECT_EQ(message(), "cuModuleGetFunction: unknown CUDA error");
  mgpuModuleUnload(fatbin);
  mgpuModuleUnload(ptx);
}

// Tests launches: the geometry and stream reach the driver, a kernel over
// 48 KiB of dynamic shared memory is opted in first and one past the
// device's limit is refused by name, an empty grid launches nothing, and
// a cluster launch passes its cluster shape (non-portable past 8).
TEST_F(FakeDriver, Launches) {
  ASSERT_EQ(bind(), MOE_STATUS_OK) << message();
  void *module = mgpuModuleLoad("fatbin", 6);
  void *function = mgpuModuleGetFunction(module, "k");
  void *stream = mgpuStreamCreate();
  mgpuLaunchKernel(function, 3, 2, 1, 128, 1, 1, 1024, stream, nullptr, nullptr,
                   0);
  EXPECT_EQ(fake().launches, 1);
  EXPECT_EQ(fake().grid[0], 3u);
  EXPECT_EQ(fake().grid[1], 2u);
  EXPECT_EQ(fake().block[0], 128u);
  EXPECT_EQ(fake().sharedBytes, 1024u);
  EXPECT_EQ(fake().lastStream, stream);
  EXPECT_EQ(fake().sharedAttribute, 0);
  mgpuLaunchKernel(function, 1, 1, 1, 128, 1, 1, 200 * 1024, stream, nullptr,
                   nullptr, 0);
  EXPECT_EQ(fake().sharedAttribute, 200 * 1024);
  EXPECT_EQ(fake().launches, 2);
  mgpuLaunchKernel(function, 0, 1, 1, 128, 1, 1, 0, stream, nullptr, nullptr,
                   0);
  EXPECT_EQ(fake().launches, 2);
  EXPECT_EQ(moe_cuda_status(), MOE_STATUS_OK) << message();
  mgpuLaunchKernel(function, 1, 1, 1, 128, 1, 1, 300 * 1024, stream, nullptr,
                   nullptr, 0);
  EXPECT_EQ(fake().launches, 2);
  EXPECT_EQ(message(), "launch: a kernel asks for 307200 bytes of shared "
                       "memory; device 0 allows 232448");
  moe_cuda_clear_error();
  mgpuLaunchKernel(function, -1, 1, 1, 128, 1, 1, 0, stream, nullptr, nullptr,
                   0);
  EXPECT_EQ(message(), "launch: grid dimension 0 is -1");
  moe_cuda_clear_error();

  mgpuLaunchClusterKernel(function, 2, 1, 1, 4, 1, 1, 128, 1, 1, 0, stream,
                          nullptr, nullptr);
  EXPECT_EQ(fake().clusterLaunches, 1);
  EXPECT_EQ(fake().cluster[0], 2u);
  EXPECT_EQ(fake().grid[0], 4u);
  EXPECT_EQ(fake().nonPortableClusters, 0);
  mgpuLaunchClusterKernel(function, 16, 1, 1, 32, 1, 1, 128, 1, 1, 0, stream,
                          nullptr, nullptr);
  EXPECT_EQ(fake().nonPortableClusters, 1);
  mgpuLaunchClusterKernel(function, 2, 1, 1, 3, 1, 1, 128, 1, 1, 0, stream,
                          nullptr, nullptr);
  EXPECT_EQ(fake().clusterLaunches, 2);
  EXPECT_EQ(message(),
            "cluster launch: cluster dimension 0 is 2 for a grid of 3");
  moe_cuda_clear_error();
  mgpuModuleUnload(module);
  EXPECT_EQ(contextDepth(), 0);
}

// Tests TMA descriptors: the memref's dimensions and byte strides reach
// the driver innermost first, the offset moves the address, the box is
// reversed too; equal descriptors share one device copy (lowered code
// encodes them on every call) and the device copy holds the map; a
// non-unit innermost stride is refused.
TEST_F(FakeDriver, TensorMaps) {
  ASSERT_EQ(bind(), MOE_STATUS_OK) << message();
  std::vector<uint16_t> tensor(256 * 64);
  MemRef2D memref{tensor.data(), tensor.data(), 64, {128, 64}, {128, 1}};
  int64_t box[2] = {32, 64};
  void *map = mgpuTensorMapEncodeTiledMemref(2, &memref, 9, 0, 3, 0, 0, box);
  ASSERT_NE(map, nullptr) << message();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(map) % 64, 0u);
  EXPECT_EQ(fake().mapType, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16);
  EXPECT_EQ(fake().mapRank, 2);
  EXPECT_EQ(fake().mapSwizzle, CU_TENSOR_MAP_SWIZZLE_128B);
  EXPECT_EQ(fake().mapAddress, tensor.data() + 64);
  EXPECT_EQ(fake().mapDims[0], 64u);
  EXPECT_EQ(fake().mapDims[1], 128u);
  EXPECT_EQ(fake().mapStrides[0], 256u);
  EXPECT_EQ(fake().mapBox[0], 64u);
  EXPECT_EQ(fake().mapBox[1], 32u);
  int copies = fake().copies;
  EXPECT_EQ(mgpuTensorMapEncodeTiledMemref(2, &memref, 9, 0, 3, 0, 0, box),
            map);
  EXPECT_EQ(fake().copies, copies);
  EXPECT_EQ(fake().tensorMapEncodes, 2);
  // The device copy is the encoded map (the fake's device memory is the
  // host's).
  void *address;
  std::memcpy(&address, map, sizeof address);
  EXPECT_EQ(address, tensor.data() + 64);
  memref.offset = 0;
  void *other = mgpuTensorMapEncodeTiledMemref(2, &memref, 9, 0, 3, 0, 0, box);
  EXPECT_NE(other, map);
  EXPECT_EQ(fake().copies, copies + 1);
  // A full table is synchronized and reused.
  for (int i = 0; i < 300; ++i) {
    memref.offset = i;
    EXPECT_NE(mgpuTensorMapEncodeTiledMemref(2, &memref, 9, 0, 3, 0, 0, box),
              nullptr);
  }
  EXPECT_EQ(fake().contextSyncs, 1);
  memref.strides[1] = 2;
  EXPECT_EQ(mgpuTensorMapEncodeTiledMemref(2, &memref, 9, 0, 3, 0, 0, box),
            nullptr);
  EXPECT_EQ(message(), "TMA descriptor: the innermost stride is 2, not 1");
  moe_cuda_clear_error();
  EXPECT_EQ(mgpuTensorMapEncodeTiledMemref(6, &memref, 9, 0, 3, 0, 0, box),
            nullptr);
  EXPECT_EQ(message(), "TMA descriptor: rank 6, data type 9");
}

} // namespace
