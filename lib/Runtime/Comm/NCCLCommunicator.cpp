//===- NCCLCommunicator.cpp - expert parallelism over NCCL ----------------===//
//
// Every NCCL call here is on a non-blocking communicator (config.blocking =
// 0) and every wait is a poll against the deadline: NCCL's blocking calls
// (init, group end, stream synchronisation) have no timeout of their own.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/NCCLCommunicator.h"
#include "moe/Runtime/MPICommunicator.h"
#include "moe/Support/Limits.h"

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

using namespace moe::runtime;

std::string moe::runtime::ncclVersionString() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess)
    return "unknown";
  // NCCL_VERSION's two encodings: X*1000+Y*100+Z up to 2.8, X*10000+Y*100+Z
  // from 2.9 on.
  int major = code >= 10000 ? code / 10000 : code / 1000;
  int minor = code >= 10000 ? code / 100 % 100 : code / 100 % 10;
  return std::to_string(major) + "." + std::to_string(minor) + "." +
         std::to_string(code % 100);
}

int moe::runtime::cudaDeviceCount(std::string &error) {
  // The static runtime loads the driver itself and calls its absence an
  // "insufficient driver": name the missing library instead.
  if (void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(driver);
  } else {
    const char *why = dlerror();
    error = std::string("no CUDA device: the CUDA driver is not installed (") +
            (why ? why : "libcuda.so.1 not found") + ")";
    return 0;
  }
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    error = std::string("no CUDA device: ") + cudaGetErrorString(status) +
            " (" + cudaGetErrorName(status) + ")";
    return 0;
  }
  if (count <= 0) {
    error = "no CUDA device: the driver reports none";
    return 0;
  }
  return count;
}

namespace {

std::string formatSeconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return text;
}

std::string ncclWhy(ncclResult_t result) {
  std::string why = ncclGetErrorString(result);
  const char *last = ncclGetLastError(nullptr);
  if (last && *last)
    why += std::string(": ") + last;
  return why;
}

/// A deadline and the pause between polls: short at first (an exchange of
/// a few rows completes in microseconds), up to a millisecond.
class Poll {
public:
  explicit Poll(double seconds)
      : end(std::chrono::steady_clock::now() +
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>(seconds))) {}
  bool expired() const { return std::chrono::steady_clock::now() > end; }
  void pause() {
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::microseconds(1000));
  }

private:
  std::chrono::steady_clock::time_point end;
  std::chrono::microseconds delay{1};
};

/// Makes a device current for one call and gives the caller's back: a
/// library may call from a thread whose current device is another.
class DeviceScope {
public:
  explicit DeviceScope(int device) : device(device) {
    ok = cudaGetDevice(&previous) == cudaSuccess &&
         (previous == device || cudaSetDevice(device) == cudaSuccess);
  }
  ~DeviceScope() {
    if (ok && previous != device)
      cudaSetDevice(previous);
  }
  bool ok = false;

private:
  int device;
  int previous = 0;
};

/// What each rank tells rank 0 before the NCCL communicator is made: whether
/// it is ready and, to find two ranks on one GPU, its host and GPU.
struct RankSetup {
  int32_t ok;
  int32_t device;
  int32_t devices;
  unsigned char uuid[16];
  char host[64];
};

/// Rank 0's answer to all: the unique id, or why no rank goes on.
struct Verdict {
  int32_t ok;
  char message[512];
  ncclUniqueId id;
};

std::string hostOf(const RankSetup &setup) {
  return std::string(setup.host, strnlen(setup.host, sizeof setup.host));
}

