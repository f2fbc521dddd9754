//===- moe-nccl-check.cpp - the NCCL communicator, checked on a GPU -------===//
//
//   moe-nccl-check [--timeout S]
//   moe-nccl-check --probe
//
// Prints NCCL's version, makes the NCCL communicator (over MPI's ranks when
// mpirun started it, one rank per GPU; else one rank alone) and drives it
// through its moe_communicator as a compiled library would: exchanges of
// device buffers with gaps between the segments (each byte and each gap
// checked), two exchanges in flight, an empty one, then the failures: sizes
// the ranks disagree on, a rank's exchange with itself of two sizes, a
// timeout (the stream held by a host function) and a call after the abort
// it causes. Every check prints "rank R: NAME: ok" or an error.
//
// `--probe` only counts the CUDA devices ("cuda devices: N"): the test
// suite's `cuda-device` feature. Exit status: 0 every check passed, 1 a
// check or an option failed, 3 no CUDA device (no driver, no GPU), so that
// a machine without a GPU is told from a broken communicator.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/MPICommunicator.h"
#include "moe/Runtime/NCCLCommunicator.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace moe::runtime;

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitNoDevice = 3;
/// Untouched bytes between segments, and their value.
constexpr int64_t kGap = 16;
constexpr unsigned char kSentinel = 0xEE;

std::string rankPrefix = "rank 0: ";
int failures = 0;

void pass(const std::string &check) {
  std::printf("%s%s: ok\n", rankPrefix.c_str(), check.c_str());
  std::fflush(stdout);
}

bool failCheck(const std::string &check, const std::string &why) {
  std::fprintf(stderr, "moe-nccl-check: error: %s%s: %s\n", rankPrefix.c_str(),
               check.c_str(), why.c_str());
  ++failures;
  return false;
}

/// The byte count rank `from` sends rank `to` in exchange `round` (0: none),
/// odd and even sizes alike.
int64_t bytesOf(int32_t from, int32_t to, int round) {
  return round == 0 ? 0 : 8 + 3 * from + 5 * to + 11 * round;
}

unsigned char valueOf(int32_t from, int32_t to, int64_t i, int round) {
  return static_cast<unsigned char>(from * 31 + to * 17 + i * 7 + round * 13 +
                                    1);
}

/// Device memory for the life of one check.
struct DeviceBuffer {
  void *data = nullptr;
  explicit DeviceBuffer(int64_t bytes) {
    if (cudaMalloc(&data, static_cast<size_t>(std::max<int64_t>(bytes, 1))) !=
        cudaSuccess)
      data = nullptr;
  }
  ~DeviceBuffer() {
    if (data)
      cudaFree(data);
  }
};

/// One exchange of round `round` between all ranks: its layout, buffers
/// and request.
class Exchange {
public:
  Exchange(const moe_communicator *comm, int round)
      : comm(comm), round(round), sendBytes(comm->size),
        sendOffsets(comm->size), recvBytes(comm->size),
        recvOffsets(comm->size) {
    for (int32_t r = 0; r < comm->size; ++r) {
      sendOffsets[r] = sendTotal;
      sendBytes[r] = bytesOf(comm->rank, r, round);
      sendTotal += sendBytes[r] + kGap;
      recvOffsets[r] = recvTotal;
      recvBytes[r] = bytesOf(r, comm->rank, round);
      recvTotal += recvBytes[r] + kGap;
    }
    send = std::make_unique<DeviceBuffer>(sendTotal);
    recv = std::make_unique<DeviceBuffer>(recvTotal);
  }

