// mspan.h: mspan, a run of pages holding objects of one span class.
//
// A span is npages contiguous pages starting at `start`. A small-object span
// is cut into nelems slots of elemsize bytes (its size class); a large-object
// span (size class 0) holds one object.
//
// Allocation state:
//   allocBits   bit i set = slot i was allocated as of the last sweep.
//   freeindex   slots below freeindex are allocated; the allocator scans
//               upward from it for the next run of clear bits of
//               allocBits (NextFreeRun), which its mcache hands out as an
//               allocation window (heap/mcache.h). While a window is open,
//               freeindex stays at the window's start: the slots the
//               window has handed out count as allocated once the mcache
//               syncs the span (when the window closes, when the span is
//               uncached, and at the start of every mark).
//   allocCount  number of allocated slots (exact when synced).
//   alloc_cursor / cache_seq  while an mcache holds the span: where the
//               cursor of its allocation window for the span's class is
//               (AllocWindow::next, which the fast path advances with a
//               release store), and a count of the span's cachings and
//               uncachings (odd while cached). An object query on another
//               thread reads the cursor through them (AllocatedPrefix),
//               so the slots an open window handed out read as allocated
//               before the mcache syncs the span.
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
// Type tags (scan spans). The heap stores a 16-bit tag per object without
// interpreting it; the collector keeps the object's type id there. A span
// is in one of two states ("mono spans"):
//   mono   obj_types is null: every allocated slot holds an object of type
//          mono_type. Noscan spans are always mono with mono_type 0; a
//          large span is made mono with its one object's type.
//   mixed  obj_types points at one tag per slot (nelems entries), written
//          at allocation.
// ObjType(i) loads obj_types with acquire and reads slot i's tag, or
// mono_type when it is null. The transitions, all made by the mcache that
// holds the span, on its slow path (heap/mcache.cc):
//   claim  a small scan span with no allocated slot (alloc_count == 0
//          once synced: fresh, or swept empty) and no tag array takes the
//          type of the allocation that opens its window as mono_type
//          (NextWindow). No slot is allocated, so a reader that reads the
//          new mono_type asks about a free slot: its answer is discarded
//          (IsAllocated checked first, or the query's sweepgen seqlock:
//          the span was swept and cached since).
//   mixed  the first allocation of another type into a mono span
//          (MakeMixed): the array is allocated (under the heap lock), every
//          entry set to mono_type, then published with a release store;
//          mono_type is left as it is. A reader racing with it reads
//          mono_type (null loaded) or the same value from the array
//          (acquire), for every object allocated before; the new object's
//          own tag is written after the publication, and the object is
//          handed out (the window's release store of next) after that.
//   A mixed span stays mixed while it is in use, also once swept empty:
//   the array goes only with the span (FreeSpanLocked, which resets
//   obj_types to null), so no reader ever loads a freed array through a
//   live span.
// Both transitions race object queries on other threads in the tests
// (tests/mcache_test.cc, run under TSan): QueriesRaceWithSweptEmptySpans
// ClaimedByAnotherType (claim, against a sweeper thread) and
// QueriesFromOtherThreadsRaceWithSpansBecomingMixed (mixed).
//
// Invariants (debug-checked): allocCount <= nelems; freeindex <= nelems;
// every slot below freeindex is allocated; a span is on at most one span set
// or in at most one mcache; obj_types is null on noscan and large spans;
// a noscan span's mono_type is 0; mono_type is claimed only while no slot
// is allocated and obj_types is null.
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

