#include "heap/mheap.h"

#include <algorithm>
#include <cstring>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "heap/error.h"
#include "heap/mcache.h"

namespace gcheap {

namespace {
int BitsAllocIndex(size_t words) {
  // words is 1..16; blocks are sized 1, 2, 4, 8, 16 words (per bitmap).
  int i = 0;
  while ((size_t{1} << i) < words) i++;
  return i;
}
constexpr size_t kScavengeChunkPages = 64;  // 512 KiB per madvise
constexpr size_t kMaxPoisonBytes = 1 << 20;
}  // namespace

namespace {
// The process's live heaps (MHeap::InOtherHeap).
struct HeapRegistry {
  std::shared_mutex mu;
  std::vector<const MHeap*> heaps;
};
HeapRegistry& Registry() {
  static HeapRegistry* r = new HeapRegistry;  // never destroyed: heaps may
  return *r;                                  // outlive static destructors
}
}  // namespace

bool MHeap::InOtherHeap(uintptr_t p, const void** other) const {
  HeapRegistry& r = Registry();
  std::shared_lock<std::shared_mutex> g(r.mu);
  for (const MHeap* h : r.heaps) {
    if (h != this && h->index_.Lookup(p) != nullptr) {
      *other = h->owner();
      return true;
    }
  }
  return false;
}

MHeap::MHeap(const HeapOptions& opts)
    : opts_(opts),
      pages_(&index_),
      span_alloc_(sizeof(MSpan), /*zero_reused=*/false),
      bits_alloc_{FixAlloc(2 * 8 * 1), FixAlloc(2 * 8 * 2), FixAlloc(2 * 8 * 4),
                  FixAlloc(2 * 8 * 8), FixAlloc(2 * 8 * 16)},
      types_alloc_{FixAlloc(8),   FixAlloc(16),   FixAlloc(32),
                   FixAlloc(64),  FixAlloc(128),  FixAlloc(256),
                   FixAlloc(512), FixAlloc(1024), FixAlloc(2048)} {
  for (int i = 0; i < kNumSpanClasses; i++) {
    central_[i].Init(this, static_cast<SpanClass>(i), &counts_);
  }
  HeapRegistry& r = Registry();
  std::unique_lock<std::shared_mutex> g(r.mu);
  r.heaps.push_back(this);
}

MHeap::~MHeap() {
  // First: no lookup may reach this heap's arenas once they are unmapped.
  HeapRegistry& r = Registry();
  std::unique_lock<std::shared_mutex> g(r.mu);
  r.heaps.erase(std::find(r.heaps.begin(), r.heaps.end(), this));
}

uint64_t* MHeap::AllocBits(size_t words) {
  return static_cast<uint64_t*>(bits_alloc_[BitsAllocIndex(words)].Alloc());
}

void MHeap::FreeBits(uint64_t* bits, size_t words) {
  bits_alloc_[BitsAllocIndex(words)].Free(bits);
}

namespace {
int TypesAllocIndex(size_t nelems) {
  int i = 0;
  while ((size_t{8} << i) < nelems * sizeof(uint16_t)) i++;
  return i;
}
}  // namespace

uint16_t* MHeap::AllocTypes(size_t nelems) {
  return static_cast<uint16_t*>(types_alloc_[TypesAllocIndex(nelems)].Alloc());
}

void MHeap::FreeTypes(uint16_t* types, size_t nelems) {
  types_alloc_[TypesAllocIndex(nelems)].Free(types);
}

uint16_t* MHeap::NewTypeTags(size_t nelems, uint16_t fill) {
  uint16_t* t;
  {
    std::lock_guard<CountedMutex> g(lock_);
    t = AllocTypes(nelems);
  }
  if (t == nullptr) {
    SetLastError("out of memory for span metadata");
    return nullptr;
  }
  std::fill(t, t + nelems, fill);
  return t;
}

void MHeap::InitSpan(MSpan* s, uintptr_t base, size_t npages, SpanClass spc,
                     bool needzero, uint32_t sg) {
  int sizeclass = SizeClassOf(spc);
  s->start = base;
  s->npages = npages;
  s->spanclass = spc;
  s->needzero = needzero;
  s->set_freeindex(0);
  s->alloc_count = 0;
  s->black_from.store(MSpan::kNoBlack, std::memory_order_relaxed);
  s->next.store(nullptr, std::memory_order_relaxed);
  if (sizeclass == 0) {
    s->elemsize = npages * kPageSize;
    s->nelems = 1;
    s->div_magic = 0;  // every offset maps to object 0
  } else {
    s->elemsize = kClassToSize[sizeclass];
    s->nelems = kClassToNElems[sizeclass];
    s->div_magic = kClassToDivMagic[sizeclass];
  }
  s->limit = base + s->nelems * s->elemsize;
  s->bitmap_words = (s->nelems + 63) / 64;
  s->sweepgen.store(sg, std::memory_order_relaxed);
}

void MHeap::ReclaimBeforeGrow(size_t npages) {
  // Go's mheap.reclaim: before taking fresh pages, sweep until at least
  // npages were swept or nothing is left, so a heap that has garbage waiting
  // in unswept spans reuses it instead of growing.
  size_t swept = 0;
  while (swept < npages) {
    size_t n = SweepOne();
    if (n == 0) break;
    swept += n;
  }
}

bool MHeap::Expand(size_t bytes) {
  const size_t npages =
      std::max<size_t>(1, (bytes + kPageSize - 1) / kPageSize);
  std::lock_guard<CountedMutex> g(lock_);
  const size_t before = pages_.mapped_bytes() - pages_.released_bytes();
  // Take runs until enough memory is newly committed (a run may be free
  // memory that is committed already), then give them all back as free.
  std::vector<PageAlloc::Run> taken;
  bool ok = true;
  while (pages_.mapped_bytes() - pages_.released_bytes() < before + bytes) {
    PageAlloc::Run run = pages_.Alloc(npages);
    if (run.base == 0) {
      if (!pages_.Grow(npages)) {
        ok = false;
        break;
      }
      run = pages_.Alloc(npages);
      if (run.base == 0) {
        ok = false;
        break;
      }
    }
    taken.push_back(run);
  }
  for (const PageAlloc::Run& r : taken) pages_.Free(r.base, npages);
  if (ok) {
    expanded_bytes_ = std::max(expanded_bytes_,
                               pages_.mapped_bytes() - pages_.released_bytes());
  }
  return ok;
}

MSpan* MHeap::AllocSpan(size_t npages, SpanClass spc, uint32_t sg,
                        size_t large_bytes, uint16_t type) {
  if (!SweepDone()) ReclaimBeforeGrow(npages);
  Growth grown;
  MSpan* s = AllocSpanLocked(npages, spc, sg, large_bytes, type, &grown);
  if (grown.bytes != 0 && event_sink_ != nullptr && event_sink_->active()) {
    event_sink_->ArenaAdded(grown.base, grown.bytes, grown.reserved);
  }
  if (s != nullptr && s->needzero && !s->is_large()) {
    // Small spans keep "free slots read as zero": clear reused pages once,
    // in bulk, outside the heap lock. (Large objects are cleared by
    // AllocLarge, only as far as the request reaches.)
    memset(reinterpret_cast<void*>(s->start), 0, npages * kPageSize);
    s->needzero = false;
  }
  return s;
}

MSpan* MHeap::AllocSpanLocked(size_t npages, SpanClass spc, uint32_t sg,
                              size_t large_bytes, uint16_t type,
                              Growth* grown) {
  std::lock_guard<CountedMutex> g(lock_);
  if (opts_.hard_limit != 0 &&
      (in_use_pages_ + npages) * kPageSize > opts_.hard_limit) {
    // Empty spans kept for reuse count as in use: give them back first.
    ReleaseEmptySpansLocked();
  }
  if (opts_.hard_limit != 0 &&
      (in_use_pages_ + npages) * kPageSize > opts_.hard_limit) {
    SetLastError(
        "heap hard limit reached: %zu bytes in use, %zu requested, limit %zu",
        in_use_pages_ * kPageSize, npages * kPageSize, opts_.hard_limit);
    return nullptr;
  }
  PageAlloc::Run run = pages_.Alloc(npages);
  // Before the heap grows, the empty spans kept for reuse (of any class)
  // return their pages.
  if (run.base == 0 && ReleaseEmptySpansLocked() != 0) {
    run = pages_.Alloc(npages);
  }
  if (run.base == 0) {
    const size_t reserved = pages_.reserved_bytes();
    if (!pages_.Grow(npages)) {
      SetLastError("out of memory: the OS refused to reserve %zu bytes",
                   AlignUp(npages * kPageSize, kArenaBytes));
      return nullptr;
    }
    grown->bytes = pages_.reserved_bytes() - reserved;
    grown->reserved = pages_.reserved_bytes();
    run = pages_.Alloc(npages);
    if (run.base == 0) {
      SetLastError("out of memory: the OS refused to commit %zu bytes",
                   npages * kPageSize);
      return nullptr;
    }
    grown->base = AlignDown(run.base, kArenaBytes);
  }
  bool reused = false;
  auto* s = static_cast<MSpan*>(span_alloc_.Alloc(&reused));
  int sizeclass = SizeClassOf(spc);
  size_t words = sizeclass == 0 ? 1 : (kClassToNElems[sizeclass] + 63) / 64;
  uint64_t* bits = s ? AllocBits(words) : nullptr;
  if (s == nullptr || bits == nullptr) {
    if (bits) FreeBits(bits, words);
    if (s) span_alloc_.Free(s);
    pages_.Free(run.base, npages);
    SetLastError("out of memory for span metadata");
    return nullptr;
  }
  // Fresh memory: construct. A reused struct is initialized field by field
  // (InitSpan and below): a lock-free reader holding a stale pointer (a
  // span set's pop, FindObject) may still load its atomics.
  if (!reused) new (s) MSpan();
  InitSpan(s, run.base, npages, spc, run.needzero, sg);
  size_t block = size_t{1} << BitsAllocIndex(words);
  s->alloc_bits = bits;
  s->gcmark_bits = bits + block;
  // Mono (heap/mspan.h, "Type tags"): a small scan span takes its type
  // when its first window opens; a large one is its object's.
  s->obj_types.store(nullptr, std::memory_order_relaxed);
  s->mono_type.store(0, std::memory_order_relaxed);
  if (SizeClassOf(spc) == 0) {
    // A large object is allocated before its span is published, so a
    // lookup (the marker, an object query) never sees it half made: the
    // span ends where the object does, and its one slot is taken.
    s->set_freeindex(1);
    s->alloc_count = 1;
    s->limit = s->start + (large_bytes ? large_bytes : 1);
    if (!NoScan(spc)) s->mono_type.store(type, std::memory_order_relaxed);
  }
  in_use_pages_ += npages;
  in_use_bytes_.store(in_use_pages_ * kPageSize, std::memory_order_relaxed);
  peak_in_use_pages_ = std::max(peak_in_use_pages_, in_use_pages_);
  // Publish: state first, then the page map (readers check state after
  // loading the span pointer with acquire).
  s->state.store(SpanState::kInUse, std::memory_order_release);
  for (uintptr_t p = run.base, end = run.base + npages * kPageSize; p < end;) {
    HeapArena* a = index_.Lookup(p);
    size_t first = a->PageIndex(p);
    size_t n = std::min<size_t>((end - p) / kPageSize, kPagesPerArena - first);
    if (p == run.base) {
      a->page_in_use[first / 64].fetch_or(uint64_t{1} << (first % 64),
                                          std::memory_order_relaxed);
    }
    for (size_t i = 0; i < n; i++) {
      a->spans[first + i].store(s, std::memory_order_release);
    }
    p += n * kPageSize;
  }
  return s;
}

void MHeap::KeepEmpty(MSpan* s, uint32_t sg) {
  // Its dead slots hold their old contents (debug builds: the poison);
  // CacheSpan clears the span before it hands it out.
  if (kDebugBuild && s->npages * kPageSize <= kMaxPoisonBytes) {
    memset(reinterpret_cast<void*>(s->start), kFreePoison,
           s->nelems * s->elemsize);
  }
  s->needzero = true;
  central_[s->spanclass].EmptySpans(sg).Push(s);
}

size_t MHeap::ReleaseEmptySpans(bool only_old) {
  // The caller holds no locker: a flip may come between reading sweepgen
  // and popping, which at worst releases the newer set instead.
  const uint32_t sg = sweepgen();
  // Under scavenge_mu_, which the collector holds across every pause: the
  // caller may count as stopped (gc_collect's FinishSweep runs in a
  // blocking bracket), and a pause's world hook may stop such a thread
  // wherever it is (libgc.so.1's suspend signal), so it must not hold the
  // heap lock then: StartSweepCycle, in the pause, takes it.
  std::lock_guard<std::mutex> no_pause(scavenge_mu_);
  std::lock_guard<CountedMutex> g(lock_);
  size_t pages = 0;
  if (span_holds_ != 0) return 0;
  for (MCentral& c : central_) {
    pages += FreeAll(&c.OldEmptySpans(sg));
    if (!only_old) pages += FreeAll(&c.EmptySpans(sg));
  }
  return pages;
}

size_t MHeap::ReleaseEmptySpansLocked() {
  size_t pages = 0;
  if (span_holds_ != 0) return 0;
  for (MCentral& c : central_) {
    pages += FreeAll(&c.EmptySpans(0)) + FreeAll(&c.OldEmptySpans(0));
  }
  return pages;
}

MHeap::SpanHold::SpanHold(MHeap* h) : heap_(h) {
  std::lock_guard<CountedMutex> g(heap_->lock_);
  heap_->span_holds_++;
}

MHeap::SpanHold::~SpanHold() {
  std::lock_guard<CountedMutex> g(heap_->lock_);
  heap_->span_holds_--;
}

size_t MHeap::FreeAll(SpanSet* set) {
  size_t pages = 0;
  while (MSpan* s = set->Pop()) {
    pages += s->npages;
    FreeSpanLocked(s);
  }
  return pages;
}

void MHeap::FreeSpan(MSpan* s) {
  std::lock_guard<CountedMutex> g(lock_);
  FreeSpanLocked(s);
}

void MHeap::FreeSpanLocked(MSpan* s) {
  GC_CHECK(s->state.load(std::memory_order_relaxed) == SpanState::kInUse,
           "freeing a span that is not in use");
  uintptr_t base = s->start;
  size_t npages = s->npages;
  for (uintptr_t p = base, end = base + npages * kPageSize; p < end;) {
    HeapArena* a = index_.Lookup(p);
    size_t first = a->PageIndex(p);
    size_t n = std::min<size_t>((end - p) / kPageSize, kPagesPerArena - first);
    if (p == base) {
      a->page_in_use[first / 64].fetch_and(~(uint64_t{1} << (first % 64)),
                                           std::memory_order_relaxed);
    }
    for (size_t i = 0; i < n; i++) {
      a->spans[first + i].store(nullptr, std::memory_order_release);
    }
    p += n * kPageSize;
  }
  if (kDebugBuild && npages * kPageSize <= kMaxPoisonBytes) {
    // Debug builds poison freed memory so stale pointers read garbage.
    // (Huge spans are skipped: poisoning would make them resident.)
    memset(reinterpret_cast<void*>(base), kFreePoison, npages * kPageSize);
  }
  GC_CHECK(s->gc_side.load(std::memory_order_relaxed) == nullptr,
           "freeing a span that still has collector records");
  s->state.store(SpanState::kDead, std::memory_order_release);
  pages_.Free(base, npages);
  in_use_pages_ -= npages;
  in_use_bytes_.store(in_use_pages_ * kPageSize, std::memory_order_relaxed);
  // The two bitmaps share one block; sweeping may have swapped them.
  FreeBits(std::min(s->alloc_bits, s->gcmark_bits), s->bitmap_words);
  if (uint16_t* t = s->obj_types.load(std::memory_order_relaxed)) {
    GC_DCHECK(!NoScan(s->spanclass) && !s->is_large(),
              "a tag array on a noscan or large span");
    FreeTypes(t, s->nelems);
    s->obj_types.store(nullptr, std::memory_order_relaxed);
  }
  span_alloc_.Free(s);
}

void* MHeap::AllocLarge(size_t size, bool noscan, uint16_t type) {
  if (size > kMaxAllocBytes) {
    SetLastError("allocation size overflow: %zu bytes requested (max %zu)",
                 size, kMaxAllocBytes);
    return nullptr;
  }
  size_t npages = (size + kPageSize - 1) / kPageSize;
  SpanClass spc = MakeSpanClass(0, noscan);
  AllocSlowPathScope slow(event_sink_, size);
  DeductSweepCredit(npages * kPageSize);
  SweepLocker locker(this);
  MSpan* s = AllocSpan(npages, spc, locker.sweepgen(), size, type);
  if (s == nullptr) return nullptr;
  if (s->needzero) memset(reinterpret_cast<void*>(s->start), 0, size);
  large_nmalloc_.fetch_add(1, std::memory_order_relaxed);
  large_bytes_.fetch_add(s->elemsize, std::memory_order_relaxed);
  heap_live_.fetch_add(static_cast<int64_t>(s->elemsize),
                       std::memory_order_relaxed);
  Count(kEventLargeAllocs);
  Count(kEventHeapLiveUpdates);
  // Visible to the sweeper through its central's swept-full set.
  central_[spc].FullSwept(locker.sweepgen()).Push(s);
  return reinterpret_cast<void*>(s->start);
}

MCache* MHeap::NewMCache() { return new MCache(this); }

void MHeap::FreeMCache(MCache* c) { delete c; }

void MHeap::RegisterMCache(MCache* c) {
  std::lock_guard<std::mutex> g(mcaches_mu_);
  mcaches_.push_back(c);
}

void MHeap::UnregisterMCache(MCache* c) {
  std::lock_guard<std::mutex> g(mcaches_mu_);
  auto it = std::find(mcaches_.begin(), mcaches_.end(), c);
  GC_CHECK(it != mcaches_.end(), "unregistering an unknown mcache");
  *it = mcaches_.back();
  mcaches_.pop_back();
}

void MHeap::FlushAllocCounts(int64_t* by_class) {
  for (int c = 1; c < kNumSizeClasses; c++) {
    if (by_class[c] == 0) continue;
    nmalloc_[c].fetch_add(static_cast<uint64_t>(by_class[c]),
                          std::memory_order_relaxed);
    by_class[c] = 0;
  }
}

// ---- sweeping ---------------------------------------------------------------

void MHeap::StartSweepCycle() {
  std::lock_guard<std::mutex> caches(mcaches_mu_);
  const uint32_t ending = sweepgen();
  for (MCache* c : mcaches_) {
    GC_CHECK(c->flush_gen() == ending,
             "an mcache was not prepared for the sweep cycle that ends");
  }
  for (;;) {
    FinishSweep(/*scavenge=*/false);
    // The flip and the cursor's rewind under flip_mu_: a publisher of
    // FullySwept never sees the new sweepgen with the old cycle's cursor.
    std::unique_lock<std::mutex> flip(flip_mu_);
    uint64_t state = sweep_state_.load(std::memory_order_acquire);
    if ((state & 0xffffffffu) != 0 || !SweepDone()) {
      flip.unlock();
      std::this_thread::yield();
      continue;
    }
    // Only succeeds while no locker is held (the low half is zero).
    uint64_t next = (((state >> 32) + 2) << 32);
    if (sweep_state_.compare_exchange_weak(state, next,
                                           std::memory_order_acq_rel)) {
      sweep_cursor_.store(0, std::memory_order_release);
      break;
    }
  }
  pages_swept_.store(0, std::memory_order_relaxed);
  sweep_pages_per_byte_.store(0, std::memory_order_relaxed);
  // Spans cached before the flip are stale: return (and sweep) them before
  // any mcache allocates again.
  for (MCache* c : mcaches_) c->PrepareForSweep();
  std::lock_guard<CountedMutex> g(lock_);
  prev_peak_in_use_pages_ = peak_in_use_pages_;
  peak_in_use_pages_ = in_use_pages_;
}

void MHeap::SetSweepPacing(size_t bytes_until_trigger) {
  size_t pages;
  {
    std::lock_guard<CountedMutex> g(lock_);
    pages = in_use_pages_;
  }
  // Aim to be done at 80% of the way, so the trigger never finds work.
  const double distance =
      std::max(0.8 * static_cast<double>(bytes_until_trigger), 1.0 * (1 << 20));
  sweep_basis_.store(heap_live_.load(std::memory_order_relaxed),
                     std::memory_order_relaxed);
  sweep_pages_per_byte_.store(pages / distance, std::memory_order_relaxed);
}

void MHeap::DeductSweepCreditSlow(size_t bytes) {
  const double ppb = sweep_pages_per_byte_.load(std::memory_order_relaxed);
  const int64_t grown = heap_live_.load(std::memory_order_relaxed) +
                        static_cast<int64_t>(bytes) -
                        sweep_basis_.load(std::memory_order_relaxed);
  if (grown <= 0) return;
  const uint64_t target = static_cast<uint64_t>(grown * ppb);
  while (pages_swept_.load(std::memory_order_relaxed) < target) {
    if (SweepOne() == 0) {
      sweep_pages_per_byte_.store(0, std::memory_order_relaxed);  // all done
      return;
    }
  }
}

bool MHeap::SweepSpan(MSpan* s, bool preserve, uint32_t sg) {
  GC_DCHECK(s->sweepgen.load() == sg - 1, "sweeping a span we do not own");
  pages_swept_.fetch_add(s->npages, std::memory_order_relaxed);
  GC_DCHECK(s->state.load() == SpanState::kInUse, "sweeping a dead span");
  // The last mark's black range is marked (its mcache returned the span
  // before the flip): no longer needed.
  s->black_from.store(MSpan::kNoBlack, std::memory_order_relaxed);
  if (__builtin_expect(s->gc_side.load(std::memory_order_acquire) != nullptr,
                       0)) {
    // The collector's records of this span's objects: processed before any
    // bit changes, so the span is published swept only after them. The
    // fence orders the claim (h-1) before the hook's writes for a seqlock
    // reader (gc/weak.h).
    std::atomic_thread_fence(std::memory_order_release);
    sweep_hook_->BeforeSweep(s);
  }
  const size_t nelems = s->nelems;
  const size_t nalloc = s->CountMarked();
  GC_CHECK(nalloc <= nelems, "mark count out of range");
  // A small span that survives keeps the invariant "free slots read as
  // zero" (release builds): its dead slots are cleared here, in runs, off
  // the allocation path. Debug builds poison them instead and zero at
  // allocation (needzero), so a use-after-free reads 0xdb...
  const bool span_dies = nalloc == 0 && !preserve;
  const bool clear_slots = !s->is_large() && !span_dies;
  size_t nfreed = 0;
  for (size_t w = 0; w < s->bitmap_words; w++) {
    const size_t lo = w * 64;
    const uint64_t allocated = s->AllocatedWord(w);
    const uint64_t marked =
        __atomic_load_n(&s->gcmark_bits[w], __ATOMIC_RELAXED) & s->SlotMask(w);
    GC_CHECK((marked & ~allocated) == 0, "a free slot is marked");
    uint64_t freed = allocated & ~marked;
    nfreed += __builtin_popcountll(freed);
    if (!clear_slots) continue;
    while (freed != 0) {
      // One memset per run of consecutive dead slots.
      const unsigned first = __builtin_ctzll(freed);
      const uint64_t from_first = freed >> first;
      const unsigned len =
          ~from_first == 0 ? 64 - first : __builtin_ctzll(~from_first);
      memset(reinterpret_cast<void*>(s->start + (lo + first) * s->elemsize),
             kDebugBuild ? kFreePoison : 0, len * s->elemsize);
      freed = len + first >= 64 ? 0 : freed & (~uint64_t{0} << (first + len));
    }
  }
  if (kDebugBuild && nfreed > 0) s->needzero = true;
  // allocBits <- gcmarkBits; gcmarkBits <- zero. The old allocBits block
  // is cleared only once allocBits no longer names it, and published as
  // gcmarkBits (release) only once cleared; the old gcmarkBits block is not
  // written: a weak read that loaded either gcmarkBits pointer reads this
  // cycle's marks or zeros it can detect (mspan.h). The stores are atomic:
  // an object query (QueryObject) may read the bits while the span is
  // swept; it retries when the span's sweepgen moved under it.
  uint64_t* const old_alloc = s->alloc_bits;
  __atomic_store_n(&s->alloc_bits, s->gcmark_bits, __ATOMIC_RELEASE);
  for (size_t w = 0; w < s->bitmap_words; w++) {
    __atomic_store_n(&old_alloc[w], 0, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&s->gcmark_bits, old_alloc, __ATOMIC_RELEASE);
  s->alloc_count = static_cast<uint16_t>(nalloc);
  s->set_freeindex(0);
  const int sizeclass = SizeClassOf(s->spanclass);
  // heap_live is not changed here: the collector set it to the marked bytes
  // at mark termination, which already excludes what this sweep frees.
  if (s->is_large()) {
    if (nfreed) large_nfree_.fetch_add(1, std::memory_order_relaxed);
  } else if (nfreed) {
    nfree_[sizeclass].fetch_add(nfreed, std::memory_order_relaxed);
  }
  if (preserve) {
    // The caller (mcentral.cacheSpan) keeps the span and sets its sweepgen.
    return false;
  }
  if (nalloc == 0) {
    s->sweepgen.store(sg, std::memory_order_release);
    if (!s->is_large()) {
      // No live object: the span stays whole on its class's empty set, for
      // the class's next refill, so neither this sweep nor that refill
      // takes the heap lock (ReleaseEmptySpans returns the ones left).
      KeepEmpty(s, sg);
      return true;
    }
    // The pages are free; returning them to the OS is the scavenger's job,
    // outside every sweep locker and pause (the background sweeper runs it
    // after each round).
    FreeSpan(s);
    return true;
  }
  s->sweepgen.store(sg, std::memory_order_release);
  MCentral& c = central_[s->spanclass];
  if (nalloc == nelems) {
    c.FullSwept(sg).Push(s);
  } else {
    c.PartialSwept(sg).Push(s);
  }
  return false;
}

size_t MHeap::SweepOne() {
  SweepLocker locker(this);
  const uint32_t sg = locker.sweepgen();
  for (size_t i = sweep_cursor_.load(std::memory_order_acquire);
       i < kNumSpanClasses;) {
    MCentral& c = central_[i];
    MSpan* s = c.FullUnswept(sg).Pop();
    if (s == nullptr) s = c.PartialUnswept(sg).Pop();
    if (s == nullptr) {
      // This class is done; move the shared cursor forward (monotonic).
      size_t cur = i;
      sweep_cursor_.compare_exchange_strong(cur, i + 1,
                                            std::memory_order_acq_rel);
      i = std::max(i + 1, sweep_cursor_.load(std::memory_order_acquire));
      continue;
    }
    ClaimForSweep(s, sg);
    size_t npages = s->npages;
    SweepSpan(s, /*preserve=*/false, sg);
    return npages;
  }
  return 0;
}

bool MHeap::SweepDone() const {
  // All unswept sets were drained. A span being swept right now is covered
  // by its sweeper's locker, which StartSweepCycle waits for.
  return sweep_cursor_.load(std::memory_order_acquire) >= kNumSpanClasses;
}

void MHeap::FinishSweep(bool scavenge) {
  // The cycle this call sweeps. Its caller may not be stopped by a pause
  // (a gc_collect sweeping while counted as blocked): a flip may begin the
  // next cycle meanwhile, which this call must not publish as swept.
  const uint32_t sg = sweepgen();
  while (SweepOne() != 0) {
  }
  // Wait for sweeps that other threads claimed before the sets ran dry
  // (they hold lockers). Marking must not start while one is in flight.
  // The caller must not hold a locker itself.
  while ((sweep_state_.load(std::memory_order_acquire) & 0xffffffffu) != 0) {
    std::this_thread::yield();
  }
  // No locker was held, so no sweep of cycle sg is in flight: it is fully
  // swept unless a flip began another since.
  {
    std::lock_guard<std::mutex> flip(flip_mu_);
    if (sweepgen() == sg) {
      if (publish_swept_hook_) publish_swept_hook_();
      swept_gen_.store(sg, std::memory_order_release);
    }
  }
  if (!scavenge) return;  // inside a pause: no heap-lock work
  // A finished sweep leaves no empty span behind (the statistics are
  // exact), and the scavenger sees their pages.
  ReleaseEmptySpans(/*only_old=*/false);
  if (opts_.auto_scavenge) ScavengeToGoal();
}

bool MHeap::NoteFullySwept() {
  // Under flip_mu_, the cursor and sweepgen read below belong to one sweep
  // cycle (the caller, the background sweeper, is not stopped by the
  // flip's pause).
  std::lock_guard<std::mutex> flip(flip_mu_);
  if (!SweepDone()) return false;
  const uint64_t state = sweep_state_.load(std::memory_order_acquire);
  // A sweep in flight holds a locker; with none held and every unswept set
  // drained, every span of this sweep cycle has been swept and published.
  if ((state & 0xffffffffu) != 0) return false;
  if (publish_swept_hook_) publish_swept_hook_();
  swept_gen_.store(static_cast<uint32_t>(state >> 32),
                   std::memory_order_release);
  return true;
}

// ---- scavenger --------------------------------------------------------------

size_t MHeap::RetentionGoal() const {
  void (*const hook)(bool) =
      retention_goal_hook_.load(std::memory_order_acquire);
  if (hook != nullptr) hook(false);
  std::lock_guard<CountedMutex> g(lock_);
  if (hook != nullptr) hook(true);
  const size_t peak = std::max(peak_in_use_pages_, prev_peak_in_use_pages_);
  const size_t target =
      static_cast<size_t>(peak * kPageSize * (1.0 + opts_.retain_fraction));
  const size_t in_use = in_use_pages_ * kPageSize;
  const size_t expanded =
      expanded_bytes_ > in_use ? expanded_bytes_ - in_use : 0;
  return std::max({opts_.retain_min_bytes,
                   target > in_use ? target - in_use : 0, expanded});
}

size_t MHeap::Scavenge(size_t bytes) {
  GC_DCHECK(t_sweep_lockers == 0,
            "scavenging while holding a sweep locker (a pause waits for it)");
  size_t released = 0;
  // One pass from the top of the heap down: each run is taken below the
  // previous one, so a run the OS refused to release is not retried in
  // this pass.
  uintptr_t below = UINTPTR_MAX;
  while (released < bytes) {
    // One chunk per hold of scavenge_mu_, so a pause (which holds it) waits
    // for one system call at most before it begins, and never inside.
    std::lock_guard<std::mutex> sg(scavenge_mu_);
    // Pages still wanted, rounded up (bytes may be SIZE_MAX: no overflow).
    size_t want =
        std::min(kScavengeChunkPages, (bytes - released - 1) / kPageSize + 1);
    size_t n;
    PageAlloc::Run run;
    {
      std::lock_guard<CountedMutex> g(lock_);
      run = pages_.TakeScavengeRun(want, &n, below);
    }
    if (n == 0) break;
    below = run.base;
    // The run is out of the free set: nobody can allocate it while the
    // system call runs without the lock.
    if (scavenge_hook_) scavenge_hook_(true);
    const bool ok =
        SysRelease(reinterpret_cast<void*>(run.base), n * kPageSize);
    if (scavenge_hook_) scavenge_hook_(false);
    {
      std::lock_guard<CountedMutex> g(lock_);
      if (ok) {
        pages_.ReturnScavenged(run.base, n);
      } else {
        // Locked pages (mlock, mlockall): still resident and still holding
        // their old contents. Marking them clean would hand them out
        // unzeroed.
        pages_.ReturnUnreleased(run.base, n);
      }
    }
    if (ok) {
      released += n * kPageSize;
    } else {
      release_failures_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  scavenged_total_.fetch_add(released, std::memory_order_relaxed);
  if (released != 0 && event_sink_ != nullptr && event_sink_->active()) {
    size_t now_released;
    {
      std::lock_guard<CountedMutex> g(lock_);
      now_released = pages_.released_bytes();
    }
    event_sink_->MemoryReleased(released, now_released);
  }
  return released;
}

void MHeap::SetScavengeHookForTesting(std::function<void(bool)> hook) {
  std::lock_guard<std::mutex> g(scavenge_mu_);
  scavenge_hook_ = std::move(hook);
}

void MHeap::SetPublishSweptHookForTesting(std::function<void()> hook) {
  publish_swept_hook_ = std::move(hook);
}

void MHeap::SetRetentionForTesting(size_t min_bytes, double fraction) {
  std::lock_guard<CountedMutex> g(lock_);
  opts_.retain_min_bytes = min_bytes;
  opts_.retain_fraction = fraction;
}

size_t MHeap::ScavengeToGoal() {
  size_t goal = RetentionGoal();
  size_t retained;
  {
    std::lock_guard<CountedMutex> g(lock_);
    retained = pages_.retained_free_bytes();
  }
  if (retained <= goal) return 0;
  return Scavenge(retained - goal);
}

// ---- statistics -------------------------------------------------------------

HeapStats MHeap::ReadStats() const {
  HeapStats st;
  {
    std::lock_guard<CountedMutex> g(lock_);
    st.reserved_bytes = pages_.reserved_bytes();
    st.mapped_bytes = pages_.mapped_bytes();
    st.released_bytes = pages_.released_bytes();
    st.free_bytes = pages_.free_bytes();
    st.in_use_bytes = in_use_pages_ * kPageSize;
    st.arenas = pages_.arena_count();
    st.meta_bytes =
        pages_.arena_count() * sizeof(HeapArena) + span_alloc_.sys_bytes();
    for (const FixAlloc& f : bits_alloc_) st.meta_bytes += f.sys_bytes();
    for (const FixAlloc& f : types_alloc_) st.meta_bytes += f.sys_bytes();
  }
  st.heap_live_bytes = static_cast<size_t>(
      std::max<int64_t>(0, heap_live_.load(std::memory_order_relaxed)));
  for (int c = 1; c < kNumSizeClasses; c++) {
    st.by_class[c].nmalloc = nmalloc_[c].load(std::memory_order_relaxed);
    st.by_class[c].nfree = nfree_[c].load(std::memory_order_relaxed);
    st.nmalloc += st.by_class[c].nmalloc;
    st.nfree += st.by_class[c].nfree;
  }
  st.large_nmalloc = large_nmalloc_.load(std::memory_order_relaxed);
  st.large_nfree = large_nfree_.load(std::memory_order_relaxed);
  st.large_bytes_total = large_bytes_.load(std::memory_order_relaxed);
  st.by_class[0].nmalloc = st.large_nmalloc;
  st.by_class[0].nfree = st.large_nfree;
  st.nmalloc += st.large_nmalloc;
  st.nfree += st.large_nfree;
  st.tiny_allocs = tiny_allocs_.load(std::memory_order_relaxed);
  st.scavenged_bytes_total = scavenged_total_.load(std::memory_order_relaxed);
  st.release_failures = release_failures_.load(std::memory_order_relaxed);
  return st;
}

HeapCounters MHeap::ReadCounters() const {
  HeapCounters c;
  c.spanset_ops = counts_.Read(kEventSpanSetOps);
  c.spanset_retries = counts_.Read(kEventSpanSetRetries);
  c.heap_locks = lock_.acquires();
  c.heap_lock_waits = lock_.waits();
  c.sweep_lockers = counts_.Read(kEventSweepLockers);
  c.refills = counts_.Read(kEventRefills);
  c.refills_heap_lock = counts_.Read(kEventRefillsHeapLock);
  c.refills_empty_span = counts_.Read(kEventRefillsEmptySpan);
  c.heap_live_updates = counts_.Read(kEventHeapLiveUpdates);
  c.large_allocs = counts_.Read(kEventLargeAllocs);
  return c;
}

uint64_t MHeap::AllocatedBytes() const {
  uint64_t bytes = large_bytes_.load(std::memory_order_relaxed);
  for (int c = 1; c < kNumSizeClasses; c++) {
    bytes += nmalloc_[c].load(std::memory_order_relaxed) * kClassToSize[c];
  }
  return bytes;
}

uint64_t MHeap::AllocatedObjects() const {
  uint64_t n = large_nmalloc_.load(std::memory_order_relaxed);
  for (int c = 1; c < kNumSizeClasses; c++) {
    n += nmalloc_[c].load(std::memory_order_relaxed);
  }
  return n;
}

void MHeap::VerifyPages() {
  std::lock_guard<CountedMutex> g(lock_);
  pages_.Verify();
}

}  // namespace gcheap
