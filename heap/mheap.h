// mheap.h: the heap: arenas, the page allocator, the mcentrals, large
// objects, sweeping state and the scavenger.
//
// One MHeap per gc_heap. Its lock (Go's mheap.lock) guards the page
// allocator, span-struct allocation and the arena list. Everything on the
// allocation fast path lives in the mcache and never touches this lock.
//
// Spans: AllocSpan takes npages from the page allocator (growing the heap by
// whole arenas when needed), initializes an mspan, points every page's
// spans[] entry at it, and sets the pageInUse bit of its first page.
// FreeSpan undoes that and returns the pages, which coalesce with free
// neighbours.
//
// Large objects (> 32 KiB) get a span of their own (size class 0, one
// element) straight from here, and are recorded in mcentral[spc].full so the
// sweeper finds them.
//
// Sweeping: StartSweepCycle advances sweepgen by 2; from then on every span
// in the centrals is unswept. Spans are swept on demand by mcentral
// (allocation), by SweepOne (a background sweeper or a test), and by
// AllocSpan before it grows the heap (Go's reclaim). FinishSweep sweeps
// whatever remains. Sweeping a span applies its gcmarkBits: unmarked slots
// become free, empty spans return their pages.
//
// Limits: a hard limit on in-use span bytes makes AllocSpan fail with a
// readable reason instead of growing past it.
//
// Scavenger: free pages that stay resident beyond a retention goal are
// returned to the OS with madvise, highest addresses first, without holding
// the lock during the system call. Released pages read as zero and need no
// clearing when reused; a run the OS refuses to release (locked memory)
// goes back dirty, so it is cleared when reused. Sweeping only frees
// pages; the scavenger runs outside every sweep locker (a pause waits for
// lockers) and never while the collector holds LockScavenger (it does for
// every stop-the-world pause), so no pause ever waits for a system call.
#ifndef GCHEAP_HEAP_MHEAP_H_
#define GCHEAP_HEAP_MHEAP_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "heap/arena.h"
#include "heap/counters.h"
#include "heap/fixalloc.h"
#include "heap/heap_events.h"
#include "heap/mcentral.h"
#include "heap/mspan.h"
#include "heap/pagealloc.h"

