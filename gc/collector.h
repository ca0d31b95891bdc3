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
// Cycles are serialized by a mutex. The structures (gcmarkBits, work
// buffers, sweepgen-indexed span sets, the write-barrier entry point) are
// the ones the concurrent collector will use.
#ifndef GCHEAP_GC_COLLECTOR_H_
#define GCHEAP_GC_COLLECTOR_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "gc/mark.h"
#include "gc/roots.h"
#include "gc/typeinfo.h"
#include "gc/workers.h"
#include "gc/world.h"
#include "heap/mheap.h"

namespace gcheap {

struct CollectorConfig {
  int gc_percent = 100;        // < 0: no automatic collection by heap goal
  size_t memory_limit = 0;     // soft limit on in-use span bytes (0: none)
  size_t min_heap = 4 << 20;   // the goal never drops below this
  int workers = 0;             // mark threads incl. the collecting one (0: #cpus)
  bool verify = false;         // checkmark after every cycle
  bool stop_the_world = true;  // marking is stop-the-world (only mode so far)
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
  uint64_t mark_ns_total = 0;
  uint64_t live_objects = 0;  // marked at the last cycle
  uint64_t live_bytes = 0;
  uint64_t marked_objects_total = 0;
  uint64_t verified_objects_total = 0;
  size_t heap_goal = 0;
};

class Collector {
 public:
  Collector(MHeap* heap, const TypeTable* types, const RootSet* roots,
            World* world, const CollectorConfig& config);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Runs a full collection on the calling thread, which must be an attached
  // mutator that the World does not wait for. With finish_sweep, also sweeps
  // the whole heap before returning (an explicit gc_collect). If
  // `only_if_cycle` is not ~0 and a cycle other than that one already ran,
  // returns without collecting (automatic triggers that raced).
  void Collect(GcReason reason, bool finish_sweep,
               uint64_t only_if_cycle = ~uint64_t{0});

  // True when heap_live reached the goal: the allocating mutator should
  // collect.
  bool TriggerReached() const {
    return heap_->heap_live().load(std::memory_order_relaxed) >=
           static_cast<int64_t>(trigger_.load(std::memory_order_relaxed));
  }
  uint64_t cycles() const { return cycles_.load(std::memory_order_acquire); }
  CollectorStats ReadStats() const;
  const CollectorConfig& config() const { return config_; }

 private:
  void MarkParallel(uint64_t* objects, uint64_t* bytes);
  void UpdateGoal(uint64_t live_bytes);
  void RecordPause(uint64_t ns);
  void SweeperLoop();

  MHeap* heap_;
  const TypeTable* types_;
  const RootSet* roots_;
  World* world_;
  CollectorConfig config_;
  Marker marker_;
  WorkerPool workers_;
  const int nworkers_;

  std::mutex gc_mu_;  // one cycle at a time
  std::atomic<uint64_t> cycles_{0};
  std::atomic<size_t> trigger_;
  int64_t start_ns_;

  mutable std::mutex stats_mu_;
  CollectorStats stats_;

  // Background sweeper.
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool sweep_pending_ = false;
  bool stop_ = false;
  std::thread sweeper_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_COLLECTOR_H_
