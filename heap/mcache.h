// mcache.h: the per-thread allocation cache and the allocation fast paths.
//
// Each attached mutator thread owns one MCache (Go keeps one per P). It
// holds one span per span class (alloc[136]) and a tiny block; only its
// owner touches it, so the fast paths take no locks and make no calls:
//
//   tiny   (noscan, size < 16 B): bump inside the current 16-byte block,
//          aligned to the request's natural alignment; a new block comes
//          from the 16-byte noscan class.
//   small  (size <= 32 KiB): size -> size class by table lookup, then a
//          bump of the class's allocation window (below). When the window
//          is used up, the out-of-line slow path opens the next one, from
//          the cached span or from a span refilled from the mcentral.
//   large  (> 32 KiB): straight to mheap (a span per object).
//
// Allocation windows. For each span class the mcache keeps an open window:
// a run of consecutive free slots of its cached span, [next, end), with the
// slot size and, for scan spans, what the span's type tags are
// (heap/mspan.h, "Type tags"): a mono span's type (mono), or a mixed
// span's pointer to the tag of the slot at next (types). Allocating is
// `p = next`; for scan classes, nothing more when the type is the window's
// mono type, `*types++ = type` (a relaxed atomic store) when the window has
// a tag pointer, and otherwise the slow path, which makes the span mixed
// (MakeMixed) first; then `next = p + size` (a release store: object queries
// read it). The window's layout is part of the C ABI (gc_alloc_window_ in
// runtime/gc.h, which inlines the same fast path); runtime/ checks that the
// two agree. A fresh span is one window; a swept one has a window per run of
// free slots (MSpan::NextFreeRun). Opening a window in a scan span with no
// allocated slot and no tag array makes it mono with the type being
// allocated (the claim of heap/mspan.h).
//
// Syncing. The fast path writes nothing to the span. The slots a window
// handed out become allocated in the span (freeindex, allocCount) when the
// mcache syncs the span: when the window closes (the slow path opens the
// next one), when the span is uncached, and at the start of every mark
// (StartMark, with the world stopped). So whenever a mark begins, every
// span's allocation state is exact, and during a mark an object allocated
// since reads as free to the marker (which then skips it: it is allocated
// black, below).
//
// Allocate black (Go's gcmarknewobject, in bulk). While a concurrent mark
// runs, objects allocated are live for the cycle. The slots below a span's
// freeindex are exactly its allocated slots, so the objects this mcache
// allocated from a span since `black_from` (its freeindex when the mark
// began or when the span was cached during the mark) are the bits of
// [black_from, freeindex) not in allocBits. They are marked with one atomic
// OR per bitmap word when the span is uncached (the world runs) and, for
// spans still cached, when the collector flushes the mcaches in the final
// pause (ReleaseAll); the bits this OR set, times the slot size, are the
// black counts the collector adds to the marked totals. A marker that
// reaches such an object earlier (after a sync) marks and scans it as any
// other; the OR then finds the bit set and counts nothing. Until the OR, a
// span's black range is also recorded in the span (MSpan::black_from), so
// that MSpan::IsMarkedOrBlack reads such an object as live. The tiny block
// in use when the mark begins is marked by the first tiny allocation into
// it during the mark (a new tiny object may be its only reference), and
// large objects are marked as they are allocated. Objects allocated black are
// never scanned: they start with no pointers and every pointer stored into them
// goes through the barrier.
//
// Memory returned is zeroed. Invariant (release builds): every free slot of
// a small span reads as zero: fresh pages are zero, reused pages are cleared
// when a span is made of them, and dead slots are cleared when their span
// is swept. So the fast path never clears memory. Debug builds poison dead
// slots (0xdb) at sweep and clear a window's slots when they open it
// (needzero).
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
// empty_mspan (and its window closed: next == end) or a span with sweepgen
// h+3 whose span class is spc, and its window lies inside the span's
// slots, at or after its freeindex, over free slots, and, for a scan spc,
// either types == &obj_types[slot of next] and mono == kNoMono (a mixed
// span) or types == null and mono == the span's mono_type (a mono one;
// noscan windows: types null, mono kNoMono); window_start_[spc]
// <= next is where the slots not yet synced begin; tiny != 0 implies
// tiny .. tiny+16 is a live 16-byte block of this cache's tiny span class
// (so does tiny_unmarked_, and then tiny == 0);
// ncached_ counts the alloc[] entries that are not empty_mspan.
#ifndef GCHEAP_HEAP_MCACHE_H_
#define GCHEAP_HEAP_MCACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "heap/mheap.h"
#include "heap/mspan.h"

