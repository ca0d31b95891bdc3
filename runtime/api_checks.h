// api_checks.h: the C API's checks of its arguments (shared by api.cc and
// the other files that implement runtime/gc.h).
//
// API misuse is a bug in the embedder, not an error: it aborts with a
// message naming the function. Release builds check what is cheap off the
// fast paths; debug builds (GCHEAP_DEBUG) check every call that takes a
// mutator (DEBUG_CHECK_MUTATOR), including that it is not made from a
// gc_heap_walk callback, which runs with the world stopped.
#ifndef GCHEAP_RUNTIME_API_CHECKS_H_
#define GCHEAP_RUNTIME_API_CHECKS_H_

#include <pthread.h>

#include <cstdio>
#include <cstdlib>

#include "runtime/heap_query.h"
#include "runtime/runtime.h"

namespace gcheap {

[[noreturn]] inline void Misuse(const char* fn, const char* what) {
  fprintf(stderr, "gcheap: API misuse in %s: %s\n", fn, what);
  fflush(stderr);
  abort();
}

inline void CheckHeap(const gc_heap* h, const char* fn) {
  if (h == nullptr) Misuse(fn, "heap is NULL");
  if (h->magic != kHeapMagic) {
    Misuse(fn, "not a live gc_heap (destroyed, or not a heap)");
  }
}

inline void CheckMutator(const gc_mutator* m, const char* fn) {
  if (m == nullptr) Misuse(fn, "mutator is NULL");
  if (m->magic == kMutatorDead) Misuse(fn, "use of a detached mutator");
  if (m->magic != kMutatorMagic) Misuse(fn, "not a gc_mutator");
  if (!pthread_equal(m->owner, pthread_self())) {
    Misuse(fn,
           "mutator used from a thread other than the one that attached it");
  }
}

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

}  // namespace gcheap

#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
#define DEBUG_CHECK_MUTATOR(m, fn)    \
  do {                                \
    ::gcheap::CheckMutator(m, fn);    \
    ::gcheap::CheckNotInHeapWalk(fn); \
  } while (0)
#else
#define DEBUG_CHECK_MUTATOR(m, fn) \
  do {                             \
  } while (0)
#endif

#endif  // GCHEAP_RUNTIME_API_CHECKS_H_
