//===- Progress.h - a progress line for long steps of the tools -*- C++ -*-===//
//
// Long steps (binding hundreds of weight slots, generating gigabytes of
// weights, compiling 48 layers) say how far they are on stderr. On a
// terminal one line is rewritten in place (at most ten times a second) and
// ends with the step's time; elsewhere nothing is printed unless asked for
// (--progress: then a line every second and the last one, for logs), and
// --quiet turns it off. Plain C++: the runtime and the LLVM tools share it.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_SUPPORT_PROGRESS_H
#define MOE_SUPPORT_PROGRESS_H

#include <chrono>
#include <cstdint>
#include <string>

namespace moe {

enum class ProgressMode {
  /// On a terminal (stderr is a TTY) only.
  Auto,
  /// Always: a line per second and the last one (--progress).
  Always,
  /// Never (--quiet).
  Never,
};

/// The mode the tools' --progress and --quiet flags ask for (both:
/// --quiet wins).
ProgressMode progressMode(bool progressFlag, bool quietFlag);

class Progress {
public:
  /// "<tool>: <step> <done>/<total> <unit>s"; with a total of 0 (not
  /// known ahead), "<tool>: <step> <unit> <n>" and at the end "<tool>:
  /// <step> <n> <unit>s". Nothing is printed until the first update.
  Progress(std::string tool, std::string step, std::string unit,
           int64_t total, ProgressMode mode);
  ~Progress() { finish(); }
  Progress(const Progress &) = delete;
  Progress &operator=(const Progress &) = delete;

  bool enabled() const { return shown; }
  /// `done` of the total; `detail` (a stage's or tensor's name) follows.
  void update(int64_t done, const std::string &detail = "");
  /// The next step begins: update(steps begun so far, detail).
  void next(const std::string &detail) { update(begun++, detail); }
  /// The last line: the total and the step's time. Idempotent.
  void finish();

private:
  void print(int64_t done, const std::string &detail, bool last);
  std::string tool, step, unit;
  int64_t total;
  bool shown, terminal, finished = false, started = false;
  int64_t begun = 0;
  std::chrono::steady_clock::time_point begin, lastPrint;
};

} // namespace moe

#endif // MOE_SUPPORT_PROGRESS_H