/// Rank 0's verdict on every rank's setup.
void judge(const std::vector<RankSetup> &setups, Verdict &verdict) {
  verdict.ok = 0;
  auto say = [&](const std::string &text) {
    std::snprintf(verdict.message, sizeof verdict.message, "%s", text.c_str());
  };
  for (size_t r = 0; r < setups.size(); ++r)
    if (!setups[r].ok) {
      say("rank " + std::to_string(r) +
          " could not set up its GPU (it reports why)");
      return;
    }
  // The first rank on each GPU, keyed by host and GPU UUID.
  std::map<std::string, size_t> first;
  for (size_t r = 0; r < setups.size(); ++r) {
    std::string gpu =
        hostOf(setups[r]) + '\0' +
        std::string(reinterpret_cast<const char *>(setups[r].uuid),
                    sizeof setups[r].uuid);
    auto [at, isNew] = first.emplace(gpu, r);
    if (!isNew) {
      say("ranks " + std::to_string(at->second) + " and " + std::to_string(r) +
          " would share GPU " + std::to_string(setups[r].device) +
          " of host '" + hostOf(setups[r]) +
          "', but NCCL runs one rank per GPU: start at most as many ranks "
          "on a host as it has GPUs (" +
          std::to_string(setups[r].devices) + " here)");
      return;
    }
  }
  ncclResult_t result = ncclGetUniqueId(&verdict.id);
  if (result != ncclSuccess) {
    say("ncclGetUniqueId failed: " + ncclWhy(result));
    return;
  }
  verdict.ok = 1;
}

} // namespace

namespace moe::runtime {
/// One exchange in flight: the event after its bytes on the stream.
struct NCCLExchange {
  cudaEvent_t done = nullptr;
  ~NCCLExchange() {
    if (done)
      cudaEventDestroy(done);
  }

  static NCCLCommunicator *self(void *impl) {
    return static_cast<NCCLCommunicator *>(impl);
  }
  static ncclComm_t commOf(NCCLCommunicator *c) {
    return static_cast<ncclComm_t>(c->nccl);
  }

  static int32_t fail(NCCLCommunicator *c, const std::string &message) {
    c->error = "rank " + std::to_string(c->api.rank) + ": " + message;
    return MOE_STATUS_COMMUNICATION;
  }

  /// Aborts the NCCL communicator: after a timeout or an error its
  /// operations in flight cannot be dropped any other way, and its peers
  /// must not go on as if this rank took part.
  static int32_t abortWith(NCCLCommunicator *c, const std::string &message) {
    if (c->nccl) {
      // Non-blocking: NCCL reclaims the communicator in the background.
      ncclCommAbort(commOf(c));
      c->nccl = nullptr;
    }
    c->isAborted = true;
    return fail(c, message + "; the NCCL communicator was aborted");
  }

  /// Polls until NCCL finished the non-blocking calls made so far (init,
  /// group end, finalize), until the call's deadline.
  static int32_t settle(NCCLCommunicator *c, const std::string &what,
                        Poll &poll) {
    while (true) {
      ncclResult_t state = ncclSuccess;
      ncclResult_t result = ncclCommGetAsyncError(commOf(c), &state);
      if (result != ncclSuccess)
        return abortWith(
            c, what + ": ncclCommGetAsyncError failed: " + ncclWhy(result));
      if (state == ncclSuccess)
        return MOE_STATUS_OK;
      if (state != ncclInProgress)
        return abortWith(c, what + " failed: " + ncclWhy(state));
      if (poll.expired())
        return abortWith(c, what + " did not complete within " +
                                formatSeconds(c->options.timeoutSeconds) +
                                " s: another rank stopped responding");
      poll.pause();
    }
  }

  /// Polls `event` and NCCL's asynchronous error until the event completes
  /// or the call's deadline passes.
  static int32_t complete(NCCLCommunicator *c, cudaEvent_t event,
                          const std::string &what, Poll &poll) {
    while (true) {
      cudaError_t status = cudaEventQuery(event);
      if (status == cudaSuccess)
        return MOE_STATUS_OK;
      if (status != cudaErrorNotReady)
        return abortWith(
            c, what + " failed on the device: " + cudaGetErrorString(status));
      ncclResult_t state = ncclSuccess;
      ncclResult_t result = ncclCommGetAsyncError(commOf(c), &state);
      if (result != ncclSuccess ||
          (state != ncclSuccess && state != ncclInProgress))
        return abortWith(c,
                         what + " failed: " +
                             ncclWhy(result != ncclSuccess ? result : state));
      if (poll.expired())
        return abortWith(c, what + " did not complete within " +
                                formatSeconds(c->options.timeoutSeconds) +
                                " s: another rank stopped responding");
      poll.pause();
    }
  }