namespace gcheap {

// An allocation window (above). Layout shared with gc_alloc_window_
// (runtime/gc.h).
struct AllocWindow {
  // Never equal to a 16-bit type: the window of a mixed or noscan span.
  static constexpr uint32_t kNoMono = 0xffffffff;
  uintptr_t next = 0;  // the next free slot
  uintptr_t end = 0;   // the end of the run: open while next < end
  // A mixed scan span: the type tag of the slot at next; else null.
  uint16_t* types = nullptr;
  uint32_t elemsize = 0;  // slot size
  // A mono scan span: its type (MSpan::mono_type); else kNoMono.
  uint32_t mono = kNoMono;

  // Every write of next is a release store (an ordinary store on x86),
  // after the type tag of the slot it passes: object queries on other
  // threads read it (MSpan::AllocatedPrefix). Only the owner writes it.
  GC_ALWAYS_INLINE void set_next(uintptr_t v) {
    __atomic_store_n(&next, v, __ATOMIC_RELEASE);
  }
  // Hands out slot p (next, below end) to an object of `type`: nothing to
  // record when type is the window's mono type; the tag of the slot at
  // next when the window has a tag pointer (a relaxed atomic store, an
  // ordinary one: a query that read the slot's old tag may still be running
  // when the slot is reused); then next moves on. False, with nothing
  // written, when the span is mono of another type (the slow path makes it
  // mixed). gc_alloc_window_take_ (runtime/gc.h) is the same for C.
  GC_ALWAYS_INLINE bool TakeTyped(uintptr_t p, uint16_t type) {
    if (type != mono) {
      uint16_t* const t = types;
      if (t == nullptr) return false;
      __atomic_store_n(t, type, __ATOMIC_RELAXED);
      types = t + 1;
    }
    set_next(p + elemsize);
    return true;
  }
};

class MCache {
 public:
  explicit MCache(MHeap* heap);
  ~MCache();
  MCache(const MCache&) = delete;
  MCache& operator=(const MCache&) = delete;

  // Allocates `size` zeroed bytes; noscan objects hold no heap pointers.
  // A scan object (noscan false) gets type tag 0 (AllocTyped(size, 0)).
  // nullptr with LastError() set on failure.
  GC_ALWAYS_INLINE void* Alloc(size_t size, bool noscan) {
    if (!noscan) return AllocTyped(size, 0);
    if (GC_LIKELY(size <= kMaxSmallSize)) {
      if (size < kTinySize) {
        void* p = TinyFast(size);
        if (GC_LIKELY(p != nullptr)) return p;
        return AllocTinySlow(size);
      }
      const SpanClass spc = MakeSpanClass(SizeToClass(size), true);
      AllocWindow& w = windows_[spc];
      const uintptr_t p = w.next;
      if (GC_UNLIKELY(p >= w.end)) return AllocSmallSlow(spc, 0);
      w.set_next(p + w.elemsize);
      return reinterpret_cast<void*>(p);
    }
    return AllocLarge(size, true, 0);
  }

  // Allocates a scan object of `size` zeroed bytes and records `type` (an
  // opaque 16-bit tag, the collector's type id) as its type tag (its
  // span's mono type, or its slot's tag in a mixed span).
  GC_ALWAYS_INLINE void* AllocTyped(size_t size, uint16_t type) {
    if (GC_LIKELY(size <= kMaxSmallSize)) {
      const SpanClass spc = MakeSpanClass(SizeToClass(size ? size : 1), false);
      AllocWindow& w = windows_[spc];
      const uintptr_t p = w.next;
      if (GC_LIKELY(p < w.end) && GC_LIKELY(w.TakeTyped(p, type))) {
        return reinterpret_cast<void*>(p);
      }
      return AllocSmallSlow(spc, type);
    }
    return AllocLarge(size, false, type);
  }

  // Returns every cached span to its mcentral and drops the tiny block
  // (Go's releaseAll); the mcache stays usable. Records the sweepgen as the
  // mcache's flush generation. During a mark (allocate black) it first
  // marks what the spans handed out since the mark began.
  void ReleaseAll();
  // Go's prepareForSweep: after a sweepgen flip, returns the spans cached
  // before it (ReleaseAll); a no-op if the mcache was flushed at the
  // current sweepgen. MHeap::StartSweepCycle calls it for every mcache.
  void PrepareForSweep();
  // The sweepgen at which the mcache was last flushed.
  uint32_t flush_gen() const {
    return flush_gen_.load(std::memory_order_relaxed);
  }

