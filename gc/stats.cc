#include "gc/stats.h"

#include <algorithm>

namespace gcheap {

int PauseBucket(uint64_t ns) {
  const uint64_t us = ns / 1000;
  int b = 0;
  while (b < kPauseBuckets - 1 && (uint64_t{1} << b) <= us) b++;
  return b;
}

GcStats::GcStats(size_t heap_goal, size_t trigger) {
  stats_.heap_goal = heap_goal;
  stats_.trigger = trigger;
}

void GcStats::RecordCycle(const CycleInfo& info, uint64_t limiter_engaged) {
  std::lock_guard<std::mutex> g(mu_);
  CollectorStats& s = stats_;
  s.pause_total_ns += info.pause_ns;
  s.pause_last_ns = info.pause_ns;
  s.pause_max_ns = std::max(s.pause_max_ns, info.pause_ns);
  s.pause_hist[PauseBucket(info.pause_ns)]++;
  s.recent_pauses[s.cycles % CollectorStats::kRecentPauses] = info.pause_ns;
  s.cycles++;
  s.mark_ns_total += info.mark_ns;
  s.live_objects = info.live_objects;
  s.live_bytes = info.live_bytes;
  s.marked_objects_total += info.live_objects;
  s.verified_objects_total += info.verified_objects;
  s.assist_ns_total += info.assist_ns;
  s.bg_mark_cpu_ns_total += info.bg_mark_cpu_ns;
  s.stw_pauses += info.pauses;
  s.scan_bytes_total += info.scan_work;
  s.limiter_engaged = limiter_engaged;
  s.heap_goal = info.heap_goal;
  s.trigger = info.trigger;
}

CollectorStats GcStats::Read() const {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

}  // namespace gcheap
