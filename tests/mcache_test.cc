// Tests for heap/mcache: the tiny, small and large paths, zeroing,
// alignment, non-overlap of millions of live objects, bad input, and the
// flush generation at the sweepgen flip.
#include "heap/mcache.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "heap/error.h"
#include "heap/mheap.h"
#include "tests/heap_test_util.h"

namespace gcheap {
namespace {

class MCacheTest : public ::testing::Test {
 protected:
  void TearDown() override { heap_.FreeMCache(c_); }
  MHeap heap_;
  MCache* c_ = heap_.NewMCache();
};

bool AllZero(const void* p, size_t n) {
  auto* b = static_cast<const unsigned char*>(p);
  return std::all_of(b, b + n, [](unsigned char x) { return x == 0; });
}

TEST_F(MCacheTest, EverySizeClassAllocatesInItsClass) {
  for (int cls = 1; cls < kNumSizeClasses; cls++) {
    for (bool noscan : {false, true}) {
      size_t size = kClassToSize[cls];
      void* p = c_->Alloc(size, noscan);
      ASSERT_NE(p, nullptr) << "class " << cls;
      ObjectRef r;
      ASSERT_TRUE(heap_.FindObject(reinterpret_cast<uintptr_t>(p), &r));
      if (noscan && size < kTinySize) {
        // Tiny path: packed into a 16-byte noscan block.
        EXPECT_EQ(r.span->spanclass, kTinySpanClass);
      } else {
        EXPECT_EQ(r.base, reinterpret_cast<uintptr_t>(p));
        EXPECT_EQ(r.span->elemsize, size);
        EXPECT_EQ(r.span->spanclass, MakeSpanClass(cls, noscan));
      }
      EXPECT_TRUE(AllZero(p, size));
    }
  }
}

TEST_F(MCacheTest, Alignment) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; i++) {
    size_t size = 1 + rng() % 4096;
    bool noscan = rng() & 1;
    auto p = reinterpret_cast<uintptr_t>(c_->Alloc(size, noscan));
    ASSERT_NE(p, 0u);
    if (noscan && size < kTinySize) {
      // Tiny objects are aligned to the request's natural alignment.
      size_t align = (size & 7) == 0   ? 8
                     : (size & 3) == 0 ? 4
                     : (size & 1) == 0 ? 2
                                       : 1;
      EXPECT_EQ(p % align, 0u) << size;
      continue;
    }
    EXPECT_EQ(p % 8, 0u) << size;
    size_t elem = kClassToSize[SizeToClass(size)];
    // Objects are aligned to the largest power of two dividing the slot size
    // (capped at the page size): 16 for every class that is a multiple of 16.
    size_t align = std::min<size_t>(elem & -elem, kPageSize);
    EXPECT_EQ(p % align, 0u) << size;
  }
}

TEST_F(MCacheTest, MillionsOfLiveObjectsNeverOverlap) {
  std::mt19937_64 rng(12345);
  struct Obj {
    uintptr_t p;
    size_t size;
  };
  std::vector<Obj> objs;
  const size_t kObjects = 2'000'000;
  objs.reserve(kObjects);
  for (size_t i = 0; i < kObjects; i++) {
    size_t r = rng() % 100;
    size_t size = r < 30   ? 1 + rng() % 15         // tiny candidates
                  : r < 90 ? 16 + rng() % 240       // small
                  : r < 99 ? 256 + rng() % 4096     // medium
                           : 4096 + rng() % 28672;  // up to 32 KiB
    bool noscan = rng() & 1;
    void* p = c_->Alloc(size, noscan);
    ASSERT_NE(p, nullptr);
    // Stamp the first and last byte: a later overlapping object would be
    // handed out zeroed and wipe the stamp.
    auto* b = static_cast<unsigned char*>(p);
    b[0] = static_cast<unsigned char>(i | 1);
    b[size - 1] = static_cast<unsigned char>(i | 1);
    objs.push_back({reinterpret_cast<uintptr_t>(p), size});
  }
  for (size_t i = 0; i < objs.size(); i++) {
    auto* b = reinterpret_cast<unsigned char*>(objs[i].p);
    ASSERT_EQ(b[0], static_cast<unsigned char>(i | 1));
    ASSERT_EQ(b[objs[i].size - 1], static_cast<unsigned char>(i | 1));
  }
  std::sort(objs.begin(), objs.end(),
            [](const Obj& a, const Obj& b) { return a.p < b.p; });
  for (size_t i = 1; i < objs.size(); i++) {
    ASSERT_LE(objs[i - 1].p + objs[i - 1].size, objs[i].p)
        << "objects overlap at index " << i;
  }
}

