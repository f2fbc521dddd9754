//===- MPICommunicator.cpp - expert parallelism over MPI ------------------===//

#include "moe/Runtime/MPICommunicator.h"

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>

#ifdef MOEC_HAVE_MPI
// The C API only: OpenMPI's deprecated C++ bindings need their own library.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

using namespace moe::runtime;

bool moe::runtime::launchedByMPI() {
  for (const char *name :
       {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(name))
      return true;
  return false;
}

#ifndef MOEC_HAVE_MPI

bool moe::runtime::haveMPI() { return false; }

std::unique_ptr<MPICommunicator> MPICommunicator::create(double,
                                                         std::string &error) {
  error = "this moec was built without MPI (install openmpi-bin and "
          "libopenmpi-dev, then rebuild)";
  return nullptr;
}
MPICommunicator::~MPICommunicator() = default;
bool MPICommunicator::gather(const void *, int64_t, std::vector<char> &,
                             std::string &) {
  return false;
}
bool MPICommunicator::gatherDoubles(const std::vector<double> &,
                                    std::vector<double> &, std::string &) {
  return false;
}
bool MPICommunicator::broadcast(void *, int64_t, std::string &) {
  return false;
}
bool MPICommunicator::allAgree(bool ok) { return ok; }
void MPICommunicator::abort(int code) { std::exit(code); }

#else

bool moe::runtime::haveMPI() { return true; }

namespace moe::runtime {
/// One exchange in flight: MPI's request and the int counts it reads.
struct MPIExchange {
  MPI_Request request = MPI_REQUEST_NULL;
  std::vector<int> sendCounts, sendOffsets, recvCounts, recvOffsets;

  static MPICommunicator *self(void *impl) {
    return static_cast<MPICommunicator *>(impl);
  }

  static int32_t fail(MPICommunicator *self, const std::string &message) {
    self->error = "rank " + std::to_string(self->api.rank) + ": " + message;
    return MOE_STATUS_COMMUNICATION;
  }

  static int32_t start(void *impl, const void *send, const int64_t *sendBytes,
                       const int64_t *sendOffsets, void *recv,
                       const int64_t *recvBytes, const int64_t *recvOffsets,
                       void **request) {
    MPICommunicator *comm = self(impl);
    *request = nullptr;
    auto exchange = std::make_unique<MPIExchange>();
    int32_t ranks = comm->api.size;
    // MPI counts and displacements are ints.
    for (int32_t r = 0; r < ranks; ++r)
      for (int64_t value : {sendBytes[r], sendOffsets[r] + sendBytes[r],
                            recvBytes[r], recvOffsets[r] + recvBytes[r]})
        if (value < 0 || value > INT_MAX)
          return fail(comm, "an exchange of " + std::to_string(value) +
                                " bytes with rank " + std::to_string(r) +
                                " is outside MPI's int counts");
    for (int32_t r = 0; r < ranks; ++r) {
      exchange->sendCounts.push_back(static_cast<int>(sendBytes[r]));
      exchange->sendOffsets.push_back(static_cast<int>(sendOffsets[r]));
      exchange->recvCounts.push_back(static_cast<int>(recvBytes[r]));
      exchange->recvOffsets.push_back(static_cast<int>(recvOffsets[r]));
    }
    int status = MPI_Ialltoallv(send, exchange->sendCounts.data(),
                                exchange->sendOffsets.data(), MPI_BYTE, recv,
                                exchange->recvCounts.data(),
                                exchange->recvOffsets.data(), MPI_BYTE,
                                MPI_COMM_WORLD, &exchange->request);
    if (status != MPI_SUCCESS)
      return fail(comm, "MPI_Ialltoallv failed (error " +
                            std::to_string(status) + ")");
    *request = exchange.release();
    return MOE_STATUS_OK;
  }

  /// Polls until done or the deadline: MPI's own wait never gives up.
  static int32_t wait(void *impl, void *request) {
    MPICommunicator *comm = self(impl);
    std::unique_ptr<MPIExchange> exchange(static_cast<MPIExchange *>(request));
    if (!exchange)
      return fail(comm, "no exchange to wait for");
    auto start = std::chrono::steady_clock::now();
    auto pause = std::chrono::microseconds(1);
    int polls = 0;
    while (true) {
      int done = 0;
      if (MPI_Test(&exchange->request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        return fail(comm, "MPI_Test failed");
      if (done)
        return MOE_STATUS_OK;
      double waited = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count();
      if (waited > comm->timeout) {
        // The request stays with MPI: a collective cannot be cancelled.
        exchange.release();
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%g", comm->timeout);
        return fail(comm, std::string("an exchange did not complete within ") +
                              seconds + " s: another rank stopped responding");
      }
      // A few polls back to back first: each drives MPI's progress, and
      // the shortest sleep costs ~70 us of timer slack here
      // (bench/RESULTS.md (j)). Not more: on a machine with fewer cores
      // than ranks, a rank that keeps polling keeps its peer off the core
      // it waits for. Then sleep, backing off to at most 1 ms.
      if (++polls < kPollsBeforeSleep)
        continue;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }

  /// Polls of MPI_Test before wait sleeps between polls.
  static constexpr int kPollsBeforeSleep = 64;

  static const char *errorMessage(void *impl) {
    return self(impl)->error.c_str();
  }
};
} // namespace moe::runtime

std::unique_ptr<MPICommunicator> MPICommunicator::create(double timeoutSeconds,
                                                         std::string &error) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) !=
        MPI_SUCCESS) {
      error = "MPI_Init_thread failed";
      return nullptr;
    }
  }
  std::unique_ptr<MPICommunicator> comm(new MPICommunicator());
  MPI_Comm_rank(MPI_COMM_WORLD, &comm->api.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &comm->api.size);
  comm->api.impl = comm.get();
  comm->api.all_to_all_start = MPIExchange::start;
  comm->api.wait = MPIExchange::wait;
  comm->api.error_message = MPIExchange::errorMessage;
  comm->timeout = timeoutSeconds;
  return comm;
}

