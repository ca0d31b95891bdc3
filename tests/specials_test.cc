// Tests for gc/specials: the per-span side records (installation,
// specials bits, retirement) and the per-object records (weak cells and
// cleanups linked under their object, the sweep of one object), on a bare
// heap.
#include "gc/specials.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "heap/mcache.h"
#include "heap/mheap.h"
#include "tests/heap_test_util.h"

namespace gcheap {
namespace {

ObjectRef Ref(MHeap& heap, void* p) {
  ObjectRef r;
  EXPECT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(p), &r));
  return r;
}

TEST(SpanSidesTest, InstalledOnceEvenWhenThreadsRace) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  void* p = c->Alloc(32, false);
  ObjectRef r = Ref(heap, p);
  SpanSides sides;
  EXPECT_EQ(SpanSide::Of(r.span), nullptr);
  std::vector<SpanSide*> got(8);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; t++) {
    ts.emplace_back([&, t] { got[t] = sides.GetOrCreate(r.span); });
  }
  for (auto& t : ts) t.join();
  for (SpanSide* g : got) EXPECT_EQ(g, got[0]);
  EXPECT_EQ(SpanSide::Of(r.span), got[0]);
  EXPECT_EQ(got[0]->words, r.span->bitmap_words);
  EXPECT_EQ(sides.live(), 1u);
  sides.RetireIfNoSpecials(r.span);  // no specials: retired
  EXPECT_EQ(SpanSide::Of(r.span), nullptr);
  EXPECT_EQ(sides.live(), 0u);
  EXPECT_EQ(sides.retired(), 1u);
  sides.FreeRetired();
  EXPECT_EQ(sides.retired(), 0u);
  heap.FreeMCache(c);
}

TEST(SpanSidesTest, ARecordWithSpecialsIsNotRetired) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  ObjectRef r = Ref(heap, c->Alloc(48, false));
  SpanSides sides;
  ASSERT_TRUE(sides.SetSpecial(r.span, r.index));
  SpanSide* side = SpanSide::Of(r.span);
  ASSERT_NE(side, nullptr);
  EXPECT_TRUE(SpanSide::Test(side->specials(), r.index));
  sides.RetireIfNoSpecials(r.span);
  EXPECT_EQ(SpanSide::Of(r.span), side);
  sides.ClearSpecial(r.span, r.index);
  EXPECT_FALSE(SpanSide::Test(side->specials(), r.index));
  sides.RetireIfNoSpecials(r.span);
  EXPECT_EQ(SpanSide::Of(r.span), nullptr);
  heap.FreeMCache(c);
}

TEST(SpanSidesTest, BitsOfTheThreeMapsAreIndependent) {
  MHeap heap;
  MCache* c = heap.NewMCache();
  ObjectRef r = Ref(heap, c->Alloc(8, false));  // 1024 slots: 16 words
  SpanSides sides;
  SpanSide* side = sides.GetOrCreate(r.span);
  ASSERT_EQ(side->words, 16u);
  EXPECT_TRUE(SpanSide::Set(side->referents(), 1000));
  EXPECT_FALSE(SpanSide::Set(side->referents(), 1000));
  EXPECT_TRUE(SpanSide::Set(side->revived(), 3));
  EXPECT_FALSE(SpanSide::Test(side->specials(), 1000));
  EXPECT_FALSE(SpanSide::Test(side->specials(), 3));
  EXPECT_TRUE(SpanSide::Test(side->referents(), 1000));
  EXPECT_FALSE(SpanSide::Test(side->revived(), 1000));
  EXPECT_TRUE(SpanSide::Test(side->revived(), 3));
  sides.RetireIfNoSpecials(r.span);
  heap.FreeMCache(c);
}

class SpecialsTableTest : public ::testing::Test {
 protected:
  void SetUp() override { c_ = heap_.NewMCache(); }
  void TearDown() override { heap_.FreeMCache(c_); }
  ObjectRef NewObject() { return Ref(heap_, c_->Alloc(32, false)); }

  MHeap heap_;
  MCache* c_ = nullptr;
  SpanSides sides_;
  SpecialsTable table_{&sides_};
};

TEST_F(SpecialsTableTest, ARecordExistsExactlyWhileTheSpecialsBitIsSet) {
  ObjectRef r = NewObject();
  WeakCell a, b;
  {
    std::lock_guard<std::mutex> g(table_.LockOf(r.span));
    ASSERT_TRUE(table_.LinkCell(r.span, r.index, r.base, &a));
    ASSERT_TRUE(table_.LinkCell(r.span, r.index, r.base, &b));
    SpecialsTable::Record* rec = table_.Find(r.span, r.base);
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(rec->cells, &b);
    EXPECT_EQ(b.next, &a);
    EXPECT_EQ(a.prev, &b);
  }
  EXPECT_TRUE(SpanSide::Test(SpanSide::Of(r.span)->specials(), r.index));
  {
    std::lock_guard<std::mutex> g(table_.LockOf(r.span));
    table_.UnlinkCell(r.span, r.index, r.base, &b);
    EXPECT_NE(table_.Find(r.span, r.base), nullptr);
    EXPECT_TRUE(SpanSide::Test(SpanSide::Of(r.span)->specials(), r.index));
    table_.UnlinkCell(r.span, r.index, r.base, &a);
    EXPECT_EQ(table_.Find(r.span, r.base), nullptr);
  }
  EXPECT_FALSE(SpanSide::Test(SpanSide::Of(r.span)->specials(), r.index));
  EXPECT_EQ(table_.size(), 0u);
  sides_.RetireIfNoSpecials(r.span);
}