TEST_F(MCacheTest, TinyObjectsShareBlocks) {
  std::vector<uintptr_t> ps;
  for (int i = 0; i < 1000; i++) {
    ps.push_back(reinterpret_cast<uintptr_t>(c_->Alloc(4, true)));
  }
  std::set<uintptr_t> blocks;
  for (uintptr_t p : ps) blocks.insert(p & ~uintptr_t{15});
  // Four 4-byte objects fit in each 16-byte block.
  EXPECT_EQ(blocks.size(), 250u);
  EXPECT_EQ(std::set<uintptr_t>(ps.begin(), ps.end()).size(), ps.size());
}

TEST_F(MCacheTest, ReusedSlotsComeBackZeroed) {
  std::vector<void*> ps;
  for (int i = 0; i < 5000; i++) {
    void* p = c_->Alloc(48, false);
    memset(p, 0xab, 48);
    ps.push_back(p);
  }
  // Nothing marked: all die; the slots are reused and must read as zero.
  SweepCycle(heap_, {c_});
  std::set<void*> old(ps.begin(), ps.end());
  size_t reused = 0;
  for (int i = 0; i < 5000; i++) {
    void* p = c_->Alloc(48, false);
    ASSERT_TRUE(AllZero(p, 48));
    reused += old.count(p);
  }
  EXPECT_GT(reused, 0u);
}

TEST_F(MCacheTest, LargeObjects) {
  std::vector<std::pair<void*, size_t>> big;
  for (size_t size : {size_t{32769}, size_t{65536}, size_t{100000},
                      size_t{1} << 20, (size_t{1} << 24) + 3}) {
    void* p = c_->Alloc(size, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kPageSize, 0u);
    EXPECT_TRUE(AllZero(p, size));
    memset(p, 0x5a, size);
    ObjectRef r;
    ASSERT_TRUE(
        heap_.FindObject(reinterpret_cast<uintptr_t>(p) + size - 1, &r));
    EXPECT_EQ(r.base, reinterpret_cast<uintptr_t>(p));
    EXPECT_TRUE(r.span->is_large());
    EXPECT_GE(r.span->elemsize, size);
    big.push_back({p, size});
  }
  HeapStats st = heap_.ReadStats();
  EXPECT_EQ(st.large_nmalloc, 5u);
  // Keep the 1 MiB one; the others die.
  MarkObject(heap_, c_, big[3].first);
  SweepCycle(heap_, {c_});
  st = heap_.ReadStats();
  EXPECT_EQ(st.large_nfree, 4u);
  ObjectRef r;
  EXPECT_TRUE(heap_.FindObject(reinterpret_cast<uintptr_t>(big[3].first), &r));
  EXPECT_FALSE(heap_.FindObject(reinterpret_cast<uintptr_t>(big[4].first), &r));
  auto* b = static_cast<unsigned char*>(big[3].first);
  EXPECT_EQ(b[0], 0x5a);
  EXPECT_EQ(b[big[3].second - 1], 0x5a);
}

TEST_F(MCacheTest, TypedAllocationRecordsTheTagPerSlot) {
  std::vector<std::pair<void*, uint16_t>> objs;
  for (int i = 0; i < 20000; i++) {
    uint16_t tag = static_cast<uint16_t>(1 + i % 5000);
    size_t size = 8 + (i % 97) * 8;
    if (i % 1000 == 0) size = 50000 + i;  // large path
    void* p = c_->AllocTyped(size, tag);
    ASSERT_NE(p, nullptr);
    objs.push_back({p, tag});
  }
  for (auto [p, tag] : objs) {
    ObjectRef r;
    ASSERT_TRUE(heap_.FindObject(reinterpret_cast<uintptr_t>(p), &r));
    EXPECT_FALSE(NoScan(r.span->spanclass));
    EXPECT_EQ(r.span->ObjType(r.index), tag);
  }
}