  /// Enqueues one grouped all-to-all-v of bytes. Empty transfers and those
  /// `skip`ped are left out; both ends of each pair leave out the same
  /// ones, so NCCL's sends and receives still match.
  static int32_t enqueue(NCCLCommunicator *c, const void *send,
                         const int64_t *sendBytes, const int64_t *sendOffsets,
                         void *recv, const int64_t *recvBytes,
                         const int64_t *recvOffsets,
                         const std::vector<char> &skipSend,
                         const std::vector<char> &skipRecv,
                         const std::string &what, Poll &poll) {
    auto stream = static_cast<cudaStream_t>(c->streamHandle);
    ncclResult_t first = ncclGroupStart();
    for (int32_t r = 0; r < c->api.size && first == ncclSuccess; ++r) {
      if (sendBytes[r] > 0 && !skipSend[r])
        first = ncclSend(static_cast<const char *>(send) + sendOffsets[r],
                         static_cast<size_t>(sendBytes[r]), ncclInt8, r,
                         commOf(c), stream);
      if (first == ncclSuccess && recvBytes[r] > 0 && !skipRecv[r])
        first = ncclRecv(static_cast<char *>(recv) + recvOffsets[r],
                         static_cast<size_t>(recvBytes[r]), ncclInt8, r,
                         commOf(c), stream);
    }
    ncclResult_t end = ncclGroupEnd();
    if (first != ncclSuccess)
      return abortWith(c, what + " was refused by NCCL: " + ncclWhy(first));
    if (end == ncclInProgress)
      return settle(c, "enqueueing " + what, poll);
    if (end != ncclSuccess)
      return abortWith(c, what + " was refused by NCCL: " + ncclWhy(end));
    return MOE_STATUS_OK;
  }

  /// An event recorded on the stream now, in `event`.
  static int32_t record(NCCLCommunicator *c, cudaEvent_t &event) {
    cudaError_t status =
        cudaEventCreateWithFlags(&event, cudaEventDisableTiming);
    if (status == cudaSuccess)
      status =
          cudaEventRecord(event, static_cast<cudaStream_t>(c->streamHandle));
    if (status != cudaSuccess)
      return abortWith(c, std::string("cannot record an event: ") +
                              cudaGetErrorString(status));
    return MOE_STATUS_OK;
  }

