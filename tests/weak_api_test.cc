// Tests for weak handles through the C API (runtime/weak_api.cc):
// clearing when the object dies, short and long, retargeting, interior
// pointers and tiny objects, errors and misuse, a read during concurrent
// marking keeping its object, and a multi-threaded stress test of reads
// while cycles mark and sweep (verify on; run under tsan). The suite runs
// in the default concurrent mode and again as weak_api_test_stw (GC_STW=1);
// the tests that hold a mark phase open build a concurrent heap themselves.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "tests/gc_test_util.h"
#include "tools/mark_window.h"

namespace gcheap {
namespace {

class WeakApiTest : public GcTest {
 protected:
  void* root_ = nullptr;
  void SetUp() override {
    GcTest::SetUp();
    ASSERT_EQ(gc_add_root(heap_, &root_), 0);
  }
  void TearDown() override {
    if (heap_ != nullptr) gc_remove_root(heap_, &root_);
    GcTest::TearDown();
  }
};

TEST_F(WeakApiTest, HandlesAreClearedWhenTheObjectDies) {
  Cell* a = NewCell(nullptr, nullptr, 1);
  root_ = a;
  gc_weak* s = gc_weak_create(m_, a, GC_WEAK_SHORT);
  gc_weak* l = gc_weak_create(m_, a, GC_WEAK_LONG);
  ASSERT_NE(s, nullptr) << gc_last_error();
  ASSERT_NE(l, nullptr) << gc_last_error();
  gc_collect(m_);
  EXPECT_EQ(gc_weak_get(m_, s), a);
  EXPECT_EQ(gc_weak_get(m_, l), a);
  root_ = nullptr;
  gc_collect(m_);
  EXPECT_EQ(gc_weak_get(m_, s), nullptr);
  EXPECT_EQ(gc_weak_get(m_, l), nullptr);
  EXPECT_EQ(Stats().live_objects, 0u);
  gc_weak_destroy(m_, s);
  gc_weak_destroy(m_, l);
}

TEST_F(WeakApiTest, AWeakHandleDoesNotKeepItsObject) {
  std::vector<gc_weak*> ws;
  for (int i = 0; i < 1000; i++) {
    ws.push_back(gc_weak_create(m_, NewCell(nullptr, nullptr, i), i % 2));
  }
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 0u);
  for (gc_weak* w : ws) {
    EXPECT_EQ(gc_weak_get(m_, w), nullptr);
    gc_weak_destroy(m_, w);
  }
}

TEST_F(WeakApiTest, LiveObjectsKeepTheirHandlesOverManyCycles) {
  // A list of 200 cells, each named by a handle; the list stays rooted
  // while garbage comes and goes.
  Cell* head = nullptr;
  std::vector<std::pair<gc_weak*, Cell*>> ws;
  for (int i = 0; i < 200; i++) {
    head = NewCell(nullptr, head, i);
    root_ = head;
    ws.push_back({gc_weak_create(m_, head, i % 2), head});
  }
  for (int cycle = 0; cycle < 5; cycle++) {
    for (int i = 0; i < 20000; i++) NewCell(nullptr, nullptr, -i);
    gc_collect(m_);
    for (auto& [w, c] : ws) ASSERT_EQ(gc_weak_get(m_, w), c);
  }
  for (auto& [w, c] : ws) gc_weak_destroy(m_, w);
}

TEST_F(WeakApiTest, NullHandlesAndRetargeting) {
  gc_weak* w = gc_weak_create(m_, nullptr, GC_WEAK_SHORT);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(gc_weak_get(m_, w), nullptr);
  Cell* a = NewCell(nullptr, nullptr, 1);
  root_ = a;
  gc_weak_set(m_, w, a);
  EXPECT_EQ(gc_weak_get(m_, w), a);
  Cell* b = NewCell(nullptr, nullptr, 2);  // garbage, but named now
  gc_weak_set(m_, w, b);
  EXPECT_EQ(gc_weak_get(m_, w), b);
  gc_collect(m_);
  EXPECT_EQ(gc_weak_get(m_, w), nullptr);  // b died
  gc_weak_set(m_, w, a);
  gc_collect(m_);
  EXPECT_EQ(gc_weak_get(m_, w), a);
  gc_weak_set(m_, w, nullptr);
  EXPECT_EQ(gc_weak_get(m_, w), nullptr);
  gc_weak_destroy(m_, w);
  gc_weak_destroy(m_, nullptr);  // nothing
}

TEST_F(WeakApiTest, InteriorPointersNameTheirObjectAndReadBackAsGiven) {
  Cell* a = NewCell(nullptr, nullptr, 1);
  root_ = a;
  void* interior = &a->value;
  gc_weak* w = gc_weak_create(m_, interior, GC_WEAK_SHORT);
  ASSERT_NE(w, nullptr) << gc_last_error();
  gc_collect(m_);
  EXPECT_EQ(gc_weak_get(m_, w), interior);
  root_ = nullptr;
  gc_collect(m_);
  EXPECT_EQ(gc_weak_get(m_, w), nullptr);
  gc_weak_destroy(m_, w);
}

TEST_F(WeakApiTest, TinyObjectsLiveAsLongAsTheirBlock) {
  // Two 8-byte pointer-free objects share one 16-byte block: a handle to
  // one reads back while the other keeps the block; both go together.
  void* x = gc_alloc_noscan(m_, 8);
  void* y = gc_alloc_noscan(m_, 8);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(y) - reinterpret_cast<uintptr_t>(x),
            8u);
  gc_weak* w = gc_weak_create(m_, x, GC_WEAK_SHORT);
  root_ = y;
  gc_collect(m_);
  EXPECT_EQ(gc_weak_get(m_, w), x);
  root_ = nullptr;
  gc_collect(m_);
  EXPECT_EQ(gc_weak_get(m_, w), nullptr);
  gc_weak_destroy(m_, w);
}

