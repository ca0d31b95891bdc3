// Tests for heap/mheap: findObject, growth across many arenas (past 4 GiB),
// statistics, and the span map.
#include "heap/mheap.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "heap/mcache.h"
#include "tests/heap_test_util.h"

namespace gcheap {
namespace {

TEST(FindObjectTest, EveryByteOfSampledObjectsResolvesToItsBase) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  std::mt19937_64 rng(99);
  std::vector<std::pair<uintptr_t, size_t>> sample;
  for (int cls = 1; cls < kNumSizeClasses; cls++) {
    for (int k = 0; k < 3; k++) {
      void* p = c->Alloc(kClassToSize[cls], false);
      sample.push_back({reinterpret_cast<uintptr_t>(p), kClassToSize[cls]});
    }
  }
  for (size_t size : {size_t{40000}, size_t{300000}}) {
    auto p = reinterpret_cast<uintptr_t>(c->Alloc(size, true));
    sample.push_back({p, size});
    // A large object's span ends at the object: the rest of its last page
    // resolves to nothing.
    ObjectRef r;
    EXPECT_FALSE(heap.FindObject(p + size, &r));
    EXPECT_FALSE(heap.FindObject(AlignUp(p + size, kPageSize) - 1, &r));
  }
  // The mcache syncs its spans (as when a mark begins): the objects its
  // windows handed out read as allocated.
  c->StartMark(/*allocate_black=*/false);
  for (auto [base, size] : sample) {
    for (uintptr_t p = base; p < base + size; p++) {
      ObjectRef r;
      ASSERT_TRUE(heap.FindObject(p, &r)) << std::hex << p;
      ASSERT_EQ(r.base, base) << "interior pointer +" << (p - base);
      ASSERT_EQ(r.span->start + r.index * r.span->elemsize, base);
      ASSERT_TRUE(r.span->IsAllocated(r.index));
    }
  }
  heap.FreeMCache(c);
}

TEST(FindObjectTest, NonHeapAddressesResolveToNothing) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  void* obj = c->Alloc(64, false);
  int on_stack = 0;
  void* malloced = malloc(64);
  ObjectRef r;
  for (uintptr_t p : {uintptr_t{0}, uintptr_t{1}, uintptr_t{4096},
                      ~uintptr_t{0}, uintptr_t{1} << 48, uintptr_t{1} << 47,
                      reinterpret_cast<uintptr_t>(&on_stack),
                      reinterpret_cast<uintptr_t>(malloced),
                      reinterpret_cast<uintptr_t>(&heap)}) {
    EXPECT_FALSE(heap.FindObject(p, &r)) << std::hex << p;
  }
  // A free page inside an arena of this heap: no span.
  HeapArena* a = heap.ArenaOf(reinterpret_cast<uintptr_t>(obj));
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE(heap.FindObject(a->base + kArenaBytes - 1, &r));
  // The tail waste of a span: bytes past the last slot belong to no object.
  int cls = 1;
  while (kClassToNPages[cls] * kPageSize % kClassToSize[cls] == 0) cls++;
  void* big = c->Alloc(kClassToSize[cls], false);
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(big), &r));
  uintptr_t span_end = r.span->start + r.span->npages * kPageSize;
  EXPECT_FALSE(heap.FindObject(span_end - 1, &r));
  // Another heap does not claim this heap's objects.
  MHeap other;
  EXPECT_FALSE(other.FindObject(reinterpret_cast<uintptr_t>(obj), &r));
  free(malloced);
  heap.FreeMCache(c);
}

