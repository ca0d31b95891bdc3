// unbarriered.h: mostly-concurrent marking for mutators that store pointers
// with plain writes (no write barrier): the mostly-parallel design of Boehm,
// Demers and Shenker (PLDI 1991). Used by libgc.so.1 (runtime/boehm,
// docs/boehm.md, "Mostly-concurrent marking"), whose programs never call
// gc_write_barrier.
//
// The collector runs its concurrent cycle (docs/collector.md) with an
// UnbarrieredStores installed (Collector::SetUnbarrieredStores), which
// changes it in three places:
//   - the first pause, once the roots are taken and right before the world
//     restarts (no object has been scanned yet): BeginMark; the source
//     starts recording which pages are written from then on;
//   - every final-pause attempt (world stopped, after the barrier buffers
//     are flushed): the collector marks every heap root again (its precise
//     slots, scanners and conservative ranges), then RescanDirty reports,
//     through the PageRescanner, the pages written since BeginMark, and
//     every page of a scan span that was
//     not tracked (spans created during the mark: their objects were
//     allocated black and never scanned); the collector rescans the marked
//     objects that overlap each such page, and drains what that greyed in
//     the same pause, with every worker (the world is not restarted during
//     the mark after a rescan: that would mean re-arming the source);
//   - BeforeFirstPause (world running, right before the first pause) and
//     AfterMark (world running, right after mark termination) let a source
//     do its expensive work outside the pauses;
//   - the finalizer phase, if any, runs with the world stopped (the
//     decision reads marks that a store without a barrier could otherwise
//     change), and mark termination calls EndMark (world stopped, marks
//     final): the source stops recording.
//
// Invariant (what makes every reachable object black at mark termination):
// every pointer stored into an object after the marker scanned it lies on a
// page that the final pause's RescanDirty reports; every
// object allocated during the mark (black, never scanned) lies on a page
// reported at every final-pause attempt or tracked like the others. The
// argument is in docs/boehm.md.
#ifndef GCHEAP_GC_UNBARRIERED_H_
#define GCHEAP_GC_UNBARRIERED_H_

#include <cstdint>

#include "heap/mspan.h"

namespace gcheap {

// Given by the collector to RescanDirty.
class PageRescanner {
 public:
  // Rescans the marked objects of scan span s that overlap [lo, hi) (whole
  // small objects; a large object's words inside [lo, hi) only, with its
  // type's bitmaps): what they point to is greyed.
  virtual void RescanPages(MSpan* s, uintptr_t lo, uintptr_t hi) = 0;

 protected:
  ~PageRescanner() = default;
};

// The dirty-page source (runtime/boehm/dirty_pages.h implements it). All
// calls come from the collector's driver thread with the world stopped.
class UnbarrieredStores {
 public:
  virtual ~UnbarrieredStores() = default;
  // With the world running, right before the first pause (after the
  // driver swept what the last cycle left): a source may start recording
  // here, so that BeginMark only has to account for what changed since
  // (the mprotect source protects the heap's pages here, not in the pause).
  virtual void BeforeFirstPause() {}
  virtual void BeginMark() = 0;
  virtual void RescanDirty(PageRescanner& r) = 0;
  virtual void EndMark() = 0;
  // With the world running again after mark termination, before the
  // background sweeper is woken (the mprotect source unprotects here).
  virtual void AfterMark() {}
};

}  // namespace gcheap

#endif  // GCHEAP_GC_UNBARRIERED_H_