  /// Fills the send buffer with its pattern and the receive buffer with
  /// the sentinel.
  bool fill(std::string &why) {
    if (!send->data || !recv->data) {
      why = "cudaMalloc failed";
      return false;
    }
    std::vector<unsigned char> host(sendTotal, kSentinel);
    for (int32_t r = 0; r < comm->size; ++r)
      for (int64_t i = 0; i < sendBytes[r]; ++i)
        host[sendOffsets[r] + i] = valueOf(comm->rank, r, i, round);
    if (cudaMemcpy(send->data, host.data(), sendTotal,
                   cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemset(recv->data, kSentinel, recvTotal) != cudaSuccess) {
      why = "filling the device buffers failed";
      return false;
    }
    filled = true;
    return true;
  }

  /// Starts the exchange (filling the buffers first unless done); its
  /// status, or -1 when the buffers could not be filled.
  int32_t start(std::string &why) {
    if (!filled && !fill(why))
      return -1;
    int32_t status = comm->all_to_all_start(
        comm->impl, send->data, sendBytes.data(), sendOffsets.data(),
        recv->data, recvBytes.data(), recvOffsets.data(), &request);
    if (status != MOE_STATUS_OK)
      why = comm->error_message(comm->impl);
    return status;
  }

  int32_t wait(std::string &why) {
    int32_t status = comm->wait(comm->impl, request);
    request = nullptr;
    if (status != MOE_STATUS_OK)
      why = comm->error_message(comm->impl);
    return status;
  }

  /// Whether every received byte and every gap is what it should be.
  bool verify(std::string &why) {
    std::vector<unsigned char> host(recvTotal);
    if (cudaMemcpy(host.data(), recv->data, recvTotal,
                   cudaMemcpyDeviceToHost) != cudaSuccess) {
      why = "copying the received bytes back failed";
      return false;
    }
    for (int32_t r = 0; r < comm->size; ++r)
      for (int64_t i = 0; i < recvBytes[r] + kGap; ++i) {
        unsigned char want =
            i < recvBytes[r] ? valueOf(r, comm->rank, i, round) : kSentinel;
        unsigned char got = host[recvOffsets[r] + i];
        if (got != want) {
          why = "byte " + std::to_string(i) + " from rank " +
                std::to_string(r) + (i < recvBytes[r] ? "" : " (a gap)") +
                " is " + std::to_string(got) + ", not " + std::to_string(want);
          return false;
        }
      }
    return true;
  }

  int64_t received() const {
    int64_t total = 0;
    for (int64_t bytes : recvBytes)
      total += bytes;
    return total;
  }

  const moe_communicator *comm;
  int round;
  std::vector<int64_t> sendBytes, sendOffsets, recvBytes, recvOffsets;
  int64_t sendTotal = 0, recvTotal = 0;
  std::unique_ptr<DeviceBuffer> send, recv;
  bool filled = false;
  void *request = nullptr;
};

/// One exchange that must succeed and deliver every byte.
bool checkExchange(const moe_communicator *comm, int round,
                   const std::string &name) {
  Exchange exchange(comm, round);
  std::string why;
  if (exchange.start(why) != MOE_STATUS_OK ||
      exchange.wait(why) != MOE_STATUS_OK || !exchange.verify(why))
    return failCheck(name, why);
  pass(name + " (" + std::to_string(exchange.received()) + " bytes)");
  return true;
}

bool checkTwoInFlight(const moe_communicator *comm) {
  const std::string name = "two exchanges in flight";
  Exchange first(comm, 2), second(comm, 3);
  std::string why;
  if (first.start(why) != MOE_STATUS_OK || second.start(why) != MOE_STATUS_OK ||
      first.wait(why) != MOE_STATUS_OK || second.wait(why) != MOE_STATUS_OK ||
      !first.verify(why) || !second.verify(why))
    return failCheck(name, why);
  pass(name);
  return true;
}

/// A failure the communicator must report: `status` COMMUNICATION and a
/// message containing `expected`.
bool expectFailure(const std::string &name, int32_t status,
                   const std::string &message, const std::string &expected) {
  if (status != MOE_STATUS_COMMUNICATION)
    return failCheck(name, "expected status " +
                               std::to_string(MOE_STATUS_COMMUNICATION) +
                               ", got " + std::to_string(status));
  if (message.find(expected) == std::string::npos)
    return failCheck(name, "expected an error containing '" + expected +
                               "', got '" + message + "'");
  std::printf("%s%s: ok: %s\n", rankPrefix.c_str(), name.c_str(),
              message.c_str());
  std::fflush(stdout);
  return true;
}

/// Every rank sends its next rank one byte more than that rank expects.
bool checkSizeMismatch(const moe_communicator *comm) {
  Exchange exchange(comm, 4);
  exchange.sendBytes[(comm->rank + 1) % comm->size] += 1;
  std::string why;
  int32_t status = exchange.start(why);
  return expectFailure("size mismatch", status, why,
                       "the ranks disagree on an exchange's sizes");
}

bool checkSelfMismatch(const moe_communicator *comm) {
  Exchange exchange(comm, 7);
  exchange.sendBytes[comm->rank] += 1;
  std::string why;
  int32_t status = exchange.start(why);
  return expectFailure("size mismatch with itself", status, why,
                       "this rank sends itself");
}

/// Holds a stream until released (or for 30 s at most): the exchange
/// behind it cannot complete, as if a peer had stopped.
std::atomic<bool> released{false};
void CUDART_CB holdStream(void *) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!released.load() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

bool checkTimeout(NCCLCommunicator &nccl, double timeout) {
  const std::string name = "timeout";
  auto stream = static_cast<cudaStream_t>(nccl.stream());
  // Allocated and filled before the stream is held: cudaMalloc may wait
  // for the device.
  Exchange exchange(nccl.get(), 8);
  std::string why;
  if (!exchange.fill(why))
    return failCheck(name, why);
  if (cudaLaunchHostFunc(stream, holdStream, nullptr) != cudaSuccess)
    return failCheck(name, "cudaLaunchHostFunc failed");
  auto begin = std::chrono::steady_clock::now();
  int32_t status = exchange.start(why);
  if (status == MOE_STATUS_OK)
    status = exchange.wait(why);
  double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
          .count();
  released = true;
  bool ok = expectFailure(name, status, why,
                          "did not complete within " +
                              std::to_string(static_cast<int>(timeout)) + " s");
  if (ok && waited > timeout + 5)
    ok = failCheck(name, "the exchange took " + std::to_string(waited) +
                             " s to fail");
  if (ok && !nccl.aborted())
    ok = failCheck(name, "the communicator was not aborted");
  // The held exchange must drain once released, aborted or not.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  cudaError_t drained;
  while ((drained = cudaStreamQuery(stream)) == cudaErrorNotReady &&
         std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (drained == cudaErrorNotReady)
    return failCheck("stream after the abort", "still busy after 60 s");
  if (drained != cudaSuccess)
    return failCheck("stream after the abort", cudaGetErrorString(drained));
  pass("stream after the abort");
  return ok;
}

bool checkAfterAbort(const moe_communicator *comm) {
  Exchange exchange(comm, 9);
  std::string why;
  int32_t status = exchange.start(why);
  return expectFailure("after the abort", status, why, "was aborted");
}

int run(int argc, char **argv) {
  bool probe = false;
  double timeout = 60;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--probe") {
      probe = true;
    } else if (arg == "--timeout" && i + 1 < argc) {
      char *end = nullptr;
      timeout = std::strtod(argv[++i], &end);
      if (*end || !(timeout >= 1 && timeout <= 3600)) {
        std::fprintf(stderr,
                     "moe-nccl-check: error: --timeout: '%s' is not a "
                     "number of seconds in [1, 3600]\n",
                     argv[i]);
        return kExitFailed;
      }
    } else {
      std::fprintf(stderr,
                   "moe-nccl-check: error: %s: unknown option (usage: "
                   "moe-nccl-check [--probe] [--timeout S])\n",
                   arg.c_str());
      return kExitFailed;
    }
  }

