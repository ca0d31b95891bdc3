// collector.h: the GC cycle (Go's mgc.go), stop-the-world marking for now.
//
// One Collector per heap. A cycle, run by the mutator that asked for it:
//   1. stop the world (every other mutator parked at a safepoint or in a
//      blocking region);
//   2. sweep termination: finish the previous cycle's sweep (no span may
//      carry last cycle's marks when marking begins) and flush every
//      mcache (tiny blocks and cached spans return to the centrals);
//   3. mark: scan the roots, then drain the grey objects with `workers`
//      threads in parallel (per-worker work buffers, a shared pool);
//   4. optionally verify (checkmark) the marks;
//   5. mark termination: heap_live := marked bytes, sweepgen += 2, set the
//      next heap goal;
//   6. start the world; the background sweeper and allocation sweep lazily.
// The pause is measured from the request to stop the world to the moment
// every mutator may run again, as Go counts it.
//
// Pacing: goal = max(min_heap, live x (1 + gc_percent/100)); a negative
// gc_percent turns the goal off. A soft memory limit lowers the goal so the
// heap collects more often near the limit. A cycle starts when heap_live
// reaches the goal (the allocation slow path checks).
//
// Concurrent mode (stop_the_world = false) splits the cycle in two short
// pauses around a concurrent mark, run by a driver thread:
//   pause 1: sweep termination, root scan (all roots, so the snapshot of
//            the roots is atomic), write barrier and allocate-black on;
//   concurrent mark: background workers (25% of the processors, as Go's
//            dedicated and fractional workers) drain grey objects while
//            mutators run; the hybrid barrier buffers the old and the new
//            value of every pointer store; new objects are allocated black;
//            allocating mutators pay mark assists (gc/mark_assist.cc);
//   pause 2: flush every barrier buffer; if that found more than a little
//            grey work, restart the world and mark it concurrently (a
//            bounded number of times); drain, barrier off, flush mcaches,
//            verify, mark termination.
// See docs/collector.md for why no root needs rescanning in pause 2, and
// gc/pacer.h for the trigger, goal and assist ratio.
// Cycles are serialized by a mutex.
#ifndef GCHEAP_GC_COLLECTOR_H_
#define GCHEAP_GC_COLLECTOR_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gc/cpu_limiter.h"
#include "gc/mark.h"
#include "gc/pacer.h"
#include "gc/roots.h"
#include "gc/typeinfo.h"
#include "gc/workers.h"
#include "gc/world.h"
#include "heap/mheap.h"

