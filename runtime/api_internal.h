// api_internal.h: what the C API's source files share (runtime/api.cc and
// the files of later features: weak_api.cc, finalize_api.cc, observe.cc,
// heap_query.cc, heap_dump.cc): the checks of their arguments, the
// versioned structs' layout rule and the barrier buffer's append.
//
// API misuse is a bug in the embedder, not an error: it aborts with
// "gcheap: API misuse in <fn>: <what>" (gcheap::Misuse, runtime/runtime.h,
// which the rest of the runtime uses too). Release builds check what is
// cheap off the fast paths (CheckHeap, CheckMutator where called); debug
// builds (GCHEAP_DEBUG) check every call that takes a mutator:
// DEBUG_CHECK_MUTATOR (a live mutator of the calling thread, and not a
// call from a gc_heap_walk callback, which runs with the world stopped)
// and, on the calls that allocate or poll, DEBUG_CHECK_RUNNING (the same,
// and m may run its own code: not inside a blocking bracket, its root
// snapshot scanned).
#ifndef GCHEAP_RUNTIME_API_INTERNAL_H_
#define GCHEAP_RUNTIME_API_INTERNAL_H_

#include <cstddef>
#include <cstdint>

#include "runtime/heap_query.h"
#include "runtime/runtime.h"

namespace gcheap {

inline void CheckHeap(const gc_heap* h, const char* fn) {
  if (h == nullptr) Misuse(fn, "heap is NULL");
  if (h->magic != kHeapMagic) {
    Misuse(fn, "not a live gc_heap (destroyed, or not a heap)");
  }
}

#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
// A store's debug checks: m is the calling thread's mutator, obj an object
// of m's heap, the n slots from `slot` lie inside it, and none of the n
// values to be stored points into another heap.
void CheckBarrier(gc_mutator* m, const char* fn, const void* obj,
                  void* const* slot, void* const* values, size_t n);
#endif

// Versioned structs (gc.h): every layout of one is a prefix of the current
// one whose size is a multiple of 8 and covers at least struct_size and the
// first field (16 bytes).
inline constexpr size_t kMinStructSize = 16;
inline bool IsLayoutSize(size_t n) { return n >= kMinStructSize && n % 8 == 0; }

// A heap walk's callback runs with the world stopped: it must not
// allocate, poll, collect or block (gc_heap_walk in gc.h).
inline void CheckNotInHeapWalk(const char* fn) {
  if (t_in_heap_walk) {
    Misuse(fn,
           "called from a gc_heap_walk callback (the world is stopped: the "
           "callback must not allocate, poll, collect or block)");
  }
}

// Records one store while a cycle marks (Go's wbBuf.put): the value
// overwritten and the value stored, shaded when the buffer is flushed. A
// weak read that must shade its result records it the same way.
inline void RecordStore(gc_mutator* m, void* old, void* value) {
  if (m->wbbuf_next == m->wbbuf_end) m->heap->FlushWriteBarrierBuffer(m);
  m->wbbuf_next[0] = reinterpret_cast<uintptr_t>(old);
  m->wbbuf_next[1] = reinterpret_cast<uintptr_t>(value);
  m->wbbuf_next += 2;
}

}  // namespace gcheap

#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
#define DEBUG_CHECK_MUTATOR(m, fn)    \
  do {                                \
    ::gcheap::CheckMutator(m, fn);    \
    ::gcheap::CheckNotInHeapWalk(fn); \
  } while (0)
#define DEBUG_CHECK_RUNNING(m, fn)        \
  do {                                    \
    ::gcheap::CheckNotInHeapWalk(fn);     \
    ::gcheap::CheckRunningMutator(m, fn); \
  } while (0)
#else
#define DEBUG_CHECK_MUTATOR(m, fn) \
  do {                             \
  } while (0)
#define DEBUG_CHECK_RUNNING(m, fn) \
  do {                             \
  } while (0)
#endif

#endif  // GCHEAP_RUNTIME_API_INTERNAL_H_
