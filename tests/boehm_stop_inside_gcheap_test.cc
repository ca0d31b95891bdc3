// boehm_stop_inside_gcheap_test: libgc.so.1's stop of the world (the
// layer, runtime/boehm, linked in statically) with a Boehm thread inside
// gcheap, counted as blocked there and holding gcheap's heap lock, when
// another collection's pause stops the Boehm threads. This is the mprotect
// soak's deadlock: GC_gcollect's caller finishing the sweep took the heap
// lock in MHeap::RetentionGoal, the world hook suspended it there with the
// signal, and the next pause (PageTracker::BeginMark; in stop-the-world
// mode the sweep cycle's start) waited for the lock for ever.
//
// How: a testing hook of the heap (MHeap::SetRetentionGoalHookForTesting)
// holds thread A, inside its GC_gcollect, in RetentionGoal. A takes the
// lock only once the main thread's collection has requested its first
// stop (GC_EVENT_PRE_STOP_WORLD, whose handler waits for A: nothing before
// the stop, such as mostly-concurrent marking's page protection, needs the
// lock then), and holds it until the hook has stopped the Boehm threads
// (GC_EVENT_POST_STOP_WORLD). Suspended there, A would never see that
// event and the pause would wait for the lock: a watchdog then fails the
// test (exit 1, with a message) instead of hanging. A's own list, held
// only by its stack across the GC_gcollect, must survive both collections
// (the thread left running inside gcheap is still scanned).
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/boehm/boehm_internal.h"
#include "tests/boehm_test_util.h"

namespace {

using gcheap_test::MakeList;
using gcheap_test::Node;

// The scenario's steps, in order.
enum Step : int {
  kIdle,
  kAWaits,    // A is in RetentionGoal, before the lock
  kGo,        // the main thread's collection requested its stop
  kAHolds,    // A holds the heap lock
  kStopped,   // the world hook stopped the Boehm threads
  kReleased,  // A returned from the hook (the lock is free)
};
std::atomic<int> g_step{kIdle};
std::atomic<bool> g_timed_out{false};
thread_local bool t_is_a = false;

// Waits (bounded) until g_step reaches `want`; false on timeout.
bool WaitFor(int want, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (g_step.load() < want) {
    if (std::chrono::steady_clock::now() > end) {
      g_timed_out = true;
      return false;
    }
    usleep(200);
  }
  return true;
}

void RetentionGoalHook(bool locked) {
  if (!t_is_a) return;
  if (!locked) {
    int idle = kIdle;
    if (!g_step.compare_exchange_strong(idle, kAWaits)) return;
    WaitFor(kGo, std::chrono::seconds(20));
    return;
  }
  int go = kGo;
  if (!g_step.compare_exchange_strong(go, kAHolds)) return;
  // Heap lock held: wait for the Boehm threads' stop. Suspended here by
  // the hook, A never gets past this wait.
  if (WaitFor(kStopped, std::chrono::seconds(20))) g_step = kReleased;
}

void OnEvent(GC_EventType e) {
  if (e == GC_EVENT_PRE_STOP_WORLD) {
    int waits = kAWaits;
    // The main thread's collection (A waits in its sweep): let A take the
    // lock before the world is stopped.
    if (g_step.compare_exchange_strong(waits, kGo)) {
      WaitFor(kAHolds, std::chrono::seconds(20));
    }
  } else if (e == GC_EVENT_POST_STOP_WORLD) {
    int holds = kAHolds;
    g_step.compare_exchange_strong(holds, kStopped);
  }
}

std::atomic<long> g_a_sum{-1};
std::atomic<int> g_a_freed{-1};

__attribute__((noinline)) void* ThreadA(void*) {
  Node* mine = MakeList(1000);  // only on this thread's stack
  t_is_a = true;                // the hook acts in this GC_gcollect only
  gcheap_test::Collect();
  t_is_a = false;
  int freed = 0;
  for (Node* n = mine; n != nullptr; n = n->next) {
    freed += GC_base(n) == nullptr;
  }
  g_a_sum = gcheap_test::Sum(mine);
  g_a_freed = freed;
  return nullptr;
}

TEST(BoehmStopInsideGcheap,
     ThreadHoldingTheHeapLockInsideGcheapIsNotSuspended) {
  GC_INIT();
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 600 && !done.load(); i++) usleep(100000);
    if (!done.load()) {
      fprintf(stderr,
              "DEADLOCK: the collections did not finish within 60 s (step "
              "%d): the world hook suspended a thread holding gcheap's heap "
              "lock inside gcheap\n",
              g_step.load());
      fflush(stderr);
      _exit(1);
    }
  });
  GC_set_on_collection_event(OnEvent);
  gcheap::boehm::g.heap->heap.SetRetentionGoalHookForTesting(RetentionGoalHook);
  pthread_t a;
  ASSERT_EQ(GC_pthread_create(&a, nullptr, ThreadA, nullptr), 0);
  ASSERT_TRUE(WaitFor(kAWaits, std::chrono::seconds(30)))
      << "thread A never reached RetentionGoal in its GC_gcollect";
  gcheap_test::Collect();  // the collection whose pause meets A
  ASSERT_EQ(GC_pthread_join(a, nullptr), 0);
  done = true;
  watchdog.join();
  gcheap::boehm::g.heap->heap.SetRetentionGoalHookForTesting(nullptr);
  GC_set_on_collection_event(nullptr);
  EXPECT_FALSE(g_timed_out.load())
      << "a step timed out (step " << g_step.load() << ")";
  EXPECT_EQ(g_step.load(), kReleased);
  EXPECT_EQ(g_a_sum.load(), 1000L * 999 / 2);
  EXPECT_EQ(g_a_freed.load(), 0);
}

}  // namespace
