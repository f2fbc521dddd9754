//===- LoaderC.cpp - the loader behind moe_loader.h's C interface ---------===//
//
// A moe_layer owns what a bound entry needs to outlive it, in the order of
// destruction: the bound entry (state, then weights), the checkpoint its
// weights may point into, the library its functions live in.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/moe_loader.h"
#include "moe/Runtime/Loader.h"

#include <cstring>
#include <new>

using namespace moe;
using namespace moe::runtime;

struct moe_layer {
  std::unique_ptr<Library> library;
  std::unique_ptr<Checkpoint> checkpoint;
  std::unique_ptr<BoundEntry> bound;
};

namespace {
void writeError(const std::string &message, char *error, size_t errorSize) {
  if (!error || errorSize == 0)
    return;
  size_t length = std::min(message.size(), errorSize - 1);
  std::memcpy(error, message.data(), length);
  error[length] = '\0';
}
} // namespace

extern "C" moe_layer *moe_layer_open(const char *libraryPath,
                                     const char *entryName,
                                     const char *weightsPath,
                                     int32_t numThreads, char *error,
                                     size_t errorSize) {
  auto fail = [&](const std::string &message) -> moe_layer * {
    writeError(message, error, errorSize);
    return nullptr;
  };
  if (!libraryPath || !weightsPath)
    return fail("moe_layer_open: the library and weights paths are required");
  std::unique_ptr<moe_layer> layer(new (std::nothrow) moe_layer);
  if (!layer)
    return fail("moe_layer_open: out of memory");
  std::string message;
  layer->library = Library::open(libraryPath, message);
  if (!layer->library)
    return fail(message);
  const Entry *entry =
      layer->library->findEntry(entryName ? entryName : "", message);
  if (!entry)
    return fail(std::string(libraryPath) + ": " + message);
  layer->checkpoint = Checkpoint::open(weightsPath, message);
  if (!layer->checkpoint)
    return fail(message);
  moe_context context = defaultContext(*entry);
  context.num_threads = numThreads;
  layer->bound =
      BoundEntry::bind(*entry, *layer->checkpoint, message, &context);
  if (!layer->bound)
    return fail(message);
  return layer.release();
}

extern "C" int64_t moe_layer_hidden(const moe_layer *layer) {
  return layer ? layer->bound->entry().hidden : 0;
}

extern "C" const char *moe_layer_entry(const moe_layer *layer) {
  return layer ? layer->bound->entry().name.c_str() : "";
}

extern "C" int32_t moe_layer_forward(moe_layer *layer, const float *input,
                                     float *output, int64_t tokens,
                                     char *error, size_t errorSize) {
  if (!layer) {
    writeError("moe_layer_forward: null layer", error, errorSize);
    return 1;
  }
  std::string message;
  if (!layer->bound->forward(input, output, tokens, message)) {
    writeError(message, error, errorSize);
    return 1;
  }
  return 0;
}

extern "C" void moe_layer_close(moe_layer *layer) { delete layer; }
