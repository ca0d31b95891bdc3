// thread_roots.h: each mutator's own roots and the per-thread snapshot of
// them (docs/collector.md, "The per-thread root snapshot").
//
// A mutator's own roots are its stack and registers (with
// gc_config.conservative_stacks; gc/stack_scan.h), its handles
// (runtime/handles.h) and its mutator root scanners. The collector does not
// scan them in the first pause. Instead, every mutator's roots are scanned
// once per cycle, as they were in the first pause:
//   - a mutator parked at a safepoint in the first pause scans its own
//     roots when it wakes, on its own processor, before it returns to its
//     code (gc_heap::Park);
//   - one inside a blocking region is scanned by the collector (a mark
//     worker or the driver claims it) while it stays blocked; leaving the
//     region first completes that scan (the mutator claims it and scans
//     itself) or waits for the collector's;
//   - when marking has nothing else to do, the collector claims whatever is
//     still pending (a mutator that has not yet been scheduled since the
//     pause), so termination never waits for a thread to get a processor;
//   - mark termination requires every scan done (ThreadRootScansDone).
// In stop-the-world mode the same scans happen inside the pause, claimed by
// the mark workers.
//
// The snapshot word (ThreadRoots::scan) is gen << 2 | state, gen counting
// the heap's first pauses (ThreadRootScans):
//   kDone     nothing to scan for cycle gen (scanned, or nothing there);
//   kPending  the first pause of cycle gen found roots to scan;
//   kClaimed  a thread is scanning them.
// Transitions: the first pause (world stopped, list locked) stores
// gen|kPending for every attached mutator that has roots of its own
// (conservative stacks, a handle, a scanner) and gen|kDone for the others;
// a claim is a compare-and-swap gen|kPending -> gen|kClaimed; the claimer
// scans, puts its grey objects into the pool, then stores gen|kDone
// (release), decrements the heap's count of scans left and wakes the owner
// if it waits; attach stores gen|kDone.
//
// Invariants (checked in debug builds):
//   - the owner never runs its own code while its word is kPending or
//     kClaimed: it reads the word after every transition back to running
//     (waking from a park, leaving a blocking region: both after the
//     handshake's seq_cst re-check, which orders the read after the pause
//     that wrote the word), and claims it or waits;
//   - the owner writes its context, handles and scanners only while
//     running, so never while a claimer reads them: a word becomes pending
//     only while the owner is stopped, and the owner resumes only once it
//     is done. (Leaving a blocking region into a park therefore keeps the
//     context captured at the region's entry.)
//   - a mutator detaches only with its word done (it finishes the scan
//     under the list lock, which every first pause holds);
//   - mark termination finds every word of the cycle done.
#ifndef GCHEAP_RUNTIME_THREAD_ROOTS_H_
#define GCHEAP_RUNTIME_THREAD_ROOTS_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "gc/roots.h"
#include "gc/stack_scan.h"

struct gc_mutator;
struct gc_heap;

namespace gcheap {

// Per mutator (gc_mutator::roots).
struct ThreadRoots {
  static constexpr uint64_t kDone = 0;
  static constexpr uint64_t kPending = 1;
  static constexpr uint64_t kClaimed = 2;
  static constexpr uint64_t kStateMask = 3;

  struct Scanner {
    RootScannerFn fn;
    void* data;
  };

  std::atomic<uint64_t> scan{0};  // the snapshot word
  // Conservative stacks: the thread's stack (found at attach), ASan's fake
  // stack, and the last capture (each park and blocking entry).
  // Also while `capture` is set (EnableEmbedderCapture, below).
  StackBounds stack;
  void* fake_stack = nullptr;
  StackContext context;
  // Mutator root scanners; changed by the owner only.
  std::vector<Scanner> scanners;
  // Set (EnableEmbedderCapture's owner) only while the owner counts as
  // running: its stops capture `context` whatever the heap's
  // conservative_stacks.
  std::atomic<bool> capture{false};
  // Statistics: scans of this mutator's roots by itself and by collector
  // threads, and the time they took (tools/stack_scan_bench).
  std::atomic<uint64_t> self_scans{0};
  std::atomic<uint64_t> self_scan_ns{0};
  std::atomic<uint64_t> collector_scans{0};
  std::atomic<uint64_t> collector_scan_ns{0};
};

// Reports m's own roots to v: its stack (conservative stacks), handles and
// mutator scanners. m must not be running its own code.
void ScanThreadRoots(gc_mutator* m, RootVisitor& v);

// Captures m's stack context (conservative stacks, or m->roots.capture
// set). The owner, while running, as it stops.
void CaptureThreadContext(gc_mutator* m);

// For an embedder that stops its threads itself while gcheap counts them
// as blocked (libgc.so.1's signal stop, runtime/boehm/threads.cc): such a
// thread may be inside gcheap's own blocking brackets (gc_collect waiting
// for its cycle, finishing the sweep, scavenging) holding gcheap's locks,
// where stopping it would deadlock the pause that needs them. While the
// owner keeps m->roots.capture set, every stop of m (a blocking entry at
// depth 0, a park at a safepoint) captures its stack context as
// conservative stacks do, so the embedder can leave such a thread running
// and scan it from that capture (ScanStack with m->roots.context, stack
// and fake_stack); gcheap's handshake keeps it from leaving a bracket while
// the world is stopped. This records m's stack (cold end `hi`, the owner's
// current stack) for the captures; the owner, once, while running.
void EnableEmbedderCapture(gc_mutator* m, uintptr_t hi);

// The owner, about to run its own code again (or to detach): if its
// snapshot is pending, scans it (on this thread); if a collector thread is
// scanning it, waits for that.
void FinishThreadRootScan(gc_mutator* m);

// Whether m's snapshot of the current cycle is still to be scanned. Any
// thread (a hint; exact on the owner after a transition to running).
bool ThreadRootScanPending(const gc_mutator* m);

// The heap's side: the World's per-thread snapshot methods (runtime.h's
// HeapWorld forwards to it).
class ThreadRootScans {
 public:
  explicit ThreadRootScans(gc_heap* h) : h_(h) {}
  // World stopped (pause 1).
  void Begin();
  void ScanPending(bool blocked_only, RootVisitor& v);
  bool Done() const { return left_.load(std::memory_order_acquire) == 0; }
  // World stopped (mark termination).
  void End();
  void ForEachRoot(RootVisitor& v);
  // The word a mutator attaching now starts with. Under the list lock.
  uint64_t done_word() const { return gen_ << 2 | ThreadRoots::kDone; }

  // The claimer's side of a scan. v: the claimer's marking visitor, or
  // null for the owner (its own worker, through the collector).
  void ScanClaimed(gc_mutator* m, uint64_t claimed_word, RootVisitor* v);
  // The owner waits until a collector thread's scan of it is done.
  void WaitDone(gc_mutator* m);

 private:
  gc_heap* const h_;
  uint64_t gen_ = 0;  // first pauses so far (written in pauses)
  // The mutators pending at the last first pause (written in the pause,
  // read by claimers until mark termination).
  std::vector<gc_mutator*> list_;
  std::atomic<size_t> left_{0};  // scans not yet done
  std::mutex mu_;                // for owners waiting for a claimer
  std::condition_variable done_cv_;
};

}  // namespace gcheap

#endif  // GCHEAP_RUNTIME_THREAD_ROOTS_H_