namespace gcheap {

class MCache;

// Sweep lockers the calling thread holds (debug builds only): the
// scavenger checks it holds none.
inline thread_local int t_sweep_lockers = 0;

struct HeapOptions {
  // Maximum bytes of in-use spans (0 = unlimited).
  size_t hard_limit = 0;
  // The scavenger keeps resident memory (in-use plus free pages not yet
  // released) at or below max(peak in-use over this and the previous sweep
  // cycle) x (1 + retain_fraction), and never releases the last
  // retain_min_bytes of free memory. Memory is released once the heap has
  // stayed smaller for a full cycle, so a heap that frees and reallocates
  // the same amount every cycle does not thrash.
  size_t retain_min_bytes = 16 << 20;
  double retain_fraction = 0.10;
  // Run the scavenger automatically after sweeping frees memory.
  bool auto_scavenge = true;
};

// What the collector does for the objects of a span that has a side record
// (MSpan::gc_side): called by SweepSpan on the sweeping thread, with the
// span claimed (sweepgen h-1) and its bits untouched, before the span is
// published as swept. The hook must not allocate from the heap.
class SweepHook {
 public:
  virtual ~SweepHook() = default;
  virtual void BeforeSweep(MSpan* s) = 0;
};

// What an object query found (MHeap::QueryObject).
struct ObjectInfo {
  uintptr_t base = 0;
  size_t size = 0;    // the slot's size; a large object's requested bytes
  uint16_t type = 0;  // the span's tag for the slot; 0 in noscan spans
  bool noscan = false;
};

// Where an address points inside the heap.
struct ObjectRef {
  MSpan* span = nullptr;
  uintptr_t base = 0;
  size_t index = 0;
};

struct SizeClassStats {
  uint64_t nmalloc = 0;  // objects handed out (slots given to mcaches)
  uint64_t nfree = 0;    // objects freed by sweeping
};

struct HeapStats {
  size_t reserved_bytes = 0;   // address space of all arenas
  size_t mapped_bytes = 0;     // committed arena memory
  size_t released_bytes = 0;   // committed but returned to the OS
  size_t in_use_bytes = 0;     // bytes of in-use spans
  size_t free_bytes = 0;       // bytes of free pages (resident or not)
  size_t heap_live_bytes = 0;  // Go's heapLive: marked bytes at the last
                               // mark termination plus slot bytes handed to
                               // mcaches since (unused ones given back)
  size_t meta_bytes = 0;       // arena metadata, span structs, bitmaps
  uint64_t nmalloc = 0, nfree = 0;  // all objects
  uint64_t large_nmalloc = 0, large_nfree = 0;
  uint64_t large_bytes_total = 0;  // bytes of large spans ever allocated
  uint64_t tiny_allocs = 0;
  size_t arenas = 0;
  uint64_t scavenged_bytes_total = 0;  // ever returned to the OS
  uint64_t release_failures = 0;       // runs the OS refused to release (locked
                                       // pages): kept resident and dirty
  SizeClassStats by_class[kNumSizeClasses];
};

// What the allocator's shared structures were asked for, cumulative
// (heap/counters.h; MHeap::ReadCounters). Locks count acquisitions and
// waits (acquisitions that found the lock held).
struct HeapCounters {
  uint64_t spanset_ops = 0;      // span-set pushes and pops (all classes)
  uint64_t spanset_retries = 0;  // ... compare-and-swaps that failed
  uint64_t heap_locks = 0;       // mheap lock acquisitions
  uint64_t heap_lock_waits = 0;
  uint64_t sweep_lockers = 0;       // SweepLocker acquisitions (an atomic
                                    // add on the heap's sweep state word)
  uint64_t refills = 0;             // mcache refills from an mcentral
  uint64_t refills_heap_lock = 0;   // ... that took a fresh span from the
                                    // page heap (the mheap lock)
  uint64_t refills_empty_span = 0;  // ... that reused a span the sweep
                                    // found empty (no heap lock)
  uint64_t heap_live_updates = 0;   // atomic adds to heap_live
  uint64_t large_allocs = 0;
};

class MHeap {
 public:
  explicit MHeap(const HeapOptions& opts = {});
  ~MHeap();
  MHeap(const MHeap&) = delete;
  MHeap& operator=(const MHeap&) = delete;

  // ---- spans ----------------------------------------------------------------
  // A new in-use span of npages for spanclass, or nullptr with LastError()
  // set (hard limit, OS refusal). The caller holds a SweepLocker whose
  // sweepgen `sg` the span gets. A large span (size class 0) is published
  // with its object of large_bytes (tag `type`) already allocated.
  // Grows the heap (committed minus released memory) by at least `bytes`
  // of free pages, reserving arenas as needed (Boehm's GC_expand_hp).
  // False if the OS refused. The scavenger never takes the heap below the
  // size Expand reached (RetentionGoal): the memory was asked for, as
  // Boehm's heap, which does not shrink.
  bool Expand(size_t bytes);
  MSpan* AllocSpan(size_t npages, SpanClass spc, uint32_t sg,
                   size_t large_bytes = 0, uint16_t type = 0);
  void FreeSpan(MSpan* s);
  // A type tag array for a span of nelems slots, every tag `fill`, for an
  // mcache that makes its span mixed (heap/mspan.h, "Type tags"); freed
  // with the span. nullptr with LastError() set if the OS refused memory.
  uint16_t* NewTypeTags(size_t nelems, uint16_t fill);
  // Returns empty spans kept for reuse (sweeping keeps a small span with
  // no live object on its class's empty set: MCentral::EmptySpans) to the
  // page allocator, under one acquisition of the heap lock; returns the
  // pages freed. only_old: just those kept since the cycle before this
  // one's sweep (the collector, before each cycle: an empty span lives at
  // most about two cycles). All of them: FinishSweep outside a pause, and
  // (holding the lock) before the heap grows or fails at its hard limit.
  // Never during a pause: it holds the scavenger lock (LockScavenger) too.
  size_t ReleaseEmptySpans(bool only_old);
  // While a SpanHold lives, no span is freed but by a sweep: the empty
  // spans kept for reuse stay (ReleaseEmptySpans and the release before
  // the heap grows free nothing). A heap walk (gc_heap::WithWorldStopped)
  // holds one: the world is stopped and the sweep done, but a thread that
  // counts as stopped (a blocking bracket, a gc_collect that has not yet
  // stopped the world) may still call ReleaseEmptySpans, which would free
  // spans the walk is reading.
  class SpanHold {
   public:
    explicit SpanHold(MHeap* h);
    ~SpanHold();
    SpanHold(const SpanHold&) = delete;
    SpanHold& operator=(const SpanHold&) = delete;

