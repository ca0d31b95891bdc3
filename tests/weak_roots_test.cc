// Tests of issue 12's two halves together: weak references, ephemerons and
// finalization (runtime/weak_api.cc, runtime/finalize_api.cc) against each
// thread's own roots and the conservative roots (runtime/thread_roots.h,
// gc/conservative.h). Every way a mutator or the heap can hold an object
// other than a precise registered slot (a handle, a mutator root scanner,
// a conservative root range, a word of a conservative object, a stack word
// with conservative stacks) must count as a strong reference for weak
// handles, ephemeron keys and the finalizer decision; once the hold goes,
// the weak references clear and finalizers run. Finalization's pass 1
// scans a conservative candidate's words as ambiguous words (Boehm's order
// through conservative objects). (weak_api_test checks that gc_trace_weak
// from a mutator root scanner is refused, as from a heap scanner.)
// A stress test runs threads whose handles hold ephemeron keys and
// finalizable objects while concurrent cycles mark (the thread-root scans
// grey keys whose ephemerons may already wait: the Dekker pair).
//
// weak_roots_test runs with concurrent marking, weak_roots_test_stw with
// stop-the-world cycles (GC_STW=1); verification is on in every heap.
// Without conservative stacks the outcomes are exact (nothing scans the
// C stack); with them only "held means kept" is asserted.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"
#include "tests/gc_test_util.h"
#include "tests/thread_roots_test_util.h"

namespace gcheap {
namespace {

// Finalizers record the objects they ran for.
struct FinalizedLog {
  std::mutex mu;
  std::set<void*> objs;
  bool Has(void* p) {
    std::lock_guard<std::mutex> g(mu);
    return objs.count(p) != 0;
  }
  // Once an object is freed its address may be reused; a finalizer
  // recorded for the old object ran before it was freed.
  void Forget(void* p) {
    std::lock_guard<std::mutex> g(mu);
    objs.erase(p);
  }
  size_t size() {
    std::lock_guard<std::mutex> g(mu);
    return objs.size();
  }
};

void RecordFinalized(gc_mutator*, void* obj, void* data) {
  auto* log = static_cast<FinalizedLog*>(data);
  std::lock_guard<std::mutex> g(log->mu);
  log->objs.insert(obj);
}

// A mutator root scanner reporting one slot (data).
void ScanOneSlot(gc_visit_fn visit, void* visit_ctx, void* data) {
  visit(static_cast<void**>(data), visit_ctx);
}

class WeakRootsTest : public GcTest {
 protected:
  static constexpr int kRoots = 4;
  static constexpr int kHold = kRoots - 1;  // Observe's object, until Held
  void* roots_[kRoots] = {};