MPICommunicator::~MPICommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Finalize();
}

bool MPICommunicator::gather(const void *data, int64_t bytes,
                             std::vector<char> &out, std::string &message) {
  if (bytes < 0 || bytes > INT_MAX) {
    message = "rank " + std::to_string(api.rank) + ": " +
              std::to_string(bytes) + " bytes to gather exceed MPI's int count";
    return false;
  }
  int mine = static_cast<int>(bytes);
  std::vector<int> counts(api.rank == 0 ? api.size : 0),
      offsets(api.rank == 0 ? api.size : 0);
  MPI_Gather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (api.rank == 0) {
    int64_t total = 0;
    for (int32_t r = 0; r < api.size; ++r) {
      offsets[r] = static_cast<int>(total);
      total += counts[r];
    }
    // The others wait in the gather: the caller's exit ends them.
    if (total > INT_MAX) {
      message = "the gathered output of " + std::to_string(total) +
                " bytes exceeds MPI's int count";
      return false;
    }
    out.resize(static_cast<size_t>(total));
  }
  return MPI_Gatherv(data, mine, MPI_BYTE, out.data(), counts.data(),
                     offsets.data(), MPI_BYTE, 0,
                     MPI_COMM_WORLD) == MPI_SUCCESS;
}

bool MPICommunicator::gatherDoubles(const std::vector<double> &mine,
                                    std::vector<double> &all,
                                    std::string &message) {
  std::vector<char> bytes;
  if (!gather(mine.data(), static_cast<int64_t>(mine.size() * sizeof(double)),
              bytes, message))
    return false;
  all.resize(bytes.size() / sizeof(double));
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char *>(all.data()));
  return true;
}

bool MPICommunicator::broadcast(void *data, int64_t bytes,
                                std::string &message) {
  if (bytes < 0 || bytes > INT_MAX) {
    message = "rank " + std::to_string(api.rank) + ": " +
              std::to_string(bytes) +
              " bytes to broadcast exceed MPI's int count";
    return false;
  }
  if (MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, 0, MPI_COMM_WORLD) ==
      MPI_SUCCESS)
    return true;
  message = "rank " + std::to_string(api.rank) + ": MPI_Bcast failed";
  return false;
}

bool MPICommunicator::allAgree(bool ok) {
  int mine = ok ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all == 1;
}

void MPICommunicator::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

#endif
