#include "heap/mcentral.h"

#include <cstring>

#include "heap/mheap.h"

namespace gcheap {

namespace {
// How many unswept spans cacheSpan sweeps before it gives up and asks mheap
// for a fresh span (Go uses 100).
constexpr int kSweepBudget = 100;
}  // namespace

void SpanSet::Push(MSpan* s) {
  GC_CHECK(reinterpret_cast<uint64_t>(s) >> 47 == 0,
           "a span struct above 2^47: the span set cannot pack it");
  uint64_t head = head_.load(std::memory_order_relaxed);
  for (;;) {
    s->next.store(Top(head), std::memory_order_relaxed);
    if (head_.compare_exchange_weak(head, Pack(s, head + 1),
                                    std::memory_order_release,
                                    std::memory_order_relaxed)) {
      break;
    }
    counts_->Add(kEventSpanSetRetries);
  }
  counts_->Add(kEventSpanSetOps);
}

MSpan* SpanSet::Pop() {
  uint64_t head = head_.load(std::memory_order_acquire);
  for (;;) {
    MSpan* s = Top(head);
    if (s == nullptr) return nullptr;
    MSpan* next = s->next.load(std::memory_order_relaxed);
    if (GC_UNLIKELY(pop_hook_ != nullptr)) pop_hook_(pop_hook_arg_);
    if (head_.compare_exchange_weak(head, Pack(next, head + 1),
                                    std::memory_order_acquire,
                                    std::memory_order_acquire)) {
      s->next.store(nullptr, std::memory_order_relaxed);
      counts_->Add(kEventSpanSetOps);
      return s;
    }
    counts_->Add(kEventSpanSetRetries);
  }
}

MSpan* MCentral::CacheSpan(uint32_t sg) {
  bool empty = false;
  MSpan* s = PartialSwept(sg).Pop();
  if (s == nullptr) {
    int budget = kSweepBudget;
    // Unswept spans that had free slots: sweep and use.
    for (; budget > 0 && s == nullptr; budget--) {
      s = PartialUnswept(sg).Pop();
      if (s == nullptr) break;
      heap_->ClaimForSweep(s, sg);
      heap_->SweepSpan(s, /*preserve=*/true, sg);
    }
    // Unswept spans that were full: sweeping may free slots.
    for (; budget > 0 && s == nullptr; budget--) {
      MSpan* f = FullUnswept(sg).Pop();
      if (f == nullptr) break;
      heap_->ClaimForSweep(f, sg);
      heap_->SweepSpan(f, /*preserve=*/true, sg);
      if (f->alloc_count < f->nelems) {
        s = f;
      } else {
        f->sweepgen.store(sg, std::memory_order_release);
        FullSwept(sg).Push(f);
      }
    }
  }
  if (s == nullptr) {
    // A span a sweep found empty (this cycle's, else the last one's): no
    // heap lock. Its slots hold old data; release builds clear it whole
    // (as AllocSpan clears reused pages), debug builds leave needzero to
    // the windows.
    s = EmptySpans(sg).Pop();
    if (s == nullptr) s = OldEmptySpans(sg).Pop();
    if (s != nullptr) empty = true;
  }
  if (empty) {
    GC_DCHECK(s->alloc_count == 0 && s->freeindex == 0,
              "an empty span with allocated slots");
    heap_->Count(kEventRefillsEmptySpan);
    if (!kDebugBuild) {
      memset(reinterpret_cast<void*>(s->start), 0, s->nelems * s->elemsize);
      s->needzero = false;
    }
  }
  if (s == nullptr) {
    heap_->Count(kEventRefillsHeapLock);
    s = heap_->AllocSpan(kClassToNPages[SizeClassOf(spanclass_)], spanclass_,
                         sg);
    if (s == nullptr) return nullptr;
  }
  GC_DCHECK(s->alloc_count < s->nelems, "span from cacheSpan is full");
  s->sweepgen.store(sg + 3, std::memory_order_release);
  return s;
}

void MCentral::UncacheSpan(MSpan* s, uint32_t sg) {
  GC_DCHECK(s->alloc_count <= s->nelems, "alloc_count overflow");
  const uint32_t ssg = s->sweepgen.load(std::memory_order_acquire);
  GC_CHECK(ssg == sg + 1 || ssg == sg + 3, "uncaching a span not cached");
  if (ssg == sg + 1) {
    // Cached before this sweep began: it still needs sweeping. Only this
    // thread can reach it, so it is ours to sweep.
    s->sweepgen.store(sg - 1, std::memory_order_release);
    heap_->SweepSpan(s, /*preserve=*/false, sg);
    return;
  }
  s->sweepgen.store(sg, std::memory_order_release);
  if (s->alloc_count < s->nelems) {
    PartialSwept(sg).Push(s);
  } else {
    FullSwept(sg).Push(s);
  }
}

}  // namespace gcheap