  void SetUp() override { InitHeap(/*conservative_stacks=*/false); }
  void InitHeap(bool conservative_stacks) {
    gc_config cfg = RootsConfig(conservative_stacks);
    cfg.finalizer_thread = 0;  // the test runs them (gc_run_finalizers)
    Init(&cfg);
    ASSERT_EQ(gc_add_root_range(heap_, roots_, kRoots), 0);
  }
  void TearDown() override {
    if (heap_ != nullptr) gc_remove_root_range(heap_, roots_, kRoots);
    GcTest::TearDown();
  }
  Cell* NewCell() { return NewMarkedCell(m_, cell_); }
  // A full collection, then every ready finalizer.
  void CollectAndFinalize() {
    gc_collect(m_);
    gc_run_finalizers(m_);
  }
  // An object that only weak references, an ephemeron (keyed by it, in
  // roots_[slot]) and a finalizer observe. The ephemeron's value is a new
  // cell nothing else holds.
  struct Observed {
    Cell* obj;
    gc_weak* weak;
    void* value;
  };
  Observed Observe(int slot) {
    Observed o;
    // Rooted across the allocations (safepoints) by a scope's handles.
    gc_handle_scope scope;
    gc_handle_scope_open(m_, &scope);
    o.obj = NewCell();
    gc_handle_new(m_, o.obj);
    o.value = NewCell();
    gc_handle_new(m_, o.value);
    roots_[slot] = gc_ephemeron_new(m_, o.obj, o.value);
    gc_handle_scope_close(m_, &scope);
    EXPECT_NE(roots_[slot], nullptr) << gc_last_error();
    roots_[kHold] = o.obj;  // until the test holds it its own way (Held)
    o.weak = gc_weak_create(m_, o.obj, GC_WEAK_SHORT);
    EXPECT_NE(o.weak, nullptr) << gc_last_error();
    EXPECT_EQ(gc_register_finalizer(m_, o.obj, &RecordFinalized, &log_,
                                    GC_FINALIZE_ORDERED),
              0)
        << gc_last_error();
    return o;
  }
  // The test now holds Observe's object its own way.
  void Held() { roots_[kHold] = nullptr; }
  // The object is held: weak handle, ephemeron value, no finalizer run.
  void ExpectKept(const Observed& o, int slot) {
    EXPECT_EQ(gc_weak_get(m_, o.weak), o.obj);
    EXPECT_EQ(gc_ephemeron_value(m_, roots_[slot]), o.value);
    EXPECT_TRUE(Valid(o.obj));
    EXPECT_FALSE(log_.Has(o.obj));
  }
  // The object is no longer held: the short weak handle is cleared and its
  // finalizer ran (the ephemeron keeps its entry until the object is freed,
  // one cycle later, gc.h).
  void ExpectFinalized(const Observed& o, int slot) {
    EXPECT_EQ(gc_weak_get(m_, o.weak), nullptr);
    EXPECT_TRUE(log_.Has(o.obj));
    CollectAndFinalize();  // the finalized object is freed
    EXPECT_EQ(gc_ephemeron_value(m_, roots_[slot]), nullptr);
    EXPECT_EQ(gc_ephemeron_key(m_, roots_[slot]), nullptr);
    gc_weak_destroy(m_, o.weak);
    roots_[slot] = nullptr;
  }