   private:
    MHeap* heap_;
  };

  // A large object of `size` bytes (> kMaxSmallSize): its own span, zeroed,
  // with tag `type` for scan objects. The span's limit is start + size, so
  // addresses past the object resolve to nothing. nullptr with LastError()
  // set on failure.
  void* AllocLarge(size_t size, bool noscan, uint16_t type = 0);

  // ---- object lookup --------------------------------------------------------
  // Resolves any address to the object slot containing it (O(1): arena
  // index, then the arena's spans[] entry). False for addresses outside the
  // heap, in free pages, or in a span's tail waste. Does not check that the
  // slot is allocated (see MSpan::IsAllocated).
  GC_ALWAYS_INLINE bool FindObject(uintptr_t p, ObjectRef* out) const {
    HeapArena* a = index_.Lookup(p);
    if (a == nullptr) return false;
    MSpan* s = a->SpanOf(p);
    if (s == nullptr ||
        s->state.load(std::memory_order_acquire) != SpanState::kInUse) {
      return false;
    }
    if (p < s->start || p >= s->limit) return false;
    size_t i = s->ObjIndex(p);
    out->span = s;
    out->index = i;
    out->base = s->start + i * s->elemsize;
    return true;
  }
  HeapArena* ArenaOf(uintptr_t p) const { return index_.Lookup(p); }
  // False if p lies outside every arena the heap ever had (one load; a
  // superset test: ArenaIndex::MayContain).
  GC_ALWAYS_INLINE bool MayContain(uintptr_t p) const {
    return index_.MayContain(p);
  }
  // The span that owns p's page now, or null, found without reading the
  // span (which may be freed meanwhile when the caller holds nothing that
  // keeps it: gc/weak.h's read after the flip).
  MSpan* SpanAt(uintptr_t p) const {
    HeapArena* a = index_.Lookup(p);
    return a == nullptr ? nullptr : a->SpanOf(p);
  }

  // ---- object queries (heap/object_query.cc) --------------------------------
  // The allocated object containing p: its base, size (the slot; a large
  // object's requested bytes) and type tag. False for addresses outside the
  // heap, in free pages, in a span's tail, or on a free slot. Safe from any
  // thread at any time: it holds the heap lock (spans are neither made nor
  // freed meanwhile) and reads the span's allocation state with atomics,
  // retrying while the span is being swept. An object that the last cycle
  // found dead counts as allocated until its span is swept; a query racing
  // with that sweep answers as before it or as after it. Objects another
  // thread's mcache handed out from its open allocation window count as
  // allocated (MSpan::AllocatedPrefix).
  bool QueryObject(uintptr_t p, ObjectInfo* out) const;
  // The slots of s below the returned index are allocated, with those an
  // mcache that holds s handed out from its open window (the number
  // MSpan::AllocatedPrefix sets), read under the heap lock, which keeps
  // that mcache alive (~MCache waits for the lock). Any thread; the caller
  // keeps s from being freed or swept.
  size_t SpanAllocatedPrefix(const MSpan* s) const;
  // Returns once no object query that began before the call runs (takes
  // the heap lock once): an mcache waits for them before it is freed.
  void WaitForObjectQueries() const;
  // True if p lies in the pages of an in-use span (an object, a free slot
  // or the span's tail). Lock-free.
  bool InUseSpanAt(uintptr_t p) const;
  // The in-use spans, in address order (a copy, made under the heap lock).
  std::vector<MSpan*> InUseSpans() const;
  // The arenas, in address order (for heap snapshots).
  struct ArenaInfo {
    uintptr_t base = 0;
    size_t committed_bytes = 0;
    size_t free_pages = 0;
    size_t released_pages = 0;  // free and returned to the OS
  };
  std::vector<ArenaInfo> Arenas() const;

