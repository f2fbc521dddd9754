//===- Trace.cpp - moe-run's Chrome/Perfetto trace of a run ---------------===//

#include "Trace.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>

using namespace moe::tools;

Trace::Trace(int pid) : pid(pid), start(Clock::now()) {}

double Trace::now() const {
  return std::chrono::duration<double, std::micro>(Clock::now() - start)
      .count();
}

namespace {
/// `text` as a JSON string, quotes included: names come from manifests and
/// checkpoints.
std::string jsonString(const std::string &text) {
  return nlohmann::json(text).dump(-1, ' ', /*ensure_ascii=*/false,
                                   nlohmann::json::error_handler_t::replace);
}
} // namespace

void Trace::complete(const std::string &name, const std::string &category,
                     double beginUs, double durationUs,
                     const std::string &args) {
  events.push_back({name, category, args, beginUs, durationUs});
}

bool Trace::write(const std::string &path, std::string &error) const {
  std::ofstream out(path);
  out << "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
  out << "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": " << pid
      << ", \"args\": {\"name\": \"moe-run rank " << pid << "\"}}";
  for (const Event &event : events) {
    char times[96];
    std::snprintf(times, sizeof times, "\"ts\": %.3f, \"dur\": %.3f",
                  event.beginUs, event.durationUs);
    out << ",\n{\"name\": " << jsonString(event.name) << ", \"cat\": \""
        << event.category << "\", \"ph\": \"X\", " << times
        << ", \"pid\": " << pid << ", \"tid\": 0, \"args\": {" << event.args
        << "}}";
  }
  out << "\n]}\n";
  if (!out) {
    error = path + ": cannot write";
    return false;
  }
  return true;
}
