#include "gc/gctrace.h"

#include <cstdio>

namespace gcheap {

namespace {
double MB(uint64_t b) { return b / 1048576.0; }
const char* ReasonName(GcReason r) {
  switch (r) {
    case GcReason::kExplicit:
      return "explicit";
    case GcReason::kHeapGoal:
      return "goal";
    case GcReason::kAllocFailure:
      return "alloc-failure";
  }
  return "?";
}
}  // namespace

std::string FormatGcTrace(const CycleInfo& info, int workers, bool verified) {
  char line[512];
  snprintf(line, sizeof(line),
           "gc %llu @%.3fs: %.3f+%.3f+%.3f ms clock, %u pauses %.3f ms, "
           "%.3f ms assist, %.3f ms assist wait, %.3f ms bg cpu, %.1f MB "
           "scanned at %.0f MB/s, "
           "%.1f->%.1f->%.1f MB, "
           "%.1f MB goal, %.1f MB trigger, %llu objects live, %d workers%s "
           "(%s, %s)%s%s\n",
           static_cast<unsigned long long>(info.cycle), info.start_ns / 1e9,
           info.concurrent ? info.pause1_ns / 1e6 : 0.0, info.mark_ns / 1e6,
           info.concurrent ? info.pause2_ns / 1e6 : 0.0, info.pauses,
           info.pause_ns / 1e6, info.assist_ns / 1e6, info.assist_wait_ns / 1e6,
           info.bg_mark_cpu_ns / 1e6, MB(info.scan_work),
           info.mark_ns == 0 ? 0.0 : MB(info.scan_work) / (info.mark_ns / 1e9),
           MB(info.heap_before), MB(info.heap_end), MB(info.live_bytes),
           MB(info.heap_goal), MB(info.trigger),
           static_cast<unsigned long long>(info.live_objects), workers,
           info.idle_worker ? " + idle" : "",
           info.concurrent ? "concurrent" : "stw", ReasonName(info.reason),
           verified ? ", verified" : "", info.limited ? ", cpu-limited" : "");
  return line;
}

}  // namespace gcheap
