// Tests for sweeping (mheap.SweepSpan, mcentral's sweepgen-indexed sets) and
// for several threads allocating and sweeping at once.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstring>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "heap/error.h"
#include "heap/mcache.h"
#include "heap/mheap.h"
#include "tests/heap_test_util.h"

namespace gcheap {
namespace {

TEST(SweepTest, UnmarkedSlotsAreFreedMarkedSlotsSurvive) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  std::vector<uint64_t*> objs;
  // 3072 = 12 full spans of 256 slots: every slot was allocated once.
  for (int i = 0; i < 3072; i++) {
    auto* p = static_cast<uint64_t*>(c->Alloc(32, false));
    p[0] = 0xfeed0000u + i;
    objs.push_back(p);
  }
  std::set<uint64_t*> kept;
  for (int i = 0; i < 3072; i += 3) {
    MarkObject(heap, c, objs[i]);
    kept.insert(objs[i]);
  }
  SweepCycle(heap, {c});
  for (int i = 0; i < 3072; i += 3) {
    ObjectRef r;
    ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(objs[i]), &r));
    EXPECT_TRUE(r.span->IsAllocated(r.index));
    EXPECT_EQ(objs[i][0], 0xfeed0000u + i);
  }
  // New allocations reuse exactly the freed slots and never a kept one.
  size_t reused = 0;
  for (int i = 0; i < 2000; i++) {
    auto* p = static_cast<uint64_t*>(c->Alloc(32, false));
    ASSERT_EQ(kept.count(p), 0u) << "a live object was handed out again";
    reused += std::find(objs.begin(), objs.end(), p) != objs.end();
  }
  EXPECT_EQ(reused, 2000u);
  heap.FreeMCache(c);
}

// A span the sweep finds empty stays a span, on its class's empty set, and
// the class's next refill reuses it: zeroed, with no heap lock. Empty spans
// count as in use until they are released (before a cycle, by
// FinishSweep, or when the heap would grow or pass its hard limit).
TEST(SweepTest, EmptySpansAreReusedByTheirClassWithoutTheHeapLock) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  const size_t per_span = kClassToNElems[SizeToClass(64)];  // 128
  std::set<uintptr_t> spans;
  for (size_t i = 0; i < 10 * per_span; i++) {
    auto* p = static_cast<unsigned char*>(c->Alloc(64, false));
    memset(p, 0x5a, 64);
    spans.insert(AlignDown(reinterpret_cast<uintptr_t>(p), kPageSize));
  }
  ASSERT_EQ(spans.size(), 10u);
  // A cycle that marked nothing; sweep without releasing (as the
  // background sweeper and allocation do).
  c->ReleaseAll();
  heap.StartSweepCycle();
  heap.SweepRemaining();
  EXPECT_EQ(heap.ReadStats().in_use_bytes, 10 * kPageSize);
  const HeapCounters before = heap.ReadCounters();
  for (size_t i = 0; i < 10 * per_span; i++) {
    auto* p = static_cast<unsigned char*>(c->Alloc(64, false));
    ASSERT_EQ(spans.count(AlignDown(reinterpret_cast<uintptr_t>(p), kPageSize)),
              1u)
        << "not one of the empty spans";
    for (int b = 0; b < 64; b++) ASSERT_EQ(p[b], 0) << "not zeroed";
  }
  const HeapCounters after = heap.ReadCounters();
  EXPECT_EQ(after.refills_empty_span - before.refills_empty_span, 10u);
  EXPECT_EQ(after.refills_heap_lock, before.refills_heap_lock);
  EXPECT_EQ(after.heap_locks, before.heap_locks);
  // Once more, then a finished sweep releases what nobody reused.
  c->ReleaseAll();
  heap.StartSweepCycle();
  heap.SweepRemaining();
  EXPECT_EQ(heap.ReadStats().in_use_bytes, 10 * kPageSize);
  heap.FinishSweep();
  EXPECT_EQ(heap.ReadStats().in_use_bytes, 0u);
  heap.FreeMCache(c);
}

