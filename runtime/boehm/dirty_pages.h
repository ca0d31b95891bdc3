// dirty_pages.h: where libgc.so.1's mostly-concurrent marking learns which
// heap pages the program wrote while the collector marked (gc/unbarriered.h
// is the collector's side; docs/boehm.md, "Mostly-concurrent marking", the
// argument).
//
// Two sources behind one interface (PageTracker, a UnbarrieredStores):
//   - soft-dirty: the kernel's soft-dirty bits. BeginMark writes "4" to
//     /proc/self/clear_refs (every page of the process clean and
//     write-protected in the page tables); the final pause reads bit 55 of
//     the /proc/self/pagemap entry of every page of the tracked spans, in
//     batches (pread). No signal handler, no mprotect, and system calls
//     that write into the heap work as before.
//   - mprotect: BeforeFirstPause (world running) write-protects the pages
//     of every scan span (mprotect PROT_READ, one call per run of adjacent
//     spans); BeginMark (in the pause) leaves
//     what was written since and the spans created since writable with
//     their bits set, reported dirty (the first precleaning round re-arms
//     them, world running, or the final pause rescans them: no mprotect
//     in the pause for them), and unprotects the pages of spans freed
//     since; a SIGSEGV handler records a faulting page of a tracked
//     range as dirty and makes it writable again (Boehm's MPROTECT_VDB);
//     EndMark stops recording and AfterMark (world running) unprotects
//     everything (one call per group of ranges whose gaps lie in their
//     neighbours' commit granules: committed heap memory, never
//     decommitted, writable already). Faults that are not ours go to the handler the program
//     had before. Known limit: a system call that writes into a protected
//     page (read(2) into a GC_malloc'd buffer, for instance) fails with
//     EFAULT instead of faulting in user space, which is why soft-dirty is
//     preferred where the kernel has it.
// The choice (GC_GCHEAP_DIRTY_PAGES): "auto" (the default) is none:
// stop-the-world marking, kept while the fix of mostly-concurrent
// marking's deadlock (a thread inside gcheap holding the heap lock stopped
// by the signal; docs/boehm.md) is new; "soft-dirty" is
// soft-dirty if a probe shows the bits work (write a page, clear, check
// bit 55 clear, write, check it set), else none with a warning;
// "mprotect" forces the mprotect source; "none" (or "stw") forces
// stop-the-world.
//
// Tracked spans: the in-use scan spans (not noscan) at BeginMark, merged
// into ranges of adjacent pages, and those a precleaning round added.
// Spans created during the mark and not added by a round are not tracked;
// every final pause reports all of their pages (their objects were
// allocated black and never scanned: a pointer stored into one must be
// found all the same). Spans are never freed while marking (nothing is
// swept), so the tracked set stays valid until EndMark (the rescan skips a
// span no longer in use all the same).
//
// Precleaning (Preclean, world running, mprotect only; soft-dirty's re-arm
// clears the whole process and cannot be done race-free while the program
// runs, so it reports nothing): each round adds the spans created since
// to the tracked set (tables first, with clear bits, then protected) and
// re-arms every page written since it was last armed (protected, then its
// bit cleared, with the handlers held off), and only then reports those
// pages for rescanning; a store made before the re-arm is read by that
// rescan, one made after it is recorded (docs/boehm.md, "Precleaning").
//
// Why that is enough (docs/boehm.md gives the whole argument): an object
// reachable at the final pause but unmarked would have a marked
// predecessor P on its path whose pointer to it the marker never read; the
// final pause marks every root again, so P is an object, and the store of
// that pointer into P came after P was scanned (P existed at BeginMark) or
// after P's allocation (P allocated black during the mark): after
// BeginMark either way, so P's page is reported (a tracked page written
// since BeginMark, or a page of a span created since) and P is rescanned.
// Weak links and finalizers are decided in the same pause, marks final.
//
// Invariants:
//  - BeginMark, RescanDirty and EndMark run on the collector's driver
//    thread with the world stopped (every Boehm thread suspended by signal
//    or parked by gcheap); BeforeFirstPause, Preclean and AfterMark on the
//    same thread with the world running;
//  - the mprotect tables (ranges, dirty bitmap) change only inside
//    StartRebuild/EndRebuild, and a handler that faults meanwhile waits
//    for EndRebuild; the handler blocks every signal, so no thread is
//    suspended inside it;
//  - mprotect, between BeginMark and EndMark: a tracked page is writable
//    only if its bit is set or its range counts as written whole (the
//    handler sets the bit before it unprotects; a round protects before it
//    clears, with the handlers held off), except a page of a range a round
//    is adding, between its entry in the tables and its protection (the
//    round's rescan comes after);
//  - between BeginMark and EndMark, a write to a tracked page makes the
//    next Preclean or RescanDirty report it (soft-dirty: the kernel sets the
//    bit; mprotect: every tracked page is protected with its bit clear, or
//    has its bit set, when BeginMark returns; a write to a protected page
//    faults, and the handler sets the bit
//    before it unprotects the page; if mprotect fails, e.g. out of VMAs,
//    the whole range is unprotected and reported).
#ifndef GCHEAP_RUNTIME_BOEHM_DIRTY_PAGES_H_
#define GCHEAP_RUNTIME_BOEHM_DIRTY_PAGES_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gc/unbarriered.h"
#include "heap/mheap.h"

