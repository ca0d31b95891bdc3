#include "heap/mcache.h"

#include "heap/error.h"

namespace gcheap {

MCache::MCache(MHeap* heap) : flush_gen_(heap->sweepgen()), heap_(heap) {
  for (auto& s : alloc_) s = &empty_mspan;
  heap_->RegisterMCache(this);
}

MCache::~MCache() {
  ReleaseAll();
  // An object query may have read, under the heap lock, that one of the
  // spans just uncached was cached here, and be about to read its
  // window's cursor (MSpan::AllocatedPrefix): wait for it.
  heap_->WaitForObjectQueries();
  heap_->UnregisterMCache(this);
}

void MCache::Sync(SpanClass spc) {
  MSpan* s = alloc_[spc];
  AllocWindow& w = windows_[spc];
  const uintptr_t from = window_start_[spc];
  if (s == &empty_mspan || w.next == from) return;
  GC_DCHECK(w.next > from && w.next <= s->limit, "window out of its span");
  s->alloc_count += static_cast<uint16_t>((w.next - from) / s->elemsize);
  s->set_freeindex(s->ObjIndex(w.next - 1) + 1);
  window_start_[spc] = w.next;
}

bool MCache::Refill(SpanClass spc) {
  AllocSlowPathScope slow(heap_->event_sink(),
                          kClassToNPages[SizeClassOf(spc)] * kPageSize);
  // Proportional sweep: pay for the span about to be taken.
  heap_->DeductSweepCredit(kClassToNPages[SizeClassOf(spc)] * kPageSize);
  // One sweep locker for returning the old span and taking the new one
  // (one read-modify-write of the heap's sweep state each way).
  MHeap::SweepLocker locker(heap_);
  const uint32_t sg = locker.sweepgen();
  MSpan* s = alloc_[spc];
  // The flip prepares every mcache; one that was not has been allocating
  // from stale spans, whose objects the next sweep would free.
  GC_CHECK(flush_gen_.load(std::memory_order_relaxed) == sg,
           "mcache not flushed since the sweepgen flip");
  GC_DCHECK(s == &empty_mspan || s->alloc_count == s->nelems,
            "refill of a span with free slots");
  GC_DCHECK(s == &empty_mspan ||
                s->sweepgen.load(std::memory_order_relaxed) == sg + 3,
            "bad sweepgen in refill: the cached span is stale");
  // heap_live changes once per refill: the old span's unused slots out,
  // the new span's free slots in.
  int64_t live_delta = 0;
  if (s != &empty_mspan) live_delta -= Uncache(s, sg);
  s = heap_->central(spc).CacheSpan(sg);
  if (s != nullptr) {
    heap_->Count(kEventRefills);
    // Count the span's free slots as allocated now; Uncache gives back
    // what was not used. Keeps counters off the allocation fast path, and
    // the per-class counts stay local until ReleaseAll.
    const int64_t slots = s->nelems - s->alloc_count;
    const int64_t bytes = slots * static_cast<int64_t>(s->elemsize);
    alloc_counts_[SizeClassOf(spc)] += slots;
    allocated_bytes_ += bytes;
    live_delta += bytes;
  }
  if (live_delta != 0) {
    heap_->heap_live().fetch_add(live_delta, std::memory_order_relaxed);
    heap_->Count(kEventHeapLiveUpdates);
  }
  if (s == nullptr) return false;
  if (refill_word_ != nullptr) {
    refill_word_->fetch_or(refill_bit_, std::memory_order_relaxed);
  }
  GC_DCHECK(s->alloc_count < s->nelems, "cached span has no free slot");
  alloc_[spc] = s;
  ncached_++;
  // Object queries read this class's window cursor while the span is
  // cached (MSpan::AllocatedPrefix). The window is closed (next == 0).
  s->alloc_cursor.store(&windows_[spc].next, std::memory_order_release);
  s->cache_seq.store(s->cache_seq.load(std::memory_order_relaxed) + 1,
                     std::memory_order_release);
  // Objects allocated from here on during a mark are marked in bulk.
  black_from_[spc] = s->freeindex;
  s->black_from.store(allocate_black_ ? s->freeindex : MSpan::kNoBlack,
                      std::memory_order_release);
  return true;
}

bool MCache::NextWindow(SpanClass spc, uint16_t type) {
  Sync(spc);
  MSpan* s = alloc_[spc];
  size_t end;
  // (empty_mspan is shared by every mcache: it is never written.)
  size_t i = s == &empty_mspan ? 0 : s->NextFreeRun(&end);
  if (i == s->nelems) {
    // The span is full (or this is empty_mspan): get a new one.
    if (!Refill(spc)) return false;
    s = alloc_[spc];
    i = s->NextFreeRun(&end);
    GC_DCHECK(i < s->nelems, "refilled span is full");
  }
  AllocWindow& w = windows_[spc];
  const uintptr_t next = s->start + i * s->elemsize;
  w.end = s->start + end * s->elemsize;
  w.types = nullptr;
  w.mono = AllocWindow::kNoMono;
  GC_DCHECK(
      !NoScan(spc) || (s->mono_type.load(std::memory_order_relaxed) == 0 &&
                       s->obj_types.load(std::memory_order_relaxed) == nullptr),
      "a noscan span with type tags");
  if (!NoScan(spc)) {
    // (This thread publishes obj_types: a relaxed load reads its own.)
    if (uint16_t* t = s->obj_types.load(std::memory_order_relaxed)) {
      w.types = t + i;
    } else {
      // The claim (heap/mspan.h): no slot is allocated (Sync above made
      // alloc_count exact), so the span takes this allocation's type.
      if (s->alloc_count == 0) {
        GC_DCHECK(i == 0 && s->freeindex == 0,
                  "a span with no allocated slot has allocated slots");
        s->mono_type.store(type, std::memory_order_relaxed);
      }
      w.mono = s->mono_type.load(std::memory_order_relaxed);
    }
  }
  w.elemsize = static_cast<uint32_t>(s->elemsize);
  window_start_[spc] = next;
  // Release builds keep free slots of small spans zeroed (cleared when
  // swept or when the span is made); debug builds poison freed slots and
  // clear them here, a window at a time.
  if (kDebugBuild && s->needzero) {
    memset(reinterpret_cast<void*>(next), 0, w.end - next);
  }
  w.set_next(next);
  return true;
}

void* MCache::AllocSmallSlow(SpanClass spc, uint16_t type) {
  AllocWindow& w = windows_[spc];
  if (w.next >= w.end && !NextWindow(spc, type)) return nullptr;
  const uintptr_t p = w.next;
  if (NoScan(spc)) {
    w.set_next(p + w.elemsize);
  } else if (!w.TakeTyped(p, type)) {
    // A mono span of another type.
    if (!MakeMixed(spc)) return nullptr;
    const bool taken = w.TakeTyped(p, type);
    GC_DCHECK(taken, "a mixed window refused an allocation");
    (void)taken;
  }
  return reinterpret_cast<void*>(p);
}

bool MCache::MakeMixed(SpanClass spc) {
  MSpan* s = alloc_[spc];
  AllocWindow& w = windows_[spc];
  GC_DCHECK(s != &empty_mspan && !NoScan(spc) && !s->is_large(),
            "only a cached small scan span becomes mixed");
  GC_DCHECK(s->obj_types.load(std::memory_order_relaxed) == nullptr &&
                w.types == nullptr,
            "the span is mixed already");
  GC_DCHECK(w.next < w.end && w.mono == s->mono_type.load(),
            "a mono window of another span");
  uint16_t* t = heap_->NewTypeTags(
      s->nelems, s->mono_type.load(std::memory_order_relaxed));
  if (t == nullptr) return false;
  // Publish: the filled array before the pointer (heap/mspan.h).
  s->obj_types.store(t, std::memory_order_release);
  w.types = t + s->ObjIndex(w.next);
  w.mono = AllocWindow::kNoMono;
  return true;
}

void* MCache::AllocTinySlow(size_t size) {
  if (tiny_unmarked_ != 0) {
    // The first tiny allocation of a mark into the block in use when it
    // began: the new object may be the block's only reference, so the
    // block is marked now (allocate black), and used again.
    ObjectRef r;
    GC_CHECK(heap_->FindObject(tiny_unmarked_, &r),
             "the tiny block is not in the heap");
    if (r.span->SetMarked(r.index)) {
      black_.objects++;
      black_.bytes += r.span->elemsize;
    }
    tiny_ = tiny_unmarked_;
    tiny_unmarked_ = 0;
    if (void* p = TinyFast(size)) return p;
  }
  if (size == 0) size = 1;
  AllocWindow& w = windows_[kTinySpanClass];
  uintptr_t v = w.next;
  if (v < w.end) {
    w.set_next(v + w.elemsize);
  } else {
    v = reinterpret_cast<uintptr_t>(AllocSmallSlow(kTinySpanClass, 0));
    if (v == 0) return nullptr;
  }
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

void* MCache::AllocLarge(size_t size, bool noscan, uint16_t type) {
  void* p = heap_->AllocLarge(size, noscan, type);
  if (p == nullptr) return nullptr;
  ObjectRef r;
  GC_CHECK(heap_->FindObject(reinterpret_cast<uintptr_t>(p), &r),
           "a new large object is not in the heap");
  allocated_bytes_ += r.span->elemsize;
  if (allocate_black_ && r.span->SetMarked(0)) {
    black_.objects++;
    black_.bytes += r.span->elemsize;
  }
  return p;
}

void MCache::MarkAllocatedBlack(MSpan* s, size_t from) {
  const size_t to = s->freeindex;
  for (size_t wi = from / 64; wi * 64 < to; wi++) {
    const size_t lo = wi * 64;
    uint64_t mask = ~s->alloc_bits[wi];
    if (from > lo) mask &= ~uint64_t{0} << (from - lo);
    if (to - lo < 64) mask &= (uint64_t{1} << (to - lo)) - 1;
    if (mask == 0) continue;
    const uint64_t old =
        __atomic_fetch_or(&s->gcmark_bits[wi], mask, __ATOMIC_RELAXED);
    const int n = __builtin_popcountll(mask & ~old);
    black_.objects += n;
    black_.bytes += n * s->elemsize;
  }
}

int64_t MCache::Uncache(MSpan* s, uint32_t sg) {
  const SpanClass spc = s->spanclass;
  GC_DCHECK(alloc_[spc] == s, "uncaching a span not cached here");
  Sync(spc);
  // Queries stop reading the window's cursor (MSpan::AllocatedPrefix).
  s->alloc_cursor.store(nullptr, std::memory_order_relaxed);
  s->cache_seq.store(s->cache_seq.load(std::memory_order_relaxed) + 1,
                     std::memory_order_release);
  AllocWindow& w = windows_[spc];
  w.set_next(0);
  w.end = 0;
  w.types = nullptr;
  w.elemsize = 0;
  w.mono = AllocWindow::kNoMono;
  window_start_[spc] = 0;
  alloc_[spc] = &empty_mspan;
  ncached_--;
  if (allocate_black_) MarkAllocatedBlack(s, black_from_[spc]);
  const int64_t unused = s->nelems - s->alloc_count;
  int64_t give_back = 0;
  if (unused != 0) {
    alloc_counts_[SizeClassOf(s->spanclass)] -= unused;
    // A span cached before the last sweepgen flip (sweepgen h+1) had its
    // unused slots counted in heap_live before the collector reset
    // heap_live to the marked bytes, which never included them: nothing to
    // give back (Go's releaseAll does the same).
    if (s->sweepgen.load(std::memory_order_relaxed) != sg + 1) {
      give_back = unused * static_cast<int64_t>(s->elemsize);
    }
  }
  heap_->central(s->spanclass).UncacheSpan(s, sg);
  return give_back;
}

void MCache::ReleaseAll() {
  uint32_t sg;
  {
    MHeap::SweepLocker locker(heap_);
    sg = locker.sweepgen();
    int64_t give_back = 0;
    for (int spc = 0; ncached_ > 0 && spc < kNumSpanClasses; spc++) {
      MSpan* s = alloc_[spc];
      if (s != &empty_mspan) give_back += Uncache(s, sg);
    }
    if (give_back != 0) {
      heap_->heap_live().fetch_sub(give_back, std::memory_order_relaxed);
      heap_->Count(kEventHeapLiveUpdates);
    }
  }
  GC_DCHECK(ncached_ == 0, "cached span count is off");
  heap_->FlushAllocCounts(alloc_counts_);
  tiny_ = 0;
  tiny_unmarked_ = 0;
  tiny_offset_ = 0;
  if (tiny_allocs_ != 0) heap_->AddTinyAllocs(tiny_allocs_);
  tiny_allocs_ = 0;
  flush_gen_.store(sg, std::memory_order_relaxed);
}

void MCache::PrepareForSweep() {
  const uint32_t sg = heap_->sweepgen();
  const uint32_t fg = flush_gen_.load(std::memory_order_relaxed);
  if (fg == sg) return;
  GC_CHECK(fg + 2 == sg, "bad mcache flushGen: missed a sweepgen flip");
  ReleaseAll();
}

void MCache::SyncAll() {
  for (int spc = 0; spc < kNumSpanClasses; spc++) {
    if (alloc_[spc] != &empty_mspan) Sync(static_cast<SpanClass>(spc));
  }
}

void MCache::StartMark(bool allocate_black) {
  for (int spc = 0; spc < kNumSpanClasses; spc++) {
    MSpan* s = alloc_[spc];
    if (s == &empty_mspan) continue;
    Sync(static_cast<SpanClass>(spc));
    black_from_[spc] = s->freeindex;
    s->black_from.store(allocate_black ? s->freeindex : MSpan::kNoBlack,
                        std::memory_order_release);
  }
  if (allocate_black && tiny_ != 0) {
    // Tiny objects allocated from now on may be the only references to
    // the block, which was allocated before the mark began: the first of
    // them takes the slow path, which marks it (unused, it may be freed).
    tiny_unmarked_ = tiny_;
    tiny_ = 0;
  }
  allocate_black_ = allocate_black;
  allocated_bytes_ = 0;
}

}  // namespace gcheap
