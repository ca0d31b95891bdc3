// mark.h: tri-color marking over gcmarkBits (Go's mgcmark.go).
//
// White = mark bit clear. Grey = mark bit set, address queued in a work
// buffer. Black = mark bit set and scanned. Marking a value:
//   1. strip the heap's tag bits (tag_mask) from the word;
//   2. resolve it through the arena index (mheap.FindObject): interior
//      pointers map to their object; anything outside this heap's in-use
//      spans, or a free slot, is ignored (a NULL, a small integer, a tagged
//      immediate, a stale pointer into freed memory);
//   3. set the slot's mark bit with an atomic OR; the thread that flipped it
//      adds the object's bytes to its count and, unless the span is noscan,
//      queues it (grey).
// Scanning a grey object reads its type id from the span's slot table and
// visits the words the type's pointer bitmaps name (fixed part, then the
// repeated tail up to the end of the slot), or calls its trace callback.
// Large objects are scanned in 128 KiB pieces ("oblets", as Go does): the
// first visit queues the other pieces, so one huge array neither delays
// termination nor prevents parallelism. (Not a type whose pointers all lie
// in a one-word fixed map, TypeInfo::simple_ptrmask, the scan's fast path:
// past its fixed part there is nothing to visit.) The words of a conservative
// object (TypeInfo::conservative) are resolved as ambiguous words
// (gc/conservative.h) instead, by a loop of their own (ScanAmbiguousWords:
// every word, no pointer map to read).
//
// Weak slots and ephemerons (types whose TypeInfo::special is set, one
// unlikely branch in ScanItem): a weak slot is not traced; if its target is
// not strongly marked, the slot is recorded under the target in the
// referent table (gc/referents.h) for the sweep to clear. Ephemerons: see
// ScanEphemeron and GreyObject in mark.cc.
//
// Invariant: only allocated slots are marked (the sweeper checks), and only
// spans swept for this cycle are marked (the collector finishes sweeping
// before marking begins).
#ifndef GCHEAP_GC_MARK_H_
#define GCHEAP_GC_MARK_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "gc/gcwork.h"
#include "gc/typeinfo.h"
#include "gc/weak.h"
#include "heap/mheap.h"

namespace gcheap {

class Displacements;  // gc/conservative.h

inline constexpr size_t kObletBytes = 128 << 10;

class Marker {
 public:
  // weak: the heap's weak-reference records (needed to scan types with
  // weak slots and ephemerons; may be null where there are none).
  Marker(MHeap* heap, const TypeTable* types, uintptr_t tag_mask,
         WeakProcessor* weak = nullptr)
      : heap_(heap), types_(types), tag_mask_(~tag_mask), weak_(weak) {}

  // Per-worker marking context: its work buffers and counters. It is the
  // visit context of the trace callbacks it calls (a TraceVisitor).
  struct Worker : TraceVisitor {
    explicit Worker(Marker* m, WorkPool* pool) : marker(m), gcw(pool) {
      weak = &Marker::VisitWeak;
      weak_callback = &Marker::VisitWeakCallback;
    }
    ~Worker() {
      if (mark_races != 0) {
        marker->mark_races_.fetch_add(mark_races, std::memory_order_relaxed);
      }
    }
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    Marker* marker;
    GcWork gcw;
    uint64_t marked_objects = 0;
    uint64_t marked_bytes = 0;
    uint64_t scanned_bytes = 0;
    // Mark bits this worker found clear and lost to another marker's
    // atomic OR (MSpan::SetMarked): contention on the mark bitmaps.
    uint64_t mark_races = 0;
    // The span of the last object resolved: neighbouring objects were
    // mostly allocated together, so the next pointer often lands in it and
    // skips the arena index. Valid for the Worker's life, which lies inside
    // one mark phase: no span is freed while marking (nothing is swept).
    MSpan* last_span = nullptr;
  };

  // heap_->FindObject, trying the worker's last span first.
  GC_ALWAYS_INLINE bool FindObject(Worker* w, uintptr_t p, ObjectRef* r) const {
    MSpan* s = w->last_span;
    if (s == nullptr || p - s->start >= s->limit - s->start) {
      if (!heap_->FindObject(p, r)) return false;
      w->last_span = r->span;
      return true;
    }
    const size_t i = s->ObjIndex(p);
    r->span = s;
    r->index = i;
    r->base = s->start + i * s->elemsize;
    return true;
  }

  // Greys the object `value` points into, if any.
  uintptr_t StripTag(uintptr_t value) const { return value & tag_mask_; }