namespace gcheap {

struct CollectorConfig {
  int gc_percent = 100;       // < 0: no automatic collection by heap goal
  size_t memory_limit = 0;    // soft limit on in-use span bytes (0: none)
  size_t min_heap = 4 << 20;  // the goal never drops below this
  int workers = 0;      // mark threads incl. the collecting one (0: #cpus)
  bool verify = false;  // checkmark after every cycle
  bool stop_the_world = true;  // false: mark concurrently with mutators
  bool trace = false;          // one gctrace line per cycle on stderr
  uintptr_t tag_mask = 0;      // bits stripped from a word before lookup
};

enum class GcReason { kExplicit, kHeapGoal, kAllocFailure };

inline constexpr int kPauseBuckets = 32;  // bucket i: pause < 2^i us

struct CollectorStats {
  uint64_t cycles = 0;
  uint64_t pause_total_ns = 0;
  uint64_t pause_last_ns = 0;
  uint64_t pause_max_ns = 0;
  uint64_t pause_hist[kPauseBuckets] = {};
  // The last kRecentPauses per-cycle pauses (a ring, as Go's PauseNs), for
  // exact percentiles of recent cycles.
  static constexpr int kRecentPauses = 256;
  uint64_t recent_pauses[kRecentPauses] = {};
  uint64_t scan_bytes_total = 0;  // bytes of objects scanned, all cycles
  uint64_t mark_ns_total = 0;
  uint64_t live_objects = 0;  // marked at the last cycle
  uint64_t live_bytes = 0;
  uint64_t marked_objects_total = 0;
  uint64_t verified_objects_total = 0;
  uint64_t assist_ns_total = 0;       // mutator time in mark assists
  uint64_t bg_mark_cpu_ns_total = 0;  // background mark workers' CPU time
  uint64_t stw_pauses = 0;            // individual stop-the-world pauses
  uint64_t limiter_engaged = 0;       // times the CPU limiter switched on
  size_t heap_goal = 0;
  size_t trigger = 0;
};

// What one cycle did (the cycle hook's argument).
struct CycleInfo {
  uint64_t cycle = 0;
  bool concurrent = false;
  GcReason reason = GcReason::kExplicit;
  int64_t start_ns = 0;    // since the collector was created
  uint64_t pause_ns = 0;   // sum of the cycle's stop-the-world pauses
  uint64_t pause1_ns = 0;  // the first pause (all of it, stop-the-world)
  uint64_t pause2_ns = 0;  // the final pause (mark termination)
  uint32_t pauses = 0;     // number of stop-the-world pauses
  uint64_t mark_ns = 0;    // clock time of concurrent marking
  uint64_t assist_ns = 0;  // mutator time spent in mark assists
  uint64_t bg_mark_cpu_ns = 0;
  uint64_t scan_work = 0;  // bytes of objects scanned
  uint64_t heap_before = 0, heap_end = 0, live_bytes = 0, live_objects = 0;
  uint64_t heap_goal = 0, trigger = 0;  // for the next cycle
  bool limited = false;                 // the CPU limiter was on
  bool idle_worker = false;  // the idle-priority mark worker took part
};
using CycleHook = std::function<void(const CycleInfo&)>;

class Collector {
 public:
  Collector(MHeap* heap, const TypeTable* types, const RootSet* roots,
            World* world, const CollectorConfig& config);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Runs a full collection. The calling thread must be an attached mutator
  // that the World does not wait for (it counts as blocked meanwhile). With
  // finish_sweep, also sweeps the whole heap before returning (an explicit
  // gc_collect). If `only_if_cycle` is not ~0 and a cycle other than that
  // one already ran, returns without collecting (automatic triggers that
  // raced). Stop-the-world mode runs the cycle on the calling thread.
  // Concurrent mode runs it on the driver thread; a kHeapGoal request
  // returns at once (the mutator keeps allocating while the heap is
  // marked), other reasons wait for the cycle to finish.
  void Collect(GcReason reason, bool finish_sweep,
               uint64_t only_if_cycle = ~uint64_t{0});
  // Concurrent mode: a mutator whose heap grew past the hard goal (1.1 x
  // goal) while a cycle is marking waits for the cycle to finish: the
  // backstop behind mark assists (off while the CPU limiter is on).
  void WaitIfOverGoal();

  // True when heap_live reached the goal: the allocating mutator should
  // collect.
  bool TriggerReached() const {
    return heap_->heap_live().load(std::memory_order_relaxed) >=
           static_cast<int64_t>(trigger_.load(std::memory_order_relaxed));
  }
  uint64_t cycles() const { return cycles_.load(std::memory_order_acquire); }

  // ---- concurrent marking (mutator side) ----------------------------------
  // True between the two pauses of a concurrent cycle.
  bool marking() const { return marking_.load(std::memory_order_relaxed); }
  // Called by gc_alloc for every object allocated while marking, on the
  // allocating thread: marks it black (its span is found in the mcache,
  // not through the arena index) and charges the mark assist.
  void AllocatedWhileMarking(void* p, size_t bytes, bool noscan, MCache* c,
                             MutatorGcState* st);
  // A mutator that detaches while marking hands over its black counts.
  void AddBlack(const MutatorGcState& st) {
    extra_objects_.fetch_add(st.black_objects, std::memory_order_relaxed);
    extra_bytes_.fetch_add(st.black_bytes, std::memory_order_relaxed);
  }
  // Greys buffered write-barrier values (old and new pointer values).
  void ShadeBuffered(const uintptr_t* values, size_t n);
  CollectorStats ReadStats() const;
  const CollectorConfig& config() const { return config_; }
  // Called after every cycle, once the world runs again, on the thread
  // that ran the cycle. It must not call into the heap.
  void SetCycleHook(CycleHook hook);
  // ---- fork (runtime/process.cc, from pthread_atfork handlers) ----------
  // PrepareFork waits for a cycle in progress to end, stops the driver,
  // the sweeper and the mark workers (joins them: a forked child has only
  // the forking thread) and holds the cycle and driver locks, so no cycle
  // runs until AfterForkParent / AfterForkChild. Cycle requests made
  // meanwhile stay pending. The caller must not count as running for the
  // World (the cycle it waits for may need to stop it).
  void PrepareFork();
  // Releases the locks and starts the threads again.
  void AfterForkParent();
  // The same in the child, whose other threads are gone: also drops the
  // requests of threads that no longer exist and resets the condition
  // variables they may have been waiting on.
  void AfterForkChild();

