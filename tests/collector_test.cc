// Tests for the collector through the C API: reachability (cycles, shared
// sub-graphs, long chains), precise accounting, variable-length and large
// objects, trace callbacks, interior and tagged pointers.
#include <atomic>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gc_test_util.h"
#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace gcheap {
namespace {

using CollectorTest = GcTest;

TEST_F(CollectorTest, UnreachableObjectsAreFreedRootedOnesSurvive) {
  void* root = nullptr;
  ASSERT_EQ(gc_add_root(heap_, &root), 0);
  // A rooted list of 100 cells, and 10000 garbage cells.
  Cell* head = nullptr;
  for (int i = 0; i < 100; i++) {
    head = NewCell(nullptr, head, i);
    root = head;
  }
  for (int i = 0; i < 10000; i++) NewCell(nullptr, nullptr, -i);
  gc_collect(m_);
  gc_stats s = Stats();
  EXPECT_EQ(s.live_objects, 100u);
  EXPECT_EQ(s.live_bytes, 100u * 24);  // Cell is 24 bytes: class 24
  EXPECT_EQ(s.bytes_in_use, 100u * 24);
  int64_t expect = 99;
  for (Cell* c = static_cast<Cell*>(root); c; c = static_cast<Cell*>(c->cdr)) {
    ASSERT_EQ(c->value, expect--);
  }
  EXPECT_EQ(expect, -1);
  root = nullptr;
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 0u);
  EXPECT_EQ(Stats().bytes_in_use, 0u);
  gc_remove_root(heap_, &root);
}

TEST_F(CollectorTest, CyclesSelfLoopsAndSharedSubgraphs) {
  void* roots[2] = {nullptr, nullptr};
  ASSERT_EQ(gc_add_root_range(heap_, roots, 2), 0);
  // Self loop.
  Cell* self = NewCell(nullptr, nullptr, 1);
  gc_write_barrier(m_, self, &self->car, self);
  // A 3-cycle.
  Cell* a = NewCell(nullptr, nullptr, 2);
  Cell* b = NewCell(a, nullptr, 3);
  Cell* c = NewCell(b, nullptr, 4);
  gc_write_barrier(m_, a, &a->car, c);
  // Shared subgraph: two parents of one child.
  Cell* shared = NewCell(nullptr, nullptr, 5);
  Cell* p1 = NewCell(shared, self, 6);
  Cell* p2 = NewCell(shared, a, 7);
  roots[0] = p1;
  roots[1] = p2;
  // Garbage cycle: must be collected although every node is referenced.
  Cell* g1 = NewCell(nullptr, nullptr, 8);
  Cell* g2 = NewCell(g1, nullptr, 9);
  gc_write_barrier(m_, g1, &g1->car, g2);
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 7u);
  EXPECT_EQ(shared->value, 5);
  EXPECT_EQ(static_cast<Cell*>(static_cast<Cell*>(a->car)->car)->value, 3);
  roots[1] = nullptr;  // drops p2 and the 3-cycle; shared stays via p1
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 3u);
  ASSERT_EQ(gc_remove_root_range(heap_, roots, 2), 0);
}

// Sanitizer and debug builds (GCHEAP_DEBUG) use 2 million: the point there is
// memory and thread safety, and the optimized build runs the full 10 million.
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
constexpr int kHuge = 2'000'000;
#else
constexpr int kHuge = 10'000'000;
#endif

TEST_F(CollectorTest, TenMillionElementListCollectsWithoutRecursion) {
  void* root = nullptr;
  gc_add_root(heap_, &root);
  const int kN = kHuge;
  Cell* head = nullptr;
  for (int i = 0; i < kN; i++) {
    head = NewCell(nullptr, head, i);
    root = head;  // keep it reachable at every allocation
  }
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, static_cast<uint64_t>(kN));
  // Walk it: every cell intact, in order.
  int64_t expect = kN - 1;
  for (Cell* c = head; c; c = static_cast<Cell*>(c->cdr)) {
    if (c->value != expect) FAIL() << "cell " << expect << " corrupted";
    expect--;
  }
  EXPECT_EQ(expect, -1);
  root = nullptr;
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 0u);
  gc_remove_root(heap_, &root);
}

TEST_F(CollectorTest, DeepTreePathCollects) {
  // A binary tree whose left spine is 10 million deep, with a leaf as the
  // right child every 1000 levels.
  void* root = nullptr;
  void* pending = nullptr;  // a new leaf, rooted until linked
  gc_add_root(heap_, &root);
  gc_add_root(heap_, &pending);
  const int kDepth = kHuge;
  uint64_t count = 0;
  for (int i = 0; i < kDepth; i++) {
    pending = nullptr;
    if (i % 1000 == 0) {
      pending = NewCell(nullptr, nullptr, -1);
      count++;
    }
    root = NewCell(root, pending, i);
    count++;
  }
  pending = nullptr;
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, count);
  root = nullptr;
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 0u);
  gc_remove_root(heap_, &root);
  gc_remove_root(heap_, &pending);
}