  /// Exchanges the byte counts and finds the pairs whose two ends disagree:
  /// both ends of a pair see the same two numbers, so both skip the same
  /// transfers. Returns the mismatches in words in `mismatch`.
  static int32_t verifySizes(NCCLCommunicator *c, const int64_t *sendBytes,
                             const int64_t *recvBytes,
                             std::vector<char> &skipSend,
                             std::vector<char> &skipRecv, std::string &mismatch,
                             Poll &poll) {
    int32_t ranks = c->api.size;
    auto stream = static_cast<cudaStream_t>(c->streamHandle);
    size_t half = 2 * static_cast<size_t>(ranks);
    int64_t *out = c->hostSizes, *in = c->hostSizes + half;
    // What rank r is sent, then what it is expected to send.
    for (int32_t r = 0; r < ranks; ++r) {
      out[2 * r] = sendBytes[r];
      out[2 * r + 1] = recvBytes[r];
    }
    std::vector<int64_t> pairBytes(ranks, 2 * sizeof(int64_t)),
        pairOffsets(ranks);
    for (int32_t r = 0; r < ranks; ++r)
      pairOffsets[r] = r * pairBytes[r];
    std::vector<char> none(ranks, 0);
    cudaError_t status =
        cudaMemcpyAsync(c->deviceSizes, out, half * sizeof(int64_t),
                        cudaMemcpyHostToDevice, stream);
    if (status != cudaSuccess)
      return abortWith(c, std::string("cannot copy the byte counts: ") +
                              cudaGetErrorString(status));
    int32_t result =
        enqueue(c, c->deviceSizes, pairBytes.data(), pairOffsets.data(),
                c->deviceSizes + half, pairBytes.data(), pairOffsets.data(),
                none, none, "the exchange of byte counts", poll);
    if (result != MOE_STATUS_OK)
      return result;
    status = cudaMemcpyAsync(in, c->deviceSizes + half, half * sizeof(int64_t),
                             cudaMemcpyDeviceToHost, stream);
    if (status != cudaSuccess)
      return abortWith(c, std::string("cannot copy the byte counts: ") +
                              cudaGetErrorString(status));
    NCCLExchange counts;
    if ((result = record(c, counts.done)) != MOE_STATUS_OK ||
        (result = complete(c, counts.done, "the exchange of byte counts",
                           poll)) != MOE_STATUS_OK)
      return result;
    for (int32_t r = 0; r < ranks; ++r) {
      std::string peer = "rank " + std::to_string(r),
                  at = "[" + std::to_string(r) + "]";
      if (in[2 * r] != recvBytes[r]) {
        skipRecv[r] = 1;
        mismatch += (mismatch.empty() ? "" : "; ") + peer + " sends " +
                    std::to_string(in[2 * r]) + " bytes but recv_bytes" + at +
                    " is " + std::to_string(recvBytes[r]);
      }
      if (in[2 * r + 1] != sendBytes[r]) {
        skipSend[r] = 1;
        mismatch += (mismatch.empty() ? "" : "; ") + peer + " expects " +
                    std::to_string(in[2 * r + 1]) + " bytes but send_bytes" +
                    at + " is " + std::to_string(sendBytes[r]);
      }
    }
    return MOE_STATUS_OK;
  }

  static int32_t start(void *impl, const void *send, const int64_t *sendBytes,
                       const int64_t *sendOffsets, void *recv,
                       const int64_t *recvBytes, const int64_t *recvOffsets,
                       void **request) {
    NCCLCommunicator *c = self(impl);
    if (!request)
      return fail(c, "all_to_all_start without a request to fill");
    *request = nullptr;
    if (c->isAborted)
      return fail(c, "the NCCL communicator was aborted after an earlier "
                     "failure; make a new one");
    if (!sendBytes || !sendOffsets || !recvBytes || !recvOffsets)
      return fail(c, "all_to_all_start with a null byte count or offset "
                     "array");
    int32_t ranks = c->api.size;
    for (int32_t r = 0; r < ranks; ++r) {
      std::string at = "[" + std::to_string(r) + "]";
      for (auto [bytes, offset, name, buffer] :
           {std::make_tuple(sendBytes[r], sendOffsets[r], "send",
                            static_cast<const void *>(send)),
            std::make_tuple(recvBytes[r], recvOffsets[r], "recv",
                            static_cast<const void *>(recv))}) {
        std::string side = name;
        if (bytes < 0 || offset < 0 || offset > INT64_MAX - bytes)
          return fail(c, side + "_bytes" + at + " = " + std::to_string(bytes) +
                             " at " + side + "_offsets" + at + " = " +
                             std::to_string(offset) +
                             " is not a range of bytes");
        if (bytes > 0 && !buffer)
          return fail(c, side + "_bytes" + at + " is " + std::to_string(bytes) +
                             " but the " + side + " buffer is null");
      }
    }
    DeviceScope scope(c->deviceIndex);
    if (!scope.ok)
      return fail(c, "cannot make device " + std::to_string(c->deviceIndex) +
                         " current");
    // One deadline for the whole call, whatever it waits on.
    Poll poll(c->options.timeoutSeconds);
    std::vector<char> skipSend(ranks, 0), skipRecv(ranks, 0);
    std::string mismatch;
    int32_t self = c->api.rank;
    if (c->options.verifySizes) {
      int32_t result = verifySizes(c, sendBytes, recvBytes, skipSend, skipRecv,
                                   mismatch, poll);
      if (result != MOE_STATUS_OK)
        return result;
    } else if (sendBytes[self] != recvBytes[self]) {
      // The one pair whose two ends this rank sees alone.
      std::string at = "[" + std::to_string(self) + "]";
      return fail(
          c, "this rank sends itself " + std::to_string(sendBytes[self]) +
                 " bytes (send_bytes" + at + ") but expects " +
                 std::to_string(recvBytes[self]) + " (recv_bytes" + at + ")");
    }
    auto exchange = std::make_unique<NCCLExchange>();
    int32_t result =
        enqueue(c, send, sendBytes, sendOffsets, recv, recvBytes, recvOffsets,
                skipSend, skipRecv, "an exchange", poll);
    if (result == MOE_STATUS_OK)
      result = record(c, exchange->done);
    if (result != MOE_STATUS_OK)
      return result;
    if (!mismatch.empty()) {
      // The pairs that agree are under way: let them finish before the
      // caller reuses the buffers, then refuse the exchange.
      if ((result = complete(c, exchange->done, "an exchange", poll)) !=
          MOE_STATUS_OK)
        return result;
      return fail(c, "the ranks disagree on an exchange's sizes: " + mismatch);
    }
    *request = exchange.release();
    return MOE_STATUS_OK;
  }

