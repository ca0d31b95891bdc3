// Unit tests of the collector's statistics and trace line (gc/stats.h,
// gc/gctrace.h): pause buckets, the totals and the ring of recent pauses,
// and the exact GCTRACE line.
#include "gc/stats.h"

#include <string>

#include "gc/gctrace.h"
#include "gtest/gtest.h"

namespace gcheap {
namespace {

TEST(StatsTest, PauseBucketsArePowersOfTwoMicroseconds) {
  EXPECT_EQ(PauseBucket(0), 0);
  EXPECT_EQ(PauseBucket(999), 0);   // < 1 us
  EXPECT_EQ(PauseBucket(1000), 1);  // 1 us
  EXPECT_EQ(PauseBucket(1999), 1);
  EXPECT_EQ(PauseBucket(2000), 2);  // [2, 4) us
  EXPECT_EQ(PauseBucket(3999), 2);
  EXPECT_EQ(PauseBucket(4000), 3);
  EXPECT_EQ(PauseBucket(1'000'000), 10);  // 1 ms: [512, 1024) us
  EXPECT_EQ(PauseBucket(~uint64_t{0}), kPauseBuckets - 1);
}

CycleInfo Cycle(uint64_t n, uint64_t pause_ns) {
  CycleInfo c;
  c.cycle = n;
  c.pause_ns = pause_ns;
  c.pauses = 2;
  c.mark_ns = 10;
  c.assist_ns = 1;
  c.bg_mark_cpu_ns = 2;
  c.scan_work = 100;
  c.live_objects = n;
  c.live_bytes = 32 * n;
  c.verified_objects = n;
  c.heap_goal = 1000 + n;
  c.trigger = 700 + n;
  return c;
}

TEST(StatsTest, TotalsHistogramAndRecentPauses) {
  GcStats stats(4 << 20, 3 << 20);
  CollectorStats s = stats.Read();
  EXPECT_EQ(s.cycles, 0u);
  EXPECT_EQ(s.heap_goal, size_t{4} << 20);
  EXPECT_EQ(s.trigger, size_t{3} << 20);
  const int n = CollectorStats::kRecentPauses + 44;  // the ring wraps
  uint64_t total = 0;
  for (int i = 1; i <= n; i++) {
    const uint64_t pause = 1000 * static_cast<uint64_t>(i);
    total += pause;
    stats.RecordCycle(Cycle(i, pause), /*limiter_engaged=*/i / 100);
  }
  s = stats.Read();
  EXPECT_EQ(s.cycles, static_cast<uint64_t>(n));
  EXPECT_EQ(s.pause_total_ns, total);
  EXPECT_EQ(s.pause_last_ns, 1000u * n);
  EXPECT_EQ(s.pause_max_ns, 1000u * n);
  uint64_t hist = 0;
  for (uint64_t h : s.pause_hist) hist += h;
  EXPECT_EQ(hist, s.cycles);
  // Cycle i (1-based) sits in slot (i - 1) % kRecentPauses: the last ones
  // overwrote the first.
  for (int i = n - CollectorStats::kRecentPauses + 1; i <= n; i++) {
    EXPECT_EQ(s.recent_pauses[(i - 1) % CollectorStats::kRecentPauses],
              1000u * i);
  }
  EXPECT_EQ(s.stw_pauses, 2u * n);
  EXPECT_EQ(s.mark_ns_total, 10u * n);
  EXPECT_EQ(s.assist_ns_total, 1u * n);
  EXPECT_EQ(s.bg_mark_cpu_ns_total, 2u * n);
  EXPECT_EQ(s.scan_bytes_total, 100u * n);
  EXPECT_EQ(s.live_objects, static_cast<uint64_t>(n));
  EXPECT_EQ(s.live_bytes, 32u * n);
  EXPECT_EQ(s.marked_objects_total, static_cast<uint64_t>(n) * (n + 1) / 2);
  EXPECT_EQ(s.verified_objects_total, s.marked_objects_total);
  EXPECT_EQ(s.limiter_engaged, static_cast<uint64_t>(n / 100));
  EXPECT_EQ(s.heap_goal, 1000u + n);
  EXPECT_EQ(s.trigger, 700u + n);
}

TEST(GcTraceTest, ConcurrentLine) {
  CycleInfo c;
  c.cycle = 51;
  c.concurrent = true;
  c.reason = GcReason::kHeapGoal;
  c.start_ns = 2'610'000'000;
  c.pause1_ns = 1'667'000;
  c.mark_ns = 49'140'000;
  c.pause2_ns = 5'000;
  c.pauses = 2;
  c.pause_ns = 1'672'000;
  c.assist_ns = 2'143'000;
  c.bg_mark_cpu_ns = 24'348'000;
  c.scan_work = 10 << 20;
  c.heap_before = 51 << 20;
  c.heap_end = 56 << 20;
  c.live_bytes = 16 << 20;
  c.heap_goal = 32 << 20;
  c.trigger = 24 << 20;
  c.live_objects = 1048574;
  c.idle_worker = true;
  c.assist_wait_ns = 7'500'000;
  EXPECT_EQ(FormatGcTrace(c, 2, true),
            "gc 51 @2.610s: 1.667+49.140+0.005 ms clock, 2 pauses 1.672 ms, "
            "2.143 ms assist, 7.500 ms assist wait, 24.348 ms bg cpu, 10.0 MB "
            "scanned at 204 MB/s, "
            "51.0->56.0->16.0 MB, 32.0 MB goal, 24.0 MB trigger, 1048574 "
            "objects live, 2 workers + idle (concurrent, goal), verified\n");
}

TEST(GcTraceTest, StopTheWorldLine) {
  CycleInfo c;
  c.cycle = 7;
  c.reason = GcReason::kExplicit;
  c.start_ns = 412'000'000;
  c.pause1_ns = 10'500'000;
  c.pause2_ns = 10'500'000;
  c.mark_ns = 10'500'000;
  c.pauses = 1;
  c.pause_ns = 10'500'000;
  c.heap_before = 16 << 20;
  c.heap_end = 16 << 20;
  c.live_bytes = 8 << 20;
  c.heap_goal = 16 << 20;
  c.trigger = 16 << 20;
  c.live_objects = 524293;
  c.limited = true;
  c.reason = GcReason::kAllocFailure;
  EXPECT_EQ(FormatGcTrace(c, 1, false),
            "gc 7 @0.412s: 0.000+10.500+0.000 ms clock, 1 pauses 10.500 ms, "
            "0.000 ms assist, 0.000 ms assist wait, 0.000 ms bg cpu, 0.0 MB "
            "scanned at 0 MB/s, "
            "16.0->16.0->8.0 MB, 16.0 MB goal, 16.0 MB trigger, 524293 "
            "objects live, 1 workers (stw, alloc-failure), cpu-limited\n");
}

}  // namespace
}  // namespace gcheap
