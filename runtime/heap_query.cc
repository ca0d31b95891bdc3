// heap_query.cc: the C API's object queries and heap walk (runtime/gc.h,
// "object queries and heap walking"; design in runtime/heap_query.h and
// heap/object_query.cc).
#include "runtime/heap_query.h"

#include "heap/error.h"
#include "runtime/api_internal.h"
#include "runtime/gc.h"
#include "runtime/process.h"
#include "runtime/runtime.h"

using gcheap::CheckHeap;
using gcheap::CheckMutator;

namespace {

bool Query(gc_heap* heap, const void* p, gcheap::ObjectInfo* out,
           const char* fn) {
  CheckHeap(heap, fn);
  // What any thread's open allocation window handed out reads as allocated
  // (MSpan::AllocatedPrefix): no mcache is synced.
  return heap->heap.QueryObject(reinterpret_cast<uintptr_t>(p), out);
}

}  // namespace

bool gcheap::CanInspect(gc_mutator* m, const char* fn, const void* arg,
                        const char* arg_name) {
  CheckMutator(m, fn);
  if (arg == nullptr) {
    SetLastError("%s: %s is NULL", fn, arg_name);
    return false;
  }
  if (IsExitingThread()) {
    // No stop of the world completes once exit has begun (process.h).
    SetLastError("%s: called on the thread that is ending the process", fn);
    return false;
  }
  return true;
}

extern "C" {

void* gc_object_base(gc_heap* heap, const void* p) {
  gcheap::ObjectInfo o;
  if (!Query(heap, p, &o, "gc_object_base")) return nullptr;
  return reinterpret_cast<void*>(o.base);
}

size_t gc_object_size(gc_heap* heap, const void* p) {
  gcheap::ObjectInfo o;
  return Query(heap, p, &o, "gc_object_size") ? o.size : 0;
}

gc_type_id gc_object_type(gc_heap* heap, const void* p) {
  gcheap::ObjectInfo o;
  return Query(heap, p, &o, "gc_object_type") ? o.type : 0;
}

int gc_is_heap_pointer(gc_heap* heap, const void* p) {
  CheckHeap(heap, "gc_is_heap_pointer");
  return heap->heap.InUseSpanAt(reinterpret_cast<uintptr_t>(p)) ? 1 : 0;
}

int gc_heap_walk(gc_mutator* m, gc_walk_fn fn, void* data) {
  if (!gcheap::CanInspect(m, "gc_heap_walk", reinterpret_cast<const void*>(fn),
                          "fn")) {
    return -1;
  }
  int stopped = 0;
  m->heap->WithWorldStopped(m, [&] {
    for (gcheap::MSpan* s : m->heap->heap.InUseSpans()) {
      stopped = gcheap::ForEachAllocated(
          s, [&](size_t, uintptr_t base, size_t size, uint16_t type) {
            gcheap::t_in_heap_walk = true;
            const int r = fn(reinterpret_cast<void*>(base), size, type, data);
            gcheap::t_in_heap_walk = false;
            return r;
          });
      if (stopped != 0) return;
    }
  });
  return stopped;
}

}  // extern "C"