// Mono spans (heap/mspan.h, "Type tags"). 48-byte class: 170 slots a span.
MSpan* SpanOf(MHeap& heap, const void* p, size_t* index = nullptr) {
  ObjectRef r;
  if (!heap.FindObject(reinterpret_cast<uintptr_t>(p), &r)) return nullptr;
  if (index != nullptr) *index = r.index;
  return r.span;
}

TEST_F(MCacheTest, SpansOfOneTypeHaveNoTagArray) {
  std::vector<void*> objs;
  for (int i = 0; i < 2000; i++) {
    objs.push_back(c_->AllocTyped(48, 7));
    ASSERT_NE(objs.back(), nullptr);
  }
  std::set<MSpan*> spans;
  for (void* p : objs) {
    size_t i;
    MSpan* s = SpanOf(heap_, p, &i);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->obj_types.load(), nullptr);
    EXPECT_EQ(s->ObjType(i), 7);
    spans.insert(s);
  }
  EXPECT_GE(spans.size(), 11u);  // 2000 / 170 slots
  // A large object's span is mono with its type; noscan objects read 0.
  void* big = c_->AllocTyped(100000, 9);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(SpanOf(heap_, big)->obj_types.load(), nullptr);
  EXPECT_EQ(SpanOf(heap_, big)->ObjType(0), 9);
  size_t i;
  MSpan* ns = SpanOf(heap_, c_->Alloc(48, true), &i);
  EXPECT_EQ(ns->obj_types.load(), nullptr);
  EXPECT_EQ(ns->ObjType(i), 0);
}

TEST_F(MCacheTest, ASecondTypeMakesTheSpanMixedAndEarlierObjectsKeepTheirType) {
  std::vector<std::pair<void*, uint16_t>> objs;
  for (int i = 0; i < 50; i++) objs.push_back({c_->AllocTyped(48, 7), 7});
  MSpan* s = SpanOf(heap_, objs[0].first);
  ASSERT_EQ(s->obj_types.load(), nullptr);
  // In the open window of the same span: the span becomes mixed in place.
  objs.push_back({c_->AllocTyped(48, 9), 9});
  EXPECT_EQ(SpanOf(heap_, objs.back().first), s);
  EXPECT_NE(s->obj_types.load(), nullptr);
  // Then both types through the mixed window, and on into new spans (each
  // mono of its first type until the other one comes).
  for (int i = 0; i < 3000; i++) {
    const uint16_t t = i % 40 < 30 ? 7 : (i % 40 < 35 ? 9 : 11);
    objs.push_back({c_->AllocTyped(48, t), t});
    ASSERT_NE(objs.back().first, nullptr);
  }
  for (auto [p, t] : objs) {
    size_t i;
    MSpan* os = SpanOf(heap_, p, &i);
    ASSERT_NE(os, nullptr);
    EXPECT_EQ(os->ObjType(i), t);
  }
}

// Ends a cycle in which nothing survived without FinishSweep, which would
// return the empty spans to the page heap: `background` sweeps them now (as
// the background sweeper, SweepOne: they go on their class's empty set);
// otherwise the next refill sweeps them itself (CacheSpan).
void CycleKeepingEmptySpans(MHeap& heap, MCache* c, bool background) {
  SweepCycle(heap, {c}, /*finish=*/false);
  if (background) heap.SweepRemaining();
}