TEST_F(WeakApiTest, BadArgumentsAreReported) {
  EXPECT_EQ(gc_weak_create(m_, nullptr, 2), nullptr);
  EXPECT_NE(std::string(gc_last_error()).find("GC_WEAK_SHORT or GC_WEAK_LONG"),
            std::string::npos);
  int64_t not_heap = 0;
  EXPECT_EQ(gc_weak_create(m_, &not_heap, GC_WEAK_SHORT), nullptr);
  EXPECT_NE(std::string(gc_last_error()).find("not an object of this heap"),
            std::string::npos)
      << gc_last_error();
  gc_weak* w = gc_weak_create(m_, nullptr, GC_WEAK_LONG);
  EXPECT_DEATH(gc_weak_set(m_, w, &not_heap), "gc_weak_set");
  gc_weak_destroy(m_, w);
}

TEST_F(WeakApiTest, AHandleOfAnotherHeapIsMisuse) {
  // The second heap is made in the death test's child: a fork with two
  // heaps alive trips tsan's lock-order check in the fork handlers.
  EXPECT_DEATH(
      {
        gc_heap* other = NewConcurrentHeap();
        gc_mutator* om = gc_thread_attach(other);
        gc_weak* w = gc_weak_create(om, nullptr, GC_WEAK_SHORT);
        gc_weak_get(m_, w);
      },
      "belongs to another heap");
}

// A holder of two weak slots and a strong one: {weak, strong, weak, value}.
struct Holder {
  void* weak0;
  void* strong;
  void* weak2;
  int64_t value;
};

gc_type_id RegisterHolder(gc_heap* h, int weak_kind) {
  static const uint64_t ptrs = 0b0010, weak = 0b0101;
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.name = weak_kind == GC_WEAK_LONG ? "LongHolder" : "Holder";
  d.size = sizeof(Holder);
  d.ptr_bitmap = &ptrs;
  d.ptr_bitmap_words = 1;
  d.weak_bitmap = &weak;
  d.weak_bitmap_words = 1;
  d.weak_kind = weak_kind;
  return gc_register_type(h, &d);
}