// Empty spans kept for one class give their pages to another class rather
// than let the heap grow, or fail at its hard limit.
TEST(SweepTest, EmptySpansReturnTheirPagesBeforeTheHeapGrowsOrFails) {
  HeapOptions opts;
  opts.hard_limit = 2 << 20;
  MHeap heap(opts);
  MCache* c = heap.NewMCache();
  // 1.5 MiB of 64-byte objects (192 spans), all garbage after the cycle.
  for (size_t i = 0; i < (size_t{3} << 20) / 2 / 64; i++) {
    ASSERT_NE(c->Alloc(64, false), nullptr) << LastError();
  }
  c->ReleaseAll();
  heap.StartSweepCycle();
  heap.SweepRemaining();
  EXPECT_EQ(heap.ReadStats().in_use_bytes, size_t{3} << 19);
  // 1.5 MiB of large objects: only fits under the limit once the empty
  // spans are released.
  for (int i = 0; i < 12; i++) {
    ASSERT_NE(c->Alloc(128 << 10, true), nullptr) << LastError();
  }
  EXPECT_EQ(heap.ReadStats().in_use_bytes, size_t{3} << 19);
  heap.FreeMCache(c);

  // Growth: a heap whose first arena is full of empty spans of one class
  // serves another class from them instead of reserving a second arena.
  MHeap big;
  MCache* d = big.NewMCache();
  const size_t n = (kArenaBytes - (1 << 20)) / 64;
  for (size_t i = 0; i < n; i++) ASSERT_NE(d->Alloc(64, true), nullptr);
  ASSERT_EQ(big.ReadStats().arenas, 1u);
  d->ReleaseAll();
  big.StartSweepCycle();
  big.SweepRemaining();
  for (size_t i = 0; i < n / 2; i++) ASSERT_NE(d->Alloc(128, true), nullptr);
  EXPECT_EQ(big.ReadStats().arenas, 1u) << "the heap grew past empty spans";
  big.FreeMCache(d);
}

TEST(SweepTest, DeadSlotsAreClearedOrPoisonedAtSweep) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  std::vector<unsigned char*> objs;
  for (int i = 0; i < 512; i++) {
    auto* p = static_cast<unsigned char*>(c->Alloc(64, false));
    memset(p, 0x11, 64);
    objs.push_back(p);
  }
  MarkObject(heap, c, objs[0]);  // its span survives; the other spans die
  ObjectRef first;
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(objs[0]), &first));
  const size_t per_span = first.span->nelems;
  SweepCycle(heap, {c});
  // Release builds clear dead slots when sweeping (free slots read as zero);
  // debug builds poison them so a use-after-free is loud.
  const unsigned char expect = kDebugBuild ? kFreePoison : 0;
  for (size_t i = 1; i < per_span; i++) {
    for (int k = 0; k < 64; k++) ASSERT_EQ(objs[i][k], expect) << i;
  }
  EXPECT_EQ(objs[0][0], 0x11);
  EXPECT_EQ(objs[0][63], 0x11);
  heap.FreeMCache(c);
}

TEST(SweepTest, EmptySpansReturnTheirPagesWhichCoalesce) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  for (int i = 0; i < 100000; i++) c->Alloc(64, false);
  void* survivor = c->Alloc(64, false);
  HeapStats before = heap.ReadStats();
  EXPECT_GT(before.in_use_bytes, 6u << 20);
  MarkObject(heap, c, survivor);
  SweepCycle(heap, {c});
  HeapStats after = heap.ReadStats();
  // Only the survivor's span remains in use.
  EXPECT_EQ(after.in_use_bytes, kClassToNPages[SizeToClass(64)] * kPageSize);
  heap.VerifyPages();
  // The freed pages coalesced: a run as large as everything that was in use
  // fits without growing the heap.
  void* big = c->Alloc(before.in_use_bytes - 2 * kPageSize, true);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(heap.ReadStats().reserved_bytes, before.reserved_bytes);
  heap.FreeMCache(c);
}

TEST(SweepTest, LazySweepThroughAllocationThenFinish) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  std::vector<void*> objs;
  for (int i = 0; i < 20000; i++) objs.push_back(c->Alloc(128, false));
  for (size_t i = 0; i < objs.size(); i += 2) MarkObject(heap, c, objs[i]);
  SweepCycle(heap, {c}, /*finish=*/false);
  EXPECT_FALSE(heap.SweepDone());
  // Allocation sweeps spans on demand (mcentral.cacheSpan); the freed odd
  // slots are reused before the heap grows.
  size_t reserved = heap.ReadStats().in_use_bytes;
  for (int i = 0; i < 5000; i++) ASSERT_NE(c->Alloc(128, false), nullptr);
  EXPECT_EQ(heap.ReadStats().in_use_bytes, reserved);
  heap.FinishSweep();
  EXPECT_TRUE(heap.SweepDone());
  HeapStats st = heap.ReadStats();
  EXPECT_EQ(st.by_class[SizeToClass(128)].nfree, 10000u);
  heap.FreeMCache(c);
}

TEST(SweepTest, StaleCachedSpanIsSweptWhenUncached) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  void* a = c->Alloc(256, false);
  void* b = c->Alloc(256, false);
  MarkObject(heap, c, a);
  // Start a cycle WITHOUT flushing the mcache: its span becomes stale
  // (h+1), and the flip's MCache::PrepareForSweep uncaches it, which sweeps
  // it (uncacheSpan's h+1 case).
  heap.FinishSweep();
  heap.StartSweepCycle();
  ObjectRef r;
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(a), &r));
  EXPECT_EQ(r.span->sweepgen.load(), heap.sweepgen());
  EXPECT_TRUE(r.span->IsAllocated(r.index));
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(b), &r));
  EXPECT_FALSE(r.span->IsAllocated(r.index));
  heap.FinishSweep();
  heap.FreeMCache(c);
}

