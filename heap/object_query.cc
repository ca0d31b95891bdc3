// object_query.cc: object queries on a running heap (MHeap::QueryObject,
// InUseSpanAt, InUseSpans, Arenas), for the embedder's gc_object_base / size /
// type and gc_is_heap_pointer, and for heap walks and snapshots.
//
// A query may run on any thread while mutators allocate and spans are
// swept, so it must never read a half-made answer:
//  - span identity: the heap lock is held for the whole query, so no span
//    is made (AllocSpanLocked), freed (FreeSpan) or reused meanwhile; a
//    large span is published with its object already allocated;
//  - allocation state: a slot is allocated if it lies below the span's
//    allocated prefix (MSpan::AllocatedPrefix: freeindex, an atomic the
//    owning mcache advances when it syncs the span, or, while the span is
//    cached, the cursor of the mcache's open allocation window, so another
//    thread's objects read as allocated as soon as they are handed out) or
//    its allocBits bit is set. An mcache caching or uncaching the span
//    meanwhile makes the query ask again, as a sweep does.
//    Only a sweep changes allocBits, by atomic stores, between claiming the
//    span (sweepgen h-2 -> h-1) and storing its new sweepgen. The query
//    reads the span's sweepgen before and after (acquire loads throughout,
//    a seqlock) and, with the lock released, asks again if it moved or the
//    span was being swept (whose sweeper may free it), so the
//    answer is the span's state before or after a sweep, never a mix;
//  - type tags are read (relaxed atomic loads) only for allocated slots:
//    the tag of a slot was written before the slot read as allocated (the
//    acquire loads of AllocatedPrefix, the sweep's publication).
// Dead objects of an unswept span still count as allocated: the answer
// for an object the program can reach is always exact.
#include <thread>

#include "heap/mheap.h"
#include "heap/pagealloc.h"

namespace gcheap {

bool MHeap::QueryObject(uintptr_t p, ObjectInfo* out) const {
  for (;;) {
    {
      std::lock_guard<CountedMutex> g(lock_);
      ObjectRef r;
      if (!FindObject(p, &r)) return false;
      MSpan* s = r.span;
      const size_t i = r.index;
      const uint32_t sg = s->sweepgen.load(std::memory_order_acquire);
      // A span being swept (h-1) is waited for with the lock released: its
      // sweeper may free it, which takes the lock.
      if (sg != sweepgen() - 1) {
        const uint64_t* bits =
            __atomic_load_n(&s->alloc_bits, __ATOMIC_ACQUIRE);
        size_t prefix = 0;
        const bool stable = s->AllocatedPrefix(&prefix);
        const uint64_t word = __atomic_load_n(&bits[i / 64], __ATOMIC_ACQUIRE);
        const bool allocated = i < prefix || ((word >> (i % 64)) & 1) != 0;
        const uint16_t type = allocated ? s->ObjType(i) : 0;
        if (stable && s->sweepgen.load(std::memory_order_acquire) == sg) {
          if (!allocated) return false;
          out->base = r.base;
          out->size = s->is_large() ? s->limit - s->start : s->elemsize;
          out->type = type;
          out->noscan = NoScan(s->spanclass);
          return true;
        }
      }
    }
    // The span was (being) swept, or cached or uncached: ask again.
    std::this_thread::yield();
  }
}

size_t MHeap::SpanAllocatedPrefix(const MSpan* s) const {
  for (;;) {
    {
      std::lock_guard<CountedMutex> g(lock_);
      size_t prefix;
      if (s->AllocatedPrefix(&prefix)) return prefix;
    }
    // Cached or uncached meanwhile: ask again.
    std::this_thread::yield();
  }
}

void MHeap::WaitForObjectQueries() const {
  std::lock_guard<CountedMutex> g(lock_);
}

bool MHeap::InUseSpanAt(uintptr_t p) const {
  HeapArena* a = index_.Lookup(p);
  if (a == nullptr) return false;
  MSpan* s = a->SpanOf(p);
  return s != nullptr &&
         s->state.load(std::memory_order_acquire) == SpanState::kInUse;
}

std::vector<MSpan*> MHeap::InUseSpans() const {
  std::vector<MSpan*> spans;
  ForEachSpan([&](MSpan* s) { spans.push_back(s); });
  return spans;
}

std::vector<MHeap::ArenaInfo> MHeap::Arenas() const {
  std::vector<ArenaInfo> out;
  std::lock_guard<CountedMutex> g(lock_);
  for (HeapArena* a = pages_.first_arena(); a != nullptr; a = a->next) {
    ArenaInfo i;
    i.base = a->base;
    i.committed_bytes = static_cast<size_t>(__builtin_popcountll(a->committed))
                        << kCommitShift;
    i.free_pages = a->free_pages;
    i.released_pages = CountSet(a->scavenged, 0, kPagesPerArena);
    out.push_back(i);
  }
  return out;
}

}  // namespace gcheap