TEST_F(MCacheTest, ASweptEmptySpanStartsMonoWithTheNextType) {
  for (bool background : {true, false}) {
    MSpan* s = SpanOf(heap_, c_->AllocTyped(48, 7));
    ASSERT_EQ(s->mono_type.load(), 7);
    CycleKeepingEmptySpans(heap_, c_, background);
    const HeapCounters before = heap_.ReadCounters();
    void* p = c_->AllocTyped(48, 9);
    ASSERT_EQ(SpanOf(heap_, p), s) << "the empty span was not reused";
    // Reused in use (not freed and made again): no fresh span.
    EXPECT_EQ(heap_.ReadCounters().refills_heap_lock, before.refills_heap_lock);
    EXPECT_EQ(s->obj_types.load(), nullptr);
    EXPECT_EQ(s->mono_type.load(), 9);
    size_t i;
    SpanOf(heap_, p, &i);
    EXPECT_EQ(s->ObjType(i), 9);
    CycleKeepingEmptySpans(heap_, c_, true);
  }
}

TEST_F(MCacheTest, AMixedSpanSweptEmptyStaysMixed) {
  for (bool background : {true, false}) {
    MSpan* s = SpanOf(heap_, c_->AllocTyped(48, 7));
    ASSERT_NE(c_->AllocTyped(48, 9), nullptr);
    const uint16_t* tags = s->obj_types.load();
    ASSERT_NE(tags, nullptr);
    CycleKeepingEmptySpans(heap_, c_, background);
    void* p = c_->AllocTyped(48, 11);
    ASSERT_EQ(SpanOf(heap_, p), s) << "the empty span was not reused";
    EXPECT_EQ(s->obj_types.load(), tags);
    size_t i;
    SpanOf(heap_, p, &i);
    EXPECT_EQ(s->ObjType(i), 11);
    // Freed with the span: a span made from the struct again is mono.
    SweepCycle(heap_, {c_});
    MSpan* again = SpanOf(heap_, c_->AllocTyped(48, 13));
    EXPECT_EQ(again->obj_types.load(), nullptr);
    EXPECT_EQ(again->mono_type.load(), 13);
    SweepCycle(heap_, {c_});
  }
}

TEST_F(MCacheTest, SurvivorsOfASweptMonoSpanKeepTheirTypeWhenAnotherMovesIn) {
  std::vector<void*> objs;
  for (int i = 0; i < 100; i++) objs.push_back(c_->AllocTyped(48, 7));
  MSpan* s = SpanOf(heap_, objs[0]);
  for (int i = 0; i < 100; i += 10) MarkObject(heap_, c_, objs[i]);
  SweepCycle(heap_, {c_});
  ASSERT_EQ(s->alloc_count, 10);
  // The span has survivors: it stays mono of 7, and 9 makes it mixed.
  std::vector<void*> nine;
  for (int i = 0; i < 50; i++) nine.push_back(c_->AllocTyped(48, 9));
  ASSERT_EQ(SpanOf(heap_, nine[0]), s);
  EXPECT_NE(s->obj_types.load(), nullptr);
  for (int i = 0; i < 100; i += 10) {
    size_t idx;
    ASSERT_EQ(SpanOf(heap_, objs[i], &idx), s);
    EXPECT_EQ(s->ObjType(idx), 7) << i;
  }
  for (void* p : nine) {
    size_t idx;
    if (SpanOf(heap_, p, &idx) == s) EXPECT_EQ(s->ObjType(idx), 9);
  }
}

// Regression: Alloc(size, false) bumped a scan window without recording a
// tag or advancing the window's tag pointer, so the next AllocTyped's tag
// went to the untyped object's slot and its own slot kept a stale one.
TEST_F(MCacheTest, UntypedScanAllocationKeepsLaterTagsOnTheirSlots) {
  ASSERT_NE(c_->AllocTyped(48, 5), nullptr);
  ASSERT_NE(c_->AllocTyped(48, 6), nullptr);  // the span is mixed
  void* untyped = c_->Alloc(48, false);
  void* typed = c_->AllocTyped(48, 7);
  size_t i, j;
  MSpan* s = SpanOf(heap_, untyped, &i);
  ASSERT_EQ(SpanOf(heap_, typed, &j), s);
  EXPECT_EQ(s->ObjType(i), 0);
  EXPECT_EQ(s->ObjType(j), 7);
}