  // ---- the process's heaps --------------------------------------------------
  // Every MHeap registers itself while it lives, so that a value that does
  // not resolve here can be checked against the others: a pointer from one
  // heap into another is not traced by either, and verify mode and debug
  // builds report it. owner() names the heap in diagnostics (the embedding
  // layer sets it to its gc_heap; by default the MHeap itself).
  void set_owner(const void* owner) {
    owner_.store(owner, std::memory_order_release);
  }
  const void* owner() const {
    const void* o = owner_.load(std::memory_order_acquire);
    return o != nullptr ? o : this;
  }
  // True if p lies in the arenas of a live heap other than this one; sets
  // *other to that heap's owner(). Takes the registry's lock (shared), so
  // that heap cannot be destroyed meanwhile; the lookup itself is the
  // lock-free arena index.
  bool InOtherHeap(uintptr_t p, const void** other) const;

  // ---- mcaches --------------------------------------------------------------
  MCache* NewMCache();
  // Releases the mcache's spans and tiny block and frees it.
  void FreeMCache(MCache* c);
  // Every MCache of this heap registers itself while it lives, so the
  // sweepgen flip can prepare all of them (see heap/mcache.h).
  void RegisterMCache(MCache* c);
  void UnregisterMCache(MCache* c);

  MCentral& central(SpanClass spc) { return central_[spc]; }

  // ---- sweeping -------------------------------------------------------------
  // sweepgen and the number of active sweep lockers share one atomic word
  // (sweepgen << 32 | lockers), so taking a locker reads the sweepgen and
  // registers in a single atomic step, and StartSweepCycle can only advance
  // sweepgen when no locker is held. Every operation that reads sweepgen to
  // choose a span set, or sweeps, holds a locker for its whole duration:
  // mcentral.cacheSpan/uncacheSpan, SweepOne, large allocation.
  class SweepLocker {
   public:
    explicit SweepLocker(MHeap* h)
        : heap_(h),
          sg_(static_cast<uint32_t>(
              h->sweep_state_.fetch_add(1, std::memory_order_acq_rel) >> 32)) {
      if constexpr (kDebugBuild) t_sweep_lockers++;
      h->Count(kEventSweepLockers);
    }
    ~SweepLocker() {
      if constexpr (kDebugBuild) t_sweep_lockers--;
      heap_->sweep_state_.fetch_sub(1, std::memory_order_acq_rel);
    }
    SweepLocker(const SweepLocker&) = delete;
    SweepLocker& operator=(const SweepLocker&) = delete;
    uint32_t sweepgen() const { return sg_; }

   private:
    MHeap* heap_;
    uint32_t sg_;
  };

