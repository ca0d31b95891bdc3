// Tests of each thread's own roots and of the per-thread root snapshot
// (runtime/thread_roots.h, runtime/handles.h, docs/collector.md): handles
// and handle scopes (C and C++), mutator root scanners and their removal
// at detach, who scans a mutator's roots (the mutator itself as it wakes
// from the first pause, the collector while it stays blocked), a stress
// test that moves pointers between threads' stacks, handles, scanners,
// registered roots and the heap during marking, and the rule that
// initializing stores into an object allocated since the thread's last
// safepoint need no barrier.
//
// thread_roots_test runs with concurrent marking, thread_roots_test_stw
// with stop-the-world cycles (GC_STW=1); verification is on in every heap.
// Liveness is checked exactly (IsLive: the object's slot is still
// allocated right after gc_collect, which sweeps the whole heap) and by
// payloads (a cell's value encodes its address: a freed cell is zeroed or
// poisoned, a reused one holds another address).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/gc.h"
#include "runtime/gc.hpp"
#include "runtime/runtime.h"
#include "tests/gc_test_util.h"
#include "tests/thread_roots_test_util.h"
#include "tools/mark_window.h"

namespace gcheap {
namespace {

// GcTest's heap (verify on, mode from the environment) without
// conservative stacks, so only handles, scanners and registered roots keep
// objects.
class ThreadRootsTest : public GcTest {
 protected:
  void SetUp() override {
    const gc_config cfg = RootsConfig(/*conservative_stacks=*/false);
    Init(&cfg);
  }
  Cell* NewCell() { return NewMarkedCell(m_, cell_); }
  // Garbage, then a full collection.
  void ChurnAndCollect() {
    Churn(m_, cell_, 5000);
    gc_collect(m_);
  }
  // Starts a thread that attaches, holds a cell in a handle and runs
  // body(m) with it, then checks the cell and detaches. Returns once the
  // thread's mutator exists (*m).
  template <typename F>
  std::thread StartHandleThread(gc_mutator** m, F body) {
    struct Start {
      Signal signal;
      std::atomic<gc_mutator*> m{nullptr};
    };
    auto start = std::make_shared<Start>();  // outlives either side's use
    std::thread t([this, start, body] {
      gc_mutator* mm = gc_thread_attach(heap_);
      {
        gc::HandleScope scope(mm);
        gc::Handle<Cell> h(mm, NewMarkedCell(mm, cell_));
        start->m = mm;
        start->signal.Notify();
        body(mm);
        EXPECT_TRUE(Valid(h.get()));
      }
      gc_thread_detach(mm);
    });
    EXPECT_TRUE(start->signal.Wait());
    *m = start->m.load();
    return t;
  }
};

// Handles keep their objects across collections, more than three blocks of
// them; closing the scope releases them all.
TEST_F(ThreadRootsTest, HandlesKeepObjectsUntilTheirScopeCloses) {
  const int n = 3 * GC_HANDLE_BLOCK_SLOTS + 7;
  gc_handle_scope scope;
  gc_handle_scope_open(m_, &scope);
  std::vector<void**> slots;
  for (int i = 0; i < n; i++) slots.push_back(gc_handle_new(m_, NewCell()));
  ChurnAndCollect();
  ChurnAndCollect();
  std::vector<uintptr_t> addrs;  // integers in malloc'ed memory: not roots
  for (void** s : slots) {
    auto* c = static_cast<Cell*>(*s);
    ASSERT_TRUE(IsLive(heap_, c));
    ASSERT_TRUE(Valid(c));
    addrs.push_back(reinterpret_cast<uintptr_t>(c));
  }
  gc_handle_scope_close(m_, &scope);
  gc_collect(m_);
  for (uintptr_t a : addrs) {
    EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(a)));
  }
}