// 64-byte aligned: the lock-free span sets pack a span's address into
// fewer bits (heap/mcentral.h), and neighbouring spans share no line.
struct alignas(64) MSpan {
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
  // While a concurrent mark runs and an allocating-black mcache holds the
  // span: the first slot of the range it allocates black from (its
  // freeindex when the mark began or when it cached the span during the
  // mark); kNoBlack otherwise. Written by that mcache with a release store
  // before it hands out a slot of the range (or with the world stopped),
  // after the previous holder's bulk marking (ordered by the span set's
  // push and pop); reset when the span is initialized or swept. See
  // IsMarkedOrBlack.
  std::atomic<uint16_t> black_from{kNoBlack};
  static constexpr uint16_t kNoBlack = 0xffff;
  bool needzero = false;
  // Written only by the mcache that holds the span (above): the cursor
  // first (release), then cache_seq (release) when it caches the span;
  // cache_seq when it uncaches it, after syncing. cache_seq is never
  // reset (a reused struct was uncached: even).
  std::atomic<const uintptr_t*> alloc_cursor{nullptr};
  std::atomic<uint32_t> cache_seq{0};
  uint64_t* alloc_bits = nullptr;
  uint64_t* gcmark_bits = nullptr;
  uint32_t bitmap_words = 0;  // words in each of alloc_bits / gcmark_bits
  // Type tags (above): the type of every object of a mono span (obj_types
  // null), else the value the array was filled with. Written by the
  // mcache that holds the span (relaxed: see "claim" above).
  std::atomic<uint16_t> mono_type{0};
  // A mixed span's tag per slot, or null (mono). Published with a release
  // store; never goes back to null while the span is in use.
  std::atomic<uint16_t*> obj_types{nullptr};
  std::atomic<uint32_t> sweepgen{0};
  std::atomic<void*> gc_side{nullptr};  // the collector's (see above)

  std::atomic<MSpan*> next{nullptr};  // link in a SpanSet (heap/mcentral.h)

  // ---- allocation
  // ------------------------------------------------------------

  // The next run of free slots at or after freeindex: returns its first
  // slot and sets *end to the slot after its last one, and moves freeindex
  // to the run's start (every slot it passed is allocated). Returns nelems
  // (and moves freeindex there) when no slot is free. (Go's nextFreeIndex,
  // for a run instead of a slot.)
  size_t NextFreeRun(size_t* end);

  GC_ALWAYS_INLINE size_t ObjIndex(uintptr_t p) const {
    return static_cast<size_t>((static_cast<uint64_t>(p - start) * div_magic) >>
                               32);
  }

  // True if slot i holds an allocated object (Go's !isFree), as of the
  // span's last sync with its mcache (above). Safe to call from a mark
  // worker while the owning mcache allocates from the span: freeindex is
  // read and written with relaxed atomics, and allocBits do not change
  // outside sweeping. Every mark begins with the mcaches synced, so the
  // objects it says are free are free or were allocated during the mark,
  // and those are marked in bulk (allocate black, heap/mcache.h).
  bool IsAllocated(size_t i) const {
    if (i < __atomic_load_n(&freeindex, __ATOMIC_RELAXED)) return true;
    return (alloc_bits[i / 64] >> (i % 64)) & 1;
  }
  // A release store: the type tags of the slots it covers were written
  // before (AllocatedPrefix's readers load it with acquire).
  GC_ALWAYS_INLINE void set_freeindex(size_t v) {
    __atomic_store_n(&freeindex, static_cast<uint16_t>(v), __ATOMIC_RELEASE);
  }
  // For an object query on any thread: sets *n so that the slots below it
  // are allocated (freeindex, or, while an mcache holds the span, as far
  // as its open window's cursor has got, whichever is further; the slots
  // from there on are allocated when their allocBits bit is set). Returns
  // false when the span was cached or uncached meanwhile (ask again). The
  // caller keeps the span from being freed (the heap lock) and sweeps out
  // (the sweepgen seqlock of MHeap::QueryObject); an mcache is freed only
  // after its spans were uncached and the heap lock was free once
  // (~MCache), so the cursor read is of a live mcache. Acquire loads: the
  // type tags of the slots below *n were written before (the fast path
  // writes the tag, then advances the cursor with a release store).
  bool AllocatedPrefix(size_t* n) const {
    const uint32_t seq = cache_seq.load(std::memory_order_acquire);
    size_t window = 0;
    // (The cursor is null once the span was uncached meanwhile, and zero
    // while its window is being opened or after it closed.)
    const uintptr_t* cursor =
        seq & 1 ? alloc_cursor.load(std::memory_order_acquire) : nullptr;
    if (cursor != nullptr) {
      const uintptr_t c = __atomic_load_n(cursor, __ATOMIC_ACQUIRE);
      if (c > start && c <= limit) window = ObjIndex(c - 1) + 1;
    }
    const size_t fi = __atomic_load_n(&freeindex, __ATOMIC_ACQUIRE);
    if (cache_seq.load(std::memory_order_acquire) != seq) return false;
    *n = fi > window ? fi : window;
    return true;
  }

