// Unit tests of the marker (gc/mark.h) on a real heap, without a collector:
// what a value greys (junk, free slots, interior and tagged pointers), what
// scanning visits (pointer bitmaps, repeated tails, trace callbacks,
// oblets of large objects), the drain's budget, and the last-span
// shortcut. Objects come from an mcache, as the mutators' do; their spans
// are cached (swept for this cycle), where marking is legal, and synced
// after each allocation (MCache::StartMark, as when a mark begins), so the
// marker sees them allocated.
#include "gc/mark.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "gc/gcwork.h"
#include "gc/typeinfo.h"
#include "gtest/gtest.h"
#include "heap/mcache.h"
#include "heap/mheap.h"

namespace gcheap {
namespace {

constexpr uintptr_t kTagMask = 0x3;  // two low tag bits, as a VM might use

class MarkTest : public ::testing::Test {
 protected:
  ~MarkTest() override { heap_.FreeMCache(cache_); }

  uint16_t Register(const char* name, size_t size, const uint64_t* ptrmap,
                    size_t elem_size = 0, const uint64_t* elem_ptrmap = nullptr,
                    TraceFn trace = nullptr) {
    TypeSpec spec;
    spec.name = name;
    spec.size = size;
    spec.ptrmap = ptrmap;
    spec.ptrmap_words = ptrmap != nullptr ? 1 : 0;  // layouts of <= 64 words
    spec.elem_size = elem_size;
    spec.elem_ptrmap = elem_ptrmap;
    spec.elem_ptrmap_words = elem_ptrmap != nullptr ? 1 : 0;
    spec.trace = trace;
    StatusOr<uint16_t> id = types_.Register(spec);
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? *id : 0;
  }
  // A zeroed scan object of `bytes` bytes of type t.
  void** New(uint16_t t, size_t bytes) {
    auto* p = static_cast<void**>(cache_->AllocTyped(bytes, t));
    EXPECT_NE(p, nullptr);
    cache_->StartMark(/*allocate_black=*/false);
    return p;
  }
  void* NewNoscan(size_t bytes) {
    void* p = cache_->Alloc(bytes, true);
    cache_->StartMark(/*allocate_black=*/false);
    return p;
  }
  bool Marked(const void* p) {
    ObjectRef r;
    if (!heap_.FindObject(reinterpret_cast<uintptr_t>(p), &r)) return false;
    return r.span->IsMarked(r.index);
  }
  static uintptr_t U(const void* p) { return reinterpret_cast<uintptr_t>(p); }
  size_t Queued(Marker::Worker* w) {
    size_t n = 0;
    uintptr_t item;
    std::vector<uintptr_t> items;
    while (w->gcw.TryGet(&item)) items.push_back(item);
    for (uintptr_t i : items) w->gcw.Put(i);
    n = items.size();
    return n;
  }

