// Unit tests of the pacer (gc/pacer.h: heap goal, trigger, assist ratio)
// and the GC CPU limiter (gc/cpu_limiter.h), with synthetic cycle samples
// and a synthetic clock: no heap, no threads (but one test of concurrent
// AddGcTime), no timing.
#include "gc/pacer.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "gc/cpu_limiter.h"
#include "gtest/gtest.h"

namespace gcheap {
namespace {

constexpr uint64_t kMiB = 1 << 20;

PacerConfig Config(int percent, bool concurrent, size_t limit = 0) {
  PacerConfig c;
  c.gc_percent = percent;
  c.concurrent = concurrent;
  c.memory_limit = limit;
  return c;  // min_heap: the default 4 MiB
}

CycleSample Sample(uint64_t live, uint64_t scan, uint64_t heap_start,
                   uint64_t heap_end, bool concurrent = true) {
  CycleSample s;
  s.live_bytes = live;
  s.scan_work = scan;
  s.heap_at_start = heap_start;
  s.heap_at_end = heap_end;
  s.concurrent = concurrent;
  return s;
}

// A stop-the-world cycle that marked `live` bytes (half of them scanned).
CycleSample StwSample(uint64_t live) {
  return Sample(live, live / 2, live, live, false);
}

// The trigger as a fraction of the way from live to goal.
double TriggerFraction(const Pacer& p, uint64_t live) {
  return (static_cast<double>(p.trigger()) - live) /
         (static_cast<double>(p.goal()) - live);
}

// ---- goal -------------------------------------------------------------------

// The hard goal is kHardGoalFactor over the goal, and with no goal
// (gc_percent < 0, no limit) it is "no goal" too, which still fits in the
// int64_t that heap_live is compared with (it was goal + 10%, which
// overflowed; tests/mark_assist_test.cc has the end-to-end regression).
TEST(PacerTest, HardGoalIsAFactorOverTheGoalAndNoGoalStaysNoGoal) {
  Pacer p(Config(100, true));
  p.EndCycle(StwSample(10 * kMiB), false);
  EXPECT_EQ(p.hard_goal(),
            static_cast<size_t>(p.goal() * Pacer::kHardGoalFactor));
  Pacer off(Config(-1, true));
  EXPECT_EQ(off.goal(), Pacer::kNoGoal);
  EXPECT_EQ(off.hard_goal(), Pacer::kNoGoal);
  off.EndCycle(StwSample(10 * kMiB), false);
  EXPECT_EQ(off.hard_goal(), Pacer::kNoGoal);
  EXPECT_GT(static_cast<int64_t>(off.hard_goal()), int64_t{1} << 62);
}

TEST(PacerTest, GoalIsLiveTimesOnePlusPercent) {
  for (int percent : {50, 100, 200}) {
    Pacer p(Config(percent, false));
    p.EndCycle(StwSample(10 * kMiB), false);
    EXPECT_EQ(p.goal(), 10 * kMiB * (100 + percent) / 100) << percent;
  }
  Pacer p(Config(100, false));
  p.EndCycle(StwSample(300 * kMiB), false);
  EXPECT_EQ(p.goal(), 600 * kMiB);
  p.EndCycle(StwSample(40 * kMiB), false);  // follows the live heap down
  EXPECT_EQ(p.goal(), 80 * kMiB);
}

TEST(PacerTest, GoalNeverBelowMinHeap) {
  Pacer p(Config(100, false));
  EXPECT_EQ(p.goal(), 4 * kMiB);  // before any cycle
  p.EndCycle(StwSample(1 * kMiB), false);
  EXPECT_EQ(p.goal(), 4 * kMiB);
  p.EndCycle(StwSample(0), false);
  EXPECT_EQ(p.goal(), 4 * kMiB);
  PacerConfig c = Config(100, false);
  c.min_heap = 8 * kMiB;
  Pacer q(c);
  q.EndCycle(StwSample(3 * kMiB), false);
  EXPECT_EQ(q.goal(), 8 * kMiB);
  q.EndCycle(StwSample(5 * kMiB), false);
  EXPECT_EQ(q.goal(), 10 * kMiB);
}

TEST(PacerTest, NegativePercentMeansNoGoal) {
  for (bool concurrent : {false, true}) {
    Pacer p(Config(-1, concurrent));
    EXPECT_GE(p.goal(), size_t{1} << 62);
    EXPECT_EQ(p.trigger(), p.goal());
    p.EndCycle(
        Sample(100 * kMiB, 50 * kMiB, 100 * kMiB, 120 * kMiB, concurrent),
        false);
    EXPECT_GE(p.goal(), size_t{1} << 62);
    EXPECT_EQ(p.trigger(), p.goal());
  }
}

TEST(PacerTest, MemoryLimitLowersTheGoalUnlessLimited) {
  Pacer p(Config(100, false, 16 * kMiB));
  p.EndCycle(StwSample(10 * kMiB), false);
  EXPECT_EQ(p.goal(), 16 * kMiB);  // 20 MiB, capped at the limit
  p.EndCycle(StwSample(2 * kMiB), false);
  EXPECT_EQ(p.goal(), 4 * kMiB);  // under the limit: unchanged
  // Live close to the limit: at least live + min_heap / 4 of runway.
  p.EndCycle(StwSample(15 * kMiB + kMiB / 2), false);
  EXPECT_EQ(p.goal(), 16 * kMiB + kMiB / 2);
  // The CPU limiter is on: the soft limit is ignored.
  p.EndCycle(StwSample(10 * kMiB), true);
  EXPECT_EQ(p.goal(), 20 * kMiB);
  p.EndCycle(StwSample(10 * kMiB), false);
  EXPECT_EQ(p.goal(), 16 * kMiB);
  // A limit below min_heap caps the goal before the first cycle too.
  Pacer q(Config(100, false, 2 * kMiB));
  EXPECT_EQ(q.goal(), 2 * kMiB);
}

// gc_percent < 0 with a soft limit: no proportional goal, so the heap
// collects only as it approaches the limit (Go's GOGC=off + GOMEMLIMIT).
// The goal was max(min_heap, 2 x live) capped at the limit: 64 MiB live
// under a 140 MiB limit collected at 128 MiB, and the first cycle at 4 MiB.
TEST(PacerTest, NegativePercentWithMemoryLimitCollectsAtTheLimit) {
  Pacer p(Config(-1, false, 140 * kMiB));
  EXPECT_EQ(p.goal(), 140 * kMiB);
  EXPECT_EQ(p.trigger(), 140 * kMiB);
  p.EndCycle(StwSample(64 * kMiB), false);
  EXPECT_EQ(p.goal(), 140 * kMiB);
  EXPECT_EQ(p.trigger(), 140 * kMiB);
  p.EndCycle(StwSample(10 * kMiB), false);
  EXPECT_EQ(p.goal(), 140 * kMiB);
  // Live data over the limit: a little runway all the same.
  p.EndCycle(StwSample(150 * kMiB), false);
  EXPECT_EQ(p.goal(), 151 * kMiB);
  // Limited (the CPU limiter ignores the soft limit): the heap may double
  // instead of collecting back to back.
  p.EndCycle(StwSample(64 * kMiB), true);
  EXPECT_EQ(p.goal(), 128 * kMiB);
  // Concurrent: the trigger lies between the learned bounds of the way
  // from live to the limit.
  Pacer c(Config(-1, true, 140 * kMiB));
  c.EndCycle(Sample(64 * kMiB, 32 * kMiB, 100 * kMiB, 101 * kMiB), false);
  EXPECT_EQ(c.goal(), 140 * kMiB);
  EXPECT_GE(TriggerFraction(c, 64 * kMiB), Pacer::kTriggerMin);
  EXPECT_LE(TriggerFraction(c, 64 * kMiB), Pacer::kTriggerMax + 1e-9);
}

// ---- trigger ----------------------------------------------------------------

TEST(PacerTest, StopTheWorldTriggerEqualsGoal) {
  Pacer p(Config(100, false));
  EXPECT_EQ(p.trigger(), p.goal());
  p.EndCycle(StwSample(10 * kMiB), false);
  EXPECT_EQ(p.trigger(), p.goal());
  // Even a sample that says it ran concurrently changes nothing.
  p.EndCycle(Sample(10 * kMiB, 5 * kMiB, 17 * kMiB, 19 * kMiB), false);
  EXPECT_EQ(p.trigger(), p.goal());
  EXPECT_EQ(p.goal(), 20 * kMiB);
}

TEST(PacerTest, ConcurrentTriggerStartsAtSeventyPercent) {
  Pacer p(Config(100, true));
  // Before the first cycle: 70% of the minimum heap goal.
  EXPECT_NEAR(static_cast<double>(p.trigger()), 0.7 * p.goal(), 1.0);
  EXPECT_LT(p.trigger(), p.goal());
  // No concurrent cycle measured yet.
  p.EndCycle(StwSample(10 * kMiB), false);
  EXPECT_EQ(p.goal(), 20 * kMiB);
  EXPECT_NEAR(static_cast<double>(p.trigger()), 17.0 * kMiB, 1.0);
  EXPECT_LT(p.runway(), 0);
  p.EndCycle(StwSample(40 * kMiB), false);
  EXPECT_NEAR(static_cast<double>(p.trigger()), 68.0 * kMiB, 1.0);
}

TEST(PacerTest, LearnedTriggerFollowsAllocationDuringMark) {
  const uint64_t live = 10 * kMiB;  // goal 20 MiB: span 10 MiB
  Pacer p(Config(100, true));
  // 1 MiB allocated while marking; the next cycle expects the same scan
  // work, so the runway is 1 MiB (+10%): trigger at 89%.
  p.EndCycle(Sample(live, 5 * kMiB, 17 * kMiB, 18 * kMiB), false);
  EXPECT_NEAR(p.runway(), 1.0 * kMiB, 1.0);
  EXPECT_NEAR(TriggerFraction(p, live), 0.89, 1e-6);
  const size_t t1 = p.trigger();

  // More allocation during the last mark: the trigger moves earlier.
  Pacer more = p, less = p;
  more.EndCycle(Sample(live, 5 * kMiB, 18 * kMiB, 22 * kMiB), false);
  EXPECT_LT(more.trigger(), t1);
  // Less: later.
  less.EndCycle(Sample(live, 5 * kMiB, 18 * kMiB, 18 * kMiB + kMiB / 4), false);
  EXPECT_GT(less.trigger(), t1);
  EXPECT_LT(more.trigger(), less.trigger());
  // And back: a quiet cycle after a busy one moves it later again.
  const size_t t2 = more.trigger();
  more.EndCycle(Sample(live, 5 * kMiB, 18 * kMiB, 18 * kMiB), false);
  EXPECT_GT(more.trigger(), t2);
  EXPECT_EQ(more.goal(), 20 * kMiB);

  // The runway is allocation per unit of mark work, rescaled to the next
  // cycle's expected scan work: the same allocation over less scan work
  // (mutators that allocate faster than marking progresses) means a longer
  // runway and an earlier trigger.
  Pacer a(Config(100, true)), b(Config(100, true));
  a.EndCycle(Sample(live, 5 * kMiB, 17 * kMiB, 18 * kMiB), false);
  b.EndCycle(Sample(live, 5 * kMiB, 17 * kMiB, 18 * kMiB), false);
  a.EndCycle(Sample(live, 5 * kMiB, 17 * kMiB, 18 * kMiB), false);
  b.EndCycle(Sample(live, 5 * kMiB / 2, 17 * kMiB, 18 * kMiB), false);
  EXPECT_GT(b.runway(), a.runway());
  EXPECT_LT(b.trigger(), a.trigger());
}

// The lower bound is Go's (minTriggerRatioNum, 0.7 of the way): a trigger
// that runs earlier lets a fast allocator grow the heap by what it
// allocates black during the long mark (binary-trees at depth 20 ran at
// 0.5 with marks 2x the live heap); assists and their credit wait hold the
// heap to the goal instead.
TEST(PacerTest, LearnedTriggerStaysBetweenSeventyAndNinetyFivePercent) {
  // Far more allocation during marking than the span: clamped at 70%.
  Pacer busy(Config(100, true));
  for (int i = 0; i < 5; i++) {
    busy.EndCycle(Sample(10 * kMiB, 5 * kMiB, 17 * kMiB, 117 * kMiB), false);
    EXPECT_NEAR(TriggerFraction(busy, 10 * kMiB), 0.7, 1e-6);
  }
  // None at all, repeatedly: the runway decays to nothing; clamped at 95%.
  Pacer quiet(Config(100, true));
  for (int i = 0; i < 40; i++) {
    quiet.EndCycle(Sample(10 * kMiB, 5 * kMiB, 19 * kMiB, 19 * kMiB), false);
  }
  EXPECT_NEAR(TriggerFraction(quiet, 10 * kMiB), 0.95, 1e-6);
  // Random histories: always within the bounds.
  std::mt19937_64 rng(42);
  Pacer p(Config(100, true));
  for (int i = 0; i < 2000; i++) {
    const uint64_t live = 1 * kMiB + rng() % (200 * kMiB);
    const uint64_t scan = 1 + rng() % (live + 1);
    const uint64_t start = live + rng() % (live + 1);
    const uint64_t end = start + rng() % (rng() % 4 == 0 ? 400 * kMiB : kMiB);
    p.EndCycle(Sample(live, scan, start, end), false);
    const double span = static_cast<double>(p.goal()) - live;
    ASSERT_GT(span, 0);
    ASSERT_GE(static_cast<double>(p.trigger()), live + 0.7 * span - 1) << i;
    ASSERT_LE(static_cast<double>(p.trigger()), live + 0.95 * span + 1) << i;
  }
}

// ---- assists ----------------------------------------------------------------

TEST(PacerTest, AssistRatioGrowsTowardTheGoalAndStaysFinitePastIt) {
  Pacer p(Config(100, true));
  p.EndCycle(Sample(10 * kMiB, 5 * kMiB, 17 * kMiB, 18 * kMiB), false);
  ASSERT_EQ(p.goal(), 20 * kMiB);
  p.StartMark(p.trigger());
  auto ratio = [&](double heap_mib, double scan_done_mib = 0) {
    return p.AssistRatio(static_cast<int64_t>(heap_mib * kMiB),
                         static_cast<int64_t>(scan_done_mib * kMiB));
  };
  // Before the goal: less room left, more work per byte.
  double prev = 0;
  for (double h : {10.0, 15.0, 18.0, 19.0, 19.5, 19.75}) {
    const double r = ratio(h);
    EXPECT_TRUE(std::isfinite(r)) << h;
    EXPECT_GT(r, prev) << h;
    prev = r;
  }
  // ~5 MiB of expected scan work over the 2 MiB left at 18 MiB.
  EXPECT_NEAR(ratio(18), 2.5, 0.01);
  // Near and past the goal the distance is floored at 0.1% of the goal:
  // positive, finite and never smaller however far the heap has grown.
  // Past the goal, a byte costs the remaining work over 20 KiB: 256 bytes
  // of scan work (the floor was 2%, 12.8 bytes, and with so little owed
  // the mutators ran on to the hard goal while marking finished: the
  // pause workload's marks ended 7-10% over their goal, and its marked
  // bytes, and the goals doubling them, grew cycle after cycle).
  EXPECT_NEAR(ratio(20.5), 5.0 / (0.001 * 20), 0.1);
  EXPECT_GE(ratio(20.0), 100);
  prev = 0;
  for (double h : {20.0, 20.5, 21.0, 21.5, 21.8, 22.0, 30.0, 1e6, 1e9}) {
    const double r = ratio(h);
    EXPECT_TRUE(std::isfinite(r)) << h;
    EXPECT_GT(r, 0) << h;
    EXPECT_GE(r, prev) << h;
    prev = r;
  }
  EXPECT_TRUE(
      std::isfinite(p.AssistRatio(std::numeric_limits<int64_t>::max(), 0)));
  // Work already done lowers the ratio, down to a floor above zero.
  EXPECT_LT(ratio(15, 2), ratio(15, 0));
  EXPECT_LT(ratio(15, 4), ratio(15, 2));
  EXPECT_GT(ratio(15, 100), 0);
  EXPECT_EQ(ratio(15, 100), ratio(15, 1000));
}

TEST(PacerTest, FirstCycleAssistsAssumeTheWholeHeapLive) {
  // No cycle measured: the expected scan work is scaled from the heap at
  // mark start, so a bigger heap owes more.
  Pacer small(Config(100, true)), big(Config(100, true));
  small.StartMark(1 * kMiB);
  big.StartMark(3 * kMiB);
  EXPECT_LT(small.AssistRatio(3 * kMiB, 0), big.AssistRatio(3 * kMiB, 0));
}

// ---- CPU limiter
// --------------------------------------------------------------

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

// Drives a limiter with a synthetic clock: each step of `step` ns, the
// collector uses `gc_share` of `procs` processors.
struct Clock {
  GcCpuLimiter* limiter;
  int procs;
  int64_t now = 0;
  // Runs for `duration`; returns the time the limiter first was on (-1 if
  // never) and counts the steps it was on.
  int64_t Run(int64_t duration, double gc_share, int64_t step = 10 * kMs,
              int* on_steps = nullptr) {
    int64_t first_on = -1;
    for (int64_t t = 0; t < duration; t += step) {
      limiter->AddGcTime(std::llround(gc_share * procs * step));
      now += step;
      if (limiter->Update(now)) {
        if (first_on < 0) first_on = now;
        if (on_steps != nullptr) ++*on_steps;
      }
    }
    return first_on;
  }
};

TEST(GcCpuLimiterTest, FortyPercentNeverTurnsOn) {
  GcCpuLimiter l(2, 0);
  Clock c{&l, 2};
  EXPECT_EQ(c.Run(5 * kSec, 0.40), -1);
  EXPECT_FALSE(l.limited());
  EXPECT_EQ(l.engaged(), 0u);
  EXPECT_EQ(l.level_fraction(), 0.0);
  // Just under the 50% budget: still never.
  EXPECT_EQ(c.Run(5 * kSec, 0.49), -1);
  EXPECT_EQ(l.engaged(), 0u);
}

TEST(GcCpuLimiterTest, EightyPercentTurnsOnOnce) {
  GcCpuLimiter l(2, 0);
  Clock c{&l, 2};
  // The bucket (1 s x 2 procs) fills at gc / 0.5 - procs x elapsed, i.e.
  // 0.6 x 2 CPU-s per second at 80%: full after 1/0.6 s = 1.67 s.
  int on_steps = 0;
  const int64_t first_on = c.Run(5 * kSec, 0.80, 10 * kMs, &on_steps);
  EXPECT_GE(first_on, 1600 * kMs);
  EXPECT_LE(first_on, 1700 * kMs);
  EXPECT_TRUE(l.limited());
  EXPECT_EQ(l.engaged(), 1u);  // switched on once, stayed on
  EXPECT_EQ(on_steps, (5 * kSec - first_on) / (10 * kMs) + 1);
  EXPECT_EQ(l.level_fraction(), 1.0);
}

TEST(GcCpuLimiterTest, AllGcTurnsOnWithinOneWindow) {
  GcCpuLimiter l(2, 0);
  Clock c{&l, 2};
  const int64_t first_on = c.Run(2 * kSec, 1.0);
  EXPECT_GT(first_on, 0);
  EXPECT_LE(first_on, 1 * kSec);
  EXPECT_EQ(l.engaged(), 1u);
}

TEST(GcCpuLimiterTest, TurnsOffWhenGcTimeDrops) {
  GcCpuLimiter l(2, 0);
  Clock c{&l, 2};
  ASSERT_GE(c.Run(3 * kSec, 0.9), 0);
  ASSERT_TRUE(l.limited());
  // The collector drops to 10%: off at once (on only while full), and the
  // bucket drains.
  int on_steps = 0;
  EXPECT_EQ(c.Run(2 * kSec, 0.1, 10 * kMs, &on_steps), -1);
  EXPECT_EQ(on_steps, 0);
  EXPECT_FALSE(l.limited());
  EXPECT_EQ(l.level_fraction(), 0.0);
  EXPECT_EQ(l.engaged(), 1u);
  // Back over budget: on again, counted again.
  EXPECT_GE(c.Run(3 * kSec, 0.9), 0);
  EXPECT_EQ(l.engaged(), 2u);
}

TEST(GcCpuLimiterTest, BucketIsClamped) {
  GcCpuLimiter l(2, 0);
  // One enormous stretch of collector time (an hour of CPU): full, on...
  l.AddGcTime(3600 * kSec);
  EXPECT_TRUE(l.Update(0));
  EXPECT_EQ(l.level_fraction(), 1.0);
  EXPECT_EQ(l.engaged(), 1u);
  // ...but capped at capacity, so mutator time turns it off at once and
  // drains it in one window.
  Clock c{&l, 2};
  c.Run(10 * kMs, 0.0);
  EXPECT_FALSE(l.limited());
  c.Run(1 * kSec, 0.0);
  EXPECT_EQ(l.level_fraction(), 0.0);

  // Clamped at zero too: a long idle stretch banks no credit, so a busy
  // collector afterwards is limited after one window, not after 100 s.
  c.Run(100 * kSec, 0.0, 100 * kMs);
  const int64_t start = c.now;
  const int64_t first_on = c.Run(3 * kSec, 1.0);
  ASSERT_GE(first_on, 0);
  EXPECT_LE(first_on - start, 1 * kSec);
  EXPECT_EQ(l.engaged(), 2u);
}

TEST(GcCpuLimiterTest, ClockGoingBackwardsCountsNoTime) {
  GcCpuLimiter l(2, 10 * kSec);
  l.AddGcTime(400 * kMs);
  EXPECT_FALSE(l.Update(5 * kSec));  // earlier than the last update
  EXPECT_DOUBLE_EQ(l.level_fraction(), 0.8 / 2.0);  // 0.4 s / 0.5, no drain
}

TEST(GcCpuLimiterTest, ConcurrentGcTimeIsAllCounted) {
  GcCpuLimiter l(2, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; i++) l.AddGcTime(100'000);  // 0.1 ms
    });
  }
  for (auto& th : threads) th.join();
  // 0.4 s of collector time at a 50% budget fills 0.8 of the 2 s bucket.
  EXPECT_FALSE(l.Update(0));
  EXPECT_DOUBLE_EQ(l.level_fraction(), 0.4);
}

}  // namespace
}  // namespace gcheap
