//===- Trace.h - moe-run's Chrome/Perfetto trace of a run -------*- C++ -*-===//
//
// --trace FILE: the phases of a run as Chrome trace events ("X" events in
// microseconds, the Trace Event Format that chrome://tracing and
// ui.perfetto.dev open): opening the checkpoint, binding each weight slot
// and the entry's init, each warm-up and timed forward (with an
// expert-parallel entry's route, exchange, experts, exchange back and
// combine inside it), gathering the output under mpirun, the routing
// statistics. Under mpirun each rank is a process (pid = rank) and writes
// its own file.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TOOLS_MOE_RUN_TRACE_H
#define MOE_TOOLS_MOE_RUN_TRACE_H

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace moe::tools {

class Trace {
public:
  using Clock = std::chrono::steady_clock;

  /// Events of process `pid` (the rank); times count from construction.
  explicit Trace(int pid = 0);
  /// Microseconds since construction.
  double now() const;
  /// The process every event belongs to (the rank, once known).
  void setProcess(int rank) { pid = rank; }
  /// An event from `beginUs` lasting `durationUs`; `args` is a JSON object
  /// body ("\"tokens\": 37") or empty.
  void complete(const std::string &name, const std::string &category,
                double beginUs, double durationUs,
                const std::string &args = "");
  /// Writes {"traceEvents": [...]} to `path`; false with `error`.
  bool write(const std::string &path, std::string &error) const;
  size_t size() const { return events.size(); }

private:
  struct Event {
    std::string name, category, args;
    double beginUs, durationUs;
  };
  int pid;
  Clock::time_point start;
  std::vector<Event> events;
};

/// Times a scope as one event.
class TraceScope {
public:
  TraceScope(Trace *trace, std::string name, std::string category,
             std::string args = "")
      : trace(trace), name(std::move(name)), category(std::move(category)),
        args(std::move(args)), begin(trace ? trace->now() : 0) {}
  ~TraceScope() { end(); }
  void end() {
    if (!trace)
      return;
    trace->complete(name, category, begin, trace->now() - begin, args);
    trace = nullptr;
  }

private:
  Trace *trace;
  std::string name, category, args;
  double begin;
};

} // namespace moe::tools

#endif // MOE_TOOLS_MOE_RUN_TRACE_H
