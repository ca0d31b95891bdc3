// mcentral.h: the central free lists, one per span class.
//
// An mcentral holds the spans of its span class that no mcache holds, in
// four span sets indexed by sweepgen (h = mheap sweepgen):
//   partial[h/2%2]   swept spans with free slots
//   partial[1-h/2%2] unswept spans that had free slots last cycle
//   full[h/2%2]      swept spans with no free slot
//   full[1-h/2%2]    unswept spans that were full last cycle
// Advancing sweepgen by 2 flips which index is "swept", so every span the
// centrals hold becomes unswept at once with no list traffic.
//
// cacheSpan hands a span with at least one free slot to an mcache: a swept
// partial span if there is one, else it sweeps unswept spans (partial first,
// then full, up to a budget), else it asks mheap for a fresh span. The span
// gets sweepgen h+3 ("swept and cached"). uncacheSpan takes a span back from
// an mcache: a span cached before the current sweep began (sweepgen h+1) is
// stale and is swept now; otherwise it goes to the swept partial or full set.
//
// Each mcentral is padded to a cache line so that refills of different
// classes do not share lines. Each span set has its own lock; the allocation
// fast path never takes them.
#ifndef GCHEAP_HEAP_MCENTRAL_H_
#define GCHEAP_HEAP_MCENTRAL_H_

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "heap/counters.h"
#include "heap/mspan.h"

namespace gcheap {

class MHeap;

// A set of spans: an intrusive LIFO list through MSpan::next, with a lock.
// (Go's spanSet is lock-free; refill traffic here is low enough that an
// uncontended lock costs nothing measurable, see docs/allocator.md.)
class SpanSet {
 public:
  void Push(MSpan* s) {
    std::lock_guard<CountedMutex> g(mu_);
    s->next = head_;
    head_ = s;
    size_++;
  }
  MSpan* Pop() {
    std::lock_guard<CountedMutex> g(mu_);
    MSpan* s = head_;
    if (s != nullptr) {
      head_ = s->next;
      s->next = nullptr;
      size_--;
    }
    return s;
  }
  size_t size() const {
    std::lock_guard<CountedMutex> g(mu_);
    return size_;
  }
  // Operations (lock acquisitions) and the ones that waited.
  uint64_t ops() const { return mu_.acquires(); }
  uint64_t waits() const { return mu_.waits(); }

 private:
  mutable CountedMutex mu_;
  MSpan* head_ = nullptr;
  size_t size_ = 0;
};

class alignas(64) MCentral {
 public:
  void Init(MHeap* heap, SpanClass spc) {
    heap_ = heap;
    spanclass_ = spc;
  }

  // A span with a free slot, swept and marked cached (sweepgen h+3), or
  // nullptr if the heap cannot grow (the reason is in LastError()).
  MSpan* CacheSpan();
  // Returns a span an mcache held.
  void UncacheSpan(MSpan* s);

  SpanSet& PartialSwept(uint32_t sg) { return partial_[sg / 2 % 2]; }
  SpanSet& PartialUnswept(uint32_t sg) { return partial_[1 - sg / 2 % 2]; }
  SpanSet& FullSwept(uint32_t sg) { return full_[sg / 2 % 2]; }
  SpanSet& FullUnswept(uint32_t sg) { return full_[1 - sg / 2 % 2]; }

  SpanClass spanclass() const { return spanclass_; }
  // Sums the operations and waits of the four span sets into *ops, *waits.
  void AddSpanSetCounts(uint64_t* ops, uint64_t* waits) const {
    for (const SpanSet* s :
         {&partial_[0], &partial_[1], &full_[0], &full_[1]}) {
      *ops += s->ops();
      *waits += s->waits();
    }
  }

 private:
  MHeap* heap_ = nullptr;
  SpanClass spanclass_ = 0;
  SpanSet partial_[2];
  SpanSet full_[2];
};

}  // namespace gcheap

#endif  // GCHEAP_HEAP_MCENTRAL_H_
