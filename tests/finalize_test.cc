// Tests for gc/finalize: the decision (Boehm's order: ordered, unordered,
// ignore-self, cycles, what holds what back) over a graph the test defines
// through a fake marker, the registrations, guardians, the queues (a
// running finalizer's object stays a root, cancelled cleanups are freed
// unrun), waiting and the notifier.
#include "gc/finalize.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gcheap {
namespace {

// Objects are the numbers 1, 2, ...: base = 0x1000 * id. The graph is the
// test's; Marked/MarkReferents/MarkObject mark closures over it.
class FakeMarker : public CandidateMarker {
 public:
  static uintptr_t B(int id) { return uintptr_t{0x1000} * id; }
  void Edge(int from, int to) { edges_[B(from)].push_back(B(to)); }
  void SetMarked(int id) { marked_.insert(B(id)); }
  bool Marked(uintptr_t base) override { return marked_.count(base) != 0; }
  void MarkReferents(uintptr_t base, bool skip_self) override {
    pass1_.push_back(base);
    for (uintptr_t t : edges_[base]) {
      if (!(skip_self && t == base)) Close(t);
    }
  }
  void MarkObject(uintptr_t base) override { Close(base); }
  void Drain() override { drains_++; }
  bool IsMarked(int id) { return Marked(B(id)); }
  std::vector<uintptr_t> pass1_;
  int drains_ = 0;

