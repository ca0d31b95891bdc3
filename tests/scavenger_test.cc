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

TEST(ScavengerTest, ResidentMemoryDropsAfterLargeRelease) {
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
  const size_t released = heap.ScavengeToGoal();
  EXPECT_GE(released, kTotal - opts.retain_min_bytes - (1 << 20));
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

TEST(ScavengerTest, AutomaticScavengeAfterSweepKeepsRetentionGoal) {
  HeapOptions opts;
  opts.retain_min_bytes = 16 << 20;
  MHeap heap(opts);
  MCache* c = heap.NewMCache();
  for (int i = 0; i < 32; i++) memset(c->Alloc(4 << 20, true), 1, 4 << 20);
  SweepCycle(heap, {c});
  HeapStats st = heap.ReadStats();
  size_t retained = st.free_bytes - (st.reserved_bytes - st.mapped_bytes) -
                    st.released_bytes;
  EXPECT_LE(retained, opts.retain_min_bytes + (1 << 20));
  heap.FreeMCache(c);
}

}  // namespace
}  // namespace gcheap
