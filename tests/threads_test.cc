// Tests for mutator threads: collections while several threads allocate
// (more threads than cores), blocking regions, attach/detach around
// collections, and several heaps in one process. Verification is on, so a
// missed live object aborts with a diagnostic.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "gc_test_util.h"
#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace gcheap {
namespace {

Cell* Cons(gc_mutator* m, gc_type_id t, void* car, void* cdr, int64_t v) {
  auto* c = static_cast<Cell*>(gc_alloc(m, t, sizeof(Cell)));
  if (c == nullptr) return nullptr;
  gc_write_barrier(m, c, &c->car, car);
  gc_write_barrier(m, c, &c->cdr, cdr);
  c->value = v;
  return c;
}

// Builds a list of n cells whose values are seed, seed+1, ...; checks one.
bool CheckList(void* head, int64_t seed, int n) {
  int count = 0;
  for (auto* c = static_cast<Cell*>(head); c; c = static_cast<Cell*>(c->cdr)) {
    if (c->value != seed + (n - 1 - count)) return false;
    count++;
  }
  return count == n;
}

gc_heap* NewHeap(int workers = 0) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.gc_workers = workers;
  return gc_heap_create(&cfg);
}

// Runs one gc_collect of heap h on a thread of its own (attached for it).
// CompletedWithin is a liveness check, not a timing one: tests use it where
// the collection must complete while another thread is held somewhere, and
// give it a generous bound so that a collection that waited for the held
// thread fails the test instead of hanging it.
class CollectInBackground {
 public:
  explicit CollectInBackground(gc_heap* h)
      : thread_([this, h] {
          gc_mutator* m = gc_thread_attach(h);
          gc_collect(m);
          gc_thread_detach(m);
          std::lock_guard<std::mutex> g(mu_);
          done_ = true;
          cv_.notify_all();
        }) {}
  ~CollectInBackground() { thread_.join(); }
  bool CompletedWithin(std::chrono::seconds bound) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, bound, [&] { return done_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

// Five threads (more than the cores) each rebuild a private list of random
// length in their own root, round after round, with three garbage cells
// per list cell; a sixth thread calls gc_collect in a loop.
TEST(ThreadsTest, FiveThreadsAllocateWhileAnotherCollects) {
  gc_heap* h = NewHeap();
  gc_type_id cell = RegisterCell(h);
  constexpr int kThreads = 5;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<uint64_t> allocated{0};
  std::atomic<int> cycles{0};
  auto mutator = [&](int t) {
    gc_mutator* m = gc_thread_attach(h);
    void* root = nullptr;
    gc_add_root(h, &root);
    std::mt19937_64 rng(t);
    // At least 40 rounds, and keep going until the collector has run a
    // few cycles, so collections overlap the allocation.
    for (int round = 0; round < 40 || cycles.load() < 10; round++) {
      const int n = 200 + rng() % 2000;
      const int64_t seed = rng() % 100000;
      root = nullptr;
      for (int i = 0; i < n; i++) {
        Cell* c = Cons(m, cell, nullptr, root, seed + i);
        if (c == nullptr) {
          failures++;
          break;
        }
        root = c;
        for (int g = 0; g < 3; g++) Cons(m, cell, nullptr, nullptr, -1);
        allocated += 4;
      }
      if (!CheckList(root, seed, n)) failures++;
      gc_safepoint(m);
    }
    gc_remove_root(h, &root);
    gc_thread_detach(m);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) threads.emplace_back(mutator, t);
  std::thread collector([&] {
    gc_mutator* m = gc_thread_attach(h);
    while (!stop.load()) {
      gc_collect(m);
      cycles++;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    gc_thread_detach(m);
  });
  for (auto& th : threads) th.join();
  stop = true;
  collector.join();
  EXPECT_EQ(failures.load(), 0);
  const gc_stats s = GetStats(h);
  EXPECT_GE(s.cycles, 10u);
  gc_heap_destroy(h);
}

// Threads in a blocking region do not hold up a collection, and wake up
// with their data intact.
TEST(ThreadsTest, BlockedThreadsDoNotHoldUpACollection) {
  gc_heap* h = NewHeap();
  gc_type_id cell = RegisterCell(h);
  std::atomic<int> blocked{0};
  std::atomic<bool> release{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(h);
      void* root = nullptr;
      gc_add_root(h, &root);
      for (int i = 0; i < 1000; i++) root = Cons(m, cell, nullptr, root, i);
      gc_enter_blocking(m);
      blocked++;
      while (!release.load()) std::this_thread::yield();  // "blocking call"
      gc_leave_blocking(m);
      if (!CheckList(root, 0, 1000)) failures++;
      gc_remove_root(h, &root);
      gc_thread_detach(m);
    });
  }
  while (blocked.load() < 4) std::this_thread::yield();
  gc_mutator* m = gc_thread_attach(h);
  for (int i = 0; i < 5; i++) gc_collect(m);  // must not wait for them
  const gc_stats s = GetStats(h);
  EXPECT_EQ(s.cycles, 5u);
  EXPECT_EQ(s.live_objects, 4000u);
  release = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// Blocking brackets nest (a VM's blocking call runs a library that brackets
// its own): after an inner bracket ends, the thread still counts as stopped
// for the rest of the outer one, so another thread's collection does not
// wait for it. The sleeper stays in its outer bracket until the collection
// has completed, so a collection that waited for it could not complete:
// the test then gives up after a generous bound, releases the sleeper and
// fails (before brackets nested, the inner leave made the sleeper count as
// running, and gc_collect waited for the whole sleep).
TEST(ThreadsTest, NestedBlockingBracketsKeepTheThreadStopped) {
  gc_heap* h = NewHeap();
  gc_type_id cell = RegisterCell(h);
  std::mutex mu;
  std::condition_variable cv;
  bool asleep = false, release = false;
  std::atomic<int> failures{0};
  std::thread sleeper([&] {
    gc_mutator* m = gc_thread_attach(h);
    void* root = nullptr;
    gc_add_root(h, &root);
    for (int i = 0; i < 100; i++) root = Cons(m, cell, nullptr, root, i);
    gc_enter_blocking(m);  // outer
    gc_enter_blocking(m);  // inner
    gc_leave_blocking(m);  // inner ends; still inside the outer bracket
    {
      std::unique_lock<std::mutex> g(mu);
      asleep = true;
      cv.notify_all();
      cv.wait(g, [&] { return release; });  // "sleeping"
    }
    gc_leave_blocking(m);  // outer
    if (!CheckList(root, 0, 100)) failures++;
    gc_remove_root(h, &root);
    gc_thread_detach(m);
  });
  {
    std::unique_lock<std::mutex> g(mu);
    cv.wait(g, [&] { return asleep; });
  }
  bool collected_while_asleep;
  {
    CollectInBackground collect(h);
    collected_while_asleep = collect.CompletedWithin(std::chrono::seconds(30));
    std::lock_guard<std::mutex> g(mu);
    release = true;
    cv.notify_all();
  }
  sleeper.join();
  EXPECT_TRUE(collected_while_asleep)
      << "gc_collect waited for a thread inside an outer blocking bracket";
  const gc_stats s = GetStats(h);
  EXPECT_EQ(s.cycles, 1u);
  EXPECT_EQ(s.live_objects, 100u);  // the sleeper's rooted list survived
  EXPECT_EQ(failures.load(), 0);
  gc_heap_destroy(h);
}

// Threads attach, allocate a little, and detach, again and again, while
// collections run; leaving threads' cached memory returns to the heap.
TEST(ThreadsTest, AttachAndDetachAroundCollections) {
  gc_heap* h = NewHeap();
  gc_type_id cell = RegisterCell(h);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  void* shared = nullptr;  // a list every thread appends to, under a lock
  std::mutex shared_mu;
  gc_add_root(h, &shared);
  std::thread collector([&] {
    gc_mutator* m = gc_thread_attach(h);
    while (!stop.load()) gc_collect(m);
    gc_thread_detach(m);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; round++) {
        gc_mutator* m = gc_thread_attach(h);
        if (gc_current_mutator(h) != m) failures++;
        void* local = nullptr;
        gc_add_root(h, &local);
        for (int i = 0; i < 100; i++) local = Cons(m, cell, nullptr, local, i);
        if (!CheckList(local, 0, 100)) failures++;
        // Publish one cell; the lock is a blocking call.
        gc_enter_blocking(m);
        shared_mu.lock();
        gc_leave_blocking(m);
        shared = Cons(m, cell, local, shared, t);
        shared_mu.unlock();
        gc_remove_root(h, &local);
        gc_thread_detach(m);
        if (gc_current_mutator(h) != nullptr) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  collector.join();
  gc_mutator* m = gc_thread_attach(h);
  gc_collect(m);
  const gc_stats s = GetStats(h);
  // 200 published cells, each holding its 100-cell list.
  EXPECT_EQ(s.live_objects, 200u * 101);
  EXPECT_EQ(failures.load(), 0);
  gc_remove_root(h, &shared);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// A thread that exits without detaching is detached automatically, so it
// cannot hold up later collections.
TEST(ThreadsTest, ThreadExitDetachesItsMutators) {
  gc_heap* h = NewHeap();
  gc_type_id cell = RegisterCell(h);
  std::thread([&] {
    gc_mutator* m = gc_thread_attach(h);
    Cons(m, cell, nullptr, nullptr, 1);
  }).join();  // exits attached
  gc_mutator* m = gc_thread_attach(h);
  gc_collect(m);  // would wait forever for the exited thread
  const gc_stats s = GetStats(h);
  EXPECT_EQ(s.cycles, 1u);
  gc_thread_detach(m);
  gc_heap_destroy(h);  // aborts if a mutator were still attached
}

// Automatic collections triggered by several allocating threads at once.
TEST(ThreadsTest, AutomaticCollectionsFromManyThreads) {
  gc_heap* h = NewHeap(2);
  gc_type_id cell = RegisterCell(h);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; t++) {
    threads.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(h);
      void* root = nullptr;
      gc_add_root(h, &root);
      for (int round = 0; round < 20; round++) {
        root = nullptr;
        for (int i = 0; i < 20000; i++) root = Cons(m, cell, nullptr, root, i);
        if (!CheckList(root, 0, 20000)) failures++;
      }
      gc_remove_root(h, &root);
      gc_thread_detach(m);
    });
  }
  for (auto& th : threads) th.join();
  const gc_stats s = GetStats(h);
  // 58 MB allocated against a 4 MB goal (at most 3 MB live): automatic
  // cycles must have run (concurrent requests from several threads may
  // share one cycle, and the last one may still be running). A mutator
  // past the hard goal waits for the cycle in progress, so each cycle
  // lets the heap grow by a few MB only. (Before that held while a cycle
  // was starting, a starved driver let the heap reach 35 MB before its
  // first pause, and this counted 1 cycle under load.)
  EXPECT_GE(s.cycles, 2u);
  EXPECT_EQ(failures.load(), 0);
  gc_heap_destroy(h);
}

// Independent heaps in one process, used from the same threads.
TEST(ThreadsTest, SeveralHeapsAtOnce) {
  gc_heap* heaps[3] = {NewHeap(1), NewHeap(2), NewHeap(1)};
  gc_type_id cells[3];
  for (int i = 0; i < 3; i++) cells[i] = RegisterCell(heaps[i]);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 3; t++) {
    threads.emplace_back([&, t] {
      gc_mutator* ms[3];
      void* roots[3] = {nullptr, nullptr, nullptr};
      for (int i = 0; i < 3; i++) {
        ms[i] = gc_thread_attach(heaps[i]);
        gc_add_root(heaps[i], &roots[i]);
      }
      for (int i = 0; i < 30000; i++) {
        int k = i % 3;
        roots[k] = Cons(ms[k], cells[k], nullptr, roots[k], i / 3);
        if (i % 7000 == 0) gc_collect(ms[(k + t) % 3]);
      }
      for (int k = 0; k < 3; k++) {
        if (!CheckList(roots[k], 0, 10000)) failures++;
        // An object of one heap is not an object of another.
        gc_remove_root(heaps[k], &roots[k]);
        gc_thread_detach(ms[k]);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (gc_heap* h : heaps) {
    gc_mutator* m = gc_thread_attach(h);
    gc_collect(m);
    const gc_stats s = GetStats(h);
    EXPECT_EQ(s.live_objects, 0u);
    gc_thread_detach(m);
    gc_heap_destroy(h);
  }
}

}  // namespace
}  // namespace gcheap

namespace gcheap {
namespace {

// A thread attached to two heaps that leaves a blocking bracket of heap A
// while A's world is stopped parks in A, and meanwhile counts as stopped in
// heap B too (as it does when it parks at a safepoint), so a collection of
// B completes while A's pause lasts. A is held stopped by the test until B's
// collection has completed, so a B collection that waited for the thread
// could not complete: the test then gives up after a generous bound,
// restarts A and fails.
TEST(ThreadsTest, LeavingABracketIntoAPauseCountsAsStoppedInOtherHeaps) {
  gc_heap* a = NewHeap();
  gc_heap* b = NewHeap();
  std::mutex mu;
  std::condition_variable cv;
  bool in_bracket = false;
  std::atomic<bool> leave{false};
  std::thread both([&] {
    gc_mutator* ma = gc_thread_attach(a);
    gc_mutator* mb = gc_thread_attach(b);
    gc_enter_blocking(ma);
    {
      std::lock_guard<std::mutex> g(mu);
      in_bracket = true;
      cv.notify_all();
    }
    while (!leave.load()) std::this_thread::yield();  // not touching A
    gc_leave_blocking(ma);  // A is stopped: parks here
    gc_thread_detach(mb);
    gc_thread_detach(ma);
  });
  {
    std::unique_lock<std::mutex> g(mu);
    cv.wait(g, [&] { return in_bracket; });
  }
  a->world.StopTheWorld();  // the thread is blocked in A: returns
  leave.store(true);
  // Wait until it has parked in A (its A mutator leaves kBlocked).
  gc_mutator* ma = nullptr;
  while (ma == nullptr || ma->state.load() != kParked) {
    a->handshake.ForEachMutator([&](gc_mutator* m) { ma = m; });
    std::this_thread::yield();
  }
  bool collected_while_parked;
  {
    CollectInBackground collect(b);
    collected_while_parked = collect.CompletedWithin(std::chrono::seconds(30));
    a->world.StartTheWorld();
  }
  both.join();
  EXPECT_TRUE(collected_while_parked)
      << "heap B's collection waited for a thread parked in heap A";
  gc_heap_destroy(a);
  gc_heap_destroy(b);
}

// The handshake itself: while the world is stopped no mutator may run.
// A stopper that is not a mutator (like the concurrent collector's driver)
// stops and restarts the world back to back while 6 threads (3 per core)
// poll and count; with the world stopped the counts must not move. (A
// mutator woken by one restart, still counted as parked by the next stop,
// used to run on through it.)
TEST(ThreadsTest, NoMutatorRunsWhileTheWorldIsStopped) {
  gc_config cfg;
  gc_config_init(&cfg);
  gc_heap* heap = gc_heap_create(&cfg);
  constexpr int kThreads = 6;
  std::atomic<uint64_t> counts[kThreads] = {};
  std::atomic<bool> stop{false};
  std::atomic<int> attached{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(heap);
      attached.fetch_add(1);
      while (!stop.load(std::memory_order_relaxed)) {
        gc_safepoint(m);
        counts[t].fetch_add(1, std::memory_order_relaxed);
      }
      gc_thread_detach(m);
    });
  }
  while (attached.load() < kThreads) std::this_thread::yield();
  int moved = 0;
  for (int i = 0; i < 1000 && moved == 0; i++) {
    heap->world.StopTheWorld();
    uint64_t before[kThreads];
    for (int t = 0; t < kThreads; t++) before[t] = counts[t].load();
    for (int spin = 0; spin < 200; spin++)
      std::atomic_signal_fence(std::memory_order_seq_cst);
    std::this_thread::yield();
    for (int t = 0; t < kThreads; t++) {
      if (counts[t].load() != before[t]) moved++;
    }
    heap->world.StartTheWorld();
  }
  stop.store(true);
  for (auto& th : threads) th.join();
  EXPECT_EQ(moved, 0) << "a mutator ran while the world was stopped";
  gc_heap_destroy(heap);
}

}  // namespace
}  // namespace gcheap