// Object queries on other threads (MHeap::QueryObject) race with the
// owner's allocations, which make span after span mixed: every object
// reads as allocated with its own type, before and after its span's
// conversion. (Run under TSan: the array's fill and publication against
// the readers' loads.)
TEST_F(MCacheTest, QueriesFromOtherThreadsRaceWithSpansBecomingMixed) {
  constexpr int kObjects = 30000;
  std::vector<std::atomic<uintptr_t>> objs(kObjects);
  std::vector<uint16_t> types(kObjects);
  std::atomic<int> published{0};
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<int64_t> queries{0};
  auto type_of = [](int i) -> uint16_t {
    // Each 200 allocations: 150 of type 1, then types 2 and 3 too, so
    // every span (170 slots) is converted while its window is open.
    return i % 200 < 150 ? 1 : static_cast<uint16_t>(1 + i % 3);
  };
  for (int i = 0; i < kObjects; i++) types[i] = type_of(i);
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; t++) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!done.load(std::memory_order_acquire)) {
        const int n = published.load(std::memory_order_acquire);
        if (n == 0) continue;
        // The newest objects (their span may be converting) and a random
        // older one.
        for (int i : {n - 1, std::max(0, n - 2), static_cast<int>(rng() % n)}) {
          const uintptr_t p = objs[i].load(std::memory_order_acquire);
          ObjectInfo info;
          if (!heap_.QueryObject(p, &info) || info.base != p ||
              info.type != types[i]) {
            bad.fetch_add(1);
          }
          queries.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (int i = 0; i < kObjects; i++) {
    void* p = c_->AllocTyped(48, types[i]);
    if (p == nullptr) {
      ADD_FAILURE() << "allocation " << i << " failed";
      break;
    }
    objs[i].store(reinterpret_cast<uintptr_t>(p), std::memory_order_release);
    published.store(i + 1, std::memory_order_release);
    if (i % 32 == 31) {
      // Let the readers in: wait for a few queries since the last pause.
      const int64_t q = queries.load();
      while (queries.load() < q + 3) std::this_thread::yield();
    }
  }
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GE(queries.load(), 3 * kObjects / 32);
  for (int i = 0; i < published.load(); i++) {
    size_t idx;
    MSpan* s = SpanOf(heap_, reinterpret_cast<void*>(objs[i].load()), &idx);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->ObjType(idx), types[i]);
  }
}