namespace gcheap::boehm {

enum class DirtySource { kNone, kSoftDirty, kMprotect };

// "none", "soft-dirty", "mprotect".
const char* DirtySourceName(DirtySource s);

// True if the kernel's soft-dirty bits track writes in this process: a
// probe page written after clear_refs "4" shows bit 55 in its pagemap
// entry, and shows it clear right after the clear.
bool SoftDirtyWorks();

// The source for GC_GCHEAP_DIRTY_PAGES = env (null: "auto"). Sets *warning
// when the request cannot be honoured (unknown value, soft-dirty asked for
// but the probe failed).
DirtySource ChooseDirtySource(const char* env, std::string* warning);

// Counts of the last completed mark (driver thread).
struct DirtyStats {
  uint64_t tracked_pages = 0;    // pages of the tracked spans (OS pages)
  uint64_t dirty_pages = 0;      // reported dirty, all final pauses
  uint64_t untracked_pages = 0;  // of spans created during the mark
  uint64_t rescans = 0;          // RescanDirty calls (final pauses)
  // Precleaning (world running, before the final pause; mprotect only):
  // rounds, tracked pages re-armed and rescanned, pages of new spans
  // tracked and rescanned, and the time spent in Preclean.
  uint64_t preclean_rounds = 0, preclean_pages = 0, preclean_new_pages = 0;
  uint64_t preclean_ns = 0;
  // Time inside the pauses: BeginMark (arming), RescanDirty
  // (reading the dirty set and rescanning), EndMark (disarming).
  uint64_t arm_ns = 0, rescan_ns = 0, disarm_ns = 0;
};

// The tracker: the tracked spans and ranges, and what RescanDirty does with
// the dirty runs a source reports.
class PageTracker : public UnbarrieredStores {
 public:
  explicit PageTracker(MHeap* heap);
  ~PageTracker() override;

  void BeginMark() override;
  // World running (gc/unbarriered.h): the spans created since they were
  // last looked at are collected (heap lock) and turned into new ranges;
  // Rearm re-arms the dirty pages and starts tracking the new ranges; only
  // then are both rescanned through r. 0 when !CanPreclean().
  uint64_t Preclean(PageRescanner& r) override;
  void RescanDirty(PageRescanner& r) override;
  void EndMark() override;
  // Testing: called at the end of every Preclean round, once the round's
  // pages were rescanned (a store made here lands on a precleaned page).
  void set_preclean_hook(std::function<void()> h) {
    preclean_hook_ = std::move(h);
  }
  // Precleaning off (GC_GCHEAP_PRECLEAN=0): Preclean reports nothing, the
  // final pause rescans everything written during the mark. Before the
  // first cycle.
  void disable_preclean() { preclean_off_ = true; }

  virtual DirtySource source() const = 0;
  // The last completed mark's counts, and the sums over all of them.
  const DirtyStats& stats() const { return stats_; }
  const DirtyStats& totals() const { return totals_; }

 protected:
  struct Range {
    uintptr_t lo, hi;  // OS-page aligned
    size_t first_bit;  // of its pages in the dirty bitmap (mprotect)
  };
  // Start recording writes to ranges_ (BeginMark).
  virtual void Arm() = 0;
  // Calls f(lo, hi) for each run of dirty pages of ranges_ since Arm.
  virtual void ForEachDirtyRun(
      const std::function<void(uintptr_t, uintptr_t)>& f) = 0;
  // Stop recording (EndMark).
  virtual void Disarm() = 0;
  // Whether the source can re-arm pages while the world runs (Preclean).
  virtual bool CanPreclean() const { return false; }
  // World running (Preclean): re-arm every page of ranges_ written since
  // it was last armed, appending its runs to *runs, and merge `added`
  // (new ranges, first_bit set) into ranges_, tracked from the return on.
  // When it returns, a write to any of these pages is recorded.
  virtual void Rearm(const std::vector<Range>& added,
                     std::vector<std::pair<uintptr_t, uintptr_t>>* runs) {
    (void)added;
    (void)runs;
  }

  MHeap* const heap_;
  // From BeforeFirstPause to EndMark no span is freed but
  // by a sweep (the collector's MHeap::SpanHold, gc/unbarriered.h): the
  // empty spans kept for reuse would otherwise go back to the page heap
  // when the heap grows, also during the mark, and a span made on their
  // pages would overlap a tracked range (ranges_ must stay disjoint for
  // the fault handler's search), and the rescans would read freed span
  // bitmaps. Only the sweeps before the first pause free spans; BeginMark
  // accounts for them.
  std::vector<Range> ranges_;  // sorted, disjoint
  size_t nbits_ = 0;           // pages (bits) of ranges_
  size_t page_size_;

 private:
  struct TrackedSpan {
    uintptr_t lo, hi;  // the span's pages
    MSpan* span;
  };
  void RescanRun(PageRescanner& r, uintptr_t lo, uintptr_t hi);
  // The in-use scan spans not in spans_ (heap lock), into scratch_, sorted.
  void CollectUntracked();
  std::vector<TrackedSpan> spans_;  // sorted by lo
  std::vector<MSpan*> scratch_;
  std::vector<Range> added_;
  std::vector<std::pair<uintptr_t, uintptr_t>> runs_;
  std::function<void()> preclean_hook_;
  bool preclean_off_ = false;
  DirtyStats stats_, current_, totals_;
};

// The source for s (s != kNone). Installs the SIGSEGV handler for
// kMprotect (once per process); at most one mprotect tracker exists at a
// time (its destructor unregisters it).
std::unique_ptr<PageTracker> NewPageTracker(DirtySource s, MHeap* heap);

}  // namespace gcheap::boehm

#endif  // GCHEAP_RUNTIME_BOEHM_DIRTY_PAGES_H_
