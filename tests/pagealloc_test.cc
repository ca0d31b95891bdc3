// Tests for heap/pagealloc: arena placement (heap/arena.h),
// address-ordered first fit, coalescing, huge runs across arenas, and the
// scavenger's run selection.
#include "heap/pagealloc.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace gcheap {
namespace {

TEST(BitmapTest, NextSetAndClear) {
  uint64_t bits[4] = {0, 0, 0, 0};
  EXPECT_EQ(NextSetBit(bits, 256, 0), 256u);
  SetBits(bits, 70, 100);
  EXPECT_EQ(NextSetBit(bits, 256, 0), 70u);
  EXPECT_EQ(NextClearBit(bits, 256, 70), 170u);
  EXPECT_EQ(CountSet(bits, 0, 256), 100u);
  EXPECT_TRUE(AllSet(bits, 70, 100));
  EXPECT_FALSE(AllSet(bits, 69, 2));
  ClearBits(bits, 100, 10);
  EXPECT_EQ(NextClearBit(bits, 256, 70), 100u);
  EXPECT_EQ(NextSetBit(bits, 256, 100), 110u);
  EXPECT_EQ(CountSet(bits, 0, 256), 90u);
}

// A region starts at the first arena-aligned address of its mapping,
// but never at a 4 GiB-aligned one (heap/arena.h, ArenaPlacement: a stale
// pointer whose low half was zeroed reads as such an address).
TEST(ArenaPlacementTest, NeverAtA4GiBAlignedAddress) {
  constexpr uintptr_t k4GiB = uintptr_t{1} << 32;
  const uintptr_t at = 0x7f2000000000;  // 4 GiB-aligned
  EXPECT_EQ(ArenaPlacement(at), at + kArenaBytes);
  EXPECT_EQ(ArenaPlacement(at - kArenaBytes + 4096), at + kArenaBytes);
  EXPECT_EQ(ArenaPlacement(at - kArenaBytes), at - kArenaBytes);
  EXPECT_EQ(ArenaPlacement(at + 4096), at + kArenaBytes);
  for (uintptr_t start = at - 4 * kArenaBytes; start < at + 4 * kArenaBytes;
       start += kArenaBytes / 4) {
    const uintptr_t base = ArenaPlacement(start);
    EXPECT_EQ(base % kArenaBytes, 0u) << start;
    EXPECT_NE(base % k4GiB, 0u) << start;
    EXPECT_GE(base, start);
    EXPECT_LT(base, start + 2 * kArenaBytes);
  }
}

// The same through the OS: arenas reserved one at a time lie next to each
// other (mmap's top-down order), so 96 of them (6 GiB of PROT_NONE
// address space) cross a 4 GiB boundary; none starts at it.
TEST(ArenaPlacementTest, ReservedArenasNeverStartAt4GiBBoundaries) {
  constexpr uintptr_t k4GiB = uintptr_t{1} << 32;
  std::vector<void*> regions;
  for (int i = 0; i < 96; i++) {
    void* p = SysReserveArenas(kArenaBytes);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kArenaBytes, 0u);
    EXPECT_NE(reinterpret_cast<uintptr_t>(p) % k4GiB, 0u) << p;
    regions.push_back(p);
  }
  for (void* p : regions) SysUnreserve(p, kArenaBytes);
}

class PageAllocTest : public ::testing::Test {
 protected:
  ArenaIndex index_;
  PageAlloc pages_{&index_};
};

TEST_F(PageAllocTest, EmptyHeapNeedsGrow) {
  EXPECT_EQ(pages_.Alloc(1).base, 0u);
  ASSERT_TRUE(pages_.Grow(1));
  EXPECT_EQ(pages_.arena_count(), 1u);
  EXPECT_NE(pages_.Alloc(1).base, 0u);
  pages_.Verify();
}

TEST_F(PageAllocTest, AddressOrderedFirstFitAndCoalescing) {
  ASSERT_TRUE(pages_.Grow(1));
  uintptr_t a = pages_.Alloc(1).base;
  uintptr_t b = pages_.Alloc(2).base;
  uintptr_t c = pages_.Alloc(1).base;
  ASSERT_NE(a, 0u);
  EXPECT_EQ(a % kArenaBytes, 0u);
  EXPECT_EQ(b, a + kPageSize);
  EXPECT_EQ(c, a + 3 * kPageSize);
  // Freeing a then b makes a 3-page hole at the bottom: a 3-page request
  // lands there (coalesced), not above c.
  pages_.Free(a, 1);
  pages_.Free(b, 2);
  EXPECT_EQ(pages_.Alloc(3).base, a);
  pages_.Free(a, 3);
  pages_.Free(c, 1);
  pages_.Verify();
  // Everything coalesced back into one arena-sized run.
  EXPECT_EQ(pages_.Alloc(kPagesPerArena).base, a);
  pages_.Verify();
}

TEST_F(PageAllocTest, FreshPagesAreCleanReusedPagesNeedZero) {
  ASSERT_TRUE(pages_.Grow(1));
  PageAlloc::Run r = pages_.Alloc(4);
  EXPECT_FALSE(r.needzero);
  pages_.Free(r.base, 4);
  PageAlloc::Run again = pages_.Alloc(4);
  EXPECT_EQ(again.base, r.base);
  EXPECT_TRUE(again.needzero);
}