// Inner scopes release only their own handles; reopening reuses the same
// slots (the blocks stay with the mutator).
TEST_F(ThreadRootsTest, NestedScopesReleaseOnlyTheirHandlesAndReuseBlocks) {
  gc_handle_scope outer;
  gc_handle_scope_open(m_, &outer);
  void** kept = gc_handle_new(m_, NewCell());
  std::vector<void**> first;
  for (int round = 0; round < 3; round++) {
    gc_handle_scope inner;
    gc_handle_scope_open(m_, &inner);
    std::vector<void**> slots;
    for (int i = 0; i < 2 * GC_HANDLE_BLOCK_SLOTS + 3; i++) {
      slots.push_back(gc_handle_new(m_, NewCell()));
    }
    if (round == 0) {
      first = slots;
    } else {
      EXPECT_EQ(slots, first) << "round " << round;
    }
    ChurnAndCollect();
    std::vector<uintptr_t> addrs;
    for (void** s : slots) {
      ASSERT_TRUE(Valid(static_cast<Cell*>(*s)));
      addrs.push_back(reinterpret_cast<uintptr_t>(*s));
    }
    gc_handle_scope_close(m_, &inner);
    gc_collect(m_);
    for (uintptr_t a : addrs) {
      EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(a)));
    }
    ASSERT_TRUE(IsLive(heap_, *kept));
    ASSERT_TRUE(Valid(static_cast<Cell*>(*kept)));
  }
  gc_handle_scope_close(m_, &outer);
}

// A handle's slot is a root the program writes directly: what it holds
// now is what is kept.
TEST_F(ThreadRootsTest, AHandleSlotIsAWritableRoot) {
  gc_handle_scope scope;
  gc_handle_scope_open(m_, &scope);
  void** h = gc_handle_new(m_, NewCell());
  const auto first = reinterpret_cast<uintptr_t>(*h);
  Cell* second = NewCell();
  *h = second;
  gc_collect(m_);
  EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(first)));
  EXPECT_TRUE(IsLive(heap_, second));
  EXPECT_TRUE(Valid(second));
  gc_handle_scope_close(m_, &scope);
}

// The C++ layer: HandleScope, Handle and EscapableHandleScope (one value
// handed to the enclosing scope; the others released).
TEST_F(ThreadRootsTest, CppHandleScopesAndEscape) {
  gc::HandleScope outer(m_);
  gc::Handle<Cell> escaped;
  uintptr_t released = 0;
  {
    gc::EscapableHandleScope inner(m_);
    gc::Handle<Cell> a(m_, NewCell());
    gc::Handle<Cell> b(m_, NewCell());
    gc::Handle<Cell> copy = a;  // the same slot
    EXPECT_EQ(copy.slot(), a.slot());
    released = reinterpret_cast<uintptr_t>(b.get());
    escaped = inner.Escape(a);
  }
  ChurnAndCollect();
  ASSERT_TRUE(escaped);
  EXPECT_TRUE(IsLive(heap_, escaped.get()));
  EXPECT_TRUE(Valid(escaped.get()));
  EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(released)));
  escaped.set(nullptr);
  EXPECT_EQ(escaped.get(), nullptr);
}

// 100000 handles in one scope (about 400 blocks), twice: the second time
// the blocks are reused.
TEST_F(ThreadRootsTest, ManyBlocksOfHandles) {
  for (int round = 0; round < 2; round++) {
    gc::HandleScope scope(m_);
    std::vector<void**> slots;
    for (int i = 0; i < 100000; i++) {
      slots.push_back(gc_handle_new(m_, NewCell()));
    }
    gc_collect(m_);
    for (void** s : slots) ASSERT_TRUE(Valid(static_cast<Cell*>(*s)));
  }
}

// A mutator root scanner reports slots of the thread's own structures;
// removing it stops that; errors have messages.
TEST_F(ThreadRootsTest, MutatorRootScannerReportsItsSlots) {
  struct Frames {
    void* slots[4];
  } frames{};
  gc_root_scanner_fn scan = [](gc_visit_fn visit, void* ctx, void* data) {
    for (void*& s : static_cast<Frames*>(data)->slots) visit(&s, ctx);
  };
  ASSERT_EQ(gc_add_mutator_root_scanner(m_, scan, &frames), 0);
  frames.slots[2] = NewCell();
  ChurnAndCollect();
  ChurnAndCollect();
  ASSERT_TRUE(IsLive(heap_, frames.slots[2]));
  ASSERT_TRUE(Valid(static_cast<Cell*>(frames.slots[2])));
  ASSERT_EQ(gc_remove_mutator_root_scanner(m_, scan, &frames), 0);
  const auto a = reinterpret_cast<uintptr_t>(frames.slots[2]);
  gc_collect(m_);
  EXPECT_FALSE(IsLive(heap_, reinterpret_cast<void*>(a)));

  EXPECT_EQ(gc_remove_mutator_root_scanner(m_, scan, &frames), -1);
  EXPECT_NE(std::string(gc_last_error()).find("not registered"),
            std::string::npos)
      << gc_last_error();
  EXPECT_EQ(gc_add_mutator_root_scanner(m_, nullptr, &frames), -1);
  EXPECT_NE(std::string(gc_last_error()).find("NULL"), std::string::npos)
      << gc_last_error();
}

