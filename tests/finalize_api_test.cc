// Tests for finalization through the C API (runtime/finalize_api.cc, the
// collector's finalizer phase, gc/finalize): finalizers run once, after
// their object became unreachable, with resurrection; Boehm's order
// (ordered chains one link per cycle, ordered cycles never, ignore-self,
// unordered cycles together, an ordered object holding back an unordered
// one); weak references around finalization (short cleared before the
// finalizer runs, long when the object is freed; ephemeron entries keyed by
// a finalized object stay until it is freed, weak values go first);
// cleanups; guardians; the heap's finalizer thread and the notifier; weak
// reads while the finalizer phase runs; and a multi-threaded stress test
// (run under tsan). Verify is on. The suite runs concurrently and again as
// finalize_api_test_stw (GC_STW=1).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"
#include "tests/gc_test_util.h"

namespace gcheap {
namespace {

// What finalizers saw, by test.
struct Log {
  std::mutex mu;
  std::vector<std::pair<void*, int64_t>> calls;  // object, its value then
  std::vector<void*> resurrect_into;             // unused slots for tests
  void** resurrect_slot = nullptr;
  std::thread::id thread;
};

void RecordFinalizer(gc_mutator*, void* obj, void* data) {
  auto* log = static_cast<Log*>(data);
  std::lock_guard<std::mutex> g(log->mu);
  log->calls.push_back({obj, static_cast<Cell*>(obj)->value});
  log->thread = std::this_thread::get_id();
  if (log->resurrect_slot != nullptr) *log->resurrect_slot = obj;
}

void CountCleanup(gc_mutator*, void* arg) {
  static_cast<std::atomic<int>*>(arg)->fetch_add(1);
}

class FinalizeApiTest : public GcTest {
 protected:
  static constexpr int kRoots = 8;
  void* roots_[kRoots] = {};
  void SetUp() override {
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.verify = 1;
    cfg.finalizer_thread = 0;  // on demand: the test runs them
    Init(&cfg);
    ASSERT_EQ(gc_add_root_range(heap_, roots_, kRoots), 0);
  }
  void TearDown() override {
    if (heap_ != nullptr) gc_remove_root_range(heap_, roots_, kRoots);
    GcTest::TearDown();
  }
  void Finalize(void* obj, int mode = GC_FINALIZE_ORDERED) {
    ASSERT_EQ(gc_register_finalizer(m_, obj, &RecordFinalizer, &log_, mode), 0)
        << gc_last_error();
  }
  // A collection, then every ready finalizer; returns the values of the
  // objects finalized, sorted.
  std::vector<int64_t> CollectAndRun() {
    gc_collect(m_);
    {
      std::lock_guard<std::mutex> g(log_.mu);
      log_.calls.clear();
    }
    gc_run_finalizers(m_);
    std::vector<int64_t> v;
    std::lock_guard<std::mutex> g(log_.mu);
    for (auto& c : log_.calls) v.push_back(c.second);
    std::sort(v.begin(), v.end());
    return v;
  }
  using V = std::vector<int64_t>;
  Log log_;
};

TEST_F(FinalizeApiTest, AFinalizerRunsOnceAfterItsObjectIsUnreachable) {
  Cell* a = NewCell(nullptr, nullptr, 7);
  roots_[0] = a;
  Finalize(a);
  EXPECT_EQ(CollectAndRun(), V{});
  EXPECT_EQ(gc_finalizers_pending(heap_), 0u);
  roots_[0] = nullptr;
  gc_collect(m_);
  EXPECT_EQ(gc_finalizers_pending(heap_), 1u);
  EXPECT_EQ(Stats().live_objects, 1u);  // kept (revived) for the finalizer
  EXPECT_EQ(gc_run_finalizers(m_), 1);
  ASSERT_EQ(log_.calls.size(), 1u);
  EXPECT_EQ(log_.calls[0].first, a);
  EXPECT_EQ(log_.calls[0].second, 7);  // intact
  EXPECT_EQ(CollectAndRun(), V{});     // once
  EXPECT_EQ(Stats().live_objects, 0u);
}

TEST_F(FinalizeApiTest, AReadyFinalizersObjectAndWhatItReachesStayUntilItRan) {
  Cell* b = NewCell(nullptr, nullptr, 2);
  Cell* a = NewCell(b, nullptr, 1);
  Finalize(a);
  gc_collect(m_);
  gc_collect(m_);  // still queued: a root
  EXPECT_EQ(Stats().live_objects, 2u);
  EXPECT_EQ(gc_run_finalizers(m_), 1);
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 0u);
}

TEST_F(FinalizeApiTest, AResurrectedObjectLivesOnWithoutAFinalizer) {
  Cell* a = NewCell(nullptr, nullptr, 3);
  Finalize(a);
  log_.resurrect_slot = &roots_[1];
  EXPECT_EQ(CollectAndRun(), V{3});
  log_.resurrect_slot = nullptr;
  EXPECT_EQ(roots_[1], a);
  EXPECT_EQ(CollectAndRun(), V{});
  EXPECT_EQ(Stats().live_objects, 1u);
  EXPECT_EQ(static_cast<Cell*>(roots_[1])->value, 3);
  roots_[1] = nullptr;
  EXPECT_EQ(CollectAndRun(), V{});  // no second call
  EXPECT_EQ(Stats().live_objects, 0u);
}

TEST_F(FinalizeApiTest, AnOrderedChainIsFinalizedOneLinkPerCycle) {
  Cell* c = NewCell(nullptr, nullptr, 3);
  Cell* b = NewCell(c, nullptr, 2);
  Cell* a = NewCell(b, nullptr, 1);
  Finalize(a);
  Finalize(b);
  Finalize(c);
  EXPECT_EQ(CollectAndRun(), V{1});
  EXPECT_EQ(CollectAndRun(), V{2});
  EXPECT_EQ(CollectAndRun(), V{3});
  EXPECT_EQ(CollectAndRun(), V{});
  EXPECT_EQ(Stats().live_objects, 0u);
}

// GC_FINALIZE_UNREACHABLE: an unordered object made ready reaches b, so b
// waits (with GC_FINALIZE_UNORDERED it would run in the same cycle); c,
// reached by nothing, runs at once.
TEST_F(FinalizeApiTest, UnreachableModeWaitsWhileAReadyObjectReachesIt) {
  Cell* b = NewCell(nullptr, nullptr, 2);
  Cell* a = NewCell(b, nullptr, 1);
  Cell* c = NewCell(nullptr, nullptr, 3);
  Finalize(a, GC_FINALIZE_UNORDERED);
  Finalize(b, GC_FINALIZE_UNREACHABLE);
  Finalize(c, GC_FINALIZE_UNREACHABLE);
  EXPECT_EQ(CollectAndRun(), (V{1, 3}));
  EXPECT_EQ(CollectAndRun(), V{2});
  EXPECT_EQ(CollectAndRun(), V{});
  EXPECT_EQ(Stats().live_objects, 0u);
}

TEST_F(FinalizeApiTest, OrderedCyclesAreNeverFinalizedIgnoreSelfLoopsAre) {
  Cell* a = NewCell(nullptr, nullptr, 1);
  Cell* b = NewCell(a, nullptr, 2);
  gc_write_barrier(m_, a, &a->car, b);  // a <-> b
  Finalize(a);
  Finalize(b);
  Cell* self = NewCell(nullptr, nullptr, 3);
  gc_write_barrier(m_, self, &self->car, self);
  Finalize(self);
  Cell* ignore = NewCell(nullptr, nullptr, 4);
  gc_write_barrier(m_, ignore, &ignore->car, ignore);
  Finalize(ignore, GC_FINALIZE_IGNORE_SELF);
  EXPECT_EQ(CollectAndRun(), V{4});
  EXPECT_EQ(CollectAndRun(), V{});  // the documented leak
  EXPECT_EQ(Stats().live_objects, 3u);
}

TEST_F(FinalizeApiTest, UnorderedCyclesAreFinalizedTogether) {
  Cell* a = NewCell(nullptr, nullptr, 1);
  Cell* b = NewCell(a, nullptr, 2);
  gc_write_barrier(m_, a, &a->car, b);
  Finalize(a, GC_FINALIZE_UNORDERED);
  Finalize(b, GC_FINALIZE_UNORDERED);
  EXPECT_EQ(CollectAndRun(), (V{1, 2}));
  EXPECT_EQ(CollectAndRun(), V{});
  EXPECT_EQ(Stats().live_objects, 0u);
}

TEST_F(FinalizeApiTest, AnOrderedObjectHoldsBackAnUnorderedOneItReaches) {
  // Boehm's rule: ordered 1 -> unordered 2 (2 waits a cycle); unordered
  // 3 -> ordered 4 (both at once).
  Cell* two = NewCell(nullptr, nullptr, 2);
  Cell* one = NewCell(two, nullptr, 1);
  Cell* four = NewCell(nullptr, nullptr, 4);
  Cell* three = NewCell(four, nullptr, 3);
  Finalize(one);
  Finalize(two, GC_FINALIZE_UNORDERED);
  Finalize(three, GC_FINALIZE_UNORDERED);
  Finalize(four);
  EXPECT_EQ(CollectAndRun(), (V{1, 3, 4}));
  EXPECT_EQ(CollectAndRun(), V{2});
}

TEST_F(FinalizeApiTest, ReplacingAndRemovingARegistration) {
  Cell* a = NewCell(nullptr, nullptr, 1);
  Log other;
  ASSERT_EQ(gc_register_finalizer(m_, a, &RecordFinalizer, &other,
                                  GC_FINALIZE_ORDERED),
            0);
  Finalize(a);  // replaces: log_ gets the call
  Cell* b = NewCell(nullptr, nullptr, 2);
  Finalize(b);
  ASSERT_EQ(gc_register_finalizer(m_, b, nullptr, nullptr, 0), 0);
  EXPECT_EQ(CollectAndRun(), V{1});
  EXPECT_TRUE(other.calls.empty());
}

TEST_F(FinalizeApiTest, ErrorsAreReported) {
  int64_t on_stack = 0;
  EXPECT_EQ(gc_register_finalizer(m_, &on_stack, &RecordFinalizer, &log_, 0),
            -1);
  EXPECT_NE(std::string(gc_last_error()).find("not an object of this heap"),
            std::string::npos);
  Cell* a = NewCell(nullptr, nullptr, 1);
  EXPECT_EQ(gc_register_finalizer(m_, a, &RecordFinalizer, &log_, 4), -1);
  EXPECT_NE(std::string(gc_last_error()).find("GC_FINALIZE_ORDERED"),
            std::string::npos);
  EXPECT_EQ(gc_add_cleanup(m_, a, nullptr, nullptr), nullptr);
  EXPECT_EQ(gc_add_cleanup(m_, &on_stack, &CountCleanup, nullptr), nullptr);
  gc_guardian* g = gc_guardian_create(heap_);
  EXPECT_EQ(gc_guardian_register(m_, g, &on_stack, 0), -1);
  gc_guardian_destroy(g);
}

TEST_F(FinalizeApiTest, ShortWeakGoesBeforeTheFinalizerLongWhenFreed) {
  Cell* a = NewCell(nullptr, nullptr, 5);
  Cell* kid = NewCell(nullptr, nullptr, 6);  // reached only through a
  gc_write_barrier(m_, a, &a->car, kid);
  gc_weak* ws = gc_weak_create(m_, a, GC_WEAK_SHORT);
  gc_weak* wl = gc_weak_create(m_, a, GC_WEAK_LONG);
  gc_weak* wks = gc_weak_create(m_, kid, GC_WEAK_SHORT);
  gc_weak* wkl = gc_weak_create(m_, kid, GC_WEAK_LONG);
  Finalize(a);
  gc_collect(m_);
  // Revived for the finalizer: not strongly reachable.
  EXPECT_EQ(gc_weak_get(m_, ws), nullptr);
  EXPECT_EQ(gc_weak_get(m_, wks), nullptr);
  EXPECT_EQ(gc_weak_get(m_, wl), a);
  EXPECT_EQ(gc_weak_get(m_, wkl), kid);
  EXPECT_EQ(gc_run_finalizers(m_), 1);
  gc_collect(m_);  // freed now
  EXPECT_EQ(gc_weak_get(m_, wl), nullptr);
  EXPECT_EQ(gc_weak_get(m_, wkl), nullptr);
  for (gc_weak* w : {ws, wl, wks, wkl}) gc_weak_destroy(m_, w);
}

TEST_F(FinalizeApiTest, ALongWeakReadOfAFinalizedObjectMayResurrectIt) {
  Cell* a = NewCell(nullptr, nullptr, 8);
  gc_weak* wl = gc_weak_create(m_, a, GC_WEAK_LONG);
  Finalize(a);
  gc_collect(m_);
  EXPECT_EQ(gc_run_finalizers(m_), 1);
  roots_[0] = gc_weak_get(m_, wl);  // not freed yet: a strong reference
  ASSERT_EQ(roots_[0], a);
  gc_collect(m_);
  EXPECT_EQ(gc_weak_get(m_, wl), a);
  EXPECT_EQ(static_cast<Cell*>(roots_[0])->value, 8);
  roots_[0] = nullptr;
  gc_collect(m_);
  EXPECT_EQ(gc_weak_get(m_, wl), nullptr);
  gc_weak_destroy(m_, wl);
}

// Lua 5.4: a resurrected object leaves weak values before its finalizer
// runs, and weak keys only after (the entry keyed by it stays until it is
// freed).
TEST_F(FinalizeApiTest, LuaWeakTablesAroundAFinalizedObject) {
  static const uint64_t kWeak = 0b01;
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.name = "WeakValueSlot";
  d.size = 8;
  d.weak_bitmap = &kWeak;
  d.weak_bitmap_words = 1;
  gc_type_id weak_values = gc_register_type(heap_, &d);
  ASSERT_NE(weak_values, 0u) << gc_last_error();
  Cell* obj = NewCell(nullptr, nullptr, 9);
  roots_[0] = obj;
  // A table with obj as a weak value, and one with obj as a weak key.
  void** tv = static_cast<void**>(gc_alloc(m_, weak_values, 8));
  roots_[1] = tv;
  gc_weak_store(m_, tv, &tv[0], roots_[0]);
  Cell* val = NewCell(nullptr, nullptr, 10);
  roots_[3] = val;
  roots_[2] = gc_ephemeron_new(m_, roots_[0], val);
  roots_[3] = nullptr;
  obj = static_cast<Cell*>(roots_[0]);
  Finalize(obj);
  roots_[0] = nullptr;
  gc_collect(m_);
  // Before the finalizer runs: the weak value is gone, the weak key stays.
  EXPECT_EQ(gc_weak_load(m_, tv, &tv[0]), nullptr);
  EXPECT_EQ(gc_ephemeron_key(m_, roots_[2]), obj);
  EXPECT_EQ(static_cast<Cell*>(gc_ephemeron_value(m_, roots_[2]))->value, 10);
  EXPECT_EQ(gc_run_finalizers(m_), 1);
  gc_collect(m_);  // freed: the entry goes
  EXPECT_EQ(gc_ephemeron_key(m_, roots_[2]), nullptr);
  EXPECT_EQ(gc_ephemeron_value(m_, roots_[2]), nullptr);
}

TEST_F(FinalizeApiTest, CleanupsRunAfterTheObjectIsFreedAndCanBeCancelled) {
  std::atomic<int> ran{0}, cancelled{0};
  Cell* a = NewCell(nullptr, nullptr, 1);
  roots_[0] = a;
  ASSERT_NE(gc_add_cleanup(m_, a, &CountCleanup, &ran), nullptr);
  ASSERT_NE(gc_add_cleanup(m_, a, &CountCleanup, &ran), nullptr);
  gc_cleanup* c = gc_add_cleanup(m_, a, &CountCleanup, &cancelled);
  gc_collect(m_);
  EXPECT_EQ(gc_run_finalizers(m_), 0);
  gc_cancel_cleanup(m_, c);  // registered: removed
  roots_[0] = nullptr;
  gc_collect(m_);
  EXPECT_EQ(gc_finalizers_pending(heap_), 2u);
  EXPECT_EQ(gc_run_finalizers(m_), 2);
  EXPECT_EQ(ran.load(), 2);
  EXPECT_EQ(cancelled.load(), 0);
  // Cancelled after its object was freed, before it ran.
  Cell* b = NewCell(nullptr, nullptr, 2);
  c = gc_add_cleanup(m_, b, &CountCleanup, &cancelled);
  gc_collect(m_);
  EXPECT_EQ(gc_finalizers_pending(heap_), 1u);
  gc_cancel_cleanup(m_, c);
  EXPECT_EQ(gc_run_finalizers(m_), 0);
  EXPECT_EQ(cancelled.load(), 0);
}

TEST_F(FinalizeApiTest, ACleanupOfAFinalizedObjectRunsOnceItIsFreed) {
  std::atomic<int> ran{0};
  Cell* a = NewCell(nullptr, nullptr, 1);
  Finalize(a);
  gc_add_cleanup(m_, a, &CountCleanup, &ran);
  EXPECT_EQ(CollectAndRun(), V{1});
  EXPECT_EQ(ran.load(), 0);  // revived: not freed yet
  EXPECT_EQ(CollectAndRun(), V{});
  EXPECT_EQ(ran.load(), 1);
}

TEST_F(FinalizeApiTest, GuardiansHandObjectsBackRevived) {
  gc_guardian* g = gc_guardian_create(heap_);
  ASSERT_NE(g, nullptr);
  Cell* b = NewCell(nullptr, nullptr, 2);
  Cell* a = NewCell(b, nullptr, 1);
  ASSERT_EQ(gc_guardian_register(m_, g, a, GC_FINALIZE_ORDERED), 0);
  gc_weak* ws = gc_weak_create(m_, a, GC_WEAK_SHORT);
  EXPECT_EQ(gc_guardian_pop(m_, g), nullptr);
  gc_collect(m_);
  gc_collect(m_);  // queued: a root until popped
  EXPECT_EQ(gc_weak_get(m_, ws), nullptr);
  void* got = gc_guardian_pop(m_, g);
  ASSERT_EQ(got, a);
  roots_[0] = got;
  EXPECT_EQ(static_cast<Cell*>(got)->value, 1);
  EXPECT_EQ(static_cast<Cell*>(static_cast<Cell*>(got)->car)->value, 2);
  EXPECT_EQ(gc_guardian_pop(m_, g), nullptr);
  EXPECT_EQ(gc_finalizers_pending(heap_), 0u);
  roots_[0] = nullptr;
  gc_collect(m_);  // the registration was used: it is freed now
  EXPECT_EQ(Stats().live_objects, 0u);
  // Destroying a guardian drops what it holds and its registrations.
  Cell* c = NewCell(nullptr, nullptr, 3);
  gc_guardian_register(m_, g, c, GC_FINALIZE_UNORDERED);
  Cell* d = NewCell(nullptr, nullptr, 4);
  roots_[1] = d;
  gc_guardian_register(m_, g, d, GC_FINALIZE_UNORDERED);
  gc_collect(m_);  // c queued
  gc_guardian_destroy(g);
  roots_[1] = nullptr;
  gc_collect(m_);
  EXPECT_EQ(Stats().live_objects, 0u);
  gc_weak_destroy(m_, ws);
}

void NotifyCount(gc_heap*, void* data) {
  static_cast<std::atomic<int>*>(data)->fetch_add(1);
}

TEST_F(FinalizeApiTest, TheNotifierIsCalledWhenFinalizersBecomeReady) {
  std::atomic<int> notified{0};
  gc_set_finalizer_notifier(heap_, &NotifyCount, &notified);
  gc_collect(m_);
  EXPECT_EQ(notified.load(), 0);
  Finalize(NewCell(nullptr, nullptr, 1));
  gc_collect(m_);  // the driver notifies after the cycle, before it ends
  EXPECT_EQ(notified.load(), 1);
  EXPECT_EQ(gc_run_finalizers(m_), 1);
  gc_set_finalizer_notifier(heap_, nullptr, nullptr);
}

// The heap's finalizer thread (the default) runs finalizers on its own
// thread, where they may allocate.
void AllocatingFinalizer(gc_mutator* m, void* obj, void* data) {
  auto* log = static_cast<Log*>(data);
  void* p = gc_alloc_noscan(m, 64);  // allocation works there
  std::lock_guard<std::mutex> g(log->mu);
  log->calls.push_back({obj, p != nullptr ? 1 : 0});
  log->thread = std::this_thread::get_id();
}

TEST(FinalizerThreadTest, FinalizersRunOnTheHeapsThreadAndMayAllocate) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  EXPECT_EQ(cfg.finalizer_thread, 1);
  gc_heap* h = gc_heap_create(&cfg);
  gc_mutator* m = gc_thread_attach(h);
  gc_type_id cell = RegisterCell(h);
  Log log;
  for (int i = 0; i < 100; i++) {
    void* o = gc_alloc(m, cell, sizeof(Cell));
    ASSERT_EQ(gc_register_finalizer(m, o, &AllocatingFinalizer, &log, i % 3),
              0);
  }
  const auto deadline = std::chrono::steady_clock::now() + kLiveness;
  for (;;) {
    gc_collect(m);
    {
      std::lock_guard<std::mutex> g(log.mu);
      if (log.calls.size() == 100) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    gc_enter_blocking(m);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    gc_leave_blocking(m);
  }
  std::lock_guard<std::mutex> g(log.mu);
  EXPECT_NE(log.thread, std::this_thread::get_id());
  for (auto& c : log.calls) EXPECT_EQ(c.second, 1);
  gc_thread_detach(m);
  gc_heap_destroy(h);  // stops the finalizer thread (it is attached)
}

// A concurrent heap whose next cycle has a finalizer phase (an unreachable
// object with a finalizer, value 1: doomed_) and two root slots; Enter starts
// that cycle on a collector thread and returns once the phase runs (the phase
// hook holds the collector there), Leave lets the cycle finish.
class FinalizerPhaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.verify = 1;
    cfg.stop_the_world = 0;
    cfg.finalizer_thread = 0;
    h_ = gc_heap_create(&cfg);
    ASSERT_NE(h_, nullptr) << gc_last_error();
    m_ = gc_thread_attach(h_);
    cell_ = RegisterCell(h_);
    ASSERT_EQ(gc_add_root_range(h_, roots_, 2), 0);
    auto* doomed = static_cast<Cell*>(gc_alloc(m_, cell_, sizeof(Cell)));
    doomed->value = 1;
    ASSERT_EQ(gc_register_finalizer(m_, doomed, &RecordFinalizer, &log_, 0), 0);
    doomed_ = doomed;  // (not a root: nothing scans the fixture)
  }
  void TearDown() override {
    if (h_ == nullptr) return;
    if (collector_.joinable()) Leave();
    gc_remove_root_range(h_, roots_, 2);
    gc_thread_detach(m_);
    gc_heap_destroy(h_);
  }
  // decided: hold the phase after the decision instead of before it.
  void Enter(bool decided = false) {
    auto hold = [this] {
      in_phase_ = true;
      while (!release_) std::this_thread::yield();
    };
    if (decided) {
      h_->collector->SetFinalizerDecidedHookForTesting(hold);
    } else {
      h_->collector->SetFinalizerPhaseHookForTesting(hold);
    }
    collector_ = std::thread([this] {
      gc_mutator* cm = gc_thread_attach(h_);
      gc_collect(cm);
      gc_thread_detach(cm);
    });
    while (!in_phase_) {
      gc_safepoint(m_);
      std::this_thread::yield();
    }
  }
  void Leave() {
    release_ = true;
    gc_enter_blocking(m_);
    collector_.join();
    gc_leave_blocking(m_);
    h_->collector->SetFinalizerPhaseHookForTesting(nullptr);
    h_->collector->SetFinalizerDecidedHookForTesting(nullptr);
  }
  // Leaves the phase; then only the object of SetUp was finalized, and
  // fresh (value 2, rooted) survived the cycle with its short weak handle
  // s_fresh, which is destroyed.
  void LeaveAndExpectKept(Cell* fresh, gc_weak* s_fresh) {
    Leave();
    EXPECT_EQ(gc_run_finalizers(m_), 1);
    {
      std::lock_guard<std::mutex> g(log_.mu);
      EXPECT_EQ(log_.calls.size(), 1u);
      if (!log_.calls.empty()) EXPECT_EQ(log_.calls[0].second, 1);
    }
    EXPECT_EQ(gc_weak_get(m_, s_fresh), fresh);
    EXPECT_EQ(fresh->value, 2);
    gc_weak_destroy(m_, s_fresh);
  }
  gc_heap* h_ = nullptr;
  gc_mutator* m_ = nullptr;
  gc_type_id cell_ = 0;
  void* roots_[2] = {};
  void* doomed_ = nullptr;  // the finalizable object, unreachable
  Log log_;
  std::atomic<bool> in_phase_{false}, release_{false};
  std::thread collector_;
};