TEST_F(SpecialsTableTest, SweepOfAFreedObjectClearsEveryCellAndQueuesCleanups) {
  ObjectRef r = NewObject();
  WeakCell shrt, lng;
  lng.kind = kWeakLong;
  auto* cleanup = new Cleanup;
  {
    std::lock_guard<std::mutex> g(table_.LockOf(r.span));
    ASSERT_TRUE(table_.LinkCell(r.span, r.index, r.base, &shrt));
    ASSERT_TRUE(table_.LinkCell(r.span, r.index, r.base, &lng));
    ASSERT_TRUE(table_.AddCleanup(r.span, r.index, r.base, cleanup));
  }
  shrt.Store(r.base);
  lng.Store(r.base);
  std::vector<Cleanup*> queued;
  size_t cleared;
  {
    std::lock_guard<std::mutex> g(table_.LockOf(r.span));
    cleared = table_.SweepObject(r.span, r.index, r.base, /*revived=*/false,
                                 [&](Cleanup* c) { queued.push_back(c); });
  }
  EXPECT_EQ(cleared, 2u);
  EXPECT_EQ(shrt.Load(), 0u);
  EXPECT_EQ(lng.Load(), 0u);
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0], cleanup);
  EXPECT_EQ(cleanup->state.load(), Cleanup::kQueued);
  EXPECT_EQ(cleanup->obj, r.base);
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_FALSE(SpanSide::Test(SpanSide::Of(r.span)->specials(), r.index));
  delete cleanup;
  sides_.RetireIfNoSpecials(r.span);
}

TEST_F(SpecialsTableTest, SweepOfARevivedObjectClearsOnlyShortCells) {
  ObjectRef r = NewObject();
  WeakCell shrt, lng;
  lng.kind = kWeakLong;
  auto* cleanup = new Cleanup;
  {
    std::lock_guard<std::mutex> g(table_.LockOf(r.span));
    ASSERT_TRUE(table_.LinkCell(r.span, r.index, r.base, &shrt));
    ASSERT_TRUE(table_.LinkCell(r.span, r.index, r.base, &lng));
    ASSERT_TRUE(table_.AddCleanup(r.span, r.index, r.base, cleanup));
  }
  shrt.Store(r.base);
  lng.Store(r.base);
  size_t queued = 0;
  {
    std::lock_guard<std::mutex> g(table_.LockOf(r.span));
    EXPECT_EQ(table_.SweepObject(r.span, r.index, r.base, /*revived=*/true,
                                 [&](Cleanup*) { queued++; }),
              1u);
  }
  EXPECT_EQ(shrt.Load(), 0u);
  EXPECT_EQ(shrt.prev, nullptr);
  EXPECT_EQ(shrt.next, nullptr);
  EXPECT_EQ(lng.Load(), r.base);  // long: until the object is freed
  EXPECT_EQ(queued, 0u);          // cleanups: when it is freed
  {
    std::lock_guard<std::mutex> g(table_.LockOf(r.span));
    SpecialsTable::Record* rec = table_.Find(r.span, r.base);
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(rec->cells, &lng);
    EXPECT_EQ(rec->cleanups, cleanup);
    table_.UnlinkCell(r.span, r.index, r.base, &lng);
    table_.RemoveCleanup(r.span, r.index, r.base, cleanup);
    EXPECT_EQ(table_.Find(r.span, r.base), nullptr);
  }
  delete cleanup;
  sides_.RetireIfNoSpecials(r.span);
}

TEST_F(SpecialsTableTest,
       ConcurrentLinksAndUnlinksOnSharedObjectsStayConsistent) {
  // 8 threads link and unlink their own cells on 16 shared objects: every
  // record ends empty, every specials bit clear. (tsan: the shard lock
  // guards the lists, the span lock the bits.)
  std::vector<ObjectRef> objs;
  for (int i = 0; i < 16; i++) objs.push_back(NewObject());
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; t++) {
    ts.emplace_back([&, t] {
      std::vector<WeakCell> cells(64);
      for (int round = 0; round < 200; round++) {
        for (size_t k = 0; k < cells.size(); k++) {
          const ObjectRef& r = objs[(k + t + round) % objs.size()];
          std::lock_guard<std::mutex> g(table_.LockOf(r.span));
          ASSERT_TRUE(table_.LinkCell(r.span, r.index, r.base, &cells[k]));
          cells[k].Store(r.base);
        }
        for (size_t k = 0; k < cells.size(); k++) {
          ObjectRef r;
          ASSERT_TRUE(heap_.FindObject(cells[k].Load(), &r));
          std::lock_guard<std::mutex> g(table_.LockOf(r.span));
          table_.UnlinkCell(r.span, r.index, r.base, &cells[k]);
          cells[k].Store(0);
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(table_.size(), 0u);
  std::set<MSpan*> spans;
  for (const ObjectRef& r : objs) {
    EXPECT_FALSE(SpanSide::Test(SpanSide::Of(r.span)->specials(), r.index));
    spans.insert(r.span);
  }
  for (MSpan* s : spans) sides_.RetireIfNoSpecials(s);
}

}  // namespace
}  // namespace gcheap
