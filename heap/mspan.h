// mspan.h: mspan, a run of pages holding objects of one span class.
//
// A span is npages contiguous pages starting at `start`. A small-object span
// is cut into nelems slots of elemsize bytes (its size class); a large-object
// span (size class 0) holds one object.
//
// Allocation state:
//   allocBits   bit i set = slot i was allocated as of the last sweep.
//   freeindex   slots below freeindex are allocated; the allocator scans
//               upward from it for the next clear bit of allocBits.
//   allocCache  the inverted 64-bit window of allocBits that starts at the
//               64-aligned word holding freeindex, shifted so bit 0 is
//               freeindex: count-trailing-zeros finds the next free slot.
//   allocCount  number of allocated slots.
// Marking: gcmarkBits has one bit per slot, set by the collector (atomic OR).
// Sweeping swaps them: allocBits <- gcmarkBits, gcmarkBits <- zero.
//
// sweepgen (h = mheap's sweepgen, advanced by 2 each GC cycle):
//   h-2  the span needs sweeping          h-1  it is being swept
//   h    it is swept and ready to use     h+1  it was cached by an mcache
//   before this sweep began (needs sweeping when uncached)
//   h+3  it was swept and then cached (still cached)
//
// Span class = size class << 1 | noscan. Noscan spans hold only pointer-free
// objects and are never scanned by the collector.
//
// gc_side: the collector's per-span side record (gc/specials.h: which slots
// have weak handles or cleanups, which are waited for this cycle, which
// were revived), or null. The heap never reads what it points to: SweepSpan
// hands a span that has one to the sweep hook (MHeap::SetSweepHook) before
// it changes the span's bits, and a span is never freed with one.
//
// A weak read may look at an unswept span's mark bits while a sweeper
// claims it (gc/weak.h, a seqlock on sweepgen): so SweepSpan clears the old
// allocBits block before it publishes it as the new gcmarkBits (a release
// store), and never writes the old gcmarkBits block.
//
// Invariants (debug-checked): allocCount <= nelems; freeindex <= nelems;
// every slot below freeindex is allocated; a span is on at most one span set
// or in at most one mcache.
#ifndef GCHEAP_HEAP_MSPAN_H_
#define GCHEAP_HEAP_MSPAN_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "heap/base.h"

namespace gcheap {

// Span class: size class << 1 | noscan.
using SpanClass = uint8_t;
inline constexpr SpanClass MakeSpanClass(int sizeclass, bool noscan) {
  return static_cast<SpanClass>((sizeclass << 1) | (noscan ? 1 : 0));
}
inline constexpr int SizeClassOf(SpanClass spc) { return spc >> 1; }
inline constexpr bool NoScan(SpanClass spc) { return spc & 1; }
inline constexpr SpanClass kTinySpanClass = MakeSpanClass(2, true);  // 16 B
static_assert(kClassToSize[2] == kTinySize, "tiny blocks use class 2");

enum class SpanState : uint8_t { kDead = 0, kInUse = 1 };

struct MSpan {
  // Identity, fixed while the span is in use.
  uintptr_t start = 0;
  uintptr_t limit = 0;  // start + nelems * elemsize
  size_t npages = 0;
  uintptr_t elemsize = 0;
  uint32_t div_magic = 0;  // (offset * div_magic) >> 32 == offset / elemsize
  uint16_t nelems = 0;
  SpanClass spanclass = 0;
  std::atomic<SpanState> state{SpanState::kDead};

  // Allocation state, owned by whoever holds the span (an mcache, a
  // sweeper, or the mcentral's lock).
  uint16_t freeindex = 0;
  uint16_t alloc_count = 0;
  bool needzero = false;
  uint64_t alloc_cache = 0;
  uint64_t* alloc_bits = nullptr;
  uint64_t* gcmark_bits = nullptr;
  uint32_t bitmap_words = 0;  // words in each of alloc_bits / gcmark_bits
  // Scan spans only: one 16-bit tag per slot, written at allocation. The
  // heap stores it without interpreting it; the collector keeps an object's
  // type id there (how to find its pointers).
  uint16_t* obj_types = nullptr;
  std::atomic<uint32_t> sweepgen{0};
  std::atomic<void*> gc_side{nullptr};  // the collector's (see above)

  MSpan* next = nullptr;  // link in a SpanSet

