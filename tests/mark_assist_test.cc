// Tests of what mutators do while a concurrent cycle marks
// (gc/mark_assist.cc): allocation during marking, and the hard goal, the
// backstop that makes an allocating mutator wait for the cycle. The
// heaps are concurrent (stop_the_world = 0) with verification on; a
// cycle's mark phase is held open with Collector::SetMarkPhaseHookForTesting
// (tools/mark_window.h), so the tests decide when marking may end.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"
#include "tools/mark_window.h"

namespace gcheap {
namespace {

// How long a test waits for something that must happen before it gives up
// and fails (generous: the machine may be loaded).
constexpr auto kLiveness = std::chrono::seconds(60);

struct Obj {
  void* slot[2];
  uint64_t pad[6];
};

gc_heap* NewConcurrentHeap(int gc_percent) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = 0;
  cfg.verify = 1;
  cfg.gc_percent = gc_percent;
  return gc_heap_create(&cfg);
}

gc_type_id RegisterObj(gc_heap* h) {
  static const uint64_t kMap = 0b11;
  gc_type_desc d = {"Obj", sizeof(Obj), &kMap, 0, nullptr, nullptr};
  return gc_register_type(h, &d);
}

// Runs fn on a new attached thread; returns whether it finished within
// kLiveness. The thread is joined either way, after `release` (which must
// let a stuck fn finish) has run.
template <typename F, typename R>
bool FinishesInTime(gc_heap* h, F fn, R release) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread t([&] {
    gc_mutator* m = gc_thread_attach(h);
    fn(m);
    gc_thread_detach(m);
    std::lock_guard<std::mutex> g(mu);
    done = true;
    cv.notify_all();
  });
  bool in_time;
  {
    std::unique_lock<std::mutex> g(mu);
    in_time = cv.wait_for(g, kLiveness, [&] { return done; });
  }
  release();
  t.join();
  return in_time;
}

// GC_PERCENT=off (no heap goal): allocation while marking never waits for
// the cycle. The hard goal used to be the pacer's "no goal" value plus
// 10%, which overflowed to a negative number, so every span refill during
// marking waited for the whole cycle (and, with the mark phase held open
// here, forever).
TEST(MarkAssistTest, GcPercentOffNeverMakesAllocationWaitForTheCycle) {
  gc_heap* h = NewConcurrentHeap(-1);
  ASSERT_NE(h, nullptr) << gc_last_error();
  const gc_type_id t = RegisterObj(h);
  gc_mutator* m = gc_thread_attach(h);
  MarkWindow window(h, m);
  window.Open();
  gc_enter_blocking(m);  // the allocating thread must never wait for us
  // 20000 objects of 64 bytes refill a span more than 150 times.
  bool still_marking = false;
  const bool in_time = FinishesInTime(
      h,
      [&](gc_mutator* am) {
        for (int i = 0; i < 20000; i++) {
          ASSERT_NE(gc_alloc(am, t, sizeof(Obj)), nullptr) << gc_last_error();
        }
      },
      [&] {
        still_marking = h->collector->marking();
        gc_leave_blocking(m);
        window.Close();  // lets a waiting allocation finish
      });
  EXPECT_TRUE(in_time) << "allocation waited for a cycle held open";
  EXPECT_TRUE(still_marking);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

}  // namespace
}  // namespace gcheap
