// Regression test: running a batch of finalizers polls a safepoint after
// each one, so a stop of the world never waits for the whole batch.
//
// The bug (found by tools/bench/weak_bench's finalizer workload, where the
// final pause of a concurrent cycle reached 215 ms): RunFinalizers, which
// both the heap's finalizer thread and gc_run_finalizers use, looped over
// the ready queue without a safepoint. The finalizer thread is an attached
// mutator, so every pause requested while it ran a batch of finalizers
// that do not allocate waited until the batch was done.
//
// The test queues kObjects finalizers that each take about kEach of clock
// time and never allocate, lets the finalizer thread (or a second thread
// calling gc_run_finalizers) start on them, and calls gc_collect from the
// main thread: the collection must complete while most of the batch is
// still unrun. Without the safepoint gc_collect returns only after every
// finalizer ran (the batch takes kObjects * kEach = 3 s, a collection of
// this tiny heap a few ms). Both collector modes.
#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "tests/gc_test_util.h"

namespace gcheap {
namespace {

constexpr int kObjects = 1500;
constexpr auto kEach = std::chrono::milliseconds(2);

std::atomic<int> ran{0};

void SlowFinalizer(gc_mutator*, void*, void*) {
  // Clock time without a safepoint and without allocating.
  const auto until = std::chrono::steady_clock::now() + kEach;
  while (std::chrono::steady_clock::now() < until) {
  }
  ran.fetch_add(1);
}

void CollectDuringABatch(bool stop_the_world, bool finalizer_thread) {
  ran.store(0);
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = stop_the_world ? 1 : 0;
  cfg.finalizer_thread = finalizer_thread ? 1 : 0;
  gc_heap* h = gc_heap_create(&cfg);
  ASSERT_NE(h, nullptr) << gc_last_error();
  gc_mutator* m = gc_thread_attach(h);
  ASSERT_NE(m, nullptr);
  for (int i = 0; i < kObjects; i++) {
    void* p = gc_alloc_noscan(m, 16);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(gc_register_finalizer(m, p, &SlowFinalizer, nullptr,
                                    GC_FINALIZE_UNORDERED),
              0)
        << gc_last_error();
  }
  // Nothing holds them: one collection makes all of them ready.
  gc_collect(m);
  std::thread runner;
  if (!finalizer_thread) {
    runner = std::thread([h] {
      gc_mutator* rm = gc_thread_attach(h);
      gc_run_finalizers(rm);
      gc_thread_detach(rm);
    });
  }
  // Wait (counted as stopped) until the batch has begun.
  gc_enter_blocking(m);
  const auto deadline = std::chrono::steady_clock::now() + kLiveness;
  while (ran.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  gc_leave_blocking(m);
  ASSERT_GT(ran.load(), 0) << "the finalizers never started";
  gc_collect(m);
  const int at_return = ran.load();
  EXPECT_LT(at_return, kObjects / 2)
      << "gc_collect waited for the batch of finalizers to finish";
  // The rest still runs.
  gc_enter_blocking(m);
  if (runner.joinable()) runner.join();
  while (ran.load() < kObjects && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  gc_leave_blocking(m);
  EXPECT_EQ(ran.load(), kObjects);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

TEST(FinalizerSafepointTest, FinalizerThreadBatchDoesNotHoldUpAPause) {
  CollectDuringABatch(/*stop_the_world=*/false, /*finalizer_thread=*/true);
}

TEST(FinalizerSafepointTest, FinalizerThreadBatchDoesNotHoldUpAPauseStw) {
  CollectDuringABatch(/*stop_the_world=*/true, /*finalizer_thread=*/true);
}

TEST(FinalizerSafepointTest, RunFinalizersBatchDoesNotHoldUpAPause) {
  CollectDuringABatch(/*stop_the_world=*/false, /*finalizer_thread=*/false);
}

TEST(FinalizerSafepointTest, RunFinalizersBatchDoesNotHoldUpAPauseStw) {
  CollectDuringABatch(/*stop_the_world=*/true, /*finalizer_thread=*/false);
}

}  // namespace
}  // namespace gcheap
