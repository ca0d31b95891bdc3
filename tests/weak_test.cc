// Tests for gc/weak: the sweep hook (what a sweep clears for freed and
// revived objects: weak handles' cells, weak slots, ephemerons, cleanups)
// and the weak-read rules of each phase, on a bare heap whose marks the
// test sets as the collector would. The last test sweeps while threads read
// weak cells (the locked, seqlock read of gc/weak.h): run it under tsan.
#include "gc/weak.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "heap/mcache.h"
#include "heap/mheap.h"
#include "tests/heap_test_util.h"

namespace gcheap {
namespace {

class WeakProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    heap_.SetSweepHook(&weak_);
    weak_.SetCleanupQueue([this](Cleanup* c) { queued_.push_back(c); });
    c_ = heap_.NewMCache();
  }
  void TearDown() override { heap_.FreeMCache(c_); }

  uintptr_t New(size_t bytes = 32) {
    return reinterpret_cast<uintptr_t>(c_->Alloc(bytes, false));
  }
  ObjectRef Ref(uintptr_t p) {
    ObjectRef r;
    EXPECT_TRUE(heap_.FindObject(p, &r));
    return r;
  }
  void Mark(uintptr_t p) { MarkObject(heap_, c_, reinterpret_cast<void*>(p)); }
  // Marks p revived, as finalization does: revive bit, then mark bit.
  void Revive(uintptr_t p) {
    c_->StartMark(/*allocate_black=*/false);  // p reads as allocated
    ObjectRef r = Ref(p);
    SpanSide::Set(weak_.sides().GetOrCreate(r.span)->revived(), r.index);
    r.span->SetMarked(r.index);
  }
  // Records that the word at slot (in a marked holder) held key, as the
  // marker does when it scans the holder.
  void RecordSlot(uintptr_t* slot, uintptr_t key, uint8_t kind) {
    ObjectRef r = Ref(key);
    ASSERT_TRUE(weak_.referents().AddSlot(
        r.span, r.base, reinterpret_cast<void**>(slot), *slot, kind));
    SpanSide::Set(weak_.sides().GetOrCreate(r.span)->referents(), r.index);
  }
  void RecordWaiter(EphemeronObject* e) {
    ObjectRef r = Ref(e->key);
    ASSERT_TRUE(weak_.referents().AddWaiter(
        r.span, r.base, reinterpret_cast<uintptr_t>(e), e->key));
    SpanSide::Set(weak_.sides().GetOrCreate(r.span)->referents(), r.index);
  }
  // Ends the "cycle": flip, sweep everything (unless lazy), then what
  // sweep termination does.
  void Sweep(bool finish = true) {
    SweepCycle(heap_, {c_}, finish);
    if (finish) weak_.AfterSweepCycle();
  }
  uintptr_t ReadSweep(const uintptr_t* w, WeakWord which, bool is_long) {
    return weak_.Read(w, which, is_long, WeakPhase::kSweep).value;
  }

  MHeap heap_;
  WeakProcessor weak_{&heap_, 0};
  MCache* c_ = nullptr;
  std::vector<Cleanup*> queued_;
};

TEST_F(WeakProcessorTest, HandlesOfFreedObjectsAreClearedOthersKept) {
  const uintptr_t a = New(), b = New();
  WeakCell ca, cb;
  ASSERT_TRUE(weak_.Link(&ca, a, WeakPhase::kSweep));
  ASSERT_TRUE(weak_.Link(&cb, b, WeakPhase::kSweep));
  Mark(b);
  Sweep();
  EXPECT_EQ(ca.Load(), 0u);
  EXPECT_EQ(cb.Load(), b);
  EXPECT_EQ(weak_.counts().cells, 1u);
  EXPECT_EQ(weak_.specials().size(), 1u);  // b's record
  weak_.Unlink(&ca);                       // cleared: nothing to do
  weak_.Unlink(&cb);
  EXPECT_EQ(cb.Load(), 0u);
  EXPECT_EQ(weak_.specials().size(), 0u);
}

