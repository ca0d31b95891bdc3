// fork() with live heaps (runtime/process.h): the child gets working heaps.
//
// The parent has two heaps, one with concurrent cycles and one with
// stop-the-world cycles, each used by mutator threads that allocate and
// check their own lists, and by a thread that collects in a loop, so a
// cycle is nearly always in flight when the main thread forks. Each child
// (forked many times) uses both heaps: it allocates a rooted list,
// collects (a full cycle on each heap, which needs the collector's threads
// that only the parent had before the fork), checks the list and the
// statistics, and exits 0; it is killed and counted as a failure if it
// does not exit within the time limit (before fork support, gc_collect in
// the child waited forever for a driver thread that did not exist). The
// parent goes on allocating and collecting between forks, and checks its
// threads' lists at the end.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gc_test_util.h"
#include "gtest/gtest.h"
#include "runtime/gc.h"

// ThreadSanitizer supports fork, but by default ends a child of a
// multi-threaded process that starts threads; the child here must (the
// collector's threads), so this binary lets it.
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }

namespace gcheap {
namespace {

struct TestHeap {
  gc_heap* heap;
  gc_type_id cell;
};

TestHeap NewHeap(bool stw) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.stop_the_world = stw ? 1 : 0;
  TestHeap t;
  t.heap = gc_heap_create(&cfg);
  t.cell = RegisterCell(t.heap);
  return t;
}

Cell* Cons(gc_mutator* m, gc_type_id t, void* cdr, int64_t v) {
  auto* c = static_cast<Cell*>(gc_alloc(m, t, sizeof(Cell)));
  if (c == nullptr) return nullptr;
  gc_write_barrier(m, c, &c->cdr, cdr);
  c->value = v;
  return c;
}

// The list head, cdr-linked, values n-1 .. 0.
bool CheckList(void* head, int n) {
  int count = 0;
  for (auto* c = static_cast<Cell*>(head); c; c = static_cast<Cell*>(c->cdr)) {
    if (c->value != n - 1 - count) return false;
    count++;
  }
  return count == n;
}

// What a child does; returns its exit status (0: all well).
int ChildMain(TestHeap* heaps, int nheaps) {
  for (int i = 0; i < nheaps; i++) {
    gc_heap* h = heaps[i].heap;
    gc_mutator* m = gc_thread_attach(h);
    static void* root;
    root = nullptr;
    if (gc_add_root(h, &root) != 0) return 10;
    constexpr int kLen = 5000;
    for (int v = 0; v < kLen; v++) {
      root = Cons(m, heaps[i].cell, root, v);
      if (root == nullptr) return 11;
      if (v % 1000 == 0) Cons(m, heaps[i].cell, nullptr, -1);  // garbage
    }
    const gc_stats before = GetStats(h);
    gc_collect(m);
    gc_collect(m);
    const gc_stats after = GetStats(h);
    if (after.cycles < before.cycles + 2) return 12;
    if (!CheckList(root, kLen)) return 13;
    // The child's list is live; the parent's threads' lists were live at
    // the fork, but those threads are gone and their roots still point at
    // their last lists, so at least kLen objects are live.
    if (after.live_objects < kLen) return 14;
    gc_remove_root(h, &root);
    gc_thread_detach(m);
  }
  return 0;
}

TEST(ForkTest, ChildOfAForkWithCyclesInFlightGetsWorkingHeaps) {
  TestHeap heaps[2] = {NewHeap(/*stw=*/false), NewHeap(/*stw=*/true)};
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  // The threads' roots are not on their stacks: in a child, other threads'
  // stacks are gone (glibc reuses them for the child's new threads), while
  // their registered roots stay registered.
  static void* thread_roots[2][2];
  for (int i = 0; i < 2; i++) {
    for (int t = 0; t < 2; t++) {
      threads.emplace_back([&, i, t] {
        TestHeap& th = heaps[i];
        gc_mutator* m = gc_thread_attach(th.heap);
        void*& root = thread_roots[i][t];
        root = nullptr;
        gc_add_root(th.heap, &root);
        while (!stop.load()) {
          root = nullptr;
          for (int v = 0; v < 1000; v++) root = Cons(m, th.cell, root, v);
          if (!CheckList(root, 1000)) failures++;
        }
        gc_remove_root(th.heap, &root);
        gc_thread_detach(m);
      });
    }
    threads.emplace_back([&, i] {
      gc_mutator* m = gc_thread_attach(heaps[i].heap);
      while (!stop.load()) gc_collect(m);
      gc_thread_detach(m);
    });
  }
  // The main thread is attached too, and allocates between forks.
  gc_mutator* mains[2] = {gc_thread_attach(heaps[0].heap),
                          gc_thread_attach(heaps[1].heap)};
  constexpr int kForks = 20;
  int child_failures = 0;
  for (int f = 0; f < kForks; f++) {
    for (int i = 0; i < 2; i++) {
      for (int v = 0; v < 2000; v++) Cons(mains[i], heaps[i].cell, nullptr, v);
    }
    fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0) << strerror(errno);
    if (pid == 0) {
      // The main thread's mutators were attached in the parent and are the
      // child's now.
      const int status = ChildMain(heaps, 2);
      _exit(status);
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int status = 0;
    for (;;) {
      if (waitpid(pid, &status, WNOHANG) == pid) break;
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        status = -1;
        break;
      }
      // A blocking wait: cycles in the parent must not wait for us.
      gc_enter_blocking(mains[0]);
      gc_enter_blocking(mains[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      gc_leave_blocking(mains[1]);
      gc_leave_blocking(mains[0]);
    }
    if (status != 0) {
      child_failures++;
      ADD_FAILURE() << "child " << f << ": "
                    << (status == -1 ? std::string("hung (killed after 60 s)")
                        : WIFEXITED(status)
                            ? "exit status " +
                                  std::to_string(WEXITSTATUS(status))
                            : "signal " + std::to_string(WTERMSIG(status)));
    }
  }
  stop.store(true);
  for (int i = 0; i < 2; i++) gc_enter_blocking(mains[i]);
  for (auto& t : threads) t.join();
  for (int i = 0; i < 2; i++) gc_leave_blocking(mains[i]);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(child_failures, 0);
  for (int i = 0; i < 2; i++) {
    gc_collect(mains[i]);  // the parent's collector works after the forks
    gc_thread_detach(mains[i]);
    gc_heap_destroy(heaps[i].heap);
  }
}

// A heap whose finalizer thread runs (it is attached, and may be waiting
// for work or running a finalizer at the fork): the child gets a new
// finalizer thread, which runs the child's finalizers.
std::atomic<int> g_finalized{0};
void CountFinalizer(gc_mutator*, void*, void*) { g_finalized++; }

TEST(ForkTest, TheChildGetsAFinalizerThread) {
  TestHeap th = NewHeap(/*stw=*/false);
  gc_mutator* m = gc_thread_attach(th.heap);
  for (int f = 0; f < 5; f++) {
    // Keep the parent's finalizer thread busy around the fork.
    for (int i = 0; i < 200; i++) {
      gc_register_finalizer(m, Cons(m, th.cell, nullptr, i), &CountFinalizer,
                            nullptr, GC_FINALIZE_UNORDERED);
    }
    gc_collect(m);
    fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0) << strerror(errno);
    if (pid == 0) {
      g_finalized = 0;
      for (int i = 0; i < 50; i++) {
        gc_register_finalizer(m, Cons(m, th.cell, nullptr, i), &CountFinalizer,
                              nullptr, GC_FINALIZE_ORDERED);
      }
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (g_finalized.load() < 50) {
        if (std::chrono::steady_clock::now() > deadline) _exit(20);
        gc_collect(m);
        gc_enter_blocking(m);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        gc_leave_blocking(m);
      }
      _exit(0);
    }
    int status = 0;
    gc_enter_blocking(m);
    waitpid(pid, &status, 0);
    gc_leave_blocking(m);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child " << f << " status " << status;
  }
  gc_thread_detach(m);
  gc_heap_destroy(th.heap);
}

}  // namespace
}  // namespace gcheap