  // The type tag of slot i (0 on noscan spans). A mixed span's tags are
  // written with relaxed atomic stores at allocation, so an object query
  // (MHeap::QueryObject) racing with the allocation of a reused slot reads
  // a whole tag, the old or the new one.
  GC_ALWAYS_INLINE uint16_t ObjType(size_t i) const {
    const uint16_t* t = obj_types.load(std::memory_order_acquire);
    if (t == nullptr) return mono_type.load(std::memory_order_relaxed);
    return __atomic_load_n(&t[i], __ATOMIC_RELAXED);
  }

  // ---- mark bits ------------------------------------------------------------
  bool IsMarked(size_t i) const {
    return (__atomic_load_n(&gcmark_bits[i / 64], __ATOMIC_RELAXED) >>
            (i % 64)) &
           1;
  }
  // Whether the object in slot i is live for the running mark as far as
  // the mark has got: marked, or allocated black by the mcache that holds
  // the span (a slot of its black range not in allocBits) and not yet
  // marked in bulk. For a slot the caller knows holds an object (a free
  // slot of the black range also reads true). What a decision taken before
  // the final pause's bulk marking must use instead of IsMarked (an
  // ephemeron's key, a finalization candidate): a black object may read as
  // unmarked, or as free, until its span leaves the mcache. A caller that
  // got the object's address from the heap or a root sees black_from as it
  // was when the object was allocated, or a later value (the pointer store
  // that published the object comes after the mcache's store of
  // black_from).
  //
  // black_from is read first, with acquire: a later value than the one the
  // object was allocated under was stored by an mcache that cached the
  // span after the allocating mcache gave it up, which marked the object
  // in bulk before (its release store orders that OR before), so the mark
  // bit read next is set. Read in the other order, the two loads could
  // straddle the bulk marking and the re-caching: mark bit clear (before
  // the OR), then the new mcache's black_from past the object (after it),
  // and a live black object would read as unmarked.
  bool IsMarkedOrBlack(size_t i) const {
    const uint16_t from = black_from.load(std::memory_order_acquire);
    if (IsMarked(i)) return true;
    if (i < from) return false;
    return !((alloc_bits[i / 64] >> (i % 64)) & 1);
  }
  // Sets the mark bit of slot i; returns true if it was clear (this caller
  // greyed the object). A bit found clear by the first load and set by the
  // atomic OR's time (another marker won the race) counts in *races. The
  // setting RMW is sequentially consistent: it is one half of the ephemeron
  // Dekker pair (gc/mark.cc; on x86 the same locked instruction as a
  // relaxed one).
  bool SetMarked(size_t i, uint64_t* races) {
    uint64_t bit = uint64_t{1} << (i % 64);
    uint64_t* w = &gcmark_bits[i / 64];
    if (__atomic_load_n(w, __ATOMIC_RELAXED) & bit) return false;
    if (__atomic_fetch_or(w, bit, __ATOMIC_SEQ_CST) & bit) {
      ++*races;
      return false;
    }
    return true;
  }
  // SetMarked for the only thread that sets mark bits while it runs (a
  // single stop-the-world mark worker): a plain read-modify-write, with
  // relaxed atomic accesses so that readers in later phases stay
  // race-free. Wrong with any other marker running: two plain updates of
  // one word lose a bit.
  bool SetMarkedAlone(size_t i) {
    const uint64_t bit = uint64_t{1} << (i % 64);
    uint64_t* w = &gcmark_bits[i / 64];
    const uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED);
    if (old & bit) return false;
    __atomic_store_n(w, old | bit, __ATOMIC_RELAXED);
    return true;
  }
  bool SetMarked(size_t i) {
    uint64_t races = 0;
    return SetMarked(i, &races);
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