// Weak reads while a concurrent cycle's finalizer phase runs: a short read
// of an object only finalization keeps is NULL, of a strongly reachable one
// the object; a long read returns it (and revives it for this cycle).
TEST_F(FinalizerPhaseTest, WeakReadsDuringTheFinalizerPhase) {
  void* root = gc_alloc(m_, cell_, sizeof(Cell));
  roots_[0] = root;
  gc_weak* s_live = gc_weak_create(m_, root, GC_WEAK_SHORT);
  gc_weak* s_dead = gc_weak_create(m_, doomed_, GC_WEAK_SHORT);
  gc_weak* l_dead = gc_weak_create(m_, doomed_, GC_WEAK_LONG);
  Enter();
  EXPECT_EQ(h_->collector->phase(), GcPhase::kMarkFinalizers);
  EXPECT_EQ(gc_weak_get(m_, s_live), root);
  EXPECT_EQ(gc_weak_get(m_, s_dead), nullptr);
  EXPECT_EQ(gc_weak_get(m_, s_dead), nullptr);  // and stays so
  EXPECT_EQ(gc_weak_get(m_, l_dead), doomed_);
  Leave();
  // The long read shaded doomed before the decision: it was revived by the
  // read, not made ready; its finalizer waits for the next cycle.
  EXPECT_EQ(gc_run_finalizers(m_), 0);
  EXPECT_EQ(gc_weak_get(m_, s_dead), nullptr);
  EXPECT_EQ(gc_weak_get(m_, l_dead), doomed_);
  gc_collect(m_);
  EXPECT_EQ(gc_run_finalizers(m_), 1);
  for (gc_weak* w : {s_live, s_dead, l_dead}) gc_weak_destroy(m_, w);
}

