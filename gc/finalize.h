// finalize.h: finalization (Boehm's GC_finalize, Go's SetFinalizer, Guile's
// and Whippet's guardians, Go's AddCleanup): the registrations, the
// decision of which unreachable registered objects are ready, and the
// queues that hand them back.
//
// Registrations: a sharded map from an object's base address to its one
// registration, a finalizer (fn, data) or a guardian, with a mode:
//   ordered      (Go, Boehm's default) if A reaches B and both are
//                unreachable, A is finalized first, B in a later cycle;
//                cycles of ordered objects are never finalized;
//   unordered    (Boehm's _no_order, Java) does not hold others back;
//   ignore-self  ordered, but the object's own pointers to itself do not
//                count (Boehm's _ignore_self);
//   unreachable  ordered, and also held back while any object made ready
//                in the same cycle (an unordered one included) reaches it
//                (Boehm's _unreachable).
// A second registration replaces the first; registering NULL removes it.
//
// The decision, when strong marking is complete (the collector's
// kMarkFinalizers phase, marker in revive mode; Boehm's order):
//   1. candidates: registered objects that are not marked (unreachable);
//   2. pass 1: for every ordered or ignore-self candidate, mark what it
//      points to (not itself; ignore-self skips its own direct pointers to
//      itself) and drain; unordered candidates mark nothing;
//   3. the candidates still unmarked are ready: each registration is
//      removed, the object queued (a finalizer on the ready queue, a
//      guardian's object on that guardian's queue) and marked with what it
//      reaches; unreachable-mode candidates are decided after that
//      marking, so one that a ready object reaches waits too. So an unordered
//      candidate that an ordered candidate reaches waits for a later cycle (an
//      ordered finalizer never sees a finalized object), and unordered ones
//      never hold each other back. A candidate scanned in pass 1 whose
//      registration went meanwhile is marked too (pass 1 may have recorded weak
//      slots in it).
// Everything marked in this phase is revived, not strongly marked: weak
// references handle that (gc/weak.h).
//
// Queues: the ready queue of finalizers (object, fn, data) and the
// guardians' queues are roots (a root scanner, ScanRoots) until an entry
// has run or been popped; the cleanup queue (Go's AddCleanup, queued by the
// sweep when a cleanup's object is freed: gc/specials.h) holds no object.
// Entries are run by RunOne (the embedder's gc_run_finalizers or the heap's
// finalizer thread); a running finalizer's entry stays a root until it
// returns. Ready work wakes WaitForWork and, through Notify, the
// embedder's notifier.
//
// Held back until the clearing point: the entries a decision queues are
// not run, popped or counted as pending until the collector releases them
// at mark termination (ReleaseDecided, in pause B). The decision runs in
// the finalizer phase, with the mutators running when the cycle is
// concurrent; an object handed back then would be strongly held again
// before the cycle's clearing point while it still carries its revive bit,
// and a short reference the program made to it (a handle, a weak slot
// store) would read NULL and be cleared by the sweep as one made before
// the clearing point (gc/weak.h). Released in pause B, every object comes
// back in the sweep phase, where such a reference settles its target first
// (WeakProcessor::SettleRevived). Held entries are the last ones of each
// queue (a decision appends; runs and pops take from anywhere before them).
//
// Locks: each registration shard has a mutex; guardians_mu_ guards the
// guardian list and is taken before shard locks (the decision's queueing,
// a guardian's destruction); queue_mu_ guards the ready and cleanup
// queues; a guardian's own mutex its queue. No lock is held while an
// embedder callback runs.
#ifndef GCHEAP_GC_FINALIZE_H_
#define GCHEAP_GC_FINALIZE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gc/specials.h"
#include "gc/typeinfo.h"
#include "heap/mheap.h"

namespace gcheap {

inline constexpr uint8_t kFinalizeOrdered = 0;      // GC_FINALIZE_ORDERED
inline constexpr uint8_t kFinalizeUnordered = 1;    // GC_FINALIZE_UNORDERED
inline constexpr uint8_t kFinalizeIgnoreSelf = 2;   // GC_FINALIZE_IGNORE_SELF
inline constexpr uint8_t kFinalizeUnreachable = 3;  // GC_FINALIZE_UNREACHABLE

// A guardian: a queue of objects handed back by finalization.
struct Guardian {
  std::mutex mu;
  std::deque<uintptr_t> queue;  // roots until popped
  size_t held = 0;  // entries at its back not yet released (ReleaseDecided)
};

// One registration (the embedder's fn and data are opaque here).
struct Registration {
  uintptr_t obj = 0;  // the pointer given (what the callback gets back)
  void (*fn)() = nullptr;
  void* data = nullptr;
  Guardian* guardian = nullptr;  // instead of fn
  uint8_t mode = kFinalizeOrdered;
  uint64_t serial = 0;
};

// A ready finalizer (on the ready queue until it has run).
struct ReadyFinalizer {
  uintptr_t obj;  // a root slot while queued or running
  void (*fn)();
  void* data;
  bool running = false;
  bool held = true;  // queued by a decision, not released yet
};

// What the decision needs from the collector's marker (gc/mark.h), so this
// file does not depend on it.
class CandidateMarker {
 public:
  virtual ~CandidateMarker() = default;
  // Whether the object at base is marked.
  virtual bool Marked(uintptr_t base) = 0;
  // Pass 1: marks what the object at base points to (skip_self: not its
  // direct pointers to itself), not the object.
  virtual void MarkReferents(uintptr_t base, bool skip_self) = 0;
  // Marks the object (revived) and what it reaches.
  virtual void MarkObject(uintptr_t base) = 0;
  // Drains what the marking above greyed.
  virtual void Drain() = 0;
};

class Finalization {
 public:
  static constexpr size_t kShards = 64;

