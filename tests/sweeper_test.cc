// Unit tests of the background sweeper (gc/sweeper.h) on a heap without a
// collector: a wake-up sweeps the whole sweep cycle, calls on_round, and
// returns memory beyond the retention goal to the OS once the heap has
// stayed small; a wake-up during a round is not lost.
#include "gc/sweeper.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "heap/mcache.h"
#include "heap/mheap.h"
#include "tests/heap_test_util.h"

namespace gcheap {
namespace {

constexpr auto kLiveness = std::chrono::seconds(30);

// Waits until sweeper.rounds() reaches n; false on timeout.
bool WaitRounds(const BackgroundSweeper& sweeper, uint64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + kLiveness;
  while (sweeper.rounds() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(BackgroundSweeperTest, AWakeUpSweepsTheWholeCycle) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  // 20000 small objects and 8 large ones, nothing marked: all garbage.
  for (int i = 0; i < 20000; i++) ASSERT_NE(c->Alloc(48, false), nullptr);
  for (int i = 0; i < 8; i++) ASSERT_NE(c->Alloc(1 << 20, true), nullptr);
  std::atomic<int> on_round{0};
  BackgroundSweeper sweeper(&heap, [&] { on_round.fetch_add(1); });
  SweepCycle(heap, {c}, /*finish=*/false);  // flip, sweep nothing
  EXPECT_FALSE(heap.SweepDone());
  EXPECT_GT(heap.ReadStats().in_use_bytes, 0u);
  sweeper.Wake();
  ASSERT_TRUE(WaitRounds(sweeper, 1));
  EXPECT_TRUE(heap.SweepDone());
  EXPECT_EQ(on_round.load(), 1);
  // Every span swept: the large ones freed, the small ones kept whole for
  // their class's next refills (empty spans), until a finished sweep
  // releases them.
  const size_t per_span = kClassToNElems[SizeToClass(48)];
  const size_t small_spans = (20000 + per_span - 1) / per_span;
  EXPECT_EQ(heap.ReadStats().in_use_bytes, small_spans * kPageSize);
  heap.FinishSweep();
  EXPECT_EQ(heap.ReadStats().in_use_bytes, 0u) << "every span freed";
  heap.FreeMCache(c);
}

// Wake-ups that arrive while a round runs coalesce into one more round,
// never into none: after the last flip and wake-up, the sweeper alone
// sweeps that cycle (nothing else sweeps here).
TEST(BackgroundSweeperTest, WakeUpsAreNotLost) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  BackgroundSweeper sweeper(&heap, nullptr);
  for (int cycle = 1; cycle <= 50; cycle++) {
    for (int i = 0; i < 2000; i++) ASSERT_NE(c->Alloc(32, false), nullptr);
    SweepCycle(heap, {c}, /*finish=*/false);
    sweeper.Wake();
  }
  const auto deadline = std::chrono::steady_clock::now() + kLiveness;
  while (!heap.SweepDone() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(heap.SweepDone()) << "the last wake-up was lost";
  EXPECT_GE(sweeper.rounds(), 1u);
  EXPECT_LE(sweeper.rounds(), 50u);
  heap.FreeMCache(c);
}

// Memory the sweep freed goes back to the OS after the round, once the
// heap has stayed small for a full cycle (the retention goal).
TEST(BackgroundSweeperTest, ScavengesAfterItsRound) {
  HeapOptions opts;
  opts.retain_min_bytes = 0;
  opts.retain_fraction = 0;
  MHeap heap(opts);
  MCache* c = heap.NewMCache();
  for (int i = 0; i < 32; i++) ASSERT_NE(c->Alloc(1 << 20, true), nullptr);
  BackgroundSweeper sweeper(&heap, nullptr);
  // Cycle 1 frees the 32 MiB: this cycle's peak still covers it; so does
  // the previous cycle's in cycle 2. In cycle 3 the heap has stayed empty:
  // the sweeper's round releases it all. (The flips here never scavenge.)
  for (int cycle = 1; cycle <= 3; cycle++) {
    EXPECT_EQ(heap.ReadStats().scavenged_bytes_total, 0u) << cycle;
    heap.FinishSweep(/*scavenge=*/false);
    c->ReleaseAll();
    heap.StartSweepCycle();
    sweeper.Wake();
    ASSERT_TRUE(WaitRounds(sweeper, cycle));
  }
  EXPECT_GE(heap.ReadStats().scavenged_bytes_total, size_t{32} << 20);
  heap.FreeMCache(c);
}

}  // namespace
}  // namespace gcheap