// A mutator's scanners are dropped when it detaches, explicitly or when
// its thread exits: none is called after that (each would walk a frame
// that is gone: its counter would move, and ASan would see the dead stack).
std::atomic<int> dropped_scanner_calls{0};

TEST_F(ThreadRootsTest, MutatorScannersAreDroppedAtDetachAndThreadExit) {
  for (bool explicit_detach : {true, false}) {
    dropped_scanner_calls = 0;
    std::thread t([&] {
      gc_mutator* m = gc_thread_attach(heap_);
      void* frame_slot = NewMarkedCell(m, cell_);  // on this thread's stack
      gc_root_scanner_fn scan = [](gc_visit_fn visit, void* ctx, void* data) {
        dropped_scanner_calls.fetch_add(1);
        visit(static_cast<void**>(data), ctx);
      };
      ASSERT_EQ(gc_add_mutator_root_scanner(m, scan, &frame_slot), 0);
      gc_collect(m);  // the scanner runs (on a collector thread)
      EXPECT_TRUE(Valid(static_cast<Cell*>(frame_slot)));
      if (explicit_detach) gc_thread_detach(m);
      // else: detached when the thread exits
    });
    JoinBlocked(m_, t);
    const int calls = dropped_scanner_calls.load();
    EXPECT_GE(calls, 1);
    gc_collect(m_);
    gc_collect(m_);
    EXPECT_EQ(dropped_scanner_calls.load(), calls)
        << (explicit_detach ? "explicit detach" : "thread exit");
  }
}

// A thread that stays inside a blocking region is scanned by the
// collector, every cycle, and never by itself (in both modes: in
// stop-the-world mode the scan is in the pause).
TEST_F(ThreadRootsTest, ABlockedThreadsRootsAreScannedByTheCollector) {
  Signal ready, go;
  gc_mutator* m;
  std::thread t = StartHandleThread(&m, [&](gc_mutator* tm) {
    gc_enter_blocking(tm);
    ready.Notify();
    EXPECT_TRUE(go.Wait());
    gc_leave_blocking(tm);
  });
  ASSERT_TRUE(ready.Wait());
  const uint64_t self0 = SelfScans(m), collector0 = CollectorScans(m);
  for (int i = 0; i < 3; i++) ChurnAndCollect();
  EXPECT_GE(CollectorScans(m) - collector0, 3u);
  EXPECT_EQ(SelfScans(m) - self0, 0u);
  go.Notify();
  JoinBlocked(m_, t);
}

