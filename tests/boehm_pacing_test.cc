// boehm_pacing_test: libgc.so.1's collection pacing against Boehm 8.2's
// (runtime/boehm, linked in statically, in a process of its own so that
// nothing else's live data or divisor setting shifts the counts). Boehm
// collects once it allocated at least
//   M = (2 x pointer-containing live + pointer-free live / 4
//        + roots + 2 x stacks) / GC_free_space_divisor
// bytes (explicitly freed bytes not counted, but at least an eighth of the
// allocation) and its heap is full; a heap that fills before M grows by
// heap / divisor, at most 8 MiB, so a collection may come up to 8 MiB
// after M. Most tests keep a known live set, collect, then allocate
// 256 MiB of unreferenced 4000-byte atomic garbage and count the
// collections (GC_get_gc_no) against that:
//  - mostly pointer-free live data collects about every L/12 (+ up to
//    8 MiB), not every L (the 2 x live goal of gc_percent 100), and the
//    heap stays near live;
//  - pointer-containing live data collects about every 2L/3 (+ up to
//    8 MiB), not every L/12;
//  - GC_set_free_space_divisor after initialization takes effect;
//  - garbage freed with GC_free as it is allocated, and reused from the
//    freeing thread's lists, collects at most a quarter as often as
//    garbage left to the collector (the reuse is not allocation);
//  - garbage freed with GC_free but not listed (large typed objects) is
//    credited against the trigger;
//  - live data that grows with no garbage collects as the heap grows in
//    Boehm's steps (about a dozen times up to 64 MiB), not at every L/12
//    of growth (about 35 times);
//  - the free slots of partly filled spans count against the modelled
//    heap (the last test).
// The bounds leave a factor of about 2 for roots, stacks and the objects'
// size classes.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <gc/gc_typed.h>
#include <stdio.h>
#include <string.h>

#include "gtest/gtest.h"

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kObject = 4000;
constexpr size_t kGarbage = 256 * kMiB;

void** g_table = nullptr;  // the live set (a data-segment root)

// Replaces the live set with `bytes` in kObject-byte objects, atomic or
// conservatively scanned (zeroed, so scanning them finds nothing), then
// collects.
__attribute__((noinline)) void KeepLive(size_t bytes, bool atomic) {
  GC_INIT();
  g_table = nullptr;
  const size_t n = bytes / kObject;
  if (n > 0) {
    g_table = static_cast<void**>(GC_MALLOC(n * sizeof(void*)));
    ASSERT_NE(g_table, nullptr);
    for (size_t i = 0; i < n; i++) {
      g_table[i] = atomic ? GC_MALLOC_ATOMIC(kObject) : GC_MALLOC(kObject);
      ASSERT_NE(g_table[i], nullptr);
    }
  }
  GC_gcollect();
}

// Allocates kGarbage bytes of garbage (freed at once with GC_FREE when
// `free_it`); returns the collections it caused.
__attribute__((noinline)) GC_word CollectionsFor(bool free_it) {
  const GC_word before = GC_get_gc_no();
  for (size_t done = 0; done < kGarbage; done += kObject) {
    void* p = GC_MALLOC_ATOMIC(kObject);
    EXPECT_NE(p, nullptr);
    if (free_it) GC_FREE(p);
  }
  return GC_get_gc_no() - before;
}

// First, so that the modelled heap starts from initialization and no
// earlier test's garbage is in the heap.
TEST(BoehmPacing, GrowingLiveDataCollectsAtBoehmsHeapSteps) {
  KeepLive(0, /*atomic=*/true);
  constexpr size_t kLive = 64 * kMiB;
  constexpr size_t n = kLive / kObject;
  g_table = static_cast<void**>(GC_MALLOC(n * sizeof(void*)));
  ASSERT_NE(g_table, nullptr);
  const GC_word before = GC_get_gc_no();
  for (size_t i = 0; i < n; i++) {
    g_table[i] = GC_MALLOC_ATOMIC(kObject);
    ASSERT_NE(g_table[i], nullptr);
  }
  const GC_word collections = GC_get_gc_no() - before;
  printf("live grown to 64 MiB: %lu collections, heap %zu MiB\n",
         (unsigned long)collections, GC_get_heap_size() / kMiB);
  // The heap grows by a third, then by 8 MiB: from gcheap's 4 MiB floor
  // to 64 MiB in about 12 steps, one collection each. A collection at
  // every L/12 of growth (live + M alone) made about 35.
  EXPECT_LE(collections, 20u);
  EXPECT_GE(collections, 5u);
  // Never more than a step (and M) above the live data.
  EXPECT_LT(GC_get_heap_size(), kLive + 24 * kMiB);
}

