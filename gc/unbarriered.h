// unbarriered.h: mostly-concurrent marking for mutators that store pointers
// with plain writes (no write barrier): the mostly-parallel design of Boehm,
// Demers and Shenker (PLDI 1991). Used by libgc.so.1 (runtime/boehm,
// docs/boehm.md, "Mostly-concurrent marking"), whose programs never call
// gc_write_barrier.
//
// The collector runs its concurrent cycle (docs/collector.md) with an
// UnbarrieredStores installed (Collector::SetUnbarrieredStores), which
// changes it in these places:
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
//     the same pause (the driver alone first, for up to
//     Collector::kDrainAloneNs, then every worker; the world is not
//     restarted during
//     the mark after a rescan: that would mean re-arming the source);
//   - precleaning (world running, after the concurrent mark drained and
//     before the final pause): up to Collector::kMaxPrecleanRounds rounds
//     of Preclean (the source re-arms the pages written so far and starts
//     tracking the scan spans created so far, THEN reports those pages
//     through the PageRescanner, which greys what their marked objects
//     point to) each followed by a background drain; the rounds go on
//     while each finds markedly fewer pages than the one before, so that
//     the final pause rescans only what was written since the last round
//     (docs/boehm.md, "Precleaning"); a source that cannot re-arm while
//     the world runs (soft-dirty) reports nothing and the final pause does
//     it all;
//   - BeforeFirstPause (world running, right before the first pause) and
//     AfterMark (world running, right after mark termination) let a source
//     do its expensive work outside the pauses;
//   - from BeforeFirstPause to EndMark the collector holds
//     an MHeap::SpanHold: no span is freed but by a sweep (and nothing is
//     swept from the first pause on), so
//     a span a source listed or a page it reports stays the span it was
//     (the empty spans kept for reuse would otherwise go back to the page
//     heap when the heap grows, also during the mark, and a rescan would
//     read freed span bitmaps);
//   - the finalizer phase, if any, runs with the world stopped (the
//     decision reads marks that a store without a barrier could otherwise
//     change), and mark termination calls EndMark (world stopped, marks
//     final): the source stops recording.
//
// Invariant (what makes every reachable object black at mark termination):
// every pointer stored into an object after the marker scanned it lies on a
// page that the final pause's RescanDirty reports; every
// object allocated during the mark (black, never scanned) lies on a page
// reported at every final-pause attempt or tracked like the others.
// Precleaning keeps it: a page is re-armed (its later writes recorded
// again) BEFORE its marked objects are rescanned, so a store into it lands
// either before the rescan (which reads it) or after the re-arm (which
// records it for the next round or the final pause); a new span is tracked
// BEFORE its pages are rescanned, so that what is allocated black in it
// later is written under tracking. The argument is in docs/boehm.md.
#ifndef GCHEAP_GC_UNBARRIERED_H_
#define GCHEAP_GC_UNBARRIERED_H_

#include <cstdint>

#include "heap/mspan.h"

namespace gcheap {

// Given by the collector to RescanDirty (world stopped) and Preclean (world
// running).
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
// calls come from the collector's driver thread, with the world stopped
// unless said otherwise.
class UnbarrieredStores {
 public:
  virtual ~UnbarrieredStores() = default;
  // With the world running, right before the first pause (after the
  // driver swept what the last cycle left): a source may start recording
  // here, so that BeginMark only has to account for what changed since
  // (the mprotect source protects the heap's pages here, not in the pause).
  virtual void BeforeFirstPause() {}
  virtual void BeginMark() = 0;
  // With the world running, between BeginMark and the final pause: re-arm
  // the pages written since they were last armed and track the scan spans
  // created since BeginMark (or the last Preclean), so that from here on a
  // write to any of them is recorded; only then report those pages
  // through r (the collector rescans their marked objects and drains
  // concurrently). Returns the number of pages reported (OS pages); 0 for
  // a source that cannot re-arm while the world runs (the default).
  virtual uint64_t Preclean(PageRescanner& r) {
    (void)r;
    return 0;
  }
  virtual void RescanDirty(PageRescanner& r) = 0;
  virtual void EndMark() = 0;
  // With the world running again after mark termination, before the
  // background sweeper is woken (the mprotect source unprotects here).
  virtual void AfterMark() {}
};

}  // namespace gcheap

#endif  // GCHEAP_GC_UNBARRIERED_H_
