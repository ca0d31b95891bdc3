// weak.h: weak references at the collector's level: the records that let
// the sweep clear them (gc/specials.h, gc/referents.h), the sweep hook that
// clears them, and the rules a weak read follows in each phase so that it
// never returns an object the cycle then frees.
//
// Three kinds of weak word, all read and written atomically:
//   a weak handle's cell (WeakCell::target, off-heap; its record is in
//     SpecialsTable under the target),
//   a weak slot of a heap object (declared in its type; recorded in
//     ReferentTable when its holder is scanned and the target is not
//     strongly marked),
//   an ephemeron's key word (recorded in ReferentTable as a waiter when the
//     ephemeron is scanned and the key is unmarked).
// Short ones are cleared when the target is no longer strongly reachable
// (freed, or revived by finalization); long ones (and ephemeron keys) only
// when the target is freed.
//
// The sweep (BeforeSweep, the heap's SweepHook): for a span with a side
// record, before any of its bits change and before it is published as
// swept, every object that is freed or revived and has specials, and every
// object with referent records, is processed while the span's shard locks
// of both tables are held: cells of freed objects are cleared and
// unlinked, short cells of revived ones too, cleanups of freed objects are
// queued; weak slots that still hold a freed object (or, short ones, a
// revived one) are cleared by compare-and-swap from the word read at scan
// time to NULL (a store the mutator made since is kept); ephemerons whose
// key is freed are cleared (value, then key, to NULL: a reader that sees
// the key cleared sees the value cleared). Then the per-cycle
// bits are cleared and a side record left without specials is retired.
//
// The read (Read), by phase (WeakPhase, the collector's phase as a mutator
// sees it: it changes only while the world is stopped):
//   kMark: the word is returned and must be shaded (the caller puts it in
//     its write-barrier buffer, flushed before marking ends): the reader now
//     holds a strong reference, as if it had loaded a pointer field (Go's
//     makeStrongFromWeak). Every object a weak word names during marking
//     is allocated: the previous sweep cleared the words of freed ones.
//   kMarkFinalizers: strong marking is complete. A short read returns the
//     object only if it is strongly marked (mark bit set, revive bit clear:
//     the revive bit is set before the mark bit and both are read
//     sequentially consistently, mark first), else NULL; so all short reads
//     of an object agree. A long read returns it, to be shaded (in revive
//     mode: it may be revived anyway).
//   kSweep: if the heap is fully swept (MHeap::FullySwept, acquire), every
//     word that still names an object names a live one: return it. Else:
//     find the target's span in the page map without reading it, lock that
//     span's shard of the word's table (the lock the sweep takes before it
//     clears the word), and reload the word: if it changed, start again.
//     While the lock is held and the word still names the object, the
//     object's span is neither freed nor reused (a live object keeps it;
//     a dead one has a record the sweep must clear under this lock first).
//     If the span is swept, the sweep kept the object: return it. If it is
//     being swept (h-1), unlock, yield and start again. If it is unswept
//     (h-2), the mark bits are this cycle's: read the mark bit (and, short,
//     the revive bit) and re-read sweepgen (a seqlock: the sweeper's claim
//     h-2 -> h-1 is ordered before everything it writes); unchanged, the
//     object lives iff marked (and, short, not revived); changed, start
//     again.
// So no weak read returns an object the cycle frees; docs/collector.md
// gives the whole argument.
//
// Revived objects and references made after the clearing point. A short
// reference to an object the cycle revived is cleared at the cycle's
// clearing point (the end of the finalizer phase); the sweep only applies
// it lazily, and reads of unswept spans follow the revive bit. But the
// object lives on: once its finalizer ran, or its guardian handed it back,
// the program may hold it strongly again and make a new short reference to
// it (a handle, gc_weak_set, a weak slot store) before its span is swept.
// That reference was made after the clearing point and must not be
// cleared, nor read as NULL. So Link and StoreSlot, in kSweep, settle the
// target first (SettleRevived): the sweep's processing of that one object
// is done at once (every short reference made before is cleared, as the
// sweep would have), and its revive bit is cleared, so that the sweep and
// the reads treat it as strongly marked from then on. The revive bits are
// set only in kMarkFinalizers and cleared by the sweep, so a set revive bit
// seen under both shard locks means BeforeSweep has not processed the span
// (it clears them, under the same locks, before any other bit changes).
// Finalization hands nothing back in kMarkFinalizers (the decision's queue
// entries are released at mark termination, gc/finalize.h), so a program
// gets a revived object back from a pop or a finalizer only in kSweep.

#ifndef GCHEAP_GC_WEAK_H_
#define GCHEAP_GC_WEAK_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "gc/referents.h"
#include "gc/specials.h"
#include "gc/weak_callbacks.h"
#include "heap/mheap.h"