  // Testing seam: called on the driver thread once a concurrent cycle has
  // turned the barrier on and restarted the world, before background
  // marking begins (a test holds marking open by blocking in it).
  void SetMarkPhaseHookForTesting(std::function<void()> hook);

 private:
  struct MarkTotals {
    uint64_t objects = 0, bytes = 0, scan_work = 0;
    void Add(const MarkTotals& o) {
      objects += o.objects;
      bytes += o.bytes;
      scan_work += o.scan_work;
    }
  };
  // Drains the pool with n workers (the calling thread is one of them).
  // With the world stopped they spin when idle; in the background they
  // sleep, publish assist credit, and worker 0 marks only `fraction` of
  // its time when fraction < 1 (Go's fractional worker).
  MarkTotals MarkParallel(WorkPool* pool, bool scan_roots, int n,
                          bool background = false, double fraction = 1.0,
                          bool idle = false);
  // Concurrent mark with Go's worker plan: 25% of the processors as
  // dedicated workers, or a fractional one where that rounds badly; plus
  // the idle-priority worker (id n) when a processor is left over after
  // the running mutators and those workers (Go's idle mark worker).
  MarkTotals BackgroundMark();
  // Whether a BackgroundMark of the current cycle ran the idle worker.
  std::atomic<bool> idle_worker_used_{false};
  void CollectConcurrent(GcReason reason);
  // Assist slow path: pays the mutator's debt with background credit, then
  // with its own mark work.
  void Assist(MutatorGcState* st);
  void PublishAssistRatio();
  // Marks the object that was just allocated at p (allocate black).
  void MarkNew(void* p, size_t bytes, bool noscan, MCache* c,
               MutatorGcState* st);
  void FinishCycle(CycleInfo info, const MarkTotals& marked);
  void RecordPause(uint64_t ns);
  void SweeperLoop();
  void DriverLoop();
  // The background threads: the sweeper, and in concurrent mode the driver
  // (the mark workers are WorkerPool's). Start also resumes a sweep that a
  // Stop interrupted.
  void StartThreads();
  void StopThreads();

  MHeap* heap_;
  const TypeTable* types_;
  const RootSet* roots_;
  World* world_;
  CollectorConfig config_;
  Marker marker_;
  WorkerPool workers_;
  const int nworkers_;

  std::mutex gc_mu_;  // one cycle at a time
  std::atomic<bool> marking_{false};
  std::unique_ptr<WorkPool> pool_;        // grey objects of a concurrent cycle
  std::vector<uintptr_t> root_snapshot_;  // root values taken in pause 1
  // Objects marked outside the mark workers during a concurrent cycle.
  std::atomic<uint64_t> extra_objects_{0}, extra_bytes_{0};
  std::atomic<uint64_t> cycles_{0};
  std::atomic<size_t> trigger_;
  std::atomic<size_t> hard_goal_;  // 1.1 x goal: WaitIfOverGoal's backstop
  int64_t start_ns_;
  Pacer pacer_;  // guarded by gc_mu_
  GcCpuLimiter limiter_;
  // Mark assists of the current concurrent cycle.
  std::atomic<double> assist_ratio_{0};    // scan bytes owed per byte
  std::atomic<int64_t> bg_credit_{0};      // background work not yet stolen
  std::atomic<int64_t> scan_done_{0};      // scan work of this cycle so far
  std::atomic<int> assists_active_{0};     // mutators inside Assist's drain
  std::atomic<uint64_t> assist_ns_{0};     // this cycle
  std::atomic<uint64_t> bg_cpu_ns_{0};     // this cycle
  CycleHook cycle_hook_;                   // guarded by stats_mu_
  std::function<void()> mark_phase_hook_;  // guarded by stats_mu_

  mutable std::mutex stats_mu_;
  CollectorStats stats_;

  // Background sweeper.
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool sweep_pending_ = false;
  std::atomic<bool> stop_{false};  // read by the sweeper between spans
  std::thread sweeper_;

  // Concurrent mode: cycles run on a driver thread, so the mutator whose
  // allocation crossed the trigger keeps running while the heap is marked.
  std::mutex driver_mu_;
  std::condition_variable driver_cv_;      // wakes the driver
  std::condition_variable cycle_done_cv_;  // wakes waiters
  uint64_t requested_ = 0;  // cycles requested (guarded by driver_mu_)
  uint64_t started_ = 0;    // cycles the driver has begun
  uint64_t done_ = 0;       // cycles the driver has finished
  GcReason requested_reason_ = GcReason::kHeapGoal;
  bool stop_driver_ = false;
  std::thread driver_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_COLLECTOR_H_
