/*===- UninstrumentedLLVM.h - LLVM headers as Debian built LLVM -----------===*
 *
 * Included first in every C++ file of a sanitizer build (MOEC_SANITIZE).
 * Under ASan, LLVM's headers switch their inline allocators
 * (BumpPtrAllocator, used by MLIR's attribute and type uniquer) to poison
 * whole slabs and unpoison each allocation. libLLVM and libMLIR are not
 * instrumented: their inline copies hand out memory from the same slabs
 * without unpoisoning it, and the next instrumented access reports a
 * use-after-poison that is not there. So the project's code sees the
 * headers as an uninstrumented build does; its own memory is still checked.
 *===----------------------------------------------------------------------===*/

#ifndef MOE_CMAKE_UNINSTRUMENTEDLLVM_H
#define MOE_CMAKE_UNINSTRUMENTEDLLVM_H

#include "llvm/Support/Compiler.h"

#undef LLVM_ADDRESS_SANITIZER_BUILD
#define LLVM_ADDRESS_SANITIZER_BUILD 0
#define __asan_poison_memory_region(p, size) ((void)(p), (void)(size))
#define __asan_unpoison_memory_region(p, size) ((void)(p), (void)(size))

#endif
