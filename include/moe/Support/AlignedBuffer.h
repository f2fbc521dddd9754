//===- AlignedBuffer.h - float buffers the micro-kernels read fast -*- C++
//-*-===//
//
// The micro-kernels load rows in 64-byte vectors; a row that does not start
// on a cache line makes every load straddle two lines, which costs a fifth
// of the kernels' speed (measured on the bench shapes). Weights and
// activations the runtime owns are therefore allocated on cache lines, and
// buffers of 2 MiB and more on huge-page boundaries with a huge-page hint,
// so that streaming the weights takes fewer TLB misses.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_SUPPORT_ALIGNEDBUFFER_H
#define MOE_SUPPORT_ALIGNEDBUFFER_H

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

#include <sys/mman.h>

namespace moe {

template <typename T> struct CacheLineAllocator {
  using value_type = T;
  static constexpr size_t kCacheLine = 64, kHugePage = size_t(2) << 20;

  CacheLineAllocator() = default;
  template <typename U> CacheLineAllocator(const CacheLineAllocator<U> &) {}

  T *allocate(size_t count) {
    size_t bytes = count * sizeof(T);
    size_t alignment = bytes >= kHugePage ? kHugePage : kCacheLine;
    size_t rounded = (bytes + alignment - 1) / alignment * alignment;
    void *data = std::aligned_alloc(alignment, rounded ? rounded : alignment);
    if (!data)
      throw std::bad_alloc();
    if (alignment == kHugePage)
      madvise(data, rounded, MADV_HUGEPAGE); // a hint; failure is harmless
    return static_cast<T *>(data);
  }
  void deallocate(T *data, size_t) { std::free(data); }

  template <typename U> bool operator==(const CacheLineAllocator<U> &) const {
    return true;
  }
  template <typename U> bool operator!=(const CacheLineAllocator<U> &) const {
    return false;
  }
};

using AlignedFloats = std::vector<float, CacheLineAllocator<float>>;

} // namespace moe

#endif // MOE_SUPPORT_ALIGNEDBUFFER_H
