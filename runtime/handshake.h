// handshake.h: the stop-the-world handshake between a heap's collector and
// its mutator threads (Go's stopTheWorld / startTheWorld, and the safepoint
// side of preemption), and the list of attached mutators it stops.
//
// One Handshake per heap. Each attached mutator (gc_mutator, runtime.h) has
// a state, a blocking depth and a poll word:
//
//                   EnterBlocking, depth 0 -> 1
//        +-------------------------------------------------+
//        |                                                 v
//    kRunning <------------------------------------- kBlocked
//     |    ^     LeaveBlocking, depth 1 -> 0:          (depth >= 1;
//     |    |     store kRunning, re-read the request;   nested Enter/Leave
//     |    |     if a stop is requested, Park           only count)
//     |    |
//     |    |  the world restarts: store kRunning, re-read the request;
//     |    |  still (again) requested: stay parked
//     v    |
//    kParked  <- a safepoint that saw kPollStop (Park), or a leave that
//                saw a stop requested
//
//   kRunning  the thread may touch the heap (it is between safepoints);
//   kBlocked  inside a blocking bracket (gc_enter_blocking, or the runtime
//             waiting for a collection or a lock on the thread's behalf):
//             counts as stopped, must not touch the heap;
//   kParked   waiting in Park for the world to restart: counts as stopped.
//
// Poll bits (gc_mutator::poll, the first word, read by the inline
// gc_safepoint with one relaxed load): kPollStop (a stop of the world wants
// this thread parked), kPollRefill (the mcache refilled a span since the
// last poll: check the GC trigger), kPollFlush (the ragged barrier: shade
// your own write-barrier buffer and clear the bit; a stopped-world flush of
// every buffer clears it too, so it is never left set after the pause that
// ends a mark, for a mutator that was blocked or did not poll in time).
//
// Stop the world (StopTheWorld, one stopper at a time: it holds list_mu_
// from the start of the stop until StartTheWorld, so the list of attached
// mutators cannot change during a pause):
//   store stw_requested := true (seq_cst); set kPollStop in every other
//   mutator's poll word; wait until no other mutator is kRunning (spin
//   briefly, then sleep on stopped_cv_).
// Restart (StartTheWorld): under world_mu_, clear kPollStop and store
// stw_requested := false; release list_mu_; wake the parked mutators.
//
// Why no mutator runs heap code while the world is stopped: every
// transition to kRunning (LeaveBlocking, and waking from a park) stores the
// state, then a fence, then reads stw_requested; the stopper stores
// stw_requested, then a fence, then reads the states (Dekker's pattern).
// With both fences full, one of the two reads sees the other side's
// store: if the mutator's read found no request, the stopper's read sees
// kRunning and waits for a safepoint; otherwise the mutator sees the
// request and parks before it touches the heap. The fences are
// asymmetric (as in userspace RCU): a blocking bracket is entered and left
// on every call a VM makes out of the heap (the Boehm layer: on every
// allocation), a stop is rare, so the stopper's fence is
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which makes every running
// thread of the process execute a full barrier, and the bracket's fence is
// only a compiler barrier (a mutator interrupted between its store and
// its read executes the barrier there; one not running has its store
// visible). Where membarrier is unavailable (or GCHEAP_NO_MEMBARRIER is
// set) both sides use a full fence. The park's wake-up keeps seq_cst
// accesses (it is slow anyway). The re-check after a park
// matters: a mutator woken by one restart may already have been counted as
// parked by the next stop's stopper (which reads the states without
// world_mu_ while it spins), so it must not run on without re-reading the
// request.
// A transition to kBlocked or kParked wakes a sleeping stopper: Park always
// notifies under world_mu_; EnterBlocking stores kBlocked, then a fence as
// above, then reads stw_requested and notifies under world_mu_ if it is set (a
// stopper that read the state before the store stored its request first, so the
// read sees it; the stopper evaluates its predicate under world_mu_).
//
// Invariants (checked with GC_DCHECK in debug builds):
//   - only the owning thread writes a mutator's state and blocking depth;
//   - blocking depth > 0 exactly when the state is kBlocked (between the
//     owner's transitions);
//   - Park and the outermost EnterBlocking start in kRunning; a leave
//     without an enter never reaches here (the API aborts on it);
//   - a mutator that stored kRunning and then found no stop requested
//     (leaving a bracket, or waking from a park) never finds the world
//     stopped: the seq_cst argument above, checked after each such read;
//   - while the world is stopped (StopTheWorld returned, StartTheWorld not
//     yet called): stw_requested is set, every mutator but the stopper's
//     own has kPollStop set and is not kRunning, the mutator list does not
//     change, and the stopper's own mutator (if any) is kBlocked;
//   - one stop at a time.
// Process exit (runtime/process.h): once exit has begun, no stop of the
// world completes. A stopper that has not yet seen every mutator stopped
// withdraws its request (so no mutator stays parked and list_mu_ is free
// for the exiting thread's own detach) and then waits until the process is
// gone; a stop requested later waits at once. So no root scanner, which
// runs only with the world stopped, is called after exit has begun.
#ifndef GCHEAP_RUNTIME_HANDSHAKE_H_
#define GCHEAP_RUNTIME_HANDSHAKE_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "absl/functional/function_ref.h"

struct gc_mutator;