TEST_F(WeakProcessorTest, RevivedObjectsLoseShortHandlesKeepLongOnes) {
  const uintptr_t a = New();
  WeakCell shrt, lng;
  lng.kind = kWeakLong;
  ASSERT_TRUE(weak_.Link(&shrt, a, WeakPhase::kSweep));
  ASSERT_TRUE(weak_.Link(&lng, a, WeakPhase::kSweep));
  Revive(a);
  Sweep();
  EXPECT_EQ(shrt.Load(), 0u);
  EXPECT_EQ(lng.Load(), a);
  // The next cycle frees it: the long one goes too.
  Sweep();
  EXPECT_EQ(lng.Load(), 0u);
  EXPECT_EQ(weak_.specials().size(), 0u);
  EXPECT_EQ(weak_.sides().live(), 0u) << "a side record without specials "
                                         "was not retired";
}

TEST_F(WeakProcessorTest, CleanupsAreQueuedWhenTheirObjectIsFreed) {
  const uintptr_t a = New(), b = New();
  auto* ca = new Cleanup;
  auto* cb = new Cleanup;
  for (auto [p, c] : {std::pair{a, ca}, std::pair{b, cb}}) {
    ObjectRef r = Ref(p);
    std::lock_guard<std::mutex> g(weak_.specials().LockOf(r.span));
    ASSERT_TRUE(weak_.specials().AddCleanup(r.span, r.index, r.base, c));
  }
  Revive(a);  // revived: not freed, its cleanup waits
  Mark(b);
  Sweep();
  EXPECT_TRUE(queued_.empty());
  Mark(b);
  Sweep();  // a is freed now
  ASSERT_EQ(queued_.size(), 1u);
  EXPECT_EQ(queued_[0], ca);
  EXPECT_EQ(weak_.counts().cleanups, 1u);
  delete ca;
  ObjectRef r = Ref(b);
  {
    std::lock_guard<std::mutex> g(weak_.specials().LockOf(r.span));
    weak_.specials().RemoveCleanup(r.span, r.index, r.base, cb);
  }
  delete cb;
}

TEST_F(WeakProcessorTest, WeakSlotsAreClearedByCompareAndSwap) {
  const uintptr_t holder = New(64), k1 = New(), k2 = New(), k3 = New();
  auto* slots = reinterpret_cast<uintptr_t*>(holder);
  slots[0] = k1;      // k1 freed: cleared
  slots[1] = k2;      // k2 freed, but the mutator stored k3 since: kept
  slots[2] = k1 | 7;  // a tagged word naming k1: cleared
  RecordSlot(&slots[0], k1, kWeakShort);
  RecordSlot(&slots[1], k2, kWeakLong);
  RecordSlot(&slots[2], k1, kWeakLong);
  slots[1] = k3;
  Mark(holder);
  Mark(k3);
  Sweep();
  EXPECT_EQ(slots[0], 0u);
  EXPECT_EQ(slots[1], k3);
  EXPECT_EQ(slots[2], 0u);
  EXPECT_EQ(weak_.counts().slots, 2u);
  EXPECT_EQ(weak_.referents().size(), 0u);
}

TEST_F(WeakProcessorTest, RevivedTargetsClearShortSlotsOnly) {
  const uintptr_t holder = New(64), k = New();
  auto* slots = reinterpret_cast<uintptr_t*>(holder);
  slots[0] = k;
  slots[1] = k;
  RecordSlot(&slots[0], k, kWeakShort);
  RecordSlot(&slots[1], k, kWeakLong);
  Mark(holder);
  Revive(k);
  Sweep();
  EXPECT_EQ(slots[0], 0u);
  EXPECT_EQ(slots[1], k);
}

