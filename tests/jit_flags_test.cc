// Tests for the generated-code accessors of gc.h:
// gc_mutator_safepoint_flag_address and gc_mutator_barrier_flag_address.
// A JIT embeds these addresses and polls them with relaxed 32-bit loads,
// so the tests read the flags only through the returned pointers and check
// what a JIT relies on: the safepoint flag turns nonzero when a collection
// wants the thread (and calling gc_safepoint_slow then lets the collection
// finish) and is clear after the cycle, also for a thread that counted as
// stopped during it, the barrier flag is nonzero exactly while a concurrent
// cycle marks, the addresses are distinct words inside the mutator and stay the
// same while it is attached, and they are per mutator.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "tests/gc_test_util.h"
#include "tools/mark_window.h"

namespace gcheap {
namespace {

gc_heap* NewHeap(bool stop_the_world) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = stop_the_world ? 1 : 0;
  cfg.finalizer_thread = 0;
  gc_heap* h = gc_heap_create(&cfg);
  EXPECT_NE(h, nullptr) << gc_last_error();
  return h;
}

uint32_t Relaxed(const uint32_t* p) {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}

TEST(JitFlagsTest, AddressesAreDistinctStableWordsOfTheMutator) {
  gc_heap* h = NewHeap(false);
  gc_mutator* m = gc_thread_attach(h);
  ASSERT_NE(m, nullptr);
  const uint32_t* poll = gc_mutator_safepoint_flag_address(m);
  const uint32_t* wb = gc_mutator_barrier_flag_address(m);
  ASSERT_NE(poll, nullptr);
  ASSERT_NE(wb, nullptr);
  EXPECT_NE(poll, wb);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(poll) % alignof(uint32_t), 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(wb) % alignof(uint32_t), 0u);
  // The ABI's layout: both inside the mutator's head.
  const auto base = reinterpret_cast<uintptr_t>(m);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(poll),
            base + offsetof(gc_mutator_head_, poll));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(wb),
            base + offsetof(gc_mutator_head_, wb_enabled));
  // No collection wants the thread and none marks.
  EXPECT_EQ(Relaxed(poll), 0u);
  EXPECT_EQ(Relaxed(wb), 0u);
  // Stable across collections.
  gc_collect(m);
  EXPECT_EQ(gc_mutator_safepoint_flag_address(m), poll);
  EXPECT_EQ(gc_mutator_barrier_flag_address(m), wb);
  // Per mutator: another thread's flags are elsewhere.
  std::thread other([&] {
    gc_mutator* m2 = gc_thread_attach(h);
    ASSERT_NE(m2, nullptr);
    EXPECT_NE(gc_mutator_safepoint_flag_address(m2), poll);
    EXPECT_NE(gc_mutator_barrier_flag_address(m2), wb);
    gc_thread_detach(m2);
  });
  gc_enter_blocking(m);
  other.join();
  gc_leave_blocking(m);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// The barrier flag, read through its address, is nonzero while a