namespace gcheap {

inline constexpr uint32_t kPollStop = 1;
inline constexpr uint32_t kPollRefill = 2;
inline constexpr uint32_t kPollFlush = 4;

enum MutatorState : int { kRunning = 0, kBlocked = 1, kParked = 2 };

class Handshake {
 public:
  // The first one registers the process for membarrier (handshake.h).
  Handshake();
  Handshake(const Handshake&) = delete;
  Handshake& operator=(const Handshake&) = delete;

  // ---- the attached mutators ----------------------------------------------
  // Locks the mutator list for attach and detach bookkeeping; waits out a
  // stopped world (the stopper holds the lock for the whole stop). The
  // caller must count as stopped while it waits (not kRunning).
  std::unique_lock<std::mutex> LockList() {
    return std::unique_lock<std::mutex>(list_mu_);
  }
  std::unique_lock<std::mutex> LockList(std::try_to_lock_t t) {
    return std::unique_lock<std::mutex>(list_mu_, t);
  }
  // Add and Remove need the lock LockList returned.
  void Add(gc_mutator* m, const std::unique_lock<std::mutex>& held);
  void Remove(gc_mutator* m, const std::unique_lock<std::mutex>& held);
  size_t attached();
  // The same, for the holder of the lock LockList returned.
  size_t attached(const std::unique_lock<std::mutex>& held) const {
    return mutators_.size();
  }

  // ---- the mutator's side (its owning thread) -----------------------------
  // Parks m until no stop is requested. m is kRunning. Returns at once on
  // the thread that began process exit.
  void Park(gc_mutator* m);
  // A blocking bracket: the mutator counts as stopped in between. Brackets
  // nest: only the outermost Enter and Leave change the state. A Leave
  // whose Enter is missing is a bug the caller rejects. LeaveBlocking
  // returns true when the outermost bracket ended while a stop is
  // requested: the caller must then Park before it touches the heap (the
  // runtime parks through gc_heap::Park, which also counts the thread as
  // stopped in its other heaps).
  void EnterBlocking(gc_mutator* m);
  [[nodiscard]] bool LeaveBlocking(gc_mutator* m);
  // Whether the stopper orders the handshake with membarrier (so a
  // bracket's transitions cost no fence), for tests and statistics.
  static bool AsymmetricFence();
  // True while a stop of the world is requested or in force. Any thread.
  bool StopRequested() const {
    return stw_requested_.load(std::memory_order_relaxed);
  }

  // ---- the stopper's side ---------------------------------------------------
  // Returns when every attached mutator but `self` (the calling thread's
  // own mutator of this heap, kBlocked, or null) is stopped. Never returns
  // once process exit has begun.
  void StopTheWorld(gc_mutator* self);
  // Restarts the world; returns the steady-clock time (ns) at which the
  // mutators were released.
  int64_t StartTheWorld();
  // Calls f for every attached mutator. World stopped.
  void ForEachMutator(absl::FunctionRef<void(gc_mutator*)> f);
  // Go's forEachP without a stop: sets `bit` in every attached mutator's
  // poll word and waits up to 1 ms until each running one has cleared it
  // at a safepoint (blocked and parked mutators are not waited for).
  void RaggedHandshake(uint32_t bit);
  // Attached mutators not inside a blocking bracket (running, or parked
  // for a stop that is ending). A snapshot; any thread.
  int RunningMutators();

  // ---- fork (runtime/process.cc) ------------------------------------------
  // PrepareFork stops the world for the fork (self: the forking thread's
  // mutator of this heap, kBlocked, or null) and also holds world_mu_, so
  // no thread holds either lock or waits in Park half-way at the fork.
  void PrepareFork(gc_mutator* self);
  // Releases world_mu_ and restarts the world.
  void AfterForkParent();
  // In the child: every thread but the forking one is gone. Resets the
  // condition variables (their waiters are gone), withdraws the stop,
  // removes from the list and returns the mutators of the threads that
  // no longer exist (all but self; the caller recycles them), and releases
  // the locks.
  std::vector<gc_mutator*> AfterForkChild(gc_mutator* self);

  // Wakes a stopper waiting for the mutators, so it sees that process exit
  // has begun; returns once no stop of this heap is in force (a pause that
  // already completed has ended). Called by the process-exit handler.
  void OnExitBegun();

 private:
  // Once exit has begun, a stopper waits here until the process is gone;
  // one that holds list_mu_ first withdraws its request.
  [[noreturn]] void WaitForProcessEnd();
  [[noreturn]] void WithdrawAndWaitForProcessEnd();
  bool AllStopped(const gc_mutator* self) const;
  // Ends a stop, or withdraws one that never completed: clears the request
  // and the stop bits, releases list_mu_, wakes the parked mutators, and
  // returns the time at which they were released.
  int64_t Release();
  // Debug check after a transition to kRunning that found no request.
  void CheckResumed() const;

  std::mutex list_mu_;  // held by the stopper from stop to restart
  std::vector<gc_mutator*> mutators_;  // attached
  std::atomic<bool> stw_requested_{false};
  std::mutex world_mu_;
  std::condition_variable world_cv_;    // parked mutators wait for restart
  std::condition_variable stopped_cv_;  // the stopper waits for stops
  gc_mutator* stopper_self_ = nullptr;  // the stopper's own mutator, if any
  std::atomic<bool> stopped_{false};    // the world is stopped (checks)
};

}  // namespace gcheap

#endif  // GCHEAP_RUNTIME_HANDSHAKE_H_