// A short reference made after the cycle's clearing point to an object
// that cycle revived (its finalizer ran, or a guardian handed it back, and
// the program holds it again) while its span is still unswept: the old
// short handle is cleared, the new one is kept and reads the object, before
// and after the sweep. (The soak's oracle found it: a handle made to a
// guardian-chain node after the guardian handed back its predecessor read
// NULL.)
TEST_F(WeakProcessorTest,
       HandlesMadeAfterTheClearingPointToARevivedObjectStay) {
  const uintptr_t a = New();
  WeakCell before, lng, late, reset;
  lng.kind = kWeakLong;
  ASSERT_TRUE(weak_.Link(&before, a, WeakPhase::kMark));
  ASSERT_TRUE(weak_.Link(&lng, a, WeakPhase::kMark));
  Revive(a);
  Sweep(/*finish=*/false);  // flipped, a's span not swept yet
  ASSERT_FALSE(heap_.FullySwept());
  ASSERT_TRUE(weak_.Link(&late, a, WeakPhase::kSweep));
  EXPECT_EQ(ReadSweep(&late.target, WeakWord::kHandle, false), a);
  EXPECT_EQ(ReadSweep(&before.target, WeakWord::kHandle, false), 0u);
  EXPECT_EQ(ReadSweep(&lng.target, WeakWord::kHandle, true), a);
  // gc_weak_set's path (unlink, link) on a cell cleared before.
  weak_.Unlink(&before);
  ASSERT_TRUE(weak_.Link(&reset, a, WeakPhase::kSweep));
  heap_.FinishSweep();
  weak_.AfterSweepCycle();
  EXPECT_EQ(late.Load(), a);
  EXPECT_EQ(reset.Load(), a);
  EXPECT_EQ(lng.Load(), a);
  EXPECT_EQ(before.Load(), 0u);
  EXPECT_EQ(weak_.counts().cells, 1u);  // only the one made before
  for (WeakCell* c : {&late, &reset, &lng}) weak_.Unlink(c);
}

// The same for weak slots (gc_weak_store): a slot stored after the
// clearing point keeps the revived object, even a slot that held it when
// the holder was scanned (its record must not clear the new store).
TEST_F(WeakProcessorTest,
       SlotsStoredAfterTheClearingPointToARevivedObjectStay) {
  const uintptr_t holder = New(64), k = New();
  auto* slots = reinterpret_cast<uintptr_t*>(holder);
  slots[0] = k;  // recorded: cleared by the clearing point
  slots[1] = k;  // recorded, then stored again after it
  RecordSlot(&slots[0], k, kWeakShort);
  RecordSlot(&slots[1], k, kWeakShort);
  Mark(holder);
  Revive(k);
  Sweep(/*finish=*/false);
  ASSERT_FALSE(heap_.FullySwept());
  weak_.StoreSlot(&slots[1], k, WeakPhase::kSweep);
  weak_.StoreSlot(&slots[2], k, WeakPhase::kSweep);
  EXPECT_EQ(ReadSweep(&slots[0], WeakWord::kSlot, false), 0u);
  EXPECT_EQ(ReadSweep(&slots[1], WeakWord::kSlot, false), k);
  EXPECT_EQ(ReadSweep(&slots[2], WeakWord::kSlot, false), k);
  heap_.FinishSweep();
  weak_.AfterSweepCycle();
  EXPECT_EQ(slots[0], 0u);
  EXPECT_EQ(slots[1], k);
  EXPECT_EQ(slots[2], k);
}

TEST_F(WeakProcessorTest, EphemeronsWhoseKeyIsFreedAreCleared) {
  const uintptr_t k1 = New(), k2 = New(), v = New();
  auto* e1 = reinterpret_cast<EphemeronObject*>(New(kEphemeronBytes));
  auto* e2 = reinterpret_cast<EphemeronObject*>(New(kEphemeronBytes));
  *e1 = {k1, v, 0};
  *e2 = {k2, v, reinterpret_cast<uintptr_t>(e1)};
  RecordWaiter(e1);
  RecordWaiter(e2);
  Mark(reinterpret_cast<uintptr_t>(e1));
  Mark(reinterpret_cast<uintptr_t>(e2));
  Mark(v);
  Revive(k2);  // revived keys count as marked: e2 stays
  Sweep();
  EXPECT_EQ(e1->key, 0u);
  EXPECT_EQ(e1->value, 0u);
  EXPECT_EQ(e2->key, k2);
  EXPECT_EQ(e2->value, v);
  EXPECT_EQ(e2->next, reinterpret_cast<uintptr_t>(e1));
  EXPECT_EQ(weak_.counts().ephemerons, 1u);
}