  uint32_t sweepgen() const {
    return static_cast<uint32_t>(sweep_state_.load(std::memory_order_acquire) >>
                                 32);
  }
  // Begins a new sweep cycle (the flip): sweepgen += 2, which makes every
  // span in the centrals unswept. Waits for the previous cycle's sweep to
  // finish and for every sweep locker to be released. Then prepares every
  // mcache of the heap (MCache::PrepareForSweep): a span still cached is
  // stale (h+1) and is returned and swept now, so no allocation can come
  // from it. Checks first that every mcache was prepared for the cycle that
  // ends. Precondition: the collector's marks are final, and no mcache's
  // owner is inside an MCache call (the world is stopped).
  void StartSweepCycle();
  // Sweeps one unswept span. Returns the number of pages swept, or 0 when no
  // unswept span is left.
  size_t SweepOne();
  // Sweep termination: sweeps until every span is swept and waits until no
  // locker is held (no sweep in flight anywhere); then publishes FullySwept
  // unless a flip began another sweep cycle meanwhile. The collector calls it
  // with mutators stopped, before marking: marking a span that still has
  // last cycle's marks would corrupt it. Must not be called with a locker.
  // With `scavenge` (not inside a pause: madvise is slow), then returns
  // free memory beyond the retention goal to the OS.
  void FinishSweep(bool scavenge = true);
  // Sweeps every span still unswept, without waiting for sweeps in flight
  // elsewhere (the collector's concurrent pre-sweep: with mutators
  // refilling spans, some locker is nearly always held).
  void SweepRemaining() {
    while (SweepOne() != 0) {
    }
  }
  bool SweepDone() const;
  // Whether every span of the current sweep cycle has been swept and
  // published (no sweep in flight either): an acquire load, so a reader that
  // sees true also sees everything the sweeps wrote (the sweep hook's clears
  // of weak references). Becomes true when FinishSweep returns or when
  // NoteFullySwept observes it; false again at the next flip. Their
  // callers may run through a flip (the background sweeper, a thread
  // sweeping while counted as blocked): each publishes, under flip_mu_,
  // only the sweep cycle it saw done, never one a flip began meanwhile.
  bool FullySwept() const {
    return swept_gen_.load(std::memory_order_acquire) == sweepgen();
  }
  // Records FullySwept if it holds now (every unswept set drained and no
  // sweep locker held, read under flip_mu_ so that both belong to the
  // current sweep cycle). Returns whether it did. Must not be called with a
  // locker.
  bool NoteFullySwept();
  // The collector's sweep hook (see SweepHook). Set once, before any span
  // has a side record.
  void SetSweepHook(SweepHook* hook) { sweep_hook_ = hook; }
  // Proportional sweep (Go's sweep pacing): the collector, at the flip,
  // tells how many bytes may be allocated before the next cycle starts;
  // allocation that takes a span from the heap (refill, large objects)
  // first sweeps pages in proportion to the bytes allocated since the
  // flip, so every span is swept by then and the next cycle's sweep
  // termination finds nothing left to do.
  void SetSweepPacing(size_t bytes_until_trigger);
  void DeductSweepCredit(size_t bytes) {
    if (sweep_pages_per_byte_.load(std::memory_order_relaxed) == 0) return;
    DeductSweepCreditSlow(bytes);
  }
  // Sweeps span s, which the caller claimed for sweeping (h-2 -> h-1) under
  // a locker with sweepgen sg. preserve=true (mcentral) keeps the span for
  // the caller; otherwise a span with no live object goes to its central's
  // empty set (small) or is freed (large), and any other to its central's
  // swept set. Returns true if no object in it was live.
  bool SweepSpan(MSpan* s, bool preserve, uint32_t sg);
  // Claims s for sweeping (h-2 -> h-1). Every sweeper pops a span from an
  // unswept set before claiming it, so failure means a broken invariant.
  void ClaimForSweep(MSpan* s, uint32_t sg) {
    uint32_t expect = sg - 2;
    bool ok = s->sweepgen.compare_exchange_strong(expect, sg - 1,
                                                  std::memory_order_acq_rel);
    GC_CHECK(ok, "span on an unswept set does not need sweeping");
  }