// The bounds the conservative scan rejects words with (gc/conservative.h):
// every arena inserted, in any order, lies inside them, and nothing below
// the lowest or from the end of the highest does.
TEST(ArenaIndexTest, MayContainCoversEveryArenaInsertedInAnyOrder) {
  ArenaIndex index;
  for (uintptr_t p : {uintptr_t{0}, uintptr_t{4096}, kArenaBytes,
                      uintptr_t{1} << 46, ~uintptr_t{0}}) {
    EXPECT_FALSE(index.MayContain(p)) << std::hex << p;
  }
  // Arena numbers: a middle one, then one below, one above, one between.
  const uintptr_t kNumbers[] = {0x200000, 0x1000, 0x3fffff, 0x20000};
  std::vector<std::unique_ptr<HeapArena>> arenas;
  uintptr_t lo = ~uintptr_t{0}, hi = 0;
  for (uintptr_t n : kNumbers) {
    auto a = std::make_unique<HeapArena>();
    a->base = n << kArenaShift;
    index.Insert(a.get());
    lo = std::min(lo, a->base);
    hi = std::max(hi, a->base + kArenaBytes);
    arenas.push_back(std::move(a));
    for (const auto& b : arenas) {
      EXPECT_TRUE(index.MayContain(b->base)) << std::hex << b->base;
      EXPECT_TRUE(index.MayContain(b->base + kArenaBytes - 1));
      EXPECT_EQ(index.Lookup(b->base + 8), b.get());
    }
    EXPECT_FALSE(index.MayContain(lo - 1)) << std::hex << lo;
    EXPECT_FALSE(index.MayContain(hi)) << std::hex << hi;
    EXPECT_FALSE(index.MayContain(0));
    EXPECT_FALSE(index.MayContain(~uintptr_t{0}));
  }
  // A superset: an address between arenas passes, and Lookup says no.
  const uintptr_t gap = (uintptr_t{0x100000} << kArenaShift) + 64;
  EXPECT_TRUE(index.MayContain(gap));
  EXPECT_EQ(index.Lookup(gap), nullptr);
}

TEST(GrowthTest, HeapGrowsPast4GiBAcrossManyArenas) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  // 70 objects of just under an arena each: 70 arenas, ~4.4 GiB. Fresh
  // pages are not touched, so this costs address space, not memory.
  const size_t kSize = kArenaBytes - kPageSize;
  std::vector<uintptr_t> objs;
  for (int i = 0; i < 70; i++) {
    void* p = c->Alloc(kSize, true);
    ASSERT_NE(p, nullptr) << i;
    objs.push_back(reinterpret_cast<uintptr_t>(p));
  }
  // One huge object spanning several arenas.
  const size_t kHuge = 3 * kArenaBytes + 12345;
  auto huge = reinterpret_cast<uintptr_t>(c->Alloc(kHuge, true));
  ASSERT_NE(huge, 0u);
  HeapStats st = heap.ReadStats();
  EXPECT_GE(st.in_use_bytes, size_t{70} * kSize + kHuge);
  EXPECT_GT(st.reserved_bytes, size_t{4} << 30);
  EXPECT_GE(st.arenas, 74u);
  ObjectRef r;
  for (uintptr_t p : objs) {
    ASSERT_TRUE(heap.FindObject(p + kSize - 1, &r));
    EXPECT_EQ(r.base, p);
    EXPECT_TRUE(heap.MayContain(p));
    EXPECT_TRUE(heap.MayContain(p + kSize - 1));
  }
  for (uintptr_t off :
       {uintptr_t{0}, kArenaBytes, 2 * kArenaBytes, uintptr_t{kHuge - 1}}) {
    ASSERT_TRUE(heap.FindObject(huge + off, &r)) << off;
    EXPECT_EQ(r.base, huge);
  }
  // Touch the ends (committed memory is writable).
  reinterpret_cast<char*>(huge)[kHuge - 1] = 1;
  // Everything dies: all pages coalesce back to free.
  SweepCycle(heap, {c});
  st = heap.ReadStats();
  EXPECT_EQ(st.in_use_bytes, 0u);
  EXPECT_EQ(st.free_bytes, st.reserved_bytes);
  heap.VerifyPages();
  // The huge run can be taken again from the coalesced pages.
  EXPECT_NE(c->Alloc(kHuge, true), nullptr);
  EXPECT_EQ(heap.ReadStats().arenas, st.arenas);
  heap.FreeMCache(c);
}

TEST(StatsTest, CountsAddUp) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  std::vector<void*> keep;
  for (int i = 0; i < 10000; i++) {
    void* p = c->Alloc(100, false);  // class 112
    if (i % 4 == 0) keep.push_back(p);
  }
  c->ReleaseAll();
  HeapStats st = heap.ReadStats();
  const int cls = SizeToClass(100);
  EXPECT_EQ(st.by_class[cls].nmalloc, 10000u);
  EXPECT_EQ(st.heap_live_bytes, 10000u * kClassToSize[cls]);
  for (void* p : keep) MarkObject(heap, c, p);
  SweepCycle(heap, {c});
  st = heap.ReadStats();
  EXPECT_EQ(st.by_class[cls].nfree, 7500u);
  EXPECT_EQ(st.nmalloc - st.nfree, 2500u);
  // Sweeping leaves heap_live alone: the collector resets it to the marked
  // bytes at mark termination.
  EXPECT_EQ(st.heap_live_bytes, 10000u * kClassToSize[cls]);
  heap.FreeMCache(c);
}

}  // namespace
}  // namespace gcheap