// A vector type: fixed header {length, meta pointer} + tail of pointers.
struct Vec {
  int64_t length;
  void* meta;
  void* items[];
};

TEST_F(CollectorTest, VariableLengthArraysAndLargeObjects) {
  static const uint64_t kHeaderMap = 0b10;  // meta is a pointer
  static const uint64_t kElemMap = 0b1;     // each element is a pointer
  gc_type_id vec = RegisterSmallType(heap_, "Vec", sizeof(Vec), kHeaderMap,
                                     sizeof(void*), kElemMap);
  ASSERT_NE(vec, 0u) << gc_last_error();
  void* root = nullptr;
  gc_add_root(heap_, &root);
  // A large vector (1M slots = 8 MB, scanned in oblets) holding cells and
  // small vectors.
  const size_t kLen = 1 << 20;
  auto* big =
      static_cast<Vec*>(gc_alloc(m_, vec, sizeof(Vec) + kLen * sizeof(void*)));
  ASSERT_NE(big, nullptr) << gc_last_error();
  big->length = kLen;
  root = big;
  uint64_t expect_live = 1;
  for (size_t i = 0; i < kLen; i += 1000) {
    if ((i / 1000) % 2 == 0) {
      Cell* c = NewCell(nullptr, nullptr, static_cast<int64_t>(i));
      gc_write_barrier(m_, big, &big->items[i], c);
      expect_live++;
    } else {
      // Link v before the next allocation: a pointer held only in a local
      // across gc_alloc may be freed (the API contract).
      auto* v = static_cast<Vec*>(gc_alloc(m_, vec, sizeof(Vec) + 3 * 8));
      gc_write_barrier(m_, big, &big->items[i], v);
      Cell* c = NewCell(nullptr, nullptr, 7);
      v = static_cast<Vec*>(big->items[i]);
      gc_write_barrier(m_, v, &v->items[2], c);
      expect_live += 2;
    }
  }
  // The last slot, in the last oblet.
  Cell* tail = NewCell(nullptr, nullptr, 42);
  gc_write_barrier(m_, big, &big->items[kLen - 1], tail);
  expect_live++;
  // An array of large objects.
  auto* arr = static_cast<Vec*>(gc_alloc(m_, vec, sizeof(Vec) + 8 * 8));
  gc_write_barrier(m_, big, &big->meta, arr);
  expect_live++;
  for (int i = 0; i < 8; i++) {
    void* blob = gc_alloc_noscan(m_, 100000 + i);
    memset(blob, i, 100000 + i);
    gc_write_barrier(m_, arr, &arr->items[i], blob);
    expect_live++;
  }
  for (int i = 0; i < 1000; i++) NewCell(nullptr, nullptr, 0);  // garbage
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, expect_live);
  EXPECT_EQ(static_cast<Cell*>(big->items[kLen - 1])->value, 42);
  for (int i = 0; i < 8; i++) {
    auto* blob = static_cast<unsigned char*>(arr->items[i]);
    EXPECT_EQ(blob[0], i);
    EXPECT_EQ(blob[100000 + i - 1], i);
  }
  root = nullptr;
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 0u);
  gc_remove_root(heap_, &root);
}

// A node whose children live in a side count + array the bitmaps cannot
// describe: the trace callback reports them.
struct Odd {
  int64_t n;  // number of children, stored in the first n of kids
  int64_t junk;
  void* kids[4];
};

void TraceOdd(void* obj, gc_visit_fn visit, void* ctx) {
  auto* o = static_cast<Odd*>(obj);
  for (int64_t i = 0; i < o->n; i++) visit(&o->kids[i], ctx);
}

TEST_F(CollectorTest, TraceCallbacksReportExactlyTheirSlots) {
  gc_type_id odd = RegisterTracedType(heap_, "Odd", sizeof(Odd), &TraceOdd);
  ASSERT_NE(odd, 0u) << gc_last_error();
  void* root = nullptr;
  gc_add_root(heap_, &root);
  auto* o = static_cast<Odd*>(gc_alloc(m_, odd, sizeof(Odd)));
  root = o;
  Cell* kept = NewCell(nullptr, nullptr, 1);
  Cell* hidden = NewCell(nullptr, nullptr, 2);  // in kids[1], but n == 1
  gc_write_barrier(m_, o, &o->kids[0], kept);
  gc_write_barrier(m_, o, &o->kids[1], hidden);
  o->n = 1;
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 2u);  // o and kept; hidden is not traced
  o->kids[1] = nullptr;                 // (it was freed: drop the pointer)
  o->n = 2;
  gc_write_barrier(m_, o, &o->kids[1], NewCell(nullptr, nullptr, 3));
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 3u);
  gc_remove_root(heap_, &root);
}

