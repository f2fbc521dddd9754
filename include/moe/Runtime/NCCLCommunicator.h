//===- NCCLCommunicator.h - expert parallelism over NCCL --------*- C++ -*-===//
//
// The GPU's communicator (moe_communicator of moe_runtime.h) on NCCL, for
// device buffers: the all-to-all-v as grouped ncclSend/ncclRecv of bytes on
// one CUDA stream, completed by polling an event and NCCL's asynchronous
// error against a deadline; a timeout or an error aborts the NCCL
// communicator (ncclCommAbort), after which every call fails. The NCCL
// communicator is non-blocking, so that its creation, the enqueueing of an
// exchange and its completion all give up at the deadline instead of
// hanging on a rank that stopped responding.
//
// One GPU per rank (NCCL's rule): rank r uses device r % devices, and
// creation refuses two ranks on one GPU of a host. Rank 0's ncclUniqueId
// reaches the others through the MPI communicator. A process without a
// usable GPU or driver gets "no CUDA device: ..." (the CUDA runtime is
// linked statically and loads the driver itself, so a missing libcuda.so.1
// is an error, not a loader failure). The header has no CUDA or NCCL
// types: programs that use it need not compile against either. Built only
// with NCCL and MPI (MOEC_HAVE_NCCL, MOEC_HAVE_MPI), as MoERuntimeNCCL.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_NCCLCOMMUNICATOR_H
#define MOE_RUNTIME_NCCLCOMMUNICATOR_H

#include "moe/Runtime/moe_runtime.h"

#include <cstdint>
#include <memory>
#include <string>

namespace moe::runtime {

class MPICommunicator;

/// NCCL's version as "major.minor.patch" (ncclGetVersion; needs no GPU).
std::string ncclVersionString();

/// The CUDA devices this process can use: a positive count, or 0 with
/// `error` saying why, starting "no CUDA device: " (no driver, no device, a
/// driver older than the runtime).
int cudaDeviceCount(std::string &error);

class NCCLCommunicator {
public:
  struct Options {
    /// Each creation, enqueueing and wait fails after this long.
    double timeoutSeconds = 60;
    /// Exchange the byte counts before the bytes, so that a rank whose
    /// recv_bytes differ from what its peer sends gets an error naming both
    /// instead of a hang until the deadline. Costs one small exchange and
    /// one host synchronisation per all_to_all_start; without it, only this
    /// rank's exchange with itself is checked.
    bool verifySizes = true;
    /// The cudaStream_t to run on (the library's stream, so that the bytes
    /// follow the kernels that wrote them); null: a stream of our own.
    void *stream = nullptr;
  };

  /// The communicator of `mpi`'s ranks (a collective over them: every rank
  /// calls it, and all fail if one does), or of one rank alone when `mpi` is
  /// null. On failure returns null and `error` says why, "rank r: ...".
  static std::unique_ptr<NCCLCommunicator>
  create(MPICommunicator *mpi, const Options &options, std::string &error);
  /// Flushes and frees the NCCL communicator (aborting it past the
  /// deadline), then the stream if it is ours.
  ~NCCLCommunicator();
  NCCLCommunicator(const NCCLCommunicator &) = delete;
  NCCLCommunicator &operator=(const NCCLCommunicator &) = delete;

  int32_t rank() const { return api.rank; }
  int32_t size() const { return api.size; }
  /// The CUDA device this rank runs on.
  int32_t device() const { return deviceIndex; }
  /// The cudaStream_t exchanges run on (what moe_context.stream carries).
  void *stream() const { return streamHandle; }
  /// What a context carries (moe_context.communicator).
  const moe_communicator *get() const { return &api; }
  /// Whether a timeout or an NCCL error aborted the communicator.
  bool aborted() const { return isAborted; }
  /// The last failure in words.
  const std::string &lastError() const { return error; }

private:
  NCCLCommunicator() = default;
  moe_communicator api{};
  Options options;
  int32_t deviceIndex = 0;
  void *streamHandle = nullptr;
  bool ownStream = false;
  bool isAborted = false;
  /// ncclComm_t.
  void *nccl = nullptr;
  /// verifySizes' buffers, on the device and pinned on the host: 4 x size
  /// int64, for each peer what it is sent and what it should send, then the
  /// same pairs as the peers see them.
  int64_t *deviceSizes = nullptr;
  int64_t *hostSizes = nullptr;
  std::string error;
  friend struct NCCLExchange;
};

} // namespace moe::runtime

#endif // MOE_RUNTIME_NCCLCOMMUNICATOR_H