namespace gcheap {

// The collector's phase as weak reads see it.
enum class WeakPhase : uint8_t { kSweep, kMark, kMarkFinalizers };
// Which table records the word: a handle's cell (SpecialsTable), or a weak
// slot or ephemeron key (ReferentTable).
enum class WeakWord : uint8_t { kHandle, kSlot };

struct WeakRead {
  uintptr_t value = 0;
  bool shade = false;  // the caller must shade value (kMark, long reads in
                       // kMarkFinalizers)
};

// The built-in ephemeron object {key, value, next} (gc_ephemeron_new).
struct EphemeronObject {
  uintptr_t key;    // weak (a waiter is recorded under it)
  uintptr_t value;  // traced only while key is marked
  uintptr_t next;   // an ordinary strong field
};
inline constexpr size_t kEphemeronBytes = sizeof(EphemeronObject);

// Counts of what sweeps cleared (since the heap was created).
struct WeakCounts {
  uint64_t cells = 0;       // weak handles cleared
  uint64_t slots = 0;       // weak slots cleared
  uint64_t ephemerons = 0;  // ephemerons cleared (key freed)
  uint64_t cleanups = 0;    // cleanups queued
};

class WeakProcessor final : public SweepHook {
 public:
  WeakProcessor(MHeap* heap, uintptr_t tag_mask);
  // Frees every span's side record (the heap is being destroyed).
  ~WeakProcessor() override;
  WeakProcessor(const WeakProcessor&) = delete;
  WeakProcessor& operator=(const WeakProcessor&) = delete;

  SpanSides& sides() { return sides_; }
  SpecialsTable& specials() { return specials_; }
  ReferentTable& referents() { return referents_; }
  MHeap* heap() const { return heap_; }
  // The embedder's weak callbacks (gc/weak_callbacks.h).
  WeakCallbacks& callbacks() { return callbacks_; }

  // Where the cleanups of freed objects go (set once, before any sweep).
  void SetCleanupQueue(std::function<void(Cleanup*)> queue) {
    queue_cleanup_ = std::move(queue);
  }

  // The sweep hook (see above).
  void BeforeSweep(MSpan* s) override;
  // Every span has been swept and the world is stopped (sweep
  // termination): checks that no referent record is left, rewinds the
  // referent table and frees retired side records.
  void AfterSweepCycle();

  // value (its tag bits stripped) resolved to an object slot of an in-use
  // span (a span that is not being freed: the caller holds the object, or
  // no sweep runs).
  bool Resolve(uintptr_t value, ObjectRef* r) const;

  // ---- weak handles' cells ----
  // Points the unlinked cell c at value: 0, or a pointer into an allocated
  // object the caller holds (which keeps it alive). False (with
  // SetLastError) if value is not such an object or memory ran out.
  // phase: the collector's phase as the caller sees it; in kSweep the
  // target is settled first (SettleRevived).
  bool Link(WeakCell* c, uintptr_t value, WeakPhase phase);
  // Unlinks c and sets it to 0 (it may have been cleared by a sweep
  // meanwhile).
  void Unlink(WeakCell* c);

  // A weak read of the word at `word` (see above).
  WeakRead Read(const uintptr_t* word, WeakWord which, bool is_long,
                WeakPhase phase);
  // A store into a weak slot (gc_weak_store): in kSweep, settles value's
  // target first (SettleRevived); then a release store.
  void StoreSlot(uintptr_t* slot, uintptr_t value, WeakPhase phase);

  WeakCounts counts() const;

  // Whether r is strongly marked: Marked (its mark bit set, or allocated
  // black) and its revive bit clear (read in that order, sequentially
  // consistent: the revive bit is set before the mark bit).
  static bool StronglyMarked(const ObjectRef& r);
  // Whether r's mark bit is set (strongly marked or revived: it survives
  // the cycle), or r was allocated black and its mcache has not marked it
  // in bulk yet (MSpan::IsMarkedOrBlack). Exact once marking is over and
  // before the sweep cycle starts.
  static bool Marked(const ObjectRef& r);

 private:
  uintptr_t Strip(uintptr_t v) const { return v & tag_keep_; }
  // Processes the referent records of key, an object of span s that the
  // sweep frees, or keeps revived, or keeps (the caller holds the span's
  // referent shard lock).
  void SweepReferents(MSpan* s, uintptr_t key, bool freed, bool revived,
                      WeakCounts* n);
  // kSweep, not fully swept: the locked read.
  uintptr_t ReadSweeping(const uintptr_t* word, WeakWord which, bool is_long);
  // kSweep: a weak reference to value is being made. If value names an
  // object the last cycle revived, on a span not swept yet, the sweep's
  // weak processing of that one object is done now (its short cells and
  // short slots cleared, its revive bit cleared), under the span's shard
  // locks of both tables, as BeforeSweep would. (See "Revived objects and
  // references made after the clearing point" above.)
  void SettleRevived(uintptr_t value);

  MHeap* const heap_;
  const uintptr_t tag_keep_;  // inverted tag mask
  SpanSides sides_;
  SpecialsTable specials_{&sides_};
  ReferentTable referents_;
  std::function<void(Cleanup*)> queue_cleanup_;
  WeakCallbacks callbacks_;
  std::atomic<uint64_t> cleared_cells_{0}, cleared_slots_{0},
      cleared_ephemerons_{0}, queued_cleanups_{0};
};

}  // namespace gcheap

#endif  // GCHEAP_GC_WEAK_H_
