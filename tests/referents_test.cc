// Tests for gc/referents: per-key wait lists and weak-slot records, taking
// them exactly once, the count of wait-list operations, and the reset at
// the end of a sweep cycle.
#include "gc/referents.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "heap/mcache.h"
#include "heap/mheap.h"

namespace gcheap {
namespace {

class ReferentTableTest : public ::testing::Test {
 protected:
  void SetUp() override { c_ = heap_.NewMCache(); }
  void TearDown() override { heap_.FreeMCache(c_); }
  ObjectRef NewObject() {
    ObjectRef r;
    EXPECT_TRUE(heap_.FindObject(
        reinterpret_cast<uintptr_t>(c_->Alloc(32, false)), &r));
    return r;
  }
  MHeap heap_;
  MCache* c_ = nullptr;
  ReferentTable table_;
};

TEST_F(ReferentTableTest, WaitersAreTakenOnceAndCounted) {
  ObjectRef k = NewObject();
  for (uintptr_t e = 1; e <= 5; e++) {
    ASSERT_TRUE(table_.AddWaiter(k.span, k.base, 0x1000 * e, k.base));
  }
  EXPECT_EQ(table_.wait_ops(), 5u);
  std::vector<uintptr_t> got;
  table_.TakeWaiters(k.span, k.base, [&](uintptr_t e) { got.push_back(e); });
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got,
            (std::vector<uintptr_t>{0x1000, 0x2000, 0x3000, 0x4000, 0x5000}));
  EXPECT_EQ(table_.wait_ops(), 10u);  // 5 appends, 5 taken
  got.clear();
  table_.TakeWaiters(k.span, k.base, [&](uintptr_t e) { got.push_back(e); });
  EXPECT_TRUE(got.empty());
  // The entry stays (empty) until the sweep takes it.
  EXPECT_EQ(table_.size(), 1u);
  ReferentTable::Entry e;
  {
    std::lock_guard<std::mutex> g(table_.LockOf(k.span));
    ASSERT_TRUE(table_.TakeLocked(k.span, k.base, &e));
    EXPECT_FALSE(table_.TakeLocked(k.span, k.base, &e));
  }
  EXPECT_EQ(table_.size(), 0u);
  table_.Reset();
}

TEST_F(ReferentTableTest, SlotRecordsKeepWhatWasReadAndTheKind) {
  ObjectRef k = NewObject();
  void* slots[2] = {nullptr, nullptr};
  ASSERT_TRUE(table_.AddSlot(k.span, k.base, &slots[0], k.base | 1, 0));
  ASSERT_TRUE(table_.AddSlot(k.span, k.base, &slots[1], k.base + 8, 1));
  EXPECT_EQ(table_.wait_ops(), 0u);  // slots are not wait-list operations
  ReferentTable::Entry e;
  {
    std::lock_guard<std::mutex> g(table_.LockOf(k.span));
    ASSERT_TRUE(table_.TakeLocked(k.span, k.base, &e));
  }
  ASSERT_NE(e.slots, nullptr);
  ASSERT_NE(e.slots->next, nullptr);
  EXPECT_EQ(e.slots->next->next, nullptr);
  EXPECT_EQ(e.waiters, nullptr);
  // Newest first.
  EXPECT_EQ(e.slots->holder, reinterpret_cast<uintptr_t>(&slots[1]));
  EXPECT_EQ(e.slots->raw, k.base + 8);
  EXPECT_EQ(e.slots->kind, 1);
  EXPECT_EQ(e.slots->next->raw, k.base | 1);
  EXPECT_EQ(e.slots->next->kind, 0);
  table_.Reset();
}

TEST_F(ReferentTableTest, ResetRewindsTheArenasForTheNextCycle) {
  ObjectRef k = NewObject();
  // More nodes than one arena chunk holds, over two cycles.
  for (int cycle = 0; cycle < 2; cycle++) {
    for (uintptr_t e = 0; e < 3000; e++) {
      ASSERT_TRUE(table_.AddWaiter(k.span, k.base, 0x10000 + e * 16, k.base));
    }
    size_t n = 0;
    table_.TakeWaiters(k.span, k.base, [&](uintptr_t) { n++; });
    EXPECT_EQ(n, 3000u);
    ReferentTable::Entry e;
    std::lock_guard<std::mutex> g(table_.LockOf(k.span));
    ASSERT_TRUE(table_.TakeLocked(k.span, k.base, &e));
  }
  table_.Reset();
  EXPECT_EQ(table_.wait_ops(), 12000u);
}

TEST_F(ReferentTableTest, ResetWithRecordsLeftAborts) {
  ObjectRef k = NewObject();
  ASSERT_TRUE(table_.AddWaiter(k.span, k.base, 0x1000, k.base));
  EXPECT_DEATH(table_.Reset(), "referent records left");
  ReferentTable::Entry e;
  std::lock_guard<std::mutex> g(table_.LockOf(k.span));
  table_.TakeLocked(k.span, k.base, &e);
}

TEST_F(ReferentTableTest, ConcurrentAppendsAndTakesDeliverEveryWaiterOnce) {
  // Markers append ephemerons to the lists of 8 keys while others take
  // them (as GreyObject does when a key gets marked): every ephemeron is
  // delivered exactly once over all takes, and the count of operations is
  // exactly appends + deliveries (linear).
  std::vector<ObjectRef> keys;
  for (int i = 0; i < 8; i++) keys.push_back(NewObject());
  constexpr int kAppenders = 4, kPerAppender = 5000;
  std::vector<std::atomic<int>> seen(kAppenders * kPerAppender);
  std::atomic<bool> done{false};
  std::vector<std::thread> ts;
  auto take_all = [&] {
    for (const ObjectRef& k : keys) {
      table_.TakeWaiters(k.span, k.base, [&](uintptr_t e) {
        seen[(e - 0x100000) / 16].fetch_add(1, std::memory_order_relaxed);
      });
    }
  };
  for (int t = 0; t < kAppenders; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPerAppender; i++) {
        const int id = t * kPerAppender + i;
        const ObjectRef& k = keys[id % keys.size()];
        ASSERT_TRUE(
            table_.AddWaiter(k.span, k.base, 0x100000 + id * 16, k.base));
      }
    });
  }
  for (int t = 0; t < 2; t++) {
    ts.emplace_back([&] {
      while (!done.load()) take_all();
    });
  }
  for (int t = 0; t < kAppenders; t++) ts[t].join();
  done = true;
  for (size_t t = kAppenders; t < ts.size(); t++) ts[t].join();
  take_all();
  for (auto& s : seen) EXPECT_EQ(s.load(), 1);
  EXPECT_EQ(table_.wait_ops(), 2u * kAppenders * kPerAppender);
  for (const ObjectRef& k : keys) {
    ReferentTable::Entry e;
    std::lock_guard<std::mutex> g(table_.LockOf(k.span));
    table_.TakeLocked(k.span, k.base, &e);
  }
  table_.Reset();
}

}  // namespace
}  // namespace gcheap