 private:
  void Close(uintptr_t b) {
    if (!marked_.insert(b).second) return;
    for (uintptr_t t : edges_[b]) Close(t);
  }
  std::map<uintptr_t, std::vector<uintptr_t>> edges_;
  std::set<uintptr_t> marked_;
};

void Fin() {}

class FinalizeTest : public ::testing::Test {
 protected:
  void Reg(int id, uint8_t mode, Guardian* g = nullptr) {
    Registration r;
    r.obj = FakeMarker::B(id);
    r.fn = g == nullptr ? &Fin : nullptr;
    r.data = reinterpret_cast<void*>(static_cast<uintptr_t>(id));
    r.guardian = g;
    r.mode = mode;
    fin_.Register(FakeMarker::B(id), r);
  }
  // The decision, then its release, as the collector does them (the
  // finalizer phase, then mark termination).
  size_t Decide(FakeMarker* m) {
    const size_t n = fin_.Decide(m);
    fin_.ReleaseDecided();
    return n;
  }
  // The objects the queues hold as roots (ScanRoots).
  std::set<uintptr_t> Roots() {
    std::set<uintptr_t> roots;
    Finalization::ScanRoots(
        [](void** slot, void* ctx) {
          static_cast<std::set<uintptr_t>*>(ctx)->insert(
              reinterpret_cast<uintptr_t>(*slot));
        },
        &roots, &fin_);
    return roots;
  }
  // Runs the ready finalizers; returns their ids in the order run.
  std::vector<int> Run() {
    std::vector<int> ids;
    while (fin_.RunOne(
        [&](uintptr_t obj, void (*)(), void* data) {
          EXPECT_EQ(obj, FakeMarker::B(static_cast<int>(
                             reinterpret_cast<uintptr_t>(data))));
          ids.push_back(static_cast<int>(obj / 0x1000));
        },
        [](void (*)(), void*) {})) {
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  Finalization fin_;
};

TEST_F(FinalizeTest, AnOrderedObjectHoldsBackWhatItReaches) {
  FakeMarker m;
  m.Edge(1, 2);  // 1 -> 2, both ordered and unreachable
  Reg(1, kFinalizeOrdered);
  Reg(2, kFinalizeOrdered);
  EXPECT_EQ(Decide(&m), 1u);
  EXPECT_EQ(Run(), std::vector<int>{1});
  EXPECT_TRUE(m.IsMarked(1));  // revived
  EXPECT_TRUE(m.IsMarked(2));  // kept by pass 1
  EXPECT_EQ(fin_.registrations(), 1u);
  FakeMarker next;  // the next cycle: 1 is gone, 2 is ready
  EXPECT_EQ(Decide(&next), 1u);
  EXPECT_EQ(Run(), std::vector<int>{2});
  EXPECT_FALSE(fin_.HasRegistrations());
}

TEST_F(FinalizeTest, OrderedCyclesAndSelfReferencesAreNeverReady) {
  FakeMarker m;
  m.Edge(1, 2);
  m.Edge(2, 1);
  m.Edge(3, 3);
  Reg(1, kFinalizeOrdered);
  Reg(2, kFinalizeOrdered);
  Reg(3, kFinalizeOrdered);
  EXPECT_EQ(Decide(&m), 0u);
  EXPECT_EQ(fin_.registrations(), 3u);
  EXPECT_TRUE(m.IsMarked(1) && m.IsMarked(2) && m.IsMarked(3));
}

TEST_F(FinalizeTest, IgnoreSelfSkipsOnlyDirectSelfPointers) {
  FakeMarker m;
  m.Edge(1, 1);  // ignore-self: ready
  m.Edge(2, 5);  // ignore-self, but 2 -> 5 -> 2: not ready
  m.Edge(5, 2);
  Reg(1, kFinalizeIgnoreSelf);
  Reg(2, kFinalizeIgnoreSelf);
  EXPECT_EQ(Decide(&m), 1u);
  EXPECT_EQ(Run(), std::vector<int>{1});
}

TEST_F(FinalizeTest, UnorderedObjectsMarkNothingAndCyclesOfThemAreReady) {
  FakeMarker m;
  m.Edge(1, 2);
  m.Edge(2, 1);
  Reg(1, kFinalizeUnordered);
  Reg(2, kFinalizeUnordered);
  EXPECT_EQ(Decide(&m), 2u);
  EXPECT_TRUE(m.pass1_.empty());
  EXPECT_EQ(Run(), (std::vector<int>{1, 2}));
}

TEST_F(FinalizeTest, BoehmsRuleAnOrderedObjectHoldsBackAnUnorderedOne) {
  FakeMarker m;
  m.Edge(1, 2);  // ordered 1 -> unordered 2: 2 waits
  m.Edge(3, 4);  // unordered 3 -> ordered 4: both ready
  Reg(1, kFinalizeOrdered);
  Reg(2, kFinalizeUnordered);
  Reg(3, kFinalizeUnordered);
  Reg(4, kFinalizeOrdered);
  EXPECT_EQ(Decide(&m), 3u);
  EXPECT_EQ(Run(), (std::vector<int>{1, 3, 4}));
  FakeMarker next;
  EXPECT_EQ(Decide(&next), 1u);
  EXPECT_EQ(Run(), std::vector<int>{2});
}

TEST_F(FinalizeTest, ReachableRegisteredObjectsAreNotCandidates) {
  FakeMarker m;
  m.SetMarked(1);
  Reg(1, kFinalizeOrdered);
  Reg(2, kFinalizeOrdered);
  EXPECT_EQ(Decide(&m), 1u);
  EXPECT_EQ(m.pass1_, std::vector<uintptr_t>{FakeMarker::B(2)});
  EXPECT_EQ(Run(), std::vector<int>{2});
  EXPECT_EQ(fin_.registrations(), 1u);
}

TEST_F(FinalizeTest, ReplacingAndRemovingRegistrations) {
  Reg(1, kFinalizeOrdered);
  Reg(1, kFinalizeUnordered);  // replaces: still one
  EXPECT_EQ(fin_.registrations(), 1u);
  EXPECT_TRUE(fin_.Unregister(FakeMarker::B(1)));
  EXPECT_FALSE(fin_.Unregister(FakeMarker::B(1)));
  FakeMarker m;
  EXPECT_EQ(Decide(&m), 0u);
  EXPECT_EQ(m.drains_, 0);  // nothing to do: no pass at all
}

TEST_F(FinalizeTest, GuardiansGetTheirObjectsBackAsRoots) {
  Guardian* g = fin_.NewGuardian();
  FakeMarker m;
  Reg(1, kFinalizeOrdered, g);
  Reg(2, kFinalizeOrdered);
  EXPECT_EQ(Decide(&m), 2u);
  EXPECT_EQ(fin_.pending(), 1u);  // the finalizer; the guardian's is popped
  EXPECT_EQ(Roots(), (std::set<uintptr_t>{FakeMarker::B(1), FakeMarker::B(2)}));
  EXPECT_EQ(fin_.Pop(g), FakeMarker::B(1));
  EXPECT_EQ(fin_.Pop(g), 0u);
  Reg(3, kFinalizeOrdered, g);
  fin_.DestroyGuardian(g);  // its registration goes with it
  EXPECT_EQ(fin_.registrations(), 0u);
  Run();
}

// What a decision queues is held back until ReleaseDecided (the cycle's
// mark termination): nothing runs, pops or counts as pending before, and
// the held entries are roots all the same.
TEST_F(FinalizeTest, DecidedEntriesAreHeldUntilReleased) {
  FakeMarker m;
  Guardian* g = fin_.NewGuardian();
  Reg(1, kFinalizeOrdered);
  Reg(2, kFinalizeOrdered, g);
  ASSERT_EQ(fin_.Decide(&m), 2u);
  EXPECT_EQ(fin_.pending(), 0u);
  EXPECT_EQ(Run(), std::vector<int>{});
  EXPECT_EQ(fin_.Pop(g), 0u);
  EXPECT_EQ(Roots(), (std::set<uintptr_t>{FakeMarker::B(1), FakeMarker::B(2)}));
  fin_.ReleaseDecided();
  EXPECT_EQ(fin_.pending(), 1u);
  EXPECT_EQ(fin_.Pop(g), FakeMarker::B(2));
  EXPECT_EQ(Run(), std::vector<int>{1});
  fin_.DestroyGuardian(g);
}

TEST_F(FinalizeTest, ARunningFinalizersObjectStaysARoot) {
  FakeMarker m;
  Reg(1, kFinalizeOrdered);
  ASSERT_EQ(Decide(&m), 1u);
  size_t roots_while_running = 0;
  ASSERT_TRUE(fin_.RunOne(
      [&](uintptr_t, void (*)(), void*) {
        EXPECT_EQ(fin_.pending(), 0u);  // started: no longer pending
        Finalization::ScanRoots(
            [](void**, void* ctx) { ++*static_cast<size_t*>(ctx); },
            &roots_while_running, &fin_);
      },
      [](void (*)(), void*) {}));
  EXPECT_EQ(roots_while_running, 1u);
  size_t after = 0;
  Finalization::ScanRoots(
      [](void**, void* ctx) { ++*static_cast<size_t*>(ctx); }, &after, &fin_);
  EXPECT_EQ(after, 0u);
}

TEST_F(FinalizeTest, CleanupsRunOnceAndCancelledOnesNever) {
  auto* a = new Cleanup;
  auto* b = new Cleanup;
  a->arg = reinterpret_cast<void*>(1);
  b->arg = reinterpret_cast<void*>(2);
  a->state = Cleanup::kQueued;
  b->state = Cleanup::kQueued;
  fin_.QueueCleanup(a);
  fin_.QueueCleanup(b);
  EXPECT_EQ(fin_.pending(), 2u);
  int expect = Cleanup::kQueued;
  ASSERT_TRUE(b->state.compare_exchange_strong(expect, Cleanup::kCancelled));
  std::vector<uintptr_t> ran;
  while (fin_.RunOne([](uintptr_t, void (*)(), void*) {},
                     [&](void (*)(), void* arg) {
                       ran.push_back(reinterpret_cast<uintptr_t>(arg));
                     })) {
  }
  EXPECT_EQ(ran, std::vector<uintptr_t>{1});
  EXPECT_EQ(fin_.pending(), 0u);
  EXPECT_EQ(fin_.ran(), 1u);
}

TEST_F(FinalizeTest, NotifierOncePerBatchAndWaitersWake) {
  int notified = 0;
  fin_.SetNotifier([&] { notified++; });
  fin_.Notify();
  EXPECT_EQ(notified, 0);  // nothing queued yet
  std::atomic<bool> stop{false}, woke{false};
  std::thread waiter([&] {
    fin_.WaitForWork([&] { return stop.load(); });
    woke = true;
  });
  FakeMarker m;
  Reg(1, kFinalizeOrdered);
  Reg(2, kFinalizeOrdered);
  ASSERT_EQ(Decide(&m), 2u);
  waiter.join();  // woken by the queued work
  EXPECT_TRUE(woke);
  fin_.Notify();
  fin_.Notify();
  EXPECT_EQ(notified, 1);
  Run();
  // A waiter with nothing queued leaves when asked to stop.
  std::thread idle([&] { fin_.WaitForWork([&] { return stop.load(); }); });
  stop = true;
  fin_.Wake();
  idle.join();
}

}  // namespace
}  // namespace gcheap