TEST(BoehmPacing, PointerFreeLiveDataCollectsAtBoehmsInterval) {
  constexpr size_t kLive = 64 * kMiB;
  KeepLive(kLive, /*atomic=*/true);
  const GC_word n = CollectionsFor(false);
  printf("pointer-free live 64 MiB: %lu collections, heap %zu MiB\n",
         (unsigned long)n, GC_get_heap_size() / kMiB);
  // Boehm: every ~L/12 = 5.3 MiB plus roots / 3: ~48 collections. The
  // 2 x live goal collected every 64 MiB: 4.
  // A heap step (up to 8 MiB) and the roots (larger under ASan) add to
  // the interval: at least every L/12 + 12 MiB.
  EXPECT_GE(n, kGarbage / (kLive / 12 + 12 * kMiB)) << "collections";
  EXPECT_LE(n, 2 * kGarbage / (kLive / 12)) << "collections";
  // The heap stays near the live set (2 x live before).
  EXPECT_LT(GC_get_heap_size(), kLive * 3 / 2);
}

TEST(BoehmPacing, PointerContainingLiveDataCollectsAtBoehmsInterval) {
  constexpr size_t kLive = 32 * kMiB;
  KeepLive(kLive, /*atomic=*/false);
  const GC_word n = CollectionsFor(false);
  printf("pointer-containing live 32 MiB: %lu collections, heap %zu MiB\n",
         (unsigned long)n, GC_get_heap_size() / kMiB);
  // Boehm: every ~2L/3 = 21 MiB (up to 29 MiB with a heap step, more with
  // the ASan runtime's larger roots): 7 to 12 collections; if it were
  // counted as pointer-free (L/12): over 20.
  EXPECT_GE(n, 7u) << "collections";
  EXPECT_LE(n, 2 * kGarbage / (kLive * 2 / 3)) << "collections";
}

TEST(BoehmPacing, FreeSpaceDivisorSetAfterInitTakesEffect) {
  // Pointer-containing, so that M (21 MiB at divisor 3, 64 MiB at 1)
  // outweighs a heap step (8 MiB).
  constexpr size_t kLive = 32 * kMiB;
  KeepLive(kLive, /*atomic=*/false);
  const GC_word at3 = CollectionsFor(false);
  GC_set_free_space_divisor(1);
  GC_gcollect();  // Boehm reads the divisor at each collection
  const GC_word at1 = CollectionsFor(false);
  GC_set_free_space_divisor(3);
  printf("divisor 3: %lu collections, divisor 1: %lu\n", (unsigned long)at3,
         (unsigned long)at1);
  // About three times fewer collections with divisor 1 (every 64 to
  // 72 MiB against 21 to 29 MiB); at most two thirds as many.
  EXPECT_LE(3 * at1, 2 * at3) << "divisor 1: " << at1 << ", divisor 3: " << at3;
  EXPECT_GE(at1, 1u);
}

// The same garbage in typed objects of `bytes` each (kObject, or a large
// kLargeObject), of the descriptor GC_make_descriptor makes from `bitmap`
// (one bit per word of the object).
constexpr size_t kLargeObject = 64 * 1024;  // a large object for gcheap
constexpr size_t kBitmapWords = kLargeObject / sizeof(GC_word) / GC_WORDSZ + 1;
const GC_word kNoPointers[kBitmapWords] = {};
const GC_word kFirstWordPointer[kBitmapWords] = {1};
__attribute__((noinline)) GC_word TypedCollectionsFor(const GC_word* bitmap,
                                                      bool free_it,
                                                      size_t bytes = kObject) {
  const GC_descr d = GC_make_descriptor(bitmap, bytes / sizeof(GC_word));
  const GC_word before = GC_get_gc_no();
  for (size_t done = 0; done < kGarbage; done += bytes) {
    void* p = GC_malloc_explicitly_typed(bytes, d);
    EXPECT_NE(p, nullptr);
    if (free_it) GC_FREE(p);
  }
  return GC_get_gc_no() - before;
}

TEST(BoehmPacing, ListedFreedObjectsAreReusedWithoutCountingAsAllocation) {
  constexpr size_t kLive = 64 * kMiB;
  KeepLive(kLive, /*atomic=*/true);
  const GC_word kept = CollectionsFor(false);
  const GC_word freed = CollectionsFor(true);
  const GC_word typed_kept = TypedCollectionsFor(kNoPointers, false);
  const GC_word typed_freed = TypedCollectionsFor(kNoPointers, true);
  const GC_word ptrs_kept = TypedCollectionsFor(kFirstWordPointer, false);
  const GC_word ptrs_freed = TypedCollectionsFor(kFirstWordPointer, true);
  printf(
      "garbage kept: %lu collections, freed: %lu; pointer-free typed "
      "garbage kept: %lu, freed: %lu; typed garbage with pointers kept: "
      "%lu, freed: %lu\n",
      (unsigned long)kept, (unsigned long)freed, (unsigned long)typed_kept,
      (unsigned long)typed_freed, (unsigned long)ptrs_kept,
      (unsigned long)ptrs_freed);
  // A freed atomic object goes on the freeing thread's lists and the next
  // allocation of its size class takes it back; that reuse is not counted
  // as allocation (docs/boehm.md, GC_free), so freed garbage hardly
  // collects: far fewer than the ~48 of Boehm's count, or an eighth of it
  // (Boehm's own free lists make it 0).
  EXPECT_LE(4 * freed, kept) << "freed: " << freed << ", not: " << kept;
  // So does a typed object with no pointers: it is listed as atomic, and
  // its allocation takes freed atomic objects back. (Regression: typed
  // allocation never looked at the lists, so freeing collected as often
  // as not freeing: 98 collections either way in a 16 MiB heap.)
  EXPECT_LE(4 * typed_freed, typed_kept)
      << "freed: " << typed_freed << ", not: " << typed_kept;
  // And a small typed object with pointers: listed by its type and size
  // class, taken back by the next typed allocation of that descriptor.
  // (Regression: such objects were not listed, only credited against the
  // trigger up to its cap, so freeing them still collected about an
  // eighth as often as not freeing: 2 to 4 collections against 21 to 38;
  // Debian's libgc makes 0.)
  EXPECT_LE(ptrs_freed, 1u)
      << "freed: " << ptrs_freed << ", not: " << ptrs_kept;
  EXPECT_LE(4 * ptrs_freed, ptrs_kept)
      << "freed: " << ptrs_freed << ", not: " << ptrs_kept;
}