// A thread parked at a safepoint in the first pause scans its own roots
// when it wakes, before it runs again (concurrent mode). The mark phase is
// held open right after the first pause (tools/mark_window.h), before any
// collector thread claims a scan: so a scan that completes in that window
// is the thread's own. In stop-the-world mode the scan is done inside the
// pause, by the collector.
TEST_F(ThreadRootsTest, AParkedThreadScansItsOwnRootsWhenItWakes) {
  std::atomic<bool> stop{false};
  gc_mutator* m;
  std::thread t = StartHandleThread(&m, [&](gc_mutator* tm) {
    while (!stop.load()) gc_safepoint(tm);
  });
  const uint64_t self0 = SelfScans(m), collector0 = CollectorScans(m);
  if (Concurrent(heap_)) {
    MarkWindow window(heap_, m_);
    window.Open();
    const auto deadline = std::chrono::steady_clock::now() + kLiveness;
    while (SelfScans(m) == self0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    EXPECT_EQ(SelfScans(m) - self0, 1u);
    EXPECT_EQ(CollectorScans(m) - collector0, 0u);
    window.Close();
  } else {
    gc_collect(m_);
    EXPECT_EQ(SelfScans(m) - self0, 0u);
    EXPECT_EQ(CollectorScans(m) - collector0, 1u);
  }
  stop = true;
  JoinBlocked(m_, t);
}

// A thread that was blocked in the first pause and leaves its blocking
// region while the cycle marks scans itself as it leaves (concurrent mode,
// the mark phase held open before any collector thread claims a scan). In
// stop-the-world mode the collector scanned it in the pause.
TEST_F(ThreadRootsTest, LeavingABlockingRegionFinishesTheThreadsScan) {
  std::atomic<bool> stop{false};
  Signal ready, leave, left;
  gc_mutator* m;
  std::thread t = StartHandleThread(&m, [&](gc_mutator* tm) {
    gc_enter_blocking(tm);
    ready.Notify();
    EXPECT_TRUE(leave.Wait());
    gc_leave_blocking(tm);
    left.Notify();
    while (!stop.load()) gc_safepoint(tm);
  });
  ASSERT_TRUE(ready.Wait());
  const uint64_t self0 = SelfScans(m), collector0 = CollectorScans(m);
  if (Concurrent(heap_)) {
    MarkWindow window(heap_, m_);
    window.Open();
    leave.Notify();
    ASSERT_TRUE(left.Wait());
    EXPECT_EQ(SelfScans(m) - self0, 1u);
    EXPECT_EQ(CollectorScans(m) - collector0, 0u);
    window.Close();
  } else {
    gc_collect(m_);
    EXPECT_EQ(CollectorScans(m) - collector0, 1u);
    leave.Notify();
    ASSERT_TRUE(left.Wait());
    EXPECT_EQ(SelfScans(m) - self0, 0u);
  }
  stop = true;
  JoinBlocked(m_, t);
}

// ---- stress ---------------------------------------------------------------

// Runs body(t, m) on `threads` attached threads (more than the cores) while
// another attached thread collects back to back, and joins them.
template <typename F>
void RunWhileCollecting(gc_heap* h, int threads, F body) {
  std::atomic<bool> done{false};
  std::thread collector([&] {
    gc_mutator* m = gc_thread_attach(h);
    while (!done.load()) gc_collect(m);
    gc_thread_detach(m);
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; t++) {
    ts.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(h);
      body(t, m);
      gc_thread_detach(m);
    });
  }
  for (auto& th : ts) th.join();
  done = true;
  collector.join();
}

// A holder: 16 pointer slots.
struct Holder {
  void* slots[16];
};

// Per thread: where pointers live, and the thread's own registered root.
struct StressThread {
  void* root = nullptr;   // registered with gc_add_root
  void* scanned[8] = {};  // reported by the thread's mutator root scanner
  uint64_t checks = 0;
};

void ScanStressThread(gc_visit_fn visit, void* ctx, void* data) {
  for (void*& s : static_cast<StressThread*>(data)->scanned) visit(&s, ctx);
}

// Keeps the array in memory (on the stack) across calls.
GC_NOINLINE void Opaque(Cell* volatile* locals) {
  asm volatile("" : : "r"(locals) : "memory");
}

