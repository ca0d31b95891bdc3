// Tests for gc/roots: RootSet's counted slots, ranges (counted by length
// per start, the longest one scanned), scanners (by function and data),
// removal errors, and adding and removing roots from several threads while
// another scans (ForEachRoot holds the set's lock: a scan sees each root
// registered for its whole duration exactly once; run under tsan).
#include "gc/roots.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gcheap {
namespace {

// How often each slot was visited by one ForEachRoot.
std::map<void**, int> Scan(const RootSet& roots) {
  std::map<void**, int> seen;
  roots.ForEachRoot(
      [](void** slot, void* ctx) {
        (*static_cast<std::map<void**, int>*>(ctx))[slot]++;
      },
      &seen);
  return seen;
}

TEST(RootsTest, SlotsAreCountedAndVisitedOnce) {
  RootSet roots;
  void* a = nullptr;
  void* b = nullptr;
  ASSERT_TRUE(roots.AddSlot(&a).ok());
  ASSERT_TRUE(roots.AddSlot(&a).ok());  // counted: twice
  ASSERT_TRUE(roots.AddSlot(&b).ok());
  EXPECT_EQ(roots.slot_count(), 2u);
  EXPECT_EQ(Scan(roots), (std::map<void**, int>{{&a, 1}, {&b, 1}}));
  ASSERT_TRUE(roots.RemoveSlot(&a).ok());
  EXPECT_EQ(Scan(roots), (std::map<void**, int>{{&a, 1}, {&b, 1}}));
  ASSERT_TRUE(roots.RemoveSlot(&a).ok());
  EXPECT_EQ(Scan(roots), (std::map<void**, int>{{&b, 1}}));
  Status st = roots.RemoveSlot(&a);  // once too often
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(std::string(st.message()).find("is not registered"),
            std::string::npos);
  st = roots.AddSlot(nullptr);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(st.message()), "root slot is NULL");
  EXPECT_EQ(roots.RemoveSlot(nullptr).code(), StatusCode::kNotFound);
  ASSERT_TRUE(roots.RemoveSlot(&b).ok());
  EXPECT_EQ(roots.slot_count(), 0u);
  EXPECT_TRUE(Scan(roots).empty());
}

TEST(RootsTest, RangesAreCountedPerLengthAndTheLongestIsScanned) {
  RootSet roots;
  void* table[8] = {};
  ASSERT_TRUE(roots.AddRange(table, 4).ok());
  ASSERT_TRUE(roots.AddRange(table, 8).ok());
  ASSERT_TRUE(roots.AddRange(table, 4).ok());
  std::map<void**, int> want;
  for (int i = 0; i < 8; i++) want[&table[i]] = 1;
  EXPECT_EQ(Scan(roots), want);
  // Removal needs the registered length.
  Status st = roots.RemoveRange(table, 5);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(std::string(st.message()).find("(5 slots) is not registered"),
            std::string::npos);
  EXPECT_EQ(roots.RemoveRange(table + 1, 4).code(), StatusCode::kNotFound);
  ASSERT_TRUE(roots.RemoveRange(table, 8).ok());
  want.clear();
  for (int i = 0; i < 4; i++) want[&table[i]] = 1;
  EXPECT_EQ(Scan(roots), want);  // the two 4-slot registrations remain
  ASSERT_TRUE(roots.RemoveRange(table, 4).ok());
  ASSERT_TRUE(roots.RemoveRange(table, 4).ok());
  EXPECT_TRUE(Scan(roots).empty());
  EXPECT_EQ(roots.RemoveRange(table, 4).code(), StatusCode::kNotFound);
  // Empty ranges are fine (even at NULL); a NULL start with slots, and an
  // absurd length, are not.
  EXPECT_TRUE(roots.AddRange(nullptr, 0).ok());
  EXPECT_TRUE(roots.RemoveRange(nullptr, 0).ok());
  EXPECT_EQ(roots.AddRange(nullptr, 3).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(roots.AddRange(table, RootSet::kMaxRangeSlots).ok());
  ASSERT_TRUE(roots.RemoveRange(table, RootSet::kMaxRangeSlots).ok());
  st = roots.AddRange(table, RootSet::kMaxRangeSlots + 1);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(st.message()).find("absurd"), std::string::npos);
}

struct Stack {
  void* slots[4] = {};
  size_t sp = 0;
};
void ScanStack(VisitFn visit, void* ctx, void* data) {
  auto* s = static_cast<Stack*>(data);
  for (size_t i = 0; i < s->sp; i++) visit(&s->slots[i], ctx);
}
void ScanNothing(VisitFn, void*, void*) {}