// The claim (heap/mspan.h, "Type tags") under concurrency: a sweeper
// thread sweeps the last round's spans empty (MHeap::SweepOne, as the
// background sweeper does) while the owner allocates the next round with
// another type, reusing those spans (each takes the new type at its first
// allocation), and two threads query objects (MHeap::QueryObject). A query
// of an object of the round in progress, with no round change around it,
// must find it allocated with exactly its round's type; any other query
// that finds an object at the address must read one of the rounds' types
// (the old object's or the new one's), never another value. (Run under
// TSan: the claim's store and the sweep's bitmap swap against the readers'
// loads.)
TEST_F(MCacheTest, QueriesRaceWithSweptEmptySpansClaimedByAnotherType) {
  constexpr int kRounds = 40;
  constexpr int kObjects = 3000;  // about 18 spans of the 48-byte class
  constexpr uint16_t kTypes = 5;
  auto type_of_round = [](int r) { return static_cast<uint16_t>(1 + r % 5); };
  std::vector<std::atomic<uintptr_t>> objs(kObjects);
  // 2r while round r's objects are being published; odd between rounds.
  std::atomic<uint64_t> seq{0};
  std::atomic<int> published{0};
  std::atomic<bool> done{false};
  std::atomic<int> bad_strict{0}, bad_loose{0};
  std::atomic<int64_t> strict_queries{0}, queries{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; t++) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!done.load(std::memory_order_acquire)) {
        const uint64_t s1 = seq.load(std::memory_order_acquire);
        const int n = published.load(std::memory_order_acquire);
        if (n == 0) continue;
        const int i = rng() % 2 == 0 ? n - 1 : static_cast<int>(rng() % n);
        const uintptr_t p = objs[i].load(std::memory_order_acquire);
        ObjectInfo info;
        const bool found = heap_.QueryObject(p, &info);
        const uint64_t s2 = seq.load(std::memory_order_acquire);
        if (s1 == s2 && s1 % 2 == 0) {
          if (!found || info.base != p ||
              info.type != type_of_round(static_cast<int>(s1 / 2))) {
            bad_strict.fetch_add(1);
          }
          strict_queries.fetch_add(1, std::memory_order_relaxed);
        } else if (found && (info.type == 0 || info.type > kTypes)) {
          bad_loose.fetch_add(1);
        }
        queries.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // The sweeper: sweeps whatever is unswept, as the background one does.
  threads.emplace_back([&] {
    while (!done.load(std::memory_order_acquire)) {
      if (heap_.SweepOne() == 0) std::this_thread::yield();
    }
  });
  int claims = 0;  // allocations that reused a span of the last round mono
  std::set<MSpan*> last_round_spans;
  for (int r = 0; r < kRounds; r++) {
    const uint16_t t = type_of_round(r);
    std::set<MSpan*> spans;
    for (int i = 0; i < kObjects; i++) {
      void* p = c_->AllocTyped(48, t);
      ASSERT_NE(p, nullptr) << "round " << r << " allocation " << i;
      MSpan* s = SpanOf(heap_, p);
      if (spans.insert(s).second && last_round_spans.count(s) != 0 &&
          s->obj_types.load() == nullptr) {
        claims++;
      }
      objs[i].store(reinterpret_cast<uintptr_t>(p), std::memory_order_release);
      published.store(i + 1, std::memory_order_release);
      if (i % 64 == 63) {
        const int64_t q = queries.load();
        while (queries.load() < q + 2) std::this_thread::yield();
      }
    }
    // The round ends: nothing survives. The spans are swept by the sweeper
    // and by the next round's refills, racing each other; the empty ones
    // are reused by the next round, those left over freed by FinishSweep.
    seq.fetch_add(1, std::memory_order_acq_rel);  // odd
    published.store(0, std::memory_order_release);
    heap_.FinishSweep(/*scavenge=*/false);
    c_->ReleaseAll();
    heap_.StartSweepCycle();
    last_round_spans = std::move(spans);
    seq.fetch_add(1, std::memory_order_acq_rel);  // even: round r + 1
  }
  done = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad_strict.load(), 0);
  EXPECT_EQ(bad_loose.load(), 0);
  // The race is exercised: spans were claimed by another type, and the
  // readers checked objects while it happened.
  EXPECT_GT(claims, kRounds);
  EXPECT_GT(strict_queries.load(), kRounds * kObjects / 64);
}

TEST_F(MCacheTest, SizeZeroGivesDistinctMinimalObjects) {
  std::set<void*> seen;
  for (bool noscan : {false, true}) {
    for (int i = 0; i < 100; i++) {
      void* p = c_->Alloc(0, noscan);
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(seen.insert(p).second) << "size 0 returned a duplicate";
      ObjectRef r;
      EXPECT_TRUE(heap_.FindObject(reinterpret_cast<uintptr_t>(p), &r));
    }
  }
}

TEST_F(MCacheTest, AbsurdSizesFailWithAReason) {
  for (size_t size : {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - kPageSize,
                      SIZE_MAX / 2, kMaxAllocBytes + 1}) {
    ClearLastError();
    EXPECT_EQ(c_->Alloc(size, false), nullptr) << size;
    EXPECT_NE(std::string(LastError()).find("overflow"), std::string::npos)
        << LastError();
  }
  // The heap is still fine afterwards.
  EXPECT_NE(c_->Alloc(64, false), nullptr);
}

TEST(MCacheLimitTest, HardLimitFailsWithAReasonAndRecovers) {
  HeapOptions opts;
  opts.hard_limit = 32 << 20;
  MHeap heap(opts);
  MCache* c = heap.NewMCache();
  std::vector<void*> big;
  for (;;) {
    void* p = c->Alloc(1 << 20, true);
    if (p == nullptr) break;
    big.push_back(p);
    ASSERT_LE(big.size(), 64u) << "the hard limit was not enforced";
  }
  EXPECT_NE(std::string(LastError()).find("hard limit"), std::string::npos)
      << LastError();
  EXPECT_LE(heap.ReadStats().in_use_bytes, opts.hard_limit);
  EXPECT_GE(big.size(), 28u);
  // Small allocations also fail once no span can be added...
  size_t small = 0;
  while (c->Alloc(1024, false) != nullptr) small++;
  EXPECT_LT(small * 1024, size_t{4} << 20);
  // ...and succeed again after garbage is swept.
  SweepCycle(heap, {c});
  EXPECT_NE(c->Alloc(1 << 20, true), nullptr);
  EXPECT_NE(c->Alloc(1024, false), nullptr);
  heap.FreeMCache(c);
}

