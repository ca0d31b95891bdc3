// Tests for heap/counters.h and the heap's contention counters
// (MHeap::ReadCounters): a counted mutex counts every acquisition and the
// ones that found it held; sharded counts add up over threads; refills,
// the refills that took the page heap's lock, sweep lockers and the span
// sets' operations are counted where they happen.
#include "heap/counters.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "heap/mcache.h"
#include "heap/mheap.h"
#include "tests/heap_test_util.h"

namespace gcheap {
namespace {

TEST(CountedMutexTest, CountsAcquisitionsAndTheOnesThatWaited) {
  CountedMutex mu;
  for (int i = 0; i < 10; i++) {
    mu.lock();
    mu.unlock();
  }
  EXPECT_EQ(mu.acquires(), 10u);
  EXPECT_EQ(mu.waits(), 0u);
  // Another thread holds it: this acquisition must wait, and counts so.
  std::atomic<bool> held{false}, release{false};
  std::thread holder([&] {
    mu.lock();
    held = true;
    while (!release) std::this_thread::yield();
    mu.unlock();
  });
  while (!held) std::this_thread::yield();
  EXPECT_FALSE(mu.try_lock());  // a failed try_lock acquires nothing
  std::thread waiter([&] {
    mu.lock();
    mu.unlock();
  });
  // Give the waiter time to find the lock held (it counts a wait whenever
  // it does; the test only needs it to start before the release).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  release = true;
  holder.join();
  waiter.join();
  EXPECT_EQ(mu.acquires(), 12u);
  EXPECT_EQ(mu.waits(), 1u);
}

TEST(ShardedCountsTest, ThreadsCountIntoTheirOwnShardsAndReadSumsThem) {
  ShardedCounts<2> counts;
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; i++) counts.Add(0);
      counts.Add(1, 5);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counts.Read(0), 16000u);
  EXPECT_EQ(counts.Read(1), 80u);
}

TEST(HeapCountersTest, RefillsSweepLockersAndSpanSetsAreCounted) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  const HeapCounters before = heap.ReadCounters();
  EXPECT_EQ(before.refills, 0u);
  // 64-byte objects: 128 per 8 KiB span. 10 spans' worth: 10 refills, each
  // a fresh span from the page heap (nothing is free yet).
  const size_t per_span = kClassToNElems[SizeToClass(64)];
  for (size_t i = 0; i < 10 * per_span; i++) {
    ASSERT_NE(c->Alloc(64, false), nullptr);
  }
  HeapCounters a = heap.ReadCounters();
  EXPECT_EQ(a.refills, 10u);
  EXPECT_EQ(a.refills_heap_lock, 10u);
  EXPECT_GE(a.heap_locks, 10u);  // one per fresh span at least
  EXPECT_GE(a.sweep_lockers, 10u);
  EXPECT_GE(a.heap_live_updates, 10u);
  // Full spans go back to their central's full set (a push each).
  EXPECT_GE(a.spanset_ops, 9u);
  // Nothing survives a sweep: the spans return to the page heap; after
  // the next refills the counts go on from there.
  SweepCycle(heap, {c});
  ASSERT_NE(c->Alloc(64, false), nullptr);
  HeapCounters b = heap.ReadCounters();
  EXPECT_EQ(b.refills, 11u);
  EXPECT_GT(b.heap_locks, a.heap_locks);
  // A large object: counted, and it takes the heap lock.
  ASSERT_NE(c->Alloc(1 << 20, true), nullptr);
  HeapCounters l = heap.ReadCounters();
  EXPECT_EQ(l.large_allocs, 1u);
  EXPECT_GT(l.heap_locks, b.heap_locks);
  heap.FreeMCache(c);
}

}  // namespace
}  // namespace gcheap