TEST(RootsTest, ScannersReportTheirSlotsAndAreRemovedByFunctionAndData) {
  RootSet roots;
  Stack s1, s2;
  s1.sp = 2;
  s2.sp = 3;
  ASSERT_TRUE(roots.AddScanner(&ScanStack, &s1).ok());
  ASSERT_TRUE(roots.AddScanner(&ScanStack, &s2).ok());
  ASSERT_TRUE(roots.AddScanner(&ScanNothing, &s1).ok());
  EXPECT_EQ(Scan(roots), (std::map<void**, int>{{&s1.slots[0], 1},
                                                {&s1.slots[1], 1},
                                                {&s2.slots[0], 1},
                                                {&s2.slots[1], 1},
                                                {&s2.slots[2], 1}}));
  s1.sp = 0;  // a scanner reports what is live at scan time
  EXPECT_EQ(Scan(roots).size(), 3u);
  ASSERT_TRUE(roots.RemoveScanner(&ScanStack, &s2).ok());
  EXPECT_TRUE(Scan(roots).empty());
  Status st = roots.RemoveScanner(&ScanStack, &s2);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(roots.RemoveScanner(&ScanNothing, &s2).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(roots.AddScanner(nullptr, &s1).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(roots.RemoveScanner(&ScanNothing, &s1).ok());
  ASSERT_TRUE(roots.RemoveScanner(&ScanStack, &s1).ok());
}

// Threads (six, on two cores) add and remove slots, ranges and scanners in
// a loop while another thread scans. A set of permanent roots must be seen
// exactly once by every scan; a transient root at most once (a range only
// whole); nothing that was never registered.
TEST(RootsConcurrencyTest, AddAndRemoveWhileScanning) {
  constexpr int kThreads = 6;
  constexpr int kIterations = 3000;
  RootSet roots;
  void* permanent[16] = {};
  ASSERT_TRUE(roots.AddRange(permanent, 16).ok());
  Stack permanent_stack;
  permanent_stack.sp = 4;
  ASSERT_TRUE(roots.AddScanner(&ScanStack, &permanent_stack).ok());
  struct Private {
    void* slot = nullptr;
    void* range[8] = {};
    Stack stack;
  };
  std::vector<Private> priv(kThreads);
  for (auto& p : priv) p.stack.sp = 2;
  std::atomic<int> done{0};
  std::atomic<int> failures{0};
  std::atomic<int> scans{0};

  std::thread scanner([&] {
    while (done.load() < kThreads) {
      std::map<void**, int> seen = Scan(roots);
      scans++;
      for (int i = 0; i < 16; i++) {
        if (seen[&permanent[i]] != 1) failures++;
      }
      for (int i = 0; i < 4; i++) {
        if (seen[&permanent_stack.slots[i]] != 1) failures++;
      }
      for (auto& [slot, n] : seen) {
        if (n != 1) failures++;
      }
      for (auto& p : priv) {
        // A range is registered and scanned whole, or not at all.
        const int first = seen.count(&p.range[0]);
        for (int i = 1; i < 8; i++) {
          if (static_cast<int>(seen.count(&p.range[i])) != first) failures++;
        }
      }
      size_t known = 16 + 4;
      for (auto& p : priv) {
        known += seen.count(&p.slot) + 8 * seen.count(&p.range[0]) +
                 seen.count(&p.stack.slots[0]) + seen.count(&p.stack.slots[1]);
      }
      if (known != seen.size()) failures++;  // a slot nobody registered
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      Private& p = priv[t];
      // Start once the scanner has finished a scan, so the two overlap even
      // when the scanner thread starts late (in CI, under load, all six
      // threads once finished before it ran at all: scans was 0).
      while (scans.load() == 0) std::this_thread::yield();
      for (int i = 0; i < kIterations; i++) {
        switch (i % 3) {
          case 0:
            if (!roots.AddSlot(&p.slot).ok()) failures++;
            if (!roots.RemoveSlot(&p.slot).ok()) failures++;
            break;
          case 1:
            if (!roots.AddRange(p.range, 8).ok()) failures++;
            if (!roots.RemoveRange(p.range, 8).ok()) failures++;
            break;
          default:
            if (!roots.AddScanner(&ScanStack, &p.stack).ok()) failures++;
            if (!roots.RemoveScanner(&ScanStack, &p.stack).ok()) failures++;
            break;
        }
      }
      done++;
    });
  }
  for (auto& th : threads) th.join();
  scanner.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(scans.load(), 0);
  EXPECT_EQ(roots.slot_count(), 0u);
  EXPECT_EQ(Scan(roots).size(), 16u + 4u);
}

}  // namespace
}  // namespace gcheap