// Regression (issue 11, defect 6): the fast path trusted that every cached
// span was returned before the sweepgen flip. Here the mcache is NOT
// flushed before the flip (as a collector that forgot would leave it): its
// span, cached in the ending cycle, is stale afterwards, its mark bits the
// finished cycle's. An object allocated from it after the flip carries no
// mark, so sweeping the span (when it is uncached) freed that live object.
// The flip now prepares every mcache (Go's prepareForSweep): the stale span
// is swept at the flip, and the next allocation comes from a span of the
// new cycle.
TEST(MCacheFlushGenTest, TheFlipFlushesAnMCacheThatStillHoldsASpan) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  void* kept = c->Alloc(128, false);
  void* dead = c->Alloc(128, false);
  ASSERT_NE(kept, nullptr);
  ASSERT_NE(dead, nullptr);
  MarkObject(heap, c, kept);  // the finished cycle found `kept` live
  const SpanClass spc = MakeSpanClass(SizeToClass(128), false);
  MSpan* stale = c->cached_span(spc);
  ASSERT_NE(stale, &empty_mspan);
  EXPECT_EQ(c->flush_gen(), heap.sweepgen());

  heap.FinishSweep();
  heap.StartSweepCycle();  // the flip, with the span still cached
  EXPECT_EQ(c->flush_gen(), heap.sweepgen());
  EXPECT_EQ(c->cached_span(spc), &empty_mspan) << "a stale span stays cached";
  EXPECT_EQ(stale->sweepgen.load(), heap.sweepgen()) << "not swept at the flip";
  ObjectRef r;
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(kept), &r));
  EXPECT_TRUE(r.span->IsAllocated(r.index));
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(dead), &r));
  EXPECT_FALSE(r.span->IsAllocated(r.index));

  // A new object, live in the new cycle; the next flip must keep it.
  void* fresh = c->Alloc(128, false);
  ASSERT_NE(fresh, nullptr);
  MarkObject(heap, c, kept);
  MarkObject(heap, c, fresh);
  c->ReleaseAll();
  heap.FinishSweep();
  heap.StartSweepCycle();
  heap.FinishSweep();
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(fresh), &r));
  EXPECT_TRUE(r.span->IsAllocated(r.index))
      << "an object allocated after the flip was freed while live";
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(kept), &r));
  EXPECT_TRUE(r.span->IsAllocated(r.index));
  heap.FreeMCache(c);
}

// The flip prepares every registered mcache, also one that holds only a
// tiny block, and an mcache created after a flip starts prepared.
TEST(MCacheFlushGenTest, EveryMCacheIsPreparedAtTheFlip) {
  MHeap heap;
  MCache* a = heap.NewMCache();
  MCache* b = heap.NewMCache();
  ASSERT_NE(a->Alloc(4, true), nullptr);  // a tiny block
  ASSERT_NE(b->Alloc(1000, true), nullptr);
  heap.FinishSweep();
  heap.StartSweepCycle();
  for (MCache* c : {a, b}) {
    EXPECT_EQ(c->flush_gen(), heap.sweepgen());
    for (int spc = 0; spc < kNumSpanClasses; spc++) {
      EXPECT_EQ(c->cached_span(static_cast<SpanClass>(spc)), &empty_mspan);
    }
  }
  MCache* late = heap.NewMCache();
  EXPECT_EQ(late->flush_gen(), heap.sweepgen());
  EXPECT_NE(late->Alloc(64, false), nullptr);
  heap.FreeMCache(late);
  heap.FreeMCache(b);
  heap.FreeMCache(a);
}

}  // namespace
}  // namespace gcheap
