// Unit tests of the mark work buffers (gc/gcwork.h): a GcWork's two
// buffers, the shared WorkPool, balancing and disposal, and a concurrent
// stress test in which every queued item must come out exactly once.
#include "gc/gcwork.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gcheap {
namespace {

constexpr size_t kCap = WorkBuf::kCapacity;

// Items are fake addresses: distinct multiples of 8 (never dereferenced).
uintptr_t Item(size_t i) { return 4096 + 8 * i; }

std::vector<uintptr_t> DrainAll(GcWork* w) {
  std::vector<uintptr_t> out;
  uintptr_t p;
  while (w->TryGet(&p)) out.push_back(p);
  return out;
}

TEST(GcWorkTest, EmptyWorkHasNothing) {
  WorkPool pool;
  GcWork w(&pool);
  uintptr_t p;
  EXPECT_FALSE(w.TryGet(&p));
  EXPECT_TRUE(w.LocalEmpty());
  EXPECT_EQ(pool.nfull(), 0u);
}

// Within one buffer the order is last in, first out (depth first).
TEST(GcWorkTest, LocalWorkIsLastInFirstOut) {
  WorkPool pool;
  GcWork w(&pool);
  for (size_t i = 0; i < 10; i++) w.Put(Item(i));
  EXPECT_FALSE(w.LocalEmpty());
  uintptr_t p;
  for (size_t i = 10; i-- > 0;) {
    ASSERT_TRUE(w.TryGet(&p));
    EXPECT_EQ(p, Item(i));
  }
  EXPECT_FALSE(w.TryGet(&p));
  EXPECT_EQ(pool.nfull(), 0u) << "local work never went to the pool";
}

// Two buffers fill locally; the third buffer's worth publishes a full one,
// which another worker can take. Nothing is lost or duplicated.
TEST(GcWorkTest, OverflowPublishesFullBuffers) {
  WorkPool pool;
  GcWork a(&pool);
  const size_t n = 3 * kCap + 7;
  for (size_t i = 0; i < n; i++) a.Put(Item(i));
  // Two buffers stay local; the other full ones were published.
  EXPECT_EQ(pool.nfull(), 2u);
  EXPECT_EQ(pool.queued(), 2 * kCap);
  GcWork b(&pool);
  std::vector<uintptr_t> got = DrainAll(&b);  // only what was published
  EXPECT_EQ(got.size(), 2 * kCap);
  std::vector<uintptr_t> rest = DrainAll(&a);
  got.insert(got.end(), rest.begin(), rest.end());
  std::sort(got.begin(), got.end());
  ASSERT_EQ(got.size(), n);
  for (size_t i = 0; i < n; i++) EXPECT_EQ(got[i], Item(i));
  EXPECT_EQ(pool.nfull(), 0u);
  EXPECT_EQ(pool.queued(), 0u);
}

// Balance hands part of the local work to the pool for idle workers.
TEST(GcWorkTest, BalanceSharesLocalWork) {
  WorkPool pool;
  GcWork a(&pool);
  for (size_t i = 0; i < 100; i++) a.Put(Item(i));
  a.Balance();
  EXPECT_EQ(pool.nfull(), 1u);
  EXPECT_EQ(pool.queued(), 50u);
  GcWork b(&pool);
  std::vector<uintptr_t> theirs = DrainAll(&b), mine = DrainAll(&a);
  EXPECT_EQ(mine.size(), 50u);
  EXPECT_EQ(theirs.size(), 50u);
  // A single item is not worth sharing.
  a.Put(Item(0));
  a.Balance();
  EXPECT_EQ(pool.nfull(), 0u);
}

// Dispose returns every buffer: non-empty ones as full work.
// A request for work (an assist or the idle worker found the pool empty)
// is seen by exactly one busy worker, once, until the next request.
TEST(GcWorkTest, AWorkRequestIsTakenOnce) {
  WorkPool pool;
  EXPECT_FALSE(pool.TakeWorkRequest());
  pool.RequestWork();
  pool.RequestWork();  // two askers before a worker looks: one request
  EXPECT_TRUE(pool.TakeWorkRequest());
  EXPECT_FALSE(pool.TakeWorkRequest());
  pool.RequestWork();
  EXPECT_TRUE(pool.TakeWorkRequest());
}

TEST(GcWorkTest, DisposeGivesEverythingBack) {
  WorkPool pool;
  {
    GcWork a(&pool);
    for (size_t i = 0; i < kCap + 3; i++) a.Put(Item(i));
    a.Dispose();
    EXPECT_TRUE(a.LocalEmpty());
    EXPECT_EQ(pool.queued(), kCap + 3);
    for (size_t i = 0; i < 5; i++) a.Put(Item(kCap + 3 + i));
  }  // the destructor disposes too
  EXPECT_EQ(pool.queued(), kCap + 8);
  GcWork b(&pool);
  EXPECT_EQ(DrainAll(&b).size(), kCap + 8);
}

// Workers push, pop, balance and dispose concurrently (more threads than
// processors); every item comes out exactly once.
TEST(GcWorkTest, ConcurrentWorkersLoseAndDuplicateNothing) {
  WorkPool pool;
  constexpr int kThreads = 6;
  constexpr size_t kPerThread = 20000;
  std::vector<std::atomic<uint8_t>> seen(kThreads * kPerThread);
  std::atomic<size_t> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      GcWork w(&pool);
      for (size_t i = 0; i < kPerThread; i++) {
        w.Put(Item(t * kPerThread + i));
        if (i % 3 == 0) {
          uintptr_t p;
          if (w.TryGet(&p)) {
            seen[(p - 4096) / 8].fetch_add(1);
            taken.fetch_add(1);
          }
        }
        if (i % 1000 == 0) w.Balance();
      }
      w.Dispose();
      // Help drain whatever is in the pool.
      uintptr_t p;
      while (taken.load() < kThreads * kPerThread) {
        if (w.TryGet(&p)) {
          seen[(p - 4096) / 8].fetch_add(1);
          taken.fetch_add(1);
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t i = 0; i < seen.size(); i++) {
    ASSERT_EQ(seen[i].load(), 1) << "item " << i;
  }
  EXPECT_EQ(pool.nfull(), 0u);
}

}  // namespace
}  // namespace gcheap
