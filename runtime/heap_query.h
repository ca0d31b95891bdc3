// heap_query.h: the runtime's side of object queries and heap walks
// (gc_object_base, gc_heap_walk, gc_dump_heap; runtime/heap_query.cc,
// runtime/heap_dump.cc).
//
// A walk runs inside gc_heap::WithWorldStopped: the world is stopped and
// the sweep finished, so every in-use span is swept (or cached by a
// stopped mutator) and its allocation state is final until the restart:
// a slot is allocated exactly when MSpan::IsAllocated says so.
// t_in_heap_walk is set on the walking thread while the embedder's
// callback runs; debug builds abort if the callback allocates, polls,
// collects or enters a blocking bracket (api.cc).
#ifndef GCHEAP_RUNTIME_HEAP_QUERY_H_
#define GCHEAP_RUNTIME_HEAP_QUERY_H_

#include <cstddef>
#include <cstdint>

#include "heap/mspan.h"

struct gc_mutator;

namespace gcheap {

inline thread_local bool t_in_heap_walk = false;

// The checks before an inspection that stops the world (gc_heap_walk,
// gc_dump_heap): m is the caller's mutator (misuse aborts), `arg` (named
// arg_name) is not NULL, and the thread is not ending the process (no stop
// of the world completes then). False with gc_last_error() set.
bool CanInspect(gc_mutator* m, const char* fn, const void* arg,
                const char* arg_name);

// The size an object of span s has for the queries and walks: the slot,
// or a large object's requested bytes.
inline size_t ObjectSize(const MSpan* s) {
  return s->is_large() ? s->limit - s->start : s->elemsize;
}

// Calls f(index, base, size, type) for every allocated slot of s, until f
// returns nonzero (which it returns). The world is stopped and s swept.
template <typename F>
int ForEachAllocated(const MSpan* s, F f) {
  const size_t size = ObjectSize(s);
  for (size_t i = 0; i < s->nelems; i++) {
    if (!s->IsAllocated(i)) continue;
    if (int r = f(i, s->start + i * s->elemsize, size, s->ObjType(i))) {
      return r;
    }
  }
  return 0;
}

}  // namespace gcheap

#endif  // GCHEAP_RUNTIME_HEAP_QUERY_H_