// gc_type_desc.user_data reaches the type's trace_ctx callback. Two types
// share one callback and differ only in their data, a toy "VM" that says
// how many of an object's slots are in use; each object records which VM
// its type was given, and the callback checks it gets that one. The
// verifier (on) traces again with the same data.
struct ToyVm {
  int64_t used_slots;
  std::atomic<int> calls{0};
  std::atomic<int> wrong{0};  // called with another type's data
};
struct VmObj {
  ToyVm* vm;  // the data its type was registered with
  void* kids[4];
};
void TraceWithVm(void* obj, gc_visit_fn visit, void* ctx, void* user_data) {
  auto* vm = static_cast<ToyVm*>(user_data);
  auto* o = static_cast<VmObj*>(obj);
  vm->calls++;
  if (o->vm != vm) vm->wrong++;
  for (int64_t i = 0; i < vm->used_slots; i++) visit(&o->kids[i], ctx);
}

TEST_F(CollectorTest, TraceCtxCallbackGetsItsTypesUserData) {
  ToyVm vm1{1}, vm3{3};
  gc_type_id types[2];
  ToyVm* vms[2] = {&vm1, &vm3};
  for (int k = 0; k < 2; k++) {
    gc_type_desc d;
    gc_type_desc_init(&d);
    d.name = k == 0 ? "VmObj1" : "VmObj3";
    d.size = sizeof(VmObj);
    d.trace_ctx = &TraceWithVm;
    d.user_data = vms[k];
    types[k] = gc_register_type(heap_, &d);
    ASSERT_NE(types[k], 0u) << gc_last_error();
  }
  void* roots[2] = {};
  ASSERT_EQ(gc_add_root_range(heap_, roots, 2), 0);
  for (int k = 0; k < 2; k++) {
    auto* o = static_cast<VmObj*>(gc_alloc(m_, types[k], sizeof(VmObj)));
    ASSERT_NE(o, nullptr) << gc_last_error();
    o->vm = vms[k];
    roots[k] = o;
    for (int i = 0; i < 4; i++) {
      gc_write_barrier(m_, o, &o->kids[i], NewCell(nullptr, nullptr, i));
    }
  }
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 2u + 1u + 3u);
  EXPECT_GE(vm1.calls.load(), 1);
  EXPECT_GE(vm3.calls.load(), 1);
  EXPECT_EQ(vm1.wrong.load(), 0);
  EXPECT_EQ(vm3.wrong.load(), 0);
  EXPECT_EQ(static_cast<Cell*>(static_cast<VmObj*>(roots[1])->kids[2])->value,
            2);
  // Both callbacks at once is an error.
  gc_type_desc both;
  gc_type_desc_init(&both);
  both.name = "Both";
  both.size = sizeof(VmObj);
  both.trace = &TraceOdd;
  both.trace_ctx = &TraceWithVm;
  EXPECT_EQ(gc_register_type(heap_, &both), 0u);
  EXPECT_NE(std::string(gc_last_error()).find("both trace and trace_ctx"),
            std::string::npos)
      << gc_last_error();
  gc_remove_root_range(heap_, roots, 2);
}

TEST_F(CollectorTest, InteriorPointersInRootsKeepTheirObject) {
  void* interior = nullptr;
  gc_add_root(heap_, &interior);
  Cell* c = NewCell(nullptr, nullptr, 77);
  interior = reinterpret_cast<char*>(c) + 13;  // points into the middle
  auto* blob = static_cast<char*>(gc_alloc_noscan(m_, 200000));
  void* interior2 = blob + 150000;  // deep inside a large object
  gc_add_root(heap_, &interior2);
  for (int i = 0; i < 1000; i++) NewCell(nullptr, nullptr, 0);
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 2u);
  EXPECT_EQ(c->value, 77);
  gc_remove_root(heap_, &interior);
  gc_remove_root(heap_, &interior2);
}

TEST_F(CollectorTest, TaggedImmediatesAndJunkAreIgnored) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.tag_mask = 0x7;  // low 3 bits tag immediates and pointers
  Init(&cfg);
  void* slots[6];
  gc_add_root_range(heap_, slots, 6);
  Cell* c = NewCell(nullptr, nullptr, 5);
  slots[0] = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(c) | 1);
  slots[1] = reinterpret_cast<void*>(uintptr_t{42} << 3 | 2);  // fixnum
  slots[2] = reinterpret_cast<void*>(uintptr_t{0xdeadbeef});   // junk
  slots[3] = &cfg;                                             // C stack
  slots[4] = reinterpret_cast<void*>(~uintptr_t{0});
  slots[5] = nullptr;
  // A cell whose fields hold tagged values too.
  Cell* d = NewCell(reinterpret_cast<void*>(uintptr_t{7}), nullptr, 0);
  gc_write_barrier(m_, c, &c->car,
                   reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(d) | 3));
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 2u);
  gc_remove_root_range(heap_, slots, 6);
}

