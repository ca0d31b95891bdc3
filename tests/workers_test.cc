// Unit tests of the mark worker threads (gc/workers.h): RunParallel runs
// fn(0) on the caller and fn(1..n-1) on pool threads, each exactly once,
// caps n, and returns only when every call has returned.
#include "gc/workers.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gcheap {
namespace {

TEST(WorkerPoolTest, EachIdRunsOnceAndZeroOnTheCaller) {
  WorkerPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  std::mutex mu;
  std::vector<int> ids;
  std::set<std::thread::id> threads;
  std::thread::id caller_of_zero;
  pool.RunParallel(4, [&](int id) {
    std::lock_guard<std::mutex> g(mu);
    ids.push_back(id);
    threads.insert(std::this_thread::get_id());
    if (id == 0) caller_of_zero = std::this_thread::get_id();
  });
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(threads.size(), 4u);
  EXPECT_EQ(caller_of_zero, std::this_thread::get_id());
}

TEST(WorkerPoolTest, NIsCappedAtThePoolPlusTheCaller) {
  WorkerPool pool(2);
  std::atomic<int> calls{0};
  pool.RunParallel(10, [&](int) { calls.fetch_add(1); });
  EXPECT_EQ(calls.load(), 3);
  calls = 0;
  pool.RunParallel(0, [&](int id) {
    EXPECT_EQ(id, 0);
    calls.fetch_add(1);
  });
  EXPECT_EQ(calls.load(), 1);
  WorkerPool none(0);
  none.RunParallel(4, [&](int id) { EXPECT_EQ(id, 0); });
}

// RunParallel returns only after every call returned, job after job, with
// fewer participants than threads too.
TEST(WorkerPoolTest, ReturnsAfterEveryCallManyJobs) {
  WorkerPool pool(4);
  for (int job = 0; job < 2000; job++) {
    const int n = 1 + job % 5;
    std::atomic<int> running{0}, done{0};
    pool.RunParallel(n, [&](int) {
      running.fetch_add(1);
      if (job % 7 == 0) std::this_thread::yield();
      done.fetch_add(1);
    });
    ASSERT_EQ(done.load(), n) << "job " << job;
    ASSERT_EQ(running.load(), n);
  }
}

}  // namespace
}  // namespace gcheap