  std::printf("nccl version: %s\n", ncclVersionString().c_str());
  std::fflush(stdout);
  std::string error;
  if (probe) {
    int devices = cudaDeviceCount(error);
    if (devices == 0) {
      std::fprintf(stderr, "moe-nccl-check: error: %s\n", error.c_str());
      return kExitNoDevice;
    }
    std::printf("cuda devices: %d\n", devices);
    return 0;
  }

  std::unique_ptr<MPICommunicator> mpi;
  if (launchedByMPI()) {
    mpi = MPICommunicator::create(timeout, error);
    if (!mpi) {
      std::fprintf(stderr, "moe-nccl-check: error: %s\n", error.c_str());
      return kExitFailed;
    }
    rankPrefix = "rank " + std::to_string(mpi->rank()) + ": ";
  }
  NCCLCommunicator::Options options;
  options.timeoutSeconds = timeout;
  auto nccl = NCCLCommunicator::create(mpi.get(), options, error);
  if (!nccl) {
    std::fprintf(stderr, "moe-nccl-check: error: %s\n", error.c_str());
    std::string none;
    return cudaDeviceCount(none) == 0 ? kExitNoDevice : kExitFailed;
  }
  // This rank's buffers go on its device.
  if (cudaSetDevice(nccl->device()) != cudaSuccess) {
    std::fprintf(stderr, "moe-nccl-check: error: %scannot use device %d\n",
                 rankPrefix.c_str(), nccl->device());
    return kExitFailed;
  }
  std::printf("%scommunicator: %d of %d ranks on device %d\n",
              rankPrefix.c_str(), nccl->rank(), nccl->size(), nccl->device());
  const moe_communicator *comm = nccl->get();
  checkExchange(comm, 1, "exchange");
  checkTwoInFlight(comm);
  checkExchange(comm, 0, "empty exchange");
  checkSizeMismatch(comm);
  checkExchange(comm, 5, "exchange after a size mismatch");

  // Without the count exchange, on a short deadline and a stream of the
  // caller's (what a library's context passes).
  cudaStream_t stream = nullptr;
  if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) !=
      cudaSuccess) {
    failCheck("unverified communicator", "cudaStreamCreate failed");
  } else {
    NCCLCommunicator::Options quick;
    quick.timeoutSeconds = 2;
    quick.verifySizes = false;
    quick.stream = stream;
    auto unverified = NCCLCommunicator::create(mpi.get(), quick, error);
    if (!unverified) {
      failCheck("unverified communicator", error);
    } else {
      checkExchange(unverified->get(), 6, "unverified exchange");
      checkSelfMismatch(unverified->get());
      checkTimeout(*unverified, quick.timeoutSeconds);
      checkAfterAbort(unverified->get());
    }
    unverified.reset();
    cudaStreamDestroy(stream);
  }

  bool allPassed = failures == 0;
  if (mpi)
    allPassed = mpi->allAgree(allPassed);
  std::printf("%s%s\n", rankPrefix.c_str(),
              allPassed ? "all checks passed" : "some checks failed");
  return allPassed ? 0 : kExitFailed;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "moe-nccl-check: error: unexpected exception: %s\n",
                 e.what());
    return kExitFailed;
  }
}
