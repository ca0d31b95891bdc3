// Tests for the lock-free span sets (heap/mcentral.h, SpanSet): LIFO order
// and emptiness on one thread, and a stress test in which 16 threads (more
// than the cores, so that pops are preempted between reading the top and
// swapping the head, the ABA window) move 256 spans between three sets as
// fast as they can. A span must never be held by two threads at once
// (each pop claims the span with a compare-and-swap on a side table), and
// at the end every span is in exactly one set. Counts: every push and pop
// is counted as an operation.
#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "heap/counters.h"
#include "heap/mcentral.h"
#include "heap/mspan.h"

namespace gcheap {
namespace {

TEST(SpanSetTest, LastInFirstOutAndEmpty) {
  HeapEventCounts counts;
  SpanSet set;
  set.Init(&counts);
  auto spans = std::make_unique<MSpan[]>(3);
  EXPECT_TRUE(set.Empty());
  EXPECT_EQ(set.Pop(), nullptr);
  for (int i = 0; i < 3; i++) set.Push(&spans[i]);
  EXPECT_FALSE(set.Empty());
  EXPECT_EQ(set.Pop(), &spans[2]);
  EXPECT_EQ(set.Pop(), &spans[1]);
  set.Push(&spans[2]);
  EXPECT_EQ(set.Pop(), &spans[2]);
  EXPECT_EQ(set.Pop(), &spans[0]);
  EXPECT_EQ(set.Pop(), nullptr);
  EXPECT_TRUE(set.Empty());
  EXPECT_EQ(counts.Read(kEventSpanSetOps), 8u);  // 4 pushes, 4 pops of a span
  EXPECT_EQ(counts.Read(kEventSpanSetRetries), 0u);
}

// The ABA case, directed: a pop reads top X and its next Y; before it
// swaps the head, another thread pops X and Y and pushes X back. The head
// is X again, but Y is gone: the first pop must not install Y as the head
// (it retries and takes X), and Y stays with the thread that popped it.
TEST(SpanSetTest, PopThatRacesWithPopsAndAPushBackTakesNoStaleNext) {
  HeapEventCounts counts;
  SpanSet set;
  set.Init(&counts);
  auto spans = std::make_unique<MSpan[]>(3);
  MSpan *x = &spans[0], *y = &spans[1], *z = &spans[2];
  set.Push(z);
  set.Push(y);
  set.Push(x);  // x, y, z
  struct Interleave {
    SpanSet* set;
    MSpan* taken[2] = {};
    bool done = false;
  } in{&set};
  set.SetPopHookForTesting(
      [](void* arg) {
        auto* in = static_cast<Interleave*>(arg);
        if (in->done) return;
        in->done = true;
        std::thread other([in] {
          in->taken[0] = in->set->Pop();  // x (the hook is done: no nesting)
          in->taken[1] = in->set->Pop();  // y
          in->set->Push(in->taken[0]);    // x again: head x, next z
        });
        other.join();
      },
      &in);
  MSpan* got = set.Pop();
  set.SetPopHookForTesting(nullptr, nullptr);
  EXPECT_EQ(in.taken[0], x);
  EXPECT_EQ(in.taken[1], y);
  EXPECT_EQ(got, x);
  EXPECT_EQ(counts.Read(kEventSpanSetRetries), 1u);
  // Only z is left: y is held by the other thread, not in the set.
  EXPECT_EQ(set.Pop(), z);
  EXPECT_EQ(set.Pop(), nullptr);
}

TEST(SpanSetStressTest, SixteenThreadsMoveSpansWithoutLosingOrSharingAny) {
  constexpr int kSpans = 256, kThreads = 16, kMoves = 200000, kSets = 3;
  HeapEventCounts counts;
  SpanSet sets[kSets];
  for (SpanSet& s : sets) s.Init(&counts);
  auto spans = std::make_unique<MSpan[]>(kSpans);
  std::vector<std::atomic<int>> holder(kSpans);
  for (int i = 0; i < kSpans; i++) {
    holder[i] = 0;
    sets[i % kSets].Push(&spans[i]);
  }
  std::atomic<bool> shared{false};
  std::atomic<uint64_t> moves{0};
  std::vector<std::thread> threads;
  for (int t = 1; t <= kThreads; t++) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kMoves; i++) {
        MSpan* s = sets[rng() % kSets].Pop();
        if (s == nullptr) continue;
        const int idx = static_cast<int>(s - spans.get());
        int none = 0;
        if (!holder[idx].compare_exchange_strong(none, t)) shared = true;
        // Hold it a moment sometimes, so other threads run meanwhile.
        if (rng() % 16 == 0) std::this_thread::yield();
        holder[idx].store(0);
        sets[rng() % kSets].Push(s);
        moves.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(shared) << "a span was popped by two threads at once";
  std::multiset<MSpan*> seen;
  for (SpanSet& s : sets) {
    while (MSpan* p = s.Pop()) seen.insert(p);
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(kSpans)) << "spans lost";
  for (int i = 0; i < kSpans; i++) EXPECT_EQ(seen.count(&spans[i]), 1u);
  EXPECT_EQ(counts.Read(kEventSpanSetOps),
            2 * kSpans + 2 * moves.load());  // fill, moves, drain
}

}  // namespace
}  // namespace gcheap