TEST_F(WeakApiTest, WeakSlotsAreClearedInPlaceWhenTheirObjectDies) {
  for (int kind : {GC_WEAK_SHORT, GC_WEAK_LONG}) {
    gc_type_id holder_t = RegisterHolder(heap_, kind);
    ASSERT_NE(holder_t, 0u) << gc_last_error();
    auto* h = static_cast<Holder*>(gc_alloc(m_, holder_t, sizeof(Holder)));
    root_ = h;
    Cell* kept = NewCell(nullptr, nullptr, 1);
    gc_write_barrier(m_, h, &h->strong, kept);
    Cell* dies = NewCell(nullptr, nullptr, 2);
    gc_weak_store(m_, h, &h->weak0, dies);
    gc_weak_store(m_, h, &h->weak2, kept);
    EXPECT_EQ(gc_weak_load(m_, h, &h->weak0), dies);
    gc_collect(m_);
    EXPECT_EQ(gc_weak_load(m_, h, &h->weak0), nullptr);
    EXPECT_EQ(h->weak0, nullptr) << "cleared in place";
    EXPECT_EQ(gc_weak_load(m_, h, &h->weak2), kept);
    EXPECT_EQ(Stats().live_objects, 2u) << "a weak slot kept its object";
    // A non-pointer word is returned as it is and never cleared.
    gc_weak_store(m_, h, &h->weak0, reinterpret_cast<void*>(uintptr_t{42}));
    gc_collect(m_);
    EXPECT_EQ(gc_weak_load(m_, h, &h->weak0),
              reinterpret_cast<void*>(uintptr_t{42}));
    // The strong slot's object goes, and the weak slot follows.
    gc_write_barrier(m_, h, &h->strong, nullptr);
    gc_collect(m_);
    EXPECT_EQ(gc_weak_load(m_, h, &h->weak2), nullptr);
    root_ = nullptr;
  }
}

TEST_F(WeakApiTest, TypesWithBadWeakSlotsAreRejected) {
  uint64_t ptrs = 0b01, weak = 0b11, words = 1;
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.name = "Overlap";
  d.size = 16;
  d.ptr_bitmap = &ptrs;
  d.ptr_bitmap_words = words;
  d.weak_bitmap = &weak;
  d.weak_bitmap_words = words;
  EXPECT_EQ(gc_register_type(heap_, &d), 0u);
  EXPECT_NE(std::string(gc_last_error()).find("both a pointer slot and a weak"),
            std::string::npos)
      << gc_last_error();
  weak = 0b10;
  d.weak_kind = 7;
  EXPECT_EQ(gc_register_type(heap_, &d), 0u);
  EXPECT_NE(std::string(gc_last_error()).find("weak_kind"), std::string::npos);
  d.weak_kind = GC_WEAK_LONG;
  weak = 0b100;  // word 2 of a 16-byte fixed part
  EXPECT_EQ(gc_register_type(heap_, &d), 0u);
  EXPECT_NE(std::string(gc_last_error()).find("weak_bitmap bit 2"),
            std::string::npos)
      << gc_last_error();
  weak = 0b10;
  d.trace = [](void*, gc_visit_fn, void*) {};
  EXPECT_EQ(gc_register_type(heap_, &d), 0u);
  EXPECT_NE(std::string(gc_last_error()).find("trace callback"),
            std::string::npos);
  d.trace = nullptr;
  d.ptr_bitmap = nullptr;
  d.ptr_bitmap_words = 0;
  // Weak slots only: still scanned (not noscan).
  gc_type_id t = gc_register_type(heap_, &d);
  ASSERT_NE(t, 0u) << gc_last_error();
  void** o = static_cast<void**>(gc_alloc(m_, t, 16));
  root_ = o;
  Cell* c = NewCell(nullptr, nullptr, 3);
  gc_weak_store(m_, o, &o[1], c);
  gc_collect(m_);
  EXPECT_EQ(gc_weak_load(m_, o, &o[1]), nullptr);
  root_ = nullptr;
}