  // ---- the allocation fast path's helpers --------------------------------

  // Loads allocCache from the allocBits word `word`, inverted so that free
  // slots are 1 bits.
  GC_ALWAYS_INLINE void RefillAllocCache(size_t word) {
    alloc_cache = ~alloc_bits[word];
  }

  // The index of the next free slot at or after freeindex, advancing
  // freeindex past it; nelems when the span is full. (Go's nextFreeIndex.)
  size_t NextFreeIndex();

  GC_ALWAYS_INLINE size_t ObjIndex(uintptr_t p) const {
    return static_cast<size_t>((static_cast<uint64_t>(p - start) * div_magic) >>
                               32);
  }

  // True if slot i holds an allocated object (Go's !isFree). Safe to call
  // from a mark worker while the owning mcache allocates from the span:
  // freeindex is read and written with relaxed atomics (a stale answer only
  // concerns an object that is allocated black anyway), and allocBits do
  // not change outside sweeping.
  bool IsAllocated(size_t i) const {
    if (i < __atomic_load_n(&freeindex, __ATOMIC_RELAXED)) return true;
    return (alloc_bits[i / 64] >> (i % 64)) & 1;
  }
  GC_ALWAYS_INLINE void set_freeindex(size_t v) {
    __atomic_store_n(&freeindex, static_cast<uint16_t>(v), __ATOMIC_RELAXED);
  }

  // The type tag of slot i (scan spans). Written with a relaxed atomic store
  // at allocation, so an object query (MHeap::QueryObject) racing with the
  // allocation of a reused slot reads a whole tag, the old or the new one.
  GC_ALWAYS_INLINE void SetObjType(size_t i, uint16_t type) {
    __atomic_store_n(&obj_types[i], type, __ATOMIC_RELAXED);
  }
  uint16_t ObjType(size_t i) const {
    return __atomic_load_n(&obj_types[i], __ATOMIC_RELAXED);
  }

  // ---- mark bits ------------------------------------------------------------
  bool IsMarked(size_t i) const {
    return (__atomic_load_n(&gcmark_bits[i / 64], __ATOMIC_RELAXED) >>
            (i % 64)) &
           1;
  }
  // Sets the mark bit of slot i; returns true if it was clear (this caller
  // greyed the object). The setting RMW is sequentially consistent: it is
  // one half of the ephemeron Dekker pair (gc/mark.cc; on x86 the same
  // locked instruction as a relaxed one).
  bool SetMarked(size_t i) {
    uint64_t bit = uint64_t{1} << (i % 64);
    uint64_t* w = &gcmark_bits[i / 64];
    if (__atomic_load_n(w, __ATOMIC_RELAXED) & bit) return false;
    return !(__atomic_fetch_or(w, bit, __ATOMIC_SEQ_CST) & bit);
  }
  // The current gcmarkBits block, for a reader that may run while the span
  // is swept (the seqlock read of gc/weak.h): an acquire load, paired with
  // the release store that publishes the swapped block.
  const uint64_t* MarkBitsForRead() const {
    return __atomic_load_n(&gcmark_bits, __ATOMIC_ACQUIRE);
  }
  // The slots of bitmap word w that hold objects allocated before this
  // sweep (allocBits, or below freeindex), within nelems: what SweepSpan
  // frees or keeps.
  uint64_t AllocatedWord(size_t w) const {
    const size_t lo = w * 64;
    uint64_t below = 0;
    if (freeindex > lo) {
      below = freeindex - lo >= 64 ? ~uint64_t{0}
                                   : (uint64_t{1} << (freeindex - lo)) - 1;
    }
    return (alloc_bits[w] | below) & SlotMask(w);
  }
  // The bits of bitmap word w that stand for slots (below nelems).
  uint64_t SlotMask(size_t w) const {
    const size_t lo = w * 64;
    return nelems - lo >= 64 ? ~uint64_t{0}
                             : (uint64_t{1} << (nelems - lo)) - 1;
  }
  size_t CountMarked() const;

  bool is_large() const { return SizeClassOf(spanclass) == 0; }
  uintptr_t base() const { return start; }
};

// The span every mcache slot points at before its first refill: no free
// slots (allocCache 0, nelems 0), so the fast path falls through to refill
// without a null check.
extern MSpan empty_mspan;

}  // namespace gcheap

#endif  // GCHEAP_HEAP_MSPAN_H_