// An object allocated while a concurrent cycle marks is black: live for
// the cycle although its mcache marks it only when the span leaves it
// (heap/mcache.h). Allocated, rooted and registered during the finalizer
// phase, before the decision: a short weak read of it returns it, and the
// decision does not take it for unreachable (it would finalize a rooted
// object). Fails if the decision or the read look at the mark bit alone.
TEST_F(FinalizerPhaseTest, ObjectsAllocatedDuringThePhaseAreLiveForIt) {
  Enter();
  ASSERT_EQ(h_->collector->phase(), GcPhase::kMarkFinalizers);
  auto* fresh = static_cast<Cell*>(gc_alloc(m_, cell_, sizeof(Cell)));
  ASSERT_NE(fresh, nullptr);
  fresh->value = 2;
  roots_[0] = fresh;
  ASSERT_EQ(gc_register_finalizer(m_, fresh, &RecordFinalizer, &log_, 0), 0);
  gc_weak* s_fresh = gc_weak_create(m_, fresh, GC_WEAK_SHORT);
  EXPECT_EQ(gc_weak_get(m_, s_fresh), fresh);
  LeaveAndExpectKept(fresh, s_fresh);
}

// An object allocated black during the mark whose allocation window closed
// (its slot reads as allocated, its mark bit is still clear until the
// mcache marks it in bulk) and that is shaded during the finalizer phase,
// as gc_ephemeron_new's barrier shades its key, is strongly live: the
// revive-mode marker must not take it for unmarked and revive it, which
// cleared its short weak references although a root held it
// (WeakRootsStressTest.HandlesHoldEphemeronKeysWhileCyclesMark, bad=2).
// The mcache's SyncAll closes the window deterministically, as the next
// window or a heap walk does. Fails without Marker::Revive's black check.
TEST_F(FinalizerPhaseTest, BlackObjectsShadedDuringThePhaseAreNotRevived) {
  auto* holder = static_cast<Cell*>(gc_alloc(m_, cell_, sizeof(Cell)));
  ASSERT_NE(holder, nullptr);
  roots_[0] = holder;
  Enter();
  ASSERT_EQ(h_->collector->phase(), GcPhase::kMarkFinalizers);
  auto* fresh = static_cast<Cell*>(gc_alloc(m_, cell_, sizeof(Cell)));
  ASSERT_NE(fresh, nullptr);
  fresh->value = 2;
  roots_[1] = fresh;
  gc_weak* s_fresh = gc_weak_create(m_, fresh, GC_WEAK_SHORT);
  m_->mcache->SyncAll();  // its window closes; its span stays cached
  ObjectRef r;
  ASSERT_TRUE(h_->heap.FindObject(reinterpret_cast<uintptr_t>(fresh), &r));
  ASSERT_TRUE(r.span->IsAllocated(r.index));
  ASSERT_FALSE(r.span->IsMarked(r.index));  // not yet marked in bulk
  ASSERT_TRUE(r.span->IsMarkedOrBlack(r.index));
  // The barrier shades the new value; the decision's drain greys it.
  gc_write_barrier(m_, holder, &holder->car, fresh);
  EXPECT_EQ(gc_weak_get(m_, s_fresh), fresh);
  LeaveAndExpectKept(fresh, s_fresh);
}

