/*===- MemRefCopy.c - the one runtime helper lowered code calls -----------===*
 *
 * memref.copy between buffers of non-identity layout lowers to a call to
 * memrefCopy. MLIR's C runner utilities provide it for the JIT; libraries
 * compiled by moe-compile must not depend on libMLIR, so this strided copy
 * is linked into each of them.
 *===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <string.h>

typedef struct {
  int64_t rank;
  void *descriptor;
} UnrankedMemRef;

typedef struct {
  char *allocated;
  char *aligned;
  int64_t offset;
  int64_t sizesAndStrides[];
} RankedMemRef;

void memrefCopy(int64_t elemSize, UnrankedMemRef *src, UnrankedMemRef *dst) {
  int64_t rank = src->rank;
  RankedMemRef *s = (RankedMemRef *)src->descriptor;
  RankedMemRef *d = (RankedMemRef *)dst->descriptor;
  const int64_t *sizes = s->sizesAndStrides;
  const int64_t *srcStrides = s->sizesAndStrides + rank;
  const int64_t *dstStrides = d->sizesAndStrides + rank;
  char *srcBase = s->aligned + s->offset * elemSize;
  char *dstBase = d->aligned + d->offset * elemSize;
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i) {
    if (sizes[i] == 0)
      return;
    count *= sizes[i];
  }
  if (rank == 0) {
    memcpy(dstBase, srcBase, elemSize);
    return;
  }
  /* Walk every element with a multi-dimensional counter. */
  if (rank > 16)
    return; /* moe code never copies above rank 3 */
  int64_t index[16] = {0};
  int64_t srcOffset = 0, dstOffset = 0;
  for (int64_t n = 0; n < count; ++n) {
    memcpy(dstBase + dstOffset * elemSize, srcBase + srcOffset * elemSize,
           elemSize);
    for (int64_t axis = rank - 1; axis >= 0; --axis) {
      srcOffset += srcStrides[axis];
      dstOffset += dstStrides[axis];
      if (++index[axis] < sizes[axis])
        break;
      srcOffset -= srcStrides[axis] * sizes[axis];
      dstOffset -= dstStrides[axis] * sizes[axis];
      index[axis] = 0;
    }
  }
}
