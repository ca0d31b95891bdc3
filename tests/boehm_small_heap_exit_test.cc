// boehm_small_heap_exit_test: when the Boehm ABI layer's first collection
// (at its 2 MiB floor) finds more than 1 MiB live, the floor becomes
// 4 MiB and the second collection comes where a first goal of 4 MiB would
// have put the first: after 4 MiB of allocation in all (runtime/boehm,
// PacedGoal; in a process of its own, since the rule looks at the
// collections since initialization). The program allocates 1.5 MiB that
// stays live and 0.5 MiB of garbage, interleaved, until the first
// collection, then only garbage until the second: the second collection
// comes at about 4 MiB allocated in all; with a 4 MiB goal counted from
// the first collection's live data (1.5 MiB), it would come at about
// 4.5 MiB. The free-space divisor is 100 so that the static roots (larger
// under ASan) do not decide the model's heap (boehm_small_heap_test).
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <stdio.h>

#include "gtest/gtest.h"

namespace {

constexpr size_t kKiB = size_t{1} << 10;
constexpr size_t kObject = 4000;
constexpr size_t kMaxLive = 1024;  // objects: 4 MiB, more than needed

void* g_live[kMaxLive];  // the live objects (a data-segment root)

TEST(BoehmSmallHeapExit, SecondCollectionComesWhereA4MiBFirstGoalWould) {
  GC_set_free_space_divisor(100);
  GC_INIT();
  ASSERT_EQ(GC_get_gc_no(), 0u);
  // Three live objects to one of garbage until the first collection.
  size_t live = 0;
  for (size_t i = 0; GC_get_gc_no() == 0; i++) {
    void* p = GC_MALLOC_ATOMIC(kObject);
    ASSERT_NE(p, nullptr);
    if (i % 4 != 3) {
      ASSERT_LT(live, kMaxLive);
      g_live[live++] = p;
    }
  }
  const size_t first = GC_get_total_bytes();
  while (GC_get_gc_no() == 1) {
    ASSERT_NE(GC_MALLOC_ATOMIC(kObject), nullptr);
  }
  const size_t second = GC_get_total_bytes();
  printf(
      "first collection at %zu KiB allocated (%zu KiB kept live), "
      "second at %zu KiB\n",
      first / kKiB, live * kObject / kKiB, second / kKiB);
  EXPECT_GE(GC_get_gc_no(), 2u);
  // The first at the 2 MiB floor.
  EXPECT_GE(first, 1792 * kKiB);
  EXPECT_LE(first, 2304 * kKiB);
  // The second at about 4 MiB in all, not 4 MiB over the live data.
  EXPECT_GE(second, 3840 * kKiB);
  EXPECT_LE(second, 4224 * kKiB);
  // Read back, so the stores that keep them live are not dropped.
  for (size_t i = 0; i < live; i++) ASSERT_EQ(GC_base(g_live[i]), g_live[i]);
}

}  // namespace