TEST_F(CollectorTest, RootScannersReportVmStructures) {
  struct Stack {
    void* slots[64];
    int sp = 0;
  } stack;
  auto scan = [](gc_visit_fn visit, void* ctx, void* data) {
    auto* s = static_cast<Stack*>(data);
    for (int i = 0; i < s->sp; i++) visit(&s->slots[i], ctx);
  };
  ASSERT_EQ(gc_add_root_scanner(heap_, scan, &stack), 0);
  for (int i = 0; i < 10; i++) {
    stack.slots[stack.sp++] = NewCell(nullptr, nullptr, i);
  }
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 10u);
  stack.sp = 4;
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 4u);
  ASSERT_EQ(gc_remove_root_scanner(heap_, scan, &stack), 0);
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 0u);
  EXPECT_EQ(gc_remove_root_scanner(heap_, scan, &stack), -1);
  EXPECT_NE(std::string(gc_last_error()).find("not registered"),
            std::string::npos);
}

// One rule in both modes (this suite also runs with GC_STW=1): every
// cycle runs on the collector's driver thread, so root scanners and the
// cycle hook never run on the thread that called gc_collect, and always
// run on the same thread. (Stop-the-world cycles used to run on the
// collecting mutator.)
TEST_F(CollectorTest, RootScannersAndTheCycleHookRunOnTheDriverThread) {
  struct Seen {
    std::mutex mu;
    std::set<std::thread::id> scanner, hook;
  } seen;
  auto scan = [](gc_visit_fn, void*, void* data) {
    auto* s = static_cast<Seen*>(data);
    std::lock_guard<std::mutex> g(s->mu);
    s->scanner.insert(std::this_thread::get_id());
  };
  ASSERT_EQ(gc_add_root_scanner(heap_, scan, &seen), 0);
  gc_set_cycle_hook(
      heap_,
      [](const gc_cycle_info*, void* data) {
        auto* s = static_cast<Seen*>(data);
        std::lock_guard<std::mutex> g(s->mu);
        s->hook.insert(std::this_thread::get_id());
      },
      &seen);
  std::set<std::thread::id> callers = {std::this_thread::get_id()};
  gc_collect(m_);
  std::thread other([&] {
    gc_mutator* m = gc_thread_attach(heap_);
    gc_collect(m);
    gc_thread_detach(m);
  });
  callers.insert(other.get_id());
  gc_enter_blocking(m_);  // the other thread's cycle must not wait for us
  other.join();
  gc_leave_blocking(m_);
  gc_collect(m_);
  gc_set_cycle_hook(heap_, nullptr, nullptr);
  ASSERT_EQ(gc_remove_root_scanner(heap_, scan, &seen), 0);
  ASSERT_EQ(seen.scanner.size(), 1u) << "scanners ran on several threads";
  ASSERT_EQ(seen.hook.size(), 1u) << "the hook ran on several threads";
  EXPECT_EQ(*seen.scanner.begin(), *seen.hook.begin());
  EXPECT_EQ(callers.count(*seen.scanner.begin()), 0u)
      << "a root scanner ran on a thread that called gc_collect";
}

// Every cycle, in both modes, goes through the phases of the state
// machine in order (collector.h), and the heap ends up in kSweep or kOff.
TEST_F(CollectorTest, CycleGoesThroughThePhasesInOrder) {
  std::mutex mu;
  std::vector<GcPhase> seen;
  heap_->collector->SetPhaseHookForTesting([&](GcPhase p) {
    std::lock_guard<std::mutex> g(mu);
    seen.push_back(p);
  });
  void* root = NewCell(nullptr, nullptr, 1);
  gc_add_root(heap_, &root);
  for (int i = 0; i < 3; i++) gc_collect(m_);
  heap_->collector->SetPhaseHookForTesting(nullptr);
  gc_remove_root(heap_, &root);
  std::vector<GcPhase> want;
  for (int i = 0; i < 3; i++) {
    want.insert(want.end(), {GcPhase::kSweepTermination, GcPhase::kMark,
                             GcPhase::kMarkTermination, GcPhase::kSweep});
  }
  std::lock_guard<std::mutex> g(mu);
  EXPECT_EQ(seen, want);
  const GcPhase now = heap_->collector->phase();
  EXPECT_TRUE(now == GcPhase::kSweep || now == GcPhase::kOff)
      << GcPhaseName(now);
  EXPECT_FALSE(heap_->collector->marking());
  // The transitions the debug builds allow.
  EXPECT_TRUE(LegalPhaseTransition(GcPhase::kOff, GcPhase::kSweepTermination));
  EXPECT_TRUE(
      LegalPhaseTransition(GcPhase::kSweep, GcPhase::kSweepTermination));
  EXPECT_FALSE(LegalPhaseTransition(GcPhase::kOff, GcPhase::kMark));
  EXPECT_FALSE(LegalPhaseTransition(GcPhase::kMark, GcPhase::kSweep));
  EXPECT_FALSE(LegalPhaseTransition(GcPhase::kMarkTermination, GcPhase::kMark));
  EXPECT_TRUE(LegalPhaseTransition(GcPhase::kMark, GcPhase::kMarkFinalizers));
  EXPECT_TRUE(LegalPhaseTransition(GcPhase::kMarkFinalizers,
                                   GcPhase::kMarkTermination));
  EXPECT_FALSE(LegalPhaseTransition(GcPhase::kSweepTermination,
                                    GcPhase::kMarkFinalizers));
  EXPECT_FALSE(LegalPhaseTransition(GcPhase::kMarkFinalizers, GcPhase::kSweep));
}