// Several threads (more than the cores) move pointers between their C
// locals (conservative stack scanning is on), their handles, their mutator
// scanner's slots, their registered root, a holder object in the heap
// (through the barrier) and cells' fields, while another thread collects
// back to back: every cycle's per-thread snapshot races with all of that.
// Verification is on (a precise root, handle or heap path to an unmarked
// object aborts); every cell reached is checked to be valid (a cell freed
// while still on a stack fails the check).
TEST(ThreadRootsStressTest, PointersMoveBetweenStacksHandlesAndTheHeap) {
  gc_heap* h = NewRootsHeap(/*conservative_stacks=*/true, /*gc_percent=*/50);
  ASSERT_NE(h, nullptr) << gc_last_error();
  const gc_type_id cell = RegisterCell(h);
  const gc_type_id holder =
      RegisterSmallType(h, "Holder", sizeof(Holder), 0xffff);
  ASSERT_NE(holder, 0u) << gc_last_error();
  constexpr int kThreads = 6;
  const auto kRun = std::chrono::milliseconds(1500);
  std::atomic<uint64_t> total_checks{0};
  RunWhileCollecting(h, kThreads, [&](int t, gc_mutator* m) {
    StressThread st;
    ASSERT_EQ(gc_add_root(h, &st.root), 0);
    ASSERT_EQ(gc_add_mutator_root_scanner(m, &ScanStressThread, &st), 0);
    st.root = gc_alloc(m, holder, sizeof(Holder));
    gc_handle_scope scope;
    gc_handle_scope_open(m, &scope);
    void** handles[8];
    for (void**& hs : handles) hs = gc_handle_new(m, nullptr);
    Cell* volatile locals[8] = {};
    Opaque(locals);
    std::mt19937_64 rng(t * 7919 + 1);
    // The places a pointer can be; Holder slots are written with the
    // barrier.
    auto get = [&](int where, int i) -> Cell* {
      auto* hold = static_cast<Holder*>(st.root);
      switch (where) {
        case 0:
          return locals[i];
        case 1:
          return static_cast<Cell*>(*handles[i]);
        case 2:
          return static_cast<Cell*>(st.scanned[i]);
        case 3:
          return static_cast<Cell*>(hold->slots[i]);
        default:
          return static_cast<Cell*>(hold->slots[8 + i]);
      }
    };
    auto put = [&](int where, int i, Cell* v) {
      auto* hold = static_cast<Holder*>(st.root);
      switch (where) {
        case 0:
          locals[i] = v;
          break;
        case 1:
          *handles[i] = v;
          break;
        case 2:
          st.scanned[i] = v;
          break;
        default: {
          void** slot = &hold->slots[(where == 3 ? 0 : 8) + i];
          gc_write_barrier(m, hold, slot, v);
        }
      }
    };
    auto check = [&](Cell* c) {
      for (int depth = 0; c != nullptr && depth < 4; depth++) {
        ASSERT_TRUE(Valid(c)) << "a reachable cell was freed";
        st.checks++;
        c = static_cast<Cell*>(c->car);
      }
    };
    const auto end = std::chrono::steady_clock::now() + kRun;
    while (std::chrono::steady_clock::now() < end) {
      for (int k = 0; k < 64; k++) {
        const int op = static_cast<int>(rng() % 8);
        const int w1 = static_cast<int>(rng() % 5);
        const int w2 = static_cast<int>(rng() % 5);
        const int i1 = static_cast<int>(rng() % 8);
        const int i2 = static_cast<int>(rng() % 8);
        switch (op) {
          case 0:
          case 1: {  // a new cell, linked to another one
            Cell* c = NewMarkedCell(m, cell);
            gc_write_barrier(m, c, &c->car, get(w2, i2));
            put(w1, i1, c);
            break;
          }
          case 2:
          case 3: {  // move: the source is cleared
            Cell* v = get(w1, i1);
            put(w1, i1, nullptr);
            put(w2, i2, v);
            break;
          }
          case 4: {  // copy
            put(w2, i2, get(w1, i1));
            break;
          }
          case 5: {  // relink through a cell's field
            Cell* a = get(w1, i1);
            if (a != nullptr) gc_write_barrier(m, a, &a->car, get(w2, i2));
            break;
          }
          case 6:
            check(get(w1, i1));
            break;
          default:
            if (rng() % 16 == 0) {
              gc_enter_blocking(m);
              std::this_thread::yield();
              gc_leave_blocking(m);
            } else {
              gc_safepoint(m);
            }
        }
      }
    }
    for (int w = 0; w < 5; w++) {
      for (int i = 0; i < 8; i++) check(get(w, i));
    }
    total_checks += st.checks;
    gc_handle_scope_close(m, &scope);
    ASSERT_EQ(gc_remove_root(h, &st.root), 0);
    // st dies here, before the detach that would drop the scanner: the
    // detach counts as blocked while it waits for the list lock, and a
    // collector thread may scan this mutator's roots meanwhile.
    ASSERT_EQ(gc_remove_mutator_root_scanner(m, &ScanStressThread, &st), 0);
  });
  EXPECT_GT(GetStats(h).cycles, 3u);
  EXPECT_GT(total_checks.load(), 1000u);
  gc_heap_destroy(h);
}

// ---- the JIT rule -------------------------------------------------------

