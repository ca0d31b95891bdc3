// cpu_limiter.h: the GC CPU limiter (Go's gcCPULimiterState).
//
// A heap whose live data sits near its soft memory limit would collect back
// to back: every cycle frees little, the goal stays at the limit, and the
// program spends its time collecting (a death spiral). The limiter bounds
// the share of CPU the collector may take over a window, and when the
// collector is over budget the heap is allowed to grow past the soft limit
// instead.
//
// It is a leaky bucket measured in CPU time. Capacity: window x procs.
// Collector CPU time (background mark workers, assists, and each
// stop-the-world pause x procs) fills it; mutator time (the rest of
// procs x elapsed) drains it, scaled so that the level is steady exactly
// when the collector uses `max_fraction` of the CPU:
//   level += gc / max_fraction - procs x elapsed      (clamped to [0, cap])
// The limiter is "on" while the bucket is full. The collector then skips
// mark assists and drops the memory-limit tightening of the heap goal
// (docs/collector.md, "Pacing").
//
// Thread-safe; time is passed in (nanoseconds), so tests drive it with a
// synthetic clock.
#ifndef GCHEAP_GC_CPU_LIMITER_H_
#define GCHEAP_GC_CPU_LIMITER_H_

#include <atomic>
#include <cstdint>
#include <mutex>

namespace gcheap {

class GcCpuLimiter {
 public:
  GcCpuLimiter(int procs, int64_t now_ns, double max_fraction = 0.5,
               int64_t window_ns = 1'000'000'000);

  // Records collector CPU time spent (any thread).
  void AddGcTime(int64_t ns) { pending_gc_ns_.fetch_add(ns); }
  // Moves the bucket to `now`; returns whether the limiter is on.
  bool Update(int64_t now_ns);
  bool limited() const { return limited_.load(std::memory_order_relaxed); }
  // Times the limiter switched on.
  uint64_t engaged() const { return engaged_.load(std::memory_order_relaxed); }
  double level_fraction() const;  // bucket fill / capacity, for stats

 private:
  const int procs_;
  const double max_fraction_;
  const double capacity_ns_;
  std::atomic<int64_t> pending_gc_ns_{0};
  std::atomic<bool> limited_{false};
  std::atomic<uint64_t> engaged_{0};
  mutable std::mutex mu_;
  int64_t last_ns_;   // guarded by mu_
  double level_ = 0;  // guarded by mu_
};

}  // namespace gcheap

#endif  // GCHEAP_GC_CPU_LIMITER_H_
