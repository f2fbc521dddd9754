//===- run_layer.cpp - a C++ program running a compiled layer -------------===//
//
// What the installed runtime gives a C++ program (moe/Runtime/Loader.h):
// the same as ../c/run_layer.c, and the bind's report. Built against an
// installed moec with this folder's CMakeLists.txt:
//
//   cmake -S examples/cpp -B run-layer -DCMAKE_PREFIX_PATH=PREFIX
//   cmake --build run-layer
//   run-layer/run_layer layer.so weights.safetensors 37
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Loader.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace moe;
using namespace moe::runtime;

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr,
                 "usage: run_layer LIB.so WEIGHTS.safetensors [TOKENS]\n");
    return 2;
  }
  long tokens = argc == 4 ? std::strtol(argv[3], nullptr, 10) : 16;
  if (tokens < 1 || tokens > 65536) {
    std::fprintf(stderr, "run_layer: TOKENS must be in [1, 65536]\n");
    return 2;
  }
  std::string error;
  auto fail = [&] {
    std::fprintf(stderr, "run_layer: %s\n", error.c_str());
    return 1;
  };
  std::unique_ptr<Library> library = Library::open(argv[1], error);
  if (!library)
    return fail();
  const Entry *entry = library->findEntry("", error);
  if (!entry)
    return fail();
  std::unique_ptr<Checkpoint> checkpoint = Checkpoint::open(argv[2], error);
  if (!checkpoint)
    return fail();
  std::unique_ptr<BoundEntry> bound =
      BoundEntry::bind(*entry, *checkpoint, error);
  if (!bound)
    return fail();
  const BindStats &bind = bound->bindStats();
  std::fprintf(stderr, "bound %zu weight slots in %.3f s (%zu bytes read)\n",
               bind.slots, bind.seconds, bind.readBytes);

  int64_t hidden = entry->hidden;
  std::vector<float> input(tokens * hidden), output(tokens * hidden);
  for (long t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < hidden; ++h)
      input[t * hidden + h] = float((7 * t + 3 * h) % 17 - 8) / 8.0f;
  if (!bound->forward(input.data(), output.data(), tokens, error))
    return fail();
  double checksum = 0;
  for (float value : output)
    checksum += value;
  std::printf("entry %s: %ld tokens x %lld hidden, checksum %.17g\n",
              entry->name.c_str(), tokens, static_cast<long long>(hidden),
              checksum);
  return 0;
}