  Finalization() = default;
  ~Finalization();
  Finalization(const Finalization&) = delete;
  Finalization& operator=(const Finalization&) = delete;

  // ---- registrations (mutators) ----
  // Registers (or replaces) the registration of the object at base.
  void Register(uintptr_t base, const Registration& r);
  // Removes it; false if it had none.
  bool Unregister(uintptr_t base);
  // Whether the object at base has a registration now (a query: the
  // Boehm layer's GC_free reuses no object that has one).
  bool Registered(uintptr_t base);
  // Registrations now (the collector runs the finalizer phase only if any).
  bool HasRegistrations() const {
    return count_.load(std::memory_order_acquire) != 0;
  }
  size_t registrations() const {
    return count_.load(std::memory_order_relaxed);
  }

  // ---- guardians ----
  Guardian* NewGuardian();
  // Removes its registrations and drops its queue.
  void DestroyGuardian(Guardian* g);
  // The front of g's queue, or 0.
  uintptr_t Pop(Guardian* g);

  // ---- the decision (the collector's driver, finalizer phase) ----
  // Steps 1-3 above. Returns the number of objects made ready. They are
  // queued held back until ReleaseDecided.
  size_t Decide(CandidateMarker* m);
  // Releases what the decisions queued (mark termination, world stopped:
  // the cycle's clearing point is behind), and wakes the finalizer thread.
  void ReleaseDecided();

  // ---- queues ----
  // A cleanup whose object was freed (the sweep; any thread).
  void QueueCleanup(Cleanup* c);
  // Runs one queued finalizer or cleanup through run_fin(obj, fn, data) or
  // run_cleanup(fn, arg) (no lock held); false if none was queued.
  bool RunOne(const std::function<void(uintptr_t, void (*)(), void*)>& run_fin,
              const std::function<void(void (*)(), void*)>& run_cleanup);
  // Finalizers and cleanups queued and not yet started.
  size_t pending();
  // Waits until work is queued or stop() returns true (checked whenever
  // Wake is called). For the heap's finalizer thread.
  void WaitForWork(const std::function<bool()>& stop);
  void Wake();
  // Calls the notifier if work was queued since the last call (the driver
  // after a cycle, the background sweeper after a round). No lock held.
  void Notify();
  void SetNotifier(std::function<void()> fn);

  // In a forked child: the condition variable the parent's finalizer
  // thread waited on is reset (that thread does not exist here).
  void AfterForkChild();

  // A root scanner (RootScannerFn): the ready queue's and the guardians'
  // objects. data is the Finalization.
  static void ScanRoots(VisitFn visit, void* visit_ctx, void* data);

  // Totals since the heap was created.
  uint64_t queued_finalizers() const {
    return queued_fin_total_.load(std::memory_order_relaxed);
  }
  uint64_t ran() const { return ran_total_.load(std::memory_order_relaxed); }

 private:
  struct alignas(64) Shard {
    std::mutex mu;
    absl::flat_hash_map<uintptr_t, Registration> map;
  };
  Shard& ShardOf(uintptr_t base) {
    return shards_[((base >> 4) * 0x9e3779b97f4a7c15ull) >> 58];
  }
  struct Candidate {
    uintptr_t base;
    uint64_t serial;
    uint8_t mode;
  };

  Shard shards_[kShards];
  std::atomic<size_t> count_{0};
  std::atomic<uint64_t> next_serial_{1};

  std::mutex guardians_mu_;
  std::vector<Guardian*> guardians_;

  std::mutex queue_mu_;
  std::condition_variable work_cv_;
  std::list<ReadyFinalizer> ready_;  // stable addresses: root slots
  std::deque<Cleanup*> cleanups_;
  size_t ready_pending_ = 0;     // entries of ready_ neither held nor running
  size_t ready_held_ = 0;        // held entries of ready_ (all at its back)
  bool guardians_held_ = false;  // some guardian has held entries
  std::atomic<uint64_t> queued_since_notify_{0};
  std::mutex notifier_mu_;
  std::function<void()> notifier_;
  std::atomic<uint64_t> queued_fin_total_{0}, ran_total_{0};
};
static_assert(Finalization::kShards == 64, "ShardOf takes the top 6 bits");

}  // namespace gcheap

#endif  // GCHEAP_GC_FINALIZE_H_