// concurrent cycle holds its mark phase open, and zero before and after.
TEST(JitFlagsTest, BarrierFlagIsSetExactlyWhileMarking) {
  gc_heap* h = NewHeap(false);
  gc_mutator* m = gc_thread_attach(h);
  ASSERT_NE(m, nullptr);
  const uint32_t* wb = gc_mutator_barrier_flag_address(m);
  EXPECT_EQ(Relaxed(wb), 0u);
  {
    MarkWindow window(h, m);
    window.Open();
    EXPECT_NE(Relaxed(wb), 0u);
    window.Close();
  }
  EXPECT_EQ(Relaxed(wb), 0u);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// A stop-the-world heap never turns the barrier on, so generated code for
// it always takes the plain store.
TEST(JitFlagsTest, BarrierFlagStaysClearInStopTheWorldMode) {
  gc_heap* h = NewHeap(true);
  gc_mutator* m = gc_thread_attach(h);
  ASSERT_NE(m, nullptr);
  const uint32_t* wb = gc_mutator_barrier_flag_address(m);
  std::atomic<bool> done{false};
  std::atomic<uint32_t> seen{0};
  std::thread watcher([&] {
    // Not attached: reads the flag as another core's generated code would.
    while (!done.load()) seen.fetch_or(Relaxed(wb));
  });
  for (int i = 0; i < 3; i++) gc_collect(m);
  done.store(true);
  watcher.join();
  EXPECT_EQ(seen.load(), 0u);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// A thread that polls only through the address (as generated code does)
// sees the flag turn nonzero when another thread's gc_collect wants to
// stop the world; calling gc_safepoint_slow then parks it and the
// collection completes; afterwards the flag is clear again. Both modes.
void PollOnlyThroughTheAddress(bool stop_the_world) {
  gc_heap* h = NewHeap(stop_the_world);
  gc_mutator* m = gc_thread_attach(h);
  ASSERT_NE(m, nullptr);
  const uint32_t* poll = gc_mutator_safepoint_flag_address(m);
  gc_stats before = GetStats(h);
  std::atomic<bool> collected{false};
  std::thread collector([&] {
    gc_mutator* cm = gc_thread_attach(h);
    gc_collect(cm);
    gc_thread_detach(cm);
    collected.store(true);
  });
  // The JIT's loop: poll the word, call the slow path when it is set.
  int slow_calls = 0;
  const auto deadline = std::chrono::steady_clock::now() + kLiveness;
  while (!collected.load() && std::chrono::steady_clock::now() < deadline) {
    if (Relaxed(poll) != 0) {
      slow_calls++;
      gc_safepoint_slow(m);
    }
  }
  ASSERT_TRUE(collected.load()) << "the collection never completed";
  collector.join();
  EXPECT_GE(slow_calls, 1) << "the flag never asked this thread to stop";
  EXPECT_GT(GetStats(h).cycles, before.cycles);
  EXPECT_EQ(Relaxed(poll), 0u);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

TEST(JitFlagsTest, SafepointFlagAsksThePollingThreadToStopConcurrent) {
  PollOnlyThroughTheAddress(false);
}

TEST(JitFlagsTest, SafepointFlagAsksThePollingThreadToStopStw) {
  PollOnlyThroughTheAddress(true);
}

// A concurrent cycle's ragged flush sets kPollFlush in every attached
// mutator's poll word and waits (briefly) only for the running ones; the
// final pause then shades every buffer itself. A thread that counted as
// stopped meanwhile (waiting in its own gc_collect, or in a blocking
// bracket) must find its flag clear afterwards: nothing is asked of it, and
// a JIT's next poll must not take the slow path for a flush already done.
// (PollOnlyThroughTheAddress's closing check depends on this when the
// flush's wait for the polling thread times out on a loaded machine.)
TEST(JitFlagsTest, SafepointFlagIsClearAfterACycleForThreadsThatWereStopped) {
  gc_heap* h = NewHeap(false);
  gc_mutator* m = gc_thread_attach(h);
  ASSERT_NE(m, nullptr);
  const uint32_t* poll = gc_mutator_safepoint_flag_address(m);
  gc_stats before = GetStats(h);
  std::atomic<uint32_t> blocked_poll{~0u};
  std::atomic<bool> entered{false}, go{false};
  std::thread blocked([&] {
    gc_mutator* m2 = gc_thread_attach(h);
    ASSERT_NE(m2, nullptr);
    gc_enter_blocking(m2);
    entered.store(true);
    while (!go.load()) std::this_thread::yield();
    gc_leave_blocking(m2);
    blocked_poll.store(Relaxed(gc_mutator_safepoint_flag_address(m2)));
    gc_thread_detach(m2);
  });
  while (!entered.load()) std::this_thread::yield();
  gc_collect(m);  // m counts as stopped while the cycle runs
  EXPECT_GT(GetStats(h).cycles, before.cycles);
  EXPECT_EQ(Relaxed(poll), 0u);
  go.store(true);
  blocked.join();
  EXPECT_EQ(blocked_poll.load(), 0u);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

TEST(JitFlagsDeathTest, NonMutatorIsMisuse) {
  int not_a_mutator[64] = {0};
  EXPECT_DEATH(gc_mutator_safepoint_flag_address(
                   reinterpret_cast<gc_mutator*>(not_a_mutator)),
               "API misuse in gc_mutator_safepoint_flag_address");
  EXPECT_DEATH(gc_mutator_barrier_flag_address(
                   reinterpret_cast<gc_mutator*>(not_a_mutator)),
               "API misuse in gc_mutator_barrier_flag_address");
}

}  // namespace
}  // namespace gcheap
