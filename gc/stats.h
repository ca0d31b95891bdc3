// stats.h: what the collector reports: one cycle (CycleInfo, the cycle
// hook's argument) and the totals over all cycles (CollectorStats), with the
// pause records (a power-of-two histogram and Go's PauseNs ring).
//
// GcStats accumulates CycleInfo records. It is written once per cycle, by
// the driver thread after the world has restarted, and read by any thread
// (gc_get_stats), under its own lock; no pause ever takes that lock.
//
// Invariants: cycles counts the recorded cycles; pause_hist sums to cycles;
// the ring slot of cycle n (1-based) is (n - 1) % kRecentPauses;
// pause_max_ns >= pause_last_ns; pause_total_ns is the sum of every
// recorded cycle's pause_ns.
#ifndef GCHEAP_GC_STATS_H_
#define GCHEAP_GC_STATS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace gcheap {

// The collector's clock, in nanoseconds: pauses, mark and scan times are
// all measured with the steady clock.
inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Why a cycle ran.
enum class GcReason { kExplicit, kHeapGoal, kAllocFailure };

inline constexpr int kPauseBuckets = 32;  // bucket i: pause < 2^i us

// The histogram bucket of a pause of ns nanoseconds: the smallest i with
// ns / 1000 < 2^i, capped at kPauseBuckets - 1.
int PauseBucket(uint64_t ns);

// Where the time of a cycle's first and last pause went, step by step
// (the driver's clock; each step ends where the next begins, so the steps
// of a pause add up to it). Stop-the-world cycles have one pause: both
// records describe it. For the pause figures of docs/boehm.md.
struct PauseSteps {
  enum Step {
    kStop,         // stop request to every thread stopped (the world
                   // hook's signals included; the first pause also
                   // finishes the sweeps in flight)
    kRoots,        // root snapshot (first) / flush, mcaches, roots again
    kDirty,        // dirty-page source: arming (first) / rescan (final)
    kDrain,        // marking what the pause greyed, every worker
    kFinalizers,   // the finalizer phase inside the pause
    kTermination,  // mark termination's own work
    kRestart,      // the world hook's restart and the release
    kCount
  };
  uint64_t first[kCount] = {};
  uint64_t last[kCount] = {};
};

// What one cycle did.
struct CycleInfo {
  uint64_t cycle = 0;
  bool concurrent = false;
  GcReason reason = GcReason::kExplicit;
  int64_t start_ns = 0;    // first stop request, since the collector began
  uint64_t pause_ns = 0;   // sum of the cycle's stop-the-world pauses
  uint64_t pause1_ns = 0;  // the first pause (stop-the-world: the only one)
  uint64_t pause2_ns = 0;  // the final pause (mark termination)
  uint32_t pauses = 0;     // number of stop-the-world pauses
  uint64_t mark_ns = 0;    // clock time of marking (stop-the-world: the pause)
  uint64_t assist_ns = 0;  // mutator time spent in mark assists
  uint64_t assist_wait_ns = 0;  // mutator time waiting, in debt, for
                                // background credit (not in assist_ns)
  uint64_t bg_mark_cpu_ns = 0;
  uint64_t scan_work = 0;  // bytes of objects scanned
  uint64_t heap_before = 0, heap_end = 0, live_bytes = 0, live_objects = 0;
  uint64_t heap_goal = 0, trigger = 0;  // for the next cycle
  uint64_t verified_objects = 0;        // reached by the checkmark verifier
  bool limited = false;                 // the CPU limiter was on
  bool idle_worker = false;       // the idle-priority mark worker was offered a
                                  // processor (a spare one was left over)
  uint64_t idle_slices = 0;       // slices the idle worker marked in this cycle
  int running_mutators = 0;       // seen by the first background mark's plan
  uint64_t finalizers_ready = 0;  // finalizers and guardian entries queued
                                  // (0: no finalizer phase, or none ready)
};

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

class GcStats {
 public:
  // The goal and trigger before the first cycle.
  GcStats(size_t heap_goal, size_t trigger);
  // Adds a finished cycle. limiter_engaged: the limiter's running count.
  void RecordCycle(const CycleInfo& info, uint64_t limiter_engaged);
  CollectorStats Read() const;

 private:
  mutable std::mutex mu_;
  CollectorStats stats_;  // guarded by mu_
};

}  // namespace gcheap

#endif  // GCHEAP_GC_STATS_H_