TEST_F(WeakApiTest, TheLayoutBeforeWeakSlotsStillRegisters) {
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.struct_size = offsetof(gc_type_desc, weak_bitmap);
  d.name = "Old";
  d.size = 8;
  d.weak_kind = 99;  // outside the old layout: not read
  EXPECT_NE(gc_register_type(heap_, &d), 0u) << gc_last_error();
  d.struct_size = offsetof(gc_type_desc, weak_bitmap) + 8;
  EXPECT_EQ(gc_register_type(heap_, &d), 0u);
}

// {strong, weak, n}: a trace callback reports the weak slot.
void TraceStrongAndWeak(void* obj, gc_visit_fn visit, void* ctx) {
  void** o = static_cast<void**>(obj);
  visit(&o[0], ctx);
  gc_trace_weak(ctx, &o[1], GC_WEAK_SHORT);
}

TEST_F(WeakApiTest, TraceCallbacksReportWeakSlots) {
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.name = "Traced";
  d.size = 24;
  d.trace = &TraceStrongAndWeak;
  gc_type_id t = gc_register_type(heap_, &d);
  ASSERT_NE(t, 0u) << gc_last_error();
  void** o = static_cast<void**>(gc_alloc(m_, t, 24));
  root_ = o;
  Cell* strong = NewCell(nullptr, nullptr, 1);
  gc_write_barrier(m_, o, &o[0], strong);
  gc_weak_store(m_, o, &o[1], NewCell(nullptr, nullptr, 2));
  gc_collect(m_);
  EXPECT_EQ(gc_weak_load(m_, o, &o[1]), nullptr);
  EXPECT_EQ(o[0], strong);
  gc_weak_store(m_, o, &o[1], strong);
  gc_collect(m_);
  EXPECT_EQ(gc_weak_load(m_, o, &o[1]), strong);
  root_ = nullptr;
}

void ScannerCallingTraceWeak(gc_visit_fn, void* visit_ctx, void* data) {
  gc_trace_weak(visit_ctx, static_cast<void**>(data), GC_WEAK_SHORT);
}

TEST_F(WeakApiTest, TraceWeakOutsideATraceCallbackIsMisuse) {
  static void* slot = nullptr;
  EXPECT_DEATH(
      {
        gc_add_root_scanner(heap_, &ScannerCallingTraceWeak, &slot);
        gc_collect(m_);
      },
      "gc_trace_weak");
}

// A mutator root scanner's visit context is a RootVisitor too, not a
// trace callback's TraceVisitor: refused the same way.
TEST_F(WeakApiTest, TraceWeakFromAMutatorRootScannerIsMisuse) {
  static void* slot = nullptr;
  EXPECT_DEATH(
      {
        gc_add_mutator_root_scanner(m_, &ScannerCallingTraceWeak, &slot);
        gc_collect(m_);
      },
      "gc_trace_weak.*not a trace callback's visit context");
}

TEST_F(WeakApiTest, WeakLoadOfASlotThatIsNotWeakIsMisuse) {
  gc_type_id holder_t = RegisterHolder(heap_, GC_WEAK_SHORT);
  auto* h = static_cast<Holder*>(gc_alloc(m_, holder_t, sizeof(Holder)));
  root_ = h;
  EXPECT_DEATH(gc_weak_load(m_, h, &h->strong), "not one of the weak slots");
  Cell* c = NewCell(nullptr, nullptr, 1);
  EXPECT_DEATH(gc_weak_load(m_, c, &c->car), "no weak slots");
  root_ = nullptr;
}

