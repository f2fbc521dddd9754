//===- Progress.cpp - a progress line for long steps of the tools ---------===//

#include "moe/Support/Progress.h"

#include <cstdio>
#include <unistd.h>

using namespace moe;

ProgressMode moe::progressMode(bool progressFlag, bool quietFlag) {
  if (quietFlag)
    return ProgressMode::Never;
  return progressFlag ? ProgressMode::Always : ProgressMode::Auto;
}

Progress::Progress(std::string tool, std::string step, std::string unit,
                   int64_t total, ProgressMode mode)
    : tool(std::move(tool)), step(std::move(step)), unit(std::move(unit)),
      total(total) {
  terminal = isatty(STDERR_FILENO) == 1;
  shown = mode == ProgressMode::Always ||
          (mode == ProgressMode::Auto && terminal);
  begin = lastPrint = std::chrono::steady_clock::now();
}

void Progress::update(int64_t done, const std::string &detail) {
  if (!shown || finished)
    return;
  auto now = std::chrono::steady_clock::now();
  // A terminal redraws ten times a second; a log gets a line a second.
  auto interval = terminal ? std::chrono::milliseconds(100)
                           : std::chrono::milliseconds(1000);
  if (started && now - lastPrint < interval)
    return;
  started = true;
  lastPrint = now;
  print(done, detail, false);
}

void Progress::finish() {
  if (!shown || finished || !started)
    return;
  finished = true;
  print(total ? total : begun, "", true);
}

void Progress::print(int64_t done, const std::string &detail, bool last) {
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - begin)
                       .count();
  std::string line = tool + ": " + step + " ";
  if (total)
    line += std::to_string(done) + "/" + std::to_string(total) + " " + unit +
            "s";
  else if (last)
    line += std::to_string(done) + " " + unit + (done == 1 ? "" : "s");
  else
    line += unit + " " + std::to_string(done + 1);
  char time[32];
  std::snprintf(time, sizeof time, last ? " in %.2f s" : ", %.1f s", seconds);
  line += time;
  if (!last && !detail.empty())
    line += " (" + detail + ")";
  if (terminal) {
    // Rewrite the line: back to its start, clear it, no newline until the
    // last.
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), last ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}
