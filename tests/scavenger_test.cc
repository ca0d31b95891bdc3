// Tests for the scavenger: free memory beyond the retention goal goes back
// to the OS and resident memory measurably drops.
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "heap/mcache.h"
#include "heap/mheap.h"
#include "tests/heap_test_util.h"

namespace gcheap {
namespace {

TEST(ScavengerTest, ReleaseFreeMemoryDropsResidentMemoryAtOnce) {
  HeapOptions opts;
  opts.auto_scavenge = false;  // scavenge explicitly below
  opts.retain_min_bytes = 8 << 20;
  MHeap heap(opts);
  MCache* c = heap.NewMCache();
  const size_t kTotal = size_t{256} << 20;
  std::vector<void*> objs;
  for (size_t done = 0; done < kTotal; done += 4 << 20) {
    void* p = c->Alloc(4 << 20, true);
    ASSERT_NE(p, nullptr);
    memset(p, 1, 4 << 20);  // make it resident
    objs.push_back(p);
  }
  const size_t rss_full = ResidentBytes();
  SweepCycle(heap, {c});  // everything dies
  HeapStats st = heap.ReadStats();
  EXPECT_EQ(st.in_use_bytes, 0u);
  // The heap was at 256 MiB in this cycle: the goal still retains it.
  EXPECT_EQ(heap.ScavengeToGoal(), 0u);
  const size_t released = heap.ReleaseFreeMemory();
  EXPECT_GE(released, kTotal);
  const size_t rss_after = ResidentBytes();
  EXPECT_LT(rss_after + (200u << 20), rss_full)
      << "RSS " << rss_full / (1 << 20) << " MiB -> " << rss_after / (1 << 20)
      << " MiB";
  st = heap.ReadStats();
  EXPECT_GE(st.released_bytes, released);
  EXPECT_GE(st.scavenged_bytes_total, released);
  heap.VerifyPages();
  // Released pages are reused without zeroing and read as zero.
  auto* p = static_cast<unsigned char*>(c->Alloc(4 << 20, true));
  ASSERT_NE(p, nullptr);
  for (size_t i = 0; i < (4u << 20); i += 4096) ASSERT_EQ(p[i], 0);
  heap.FreeMCache(c);
}

// Retained free memory, in bytes: free pages that are still resident.
size_t RetainedFree(const HeapStats& st) {
  // free_bytes counts never-committed and released pages too.
  return st.free_bytes - (st.reserved_bytes - st.mapped_bytes) -
         st.released_bytes;
}

TEST(ScavengerTest, AutomaticScavengeAfterTheHeapShrinksForACycle) {
  HeapOptions opts;
  opts.retain_min_bytes = 16 << 20;
  MHeap heap(opts);
  MCache* c = heap.NewMCache();
  for (int i = 0; i < 32; i++) memset(c->Alloc(4 << 20, true), 1, 4 << 20);
  const size_t rss_full = ResidentBytes();
  // Cycle 1 frees the 128 MiB; this cycle's peak still justifies keeping it.
  SweepCycle(heap, {c});
  EXPECT_GE(RetainedFree(heap.ReadStats()), size_t{100} << 20);
  // The heap stays small for the next cycles: the scavenger releases down
  // to the floor on its own.
  SweepCycle(heap, {c});
  SweepCycle(heap, {c});
  HeapStats st = heap.ReadStats();
  EXPECT_LE(RetainedFree(st), opts.retain_min_bytes + (1 << 20));
  EXPECT_GE(st.scavenged_bytes_total, size_t{100} << 20);
  EXPECT_LT(ResidentBytes() + (90u << 20), rss_full);
  heap.FreeMCache(c);
}

TEST(ScavengerTest, SteadyChurnDoesNotThrash) {
  // Each cycle allocates and frees the same 64 MiB: nothing should go back
  // to the OS, since it is needed again right away.
  MHeap heap;
  MCache* c = heap.NewMCache();
  for (int cycle = 0; cycle < 6; cycle++) {
    for (int i = 0; i < 16; i++) memset(c->Alloc(4 << 20, true), 1, 4 << 20);
    SweepCycle(heap, {c});
  }
  EXPECT_EQ(heap.ReadStats().scavenged_bytes_total, 0u);
  heap.FreeMCache(c);
}

}  // namespace
}  // namespace gcheap