// Initializing stores into an object allocated since the thread's last
// safepoint need no barrier (docs/collector.md, "Stores that need no
// barrier"). Each thread repeatedly holds a cell v only in a handle, lets
// safepoints pass (a cycle may take its first pause there), allocates a
// fresh object o, stores v and the previous o into o's fields with plain
// writes, publishes o through the barrier into a registered holder, and
// drops the handle. o's fields are then v's and the old o's only
// references. With concurrent marking o is often allocated black during a
// mark and never scanned: v must already be marked, by the thread's own
// snapshot of its handles; the verifier aborts the cycle if it is not, and
// the payload checks catch a freed v. Many cycles, both modes.
TEST(JitRuleTest, InitializingStoresIntoFreshObjectsNeedNoBarrier) {
  gc_heap* h = NewRootsHeap(/*conservative_stacks=*/false,
                            /*gc_percent=*/25);
  ASSERT_NE(h, nullptr) << gc_last_error();
  const gc_type_id cell = RegisterCell(h);
  constexpr int kThreads = 4;
  const auto kRun = std::chrono::milliseconds(1500);
  std::atomic<uint64_t> stores{0};
  // Runs kRun, and on until the heap has run 11 cycles (a loaded machine,
  // a sanitizer build), giving up after kLiveness.
  auto more = [h, start = std::chrono::steady_clock::now(), kRun] {
    const auto now = std::chrono::steady_clock::now();
    if (now < start + kRun) return true;
    gc_counters c;
    c.struct_size = sizeof(c);
    gc_get_counters(h, &c);  // lock-free
    return c.cycles <= 10 && now < start + kLiveness;
  };
  RunWhileCollecting(h, kThreads, [&](int, gc_mutator* m) {
    void* holder = nullptr;  // the newest o, and through it the chain
    ASSERT_EQ(gc_add_root(h, &holder), 0);
    uint64_t n = 0;
    while (more()) {
      gc::HandleScope scope(m);
      void** hv = gc_handle_new(m, NewMarkedCell(m, cell));
      for (int i = 0; i < 4; i++) gc_safepoint(m);
      auto* o = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
      ASSERT_NE(o, nullptr);
      // No safepoint from the allocation to the last plain store.
      o->car = *hv;     // plain initializing store
      o->cdr = holder;  // plain initializing store
      o->value = CellMark(o);
      holder = o;     // a root slot: no barrier
      *hv = nullptr;  // v's only reference is now o->car
      n++;
      // The chain is cut now and then (its tail becomes garbage).
      if (n % 64 == 0) gc_write_barrier(m, o, &o->cdr, nullptr);
      // Check the newest links.
      auto* c = static_cast<Cell*>(holder);
      for (int d = 0; c != nullptr && d < 8; d++) {
        ASSERT_TRUE(Valid(c));
        ASSERT_TRUE(Valid(static_cast<Cell*>(c->car)));
        c = static_cast<Cell*>(c->cdr);
      }
    }
    stores += n;
    ASSERT_EQ(gc_remove_root(h, &holder), 0);
  });
  EXPECT_GT(GetStats(h).cycles, 10u);
  EXPECT_GT(stores.load(), 1000u);
  gc_heap_destroy(h);
}

// ---- misuse ---------------------------------------------------------------

class ThreadRootsDeathTest : public ThreadRootsTest {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    ThreadRootsTest::SetUp();
  }
};

// Debug builds check every scope close: closing an enclosing scope and
// then an inner one (which would move the top up again) aborts. Release
// builds restore the saved top without checking.
TEST_F(ThreadRootsDeathTest, DebugBuildsRejectScopesClosedOutOfOrder) {
  if constexpr (kDebugBuild) {
    EXPECT_DEATH(
        {
          gc_handle_scope outer;
          gc_handle_scope inner;
          gc_handle_scope_open(m_, &outer);
          gc_handle_new(m_, nullptr);
          gc_handle_scope_open(m_, &inner);
          gc_handle_new(m_, nullptr);
          gc_handle_scope_close(m_, &outer);
          gc_handle_scope_close(m_, &inner);
        },
        "handle scopes closed out of order");
  } else {
    gc_handle_scope outer;
    gc_handle_scope_open(m_, &outer);
    gc_handle_new(m_, nullptr);
    gc_handle_scope_close(m_, &outer);
    EXPECT_EQ(m_->handle_top, outer.saved_top);
  }
}

}  // namespace
}  // namespace gcheap