// While a concurrent cycle marks, a read shades its object: an object the
// program reaches only through a weak handle survives the cycle in which it
// was read, and verify (on) checks the rooted result is marked.
TEST(WeakConcurrentTest, AReadDuringMarkingKeepsItsObject) {
  gc_heap* h = NewConcurrentHeap();
  gc_mutator* m = gc_thread_attach(h);
  gc_type_id cell = RegisterCell(h);
  void* root = nullptr;
  ASSERT_EQ(gc_add_root(h, &root), 0);
  auto* a = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
  a->value = 42;
  auto* b = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
  b->value = 43;
  gc_weak* wa = gc_weak_create(m, a, GC_WEAK_SHORT);
  gc_weak* wb = gc_weak_create(m, b, GC_WEAK_SHORT);
  {
    MarkWindow window(h, m);
    window.Open();  // pause 1 done: neither a nor b is in the snapshot
    void* got = gc_weak_get(m, wa);
    ASSERT_EQ(got, a);
    root = got;  // held strongly now, rooted before the next safepoint
    window.Close();
  }
  EXPECT_EQ(gc_weak_get(m, wa), a);
  EXPECT_EQ(static_cast<Cell*>(gc_weak_get(m, wa))->value, 42);
  EXPECT_EQ(gc_weak_get(m, wb), nullptr);  // b was not read: it died
  root = nullptr;
  gc_collect(m);
  EXPECT_EQ(gc_weak_get(m, wa), nullptr);
  gc_weak_destroy(m, wa);
  gc_weak_destroy(m, wb);
  gc_remove_root(h, &root);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// The same for a weak slot: a load during marking shades.
TEST(WeakConcurrentTest, AWeakSlotLoadDuringMarkingKeepsItsObject) {
  gc_heap* h = NewConcurrentHeap();
  gc_mutator* m = gc_thread_attach(h);
  gc_type_id cell = RegisterCell(h);
  gc_type_id holder_t = RegisterHolder(h, GC_WEAK_LONG);
  void* roots[2] = {};
  ASSERT_EQ(gc_add_root_range(h, roots, 2), 0);
  auto* hd = static_cast<Holder*>(gc_alloc(m, holder_t, sizeof(Holder)));
  roots[0] = hd;
  auto* a = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
  auto* b = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
  gc_weak_store(m, hd, &hd->weak0, a);
  gc_weak_store(m, hd, &hd->weak2, b);
  {
    MarkWindow window(h, m);
    window.Open();
    roots[1] = gc_weak_load(m, hd, &hd->weak0);
    ASSERT_EQ(roots[1], a);
    window.Close();
  }
  EXPECT_EQ(gc_weak_load(m, hd, &hd->weak0), a);
  EXPECT_EQ(gc_weak_load(m, hd, &hd->weak2), nullptr);
  gc_remove_root_range(h, roots, 2);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// Threads create, read and destroy handles, and store and load weak slots
// naming the same objects, while collections run (some explicit, most
// triggered by allocation), in the configured mode. A rooted object's handle
// always reads it; an unrooted one's reads it (then it is intact) or NULL, and
// once NULL stays NULL; a read object may be rooted again and must then
// survive. Verify is on: a read that resurrected an object the cycle then freed
// would abort.
TEST(WeakStressTest, ReadsDuringMarkingAndSweepingNeverSeeAFreedObject) {
  gc_heap* h = NewStressHeap();
  ASSERT_NE(h, nullptr);
  gc_type_id cell = RegisterCell(h);
  gc_type_id holder_t = RegisterHolder(h, GC_WEAK_SHORT);
  constexpr int kThreads = 5;
  constexpr int kSlots = 64;
  const StressDeadline deadline(std::chrono::milliseconds(2500));
  std::atomic<int> errors{0};
  std::atomic<uint64_t> reads{0}, nulls{0}, revived{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(h);
      void* slots[kSlots] = {};
      gc_add_root_range(h, slots, kSlots);
      // Entry k's object is also held by the weak slot of holders[k].
      void* holders[kSlots] = {};
      gc_add_root_range(h, holders, kSlots);
      for (void*& hd : holders) hd = gc_alloc(m, holder_t, sizeof(Holder));
      auto weak_slot = [&](size_t k) {
        return &static_cast<Holder*>(holders[k])->weak0;
      };
      struct Entry {
        gc_weak* w = nullptr;
        Cell* obj = nullptr;
        int slot = -1;  // the root slot holding obj, or -1
        int64_t magic = 0;
        bool seen_null = false;
      };
      std::vector<Entry> es(kSlots);
      std::mt19937_64 rng(t * 7919 + 1);
      int64_t next_magic = (int64_t{t} << 40) + 1;
      uint64_t iter = 0;
      auto free_slot = [&]() -> int {
        for (int k = 0; k < 4; k++) {
          const int s = static_cast<int>(rng() % kSlots);
          if (slots[s] == nullptr) return s;
        }
        return -1;
      };
      auto unroot = [&](Entry& e) {
        if (e.slot >= 0) slots[e.slot] = nullptr;
        e.slot = -1;
      };
      while (deadline.Running(&iter)) {
        const size_t k = rng() % es.size();
        Entry& e = es[k];
        switch (rng() % 8) {
          case 0: {  // create (the old handle, if any, goes)
            if (e.w != nullptr) {
              unroot(e);
              gc_weak_destroy(m, e.w);
            }
            auto* c = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
            c->value = e.magic = next_magic++;
            e = Entry{nullptr, c, -1, e.magic, false};
            if (rng() % 2) {
              e.slot = free_slot();
              if (e.slot >= 0) slots[e.slot] = c;
            }
            e.w = gc_weak_create(m, c, static_cast<int>(rng() % 2));
            if (e.w == nullptr) errors++;
            gc_weak_store(m, holders[k], weak_slot(k), c);
            break;
          }
          case 1:  // unroot
            unroot(e);
            break;
          case 2:
          case 3:
          case 4: {  // read
            if (e.w == nullptr) break;
            // The handle or the weak slot: the same rules.
            void* v = rng() % 2 ? gc_weak_get(m, e.w)
                                : gc_weak_load(m, holders[k], weak_slot(k));
            reads++;
            if (e.slot >= 0) {
              if (v != e.obj) errors++;
            } else if (v == nullptr) {
              e.seen_null = true;
              nulls++;
            } else if (e.seen_null || v != e.obj ||
                       static_cast<Cell*>(v)->value != e.magic) {
              errors++;
            } else if (rng() % 4 == 0) {
              // Hold it again: rooted before the next safepoint.
              e.slot = free_slot();
              if (e.slot >= 0) {
                slots[e.slot] = v;
                revived++;
              }
            }
            break;
          }
          case 5:  // destroy
            if (e.w == nullptr) break;
            unroot(e);
            gc_weak_destroy(m, e.w);
            gc_weak_store(m, holders[k], weak_slot(k), nullptr);
            e = Entry{};
            break;
          case 6:  // garbage (drives automatic cycles)
            for (int k = 0; k < 16; k++) gc_alloc(m, cell, sizeof(Cell));
            break;
          case 7:
            if (t == 0 && rng() % 512 == 0) gc_collect(m);
            break;
        }
      }
      for (Entry& e : es) {
        if (e.w != nullptr) gc_weak_destroy(m, e.w);
      }
      gc_remove_root_range(h, slots, kSlots);
      gc_remove_root_range(h, holders, kSlots);
      gc_thread_detach(m);
    });
  }
  for (auto& th : ts) th.join();
  printf(
      "%lu reads, %lu found dead, %lu read objects rooted again, %lu "
      "cycles\n",
      static_cast<unsigned long>(reads.load()),
      static_cast<unsigned long>(nulls.load()),
      static_cast<unsigned long>(revived.load()),
      static_cast<unsigned long>(GetStats(h).cycles));
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(reads.load(), 1000u);
  EXPECT_GT(nulls.load(), 0u) << "no handle was ever found dead";
  EXPECT_GT(GetStats(h).cycles, 2u);
  gc_heap_destroy(h);
}

}  // namespace
}  // namespace gcheap
