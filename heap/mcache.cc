#include "heap/mcache.h"

#include "heap/error.h"

namespace gcheap {

MCache::MCache(MHeap* heap) : flush_gen_(heap->sweepgen()), heap_(heap) {
  for (auto& s : alloc_) s = &empty_mspan;
  heap_->RegisterMCache(this);
}

MCache::~MCache() {
  ReleaseAll();
  heap_->UnregisterMCache(this);
}

bool MCache::Refill(SpanClass spc) {
  MSpan* s = alloc_[spc];
  // The flip prepares every mcache; one that was not has been allocating
  // from stale spans, whose objects the next sweep would free.
  GC_CHECK(flush_gen_.load(std::memory_order_relaxed) == heap_->sweepgen(),
           "mcache not flushed since the sweepgen flip");
  GC_DCHECK(s == &empty_mspan || s->alloc_count == s->nelems,
            "refill of a span with free slots");
  GC_DCHECK(s == &empty_mspan || s->sweepgen.load(std::memory_order_relaxed) ==
                                     heap_->sweepgen() + 3,
            "bad sweepgen in refill: the cached span is stale");
  if (s != &empty_mspan) {
    alloc_[spc] = &empty_mspan;
    ncached_--;
    Uncache(s);
  }
  AllocSlowPathScope slow(heap_->event_sink(),
                          kClassToNPages[SizeClassOf(spc)] * kPageSize);
  // Proportional sweep: pay for the span about to be taken.
  heap_->DeductSweepCredit(kClassToNPages[SizeClassOf(spc)] * kPageSize);
  s = heap_->central(spc).CacheSpan();
  if (s == nullptr) return false;
  // Count the span's free slots as allocated now; Uncache gives back what
  // was not used. Keeps counters off the allocation fast path, and the
  // per-class counts stay local until ReleaseAll.
  const int64_t slots = s->nelems - s->alloc_count;
  alloc_counts_[SizeClassOf(spc)] += slots;
  heap_->heap_live().fetch_add(slots * static_cast<int64_t>(s->elemsize),
                               std::memory_order_relaxed);
  if (refill_word_ != nullptr) {
    refill_word_->fetch_or(refill_bit_, std::memory_order_relaxed);
  }
  GC_DCHECK(s->alloc_count < s->nelems, "cached span has no free slot");
  alloc_[spc] = s;
  ncached_++;
  return true;
}

uintptr_t MCache::NextFree(SpanClass spc) {
  MSpan* s = alloc_[spc];
  size_t idx = s->NextFreeIndex();
  if (idx == s->nelems) {
    // The span is full (or this is empty_mspan): get a new one.
    if (!Refill(spc)) return 0;
    s = alloc_[spc];
    idx = s->NextFreeIndex();
  }
  GC_DCHECK(idx < s->nelems, "refilled span is full");
  s->alloc_count++;
  return s->start + idx * s->elemsize;
}

void* MCache::AllocSmallSlow(SpanClass spc, size_t size) {
  uintptr_t v = NextFree(spc);
  if (v == 0) return nullptr;
  MSpan* s = alloc_[spc];
  if (kDebugBuild && s->needzero) {
    memset(reinterpret_cast<void*>(v), 0, s->elemsize);
  }
  return reinterpret_cast<void*>(v);
}

void* MCache::AllocTypedSlow(SpanClass spc, uint16_t type) {
  uintptr_t v = NextFree(spc);
  if (v == 0) return nullptr;
  MSpan* s = alloc_[spc];
  s->SetObjType(s->ObjIndex(v), type);
  if (kDebugBuild && s->needzero) {
    memset(reinterpret_cast<void*>(v), 0, s->elemsize);
  }
  return reinterpret_cast<void*>(v);
}

void* MCache::AllocTinySlow(size_t size) {
  if (size == 0) size = 1;
  MSpan* s = alloc_[kTinySpanClass];
  uintptr_t v = NextFreeFast(s);
  if (v == 0) v = NextFree(kTinySpanClass);
  if (v == 0) return nullptr;
  auto* block = reinterpret_cast<uint64_t*>(v);
  block[0] = 0;
  block[1] = 0;
  tiny_allocs_++;
  // Keep whichever block has more room left (Go's rule).
  if (size < tiny_offset_ || tiny_ == 0) {
    tiny_ = v;
    tiny_offset_ = size;
  }
  return block;
}

void MCache::Uncache(MSpan* s) {
  const int64_t unused = s->nelems - s->alloc_count;
  if (unused != 0) {
    alloc_counts_[SizeClassOf(s->spanclass)] -= unused;
    // A span cached before the last sweepgen flip (sweepgen h+1) had its
    // unused slots counted in heap_live before the collector reset
    // heap_live to the marked bytes, which never included them: nothing to
    // give back (Go's releaseAll does the same).
    if (s->sweepgen.load(std::memory_order_relaxed) != heap_->sweepgen() + 1) {
      heap_->heap_live().fetch_sub(unused * static_cast<int64_t>(s->elemsize),
                                   std::memory_order_relaxed);
    }
  }
  heap_->central(s->spanclass).UncacheSpan(s);
}

void MCache::ReleaseAll() {
  for (int spc = 0; ncached_ > 0 && spc < kNumSpanClasses; spc++) {
    MSpan* s = alloc_[spc];
    if (s == &empty_mspan) continue;
    alloc_[spc] = &empty_mspan;
    ncached_--;
    Uncache(s);
  }
  GC_DCHECK(ncached_ == 0, "cached span count is off");
  heap_->FlushAllocCounts(alloc_counts_);
  tiny_ = 0;
  tiny_offset_ = 0;
  if (tiny_allocs_ != 0) heap_->AddTinyAllocs(tiny_allocs_);
  tiny_allocs_ = 0;
  flush_gen_.store(heap_->sweepgen(), std::memory_order_relaxed);
}

void MCache::PrepareForSweep() {
  const uint32_t sg = heap_->sweepgen();
  const uint32_t fg = flush_gen_.load(std::memory_order_relaxed);
  if (fg == sg) return;
  GC_CHECK(fg + 2 == sg, "bad mcache flushGen: missed a sweepgen flip");
  ReleaseAll();
}

}  // namespace gcheap
