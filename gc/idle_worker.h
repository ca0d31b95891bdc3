// idle_worker.h: the idle-priority mark worker (Go's idle mark worker).
//
// During a concurrent mark, a processor that nothing else wants should
// mark. Two threads do it:
//   - the scout runs under SCHED_IDLE (nice 19 where that is refused), so
//     the kernel runs it only on a processor that would otherwise idle,
//     and any other thread that wakes takes the processor from it at once.
//     When it runs while the gate is open, a processor is spare: it asks
//     the marker for a slice and waits for it. It never holds grey objects.
//   - the marker, a thread of normal priority, marks one slice at a time
//     (at most kIdleSliceNs, less if it runs out of work) and hands back
//     every grey object it holds when the slice ends. It starts the next
//     slice itself, without asking the scout again, while its slices find
//     work and no other thread has preempted it since the scout's request
//     (getrusage's involuntary context switches): the processor is still
//     spare then, and a thread that wants it preempts the marker at its
//     wakeup, which ends the run at that slice's end.
// Marking is not done on the scout itself: a thread at idle priority can be
// kept off the processor for a long time on a busy machine, and one that
// held grey objects then would hold up mark termination for as long. (A
// thread cannot raise its own priority back without privilege, hence two
// threads rather than one switching policy.)
//
// The gate, an atomic state:
//   kClosed  --Open(slice)-->  kOpen  --marker, CAS-->  kMarking
//   kMarking --slice done-->   kOpen  --TryClose, CAS--> kClosed
// Invariants: the marker holds grey objects only in kMarking, and the gate
// goes back to kOpen between two slices run back to back; TryClose
// succeeds only from kOpen (or kClosed), after which no slice runs or
// starts until the next Open; the scout never holds grey objects. So mark
// termination waits for the idle worker only while its slices find work
// (a slice that starts with nothing to mark ends the run), and never for
// the idle-priority thread. A slice
// function stays valid from Open until TryClose has succeeded.
#ifndef GCHEAP_GC_IDLE_WORKER_H_
#define GCHEAP_GC_IDLE_WORKER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace gcheap {

// The longest slice the marker runs before it hands its work back.
inline constexpr int64_t kIdleSliceNs = 100'000;

class IdleMarkWorker {
 public:
  // One slice of marking: returns whether it found work. It must return
  // holding no grey object, within about kIdleSliceNs.
  using Slice = std::function<bool()>;

  IdleMarkWorker();
  ~IdleMarkWorker();
  IdleMarkWorker(const IdleMarkWorker&) = delete;
  IdleMarkWorker& operator=(const IdleMarkWorker&) = delete;

  // Opens the gate: the idle worker may run *slice whenever a processor is
  // spare. The gate must be closed.
  void Open(const Slice* slice);
  // Closes the gate unless a slice is running: true when closed (no slice
  // runs or will start before the next Open). Any thread.
  bool TryClose();
  bool closed() const { return gate_.load() == kClosed; }
  // Slices that ran (found work or not), over the worker's life.
  uint64_t slices() const { return slices_.load(std::memory_order_relaxed); }
  // Fork support (Collector::PrepareFork): Stop joins both threads (the
  // gate must be closed); Start starts them again.
  void Stop();
  void Start();

  // Testing seam: called on the idle-priority thread each time it finds the
  // gate open, before it asks for a slice (a test holds it there, as if it
  // were starved).
  void SetScoutHookForTesting(std::function<void()> hook);

 private:
  enum : int { kClosed, kOpen, kMarking };
  void ScoutLoop();
  void MarkerLoop();

  std::atomic<int> gate_{kClosed};
  std::atomic<const Slice*> slice_{nullptr};
  std::atomic<uint64_t> slices_{0};

  std::mutex mu_;
  std::condition_variable scout_cv_, marker_cv_;
  bool requested_ = false;            // a slice asked for (guarded by mu_)
  bool found_work_ = false;           // what the last slice reported (mu_)
  bool stop_ = false;                 // guarded by mu_
  std::function<void()> scout_hook_;  // guarded by mu_
  std::thread scout_, marker_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_IDLE_WORKER_H_