TEST_F(PageAllocTest, HugeRunSpansContiguousArenas) {
  size_t n = kPagesPerArena * 2 + 5;
  ASSERT_TRUE(pages_.Grow(n));
  EXPECT_EQ(pages_.arena_count(), 3u);
  PageAlloc::Run r = pages_.Alloc(n);
  ASSERT_NE(r.base, 0u);
  for (size_t off : {size_t{0}, kArenaBytes, 2 * kArenaBytes}) {
    EXPECT_NE(index_.Lookup(r.base + off), nullptr);
  }
  // The rest of the last arena is still usable.
  uintptr_t small = pages_.Alloc(1).base;
  EXPECT_EQ(small, r.base + n * kPageSize);
  pages_.Free(r.base, n);
  pages_.Free(small, 1);
  pages_.Verify();
  EXPECT_EQ(pages_.free_bytes(), 3 * kArenaBytes);
}

TEST_F(PageAllocTest, RandomizedAgainstModel) {
  ASSERT_TRUE(pages_.Grow(1));
  std::mt19937_64 rng(42);
  std::vector<std::pair<uintptr_t, size_t>> live;
  std::vector<bool> used(kPagesPerArena, false);
  std::vector<bool> touched(kPagesPerArena, false);  // resident once used
  uintptr_t base = pages_.first_arena()->base;
  for (int step = 0; step < 20000; step++) {
    if (live.empty() || rng() % 3 != 0) {
      size_t n = 1 + rng() % 16;
      PageAlloc::Run r = pages_.Alloc(n);
      if (r.base == 0) continue;
      size_t first = (r.base - base) / kPageSize;
      // First fit over resident pages, else over all free pages: no lower
      // run of n free pages existed that was as resident as this one.
      auto fits = [&](size_t i, bool resident_only) {
        for (size_t k = i; k < i + n; k++) {
          if (used[k] || (resident_only && !touched[k])) return false;
        }
        return true;
      };
      const bool resident = fits(first, true);
      for (size_t i = 0; i + n <= kPagesPerArena; i++) {
        if (i < first) {
          ASSERT_FALSE(fits(i, resident))
              << "a lower fit existed at page " << i;
        } else if (!resident) {
          ASSERT_FALSE(fits(i, true)) << "a resident fit existed at page " << i;
        }
      }
      for (size_t k = first; k < first + n; k++) {
        ASSERT_FALSE(used[k]) << "page handed out twice";
        used[k] = true;
        touched[k] = true;
      }
      live.push_back({r.base, n});
    } else {
      size_t i = rng() % live.size();
      auto [b, n] = live[i];
      live[i] = live.back();
      live.pop_back();
      pages_.Free(b, n);
      size_t first = (b - base) / kPageSize;
      for (size_t k = first; k < first + n; k++) used[k] = false;
    }
    if (step % 1000 == 0) pages_.Verify();
  }
  pages_.Verify();
}

TEST_F(PageAllocTest, ScavengeTakesHighestDirtyRun) {
  ASSERT_TRUE(pages_.Grow(1));
  uintptr_t lo = pages_.Alloc(8).base;
  uintptr_t hi = pages_.Alloc(8).base;
  EXPECT_EQ(pages_.retained_free_bytes(), 0u);
  pages_.Free(lo, 8);
  pages_.Free(hi, 8);
  EXPECT_EQ(pages_.retained_free_bytes(), 16 * kPageSize);
  const size_t released0 = pages_.released_bytes();
  size_t n;
  PageAlloc::Run r = pages_.TakeScavengeRun(4, &n);
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(r.base, hi + 4 * kPageSize);  // the top of the highest run
  pages_.ReturnScavenged(r.base, n);
  EXPECT_EQ(pages_.retained_free_bytes(), 12 * kPageSize);
  EXPECT_EQ(pages_.released_bytes(), released0 + 4 * kPageSize);
  pages_.Verify();
  // Reusing scavenged pages needs no zeroing; reusing dirty ones does.
  PageAlloc::Run again = pages_.Alloc(16);
  EXPECT_EQ(again.base, lo);
  EXPECT_TRUE(again.needzero);
  EXPECT_EQ(pages_.released_bytes(), released0);
}

// A freed run that is still resident is reused before a lower run of
// released pages (or of fresh ones: arenas are mapped top-down, so a newer,
// untouched arena lies below the older ones): taking the lower run would
// fault in new memory while the freed run stays resident, unused (w3m on
// libgc.so.1 grew its peak RSS by 16 MiB this way).
TEST_F(PageAllocTest, ResidentFreePagesAreReusedBeforeReleasedOrFreshOnes) {
  ASSERT_TRUE(pages_.Grow(1));
  uintptr_t lo = pages_.Alloc(8).base;
  uintptr_t hi = pages_.Alloc(8).base;
  ASSERT_EQ(hi, lo + 8 * kPageSize);
  pages_.Free(lo, 8);
  size_t n;
  PageAlloc::Run r = pages_.TakeScavengeRun(8, &n);  // releases lo's run
  ASSERT_EQ(r.base, lo);
  ASSERT_EQ(n, 8u);
  pages_.ReturnScavenged(r.base, n);
  pages_.Free(hi, 8);  // resident, above the released run
  PageAlloc::Run again = pages_.Alloc(8);
  EXPECT_EQ(again.base, hi);
  EXPECT_TRUE(again.needzero);
  // With no resident run long enough, first fit over all free pages.
  EXPECT_EQ(pages_.Alloc(16).base, hi + 8 * kPageSize);
  EXPECT_EQ(pages_.Alloc(8).base, lo);
  pages_.Verify();
}

}  // namespace
}  // namespace gcheap
