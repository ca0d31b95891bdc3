// mcache.h: the per-thread allocation cache and the allocation fast paths.
//
// Each attached mutator thread owns one MCache (Go keeps one per P). It
// holds one span per span class (alloc[136]) and a tiny block; only its
// owner touches it, so the fast paths take no locks and make no calls:
//
//   tiny   (noscan, size < 16 B): bump inside the current 16-byte block,
//          aligned to the request's natural alignment; a new block comes
//          from the 16-byte noscan class.
//   small  (size <= 32 KiB): size -> size class by table lookup, then the
//          cached span's allocCache: count-trailing-zeros finds the next
//          free slot. When the cache word is exhausted or the span is full,
//          the out-of-line slow path refills from the mcentral.
//   large  (> 32 KiB): straight to mheap (a span per object).
//
// Memory returned is zeroed. Invariant (release builds): every free slot of
// a small span reads as zero: fresh pages are zero, reused pages are cleared
// when a span is made of them, and dead slots are cleared when their span
// is swept. So the fast path never clears memory. Debug builds poison dead
// slots (0xdb) at sweep and clear them at allocation instead (needzero).
//
// Size 0 is treated as 1 byte, so every request gets a distinct object.
// Sizes above kMaxAllocBytes fail with a size-overflow reason.
//
// Flushing and the sweepgen flip (Go's mcache.flushGen / prepareForSweep).
// A span cached before a flip (MHeap::StartSweepCycle) is stale afterwards
// (sweepgen h+1): its mark bits are the finished cycle's, so an object the
// fast path allocated from it after the flip would be unmarked and freed
// when the span is swept, while live. The fast path cannot check for that,
// so the flip itself prepares every mcache of the heap: flush_gen_ records
// the sweepgen at which the mcache was last flushed (ReleaseAll), and the
// flip calls PrepareForSweep on each, which returns its spans (sweeping the
// stale ones) unless it was already flushed at the new sweepgen. The flip
// first checks that every mcache was prepared for the cycle that is ending
// (Go's "p mcache not flushed"), and every refill checks that its mcache
// was prepared since the last flip (GC_CHECK) and, in debug builds, that
// the span it returns was cached in this cycle (Go's "bad sweepgen in
// refill"). So the flip requires every mcache's owner to be stopped, as
// the collector's pauses guarantee.
//
// Invariants: flush_gen_ == h while the owner allocates; alloc[spc] is
// empty_mspan or a span with sweepgen h+3 whose span class is spc; tiny !=
// 0 implies tiny .. tiny+16 is a live 16-byte block of this cache's tiny
// span class; ncached_ counts the alloc[] entries that are not empty_mspan.
#ifndef GCHEAP_HEAP_MCACHE_H_
#define GCHEAP_HEAP_MCACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "heap/mheap.h"
#include "heap/mspan.h"

namespace gcheap {

class MCache {
 public:
  explicit MCache(MHeap* heap);
  ~MCache();
  MCache(const MCache&) = delete;
  MCache& operator=(const MCache&) = delete;

  // Allocates `size` zeroed bytes; noscan objects hold no heap pointers.
  // nullptr with LastError() set on failure.
  GC_ALWAYS_INLINE void* Alloc(size_t size, bool noscan) {
    if (GC_LIKELY(size <= kMaxSmallSize)) {
      if (noscan && size < kTinySize) {
        void* p = TinyFast(size);
        if (GC_LIKELY(p != nullptr)) return p;
        return AllocTinySlow(size);
      }
      SpanClass spc = MakeSpanClass(SizeToClass(size ? size : 1), noscan);
      MSpan* s = alloc_[spc];
      uintptr_t v = NextFreeFast(s);
      if (GC_UNLIKELY(v == 0)) return AllocSmallSlow(spc, size);
      // Release builds keep free slots of small spans zeroed (cleared when
      // swept or when the span is made), so this is never taken there;
      // debug builds poison freed slots and clear them here.
      if (kDebugBuild && s->needzero) {
        memset(reinterpret_cast<void*>(v), 0, s->elemsize);
      }
      return reinterpret_cast<void*>(v);
    }
    return heap_->AllocLarge(size, noscan);
  }

  // Allocates a scan object of `size` zeroed bytes and records `type` (an
  // opaque 16-bit tag, the collector's type id) in its span's slot table.
  GC_ALWAYS_INLINE void* AllocTyped(size_t size, uint16_t type) {
    if (GC_LIKELY(size <= kMaxSmallSize)) {
      SpanClass spc = MakeSpanClass(SizeToClass(size ? size : 1), false);
      MSpan* s = alloc_[spc];
      uintptr_t v = NextFreeFast(s);
      if (GC_UNLIKELY(v == 0)) return AllocTypedSlow(spc, type);
      s->SetObjType(s->freeindex - 1, type);
      if (kDebugBuild && s->needzero) {
        memset(reinterpret_cast<void*>(v), 0, s->elemsize);
      }
      return reinterpret_cast<void*>(v);
    }
    return heap_->AllocLarge(size, false, type);
  }

