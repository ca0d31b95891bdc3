#include "heap/mcentral.h"

#include "heap/mheap.h"

namespace gcheap {

namespace {
// How many unswept spans cacheSpan sweeps before it gives up and asks mheap
// for a fresh span (Go uses 100).
constexpr int kSweepBudget = 100;
}  // namespace

MSpan* MCentral::CacheSpan() {
  const uint32_t sg = heap_->sweepgen();
  MSpan* s = PartialSwept(sg).Pop();
  if (s != nullptr) goto havespan;

  {
    int budget = kSweepBudget;
    heap_->active_sweepers().fetch_add(1, std::memory_order_acq_rel);
    // Unswept spans that had free slots: sweep and use.
    for (; budget > 0; budget--) {
      s = PartialUnswept(sg).Pop();
      if (s == nullptr) break;
      if (heap_->TryAcquireSweep(s, sg)) {
        heap_->SweepSpan(s, /*preserve=*/true);
        heap_->active_sweepers().fetch_sub(1, std::memory_order_acq_rel);
        goto havespan;
      }
      // Every sweeper pops a span before it claims it, so a span on an
      // unswept set is always claimable.
      GC_DCHECK(false, "span on an unswept set is not claimable");
    }
    // Unswept spans that were full: sweeping may free slots.
    for (; budget > 0; budget--) {
      s = FullUnswept(sg).Pop();
      if (s == nullptr) break;
      if (heap_->TryAcquireSweep(s, sg)) {
        heap_->SweepSpan(s, /*preserve=*/true);
        if (s->alloc_count < s->nelems) {
          heap_->active_sweepers().fetch_sub(1, std::memory_order_acq_rel);
          goto havespan;
        }
        FullSwept(sg).Push(s);
      }
    }
    heap_->active_sweepers().fetch_sub(1, std::memory_order_acq_rel);
  }

  s = Grow();
  if (s == nullptr) return nullptr;

havespan:
  GC_DCHECK(s->alloc_count < s->nelems, "span from cacheSpan is full");
  // Count the free slots as allocated now; UncacheSpan gives back what the
  // mcache did not use. Keeps counters off the allocation fast path.
  heap_->AddSmallAlloc(SizeClassOf(spanclass_), s->nelems - s->alloc_count);
  // Resume the allocCache at freeindex.
  size_t freeindex = s->freeindex;
  s->RefillAllocCache(freeindex / 64);
  s->alloc_cache >>= freeindex % 64;
  s->sweepgen.store(sg + 3, std::memory_order_release);
  return s;
}

void MCentral::UncacheSpan(MSpan* s) {
  GC_DCHECK(s->alloc_count <= s->nelems, "alloc_count overflow");
  const uint32_t sg = heap_->sweepgen();
  const uint32_t ssg = s->sweepgen.load(std::memory_order_acquire);
  GC_CHECK(ssg == sg + 1 || ssg == sg + 3, "uncaching a span not cached");
  // Give back the slots counted at cacheSpan that were not used.
  heap_->AddSmallAlloc(SizeClassOf(spanclass_),
                       -static_cast<int64_t>(s->nelems - s->alloc_count));
  if (ssg == sg + 1) {
    // Cached before this sweep began: it still needs sweeping. Only this
    // thread can reach it, so ownership is ours.
    s->sweepgen.store(sg - 1, std::memory_order_release);
    heap_->active_sweepers().fetch_add(1, std::memory_order_acq_rel);
    heap_->SweepSpan(s, /*preserve=*/false);
    heap_->active_sweepers().fetch_sub(1, std::memory_order_acq_rel);
    return;
  }
  s->sweepgen.store(sg, std::memory_order_release);
  if (s->alloc_count < s->nelems) {
    PartialSwept(sg).Push(s);
  } else {
    FullSwept(sg).Push(s);
  }
}

MSpan* MCentral::Grow() {
  int sizeclass = SizeClassOf(spanclass_);
  MSpan* s = heap_->AllocSpan(kClassToNPages[sizeclass], spanclass_);
  return s;
}

}  // namespace gcheap