  FinalizedLog log_;
};

TEST_F(WeakRootsTest,
       AHandleIsAStrongReferenceForWeaksEphemeronsAndFinalizers) {
  gc_handle_scope scope;
  gc_handle_scope_open(m_, &scope);
  Observed o = Observe(0);
  gc_handle_new(m_, o.obj);
  Held();
  CollectAndFinalize();
  ExpectKept(o, 0);
  gc_handle_scope_close(m_, &scope);
  CollectAndFinalize();
  ExpectFinalized(o, 0);
}

TEST_F(WeakRootsTest, AMutatorScannerIsAStrongReferenceForWeaksAndFinalizers) {
  Observed o = Observe(0);
  static void* slot;
  slot = o.obj;
  ASSERT_EQ(gc_add_mutator_root_scanner(m_, &ScanOneSlot, &slot), 0);
  Held();
  CollectAndFinalize();
  ExpectKept(o, 0);
  ASSERT_EQ(gc_remove_mutator_root_scanner(m_, &ScanOneSlot, &slot), 0);
  slot = nullptr;
  CollectAndFinalize();
  ExpectFinalized(o, 0);
}

TEST_F(WeakRootsTest, AConservativeRangeWordIsAStrongReference) {
  Observed o = Observe(0);
  // An interior address, unaligned inside the range.
  alignas(8) static unsigned char range[3 * sizeof(uintptr_t)];
  const uintptr_t interior = reinterpret_cast<uintptr_t>(o.obj) + 8;
  memcpy(range + 8, &interior, sizeof(interior));
  ASSERT_EQ(gc_add_conservative_root_range(heap_, range, sizeof(range)), 0);
  Held();
  CollectAndFinalize();
  ExpectKept(o, 0);
  memset(range, 0, sizeof(range));
  CollectAndFinalize();
  ExpectFinalized(o, 0);
  ASSERT_EQ(gc_remove_conservative_root_range(heap_, range, sizeof(range)), 0);
}

TEST_F(WeakRootsTest, AConservativeObjectsWordIsAStrongReference) {
  Observed o = Observe(0);
  auto* holder = static_cast<void**>(gc_alloc_conservative(m_, 32));
  ASSERT_NE(holder, nullptr) << gc_last_error();
  roots_[1] = holder;
  // An interior pointer in the third word.
  gc_write_barrier(m_, holder, &holder[2],
                   reinterpret_cast<char*>(o.obj) + sizeof(void*));
  Held();
  CollectAndFinalize();
  ExpectKept(o, 0);
  gc_write_barrier(m_, holder, &holder[2], nullptr);
  CollectAndFinalize();
  ExpectFinalized(o, 0);
  roots_[1] = nullptr;
}

// Boehm's order through a conservative candidate: finalization's pass 1
// resolves its words as ambiguous (an interior pointer holds back the
// object it names), so of A (conservative) -> B, both finalizable and
// unreachable, A is finalized first and B one cycle later.
TEST_F(WeakRootsTest, AConservativeCandidateHoldsBackWhatItsWordsName) {
  auto* a = static_cast<void**>(gc_alloc_conservative(m_, 24));
  ASSERT_NE(a, nullptr) << gc_last_error();
  roots_[0] = a;
  Cell* b = NewCell();
  gc_write_barrier(m_, a, &a[1], reinterpret_cast<char*>(b) + 16);
  ASSERT_EQ(gc_register_finalizer(m_, a, &RecordFinalized, &log_,
                                  GC_FINALIZE_ORDERED),
            0);
  ASSERT_EQ(gc_register_finalizer(m_, b, &RecordFinalized, &log_,
                                  GC_FINALIZE_ORDERED),
            0);
  roots_[0] = nullptr;
  CollectAndFinalize();
  EXPECT_TRUE(log_.Has(a));
  EXPECT_FALSE(log_.Has(b));
  EXPECT_TRUE(Valid(b));  // revived with its finalizable referrer
  CollectAndFinalize();
  EXPECT_TRUE(log_.Has(b));
}

// GC_FINALIZE_IGNORE_SELF: a conservative candidate's own words naming
// itself (an interior address too) do not hold it back.
TEST_F(WeakRootsTest, AConservativeCandidateIgnoringItselfIsFinalized) {
  auto* a = static_cast<void**>(gc_alloc_conservative(m_, 24));
  ASSERT_NE(a, nullptr) << gc_last_error();
  gc_write_barrier(m_, a, &a[0], a);
  gc_write_barrier(m_, a, &a[2], &a[1]);
  ASSERT_EQ(gc_register_finalizer(m_, a, &RecordFinalized, &log_,
                                  GC_FINALIZE_IGNORE_SELF),
            0);
  CollectAndFinalize();
  EXPECT_TRUE(log_.Has(a));
}

// With conservative stacks, an object whose address is in a local variable
// keeps its weak handle, its ephemeron's value and its finalizer. (Only
// this direction is exact: a stale copy of the address may linger on the
// stack after the variable is gone.)
TEST_F(WeakRootsTest, AStackWordIsAStrongReferenceWithConservativeStacks) {
  InitHeap(/*conservative_stacks=*/true);
  Observed o = Observe(0);
  Cell* volatile on_stack = o.obj;
  Held();
  CollectAndFinalize();
  ExpectKept(o, 0);
  EXPECT_EQ(on_stack, o.obj);
  on_stack = nullptr;
  gc_weak_destroy(m_, o.weak);
  roots_[0] = nullptr;
}

// Threads hold ephemeron keys and finalizable objects in handles (and,
// some rounds, through a mutator scanner) while concurrent cycles mark:
// each thread's own roots are scanned by itself or the collector after the
// first pause, greying keys whose ephemerons may already wait on them.
// While a thread holds a key, its entry's value and its weak handle must
// read back and its finalizer must not have run.
TEST(WeakRootsStressTest, HandlesHoldEphemeronKeysWhileCyclesMark) {
  gc_config cfg = RootsConfig(/*conservative_stacks=*/false, /*gc_percent=*/10);
  cfg.finalizer_thread = 0;
  gc_heap* h = gc_heap_create(&cfg);
  ASSERT_NE(h, nullptr) << gc_last_error();
  const gc_type_id cell = RegisterCell(h);
  ASSERT_NE(cell, 0u);
  constexpr int kThreads = 6;  // oversubscribes 2 cores
  constexpr int kRounds = 1500;
  constexpr int kPerRound = 16;
  FinalizedLog log;
  std::atomic<int> failures{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(h);
      // The ephemerons are rooted precisely; their keys only by handles.
      void* ephs[kPerRound] = {};
      gc_weak* weaks[kPerRound] = {};
      void* values[kPerRound] = {};
      ASSERT_EQ(gc_add_root_range(h, ephs, kPerRound), 0);
      static thread_local void* scanned;
      for (int round = 0; round < kRounds; round++) {
        gc_handle_scope scope;
        gc_handle_scope_open(m, &scope);
        void** keys[kPerRound];
        const bool via_scanner = (round + t) % 3 == 0;
        for (int i = 0; i < kPerRound; i++) {
          Cell* key = NewMarkedCell(m, cell);
          log.Forget(key);  // a freed object's address, reused
          keys[i] = gc_handle_new(m, key);
          // The value is rooted across gc_ephemeron_new (a safepoint) by
          // an inner scope's handle; afterwards only the entry holds it.
          gc_handle_scope inner;
          gc_handle_scope_open(m, &inner);
          Cell* value = NewMarkedCell(m, cell);
          values[i] = value;
          gc_handle_new(m, value);
          ephs[i] = gc_ephemeron_new(m, key, value);
          gc_handle_scope_close(m, &inner);
          weaks[i] = gc_weak_create(m, key, GC_WEAK_SHORT);
          if (i % 4 == 0) {
            gc_register_finalizer(m, key, &RecordFinalized, &log,
                                  GC_FINALIZE_ORDERED);
          }
          if (via_scanner && i == 0) {
            scanned = key;
            gc_add_mutator_root_scanner(m, &ScanOneSlot, &scanned);
            *keys[0] = nullptr;  // only the scanner holds key 0
          }
          Churn(m, cell, 20);
        }
        for (int i = 0; i < kPerRound; i++) {
          void* key = (via_scanner && i == 0) ? scanned : *keys[i];
          const int bad =
              (gc_ephemeron_value(m, ephs[i]) != values[i] ? 1 : 0) |
              (gc_weak_get(m, weaks[i]) != key ? 2 : 0) |
              (!Valid(static_cast<Cell*>(values[i])) ? 4 : 0) |
              (!Valid(static_cast<Cell*>(key)) ? 8 : 0) |
              (log.Has(key) ? 16 : 0);
          if (bad != 0) {
            fprintf(stderr, "thread %d round %d entry %d: %d%s\n", t, round, i,
                    bad, via_scanner && i == 0 ? " (scanner)" : "");
            failures.fetch_add(1);
          }
          gc_weak_destroy(m, weaks[i]);
        }
        if (via_scanner) {
          gc_remove_mutator_root_scanner(m, &ScanOneSlot, &scanned);
        }
        gc_handle_scope_close(m, &scope);
        if (round % 10 == 0) gc_run_finalizers(m);
        gc_safepoint(m);
      }
      gc_remove_root_range(h, ephs, kPerRound);
      gc_thread_detach(m);
    });
  }
  // A collector thread keeps cycles coming.
  std::thread collector([&] {
    gc_mutator* m = gc_thread_attach(h);
    while (!stop.load()) {
      gc_collect(m);
      gc_enter_blocking(m);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      gc_leave_blocking(m);
    }
    gc_thread_detach(m);
  });
  for (auto& t : threads) t.join();
  stop.store(true);
  collector.join();
  EXPECT_EQ(failures.load(), 0);
  // Cycles ran while the threads held their keys (not a timing assert: the
  // collector thread alone runs one per iteration).
  EXPECT_GE(GetStats(h).cycles, 10u);
  // Everything is unreachable now: the finalizers run.
  gc_mutator* m = gc_thread_attach(h);
  gc_collect(m);
  gc_run_finalizers(m);
  EXPECT_GT(log.size(), 0u);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

}  // namespace
}  // namespace gcheap