// With a finalizer registered, every cycle (both modes) goes through the
// finalizer phase between mark and mark termination; without one it does
// not.
TEST_F(CollectorTest, CyclesWithRegistrationsGoThroughTheFinalizerPhase) {
  std::mutex mu;
  std::vector<GcPhase> seen;
  heap_->collector->SetPhaseHookForTesting([&](GcPhase p) {
    std::lock_guard<std::mutex> g(mu);
    seen.push_back(p);
  });
  void* root = NewCell(nullptr, nullptr, 1);
  gc_add_root(heap_, &root);
  ASSERT_EQ(gc_register_finalizer(
                m_, root, [](gc_mutator*, void*, void*) {}, nullptr,
                GC_FINALIZE_ORDERED),
            0);
  gc_collect(m_);
  gc_register_finalizer(m_, root, nullptr, nullptr, GC_FINALIZE_ORDERED);
  gc_collect(m_);
  heap_->collector->SetPhaseHookForTesting(nullptr);
  gc_remove_root(heap_, &root);
  std::lock_guard<std::mutex> g(mu);
  EXPECT_EQ(seen,
            (std::vector<GcPhase>{GcPhase::kSweepTermination, GcPhase::kMark,
                                  GcPhase::kMarkFinalizers,
                                  GcPhase::kMarkTermination, GcPhase::kSweep,
                                  GcPhase::kSweepTermination, GcPhase::kMark,
                                  GcPhase::kMarkTermination, GcPhase::kSweep}));
}

TEST_F(CollectorTest, RootAddRemove) {
  void* a = nullptr;
  EXPECT_EQ(gc_add_root(heap_, &a), 0);
  EXPECT_EQ(gc_add_root(heap_, &a), 0);  // counted
  a = NewCell(nullptr, nullptr, 1);
  EXPECT_EQ(gc_remove_root(heap_, &a), 0);
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 1u);  // still registered once
  EXPECT_EQ(gc_remove_root(heap_, &a), 0);
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 0u);
  EXPECT_EQ(gc_remove_root(heap_, &a), -1);
  EXPECT_EQ(gc_add_root(heap_, nullptr), -1);
  EXPECT_EQ(gc_remove_root_range(heap_, &a, 3), -1);
}

TEST_F(CollectorTest, StatisticsAddUp) {
  void* root = nullptr;
  gc_add_root(heap_, &root);
  gc_type_id bigt = RegisterSmallType(heap_, "Big", 100, 0b1);  // class 112
  Cell* head = nullptr;
  for (int i = 0; i < 1000; i++) {
    head = NewCell(nullptr, head, i);
    root = head;
  }
  void* keep_big = gc_alloc(m_, bigt, 100);
  gc_write_barrier(m_, head, &head->car, keep_big);
  void* keep_blob = gc_alloc_noscan(m_, 40000);  // large: 5 pages
  gc_write_barrier(m_, head->cdr, &static_cast<Cell*>(head->cdr)->car,
                   keep_blob);
  for (int i = 0; i < 5000; i++) gc_alloc(m_, bigt, 100);
  gc_collect(m_);
  gc_stats s = Stats();
  const uint64_t expect = 1000 * 24 + 112 + 40960;  // slot/page rounded
  EXPECT_EQ(s.live_objects, 1002u);
  EXPECT_EQ(s.live_bytes, expect);
  EXPECT_EQ(s.bytes_in_use, expect);
  EXPECT_EQ(s.objects_allocated - s.objects_freed, 1002u);
  EXPECT_EQ(s.by_class[3].allocated - s.by_class[3].freed, 1000u);  // 24 B
  EXPECT_EQ(s.cycles, 1u);
  EXPECT_GT(s.pause_last_ns, 0u);
  uint64_t hist = 0;
  for (uint64_t h : s.pause_hist) hist += h;
  EXPECT_EQ(hist, 1u);
  EXPECT_GE(s.bytes_allocated, 1000u * 24 + 5001u * 112 + 40960u);
  // One cycle: its pause is every percentile; it scanned the 1000 cells
  // and the big object (24 and 112 bytes each), not the noscan blob.
  EXPECT_EQ(s.pause_p50_ns, s.pause_last_ns);
  EXPECT_EQ(s.pause_p99_ns, s.pause_last_ns);
  EXPECT_EQ(s.pause_max_ns, s.pause_last_ns);
  EXPECT_GE(s.stw_pauses, 1u);
  EXPECT_EQ(s.scan_bytes_total, 1000u * 24 + 112u);
  gc_remove_root(heap_, &root);
}

