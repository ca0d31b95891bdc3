// Custom weak callbacks (runtime/gc.h gc_add_weak_callback, gc_is_live,
// gc_trace_weak_callback, gc_weak_read): an off-heap weak table cleared by
// its callback, the short and long liveness around finalization, objects
// allocated while a cycle marks, reads of the table during marking, the
// per-cycle registration from a trace callback, misuse, and a stress test
// with threads using the table while cycles run. Built twice: the heap's
// mode from the environment (concurrent by default; GC_STW=1 in the _stw
// target). The tests that hold a mark phase open make a concurrent heap of
// their own.
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/gc.hpp"
#include "tests/gc_test_util.h"
#include "tools/mark_window.h"

namespace gcheap {
namespace {

// An off-heap table of weak entries, cleared by its weak callback: an
// entry whose key is dead by `kind` is dropped. Mutators use it under mu,
// never across a safepoint (no heap call while mu is held), so the
// callback can take mu in the pause.
struct WeakTable {
  static constexpr int kCap = 256;
  std::mutex mu;
  void* keys[kCap] = {};
  int64_t vals[kCap] = {};
  int kind = GC_WEAK_SHORT;
  uint64_t runs = 0;
  uint64_t cleared = 0;
  gc_heap* seen_heap = nullptr;

  static void Callback(gc_heap* heap, void* data) {
    auto* t = static_cast<WeakTable*>(data);
    std::lock_guard<std::mutex> g(t->mu);
    t->runs++;
    t->seen_heap = heap;
    for (int i = 0; i < kCap; i++) {
      if (t->keys[i] == nullptr) continue;
      const int live = gc_is_live(heap, t->keys[i], t->kind);
      if (live != 1) {
        t->keys[i] = nullptr;
        t->cleared++;
      }
    }
  }
  int Count() {
    std::lock_guard<std::mutex> g(mu);
    int n = 0;
    for (void* k : keys) n += k != nullptr;
    return n;
  }
};

class WeakCallbackTest : public GcTest {};

// Half the keys are rooted: after a collection exactly the other half is
// gone from the table, the callback ran once per cycle with this heap, and
// a removed callback runs no more.
TEST_F(WeakCallbackTest, AnOffHeapTableIsClearedOfDeadKeys) {
  WeakTable t;
  void* roots[WeakTable::kCap / 2] = {};
  ASSERT_EQ(gc_add_root_range(heap_, roots, WeakTable::kCap / 2), 0);
  for (int i = 0; i < WeakTable::kCap; i++) {
    Cell* c = NewCell(nullptr, nullptr, i);
    if (i % 2 == 0) roots[i / 2] = c;
    t.keys[i] = c;
    t.vals[i] = i;
  }
  ASSERT_EQ(gc_add_weak_callback(heap_, &WeakTable::Callback, &t), 0);
  const uint64_t cycles0 = Stats().cycles;
  gc_collect(m_);
  const uint64_t ran = Stats().cycles - cycles0;
  EXPECT_EQ(t.runs, ran);
  EXPECT_EQ(t.seen_heap, heap_);
  EXPECT_EQ(t.cleared, static_cast<uint64_t>(WeakTable::kCap / 2));
  for (int i = 0; i < WeakTable::kCap; i++) {
    if (i % 2 == 0) {
      ASSERT_EQ(t.keys[i], roots[i / 2]);
      EXPECT_EQ(static_cast<Cell*>(t.keys[i])->value, i);
    } else {
      EXPECT_EQ(t.keys[i], nullptr);
    }
  }
  ASSERT_EQ(gc_remove_weak_callback(heap_, &WeakTable::Callback, &t), 0);
  const uint64_t runs = t.runs;
  gc_collect(m_);
  EXPECT_EQ(t.runs, runs);
  // Not registered any more.
  EXPECT_EQ(gc_remove_weak_callback(heap_, &WeakTable::Callback, &t), -1);
  EXPECT_NE(std::string(gc_last_error()).find("not registered"),
            std::string::npos);
  EXPECT_EQ(gc_add_weak_callback(heap_, nullptr, &t), -1);
  gc_remove_root_range(heap_, roots, WeakTable::kCap / 2);
}

struct Probe {
  void* obj = nullptr;
  void* outside = nullptr;  // not an object of the heap
  int short_live = -2, long_live = -2, outside_live = -2;
  std::string outside_error;  // (the pause may run on another thread)
  uint64_t runs = 0;
  static void Callback(gc_heap* heap, void* data) {
    auto* p = static_cast<Probe*>(data);
    p->runs++;
    if (p->obj != nullptr) {
      p->short_live = gc_is_live(heap, p->obj, GC_WEAK_SHORT);
      p->long_live = gc_is_live(heap, p->obj, GC_WEAK_LONG);
    }
    if (p->outside != nullptr) {
      p->outside_live = gc_is_live(heap, p->outside, GC_WEAK_SHORT);
      p->outside_error = gc_last_error();
    }
  }
};

// The clearing points: a reachable object is live both ways (an interior
// pointer too); an unreachable one with a finalizer is kept for it
// (revived): dead for a short query, live for a long one; after its
// finalizer ran and it is unreachable, dead both ways.
TEST_F(WeakCallbackTest, ShortAndLongLivenessAroundFinalization) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.finalizer_thread = 0;
  Init(&cfg);
  Probe p;
  int64_t outside_word = 0;
  p.outside = &outside_word;
  ASSERT_EQ(gc_add_weak_callback(heap_, &Probe::Callback, &p), 0);
  void* root = NewCell(nullptr, nullptr, 1);
  ASSERT_EQ(gc_add_root(heap_, &root), 0);
  p.obj = &static_cast<Cell*>(root)->cdr;  // interior
  gc_collect(m_);
  EXPECT_EQ(p.short_live, 1);
  EXPECT_EQ(p.long_live, 1);
  EXPECT_EQ(p.outside_live, -1);
  EXPECT_NE(p.outside_error.find("not in an object"), std::string::npos);