TEST_F(WeakProcessorTest, ReadsWhileMarkingShadeAndInTheFinalizerPhaseAgree) {
  const uintptr_t strong = New(), revived = New(), dead = New();
  WeakCell cs, cr, cd;
  ASSERT_TRUE(weak_.Link(&cs, strong, WeakPhase::kSweep));
  ASSERT_TRUE(weak_.Link(&cr, revived, WeakPhase::kSweep));
  ASSERT_TRUE(weak_.Link(&cd, dead, WeakPhase::kSweep));
  WeakRead r =
      weak_.Read(&cd.target, WeakWord::kHandle, false, WeakPhase::kMark);
  EXPECT_EQ(r.value, dead);
  EXPECT_TRUE(r.shade);
  Mark(strong);
  Revive(revived);
  auto fin = [&](WeakCell& c, bool is_long) {
    return weak_.Read(&c.target, WeakWord::kHandle, is_long,
                      WeakPhase::kMarkFinalizers);
  };
  EXPECT_EQ(fin(cs, false).value, strong);
  EXPECT_FALSE(fin(cs, false).shade);
  EXPECT_EQ(fin(cr, false).value, 0u);  // revived: not strongly marked
  EXPECT_EQ(fin(cd, false).value, 0u);  // unmarked
  r = fin(cd, true);                    // long: returned, to be revived
  EXPECT_EQ(r.value, dead);
  EXPECT_TRUE(r.shade);
  Mark(dead);  // (what the shade does)
  Sweep();
  for (WeakCell* c : {&cs, &cr, &cd}) weak_.Unlink(c);
}

TEST_F(WeakProcessorTest, ReadsAfterTheFlipFollowTheMarksOfUnsweptSpans) {
  std::vector<uintptr_t> objs;
  std::vector<WeakCell> cells(600);
  for (size_t i = 0; i < cells.size(); i++) {
    objs.push_back(New());
    cells[i].kind = i % 4 == 3 ? kWeakLong : kWeakShort;
    ASSERT_TRUE(weak_.Link(&cells[i], objs[i], WeakPhase::kSweep));
    if (i % 3 == 0) Mark(objs[i]);
    if (i % 3 == 1) Revive(objs[i]);
  }
  auto expect = [&](size_t i) -> uintptr_t {
    if (i % 3 == 0) return objs[i];
    if (i % 3 == 1 && cells[i].kind == kWeakLong) return objs[i];
    return 0;
  };
  Sweep(/*finish=*/false);  // flipped, nothing swept yet
  ASSERT_FALSE(heap_.FullySwept());
  for (size_t i = 0; i < cells.size(); i++) {
    EXPECT_EQ(ReadSweep(&cells[i].target, WeakWord::kHandle,
                        cells[i].kind == kWeakLong),
              expect(i))
        << i;
  }
  // Sweep some spans: reads of swept and unswept spans agree.
  ASSERT_NE(heap_.SweepOne(), 0u);
  for (size_t i = 0; i < cells.size(); i++) {
    EXPECT_EQ(ReadSweep(&cells[i].target, WeakWord::kHandle,
                        cells[i].kind == kWeakLong),
              expect(i))
        << i;
  }
  heap_.FinishSweep();
  weak_.AfterSweepCycle();
  ASSERT_TRUE(heap_.FullySwept());
  for (size_t i = 0; i < cells.size(); i++) {
    EXPECT_EQ(cells[i].Load(), expect(i)) << i;
    EXPECT_EQ(ReadSweep(&cells[i].target, WeakWord::kHandle,
                        cells[i].kind == kWeakLong),
              expect(i))
        << i;
    weak_.Unlink(&cells[i]);
  }
}

