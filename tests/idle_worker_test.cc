// Tests of the idle-priority mark worker (gc/idle_worker.h): the gate on
// its own, and in a heap: it joins a background mark when a processor is
// left over after the running mutators (Go's idle mark worker), really
// marks then, stays out when none is, and mark termination never waits
// for its idle-priority thread.
#include "gc/idle_worker.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "gc_test_util.h"
#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace gcheap {
namespace {

// ---- the gate ---------------------------------------------------------------

// A slice runs only while the gate is open; TryClose fails while one runs
// and, once it succeeds, no slice starts before the next Open.
TEST(IdleWorkerTest, GateAdmitsSlicesOnlyWhileOpen) {
  IdleMarkWorker w;
  EXPECT_TRUE(w.closed());
  std::mutex mu;
  std::condition_variable cv;
  bool in_slice = false, finish = false;
  std::atomic<int> after_close{0};
  std::atomic<bool> closed{false};
  const IdleMarkWorker::Slice slice = [&] {
    if (closed.load()) after_close.fetch_add(1);
    std::unique_lock<std::mutex> g(mu);
    in_slice = true;
    cv.notify_all();
    cv.wait(g, [&] { return finish; });
    return false;
  };
  w.Open(&slice);
  {
    std::unique_lock<std::mutex> g(mu);
    // The scout runs at idle priority: on a busy machine this may take a
    // while, but it does run.
    ASSERT_TRUE(cv.wait_for(g, kLiveness, [&] { return in_slice; }));
  }
  EXPECT_FALSE(w.TryClose()) << "closed while a slice was running";
  {
    std::lock_guard<std::mutex> g(mu);
    finish = true;
  }
  cv.notify_all();
  const auto deadline = std::chrono::steady_clock::now() + kLiveness;
  while (!w.TryClose() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  closed.store(true);
  EXPECT_TRUE(w.closed());
  EXPECT_GE(w.slices(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(after_close.load(), 0) << "a slice started after TryClose";
}

// While its slices find work and nothing preempts it, the marker runs
// them back to back without going back to the scout: 2,000 slices that
// each find work take a handful of the scout's requests (one, unless the
// marker was preempted meanwhile), not one each. Each request is a
// handoff between two threads (four futex calls, two to four context
// switches); per 100 us slice they were most of binary-trees' context
// switches on two processors.
TEST(IdleWorkerTest, RunsSlicesBackToBackWhileTheyFindWork) {
  constexpr int kSlices = 2000;
  IdleMarkWorker w;
  std::atomic<int> requests{0}, slices{0}, requests_at_last{-1};
  w.SetScoutHookForTesting([&] { requests.fetch_add(1); });
  const IdleMarkWorker::Slice slice = [&] {
    const int n = slices.fetch_add(1) + 1;
    if (n == kSlices) requests_at_last.store(requests.load());
    return n < kSlices;  // found work, until the last
  };
  w.Open(&slice);
  const auto deadline = std::chrono::steady_clock::now() + kLiveness;
  while (requests_at_last.load() < 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  while (!w.TryClose() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  w.SetScoutHookForTesting(nullptr);
  ASSERT_TRUE(w.closed());
  ASSERT_GE(requests_at_last.load(), 1) << "the slices never all ran";
  EXPECT_LE(requests_at_last.load(), kSlices / 10)
      << "the scout was asked for most slices";
}

// Slices run back to back leave the gate open between them: a worker
// closing it (as mark termination does, every 20 us while it waits) gets
// it closed while the marker's slices keep finding work, and no slice
// starts after that.
TEST(IdleWorkerTest, GateClosesBetweenBackToBackSlices) {
  IdleMarkWorker w;
  std::atomic<int> slices{0}, after_close{0};
  std::atomic<bool> closed{false};
  const IdleMarkWorker::Slice slice = [&] {
    if (closed.load()) after_close.fetch_add(1);
    slices.fetch_add(1);
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::microseconds(20);
    while (std::chrono::steady_clock::now() < end) {
    }
    return true;  // always found work
  };
  w.Open(&slice);
  auto deadline = std::chrono::steady_clock::now() + kLiveness;
  while (slices.load() < 100 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GE(slices.load(), 100) << "the idle worker never ran";
  deadline = std::chrono::steady_clock::now() + kLiveness;
  while (!w.TryClose() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  closed.store(true);
  ASSERT_TRUE(w.closed()) << "TryClose never found the gate between slices";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(after_close.load(), 0) << "a slice started after TryClose";
}

// ---- in a heap --------------------------------------------------------------

// What the cycle hook saw of each concurrent cycle.
struct Seen {
  std::mutex mu;
  std::vector<CycleInfo> cycles;
  void Add(const CycleInfo& c) {
    std::lock_guard<std::mutex> g(mu);
    if (c.concurrent) cycles.push_back(c);
  }
};

// Runs `running` attached threads that keep running while another thread
// calls gc_collect, until done(seen) or `max_cycles` cycles.
template <typename Done>
void CollectWhileMutatorsRun(gc_heap* h, int running, int max_cycles,
                             Seen* seen, Done done) {
  std::atomic<bool> stop{false};
  std::atomic<int> attached{0};
  std::vector<std::thread> mutators;
  for (int t = 0; t < running; t++) {
    mutators.emplace_back([&] {
      gc_mutator* m = gc_thread_attach(h);
      attached.fetch_add(1);
      // Running: computing, polling at safepoints, not allocating (an
      // allocating thread past the hard goal would wait, i.e. block).
      while (!stop.load(std::memory_order_relaxed)) gc_safepoint(m);
      gc_thread_detach(m);
    });
  }
  while (attached.load() < running) std::this_thread::yield();
  std::thread collector([&] {
    gc_mutator* m = gc_thread_attach(h);
    for (int i = 0; i < max_cycles; i++) {
      gc_collect(m);
      std::lock_guard<std::mutex> g(seen->mu);
      if (done(seen->cycles)) break;
    }
    gc_thread_detach(m);
  });
  collector.join();
  stop.store(true);
  for (std::thread& t : mutators) t.join();
}

// A rooted list of n cells (mark work for every cycle), built by a
// temporary mutator.
void BuildList(gc_heap* h, gc_type_id cell, void** root, int n) {
  gc_mutator* m = gc_thread_attach(h);
  for (int i = 0; i < n; i++) {
    auto* c = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
    ASSERT_NE(c, nullptr);
    gc_write_barrier(m, c, &c->cdr, *root);
    c->value = i;
    *root = c;
  }
  gc_thread_detach(m);
}

// The concurrent cycles of a heap with gc_workers = 2 and a rooted list of
// `cells` cells, collected by a thread of its own while `running` other
// threads run, until done(cycles) or `max_cycles` cycles.
template <typename Done>
std::vector<CycleInfo> CyclesWhileMutatorsRun(int running, int cells,
                                              int max_cycles, Done done) {
  gc_heap* h = NewConcurrentHeap(100, 2);
  EXPECT_NE(h, nullptr) << gc_last_error();
  if (h == nullptr) return {};
  void* list = nullptr;
  EXPECT_EQ(gc_add_root(h, &list), 0);
  BuildList(h, RegisterCell(h), &list, cells);
  // A cycle that BuildList's allocation started may still be marking,
  // planned while that mutator ran or after it detached: finish it before
  // watching cycles (the hook saw such a "cycle 1" with 0 running
  // mutators, 2 runs in 10 under asan-ubsan).
  {
    gc_mutator* m = gc_thread_attach(h);
    gc_collect(m);
    gc_thread_detach(m);
  }
  Seen seen;
  h->collector->SetCycleHook([&](const CycleInfo& c) { seen.Add(c); });
  CollectWhileMutatorsRun(h, running, max_cycles, &seen, done);
  h->collector->SetCycleHook(nullptr);
  gc_remove_root(h, &list);
  gc_heap_destroy(h);
  return seen.cycles;
}

// The motivating case: one mutator running on two processors. The 25% of
// two processors is a fractional worker, so a processor is left over: the
// idle worker is offered it in every cycle, and it does mark (it needs the
// spare processor to be really idle now and then, so cycles repeat until
// one shows it; a busy machine only delays that).
TEST(IdleWorkerTest, MarksWhenOneMutatorRunsOnTwoProcessors) {
  const std::vector<CycleInfo> cycles =
      CyclesWhileMutatorsRun(1, 200000, 2000, [](const auto& cycles) {
        return !cycles.empty() && cycles.back().idle_slices > 0;
      });
  ASSERT_FALSE(cycles.empty());
  for (const CycleInfo& c : cycles) {
    EXPECT_EQ(c.running_mutators, 1) << "cycle " << c.cycle;
    EXPECT_TRUE(c.idle_worker) << "cycle " << c.cycle;
  }
  EXPECT_GT(cycles.back().idle_slices, 0u)
      << "the idle worker never marked in " << cycles.size() << " cycles";
}

// Three mutators running on two processors: none is left over, and the
// idle worker is never offered one (nor marks).
TEST(IdleWorkerTest, StaysOutWhenTheMutatorsTakeEveryProcessor) {
  const std::vector<CycleInfo> cycles =
      CyclesWhileMutatorsRun(3, 50000, 10, [](const auto&) { return false; });
  ASSERT_FALSE(cycles.empty());
  for (const CycleInfo& c : cycles) {
    EXPECT_EQ(c.running_mutators, 3) << "cycle " << c.cycle;
    EXPECT_FALSE(c.idle_worker) << "cycle " << c.cycle;
    EXPECT_EQ(c.idle_slices, 0u) << "cycle " << c.cycle;
  }
}

// The idle-priority thread may not run for a long time on a busy machine
// (SCHED_IDLE). Here a hook holds it inside its loop for good, as soon as
// it takes part in a mark phase: every cycle must still finish. (It used
// to be counted in the termination condition and waited for.)
TEST(IdleWorkerTest, TerminationNeverWaitsForTheIdlePriorityThread) {
  gc_heap* h =
      NewConcurrentHeap(100, 2);  // one mutator at most: a spare processor
  ASSERT_NE(h, nullptr) << gc_last_error();
  const gc_type_id cell = RegisterCell(h);
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  std::atomic<int> held{0};
  h->collector->SetIdleWorkerHookForTesting([&] {
    held.fetch_add(1);
    std::unique_lock<std::mutex> g(mu);
    cv.wait(g, [&] { return released; });
  });
  auto release = [&] {
    {
      std::lock_guard<std::mutex> g(mu);
      released = true;
    }
    cv.notify_all();
  };
  void* list = nullptr;
  ASSERT_EQ(gc_add_root(h, &list), 0);
  BuildList(h, cell, &list, 20000);
  gc_mutator* m = gc_thread_attach(h);
  gc_enter_blocking(m);  // no running mutator: the idle worker is offered
  int after_held = 0;
  bool all_in_time = true;
  for (int i = 0; i < 1000 && after_held < 5 && all_in_time; i++) {
    if (held.load() > 0) after_held++;
    all_in_time = FinishesOnAttachedThread(
        h, [](gc_mutator* cm) { gc_collect(cm); }, release);
  }
  release();
  gc_leave_blocking(m);
  EXPECT_TRUE(all_in_time) << "a cycle waited for the held idle worker";
  EXPECT_GT(held.load(), 0) << "the idle worker never took part";
  h->collector->SetIdleWorkerHookForTesting(nullptr);
  int n = 0;
  for (auto* c = static_cast<Cell*>(list); c; c = static_cast<Cell*>(c->cdr))
    n++;
  EXPECT_EQ(n, 20000);
  gc_remove_root(h, &list);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

}  // namespace
}  // namespace gcheap