// An object GC_FREE does not list (here a large typed one, a pointer in
// word 0) is left to the next collection, and its bytes move the trigger
// up (Collector::CreditFreed): freeing such garbage as it is allocated
// collects less often than leaving it (measured: 39 kept, 5 freed; 40
// and 39 without the credit). It still collects: its spans are reused
// only after a sweep, so the heap fills (the credit's own cap, an eighth
// of the allocation still counted, is tested directly by
// CollectorTest.CreditFreedRaisesTheGoalUpToEightTimesItsHeadroom; this
// garbage reaches the heap's limit first).
TEST(BoehmPacing, UnlistedFreedObjectsAreCreditedAgainstTheTrigger) {
  constexpr size_t kLive = 64 * kMiB;
  KeepLive(kLive, /*atomic=*/true);
  const GC_word kept =
      TypedCollectionsFor(kFirstWordPointer, false, kLargeObject);
  const GC_word freed =
      TypedCollectionsFor(kFirstWordPointer, true, kLargeObject);
  printf(
      "large typed garbage with pointers kept: %lu collections, freed: "
      "%lu\n",
      (unsigned long)kept, (unsigned long)freed);
  EXPECT_LE(2 * freed, kept) << "freed: " << freed << ", not: " << kept;
  EXPECT_GE(freed, 1u);
  EXPECT_GE(32 * freed, kept) << "freed: " << freed << ", not: " << kept;
}

// Last: it leaves the heap's model shrunk by the live data it drops.
// Boehm's heap holds its own fragmentation; gcheap's goal counts only the
// slots in use, so the free slots of partly filled spans must come off the
// modelled heap (boehm.cc, LessSpanSlack), or the spans in use outgrow
// Boehm's heap by them (Stalin compiling boyer: a peak RSS 1.13x
// Boehm's). Here 72 MiB of 48-byte slots keep one object in 16 alive and
// are never allocated from again: ~67 MiB of free slots, which the
// pointer-free garbage that follows cannot use. The model's heap after
// the drop (~60 MiB) less them leaves the floor, half the headroom over
// live (~30 MiB): a collection every ~25 MiB of garbage, about 10. Goals
// that ignored the free slots collected every ~55 MiB: 4 or 5.
TEST(BoehmPacing, FreeSlotsOfPartlyFilledSpansCountAgainstTheHeap) {
  constexpr size_t kSmall = 40;  // 48-byte slots with the padding byte
  constexpr size_t kAll = 72 * kMiB / 48;
  constexpr size_t kKeepEvery = 16;
  KeepLive(0, /*atomic=*/true);
  void** all = static_cast<void**>(GC_MALLOC(kAll * sizeof(void*)));
  ASSERT_NE(all, nullptr);
  for (size_t i = 0; i < kAll; i++) {
    all[i] = GC_MALLOC(kSmall);
    ASSERT_NE(all[i], nullptr);
  }
  g_table = static_cast<void**>(GC_MALLOC(kAll / kKeepEvery * sizeof(void*)));
  ASSERT_NE(g_table, nullptr);
  for (size_t i = 0; i < kAll / kKeepEvery; i++) {
    g_table[i] = all[i * kKeepEvery];
  }
  memset(all, 0, kAll * sizeof(void*));  // no stale copy keeps them
  all = nullptr;
  GC_gcollect();
  GC_gcollect();  // the model, shrunk by what live lost
  const GC_word n = CollectionsFor(false);
  printf(
      "1 in 16 of 72 MiB of 48-byte slots live: %lu collections, "
      "heap %zu MiB\n",
      (unsigned long)n, GC_get_heap_size() / kMiB);
  EXPECT_GE(n, 7u) << "collections";
  EXPECT_LE(n, 16u) << "collections";
  g_table = nullptr;
  GC_gcollect();
}

}  // namespace
