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

#include "gc_test_util.h"
#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"
#include "tools/mark_window.h"

namespace gcheap {
namespace {

struct Obj {
  void* slot[2];
  uint64_t pad[6];
};

gc_type_id RegisterObj(gc_heap* h) {
  return RegisterSmallType(h, "Obj", sizeof(Obj), 0b11);
}

// A thread of its own that allocates 64 MiB of garbage, then sets
// *finished.
std::thread AllocateGarbage(gc_heap* h, gc_type_id t,
                            std::atomic<bool>* finished) {
  return std::thread([h, t, finished] {
    gc_mutator* am = gc_thread_attach(h);
    for (int i = 0; i < (64 << 20) / 64; i++) {
      ASSERT_NE(gc_alloc(am, t, sizeof(Obj)), nullptr) << gc_last_error();
    }
    gc_thread_detach(am);
    finished->store(true);
  });
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
  bool closed = false;
  const bool in_time = FinishesOnAttachedThread(
      h,
      [&](gc_mutator* am) {
        for (int i = 0; i < 20000; i++) {
          ASSERT_NE(gc_alloc(am, t, sizeof(Obj)), nullptr) << gc_last_error();
        }
      },
      [&] {  // lets a waiting allocation finish
        gc_leave_blocking(m);
        window.Close();
        closed = true;
      });
  const bool still_marking = h->collector->marking();
  if (!closed) {
    gc_leave_blocking(m);
    window.Close();
  }
  EXPECT_TRUE(in_time) << "allocation waited for a cycle held open";
  EXPECT_TRUE(still_marking);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// The hard goal holds from the moment a cycle is requested, not only once
// marking has begun: a mutator whose heap passes it while the cycle is
// still starting (the driver sweeps, then stops the world) waits for the
// cycle. Here the start is held (the driver blocks as sweep termination
// begins) while a thread allocates 64 MiB of garbage against a 4 MiB goal:
// it must stop near the hard goal. It used to run on to the end, and under
// load a heap triggered at 3 MB was seen at 35 MB when pause 1 began
// (ThreadsTest.AutomaticCollectionsFromManyThreads counted one cycle).
TEST(MarkAssistTest, HardGoalHoldsWhileTheCycleIsStarting) {
  gc_heap* h = NewConcurrentHeap(100);
  ASSERT_NE(h, nullptr) << gc_last_error();
  const gc_type_id t = RegisterObj(h);
  std::mutex mu;
  std::condition_variable cv;
  bool held = false, released = false;
  h->collector->SetPhaseHookForTesting([&](GcPhase p) {
    if (p != GcPhase::kSweepTermination) return;
    std::unique_lock<std::mutex> g(mu);
    if (held) return;  // hold the first cycle only
    held = true;
    cv.notify_all();
    cv.wait(g, [&] { return released; });
  });
  std::atomic<bool> finished{false};
  std::thread allocator = AllocateGarbage(h, t, &finished);
  // Observe for 2 s (or until the allocation is over): the allocation
  // must not finish while the cycle cannot start.
  {
    std::unique_lock<std::mutex> g(mu);
    ASSERT_TRUE(cv.wait_for(g, kLiveness, [&] { return held; }));
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!finished.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool finished_while_held = finished.load();
  const gc_stats s = GetStats(h);
  const uint64_t live = s.bytes_in_use;
  const uint64_t hard_goal =
      static_cast<uint64_t>(s.heap_goal * Pacer::kHardGoalFactor);
  {
    std::lock_guard<std::mutex> g(mu);
    released = true;
  }
  cv.notify_all();
  allocator.join();
  h->collector->SetPhaseHookForTesting(nullptr);
  EXPECT_FALSE(finished_while_held)
      << "64 MiB allocated while the cycle was held at its start";
  // A span refill checks the hard goal: allow a few spans past it.
  EXPECT_LE(live, hard_goal + (1 << 20));
  gc_heap_destroy(h);
}

// A concurrent heap whose mark phase is held open, with its background
// workers treated as running but making no credit
// (SetBackgroundMarkingForTesting), and a thread allocating 64 MiB of
// garbage into it against a 4 MiB goal. The test's own mutator stays
// blocked from WaitForCreditWait until Finish.
class HeldMarkWithoutCredit {
 public:
  HeldMarkWithoutCredit()
      : h_(NewConcurrentHeap(100)),
        m_(gc_thread_attach(h_)),
        c_(h_->collector.get()),
        window_(h_, m_) {
    const gc_type_id t = RegisterObj(h_);
    c_->SetBackgroundMarkingForTesting(true);
    window_.Open();
    allocator_ = AllocateGarbage(h_, t, &finished_);
  }
  gc_heap* heap() const { return h_; }
  Collector* collector() const { return c_; }
  // Until the allocator waits for credit, or (without the wait) reaches
  // the hard goal or the end. Returns whether it waits.
  bool WaitForCreditWait() {
    gc_enter_blocking(m_);
    const auto deadline = std::chrono::steady_clock::now() + kLiveness;
    while (!c_->AssistWaitingForTesting() && !c_->OverHardGoal() &&
           !finished_.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return c_->AssistWaitingForTesting();
  }
  // Credit no longer "comes": the waiter returns at its next look, assists
  // with nothing, and allocates on (to the hard goal) until Close ends the
  // cycle; then the heap goes.
  void Finish() {
    gc_leave_blocking(m_);
    c_->SetBackgroundMarkingForTesting(false);
    c_->WakeAssistWaiters();
    window_.Close();
    gc_enter_blocking(m_);  // later cycles must not wait for us
    allocator_.join();
    gc_leave_blocking(m_);
    gc_thread_detach(m_);
    gc_heap_destroy(h_);
  }

 private:
  gc_heap* h_;
  gc_mutator* m_;
  Collector* c_;
  MarkWindow window_;
  std::atomic<bool> finished_{false};
  std::thread allocator_;
};

// A mutator in assist debt with nothing to mark and no background credit
// waits, counted as blocked, for background workers to bank credit (Go's
// assist queue), instead of allocating on to the hard goal. The mark phase
// is held open and the workers are treated as running but make no credit
// (HeldMarkWithoutCredit): a thread allocating 64 MiB of garbage against a
// 4 MiB goal must stop in the credit wait before the heap reaches the goal.
// Without the wait it allocated up to the hard goal (4.4 MiB) and waited
// there for the cycle, and the heap ended each mark at the hard goal:
// binary-trees at depth 20 ended its marks 10% over a goal inflated by what
// the mutator allocated black meanwhile.
TEST(MarkAssistTest, DebtWithNothingToMarkWaitsForBackgroundCredit) {
  HeldMarkWithoutCredit held;
  const bool waited = held.WaitForCreditWait();
  const uint64_t heap_live =
      static_cast<uint64_t>(held.heap()->heap.heap_live().load());
  const uint64_t goal = held.collector()->heap_goal();
  held.Finish();
  EXPECT_TRUE(waited) << "the allocator never waited for background credit";
  EXPECT_LT(heap_live, goal) << "allocated past the goal while in debt";
}

// A mutator waiting for background credit also wakes when a background
// worker has put work into the pool on the idle worker's request
// (OfferAssistWork): it may then mark on its own processor instead of
// sleeping until credit covers its debt. Here no credit ever comes, so
// without that wakeup the waiter stays in its wait (it only looks at the
// credit every millisecond) and the count of waits does not move; with it,
// the waiter wakes, finds nothing to mark and waits again.
TEST(MarkAssistTest, OfferedWorkWakesAMutatorWaitingForCredit) {
  HeldMarkWithoutCredit held;
  Collector* c = held.collector();
  const bool waited = held.WaitForCreditWait();
  const uint64_t waits = c->AssistWaitsForTesting();
  c->OfferAssistWork();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (c->AssistWaitsForTesting() == waits &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const uint64_t waits_after = c->AssistWaitsForTesting();
  held.Finish();
  ASSERT_TRUE(waited) << "the allocator never waited for background credit";
  EXPECT_GT(waits_after, waits)
      << "offered work did not wake the mutator waiting for credit";
}

// A mutator waiting for background credit wakes when a worker banks
// enough credit for the debts waiting (PublishBgCredit's notification),
// not at the wait's backstop timeout: with the timeout lengthened to an
// hour, credit published for the waiter must end its wait within seconds.
// (Without the notification the waiter sleeps on and the test fails at its
// deadline; at the default 1 ms backstop a lost notification would only
// cost a millisecond per wait, which no test sees.)
TEST(MarkAssistTest, BankedCreditWakesAMutatorWaitingForIt) {
  HeldMarkWithoutCredit held;
  Collector* c = held.collector();
  c->SetAssistWaitTimeoutForTesting(std::chrono::hours(1));
  const bool waited = held.WaitForCreditWait();
  // Past the first wait, which may have begun before the timeout changed
  // (each wait reads it anew every time it sleeps).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const bool still_waiting = c->AssistWaitingForTesting();
  c->PublishBgCreditForTesting(int64_t{1} << 40);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (c->AssistWaitingForTesting() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool woke = !c->AssistWaitingForTesting();
  c->SetAssistWaitTimeoutForTesting(std::chrono::milliseconds(1));
  held.Finish();
  ASSERT_TRUE(waited) << "the allocator never waited for background credit";
  ASSERT_TRUE(still_waiting) << "the wait ended before any credit came";
  EXPECT_TRUE(woke) << "banked credit did not wake the mutator waiting for it";
}

}  // namespace
}  // namespace gcheap