  GC_ALWAYS_INLINE void MarkValue(Worker* w, uintptr_t value) {
    uintptr_t p = value & tag_mask_;
    if (p < 4096) return;
    ObjectRef r;
    if (!FindObject(w, p, &r)) return;
    GreyObject(w, r);
  }
  void GreyObject(Worker* w, const ObjectRef& r);
  // GreyObject for an object the caller found allocated
  // (r.span->IsAllocated(r.index)): the ambiguous-word policy checks that
  // already (gc/conservative.h).
  void GreyAllocated(Worker* w, const ObjectRef& r);
  // Revive mode (the finalizer phase, gc/finalize.h): GreyObject sets an
  // unmarked object's revive bit before its mark bit. Changed only with the
  // world stopped.
  void SetRevive(bool on) { revive_.store(on, std::memory_order_relaxed); }
  bool revive() const { return revive_.load(std::memory_order_relaxed); }
  // Exclusive mode: one thread marks and nothing else sets a mark bit (one
  // stop-the-world worker, Collector::MarkParallel's world_stopped_alone),
  // so GreyObject sets mark bits with a plain load and store
  // (MSpan::SetMarkedAlone) instead of the locked OR. Set and cleared by
  // that thread, around the mark; debug builds check that every mark bit
  // set meanwhile is set by that thread.
  void SetExclusive(bool on) {
    GC_DCHECK(on != exclusive_.load(std::memory_order_relaxed),
              "Marker::SetExclusive nested or unbalanced");
    exclusive_owner_.store(on ? std::this_thread::get_id() : std::thread::id(),
                           std::memory_order_relaxed);
    exclusive_.store(on, std::memory_order_relaxed);
  }
  // Finalization's pass 1: marks what the object at base points to, not the
  // object (skip_self: nor its own direct pointers to itself); weak slots
  // are recorded as in a scan.
  void ScanCandidate(Worker* w, uintptr_t base, bool skip_self);
  // Marks *slot unless it points into the object at self (0: no object);
  // ambiguous: *slot is a word of a conservative object (MarkAmbiguous).
  void VisitCandidateSlot(Worker* w, void** slot, uintptr_t self,
                          bool ambiguous);

  // Scans grey objects until the worker's buffers and the pool are empty.
  void Drain(Worker* w);
  // Scans up to `budget` grey objects, and stops early once the worker's
  // scanned_bytes reach scan_limit; false when it ran out of work first.
  // It prefetches up to kPrefetchDepth objects ahead, never more than the
  // budget leaves to scan (what it took and did not scan, when it stops at
  // scan_limit, goes back to the worker's buffers).
  bool DrainSome(Worker* w, size_t budget, uint64_t scan_limit = ~uint64_t{0});
  // 32 rather than 8: on binary-trees (16-byte nodes, one miss per object)
  // this cut the drain's CPU per scanned megabyte by 15-20%
  // (docs/benchmarks.md).
  static constexpr size_t kPrefetchDepth = 32;
  // Scans one queued item (an object base, or an oblet of a large object).
  void ScanItem(Worker* w, uintptr_t item);
  // Scans the words [lo, hi) (offsets from its base) of the object r as a
  // grey object's are scanned (an object with a trace callback: whole).
  // ScanItem's body; also the rescan of a dirty page's marked objects
  // (gc/unbarriered.h).
  void ScanRange(Worker* w, const ObjectRef& r, size_t lo, size_t hi);
  // The words of a conservative object in [lo, hi) (addresses, 8-byte
  // aligned), each resolved as an ambiguous data word (gc/conservative.h):
  // a plain loop with the policy inlined, no pointer map read.
  void ScanAmbiguousWords(Worker* w, uintptr_t lo, uintptr_t hi);

  // A VisitFn that marks *slot; ctx is a Worker*.
  static void VisitSlot(void** slot, void* ctx) {
    auto* w = static_cast<Worker*>(ctx);
    w->marker->MarkValue(w, LoadSlot(slot));
  }
  // The weak-slot visitor of a Worker (gc_trace_weak from a trace
  // callback): records the slot if its target is not strongly marked.
  static void VisitWeak(TraceVisitor* v, void** slot, uint8_t kind) {
    auto* w = static_cast<Worker*>(v);
    w->marker->RecordWeakSlot(w, slot, kind);
  }
  void RecordWeakSlot(Worker* w, void** slot, uint8_t kind);
  // The weak-callback visitor of a Worker (gc_trace_weak_callback from a
  // trace callback): registers fn(data) for this cycle's weak callbacks.
  static void VisitWeakCallback(TraceVisitor* v, void (*fn)(gc_heap*, void*),
                                void* data) {
    auto* w = static_cast<Worker*>(v);
    if (w->marker->weak_ != nullptr) {
      w->marker->weak_->callbacks().AddForCycle(fn, data);
    }
  }
  // Slots are read with acquire loads: during a concurrent mark a mutator
  // may store into them (gc_write_barrier stores with release, so the
  // stored object's initialization is visible to the marker).
  static uintptr_t LoadSlot(void** slot) {
    return reinterpret_cast<uintptr_t>(__atomic_load_n(slot, __ATOMIC_ACQUIRE));
  }

  // Calls visit(slot) for every pointer slot of the object at base (span s,
  // slot index idx) within [lo, hi) (offsets from base).
  template <typename F>
  void ForEachPointerSlot(MSpan* s, size_t idx, uintptr_t base, size_t lo,
                          size_t hi, F visit) const;