// Several threads (more than cores) allocate, keep a random half of their
// objects alive across cycles, and sweep concurrently (lazily through
// allocation and with a dedicated SweepOne thread). Every live object keeps
// its contents; every new object is zeroed; no slot is handed out twice.
TEST(SweepConcurrencyTest, ThreadsAllocateAndSweepAtOnce) {
  constexpr int kThreads = 4;
  constexpr int kCycles = 8;
  const int kPerCycle = kDebugBuild ? 6000 : 30000;
  MHeap heap;
  std::vector<MCache*> caches;
  for (int t = 0; t < kThreads; t++) caches.push_back(heap.NewMCache());
  std::barrier sync(kThreads + 1);
  std::atomic<bool> sweeping{false};
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};

  auto worker = [&](int t) {
    std::mt19937_64 rng(1000 + t);
    MCache* c = caches[t];
    struct Obj {
      uint64_t* p;
      size_t words;
      uint64_t stamp;
    };
    std::vector<Obj> live;
    for (int cycle = 0; cycle < kCycles; cycle++) {
      for (int i = 0; i < kPerCycle; i++) {
        size_t r = rng() % 100;
        size_t bytes = r < 70   ? 8 + rng() % 256
                       : r < 98 ? 256 + rng() % 4000
                                : 40000;
        size_t words = bytes / 8;
        auto* p = static_cast<uint64_t*>(c->Alloc(bytes, rng() & 1));
        if (p == nullptr) {
          failures++;
          return;
        }
        for (size_t w = 0; w < words; w++) {
          if (p[w] != 0) {
            failures++;
            break;
          }
        }
        uint64_t stamp = (uint64_t{static_cast<uint64_t>(t)} << 56) ^ rng();
        p[0] = stamp;
        p[words - 1] = stamp;
        live.push_back({p, words, stamp});
      }
      // Keep a random half alive; check the survivors' stamps.
      std::vector<Obj> next;
      for (const Obj& o : live) {
        if (o.p[0] != o.stamp || o.p[o.words - 1] != o.stamp) failures++;
        if (rng() & 1) next.push_back(o);
      }
      live.swap(next);
      sync.arrive_and_wait();  // all threads done allocating
      sync.arrive_and_wait();  // controller finished the sweep (termination)
      for (const Obj& o : live) MarkObject(heap, c, o.p);
      c->ReleaseAll();
      sync.arrive_and_wait();  // marks set, caches flushed
      sync.arrive_and_wait();  // controller started the sweep cycle
    }
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) threads.emplace_back(worker, t);
  std::thread sweeper([&] {
    while (!stop.load()) {
      if (sweeping.load() && heap.SweepOne() == 0) std::this_thread::yield();
    }
  });
  for (int cycle = 0; cycle < kCycles; cycle++) {
    sync.arrive_and_wait();
    // Sweep termination before anyone marks, as the collector will do it.
    sweeping.store(false);
    heap.FinishSweep();
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    heap.StartSweepCycle();
    sweeping.store(true);
    sync.arrive_and_wait();
  }
  for (auto& th : threads) th.join();
  stop.store(true);
  sweeper.join();
  heap.FinishSweep();
  EXPECT_EQ(failures.load(), 0);
  heap.VerifyPages();
  // Regression: a sweeper racing with StartSweepCycle once popped spans from
  // the wrong set and lost them. With nothing marked, every span must come
  // back: no span may be left in use.
  std::thread racer([&] {
    for (int i = 0; i < 2000; i++) heap.SweepOne();
  });
  for (int i = 0; i < 50; i++) SweepCycle(heap, caches);
  racer.join();
  heap.FinishSweep();
  size_t spans_left = 0;
  heap.ForEachSpan([&](MSpan*) { spans_left++; });
  EXPECT_EQ(spans_left, 0u);
  EXPECT_EQ(heap.ReadStats().in_use_bytes, 0u);
  for (MCache* c : caches) heap.FreeMCache(c);
}

// The sweep hook (heap/mheap.h's SweepHook) is called for exactly the
// spans that have a side record, with the span claimed (h-1) and its bits
// not yet changed; a span it leaves without a side record may be freed.
class RecordingHook : public SweepHook {
 public:
  explicit RecordingHook(MHeap* h) : heap_(h) {}
  void BeforeSweep(MSpan* s) override {
    calls++;
    EXPECT_EQ(s->sweepgen.load(), heap_->sweepgen() - 1);
    // The marks are still this cycle's: the marked object is marked.
    EXPECT_TRUE(s->IsMarked(0));
    EXPECT_TRUE(s->AllocatedWord(0) & 1);
    s->gc_side.store(nullptr);  // what the collector's hook does when done
  }
  MHeap* heap_;
  int calls = 0;
};