  static int32_t wait(void *impl, void *request) {
    NCCLCommunicator *c = self(impl);
    std::unique_ptr<NCCLExchange> exchange(
        static_cast<NCCLExchange *>(request));
    if (!exchange)
      return fail(c, "no exchange to wait for");
    if (c->isAborted)
      return fail(c, "the NCCL communicator was aborted after an earlier "
                     "failure; make a new one");
    DeviceScope scope(c->deviceIndex);
    if (!scope.ok)
      return fail(c, "cannot make device " + std::to_string(c->deviceIndex) +
                         " current");
    Poll poll(c->options.timeoutSeconds);
    return complete(c, exchange->done, "an exchange", poll);
  }

  static const char *errorMessage(void *impl) {
    return self(impl)->error.c_str();
  }
};
} // namespace moe::runtime

std::unique_ptr<NCCLCommunicator>
NCCLCommunicator::create(MPICommunicator *mpi, const Options &options,
                         std::string &error) {
  std::unique_ptr<NCCLCommunicator> c(new NCCLCommunicator());
  c->options = options;
  c->api.rank = mpi ? mpi->rank() : 0;
  c->api.size = mpi ? mpi->size() : 1;
  c->api.impl = c.get();
  c->api.all_to_all_start = NCCLExchange::start;
  c->api.wait = NCCLExchange::wait;
  c->api.error_message = NCCLExchange::errorMessage;
  std::string prefix = "rank " + std::to_string(c->api.rank) + ": ";
  if (!(options.timeoutSeconds > 0) || options.timeoutSeconds > 1e6) {
    error = prefix + "the timeout must be in (0, 1e6] s, not " +
            formatSeconds(options.timeoutSeconds);
    return nullptr;
  }
  if (c->api.size > moe::limits::kMaxRanks) {
    error = prefix + std::to_string(c->api.size) + " ranks exceed the " +
            std::to_string(moe::limits::kMaxRanks) + " moec supports";
    return nullptr;
  }

  // This rank's own setup, before any rank commits to NCCL.
  RankSetup mine{};
  std::string local;
  int devices = cudaDeviceCount(local);
  if (devices > 0) {
    c->deviceIndex = c->api.rank % devices;
    mine.device = c->deviceIndex;
    mine.devices = devices;
    gethostname(mine.host, sizeof mine.host - 1);
    cudaDeviceProp properties{};
    cudaError_t status = cudaSetDevice(c->deviceIndex);
    if (status == cudaSuccess)
      status = cudaGetDeviceProperties(&properties, c->deviceIndex);
    if (status == cudaSuccess) {
      std::memcpy(mine.uuid, properties.uuid.bytes, sizeof mine.uuid);
      if (options.stream) {
        c->streamHandle = options.stream;
      } else {
        cudaStream_t stream = nullptr;
        status = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
        c->streamHandle = stream;
        c->ownStream = status == cudaSuccess;
      }
    }
    size_t sizeBytes = 4 * static_cast<size_t>(c->api.size) * sizeof(int64_t);
    if (status == cudaSuccess && options.verifySizes) {
      void *device = nullptr, *host = nullptr;
      status = cudaMalloc(&device, sizeBytes);
      c->deviceSizes = static_cast<int64_t *>(device);
      if (status == cudaSuccess)
        status = cudaMallocHost(&host, sizeBytes);
      c->hostSizes = static_cast<int64_t *>(host);
    }
    if (status != cudaSuccess)
      local = "CUDA device " + std::to_string(c->deviceIndex) +
              " cannot be set up: " + cudaGetErrorString(status);
    else
      mine.ok = 1;
  }

  // Rank 0 judges every rank's setup and hands out the unique id.
  Verdict verdict{};
  if (mpi) {
    std::vector<char> all;
    std::string message;
    if (!mpi->gather(&mine, sizeof mine, all, message)) {
      error = message.empty() ? prefix + "gathering the ranks' setup failed"
                              : message;
      return nullptr;
    }
    if (c->api.rank == 0) {
      std::vector<RankSetup> setups(c->api.size);
      std::memcpy(setups.data(), all.data(),
                  std::min(all.size(), setups.size() * sizeof(RankSetup)));
      judge(setups, verdict);
    }
    if (!mpi->broadcast(&verdict, sizeof verdict, message)) {
      error = message;
      return nullptr;
    }
  } else {
    judge({mine}, verdict);
  }
  if (!mine.ok) {
    // Each rank that failed says why; the others name the first of them.
    error = prefix + local;
    return nullptr;
  }
  if (!verdict.ok) {
    error =
        prefix + std::string(verdict.message,
                             strnlen(verdict.message, sizeof verdict.message));
    return nullptr;
  }

  // Non-blocking, so that a rank that never joins is a timeout here.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  ncclResult_t result = ncclCommInitRankConfig(&comm, c->api.size, verdict.id,
                                               c->api.rank, &config);
  c->nccl = comm;
  if (result != ncclSuccess && result != ncclInProgress) {
    NCCLExchange::abortWith(c.get(), "ncclCommInitRankConfig failed: " +
                                         ncclWhy(result));
    error = c->error;
    return nullptr;
  }
  Poll poll(options.timeoutSeconds);
  if (NCCLExchange::settle(c.get(), "NCCL's initialisation", poll) !=
      MOE_STATUS_OK) {
    error = c->error;
    return nullptr;
  }
  return c;
}

NCCLCommunicator::~NCCLCommunicator() {
  DeviceScope scope(deviceIndex);
  if (nccl) {
    // Flush, then free without blocking; past the deadline, abort.
    Poll poll(options.timeoutSeconds);
    ncclResult_t result = ncclCommFinalize(static_cast<ncclComm_t>(nccl));
    if ((result == ncclSuccess || result == ncclInProgress) &&
        NCCLExchange::settle(this, "finalising the communicator", poll) ==
            MOE_STATUS_OK)
      ncclCommDestroy(static_cast<ncclComm_t>(nccl));
    else if (nccl)
      ncclCommAbort(static_cast<ncclComm_t>(nccl));
    nccl = nullptr;
  }
  if (deviceSizes)
    cudaFree(deviceSizes);
  if (hostSizes)
    cudaFreeHost(hostSizes);
  if (ownStream)
    cudaStreamDestroy(static_cast<cudaStream_t>(streamHandle));
}