// What a concurrent cycle's decision makes ready is handed back only once
// the cycle's clearing point is behind (mark termination): the decision
// runs with the mutators running, and an object popped from its guardian
// (or finalized and resurrected) before that still carried its revive
// bit, so a short weak handle the program made to it then, while holding
// it in a root, read NULL and was cleared by the sweep (the threaded
// soak's oracle: "gc_weak_get(wslot 2) returned (nil), expected id=..."),
// as a reference made before the clearing point. Held after the decision:
// nothing can be popped or run; once the cycle ends, the object is handed
// back and a short handle made to it stays. Fails without
// Finalization::ReleaseDecided (the pop returns the object in the phase,
// and the handle reads NULL after it).
TEST_F(FinalizerPhaseTest, WhatTheDecisionMadeReadyIsHandedBackAfterThePhase) {
  gc_guardian* g = gc_guardian_create(h_);
  ASSERT_NE(g, nullptr);
  auto* guarded = static_cast<Cell*>(gc_alloc(m_, cell_, sizeof(Cell)));
  ASSERT_NE(guarded, nullptr);
  guarded->value = 3;
  ASSERT_EQ(gc_guardian_register(m_, g, guarded, GC_FINALIZE_ORDERED), 0);
  Enter(/*decided=*/true);
  ASSERT_EQ(h_->collector->phase(), GcPhase::kMarkFinalizers);
  // Both doomed_ (a finalizer) and guarded were made ready: held back.
  EXPECT_EQ(gc_finalizers_pending(h_), 0u);
  EXPECT_EQ(gc_run_finalizers(m_), 0);
  void* got = gc_guardian_pop(m_, g);
  EXPECT_EQ(got, nullptr) << "handed back before the clearing point";
  gc_weak* s_got = nullptr;
  if (got != nullptr) {
    // What a program does with what its guardian hands back.
    roots_[1] = got;
    s_got = gc_weak_create(m_, got, GC_WEAK_SHORT);
  }
  Leave();
  if (got == nullptr) {
    got = gc_guardian_pop(m_, g);
    ASSERT_EQ(got, guarded);
    roots_[1] = got;
    s_got = gc_weak_create(m_, got, GC_WEAK_SHORT);
  }
  ASSERT_NE(s_got, nullptr) << gc_last_error();
  EXPECT_EQ(gc_weak_get(m_, s_got), guarded);
  gc_collect(m_);  // sweeps what is left of the decision's cycle, and more
  EXPECT_EQ(gc_weak_get(m_, s_got), guarded);
  EXPECT_EQ(guarded->value, 3);
  EXPECT_EQ(gc_run_finalizers(m_), 1);  // doomed_'s
  EXPECT_EQ(gc_guardian_pop(m_, g), nullptr);
  gc_weak_destroy(m_, s_got);
  roots_[1] = nullptr;
  gc_guardian_destroy(g);
}