TEST(SweepTest, TheSweepHookSeesOnlySpansWithASideRecordBeforeTheirBitsChange) {
  MHeap heap;
  RecordingHook hook(&heap);
  heap.SetSweepHook(&hook);
  MCache* c = heap.NewMCache();
  void* a = c->Alloc(64, false);
  void* b = c->Alloc(128, false);
  MarkObject(heap, c, a);
  MarkObject(heap, c, b);
  ObjectRef ra;
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(a), &ra));
  static uint64_t dummy_side;
  ra.span->gc_side.store(&dummy_side);  // only a's span has one
  SweepCycle(heap, {c});
  EXPECT_EQ(hook.calls, 1);
  EXPECT_TRUE(ra.span->IsAllocated(ra.index));
  heap.FreeMCache(c);
}

TEST(SweepTest, FullySweptOnlyOnceEverySpanOfTheCycleIsSwept) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  for (int i = 0; i < 5000; i++) MarkObject(heap, c, c->Alloc(32, false));
  EXPECT_TRUE(heap.FullySwept());  // nothing to sweep yet
  SweepCycle(heap, {c}, /*finish=*/false);
  EXPECT_FALSE(heap.FullySwept());
  EXPECT_FALSE(heap.NoteFullySwept());
  ASSERT_NE(heap.SweepOne(), 0u);
  EXPECT_FALSE(heap.NoteFullySwept());  // spans are left
  heap.SweepRemaining();
  EXPECT_TRUE(heap.NoteFullySwept());  // drained, no sweep in flight
  EXPECT_TRUE(heap.FullySwept());
  SweepCycle(heap, {c}, /*finish=*/false);
  EXPECT_FALSE(heap.FullySwept());
  heap.FinishSweep();  // FinishSweep establishes it too
  EXPECT_TRUE(heap.FullySwept());
  heap.FreeMCache(c);
}

// Regression: FullySwept was published for a sweep cycle that had not been
// swept. A publisher that is not stopped by the flip's pause (the
// background sweeper's NoteFullySwept, a gc_collect sweeping while counted
// as blocked in FinishSweep) saw the old cycle's sweep done, then a flip ran
// (sweepgen += 2, every span unswept), then it stored the new sweepgen as
// swept: weak reads took the fully-swept fast path and returned objects the
// new sweep was freeing (ephemeron_test's stress test read an ephemeron's
// key as live and its value's memory already cleared). Here the publisher
// is held just before it publishes while another thread tries a flip; the
// new cycle must read as not swept whatever the interleaving (with the fix
// the flip waits for the publisher, which is held for at most 300 ms).
TEST(SweepTest, FullySweptIsNeverPublishedForACycleAFlipJustBegan) {
  for (const bool via_finish_sweep : {false, true}) {
    SCOPED_TRACE(via_finish_sweep ? "FinishSweep" : "NoteFullySwept");
    MHeap heap;
    MCache* c = heap.NewMCache();
    for (int i = 0; i < 2000; i++) MarkObject(heap, c, c->Alloc(32, false));
    SweepCycle(heap, {c}, /*finish=*/false);
    heap.SweepRemaining();  // swept, not yet published
    std::atomic<bool> armed{true}, at_point{false}, flipped{false};
    heap.SetPublishSweptHookForTesting([&] {
      if (!armed.exchange(false)) return;  // only the publisher below
      at_point.store(true);
      const auto until =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
      while (!flipped.load() && std::chrono::steady_clock::now() < until) {
        std::this_thread::yield();
      }
    });
    std::thread publisher([&] {
      if (via_finish_sweep) {
        heap.FinishSweep(/*scavenge=*/false);
      } else {
        heap.NoteFullySwept();
      }
    });
    while (!at_point.load()) std::this_thread::yield();
    // A flip: the new cycle has spans to sweep (nothing is marked in it,
    // so its sweep frees them).
    c->ReleaseAll();
    heap.StartSweepCycle();
    flipped.store(true);
    publisher.join();
    heap.SetPublishSweptHookForTesting(nullptr);
    EXPECT_FALSE(heap.FullySwept()) << "published for a cycle not swept";
    ASSERT_NE(heap.SweepOne(), 0u);  // there were spans left to sweep
    heap.FinishSweep();
    EXPECT_TRUE(heap.FullySwept());
    heap.FreeMCache(c);
  }
}

}  // namespace
}  // namespace gcheap
