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
// classes do not share lines. The span sets are lock-free (SpanSet); the
// allocation fast path never touches them.
#ifndef GCHEAP_HEAP_MCENTRAL_H_
#define GCHEAP_HEAP_MCENTRAL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "heap/counters.h"
#include "heap/mspan.h"

namespace gcheap {

class MHeap;

// A set of spans: a lock-free LIFO (a Treiber stack) through MSpan::next.
//
// The head is one 64-bit word: the top span's address (spans are 64-byte
// aligned and below 2^47, so 41 bits hold it) and a 23-bit count of the
// pushes and pops so far. A pop reads the top span and its next, then
// swaps the head for (next, count + 1) with a compare-and-swap that fails
// if anything pushed or popped in between, so a span that was popped and
// pushed back meanwhile (the ABA case) is never unlinked with a stale
// next, unless exactly a multiple of 2^23 operations happened on this set
// between the read and the swap (Go's lfstack makes the same trade with
// 19 bits). Span structs are never unmapped (heap/fixalloc.h), so reading
// the next of a span another thread just popped is safe; next is atomic
// (relaxed) and a reused span struct is reinitialized field by field
// (MHeap::AllocSpanLocked), and the head's release/acquire orders what the
// pusher wrote to the span before the push with the popper's reads after
// the pop. Operations and failed compare-and-swaps are counted
// (heap/counters.h).
class SpanSet {
 public:
  void Init(HeapEventCounts* counts) { counts_ = counts; }
  void Push(MSpan* s);
  MSpan* Pop();  // nullptr when empty
  // A hint: the set held no span when looked at.
  bool Empty() const {
    return head_.load(std::memory_order_relaxed) >> kCountBits == 0;
  }
  // Testing seam: Pop calls hook(arg) between reading the top span's next
  // and swapping the head (the window in which other threads can pop and
  // push the same span). Set while no other thread uses the set.
  void SetPopHookForTesting(void (*hook)(void*), void* arg) {
    pop_hook_ = hook;
    pop_hook_arg_ = arg;
  }

 private:
  static constexpr int kCountBits = 23;
  static constexpr int kAlignBits = 6;  // alignof(MSpan) == 64
  static constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
  static_assert(alignof(MSpan) == uint64_t{1} << kAlignBits);
  static_assert(47 - kAlignBits + kCountBits == 64);
  static uint64_t Pack(MSpan* s, uint64_t count) {
    return (reinterpret_cast<uint64_t>(s) >> kAlignBits) << kCountBits |
           (count & kCountMask);
  }
  static MSpan* Top(uint64_t head) {
    return reinterpret_cast<MSpan*>((head >> kCountBits) << kAlignBits);
  }

  std::atomic<uint64_t> head_{0};
  HeapEventCounts* counts_ = nullptr;
  void (*pop_hook_)(void*) = nullptr;
  void* pop_hook_arg_ = nullptr;
};

class alignas(64) MCentral {
 public:
  void Init(MHeap* heap, SpanClass spc, HeapEventCounts* counts) {
    heap_ = heap;
    spanclass_ = spc;
    for (SpanSet* s : {&partial_[0], &partial_[1], &full_[0], &full_[1],
                       &empty_[0], &empty_[1]}) {
      s->Init(counts);
    }
  }

  // A span with a free slot, swept and marked cached (sweepgen h+3), or
  // nullptr if the heap cannot grow (the reason is in LastError()). The
  // caller holds a sweep locker (MHeap::SweepLocker) with sweepgen sg for
  // the whole operation.
  MSpan* CacheSpan(uint32_t sg);
  // Returns a span an mcache held; the caller holds a sweep locker with
  // sweepgen sg.
  void UncacheSpan(MSpan* s, uint32_t sg);

  SpanSet& PartialSwept(uint32_t sg) { return partial_[sg / 2 % 2]; }
  SpanSet& PartialUnswept(uint32_t sg) { return partial_[1 - sg / 2 % 2]; }
  SpanSet& FullSwept(uint32_t sg) { return full_[sg / 2 % 2]; }
  SpanSet& FullUnswept(uint32_t sg) { return full_[1 - sg / 2 % 2]; }
  // Swept spans with no object at all, kept whole for the next refills of
  // this class (their slots still hold old data: needzero): the ones the
  // sweep of sweepgen sg found, and the ones of the cycle before. An empty
  // span is valid in any cycle (nothing in it can be marked; CacheSpan
  // gives it the sweepgen it needs); the two sets only tell their age, so
  // that MHeap::ReleaseEmptySpans can return those unused for a cycle.
  SpanSet& EmptySpans(uint32_t sg) { return empty_[sg / 2 % 2]; }
  SpanSet& OldEmptySpans(uint32_t sg) { return empty_[1 - sg / 2 % 2]; }

  SpanClass spanclass() const { return spanclass_; }

 private:
  MHeap* heap_ = nullptr;
  SpanClass spanclass_ = 0;
  SpanSet partial_[2];
  SpanSet full_[2];
  SpanSet empty_[2];
};

}  // namespace gcheap

#endif  // GCHEAP_HEAP_MCENTRAL_H_