  MHeap heap_;
  TypeTable types_;
  MCache* cache_ = heap_.NewMCache();
  WorkPool pool_;
  Marker marker_{&heap_, &types_, kTagMask};
};

const uint64_t kFirstWord = 0b1;  // one pointer, in word 0
const uint64_t kTwoWords = 0b11;  // pointers in words 0 and 1

TEST_F(MarkTest, JunkAndFreeSlotsGreyNothing) {
  const uint16_t t = Register("Pair", 16, &kTwoWords);
  void** a = New(t, 16);
  int on_stack = 0;
  Marker::Worker w(&marker_, &pool_);
  for (uintptr_t v :
       {uintptr_t{0}, uintptr_t{8}, uintptr_t{4095}, U(&on_stack), U(&w),
        ~uintptr_t{0} - 7, U(a) + 16 /* the next slot: never allocated */}) {
    marker_.MarkValue(&w, v);
  }
  EXPECT_EQ(w.marked_objects, 0u);
  EXPECT_EQ(Queued(&w), 0u);
  EXPECT_FALSE(Marked(a));
}

TEST_F(MarkTest, InteriorAndTaggedPointersGreyTheirObjectOnce) {
  const uint16_t t = Register("Quad", 32, &kTwoWords);
  void** a = New(t, 32);
  Marker::Worker w(&marker_, &pool_);
  marker_.MarkValue(&w, U(a) + 24 + 1);  // interior, tag 1
  EXPECT_TRUE(Marked(a));
  EXPECT_EQ(w.marked_objects, 1u);
  EXPECT_EQ(w.marked_bytes, 32u);
  marker_.MarkValue(&w, U(a));  // already grey
  marker_.MarkValue(&w, U(a) + 2);
  EXPECT_EQ(w.marked_objects, 1u);
  uintptr_t item;
  ASSERT_TRUE(w.gcw.TryGet(&item));
  EXPECT_EQ(item, U(a)) << "the object's base is queued";
  EXPECT_FALSE(w.gcw.TryGet(&item));
}

TEST_F(MarkTest, NoscanObjectsAreMarkedButNeverQueued) {
  void* p = NewNoscan(64);
  Marker::Worker w(&marker_, &pool_);
  marker_.MarkValue(&w, U(p));
  EXPECT_TRUE(Marked(p));
  EXPECT_EQ(w.marked_objects, 1u);
  EXPECT_EQ(Queued(&w), 0u);
}

// Only the words the bitmap names are followed: a pointer-looking value in
// a non-pointer word keeps nothing alive.
TEST_F(MarkTest, DrainFollowsThePointerBitmap) {
  const uint16_t t = Register("Node", 24, &kFirstWord);  // word 1, 2: data
  void** a = New(t, 24);
  void** b = New(t, 24);
  void** c = New(t, 24);
  void** d = New(t, 24);
  a[0] = b;
  b[0] = c;
  a[1] = d;  // not a pointer word
  Marker::Worker w(&marker_, &pool_);
  marker_.MarkValue(&w, U(a));
  marker_.Drain(&w);
  EXPECT_TRUE(Marked(a) && Marked(b) && Marked(c));
  EXPECT_FALSE(Marked(d));
  EXPECT_EQ(w.marked_objects, 3u);
  EXPECT_EQ(w.scanned_bytes, 3u * 24);  // 24 bytes is a size class
}

// A repeated tail (elem_ptrmap) is scanned up to the end of the slot.
TEST_F(MarkTest, RepeatedTailIsScannedToTheEndOfTheSlot) {
  const uint64_t kNone = 0;
  const uint16_t arr = Register("Array", 8, &kNone, 8, &kFirstWord);
  const uint16_t leaf = Register("Leaf", 8, &kNone);
  void** a = New(arr, 8 + 5 * 8);  // 48-byte slot: count + 5 elements
  std::vector<void**> leaves;
  for (int i = 0; i < 5; i++) {
    leaves.push_back(New(leaf, 8));
    a[1 + i] = leaves.back();
  }
  Marker::Worker w(&marker_, &pool_);
  marker_.MarkValue(&w, U(a));
  marker_.Drain(&w);
  for (void** l : leaves) EXPECT_TRUE(Marked(l));
}

struct TraceCalls {
  static int calls;
  static void Trace(void* obj, VisitFn visit, void* ctx) {
    calls++;
    auto** slots = static_cast<void**>(obj);
    visit(&slots[2], ctx);  // only the third word holds a pointer
  }
};
int TraceCalls::calls = 0;

TEST_F(MarkTest, TraceCallbacksReportTheirSlots) {
  TraceCalls::calls = 0;
  const uint16_t traced =
      Register("Traced", 32, nullptr, 0, nullptr, &TraceCalls::Trace);
  const uint64_t kNone = 0;
  const uint16_t leaf = Register("Leaf", 8, &kNone);
  void** o = New(traced, 32);
  void** x = New(leaf, 8);
  void** y = New(leaf, 8);
  o[0] = x;  // not reported by the callback
  o[2] = y;
  Marker::Worker w(&marker_, &pool_);
  marker_.MarkValue(&w, U(o));
  marker_.Drain(&w);
  EXPECT_EQ(TraceCalls::calls, 1);
  EXPECT_TRUE(Marked(y));
  EXPECT_FALSE(Marked(x));
}

// A large object is scanned in kObletBytes pieces: the first visit queues
// the others, each piece is scanned once, and pointers in the last piece
// are found.
TEST_F(MarkTest, LargeObjectsAreScannedInOblets) {
  const uint64_t kNone = 0;
  const uint16_t arr = Register("Big", 8, &kNone, 8, &kFirstWord);
  const uint16_t leaf = Register("Leaf", 8, &kNone);
  const size_t bytes = 3 * kObletBytes + kObletBytes / 2;
  void** big = New(arr, bytes);
  void** last = New(leaf, 8);
  big[bytes / 8 - 1] = last;  // in the fourth piece
  Marker::Worker w(&marker_, &pool_);
  marker_.MarkValue(&w, U(big));
  uintptr_t item;
  ASSERT_TRUE(w.gcw.TryGet(&item));
  marker_.ScanItem(&w, item);
  // The other three pieces are queued, nothing else (no pointer yet).
  std::vector<uintptr_t> pieces;
  while (w.gcw.TryGet(&item)) pieces.push_back(item);
  std::sort(pieces.begin(), pieces.end());
  ASSERT_EQ(pieces.size(), 3u);
  for (size_t k = 0; k < 3; k++) {
    EXPECT_EQ(pieces[k], U(big) + (k + 1) * kObletBytes);
  }
  EXPECT_EQ(w.scanned_bytes, kObletBytes);
  for (uintptr_t p : pieces) w.gcw.Put(p);
  marker_.Drain(&w);
  EXPECT_TRUE(Marked(last));
  // Every byte of the large object scanned exactly once, and the leaf.
  EXPECT_EQ(w.scanned_bytes, bytes + 8);
}

// A large object whose pointers all lie in a fixed part of at most 64
// words (TypeInfo::simple_ptrmask) is scanned in one visit: nothing past
// the fixed part can hold a pointer, so no oblet is queued, and the
// pointers of the fixed part are found.
TEST_F(MarkTest, LargeObjectWithASmallFixedMapIsScannedInOneVisit) {
  const uint64_t kWords0And3 = 0b1001;
  const uint16_t big_t = Register("BigHeader", 32, &kWords0And3);
  const uint64_t kNone = 0;
  const uint16_t leaf = Register("Leaf", 8, &kNone);
  const size_t bytes = 2 * kObletBytes + 64;
  void** big = New(big_t, bytes);
  void** a = New(leaf, 8);
  void** b = New(leaf, 8);
  void** c = New(leaf, 8);
  big[0] = a;
  big[3] = b;
  big[bytes / 8 - 1] = c;  // past the fixed part: not a pointer word
  Marker::Worker w(&marker_, &pool_);
  marker_.MarkValue(&w, U(big));
  uintptr_t item;
  ASSERT_TRUE(w.gcw.TryGet(&item));
  EXPECT_EQ(item, U(big));
  marker_.ScanItem(&w, item);
  EXPECT_GE(w.scanned_bytes, bytes);  // the whole object (its pages)
  // Queued: the two leaves, no oblet.
  std::vector<uintptr_t> queued;
  while (w.gcw.TryGet(&item)) queued.push_back(item);
  std::sort(queued.begin(), queued.end());
  std::vector<uintptr_t> leaves = {U(a), U(b)};
  std::sort(leaves.begin(), leaves.end());
  EXPECT_EQ(queued, leaves);
  for (uintptr_t p : queued) w.gcw.Put(p);
  marker_.Drain(&w);
  EXPECT_TRUE(Marked(a) && Marked(b));
  EXPECT_FALSE(Marked(c));
  EXPECT_EQ(w.marked_objects, 3u);
}

// Exclusive mode (one stop-the-world worker: plain mark-bit stores,
// MSpan::SetMarkedAlone) marks exactly the objects reachable from the
// root, each once, on a random graph whose objects share mark-bit words.
TEST_F(MarkTest, ExclusiveModeMarksExactlyTheReachableObjects) {
  const uint16_t t = Register("Pair", 16, &kTwoWords);
  constexpr int kN = 3000;
  std::vector<void**> objs;
  for (int i = 0; i < kN; i++) objs.push_back(New(t, 16));
  std::mt19937 rng(14);
  std::vector<std::vector<int>> edges(kN);
  for (int i = 0; i < kN; i++) {
    for (int k = 0; k < 2; k++) {
      if (rng() % 4 == 0) continue;  // a NULL slot
      const int j = static_cast<int>(rng() % kN);
      objs[i][k] = objs[j];
      edges[i].push_back(j);
    }
  }
  std::vector<bool> reach(kN, false);
  std::vector<int> stack = {0};
  reach[0] = true;
  size_t nreach = 1;
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    for (int j : edges[i]) {
      if (!reach[j]) {
        reach[j] = true;
        nreach++;
        stack.push_back(j);
      }
    }
  }
  marker_.SetExclusive(true);
  Marker::Worker w(&marker_, &pool_);
  marker_.MarkValue(&w, U(objs[0]));
  marker_.Drain(&w);
  marker_.SetExclusive(false);
  EXPECT_EQ(w.marked_objects, nreach);
  for (int i = 0; i < kN; i++) EXPECT_EQ(Marked(objs[i]), reach[i]) << i;
}

// DrainSome scans at most `budget` objects and puts back what it had
// prefetched: nothing is lost.
TEST_F(MarkTest, DrainSomeStopsAtItsBudgetAndLosesNothing) {
  const uint64_t kNone = 0;
  const uint16_t t = Register("Leaf", 8, &kNone);
  Marker::Worker w(&marker_, &pool_);
  for (int i = 0; i < 20; i++) marker_.MarkValue(&w, U(New(t, 8)));
  EXPECT_TRUE(marker_.DrainSome(&w, 5));
  EXPECT_EQ(w.scanned_bytes, 5u * 8);
  EXPECT_EQ(Queued(&w), 15u);
  EXPECT_FALSE(marker_.DrainSome(&w, 100));  // ran out first
  EXPECT_EQ(w.scanned_bytes, 20u * 8);
}

// DrainSome with a scan limit (an assist paying a debt) stops at the first
// object that brings scanned_bytes to the limit, and what it had taken
// and not scanned goes back to the worker's buffers.
TEST_F(MarkTest, DrainSomeStopsAtItsScanLimitAndLosesNothing) {
  const uint64_t kNone = 0;
  const uint16_t t = Register("Leaf", 8, &kNone);
  Marker::Worker w(&marker_, &pool_);
  for (int i = 0; i < 100; i++) marker_.MarkValue(&w, U(New(t, 8)));
  EXPECT_TRUE(marker_.DrainSome(&w, 1000, /*scan_limit=*/8 * 7 + 1));
  EXPECT_EQ(w.scanned_bytes, 8u * 8) << "stops after the 8th object";
  EXPECT_EQ(Queued(&w), 92u);
  EXPECT_FALSE(marker_.DrainSome(&w, 1000, 8 * 1000));  // ran out first
  EXPECT_EQ(w.scanned_bytes, 100u * 8);
}

// The worker's last-span shortcut resolves addresses as the arena index
// does, inside the last span and outside it.
TEST_F(MarkTest, LastSpanShortcutAgreesWithTheArenaIndex) {
  const uint16_t t = Register("Pair", 16, &kTwoWords);
  std::vector<void**> objs;
  for (int i = 0; i < 2000; i++) objs.push_back(New(t, 16));  // several spans
  void* large = NewNoscan(100 << 10);
  Marker::Worker w(&marker_, &pool_);
  for (int round = 0; round < 2; round++) {
    for (size_t i = 0; i < objs.size(); i += 7) {
      for (uintptr_t p : {U(objs[i]), U(objs[i]) + 9, U(large) + i}) {
        ObjectRef want, got;
        ASSERT_TRUE(heap_.FindObject(p, &want));
        ASSERT_TRUE(marker_.FindObject(&w, p, &got));
        EXPECT_EQ(got.span, want.span);
        EXPECT_EQ(got.base, want.base);
        EXPECT_EQ(got.index, want.index);
      }
    }
  }
}

// Weak slots are not traced: a target that is not marked is recorded in
// the referent table (with its referent bit) for the sweep; a marked one is
// not.
TEST(MarkWeakTest, WeakSlotsRecordUnmarkedTargetsAndTraceNothing) {
  MHeap heap;
  TypeTable types;
  WeakProcessor weak(&heap, 0);
  Marker marker(&heap, &types, 0, &weak);
  MCache* cache = heap.NewMCache();
  const uint64_t weakmap = 0b11;
  TypeSpec s;
  s.name = "TwoWeak";
  s.size = 16;
  s.weakmap = &weakmap;
  s.weakmap_words = 1;
  const uint16_t t = *types.Register(s);
  auto** holder = static_cast<void**>(cache->AllocTyped(16, t));
  void* unmarked = cache->Alloc(32, true);
  void* marked = cache->Alloc(32, true);
  holder[0] = unmarked;
  holder[1] = marked;
  // Sync the cached spans, as a mark's start does: the new objects read as
  // allocated (heap/mcache.h).
  cache->StartMark(/*allocate_black=*/false);
  ObjectRef ru, rm;
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(unmarked), &ru));
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(marked), &rm));
  rm.span->SetMarked(rm.index);
  WorkPool pool;
  {
    Marker::Worker w(&marker, &pool);
    marker.MarkValue(&w, reinterpret_cast<uintptr_t>(holder));
    marker.Drain(&w);
  }
  EXPECT_FALSE(ru.span->IsMarked(ru.index)) << "a weak slot was traced";
  SpanSide* side = SpanSide::Of(ru.span);
  ASSERT_NE(side, nullptr);
  EXPECT_TRUE(SpanSide::Test(side->referents(), ru.index));
  EXPECT_FALSE(SpanSide::Test(side->referents(), rm.index));
  EXPECT_EQ(weak.referents().size(), 1u);
  // The sweep clears the slot of the freed target and drops the record.
  heap.SetSweepHook(&weak);
  ObjectRef rh;
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(holder), &rh));
  EXPECT_TRUE(rh.span->IsMarked(rh.index));
  heap.FinishSweep();
  cache->ReleaseAll();
  heap.StartSweepCycle();
  heap.FinishSweep();
  weak.AfterSweepCycle();
  EXPECT_EQ(holder[0], nullptr);
  EXPECT_EQ(holder[1], marked);
  heap.FreeMCache(cache);
}