  // Returns every cached span to its mcentral and drops the tiny block
  // (Go's releaseAll); the mcache stays usable. Records the sweepgen as the
  // mcache's flush generation.
  void ReleaseAll();
  // Go's prepareForSweep: after a sweepgen flip, returns the spans cached
  // before it (ReleaseAll); a no-op if the mcache was flushed at the
  // current sweepgen. MHeap::StartSweepCycle calls it for every mcache.
  void PrepareForSweep();
  // The sweepgen at which the mcache was last flushed.
  uint32_t flush_gen() const {
    return flush_gen_.load(std::memory_order_relaxed);
  }

  MHeap* heap() const { return heap_; }
  // After every refill from an mcentral, OR `bit` into *word (the runtime
  // uses it to check the GC trigger at the next safepoint, keeping the
  // check off the fast path).
  void set_refill_notify(std::atomic<uint32_t>* word, uint32_t bit) {
    refill_word_ = word;
    refill_bit_ = bit;
  }
  MSpan* cached_span(SpanClass spc) const { return alloc_[spc]; }
  // The cached span that the object just allocated at p (with the size and
  // noscan given to Alloc/AllocTyped) came from, or nullptr when it is not
  // a cached span's (a large object; a tiny block whose span was replaced).
  MSpan* CachedSpanFor(uintptr_t p, size_t size, bool noscan) const {
    if (size > kMaxSmallSize) return nullptr;
    if (noscan && size < kTinySize) size = kTinySize;
    MSpan* s = alloc_[MakeSpanClass(SizeToClass(size ? size : 1), noscan)];
    return (p >= s->start && p < s->limit) ? s : nullptr;
  }

 private:
  // Go's nextFreeFast: the next free slot from the span's allocCache, or 0
  // when the cache word is used up (the slow path reloads it).
  GC_ALWAYS_INLINE static uintptr_t NextFreeFast(MSpan* s) {
    uint64_t cache = s->alloc_cache;
    if (cache == 0) return 0;
    unsigned bit = __builtin_ctzll(cache);
    size_t result = s->freeindex + bit;
    if (result >= s->nelems) return 0;
    size_t freeidx = result + 1;
    if (freeidx % 64 == 0 && freeidx != s->nelems) return 0;
    s->alloc_cache = (cache >> bit) >> 1;
    s->set_freeindex(freeidx);
    s->alloc_count++;
    return s->start + result * s->elemsize;
  }

  GC_ALWAYS_INLINE void* TinyFast(size_t size) {
    uintptr_t off = tiny_offset_;
    if ((size & 7) == 0) {
      off = AlignUp(off, 8);
    } else if ((size & 3) == 0) {
      off = AlignUp(off, 4);
    } else if ((size & 1) == 0) {
      off = AlignUp(off, 2);
    }
    if (size == 0) size = 1;
    if (off + size <= kTinySize && tiny_ != 0) {
      tiny_offset_ = off + size;
      tiny_allocs_++;
      return reinterpret_cast<void*>(tiny_ + off);
    }
    return nullptr;
  }

  GC_NOINLINE void* AllocTinySlow(size_t size);
  GC_NOINLINE void* AllocSmallSlow(SpanClass spc, size_t size);
  GC_NOINLINE void* AllocTypedSlow(SpanClass spc, uint16_t type);
  // Slow path of a small allocation: the next free slot of the cached span,
  // refilling from the mcentral when it is full. 0 on failure.
  uintptr_t NextFree(SpanClass spc);
  bool Refill(SpanClass spc);
  // Returns a span to its mcentral, giving back its unused slots' counts.
  void Uncache(MSpan* s);

  MSpan* alloc_[kNumSpanClasses];
  int ncached_ = 0;  // entries of alloc_ that are not empty_mspan
  // Written by the owner (ReleaseAll) and by the flip with the owner
  // stopped; read by the flip's check.
  std::atomic<uint32_t> flush_gen_;
  uintptr_t tiny_ = 0;
  uintptr_t tiny_offset_ = 0;
  uint64_t tiny_allocs_ = 0;
  int64_t alloc_counts_[kNumSizeClasses] = {};  // objects, unflushed
  std::atomic<uint32_t>* refill_word_ = nullptr;
  uint32_t refill_bit_ = 0;
  MHeap* heap_;
};

}  // namespace gcheap

#endif  // GCHEAP_HEAP_MCACHE_H_