// Threads register finalizers (all three modes), guardians and cleanups on
// objects they then drop or keep, while cycles run; the heap's finalizer
// thread runs the finalizers. At the end every dropped registration must
// have been honoured exactly once: each finalizer saw its own intact
// object, each cleanup ran, each guardian entry was popped once.
TEST(FinalizeStressTest, RegistrationsDuringCyclesAreEachHonouredOnce) {
  gc_heap* h = NewStressHeap();
  ASSERT_NE(h, nullptr);
  gc_type_id cell = RegisterCell(h);
  gc_guardian* guardian = gc_guardian_create(h);
  constexpr int kThreads = 4, kPerThread = 20000;
  // Object magic -> how often its finalizer ran / it was popped.
  std::vector<std::atomic<int>> fin_count(kThreads * kPerThread);
  std::atomic<int> bad{0}, cleanups{0}, cleanups_expected{0}, popped{0},
      guarded{0};
  struct Ctx {
    std::vector<std::atomic<int>>* counts;
    std::atomic<int>* bad;
  } ctx{&fin_count, &bad};
  const gc_finalizer_fn check = [](gc_mutator*, void* obj, void* data) {
    auto* c = static_cast<Ctx*>(data);
    const int64_t v = static_cast<Cell*>(obj)->value;
    if (v < 0 || v >= static_cast<int64_t>(c->counts->size())) {
      c->bad->fetch_add(1);
      return;
    }
    (*c->counts)[v].fetch_add(1);
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(h);
      void* keep[16] = {};
      gc_add_root_range(h, keep, 16);
      std::mt19937 rng(t + 1);
      for (int i = 0; i < kPerThread; i++) {
        auto* o = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
        o->value = t * kPerThread + i;
        switch (rng() % 4) {
          case 0:
          case 1:
            gc_register_finalizer(m, o, check, &ctx,
                                  static_cast<int>(rng() % 3));
            break;
          case 2:
            gc_guardian_register(m, guardian, o, static_cast<int>(rng() % 3));
            guarded++;
            break;
          case 3:
            gc_add_cleanup(m, o, &CountCleanup, &cleanups);
            cleanups_expected++;
            break;
        }
        // Kept a while in a root slot, then dropped when replaced.
        keep[rng() % 16] = o;
        for (int k = 0; k < 4; k++) gc_alloc(m, cell, sizeof(Cell));
        if (t == 0 && i % 500 == 0) gc_collect(m);
        if (t == 1 && i % 7 == 0) {
          while (void* p = gc_guardian_pop(m, guardian)) {
            const int64_t v = static_cast<Cell*>(p)->value;
            if (v < 0 || v >= kThreads * kPerThread) {
              bad++;
            } else {
              fin_count[v]++;
              popped++;
            }
          }
        }
      }
      gc_remove_root_range(h, keep, 16);
      gc_thread_detach(m);
    });
  }
  for (auto& th : ts) th.join();
  // Everything is unreachable now: a few collections finalize it all.
  gc_mutator* m = gc_thread_attach(h);
  const auto deadline = std::chrono::steady_clock::now() + kLiveness;
  for (;;) {
    gc_collect(m);
    while (void* p = gc_guardian_pop(m, guardian)) {
      fin_count[static_cast<Cell*>(p)->value]++;
      popped++;
    }
    int done = 0;
    for (auto& c : fin_count) done += c.load() > 0;
    const int expected = kThreads * kPerThread - cleanups_expected.load();
    if (done == expected && cleanups.load() == cleanups_expected.load() &&
        gc_finalizers_pending(h) == 0) {
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << done << " of " << expected << " finalized, " << cleanups.load()
        << " of " << cleanups_expected.load() << " cleanups";
    gc_enter_blocking(m);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    gc_leave_blocking(m);
  }
  int twice = 0;
  for (auto& c : fin_count) twice += c.load() > 1;
  printf("%d guardian pops, %d cleanups, %lu cycles\n", popped.load(),
         cleanups.load(), static_cast<unsigned long>(GetStats(h).cycles));
  EXPECT_EQ(twice, 0);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(popped.load(), guarded.load());
  gc_thread_detach(m);
  gc_guardian_destroy(guardian);
  gc_heap_destroy(h);
}

}  // namespace
}  // namespace gcheap