// The ephemeron Dekker pair: one thread greys keys while another scans
// the ephemerons that wait for them, in random orders. Whichever comes
// second must trace the value: every value ends marked, and each ephemeron
// is appended and taken at most once. (Run under tsan.)
void RaceKeysAgainstEphemerons(uint32_t seed) {
  MHeap heap;
  TypeTable types;
  WeakProcessor weak(&heap, 0);
  Marker marker(&heap, &types, 0, &weak);
  MCache* cache = heap.NewMCache();
  const uint64_t next_bit = 0b100;
  TypeSpec s;
  s.name = "eph";
  s.size = kEphemeronBytes;
  s.ptrmap = &next_bit;
  s.ptrmap_words = 1;
  s.ephemeron = true;
  const uint16_t t = *types.Register(s);
  constexpr int kN = 20000;
  std::vector<uintptr_t> keys, values, ephs;
  for (int i = 0; i < kN; i++) {
    keys.push_back(reinterpret_cast<uintptr_t>(cache->Alloc(32, true)));
    values.push_back(reinterpret_cast<uintptr_t>(cache->Alloc(48, true)));
    auto* e =
        static_cast<EphemeronObject*>(cache->AllocTyped(kEphemeronBytes, t));
    e->key = keys.back();
    e->value = values.back();
    ephs.push_back(reinterpret_cast<uintptr_t>(e));
  }
  cache->StartMark(/*allocate_black=*/false);  // the objects read allocated
  std::mt19937 rng(seed);
  std::vector<uintptr_t> k_order = keys, e_order = ephs;
  std::shuffle(k_order.begin(), k_order.end(), rng);
  std::shuffle(e_order.begin(), e_order.end(), rng);
  WorkPool pool;
  auto mark_all = [&](const std::vector<uintptr_t>& order) {
    Marker::Worker w(&marker, &pool);
    for (uintptr_t p : order) {
      marker.MarkValue(&w, p);
      marker.DrainSome(&w, 4);
    }
    marker.Drain(&w);
  };
  std::thread a([&] { mark_all(k_order); });
  std::thread b([&] { mark_all(e_order); });
  a.join();
  b.join();
  {
    Marker::Worker w(&marker, &pool);
    marker.Drain(&w);
  }
  auto marked = [&](uintptr_t p) {
    ObjectRef r;
    EXPECT_TRUE(heap.FindObject(p, &r));
    return r.span->IsMarked(r.index);
  };
  int lost = 0;
  for (int i = 0; i < kN; i++) lost += !marked(values[i]);
  EXPECT_EQ(lost, 0) << "values whose key and ephemeron are marked (round "
                     << seed << ")";
  EXPECT_LE(weak.referents().wait_ops(), 2u * kN);
  // Sweep so the records are consumed.
  heap.SetSweepHook(&weak);
  heap.FinishSweep();
  cache->ReleaseAll();
  heap.StartSweepCycle();
  heap.FinishSweep();
  weak.AfterSweepCycle();
  heap.FreeMCache(cache);
}
TEST(MarkEphemeronTest, KeysMarkedWhileTheirEphemeronsAreScannedLoseNoValue) {
  // Many rounds: the window the pair closes is a few instructions wide.
  for (uint32_t round = 0; round < 30 && !HasFailure(); round++) {
    RaceKeysAgainstEphemerons(round);
  }
}

}  // namespace
}  // namespace gcheap
