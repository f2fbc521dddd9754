//===- MPICommunicator.h - expert parallelism over MPI ----------*- C++ -*-===//
//
// The CPU's communicator (moe_communicator of moe_runtime.h) on MPI:
// all-to-all-v as MPI_Ialltoallv over MPI_COMM_WORLD, completed by polling
// with a deadline, so that a rank that stopped responding makes the others
// fail with a message instead of hanging (MPI has no timeout of its own).
// Also the few collectives moe-run needs around a forward (gathering the
// output and the per-rank reports on rank 0). The header has no MPI types:
// programs that use it need not compile against MPI.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_MPICOMMUNICATOR_H
#define MOE_RUNTIME_MPICOMMUNICATOR_H

#include "moe/Runtime/moe_runtime.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moe::runtime {

/// Whether this build has the MPI communicator (MOEC_HAVE_MPI).
bool haveMPI();
/// Whether an MPI launcher (mpirun, srun) started this process.
bool launchedByMPI();

class MPICommunicator {
public:
  /// Initialises MPI (once per process) over all its ranks; each exchange
  /// fails after `timeoutSeconds` without progress.
  static std::unique_ptr<MPICommunicator> create(double timeoutSeconds,
                                                 std::string &error);
  ~MPICommunicator();
  MPICommunicator(const MPICommunicator &) = delete;
  MPICommunicator &operator=(const MPICommunicator &) = delete;

  int32_t rank() const { return api.rank; }
  int32_t size() const { return api.size; }
  /// What a context carries (moe_context.communicator).
  const moe_communicator *get() const { return &api; }

  /// Rank 0 receives every rank's `bytes` bytes at `data`, concatenated in
  /// rank order, into `out` (other ranks' `out` is left empty).
  bool gather(const void *data, int64_t bytes, std::vector<char> &out,
              std::string &error);
  /// Every rank's value, on rank 0 (in rank order).
  bool gatherDoubles(const std::vector<double> &mine, std::vector<double> &all,
                     std::string &error);
  /// Rank 0's `bytes` bytes at `data` reach every rank's `data` (the NCCL
  /// communicator's unique id).
  bool broadcast(void *data, int64_t bytes, std::string &error);
  /// Whether `ok` holds on every rank (each rank learns it).
  bool allAgree(bool ok);
  /// Ends every rank with `code` (MPI_Abort): after a failure that the
  /// other ranks may be waiting on.
  [[noreturn]] void abort(int code);
  /// The last failure in words.
  const std::string &lastError() const { return error; }

private:
  MPICommunicator() = default;
  moe_communicator api{};
  double timeout = 0;
  std::string error;
  friend struct MPIExchange;
};

} // namespace moe::runtime

#endif // MOE_RUNTIME_MPICOMMUNICATOR_H
