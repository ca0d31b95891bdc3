// api_internal.h: what the C API's source files share (runtime/api.cc and
// the files of later features: weak_api.cc, finalize_api.cc): argument
// checks for API misuse and the barrier buffer's append.
//
// Misuse is fatal: it prints "gcheap: API misuse in <fn>: <what>" and
// aborts (gcheap::Misuse, runtime/runtime.h, which the rest of the runtime
// uses too). CheckHeap / CheckMutator run in every build where they are
// called; DEBUG_CHECK_MUTATOR only in debug builds (GCHEAP_DEBUG), on fast
// paths, and DEBUG_CHECK_RUNNING (CheckMutator, and m may run its own
// code: not inside a blocking bracket, its root snapshot scanned) on the
// calls that allocate or poll.
#ifndef GCHEAP_RUNTIME_API_INTERNAL_H_
#define GCHEAP_RUNTIME_API_INTERNAL_H_

#include <cstddef>
#include <cstdint>

#include "runtime/runtime.h"

namespace gcheap::api {

using ::gcheap::CheckMutator;
using ::gcheap::Misuse;
void CheckHeap(const gc_heap* h, const char* fn);
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
// A store's debug checks: m is the calling thread's mutator, obj an object
// of m's heap, the n slots from `slot` lie inside it, and none of the n
// values to be stored points into another heap.
void CheckBarrier(gc_mutator* m, const char* fn, const void* obj,
                  void* const* slot, void* const* values, size_t n);
#endif

// Records one store while a cycle marks (Go's wbBuf.put): the value
// overwritten and the value stored, shaded when the buffer is flushed. A
// weak read that must shade its result records it the same way.
inline void RecordStore(gc_mutator* m, void* old, void* value) {
  if (m->wbbuf_next == m->wbbuf_end) m->heap->FlushWriteBarrierBuffer(m);
  m->wbbuf_next[0] = reinterpret_cast<uintptr_t>(old);
  m->wbbuf_next[1] = reinterpret_cast<uintptr_t>(value);
  m->wbbuf_next += 2;
}

}  // namespace gcheap::api

#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
#define DEBUG_CHECK_MUTATOR(m, fn) ::gcheap::CheckMutator(m, fn)
#define DEBUG_CHECK_RUNNING(m, fn) ::gcheap::CheckRunningMutator(m, fn)
#else
#define DEBUG_CHECK_MUTATOR(m, fn) \
  do {                             \
  } while (0)
#define DEBUG_CHECK_RUNNING(m, fn) \
  do {                             \
  } while (0)
#endif

#endif  // GCHEAP_RUNTIME_API_INTERNAL_H_