  static int finalized;
  finalized = 0;
  ASSERT_EQ(gc_register_finalizer(
                m_, root, [](gc_mutator*, void*, void*) { finalized++; },
                nullptr, GC_FINALIZE_ORDERED),
            0);
  p.obj = root;
  root = nullptr;
  gc_collect(m_);
  EXPECT_EQ(p.short_live, 0);  // kept only for its finalizer
  EXPECT_EQ(p.long_live, 1);
  EXPECT_EQ(gc_run_finalizers(m_), 1);
  EXPECT_EQ(finalized, 1);
  gc_collect(m_);
  EXPECT_EQ(p.short_live, 0);
  EXPECT_EQ(p.long_live, 0);  // freed after this pause
  p.obj = nullptr;
  ASSERT_EQ(gc_remove_weak_callback(heap_, &Probe::Callback, &p), 0);
  gc_remove_root(heap_, &root);
}

// gc_is_live outside a weak callback, a bad kind, and adding or removing
// a callback from inside one are API misuse: they abort with a message.
TEST_F(WeakCallbackTest, MisuseAborts) {
  void* obj = NewCell(nullptr, nullptr, 0);
  EXPECT_DEATH(gc_is_live(heap_, obj, GC_WEAK_SHORT),
               "gc_is_live.*outside a weak callback");
  EXPECT_DEATH(gc_weak_read(m_, obj, 7), "kind must be");
  static gc_heap* h;
  h = heap_;
  EXPECT_DEATH(
      {
        gc_add_weak_callback(
            heap_,
            [](gc_heap* heap, void*) {
              gc_remove_weak_callback(heap, nullptr, nullptr);
            },
            nullptr);
        gc_collect(m_);
      },
      "gc_remove_weak_callback.*inside a weak callback");
  EXPECT_DEATH(
      {
        gc_add_weak_callback(
            heap_,
            [](gc_heap* heap, void*) {
              gc_add_weak_callback(
                  heap, [](gc_heap*, void*) {}, nullptr);
            },
            nullptr);
        gc_collect(m_);
      },
      "gc_add_weak_callback.*inside a weak callback");
  EXPECT_DEATH(
      {
        gc_add_weak_callback(
            heap_,
            [](gc_heap* heap, void*) {
              gc_is_live(heap, heap, 5);  // (kind is checked first)
            },
            nullptr);
        gc_collect(m_);
      },
      "gc_is_live.*kind must be");
  (void)h;
}

// Concurrent marking: an object allocated while the cycle marks is live at
// the callback (allocated black) even though nothing but the table names
// it; an entry read through gc_weak_read during marking and rooted
// survives; an entry nobody reads dies. The next cycle drops the new
// object, which nothing holds.
TEST(WeakCallbackConcurrentTest, AllocatedAndReadDuringMarkingReadLive) {
  gc_heap* h = NewConcurrentHeap();
  ASSERT_NE(h, nullptr);
  gc_mutator* m = gc_thread_attach(h);
  gc_type_id cell = RegisterCell(h);
  WeakTable t;
  void* root = nullptr;
  ASSERT_EQ(gc_add_root(h, &root), 0);
  t.keys[0] = gc_alloc(m, cell, sizeof(Cell));  // read during marking
  t.keys[1] = gc_alloc(m, cell, sizeof(Cell));  // not read
  static_cast<Cell*>(t.keys[0])->value = 100;
  ASSERT_EQ(gc_add_weak_callback(h, &WeakTable::Callback, &t), 0);
  {
    MarkWindow window(h, m);
    window.Open();  // pause 1 done: neither key is in the snapshot
    void* fresh = gc_alloc(m, cell, sizeof(Cell));
    ASSERT_NE(fresh, nullptr);
    void* read;
    {
      std::lock_guard<std::mutex> g(t.mu);
      t.keys[2] = fresh;
      read = t.keys[0];
    }
    root = gc_weak_read(m, read, GC_WEAK_SHORT);
    EXPECT_EQ(root, read);
    window.Close();
  }
  EXPECT_EQ(t.keys[0], root);
  EXPECT_EQ(static_cast<Cell*>(t.keys[0])->value, 100);
  EXPECT_EQ(t.keys[1], nullptr);
  EXPECT_NE(t.keys[2], nullptr);  // allocated black: live at the callback
  gc_collect(m);
  EXPECT_EQ(t.keys[2], nullptr);  // nothing held it
  EXPECT_EQ(t.keys[0], root);
  ASSERT_EQ(gc_remove_weak_callback(h, &WeakTable::Callback, &t), 0);
  gc_remove_root(h, &root);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// A node whose trace callback registers a weak callback for the cycle
// (cppgc's visitor->RegisterWeakCallback): the callback runs once per
// traced node per cycle, only for nodes the cycle reached, and clears the
// node's off-heap weak reference when its target died.
struct Node {
  void* next;  // traced
  void* weak;  // not traced: cleared by the node's weak callback
  int64_t id;
};
std::atomic<int> node_callbacks{0};

void NodeWeakCallback(gc_heap* heap, void* data) {
  node_callbacks++;
  auto* n = static_cast<Node*>(data);
  if (gc_is_live(heap, n, GC_WEAK_SHORT) != 1) node_callbacks += 1000;
  if (n->weak != nullptr && gc_is_live(heap, n->weak, GC_WEAK_SHORT) != 1) {
    n->weak = nullptr;  // a plain store: marking is over
  }
}

void TraceNode(void* obj, gc_visit_fn visit, void* ctx) {
  auto* n = static_cast<Node*>(obj);
  visit(&n->next, ctx);
  gc_trace_weak_callback(ctx, &NodeWeakCallback, n);
}

TEST_F(WeakCallbackTest, TraceCallbacksRegisterForTheCycle) {
  const gc_type_id node_t =
      RegisterTracedType(heap_, "Node", sizeof(Node), &TraceNode);
  ASSERT_NE(node_t, 0u) << gc_last_error();
  void* head = nullptr;
  ASSERT_EQ(gc_add_root(heap_, &head), 0);
  // A list of 10 live nodes, each weakly naming a cell: even ones a cell
  // that stays rooted, odd ones garbage. 5 unreachable nodes besides.
  void* keep[10] = {};
  ASSERT_EQ(gc_add_root_range(heap_, keep, 10), 0);
  for (int i = 0; i < 10; i++) {
    auto* n = static_cast<Node*>(gc_alloc(m_, node_t, sizeof(Node)));
    gc_write_barrier(m_, n, &n->next, head);
    n->id = i;
    Cell* c = NewCell(nullptr, nullptr, i);
    if (i % 2 == 0) keep[i] = c;
    n->weak = c;
    head = n;
  }
  for (int i = 0; i < 5; i++) gc_alloc(m_, node_t, sizeof(Node));
  node_callbacks = 0;
  gc_collect(m_);
  EXPECT_EQ(node_callbacks.load(), 10);  // once per live node, none dead
  int cleared = 0;
  for (auto* n = static_cast<Node*>(head); n != nullptr;
       n = static_cast<Node*>(n->next)) {
    if (n->id % 2 == 0) {
      EXPECT_EQ(n->weak, keep[n->id]);
    } else {
      cleared += n->weak == nullptr;
    }
  }
  EXPECT_EQ(cleared, 5);
  // The registrations were for that cycle: a heap walk or the next cycle
  // registers anew (10 again, not 20).
  node_callbacks = 0;
  gc_collect(m_);
  EXPECT_EQ(node_callbacks.load(), 10);
  gc_remove_root(heap_, &head);
  gc_remove_root_range(heap_, keep, 10);
}

// The C++ layer: Heap::AddWeakCallback and LivenessBroker.
TEST_F(WeakCallbackTest, CppLayer) {
  struct Data {
    void* obj;
    bool live = false;
  };
  void* root = NewCell(nullptr, nullptr, 5);
  ASSERT_EQ(gc_add_root(heap_, &root), 0);
  Data d{root};
  auto fn = [](gc_heap* heap, void* data) {
    auto* dd = static_cast<Data*>(data);
    dd->live = gc::LivenessBroker(heap).IsLive(dd->obj);
  };
  ASSERT_EQ(gc_add_weak_callback(heap_, fn, &d), 0);
  gc_collect(m_);
  EXPECT_TRUE(d.live);
  ASSERT_EQ(gc_remove_weak_callback(heap_, fn, &d), 0);
  gc_remove_root(heap_, &root);
}

// Threads insert fresh objects into one shared weak table, look entries up
// (gc_weak_read right after the locked load, then rooted), check what they
// read is intact, and drop them, while cycles run (gc_percent 20, explicit
// ones too), in the configured mode; a second callback is added and
// removed meanwhile. Verify is on: a read the cycle did not see would leave
// a rooted object unmarked and abort; a freed entry read back would fail
// the stamp check.
TEST(WeakCallbackStressTest, ThreadsUseTheTableWhileCyclesRun) {
  gc_heap* h = NewStressHeap();
  ASSERT_NE(h, nullptr);
  gc_type_id cell = RegisterCell(h);
  WeakTable t;
  t.kind = GC_WEAK_SHORT;
  ASSERT_EQ(gc_add_weak_callback(h, &WeakTable::Callback, &t), 0);
  constexpr int kThreads = 6;  // more than the machine's cores
  const StressDeadline deadline(std::chrono::milliseconds(2000));
  std::atomic<int> errors{0};
  std::atomic<uint64_t> reads{0}, hits{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> ts;
  for (int th = 0; th < kThreads; th++) {
    ts.emplace_back([&, th] {
      gc_mutator* m = gc_thread_attach(h);
      void* held[8] = {};
      gc_add_root_range(h, held, 8);
      std::mt19937_64 rng(th * 31 + 7);
      uint64_t iter = 0;
      while (deadline.Running(&iter)) {
        const int i = static_cast<int>(rng() % WeakTable::kCap);
        switch (rng() % 4) {
          case 0: {  // insert a fresh object, sometimes held
            auto* c = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
            const int64_t stamp = (int64_t{th} << 32) | (iter & 0xffffffff);
            c->value = stamp;
            if (rng() % 2) held[rng() % 8] = c;
            std::lock_guard<std::mutex> g(t.mu);
            t.keys[i] = c;
            t.vals[i] = stamp;
            break;
          }
          case 1:
          case 2: {  // look up: the load and the barrier, no safepoint
            void* k;
            int64_t v;
            {
              std::lock_guard<std::mutex> g(t.mu);
              k = t.keys[i];
              v = t.vals[i];
            }
            void* got = gc_weak_read(m, k, GC_WEAK_SHORT);
            reads++;
            if (got == nullptr) break;
            hits++;
            if (static_cast<Cell*>(got)->value != v) errors++;
            if (rng() % 4 == 0) held[rng() % 8] = got;
            break;
          }
          case 3:  // drop what this thread holds, sometimes collect
            held[rng() % 8] = nullptr;
            if (rng() % 64 == 0) gc_collect(m);
            break;
        }
      }
      gc_remove_root_range(h, held, 8);
      gc_thread_detach(m);
    });
  }
  // Add and remove a second table's callback while the others run.
  std::thread churn([&] {
    WeakTable other;
    while (!done.load()) {
      gc_add_weak_callback(h, &WeakTable::Callback, &other);
      std::this_thread::yield();
      if (gc_remove_weak_callback(h, &WeakTable::Callback, &other) != 0) {
        errors++;
      }
    }
  });
  for (auto& th : ts) th.join();
  done = true;
  churn.join();
  const gc_stats st = GetStats(h);
  printf(
      "[weak callbacks] %llu cycles, %llu callback runs, %llu entries "
      "cleared, %llu reads (%llu found)\n",
      static_cast<unsigned long long>(st.cycles),
      static_cast<unsigned long long>(t.runs),
      static_cast<unsigned long long>(t.cleared),
      static_cast<unsigned long long>(reads.load()),
      static_cast<unsigned long long>(hits.load()));
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(st.cycles, 2u);
  EXPECT_GT(t.cleared, 0u);
  EXPECT_GT(hits.load(), 0u);
  ASSERT_EQ(gc_remove_weak_callback(h, &WeakTable::Callback, &t), 0);
  gc_heap_destroy(h);
}

}  // namespace
}  // namespace gcheap