  // ---- scavenger ------------------------------------------------------------
  // Returns up to `bytes` of free resident memory to the OS; returns the
  // number of bytes released. The caller must hold no sweep locker and be
  // a thread no pause waits for (the background sweeper, a blocked
  // mutator).
  size_t Scavenge(size_t bytes);
  // Releases free memory beyond the retention goal.
  size_t ScavengeToGoal();
  bool auto_scavenge() const { return opts_.auto_scavenge; }
  // How many bytes of free memory may stay resident now.
  size_t RetentionGoal() const;
  // Releases all free memory to the OS now (Go's debug.FreeOSMemory).
  size_t ReleaseFreeMemory() { return Scavenge(~size_t{0}); }
  // Keeps the scavenger out while held: no system call that returns
  // memory starts before UnlockScavenger, and one in progress finishes
  // first. The collector holds it across every stop-the-world pause.
  void LockScavenger() { scavenge_mu_.lock(); }
  void UnlockScavenger() { scavenge_mu_.unlock(); }
  // Testing seams: a hook called on the scavenging thread right before
  // (true) and after (false) each system call that returns memory to the
  // OS; and the retention goal's parameters (set before any allocation).
  void SetScavengeHookForTesting(std::function<void(bool)> hook);
  // Called by NoteFullySwept and FinishSweep just before they publish
  // FullySwept (with flip_mu_ held), on the publishing thread: a test
  // holds a publisher there to race it with a flip.
  void SetPublishSweptHookForTesting(std::function<void()> hook);
  void SetRetentionForTesting(size_t min_bytes, double fraction);
  // Called by RetentionGoal on the calling thread before it takes the heap
  // lock (false) and with the lock held (true): a test parks a thread
  // there, holding the lock, while a pause begins. Null: none.
  void SetRetentionGoalHookForTesting(void (*hook)(bool locked)) {
    retention_goal_hook_.store(hook, std::memory_order_release);
  }

  // ---- statistics -----------------------------------------------------------
  HeapStats ReadStats() const;
  // Contention counters (heap/counters.h).
  HeapCounters ReadCounters() const;
  void Count(HeapEvent e) { counts_.Add(e); }
  // Go's heapLive. Allocation adds (per span handed to an mcache, per large
  // object); the collector sets it to the marked bytes at mark termination;
  // sweeping leaves it alone (what it frees was not marked).
  std::atomic<int64_t>& heap_live() { return heap_live_; }
  // Adds an mcache's per-class allocation counts (flushed by ReleaseAll).
  void FlushAllocCounts(int64_t* by_class);
  void AddTinyAllocs(uint64_t n) {
    tiny_allocs_.fetch_add(n, std::memory_order_relaxed);
  }
  const HeapOptions& options() const { return opts_; }
  // Lock-free counters (gc_get_counters): bytes of in-use spans, and the
  // bytes of objects handed out (slots counted as Go counts them, when a
  // thread's cache flushes its counts, plus large objects).
  size_t in_use_bytes() const {
    return in_use_bytes_.load(std::memory_order_relaxed);
  }
  uint64_t AllocatedBytes() const;
  uint64_t AllocatedObjects() const;
  // The observer of arenas added, memory released and allocation slow
  // paths (heap/heap_events.h); set once, before the heap is used.
  void set_event_sink(HeapEventSink* sink) { event_sink_ = sink; }
  HeapEventSink* event_sink() const { return event_sink_; }
  // Any time (under the heap lock): spans past it fail from then on.
  void set_hard_limit(size_t bytes) {
    std::lock_guard<CountedMutex> g(lock_);
    opts_.hard_limit = bytes;
  }

  // Calls f(MSpan*) for every in-use span, in address order, found through
  // the arenas' pageInUse bitmaps (Go's allspans walk). Takes the heap lock:
  // f must not allocate or free spans.
  template <typename F>
  void ForEachSpan(F f) const {
    std::lock_guard<CountedMutex> g(lock_);
    for (HeapArena* a = pages_.first_arena(); a != nullptr; a = a->next) {
      for (size_t w = 0; w < kPageWordsPerArena; w++) {
        uint64_t bits = a->page_in_use[w].load(std::memory_order_relaxed);
        while (bits != 0) {
          size_t page = w * 64 + __builtin_ctzll(bits);
          bits &= bits - 1;
          f(a->spans[page].load(std::memory_order_relaxed));
        }
      }
    }
  }

  // Debug check of page-allocator invariants (takes the lock).
  void VerifyPages();

