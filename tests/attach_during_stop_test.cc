// attach_during_stop_test: a thread that attaches while a stop of the
// world begins, on a heap with an event listener. Attach adds the new
// mutator to the list as kRunning under the list lock, then reports the
// attach event with the number of attached mutators; that number was read
// by taking the list lock again after releasing it. A stopper holds the
// list lock for its whole stop and waits for every kRunning mutator, so
// when it took the lock in between, the attaching thread waited for the
// lock and the stopper for the thread, for ever (tree_bench's mtgcbench
// on libgc.so.1 hung so: GC_register_my_thread during a collection, with
// GC_set_on_collection_event's listener installed). The count is now read
// before the lock is released.
//
// How: a testing hook (gc_heap::SetAttachHookForTesting) holds the
// attaching thread right after the list lock is released until the
// collection's stopper holds it (try_lock fails), then lets it go on to
// report the event and poll. A watchdog fails the test (exit 1, with a
// message) instead of hanging.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace {

std::atomic<gc_heap*> g_heap{nullptr};
// 0: not yet attaching; 1: in the hook; 2: the stopper held the list
// lock while the hook ran; 3: the hook timed out.
std::atomic<int> g_step{0};

void HoldUntilTheStopperHoldsTheList() {
  int expected = 0;
  if (!g_step.compare_exchange_strong(expected, 1)) return;  // once
  gc_heap* h = g_heap.load();
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < end) {
    auto list = h->handshake.LockList(std::try_to_lock);
    if (!list.owns_lock()) {
      g_step = 2;
      return;
    }
    list.unlock();
    usleep(500);
  }
  g_step = 3;
}

TEST(AttachDuringStop, TheAttachingThreadReachesItsSafepoint) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.finalizer_thread = 0;  // no other thread attaches
  gc_heap* heap = gc_heap_create(&cfg);
  ASSERT_NE(heap, nullptr);
  gc_event_listener l = {};
  l.struct_size = sizeof(l);
  l.mutator_attached = [](const gc_event*, void*) {};
  ASSERT_EQ(gc_add_event_listener(heap, &l, nullptr), 0);
  gc_mutator* m0 = gc_thread_attach(heap);
  g_heap = heap;
  gc_heap::SetAttachHookForTesting(HoldUntilTheStopperHoldsTheList);
  std::atomic<bool> collected{false};
  std::thread watchdog([&] {
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!collected.load()) {
      if (std::chrono::steady_clock::now() > end) {
        fprintf(stderr,
                "attach_during_stop_test: the collection never finished "
                "(hook step %d): the attaching thread waits for the list "
                "lock the stopper holds\n",
                g_step.load());
        _exit(1);
      }
      usleep(10000);
    }
  });
  std::thread b([&] {
    gc_mutator* mb = gc_thread_attach(heap);
    while (!collected.load()) gc_safepoint(mb);
    gc_thread_detach(mb);
  });
  while (g_step.load() == 0) usleep(500);
  gc_collect(m0);  // its stop takes the list lock while b is in the hook
  collected = true;
  b.join();
  watchdog.join();
  gc_heap::SetAttachHookForTesting(nullptr);
  EXPECT_EQ(g_step.load(), 2);
  gc_thread_detach(m0);
  gc_heap_destroy(heap);
}

}  // namespace
