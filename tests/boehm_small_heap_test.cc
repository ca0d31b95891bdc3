// boehm_small_heap_test: the Boehm ABI layer's floor under the goal
// (runtime/boehm, PacedGoal; linked in statically, in a process of its own
// because the floor depends on every collection since initialization, so
// the tests run in this order):
//  - while every collection found at most 1 MiB live (and Boehm's modelled
//    heap stayed within 2 MiB), the goal's floor is 2 MiB: 64 MiB of
//    garbage over 256 KiB of live data collects about every 1.75 MiB
//    (about 36 times), not every 3.75 MiB (17 times, gcheap's 4 MiB
//    minimum goal);
//  - the first collection that finds more live data raises the floor to
//    4 MiB: over 1.5 MiB of live data, 64 MiB of garbage collects about
//    every 2.5 MiB (about 26 times), not every 0.5 MiB (about 128 times, a
//    2 MiB floor);
//  - for good: back at 256 KiB of live data, about every 3.75 MiB again.
// The free-space divisor is 100, so that the static roots (several MiB
// under ASan: the sanitizer runtime's data), which Boehm's heap model
// counts, keep the model's heap under 2 MiB: with a larger model the
// floor rightly ends at the first collection. Garbage is 4000-byte atomic
// objects that nothing keeps; the live set is a scanned table (in a
// data-segment root) of atomic 4000-byte objects.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <stdio.h>

#include "gtest/gtest.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kKiB = size_t{1} << 10;
constexpr size_t kObject = 4000;
constexpr size_t kGarbage = 64 * kMiB;

void** g_table = nullptr;  // the live set (a data-segment root)

// Replaces the live set with `bytes` in kObject-byte atomic objects (and
// a scanned table of them), then collects.
__attribute__((noinline)) void KeepLive(size_t bytes) {
  g_table = nullptr;
  const size_t n = bytes / kObject;
  g_table = static_cast<void**>(GC_MALLOC(n * sizeof(void*)));
  ASSERT_NE(g_table, nullptr);
  for (size_t i = 0; i < n; i++) {
    g_table[i] = GC_MALLOC_ATOMIC(kObject);
    ASSERT_NE(g_table[i], nullptr);
  }
  GC_gcollect();
}

// Allocates kGarbage bytes of garbage; returns the collections it caused.
__attribute__((noinline)) GC_word CollectionsForGarbage() {
  const GC_word before = GC_get_gc_no();
  for (size_t done = 0; done < kGarbage; done += kObject) {
    EXPECT_NE(GC_MALLOC_ATOMIC(kObject), nullptr);
  }
  return GC_get_gc_no() - before;
}

// First: the floor is 2 MiB only while the heap has stayed small since
// initialization.
TEST(BoehmSmallHeap, SmallLiveDataCollectsAtTheTwoMiBFloor) {
  GC_set_free_space_divisor(100);
  GC_INIT();
  KeepLive(256 * kKiB);
  const GC_word n = CollectionsForGarbage();
  printf("256 KiB live, heap small so far: %lu collections\n",
         (unsigned long)n);
  // Every ~1.75 MiB: ~36; at the 4 MiB floor every ~3.75 MiB: ~17.
  EXPECT_GE(n, 28u);
  EXPECT_LE(n, 48u);
}

TEST(BoehmSmallHeap, LargerLiveDataRaisesTheFloorToFourMiB) {
  KeepLive(3 * kMiB / 2);
  const GC_word n = CollectionsForGarbage();
  printf("1.5 MiB live: %lu collections\n", (unsigned long)n);
  // Every ~2.5 MiB: ~26; at a 2 MiB floor every ~0.5 MiB: ~128.
  EXPECT_GE(n, 18u);
  EXPECT_LE(n, 40u);
}

TEST(BoehmSmallHeap, TheFourMiBFloorStaysWhenLiveDataShrinksAgain) {
  KeepLive(256 * kKiB);
  const GC_word n = CollectionsForGarbage();
  printf("256 KiB live again: %lu collections\n", (unsigned long)n);
  // Every ~3.75 MiB: ~17; back at the 2 MiB floor: ~36.
  EXPECT_GE(n, 12u);
  EXPECT_LE(n, 24u);
}

}  // namespace