  // ---- the collector's side (the owner stopped, or the owner itself) ------
  // A mark begins: syncs every cached span (so its allocation state is
  // exact), and with allocate_black records where each span's black
  // objects will begin, marks the current tiny block, and from now on
  // marks in bulk what it allocates (above). Forgets the allocated bytes
  // counted so far (TakeAllocatedBytes).
  void StartMark(bool allocate_black);
  // Syncs every cached span and changes nothing else: what allocation
  // windows handed out reads as allocated (object queries, heap walks).
  void SyncAll();
  // The mark ended (after the final ReleaseAll): stop allocating black.
  void StopAllocateBlack() { allocate_black_ = false; }
  bool allocate_black() const { return allocate_black_; }
  // Objects and bytes this mcache marked black since the last call.
  struct BlackCounts {
    uint64_t objects = 0;
    uint64_t bytes = 0;
  };
  BlackCounts TakeBlackCounts() {
    BlackCounts b = black_;
    black_ = {};
    return b;
  }
  // Bytes of free slots this mcache took at refills and of large objects
  // since the last call (or StartMark): what mark assists charge for.
  uint64_t TakeAllocatedBytes() {
    const uint64_t b = allocated_bytes_;
    allocated_bytes_ = 0;
    return b;
  }

  MHeap* heap() const { return heap_; }
  // After every refill from an mcentral, OR `bit` into *word (the runtime
  // uses it to check the GC trigger and charge assists at the next
  // safepoint, keeping the check off the fast path).
  void set_refill_notify(std::atomic<uint32_t>* word, uint32_t bit) {
    refill_word_ = word;
    refill_bit_ = bit;
  }
  MSpan* cached_span(SpanClass spc) const { return alloc_[spc]; }
  // The windows, indexed by span class (the C fast path's alloc_windows).
  AllocWindow* windows() { return windows_; }

 private:
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
  // The window of spc is used up, or (scan classes) its span is mono of
  // another type than `type`: open the next window (refilling the span if
  // it is full), make the span mixed if its type differs, and allocate,
  // recording `type` for scan classes.
  GC_NOINLINE void* AllocSmallSlow(SpanClass spc, uint16_t type);
  GC_NOINLINE void* AllocLarge(size_t size, bool noscan, uint16_t type);
  // Opens the next window of spc; false when no span could be had. A scan
  // span with no allocated slot and no tag array becomes mono of `type`.
  bool NextWindow(SpanClass spc, uint16_t type);
  // Gives the mono span cached for scan class spc a tag array (every tag
  // its mono type) and moves its open window onto it; false, with
  // LastError() set, when the memory could not be had.
  bool MakeMixed(SpanClass spc);
  // Makes the slots the window of spc handed out allocated in its span.
  void Sync(SpanClass spc);
  bool Refill(SpanClass spc);
  // Returns a span to its mcentral (the span is synced and its window
  // closed) under the caller's sweep locker with sweepgen sg, and gives
  // back its unused slots' counts: returns the bytes the caller takes off
  // heap_live.
  int64_t Uncache(MSpan* s, uint32_t sg);
  // Marks the objects allocated from s since black_from (allocate black).
  void MarkAllocatedBlack(MSpan* s, size_t black_from);

  AllocWindow windows_[kNumSpanClasses];
  MSpan* alloc_[kNumSpanClasses];
  uintptr_t window_start_[kNumSpanClasses] = {};  // first slot not synced
  uint16_t black_from_[kNumSpanClasses] = {};     // while allocating black
  int ncached_ = 0;  // entries of alloc_ that are not empty_mspan
  bool allocate_black_ = false;
  BlackCounts black_;
  uint64_t allocated_bytes_ = 0;
  // Written by the owner (ReleaseAll) and by the flip with the owner
  // stopped; read by the flip's check.
  std::atomic<uint32_t> flush_gen_;
  uintptr_t tiny_ = 0;
  // The tiny block in use when a mark began, until the first tiny
  // allocation of the mark marks it (StartMark; tiny_ is 0 meanwhile).
  uintptr_t tiny_unmarked_ = 0;
  uintptr_t tiny_offset_ = 0;
  uint64_t tiny_allocs_ = 0;
  int64_t alloc_counts_[kNumSizeClasses] = {};  // objects, unflushed
  std::atomic<uint32_t>* refill_word_ = nullptr;
  uint32_t refill_bit_ = 0;
  MHeap* heap_;
};

}  // namespace gcheap

#endif  // GCHEAP_HEAP_MCACHE_H_
