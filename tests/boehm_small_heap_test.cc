// boehm_small_heap_test: libgc.so.1's goal floor for small heaps
// (runtime/boehm/boehm.cc, FirstBoehmHeap and FloorGoal; linked in
// statically, in a process of its own, the tests in this order: the floor
// only rises). Boehm's heap starts at 256 KiB, first collects once the
// heap is full and (roots + 2 x stacks) / divisor was allocated, and never
// shrinks; the layer's goal follows that up to 4 MiB, gcheap's default
// min_heap, which was the floor before:
//  - the first automatic collection comes at Boehm's first heap: with this
//    test's small roots well before 4 MiB of allocation;
//  - a small live heap collects near its live data: 512 KiB live collects
//    its garbage at least every 2 MiB (under the 4 MiB floor: about every
//    3.5 MiB);
//  - once the modelled heap has grown to a few MiB, dropping the live data
//    does not bring collections back to the small heap's interval (the
//    model alone shrinks by the live bytes lost), nor lets the goal stay
//    above 4 MiB plus a step.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <stdio.h>

#include "gtest/gtest.h"

namespace {

constexpr size_t kKiB = size_t{1} << 10;
constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kObject = 4000;

void** g_table = nullptr;  // the live set (a data-segment root)

// Replaces the live set with `bytes` of atomic kObject-byte objects, then
// collects.
__attribute__((noinline)) void KeepLive(size_t bytes) {
  g_table = nullptr;
  const size_t n = bytes / kObject;
  if (n > 0) {
    g_table = static_cast<void**>(GC_MALLOC(n * sizeof(void*)));
    ASSERT_NE(g_table, nullptr);
    for (size_t i = 0; i < n; i++) {
      g_table[i] = GC_MALLOC_ATOMIC(kObject);
      ASSERT_NE(g_table[i], nullptr);
    }
  }
  GC_gcollect();
}

// Allocates `bytes` of unreferenced atomic objects of `size` bytes;
// returns the collections it caused.
__attribute__((noinline)) GC_word CollectionsFor(size_t bytes, size_t size) {
  const GC_word before = GC_get_gc_no();
  for (size_t done = 0; done < bytes; done += size) {
    EXPECT_NE(GC_MALLOC_ATOMIC(size), nullptr);
  }
  return GC_get_gc_no() - before;
}

TEST(BoehmSmallHeap, FirstCollectionComesAtBoehmsFirstHeap) {
  GC_INIT();
  ASSERT_EQ(GC_get_gc_no(), 0u);
  const GC_word n = CollectionsFor(3 * kMiB, 64);
  printf("3 MiB from initialization: %lu collections\n", (unsigned long)n);
  // Under the 4 MiB floor: none.
  EXPECT_GE(n, 2u);
}

TEST(BoehmSmallHeap, SmallLiveHeapCollectsNearItsLiveData) {
  KeepLive(512 * kKiB);
  const GC_word n = CollectionsFor(32 * kMiB, kObject);
  printf("512 KiB live, 32 MiB of garbage: %lu collections, heap %zu KiB\n",
         (unsigned long)n, GC_get_heap_size() / kKiB);
  EXPECT_GE(n, 16u);   // at least every 2 MiB
  EXPECT_LE(n, 512u);  // at most every 64 KiB (Boehm's smallest step)
}

TEST(BoehmSmallHeap, GoalStaysAtTheLargestSmallHeapAfterLiveDataDrops) {
  KeepLive(3 * kMiB);
  KeepLive(0);
  const GC_word n = CollectionsFor(64 * kMiB, kObject);
  printf("live 3 MiB then none, 64 MiB of garbage: %lu collections\n",
         (unsigned long)n);
  // The goal stays at the modelled heap that held 3 MiB of live data:
  // at most every 2 MiB (the shrunk model alone: about every 300 KiB).
  EXPECT_LE(n, 32u);
  // And no higher than 4 MiB and a step: at least every 6 MiB.
  EXPECT_GE(n, 10u);
}

}  // namespace