TEST_F(CollectorTest, PausePercentilesCoverRecentCycles) {
  for (int i = 0; i < 300; i++) gc_collect(m_);
  gc_stats s = Stats();
  EXPECT_EQ(s.cycles, 300u);
  EXPECT_GT(s.pause_p50_ns, 0u);
  EXPECT_LE(s.pause_p50_ns, s.pause_p99_ns);
  EXPECT_LE(s.pause_p99_ns, s.pause_max_ns);
  uint64_t hist = 0;
  for (uint64_t h : s.pause_hist) hist += h;
  EXPECT_EQ(hist, 300u);
}

// A stop-the-world mark expected (from the last cycle) to scan under
// Collector::kSmallMarkScanBytes runs on the driver alone; a larger one on
// every worker; both mark everything reachable (the verifier re-marks
// after each cycle and aborts on a missed object; the counts and values
// are checked too). A heap of its own with 4 workers and STW cycles.
TEST(CollectorSmallMarkTest, SmallStopTheWorldMarkRunsOnTheDriverAlone) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = 1;
  cfg.gc_workers = 4;
  cfg.verify = 1;
  gc_heap* h = gc_heap_create(&cfg);
  ASSERT_NE(h, nullptr);
  gc_mutator* m = gc_thread_attach(h);
  const gc_type_id cell = RegisterCell(h);
  void* root = nullptr;
  ASSERT_EQ(gc_add_root(h, &root), 0);
  // A rooted list of n cells, then garbage; returns the workers of the
  // second collection's mark (the first has no estimate yet).
  const auto mark_workers = [&](int n) {
    root = nullptr;
    for (int i = 0; i < n; i++) {
      Cell* c = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
      c->cdr = root;
      c->value = i;
      root = c;
    }
    for (int i = 0; i < 1000; i++) gc_alloc(m, cell, sizeof(Cell));
    gc_collect(m);
    for (int i = 0; i < 1000; i++) gc_alloc(m, cell, sizeof(Cell));
    gc_collect(m);
    EXPECT_EQ(GetStats(h).live_objects, static_cast<uint64_t>(n));
    int64_t expect = n - 1;
    for (Cell* c = static_cast<Cell*>(root); c;
         c = static_cast<Cell*>(c->cdr)) {
      if (c->value != expect--) break;
    }
    EXPECT_EQ(expect, -1) << "the list of " << n << " cells was damaged";
    return h->collector->last_mark_workers();
  };
  // 1,000 cells: 24 KB of scan work.
  EXPECT_EQ(mark_workers(1000), 1);
  // 200,000 cells: 4.8 MB, over kSmallMarkScanBytes.
  static_assert(200'000 * sizeof(Cell) > Collector::kSmallMarkScanBytes);
  EXPECT_EQ(mark_workers(200'000), 4);
  // Small again: the estimate follows the live heap.
  root = nullptr;
  gc_collect(m);
  EXPECT_EQ(mark_workers(1000), 1);
  gc_remove_root(h, &root);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

TEST_F(CollectorTest, AutomaticCollectionKeepsTheHeapNearItsGoal) {
  void* root = nullptr;
  gc_add_root(heap_, &root);
  for (int i = 0; i < 2'000'000; i++) {
    Cell* c = NewCell(nullptr, nullptr, i);
    if (i % 100 == 0) root = c;  // a little live data at any time
  }
  gc_stats s = Stats();
  EXPECT_GT(s.cycles, 3u);                    // 64 MB allocated, 4 MB goal
  EXPECT_LT(s.heap_bytes, size_t{32} << 20);  // never grew far past it
  gc_remove_root(heap_, &root);
}

TEST_F(CollectorTest, HardLimitCollectsThenFailsWithAReason) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.max_heap_bytes = 16 << 20;
  cfg.gc_percent = -1;  // only the limit forces collections
  Init(&cfg);
  void* root = nullptr;
  gc_add_root(heap_, &root);
  // Garbage alone never fails: the limit triggers a collection.
  for (int i = 0; i < 2'000'000; i++)
    ASSERT_NE(NewCell(nullptr, nullptr, i), nullptr);
  EXPECT_GE(Stats().cycles, 1u);
  // Live data beyond the limit fails with NULL and a reason.
  Cell* head = nullptr;
  size_t n = 0;
  for (;;) {
    auto* c = static_cast<Cell*>(gc_alloc(m_, cell_, sizeof(Cell)));
    if (c == nullptr) break;
    gc_write_barrier(m_, c, &c->cdr, head);
    head = c;
    root = head;
    n++;
    ASSERT_LT(n, 1'000'000u);
  }
  EXPECT_NE(std::string(gc_last_error()).find("hard limit"), std::string::npos)
      << gc_last_error();
  EXPECT_LE(Stats().heap_bytes, size_t{16} << 20);
  root = nullptr;
  gc_collect(m_);
  EXPECT_NE(gc_alloc(m_, cell_, sizeof(Cell)), nullptr);
  gc_remove_root(heap_, &root);
}

// GC_PERCENT=off with a soft limit (Go's GOGC=off + GOMEMLIMIT): no
// proportional goal; cycles run only as the heap approaches the limit.
// 64 MiB live under a 140 MiB limit: every cycle aims at the limit, and in
// stop-the-world mode (trigger = goal) starts there. It used to collect
// at 2 x live = 128 MiB.
TEST_F(CollectorTest, GcPercentOffWithAMemoryLimitCollectsNearTheLimit) {
  constexpr size_t kMiB = 1 << 20;
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.gc_percent = -1;
  cfg.memory_limit_bytes = 140 * kMiB;
  Init(&cfg);
  struct Seen {
    std::mutex mu;
    std::vector<gc_cycle_info> cycles;
  } seen;
  gc_set_cycle_hook(
      heap_,
      [](const gc_cycle_info* info, void* data) {
        auto* s = static_cast<Seen*>(data);
        std::lock_guard<std::mutex> g(s->mu);
        s->cycles.push_back(*info);
      },
      &seen);
  void* live[64] = {};
  ASSERT_EQ(gc_add_root_range(heap_, live, 64), 0);
  for (void*& p : live) ASSERT_NE(p = gc_alloc_noscan(m_, kMiB), nullptr);
  // 600 MiB of 1 MiB garbage: several cycles.
  for (int i = 0; i < 600; i++) ASSERT_NE(gc_alloc_noscan(m_, kMiB), nullptr);
  gc_set_cycle_hook(heap_, nullptr, nullptr);
  std::lock_guard<std::mutex> g(seen.mu);
  ASSERT_GE(seen.cycles.size(), 3u);
  for (const gc_cycle_info& c : seen.cycles) {
    EXPECT_EQ(c.reason, 1) << "only heap-goal cycles ran";  // kHeapGoal
    EXPECT_EQ(c.heap_goal, 140 * kMiB) << "cycle " << c.cycle;
    if (!c.concurrent) {
      EXPECT_GE(c.heap_before, 140 * kMiB) << "cycle " << c.cycle;
    } else if (c.cycle > 1) {
      // Concurrent: the learned trigger lies beyond half of the way from
      // live to the limit.
      EXPECT_GT(c.heap_before, 64 * kMiB + 38 * kMiB) << "cycle " << c.cycle;
    }
  }
  gc_remove_root_range(heap_, live, 64);
}

// No system call of the scavenger (madvise) runs while the world is
// stopped: a pause must never wait for one. Two threads repeatedly hold
// 48 MiB of large objects, drop them and allocate garbage, so sweeps free
// large spans and the scavenger releases memory while cycles run (the
// retention goal is lowered so that it does). Hooks around every madvise
// and every pause count the overlaps. Sweeping used to scavenge as soon as
// it freed a large span, while holding a sweep locker, which sweep
// termination waits for (and on the driver, inside the pause).
TEST_F(CollectorTest, NoScavengerSystemCallOverlapsAPause) {
  heap_->heap.SetRetentionForTesting(0, 0.0);
  struct Seen {
    std::atomic<bool> in_pause{false};
    std::atomic<int> in_madvise{0};
    std::atomic<int> overlaps{0}, madvises{0}, pauses{0};
  } seen;
  heap_->heap.SetScavengeHookForTesting([&](bool begin) {
    if (!begin) {
      seen.in_madvise.fetch_sub(1);
      return;
    }
    seen.madvises.fetch_add(1);
    seen.in_madvise.fetch_add(1);
    if (seen.in_pause.load()) seen.overlaps.fetch_add(1);
  });
  heap_->collector->SetPauseHookForTesting([&](bool begin) {
    if (!begin) {
      seen.in_pause.store(false);
      return;
    }
    seen.pauses.fetch_add(1);
    seen.in_pause.store(true);
    if (seen.in_madvise.load() > 0) seen.overlaps.fetch_add(1);
  });
  constexpr size_t kMiB = 1 << 20;
  auto work = [&] {
    gc_mutator* m = gc_thread_attach(heap_);
    void* held[48] = {};
    gc_add_root_range(heap_, held, 48);
    for (int round = 0; round < 6; round++) {
      for (void*& p : held) ASSERT_NE(p = gc_alloc_noscan(m, kMiB), nullptr);
      for (void*& p : held) p = nullptr;
      for (int i = 0; i < 100; i++) {
        ASSERT_NE(gc_alloc_noscan(m, kMiB), nullptr);
      }
    }
    gc_remove_root_range(heap_, held, 48);
    gc_thread_detach(m);
  };
  gc_enter_blocking(m_);
  std::thread a(work), b(work);
  a.join();
  b.join();
  gc_leave_blocking(m_);
  gc_collect(m_);
  heap_->collector->SetPauseHookForTesting(nullptr);
  heap_->heap.SetScavengeHookForTesting(nullptr);
  EXPECT_GT(seen.pauses.load(), 10);
  EXPECT_GT(seen.madvises.load(), 0) << "the scavenger never ran";
  EXPECT_EQ(seen.overlaps.load(), 0)
      << seen.madvises.load() << " madvise calls, " << seen.pauses.load()
      << " pauses";
}

TEST_F(CollectorTest, SoftMemoryLimitMakesCollectionsMoreFrequent) {
  auto run = [&](size_t limit) {
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.gc_percent = 400;  // a lax goal: the limit must be what tightens it
    cfg.memory_limit_bytes = limit;
    Init(&cfg);
    void* root = nullptr;
    gc_add_root(heap_, &root);
    Cell* head = nullptr;
    for (int i = 0; i < 3'000'000; i++) {
      Cell* c = NewCell(nullptr, i < 200'000 ? head : nullptr, i);
      if (i < 200'000) {  // ~5 MB live
        head = c;
        root = head;
      }
    }
    gc_stats s = Stats();
    gc_remove_root(heap_, &root);
    return s;
  };
  gc_stats lax = run(0);
  gc_stats limited = run(12 << 20);
  EXPECT_GT(limited.cycles, lax.cycles + 2);
  EXPECT_LE(limited.heap_goal, size_t{12} << 20);
}

// A trace callback that hides a child from the marker but shows it to the
// verifier: the verifier must catch the "missed" live object and abort
// with the path to it.
struct Sneaky {
  void* child;
  int64_t calls;
};

void TraceSneaky(void* obj, gc_visit_fn visit, void* ctx) {
  auto* s = static_cast<Sneaky*>(obj);
  if (s->calls++ % 2 == 1) visit(&s->child, ctx);  // only on the 2nd call
}

using CollectorDeathTest = GcTest;

void CollectWithSneakyObject(gc_heap* heap, gc_mutator* m, gc_type_id cell) {
  gc_type_desc sd;
  gc_type_desc_init(&sd);
  sd.name = "Sneaky";
  sd.size = sizeof(Sneaky);
  sd.trace = &TraceSneaky;
  gc_type_id sneaky = gc_register_type(heap, &sd);
  static void* root = nullptr;
  gc_add_root(heap, &root);
  auto* s = static_cast<Sneaky*>(gc_alloc(m, sneaky, sizeof(Sneaky)));
  root = s;
  void* child = gc_alloc(m, cell, sizeof(Cell));
  gc_write_barrier(m, s, &s->child, child);
  gc_collect(m);
}

TEST_F(CollectorDeathTest, VerifierCatchesAMissedLiveObject) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(CollectWithSneakyObject(heap_, m_, cell_),
               "was not marked(.|\n)*type Cell(.|\n)*type Sneaky(.|\n)*"
               "root slot");
}

// Collector::CreditFreed (the Boehm layer's GC_free of an object it does
// not list for reuse): the goal moves up by the credited bytes, but to at
// most the live heap plus 8 x the goal's headroom above it (CreditCap), so
// at least an eighth of the allocation still counts, as in Boehm
// (GC_adj_bytes_allocd). Fails without the credit (the goal does not move)
// and without the cap (the goal moves by the whole 1 TiB).
TEST_F(CollectorTest, CreditFreedRaisesTheGoalUpToEightTimesItsHeadroom) {
  constexpr size_t kLive = size_t{16} << 20;  // above the goal's floor
  void* root = nullptr;
  ASSERT_EQ(gc_add_root(heap_, &root), 0);
  root = gc_alloc_noscan(m_, kLive);
  ASSERT_NE(root, nullptr) << gc_last_error();
  gc_collect(m_);
  Collector* c = heap_->collector.get();
  const uint64_t live = c->last_live_bytes();
  const uint64_t goal = c->heap_goal();
  ASSERT_GE(live, kLive);
  ASSERT_GT(goal, live);  // a proportional goal, not the floor
  c->CreditFreed(4096);
  EXPECT_EQ(c->heap_goal(), goal + 4096);
  c->CreditFreed(size_t{1} << 40);
  EXPECT_EQ(c->heap_goal(), live + 8 * (goal - live));
  gc_remove_root(heap_, &root);
}

}  // namespace
}  // namespace gcheap