 private:
  friend class MCentral;
  uint64_t* AllocBits(size_t words);
  void FreeBits(uint64_t* bits, size_t words);
  uint16_t* AllocTypes(size_t nelems);
  void FreeTypes(uint16_t* types, size_t nelems);
  void InitSpan(MSpan* s, uintptr_t base, size_t npages, SpanClass spc,
                bool needzero, uint32_t sg);
  void ReclaimBeforeGrow(size_t npages);
  // What AllocSpanLocked added to the heap's address space (bytes 0: no
  // arena), reported by AllocSpan once the lock is released.
  struct Growth {
    uintptr_t base = 0;
    size_t bytes = 0, reserved = 0;
  };
  MSpan* AllocSpanLocked(size_t npages, SpanClass spc, uint32_t sg,
                         size_t large_bytes, uint16_t type, Growth* grown);
  void FreeSpanLocked(MSpan* s);
  size_t ReleaseEmptySpansLocked();  // all of them (none while held)
  int span_holds_ = 0;               // SpanHolds alive; guarded by lock_
  size_t FreeAll(SpanSet* set);      // heap lock held
  // A swept small span with no live object: onto its class's empty set
  // of sweepgen sg.
  void KeepEmpty(MSpan* s, uint32_t sg);

  HeapOptions opts_;
  std::atomic<const void*> owner_{nullptr};
  mutable CountedMutex lock_;
  ArenaIndex index_;
  PageAlloc pages_;
  FixAlloc span_alloc_;
  // Mark/alloc bitmaps, both halves in one block: 2 * words uint64_t, for
  // words = 1, 2, 4, 8, 16.
  FixAlloc bits_alloc_[5];
  // Per-slot type tags of scan spans: 8 << i bytes, for i = 0..8 (2 KiB
  // holds the 1024 slots of the 8-byte class).
  FixAlloc types_alloc_[9];
  size_t in_use_pages_ = 0;
  std::atomic<size_t> in_use_bytes_{0};  // in_use_pages_, readable lock-free
  HeapEventSink* event_sink_ = nullptr;
  size_t peak_in_use_pages_ = 0;       // this sweep cycle
  size_t expanded_bytes_ = 0;          // the largest heap size Expand reached
  size_t prev_peak_in_use_pages_ = 0;  // the previous sweep cycle

  MCentral central_[kNumSpanClasses];

  std::atomic<uint64_t> sweep_state_{0};  // sweepgen << 32 | lockers
  std::atomic<uint32_t> swept_gen_{0};    // FullySwept: this sweepgen's done
  // Held by the flip (sweepgen += 2 and the cursor's rewind) and by every
  // store of swept_gen_: a publisher sees sweepgen and the cursor of one
  // sweep cycle (a background sweeper or a thread sweeping while counted
  // as blocked is not stopped by the flip's pause).
  std::mutex flip_mu_;
  std::function<void()> publish_swept_hook_;  // set before use (testing)
  SweepHook* sweep_hook_ = nullptr;
  std::atomic<size_t> sweep_cursor_{
      kNumSpanClasses};  // next span class SweepOne looks at

  std::atomic<int64_t> heap_live_{0};
  // Proportional sweep state (set at the flip; 0 pages/byte: nothing owed).
  void DeductSweepCreditSlow(size_t bytes);
  std::atomic<double> sweep_pages_per_byte_{0};
  std::atomic<int64_t> sweep_basis_{0};   // heap_live at the flip
  std::atomic<uint64_t> pages_swept_{0};  // since the flip, all sweepers
  std::atomic<uint64_t> nmalloc_[kNumSizeClasses] = {};
  std::atomic<uint64_t> nfree_[kNumSizeClasses] = {};
  std::atomic<uint64_t> large_nmalloc_{0}, large_nfree_{0}, large_bytes_{0};
  std::atomic<uint64_t> tiny_allocs_{0};
  std::atomic<uint64_t> scavenged_total_{0};
  std::atomic<uint64_t> release_failures_{0};
  std::mutex scavenge_mu_;  // one system call of the scavenger at a time
  std::function<void(bool)> scavenge_hook_;  // set before use (testing)
  std::atomic<void (*)(bool)> retention_goal_hook_{nullptr};  // testing
  std::mutex mcaches_mu_;                                     // guards mcaches_
  std::vector<MCache*> mcaches_;
  HeapEventCounts counts_;
};

}  // namespace gcheap

#endif  // GCHEAP_HEAP_MHEAP_H_