TEST_F(WeakProcessorTest,
       ConcurrentReadsWhileSpansAreSweptNeverSeeADeadObject) {
  // Many cycles; in each, a third of the objects die. Reader threads read
  // every cell while the spans are swept (two sweeping threads), and must
  // get the object for a live one and NULL for a dead or (short) revived
  // one, whatever the state of its span.
  constexpr int kObjects = 3000, kReaders = 3;
  for (int cycle = 0; cycle < 6; cycle++) {
    std::vector<uintptr_t> objs;
    std::vector<WeakCell> cells(kObjects);
    for (int i = 0; i < kObjects; i++) {
      objs.push_back(New(i % 2 ? 32 : 48));
      cells[i].kind = i % 5 == 0 ? kWeakLong : kWeakShort;
      ASSERT_TRUE(weak_.Link(&cells[i], objs[i], WeakPhase::kSweep));
      if (i % 3 == 0) Mark(objs[i]);
      if (i % 3 == 1) Revive(objs[i]);
    }
    auto expect = [&](int i) -> uintptr_t {
      if (i % 3 == 0) return objs[i];
      if (i % 3 == 1 && cells[i].kind == kWeakLong) return objs[i];
      return 0;
    };
    Sweep(/*finish=*/false);
    std::atomic<bool> done{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < kReaders; t++) {
      ts.emplace_back([&, t] {
        do {
          for (int i = t; i < kObjects; i += 2) {
            if (ReadSweep(&cells[i].target, WeakWord::kHandle,
                          cells[i].kind == kWeakLong) != expect(i)) {
              bad.fetch_add(1);
            }
          }
        } while (!done.load());
      });
    }
    std::thread sweeper2([&] { heap_.SweepRemaining(); });
    heap_.SweepRemaining();
    sweeper2.join();
    heap_.FinishSweep();
    done = true;
    for (auto& t : ts) t.join();
    EXPECT_EQ(bad.load(), 0) << "cycle " << cycle;
    weak_.AfterSweepCycle();
    for (int i = 0; i < kObjects; i++) {
      ASSERT_EQ(cells[i].Load(), expect(i));
      weak_.Unlink(&cells[i]);
    }
  }
}

TEST_F(WeakProcessorTest,
       ConcurrentLateHandlesToRevivedObjectsSurviveTheSweep) {
  // While two threads sweep, linker threads make new short handles (and
  // store into weak slots) to the revived objects, as a program does after
  // their finalizers ran; readers read the handles made before the cycle.
  // A new handle or slot must read its object at once and after the sweep;
  // an old short one of a revived object must read NULL, whichever of the
  // sweep and the settling got to the object first.
  constexpr int kObjects = 2000, kLinkers = 2;
  for (int cycle = 0; cycle < 6; cycle++) {
    std::vector<uintptr_t> objs;
    std::vector<WeakCell> old_cells(kObjects), late(kObjects);
    std::vector<uintptr_t> late_slots(kObjects, 0);
    for (int i = 0; i < kObjects; i++) {
      objs.push_back(New(i % 2 ? 32 : 48));
      ASSERT_TRUE(weak_.Link(&old_cells[i], objs[i], WeakPhase::kSweep));
      if (i % 2 == 0) Mark(objs[i]);
      if (i % 2 == 1) Revive(objs[i]);
    }
    auto old_expect = [&](int i) { return i % 2 == 0 ? objs[i] : 0; };
    Sweep(/*finish=*/false);
    std::atomic<bool> done{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < kLinkers; t++) {
      ts.emplace_back([&, t] {
        for (int i = t; i < kObjects; i += kLinkers) {
          if (!weak_.Link(&late[i], objs[i], WeakPhase::kSweep) ||
              ReadSweep(&late[i].target, WeakWord::kHandle, false) != objs[i]) {
            bad.fetch_add(1);
          }
          weak_.StoreSlot(&late_slots[i], objs[i], WeakPhase::kSweep);
          if (ReadSweep(&late_slots[i], WeakWord::kSlot, false) != objs[i]) {
            bad.fetch_add(1);
          }
        }
      });
    }
    std::thread reader([&] {
      do {
        for (int i = 0; i < kObjects; i++) {
          if (ReadSweep(&old_cells[i].target, WeakWord::kHandle, false) !=
              old_expect(i)) {
            bad.fetch_add(1);
          }
        }
      } while (!done.load());
    });
    std::thread sweeper2([&] { heap_.SweepRemaining(); });
    heap_.SweepRemaining();
    sweeper2.join();
    for (auto& t : ts) t.join();
    heap_.FinishSweep();
    done = true;
    reader.join();
    EXPECT_EQ(bad.load(), 0) << "cycle " << cycle;
    weak_.AfterSweepCycle();
    for (int i = 0; i < kObjects; i++) {
      ASSERT_EQ(old_cells[i].Load(), old_expect(i)) << i;
      ASSERT_EQ(late[i].Load(), objs[i]) << i;
      ASSERT_EQ(late_slots[i], objs[i]) << i;
      weak_.Unlink(&old_cells[i]);
      weak_.Unlink(&late[i]);
    }
  }
}

}  // namespace
}  // namespace gcheap