  size_t ObjectBytes(MSpan* s) const {
    return s->is_large() ? s->limit - s->start : s->elemsize;
  }
  const TypeInfo* TypeOf(MSpan* s, size_t idx) const {
    return types_->Get(s->ObjType(idx));
  }
  MHeap* heap() const { return heap_; }
  // Mark-bit races lost by every Worker so far (added when a Worker ends).
  uint64_t mark_races() const {
    return mark_races_.load(std::memory_order_relaxed);
  }
  WeakProcessor* weak() const { return weak_; }
  // The valid displacements of ambiguous data words (gc/conservative.h,
  // rule 5), or null: any interior pointer (the default). Set once, before
  // the first cycle.
  const Displacements* displacements() const { return displacements_; }
  void set_displacements(const Displacements* d) { displacements_ = d; }

 private:
  // Marks the values of the ephemerons waiting for r (its mark bit just
  // set; its span has a side record).
  void WakeWaiters(Worker* w, const ObjectRef& r);
  void ScanEphemeron(Worker* w, const ObjectRef& r);
  // Scans an object of a type with TypeInfo::special set.
  void ScanSpecial(Worker* w, const ObjectRef& r, const TypeInfo* t, size_t lo,
                   size_t hi);

  // The revive half of GreyObject: revive bit, then mark bit, unless the
  // object is marked or allocated black (MSpan::IsMarkedOrBlack).
  bool Revive(const ObjectRef& r);

  MHeap* heap_;
  std::atomic<uint64_t> mark_races_{0};
  const TypeTable* types_;
  uintptr_t tag_mask_;  // inverted: AND keeps the address bits
  WeakProcessor* weak_;
  const Displacements* displacements_ = nullptr;
  std::atomic<bool> revive_{false};
  std::atomic<bool> exclusive_{false};
  std::atomic<std::thread::id> exclusive_owner_{};  // SetExclusive's caller
};

GC_ALWAYS_INLINE void Marker::GreyObject(Worker* w, const ObjectRef& r) {
  if (!r.span->IsAllocated(r.index)) return;  // a stale or random word
  GreyAllocated(w, r);
}

GC_ALWAYS_INLINE void Marker::GreyAllocated(Worker* w, const ObjectRef& r) {
  MSpan* s = r.span;
  if (__builtin_expect(revive_.load(std::memory_order_relaxed), 0)) {
    if (!Revive(r)) return;
  } else if (exclusive_.load(std::memory_order_relaxed)) {
    GC_DCHECK(exclusive_owner_.load(std::memory_order_relaxed) ==
                  std::this_thread::get_id(),
              "a second thread marks while one marks with plain stores "
              "(Marker::SetExclusive)");
    if (!s->SetMarkedAlone(r.index)) return;
  } else if (!s->SetMarked(r.index, &w->mark_races)) {
    return;  // already grey or black
  }
  // Ephemerons waiting for this object as their key: the other half of the
  // Dekker pair of ScanEphemeron (mark bit set, then the referent bit read,
  // both sequentially consistent).
  if (__builtin_expect(s->gc_side.load(std::memory_order_seq_cst) != nullptr,
                       0)) {
    WakeWaiters(w, r);
  }
  w->marked_objects++;
  w->marked_bytes += s->elemsize;  // slot size; whole pages for large
  if (!NoScan(s->spanclass)) {
    // Scanning reads the object's type tag first: start fetching it (a
    // mono span's is in the span struct, read already).
    if (const uint16_t* t = s->obj_types.load(std::memory_order_relaxed)) {
      __builtin_prefetch(&t[r.index]);
    }
    w->gcw.Put(r.base);
  }
}

template <typename F>
void Marker::ForEachPointerSlot(MSpan* s, size_t idx, uintptr_t base, size_t lo,
                                size_t hi, F visit) const {
  const TypeInfo* t = TypeOf(s, idx);
  GC_CHECK(t != nullptr, "scan object without a registered type");
  // Fixed part.
  const size_t fixed_end = std::min(hi, t->size);
  for (size_t wi = 0; wi < t->ptrmap.size(); wi++) {
    uint64_t bits = t->ptrmap[wi];
    while (bits != 0) {
      size_t off = (wi * 64 + __builtin_ctzll(bits)) * 8;
      bits &= bits - 1;
      if (off >= fixed_end) break;
      if (off >= lo) visit(reinterpret_cast<void**>(base + off));
    }
  }
  // Repeated tail, up to the end of the slot (unused slot bytes are zero).
  if (t->elem_size == 0 || t->elem_ptrmap.empty() || hi <= t->size) return;
  const size_t from = std::max(lo, t->size);
  size_t e = (from - t->size) / t->elem_size;
  for (size_t ebase = t->size + e * t->elem_size; ebase < hi;
       ebase += t->elem_size) {
    for (size_t wi = 0; wi < t->elem_ptrmap.size(); wi++) {
      uint64_t bits = t->elem_ptrmap[wi];
      while (bits != 0) {
        size_t off = ebase + (wi * 64 + __builtin_ctzll(bits)) * 8;
        bits &= bits - 1;
        if (off + 8 > hi) break;
        if (off >= lo) visit(reinterpret_cast<void**>(base + off));
      }
    }
  }
}

}  // namespace gcheap

#endif  // GCHEAP_GC_MARK_H_
