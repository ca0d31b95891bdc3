// boehm_heap_size_test: the Boehm ABI layer's heap sizing (runtime/boehm,
// linked in statically), in a process of its own since
// GC_INITIAL_HEAP_SIZE is read at initialization:
//  - GC_INITIAL_HEAP_SIZE grows the heap to that size at GC_init, and no
//    automatic collection starts before that much is in use;
//  - GC_expand_hp raises that floor by its argument, as Boehm's requested
//    heap size grows (gcheap's own minimum goal is 4 MiB: without the
//    floor the heap collects every few MiB of garbage);
//  - GC_set_max_heap_size after initialization takes effect: allocation
//    past it returns the out-of-memory function's result (NULL), and 0
//    lifts the limit again.
// Collections are counted with GC_get_gc_no; garbage is allocated in
// 4000-byte atomic objects that nothing keeps.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>

#include "gtest/gtest.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;

void Init() {
  setenv("GC_INITIAL_HEAP_SIZE", "32M", 1);  // read by the first GC_init
  GC_INIT();
}

__attribute__((noinline)) void AllocateGarbage(size_t bytes) {
  for (size_t done = 0; done < bytes; done += 4000) {
    ASSERT_NE(GC_MALLOC_ATOMIC(4000), nullptr);
  }
}

TEST(BoehmHeapSize, InitialHeapSizeDelaysTheFirstCollection) {
  Init();
  EXPECT_GE(GC_get_heap_size(), 32 * kMiB);
  ASSERT_EQ(GC_get_gc_no(), 0u);
  AllocateGarbage(24 * kMiB);  // below 32 MiB in use: no collection
  EXPECT_EQ(GC_get_gc_no(), 0u);
  AllocateGarbage(64 * kMiB);  // past it: collections happen again
  EXPECT_GT(GC_get_gc_no(), 0u);
}

TEST(BoehmHeapSize, ExpandHpRaisesTheFloorOfAutomaticCollections) {
  Init();
  const size_t heap = GC_get_heap_size();
  ASSERT_EQ(GC_expand_hp(64 * kMiB), 1);  // requested: 32 + 64 MiB
  EXPECT_GE(GC_get_heap_size(), heap + 64 * kMiB);
  GC_gcollect();  // little is live after it
  const GC_word n = GC_get_gc_no();
  AllocateGarbage(80 * kMiB);
  EXPECT_EQ(GC_get_gc_no(), n);
}

std::atomic<int> g_oom_calls{0};
void* CountingOom(size_t) {
  g_oom_calls.fetch_add(1);
  return nullptr;
}

void** g_chain;  // a data-segment root: every chunk stays reachable

TEST(BoehmHeapSize, MaxHeapSizeAfterInitTakesEffect) {
  Init();
  GC_gcollect();
  const GC_oom_func old_oom = GC_get_oom_fn();
  GC_set_oom_fn(CountingOom);
  const size_t in_use = GC_get_memory_use();
  GC_set_max_heap_size(in_use + 16 * kMiB);
  // 64 KiB chunks kept alive: NULL comes after about 16 MiB.
  size_t kept = 0;
  bool failed = false;
  for (int i = 0; i < 1024 && !failed; i++) {  // at most 64 MiB
    auto** c = static_cast<void**>(GC_MALLOC(64 << 10));
    if (c == nullptr) {
      failed = true;
      break;
    }
    *c = g_chain;
    g_chain = c;
    kept += 64 << 10;
  }
  EXPECT_TRUE(failed);
  EXPECT_EQ(g_oom_calls.load(), 1);
  EXPECT_GE(kept, 8 * kMiB);
  EXPECT_LE(kept, 16 * kMiB);
  // 0 lifts the limit.
  GC_set_max_heap_size(0);
  for (int i = 0; i < 512; i++) {
    auto** c = static_cast<void**>(GC_MALLOC(64 << 10));
    ASSERT_NE(c, nullptr) << i;
    *c = g_chain;
    g_chain = c;
  }
  EXPECT_EQ(g_oom_calls.load(), 1);
  g_chain = nullptr;
  GC_set_oom_fn(old_oom);
}

}  // namespace
