// Tests of the hybrid write barrier (gc_write_barrier, runtime/gc.h) in
// concurrent mode (stop_the_world = 0, verify = 1).
//
// The directed tests hold a concurrent cycle's mark phase open with the
// testing seam Collector::SetMarkPhaseHookForTesting: a second attached
// thread calls gc_collect (which blocks it until the cycle ends), the hook
// blocks the driver thread right after pause 1 restarted the world with
// the barrier on, and the main thread performs barrier stores meanwhile.
// In that window no marking runs at all (background marking starts after
// the hook; gc_percent < 0 makes the assist ratio ~0, so allocation never
// assists), so a mark bit that turns on there was set by the barrier's
// shading and nothing else. The tests check:
//   a) marking off: the store happens and nothing is buffered;
//   b) marking on: one store appends the old then the new value;
//   c) both values are shaded, and objects whose survival depends on the
//      barrier (moved into a root slot, which pause 1 scanned before the
//      move, or into a black object) survive the cycle;
//   d) a full buffer is shaded at once and the final pause flushes the rest;
//   e) a thread that detaches while marking flushes its buffer;
//   f) a tagged immediate stored over a pointer records the pointer (and a
//      plain store of it loses the object: the verifier aborts);
//   g) gc_write_barrier_cas / _exchange record what they replace and store,
//      a failed CAS nothing;
//   h-j) gc_write_barrier_copy records every overwritten and copied word,
//      moves overlapping ranges like memmove, and grows a vector;
//   k) objects allocated while marking are black: marked in bulk by their
//      mcache, not at allocation, and they survive with no other help.
// Then two stress tests: six threads (more than the cores) rewire their own
// random graphs through the barrier, and eight threads change one shared
// table only with CAS, exchange and bulk copies, while another thread
// collects in a loop. Verification is on everywhere: a reachable object
// left unmarked aborts the collection with a diagnostic; payload patterns
// catch a freed and reused object.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "heap/mheap.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"
#include "tests/gc_test_util.h"
#include "tools/mark_window.h"

namespace gcheap {
namespace {

constexpr size_t kBufEntries = gc_mutator::kWbBufEntries;  // 512
constexpr size_t kStoresPerFlush = kBufEntries / 2;        // 256

// A 64-byte object: two pointer slots, an id and a payload derived from it.
struct Obj {
  void* slot[2];
  uint64_t id;
  uint64_t payload[5];
};
static_assert(sizeof(Obj) == 64);

// A holder: a count, then a tail of pointer slots (Slot(h, i)).
struct Holder {
  uint64_t n;
};
void** Slot(Holder* h, size_t i) {
  return reinterpret_cast<void**>(reinterpret_cast<char*>(h) + sizeof(Holder)) +
         i;
}

uint64_t Pattern(uint64_t id, int i) {
  return (id + 1) * 0x9e3779b97f4a7c15ULL ^ (uint64_t{0x5bd1e995} * (i + 1));
}

// The Holder layout: an 8-byte count, then a tail of pointer slots.
gc_type_id RegisterHolder(gc_heap* h, const char* name) {
  return RegisterSmallType(h, name, sizeof(Holder), 0, sizeof(void*), 0b1);
}

// A heap with concurrent marking and verification on.
gc_heap* NewConcurrentVerifyingHeap(int gc_percent = 100) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = 0;
  cfg.verify = 1;
  cfg.gc_percent = gc_percent;
  return gc_heap_create(&cfg);
}

bool Intact(const void* p, uint64_t id) {
  if (p == nullptr) return false;
  const auto* o = static_cast<const Obj*>(p);
  if (o->id != id) return false;
  for (int i = 0; i < 5; i++) {
    if (o->payload[i] != Pattern(id, i)) return false;
  }
  return true;
}

// Whether the object at p carries this cycle's mark bit.
bool IsMarked(gc_heap* h, const void* p) {
  ObjectRef r;
  if (!h->heap.FindObject(reinterpret_cast<uintptr_t>(p), &r)) return false;
  return r.span->IsMarked(r.index);
}

// Whether the object at p is live for the running mark so far
// (MSpan::IsMarkedOrBlack), and whether its slot reads as allocated.
bool IsMarkedOrBlack(gc_heap* h, const void* p) {
  ObjectRef r;
  if (!h->heap.FindObject(reinterpret_cast<uintptr_t>(p), &r)) return false;
  return r.span->IsMarkedOrBlack(r.index);
}
bool IsAllocatedSlot(gc_heap* h, const void* p) {
  ObjectRef r;
  if (!h->heap.FindObject(reinterpret_cast<uintptr_t>(p), &r)) return false;
  return r.span->IsAllocated(r.index);
}

// A concurrent heap with verification, no automatic collections (only the
// cycles the tests start), the calling thread's mutator and two types.
class WriteBarrierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    heap_ = NewConcurrentVerifyingHeap(/*gc_percent=*/-1);
    ASSERT_NE(heap_, nullptr) << gc_last_error();
    m_ = gc_thread_attach(heap_);
    obj_type_ = RegisterSmallType(heap_, "Obj", sizeof(Obj), 0b11);
    ASSERT_NE(obj_type_, 0u) << gc_last_error();
    holder_type_ = RegisterHolder(heap_, "Holder");
    ASSERT_NE(holder_type_, 0u) << gc_last_error();
  }
  void TearDown() override {
    gc_thread_detach(m_);
    gc_heap_destroy(heap_);
  }

  // With automatic collection off and no cycle running, nothing can be
  // freed between these allocations and the moment the caller roots them.
  Obj* NewObj(uint64_t id) {
    auto* o = static_cast<Obj*>(gc_alloc(m_, obj_type_, sizeof(Obj)));
    EXPECT_NE(o, nullptr) << gc_last_error();
    o->id = id;
    for (int i = 0; i < 5; i++) o->payload[i] = Pattern(id, i);
    return o;
  }
  Holder* NewHolder(size_t n) {
    auto* h = static_cast<Holder*>(
        gc_alloc(m_, holder_type_, sizeof(uint64_t) + n * sizeof(void*)));
    EXPECT_NE(h, nullptr) << gc_last_error();
    h->n = n;
    return h;
  }
  // Registers the n slots at roots (zeroed) as a root range and puts A (id
  // 1) in roots[0] and the scratch object X (id 5) in roots[1].
  std::pair<Obj*, Obj*> RootAAndX(void** roots, size_t n) {
    std::fill(roots, roots + n, nullptr);
    EXPECT_EQ(gc_add_root_range(heap_, roots, n), 0);
    Obj* a = NewObj(1);
    roots[0] = a;
    Obj* x = NewObj(5);
    roots[1] = x;
    return {a, x};
  }
  // Barrier stores of NULL into x->slot[1] until the buffer is flushed
  // (wbbuf_n drops); returns how many stores that took.
  int StoreUntilFlush(Obj* x) {
    for (int stores = 1;; stores++) {
      const size_t before = m_->wbbuf_count();
      gc_write_barrier(m_, x, &x->slot[1], nullptr);
      if (m_->wbbuf_count() < before) return stores;
    }
  }
  gc_stats Stats() { return GetStats(heap_); }

  gc_heap* heap_ = nullptr;
  gc_mutator* m_ = nullptr;
  gc_type_id obj_type_ = 0;
  gc_type_id holder_type_ = 0;
};

// a) Marking off: a plain store, nothing buffered, also after a cycle.
TEST_F(WriteBarrierTest, MarkingOffStoresWithoutBuffering) {
  void* roots[2] = {nullptr, nullptr};
  ASSERT_EQ(gc_add_root_range(heap_, roots, 2), 0);
  Obj* a = NewObj(1);
  roots[0] = a;
  Obj* b = NewObj(2);
  roots[1] = b;
  EXPECT_EQ(m_->wb_enabled.load(), 0u);
  gc_write_barrier(m_, a, &a->slot[0], b);
  EXPECT_EQ(a->slot[0], b);
  EXPECT_EQ(m_->wbbuf_count(), 0u);
  gc_write_barrier(m_, a, &a->slot[0], nullptr);
  EXPECT_EQ(a->slot[0], nullptr);
  EXPECT_EQ(m_->wbbuf_count(), 0u);

  // After a concurrent cycle the barrier is off again.
  gc_collect(m_);
  EXPECT_EQ(m_->wb_enabled.load(), 0u);
  gc_write_barrier(m_, a, &a->slot[1], b);
  EXPECT_EQ(a->slot[1], b);
  EXPECT_EQ(m_->wbbuf_count(), 0u);
  EXPECT_TRUE(Intact(a, 1));
  EXPECT_TRUE(Intact(b, 2));
  EXPECT_EQ(Stats().cycles, 1u);
  gc_remove_root_range(heap_, roots, 2);
}

// b) Marking on: one store appends exactly two entries, old then new.
TEST_F(WriteBarrierTest, MarkingOnBuffersOldThenNewValue) {
  void* roots[1] = {nullptr};
  ASSERT_EQ(gc_add_root_range(heap_, roots, 1), 0);
  Obj* a = NewObj(1);
  roots[0] = a;
  Obj* b = NewObj(2);
  gc_write_barrier(m_, a, &a->slot[0], b);
  Obj* c = NewObj(3);
  gc_write_barrier(m_, a, &a->slot[1], c);
  ASSERT_EQ(m_->wbbuf_count(), 0u);

  MarkWindow window(heap_, m_);
  window.Open();
  EXPECT_EQ(m_->wb_enabled.load(), 1u);
  EXPECT_EQ(m_->wbbuf_count(), 0u);
  gc_write_barrier(m_, a, &a->slot[0], c);  // C over B
  EXPECT_EQ(a->slot[0], c);
  ASSERT_EQ(m_->wbbuf_count(), 2u);
  EXPECT_EQ(m_->wbbuf[0], reinterpret_cast<uintptr_t>(b));
  EXPECT_EQ(m_->wbbuf[1], reinterpret_cast<uintptr_t>(c));
  gc_write_barrier(m_, a, &a->slot[1], nullptr);  // NULL over C
  EXPECT_EQ(a->slot[1], nullptr);
  ASSERT_EQ(m_->wbbuf_count(), 4u);
  EXPECT_EQ(m_->wbbuf[2], reinterpret_cast<uintptr_t>(c));
  EXPECT_EQ(m_->wbbuf[3], 0u);
  window.Close();

  EXPECT_EQ(m_->wb_enabled.load(), 0u);
  EXPECT_EQ(m_->wbbuf_count(), 0u);  // the final pause flushed it
  EXPECT_TRUE(Intact(a, 1));
  EXPECT_TRUE(Intact(a->slot[0], 3));
  gc_remove_root_range(heap_, roots, 1);
}

// c) Both values are shaded. Before the cycle: A -> B and D -> C, with A, D
// (and the scratch object X) rooted; B and C are white when marking
// begins. While marking: B moves into a root slot (no barrier; roots were
// scanned at pause 1 only) and C is stored over it into A's slot. Shading
// the old value is then the only thing that keeps B; at that instant
// nothing has scanned A or D, so a mark on C can only come from shading
// the new value. C then ends up only in N, an object allocated while
// marking (black, never scanned), and its other references are deleted:
// its survival too depends on the barrier.
//
// (In a program that keeps the API's contract, C's survival cannot depend
// on the new-value half alone: every reference that existed at pause 1 is
// deleted through the barrier, which shades it as an old value. See
// docs/collector.md, "Why no root needs rescanning". So the new-value
// half is checked through C's mark bit.)
TEST_F(WriteBarrierTest, HybridBarrierShadesOldAndNewValues) {
  enum { kA, kD, kX, kTmp, kN, kRoots };
  void* roots[kRoots] = {};
  ASSERT_EQ(gc_add_root_range(heap_, roots, kRoots), 0);
  Obj* a = NewObj(1);
  roots[kA] = a;
  Obj* d = NewObj(4);
  roots[kD] = d;
  Obj* x = NewObj(5);
  roots[kX] = x;
  Obj* b = NewObj(2);
  gc_write_barrier(m_, a, &a->slot[0], b);
  Obj* c = NewObj(3);
  gc_write_barrier(m_, d, &d->slot[0], c);
  for (int i = 0; i < 10; i++) NewObj(100 + i);  // garbage
  gc_collect(m_);  // a first cycle, so the heap's counts start clean
  ASSERT_EQ(Stats().live_objects, 5u);

  MarkWindow window(heap_, m_);
  window.Open();
  // Pause 1 greyed the roots' objects; B and C are white.
  EXPECT_TRUE(IsMarked(heap_, a));
  EXPECT_TRUE(IsMarked(heap_, d));
  EXPECT_FALSE(IsMarked(heap_, b));
  EXPECT_FALSE(IsMarked(heap_, c));
  Obj* n = NewObj(6);  // allocated black (marked in bulk later: test k)
  roots[kN] = n;
  EXPECT_FALSE(IsMarked(heap_, b));  // the allocation marked nothing else
  EXPECT_FALSE(IsMarked(heap_, c));

  roots[kTmp] = a->slot[0];                          // B into a root
  gc_write_barrier(m_, a, &a->slot[0], d->slot[0]);  // C over B
  EXPECT_FALSE(IsMarked(heap_, b));                  // buffered, not shaded yet
  EXPECT_FALSE(IsMarked(heap_, c));
  EXPECT_EQ(StoreUntilFlush(x), static_cast<int>(kStoresPerFlush));
  EXPECT_TRUE(IsMarked(heap_, b)) << "old value not shaded";
  EXPECT_TRUE(IsMarked(heap_, c)) << "new value not shaded";

  // C ends up only in the black object N.
  gc_write_barrier(m_, n, &n->slot[0], c);
  gc_write_barrier(m_, d, &d->slot[0], nullptr);
  gc_write_barrier(m_, a, &a->slot[0], nullptr);
  window.Close();

  // Verification passed (it aborts otherwise) and both are intact.
  EXPECT_TRUE(Intact(roots[kTmp], 2));
  EXPECT_EQ(roots[kTmp], b);
  EXPECT_EQ(n->slot[0], c);
  EXPECT_TRUE(Intact(c, 3));
  gc_stats s = Stats();
  EXPECT_EQ(s.cycles, 2u);
  EXPECT_EQ(s.live_objects, 6u);  // A, B, C, D, X, N

  // A full collection frees what is now unreachable: A, and B and C once
  // their last references go.
  roots[kA] = nullptr;
  roots[kTmp] = nullptr;
  gc_write_barrier(m_, n, &n->slot[0], nullptr);
  const uint64_t freed_before = s.objects_freed;
  gc_collect(m_);
  s = Stats();
  EXPECT_EQ(s.live_objects, 3u);  // D, X, N
  EXPECT_EQ(s.objects_freed - freed_before, 3u);
  EXPECT_TRUE(Intact(d, 4));
  EXPECT_TRUE(Intact(x, 5));
  EXPECT_TRUE(Intact(n, 6));
  gc_remove_root_range(heap_, roots, kRoots);
}

// d) More than kWbBufEntries / 2 stores while marking: the buffer is shaded
// when full (and wraps to the one new entry); the final pause flushes the
// rest. Each store moves an object from a rooted holder into a root slot
// (which pause 1 scanned while it was NULL), so an object whose buffered
// old value were dropped would be lost.
TEST_F(WriteBarrierTest, FullBufferFlushesAndFinalPauseFlushesTheRest) {
  constexpr size_t kMoves = 300;
  static_assert(kMoves > kStoresPerFlush && kMoves < 2 * kStoresPerFlush);
  void* holder_root = nullptr;
  ASSERT_EQ(gc_add_root(heap_, &holder_root), 0);
  std::vector<void*> moved(kMoves, nullptr);
  ASSERT_EQ(gc_add_root_range(heap_, moved.data(), kMoves), 0);
  Holder* h = NewHolder(kMoves);
  holder_root = h;
  for (size_t i = 0; i < kMoves; i++) {
    Obj* o = NewObj(i);
    gc_write_barrier(m_, h, Slot(h, i), o);
  }

  MarkWindow window(heap_, m_);
  window.Open();
  ASSERT_EQ(m_->wbbuf_count(), 0u);
  std::vector<size_t> n_after(kMoves);
  for (size_t i = 0; i < kMoves; i++) {
    moved[i] = *Slot(h, i);
    gc_write_barrier(m_, h, Slot(h, i), nullptr);
    n_after[i] = m_->wbbuf_count();
  }
  for (size_t i = 0; i < kStoresPerFlush; i++) {
    ASSERT_EQ(n_after[i], 2 * (i + 1)) << i;
  }
  EXPECT_EQ(n_after[kStoresPerFlush], 2u);  // flushed, then one entry pair
  EXPECT_EQ(m_->wbbuf_count(), 2 * (kMoves - kStoresPerFlush));
  // The first 256 old values were shaded by the flush; the rest wait.
  size_t marked_early = 0, marked_late = 0;
  for (size_t i = 0; i < kMoves; i++) {
    const bool marked = IsMarked(heap_, moved[i]);
    (i < kStoresPerFlush ? marked_early : marked_late) += marked;
  }
  EXPECT_EQ(marked_early, kStoresPerFlush);
  EXPECT_EQ(marked_late, 0u);
  window.Close();

  EXPECT_EQ(m_->wbbuf_count(), 0u);
  for (size_t i = 0; i < kMoves; i++) {
    ASSERT_TRUE(Intact(moved[i], i)) << i;
    ASSERT_EQ(*Slot(h, i), nullptr);
  }
  EXPECT_EQ(Stats().live_objects, kMoves + 1);
  gc_remove_root_range(heap_, moved.data(), kMoves);
  gc_remove_root(heap_, &holder_root);
}

// e) Threads that detach while marking, with values in their buffers, lose
// nothing: one attached before the cycle (its barrier turned on by pause
// 1), one that attaches while marking (its barrier starts on).
TEST_F(WriteBarrierTest, DetachDuringMarkingFlushesTheBuffer) {
  constexpr int kPerThread = 10;
  void* holder_root = nullptr;
  ASSERT_EQ(gc_add_root(heap_, &holder_root), 0);
  void* moved[2 * kPerThread] = {};
  ASSERT_EQ(gc_add_root_range(heap_, moved, 2 * kPerThread), 0);
  Holder* h = NewHolder(2 * kPerThread);
  holder_root = h;
  for (int i = 0; i < 2 * kPerThread; i++) {
    Obj* o = NewObj(i);
    gc_write_barrier(m_, h, Slot(h, i), o);
  }

  struct Seen {
    uint32_t wb_enabled = 0;
    size_t wbbuf_n = 0;
  };
  // Moves this thread's objects out of the holder into root slots, then
  // detaches with the buffer still holding their old values.
  auto move_and_detach = [&](gc_mutator* tm, int first, Seen* seen) {
    seen->wb_enabled = tm->wb_enabled.load();
    for (int i = first; i < first + kPerThread; i++) {
      moved[i] = *Slot(h, i);
      gc_write_barrier(tm, h, Slot(h, i), nullptr);
    }
    seen->wbbuf_n = tm->wbbuf_count();
    gc_thread_detach(tm);
  };

  Seen seen1, seen2;
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false, go = false;
  std::thread t1([&] {
    gc_mutator* tm = gc_thread_attach(heap_);
    gc_enter_blocking(tm);  // waits through pause 1
    {
      std::unique_lock<std::mutex> g(mu);
      ready = true;
      cv.notify_all();
      cv.wait(g, [&] { return go; });
    }
    gc_leave_blocking(tm);
    move_and_detach(tm, 0, &seen1);
  });
  {
    std::unique_lock<std::mutex> g(mu);
    cv.wait(g, [&] { return ready; });
  }

  MarkWindow window(heap_, m_);
  window.Open();
  {
    std::lock_guard<std::mutex> g(mu);
    go = true;
  }
  cv.notify_all();
  std::thread t2([&] {
    gc_mutator* tm = gc_thread_attach(heap_);
    move_and_detach(tm, kPerThread, &seen2);
  });
  gc_enter_blocking(m_);
  t1.join();
  t2.join();
  gc_leave_blocking(m_);
  EXPECT_EQ(seen1.wb_enabled, 1u);
  EXPECT_EQ(seen2.wb_enabled, 1u);
  EXPECT_EQ(seen1.wbbuf_n, 2u * kPerThread);
  EXPECT_EQ(seen2.wbbuf_n, 2u * kPerThread);
  // Detaching shaded them (nothing else marks while the window is open).
  for (int i = 0; i < 2 * kPerThread; i++) {
    EXPECT_TRUE(IsMarked(heap_, moved[i])) << i;
  }
  window.Close();

  for (int i = 0; i < 2 * kPerThread; i++) {
    ASSERT_TRUE(Intact(moved[i], i)) << i;
  }
  EXPECT_EQ(Stats().live_objects, 2u * kPerThread + 1);
  gc_remove_root_range(heap_, moved, 2 * kPerThread);
  gc_remove_root(heap_, &holder_root);
}

// ---- stores of any value, CAS, exchange and bulk copies (issue 11) ---------

// A tagged immediate (a fixnum with tag 1), never a heap address.
void* const kFixnum = reinterpret_cast<void*>((uintptr_t{42} << 3) | 1);

// The buffered (old, new) pairs since entry `from`, as a set.
std::set<std::pair<uintptr_t, uintptr_t>> Pairs(gc_mutator* m, size_t from) {
  std::set<std::pair<uintptr_t, uintptr_t>> s;
  for (size_t i = from; i + 1 < m->wbbuf_count(); i += 2) {
    s.insert({m->wbbuf[i], m->wbbuf[i + 1]});
  }
  return s;
}
std::pair<uintptr_t, uintptr_t> Pair(const void* old, const void* value) {
  return {reinterpret_cast<uintptr_t>(old), reinterpret_cast<uintptr_t>(value)};
}

// f) Storing a tagged immediate over a pointer is a pointer-slot store like
// any other: the barrier records the pointer it overwrites. B moves into a
// root slot after pause 1 snapshotted the roots, then an immediate is
// stored over A's reference to it: only the recorded old value keeps B.
TEST_F(WriteBarrierTest, ImmediateStoredOverAPointerShadesTheOldValue) {
  enum { kA, kX, kTmp, kRoots };
  void* roots[kRoots];
  auto [a, x] = RootAAndX(roots, kRoots);
  Obj* b = NewObj(2);
  gc_write_barrier(m_, a, &a->slot[0], b);

  MarkWindow window(heap_, m_);
  window.Open();
  EXPECT_FALSE(IsMarked(heap_, b));
  roots[kTmp] = a->slot[0];
  gc_write_barrier(m_, a, &a->slot[0], kFixnum);
  EXPECT_EQ(a->slot[0], kFixnum);
  EXPECT_EQ(Pairs(m_, 0), (std::set{Pair(b, kFixnum)}));
  StoreUntilFlush(x);
  EXPECT_TRUE(IsMarked(heap_, b)) << "the overwritten pointer was not shaded";
  window.Close();
  EXPECT_TRUE(Intact(roots[kTmp], 2));
  gc_remove_root_range(heap_, roots, kRoots);
}

// The hazard the barrier closes, shown by the verifier: the same moves with
// a plain store of the immediate leave B unmarked while a root reaches it,
// and verification aborts the cycle (the object would have been freed).
TEST_F(WriteBarrierTest, PlainImmediateStoreOverAPointerLosesTheObject) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        void* roots[2] = {};
        gc_add_root_range(heap_, roots, 2);
        Obj* a = NewObj(1);
        roots[0] = a;
        Obj* b = NewObj(2);
        gc_write_barrier(m_, a, &a->slot[0], b);
        MarkWindow window(heap_, m_);
        window.Open();
        roots[1] = a->slot[0];
        a->slot[0] = kFixnum;  // no barrier: B's old reference is not seen
        window.Close();
      },
      "reachable object .* was not marked");
}

// g) gc_write_barrier_cas and gc_write_barrier_exchange: atomic, and while
// marking they record the value they replace and the value they store; a
// failed CAS stores and records nothing. With marking off they record
// nothing.
TEST_F(WriteBarrierTest, CasAndExchangeRecordWhatTheyReplaceAndStore) {
  enum { kA, kX, kMoved, kRoots };
  void* roots[kRoots];
  auto [a, x] = RootAAndX(roots, kRoots);
  Obj* b = NewObj(2);
  Obj* c = NewObj(3);
  Obj* d = NewObj(4);
  // Marking off: plain atomics.
  void* expected = nullptr;
  EXPECT_EQ(gc_write_barrier_cas(m_, a, &a->slot[0], &expected, b), 1);
  EXPECT_EQ(gc_write_barrier_cas(m_, a, &a->slot[0], &expected, c), 0);
  EXPECT_EQ(expected, b);
  EXPECT_EQ(gc_write_barrier_exchange(m_, a, &a->slot[1], d), nullptr);
  EXPECT_EQ(a->slot[0], b);
  EXPECT_EQ(a->slot[1], d);
  EXPECT_EQ(m_->wbbuf_count(), 0u);
  // C is held by D, so it stays alive until the window.
  gc_write_barrier(m_, d, &d->slot[0], c);

  MarkWindow window(heap_, m_);
  window.Open();
  for (Obj* o : {b, c, d}) EXPECT_FALSE(IsMarked(heap_, o));
  roots[kMoved] = a->slot[0];  // B: its only reference after the CAS
  expected = d;                // wrong: the slot holds B
  EXPECT_EQ(gc_write_barrier_cas(m_, a, &a->slot[0], &expected, c), 0);
  EXPECT_EQ(expected, b);
  EXPECT_EQ(m_->wbbuf_count(), 0u) << "a failed CAS recorded something";
  EXPECT_EQ(gc_write_barrier_cas(m_, a, &a->slot[0], &expected, c), 1);
  EXPECT_EQ(a->slot[0], c);
  EXPECT_EQ(Pairs(m_, 0), (std::set{Pair(b, c)}));
  // D moves from A's slot 1 to a root by exchange; an immediate takes its
  // place.
  void* old = gc_write_barrier_exchange(m_, a, &a->slot[1], kFixnum);
  EXPECT_EQ(old, d);
  EXPECT_EQ(Pairs(m_, 2), (std::set{Pair(d, kFixnum)}));
  roots[kMoved] = nullptr;
  gc_write_barrier(m_, x, &x->slot[0], b);  // B into the rooted X
  StoreUntilFlush(x);
  // Nothing has scanned A, D or X yet: the marks come from the records.
  EXPECT_TRUE(IsMarked(heap_, b)) << "CAS: old value not shaded";
  EXPECT_TRUE(IsMarked(heap_, c)) << "CAS: new value not shaded";
  EXPECT_TRUE(IsMarked(heap_, d)) << "exchange: old value not shaded";
  window.Close();
  EXPECT_TRUE(Intact(x->slot[0], 2));
  EXPECT_TRUE(Intact(a->slot[0], 3));
  EXPECT_EQ(a->slot[1], kFixnum);
  gc_remove_root_range(heap_, roots, kRoots);
}

// h) gc_write_barrier_copy between two objects: every overwritten value
// and every copied value is recorded. The overwritten objects were moved
// into root slots after pause 1, so only their records keep them; at the
// flush nothing has scanned the source, so the copied ones' marks come from
// their records too.
TEST_F(WriteBarrierTest, BulkCopyRecordsEveryOverwrittenAndCopiedValue) {
  constexpr size_t kN = 8;
  void* roots[2] = {};  // the two holders
  void* moved[kN] = {};
  ASSERT_EQ(gc_add_root_range(heap_, roots, 2), 0);
  ASSERT_EQ(gc_add_root_range(heap_, moved, kN), 0);
  Holder* dst = NewHolder(kN);
  roots[0] = dst;
  Holder* src = NewHolder(kN);
  roots[1] = src;
  for (size_t i = 0; i < kN; i++) {
    gc_write_barrier(m_, dst, Slot(dst, i), NewObj(i));
    gc_write_barrier(m_, src, Slot(src, i), NewObj(100 + i));
  }
  Obj* x = NewObj(5);
  gc_write_barrier(m_, src, Slot(src, 0), nullptr);  // a NULL is copied too
  gc_write_barrier(m_, dst, Slot(dst, 0), x);

  MarkWindow window(heap_, m_);
  window.Open();
  std::set<std::pair<uintptr_t, uintptr_t>> want;
  for (size_t i = 0; i < kN; i++) {
    moved[i] = *Slot(dst, i);
    want.insert(Pair(*Slot(dst, i), *Slot(src, i)));
  }
  gc_write_barrier_copy(m_, dst, Slot(dst, 0), Slot(src, 0), kN);
  for (size_t i = 0; i < kN; i++) ASSERT_EQ(*Slot(dst, i), *Slot(src, i));
  EXPECT_EQ(m_->wbbuf_count(), 2 * kN);
  EXPECT_EQ(Pairs(m_, 0), want);
  for (size_t i = 0; i < kN; i++) EXPECT_FALSE(IsMarked(heap_, moved[i]));
  StoreUntilFlush(static_cast<Obj*>(moved[0]));  // X
  for (size_t i = 0; i < kN; i++) {
    EXPECT_TRUE(IsMarked(heap_, moved[i])) << "overwritten " << i;
    if (i > 0) {
      EXPECT_TRUE(IsMarked(heap_, *Slot(dst, i))) << "copied " << i;
    }
  }
  window.Close();
  EXPECT_TRUE(Intact(moved[0], 5));
  for (size_t i = 1; i < kN; i++) {
    ASSERT_TRUE(Intact(moved[i], i)) << i;
    ASSERT_TRUE(Intact(*Slot(dst, i), 100 + i)) << i;
  }
  gc_remove_root_range(heap_, moved, kN);
  gc_remove_root_range(heap_, roots, 2);
}

// i) Overlapping copies within one object move like memmove, with marking
// off (the inline path) and on (the recorded path). Shifting right by one
// overwrites the last element, which was moved into a root after pause 1:
// its record keeps it.
TEST_F(WriteBarrierTest, OverlappingBulkCopyMovesLikeMemmove) {
  constexpr size_t kN = 8;
  void* roots[2] = {};
  ASSERT_EQ(gc_add_root_range(heap_, roots, 2), 0);
  Holder* h = NewHolder(kN);
  roots[0] = h;
  std::vector<void*> objs;
  for (size_t i = 0; i < kN; i++) {
    objs.push_back(NewObj(i));
    gc_write_barrier(m_, h, Slot(h, i), objs.back());
  }
  auto contents = [&] {
    std::vector<void*> v;
    for (size_t i = 0; i < kN; i++) v.push_back(*Slot(h, i));
    return v;
  };
  auto shift = [&](std::vector<void*> v, bool right) {
    if (right) {
      std::memmove(&v[1], &v[0], (kN - 1) * sizeof(void*));
    } else {
      std::memmove(&v[0], &v[1], (kN - 1) * sizeof(void*));
    }
    return v;
  };
  // Marking off: right then left, back where it started but for the ends.
  std::vector<void*> want = shift(contents(), true);
  gc_write_barrier_copy(m_, h, Slot(h, 1), Slot(h, 0), kN - 1);
  EXPECT_EQ(contents(), want);
  want = shift(contents(), false);
  gc_write_barrier_copy(m_, h, Slot(h, 0), Slot(h, 1), kN - 1);
  EXPECT_EQ(contents(), want);
  EXPECT_EQ(m_->wbbuf_count(), 0u);
  for (size_t i = 0; i < kN; i++) {  // restore 0..7
    gc_write_barrier(m_, h, Slot(h, i), objs[i]);
  }
  objs.clear();

  MarkWindow window(heap_, m_);
  window.Open();
  void* last = *Slot(h, kN - 1);
  roots[1] = last;
  want = shift(contents(), true);
  gc_write_barrier_copy(m_, h, Slot(h, 1), Slot(h, 0), kN - 1);
  EXPECT_EQ(contents(), want);
  EXPECT_EQ(m_->wbbuf_count(), 2 * (kN - 1));
  EXPECT_TRUE(Pairs(m_, 0).count(Pair(last, *Slot(h, kN - 1))))
      << "the overwritten last element was not recorded";
  want = shift(contents(), false);
  gc_write_barrier_copy(m_, h, Slot(h, 0), Slot(h, 1), kN - 1);
  EXPECT_EQ(contents(), want);
  gc_write_barrier_copy(m_, h, Slot(h, 0), Slot(h, 0), 0);  // n = 0
  window.Close();
  EXPECT_TRUE(Intact(roots[1], kN - 1));
  for (size_t i = 0; i + 2 < kN; i++) {
    ASSERT_TRUE(Intact(*Slot(h, i), i)) << i;
  }
  gc_remove_root_range(heap_, roots, 2);
}

// j) A growing vector while marking: its elements move into new, larger
// storage (allocated black, never scanned in this cycle) with one bulk
// copy, the old storage is cleared with another (from a C array of NULLs)
// and dropped. Every element survives. (One allocation in the window: the
// elements to append are made before it.)
TEST_F(WriteBarrierTest, GrowingVectorKeepsItsElements) {
  constexpr size_t kOld = 100, kNew = 200;
  void* vec_root = nullptr;
  ASSERT_EQ(gc_add_root(heap_, &vec_root), 0);
  std::vector<void*> more(kNew - kOld, nullptr);
  ASSERT_EQ(gc_add_root_range(heap_, more.data(), more.size()), 0);
  Holder* v = NewHolder(kOld);
  vec_root = v;
  for (size_t i = 0; i < kOld; i++) {
    gc_write_barrier(m_, v, Slot(v, i), NewObj(i));
  }
  for (size_t i = kOld; i < kNew; i++) more[i - kOld] = NewObj(i);

  MarkWindow window(heap_, m_);
  window.Open();
  Holder* grown = NewHolder(kNew);  // a safepoint: v is rooted
  gc_write_barrier_copy(m_, grown, Slot(grown, 0), Slot(v, 0), kOld);
  static void* const kNulls[kOld] = {};
  gc_write_barrier_copy(m_, v, Slot(v, 0), kNulls, kOld);
  vec_root = grown;
  gc_write_barrier_copy(m_, grown, Slot(grown, kOld), more.data(), kNew - kOld);
  std::fill(more.begin(), more.end(), nullptr);
  window.Close();
  for (size_t i = 0; i < kNew; i++) {
    ASSERT_TRUE(Intact(*Slot(grown, i), i)) << i;
  }
  gc_collect(m_);  // the old storage is garbage now
  EXPECT_EQ(Stats().live_objects, 1u + kNew);
  gc_remove_root_range(heap_, more.data(), more.size());
  gc_remove_root(heap_, &vec_root);
}

// k) Allocate black, in bulk (heap/mcache.h): an object allocated while
// marking is not marked when it is allocated but when its span leaves the
// mcache or in the final pause, and it survives the cycle even if it is
// referenced only from root slots written after pause 1 (which no marker
// looks at again; verification would abort on a miss). Covered: a span
// that was cached before the mark (its earlier objects are garbage and
// stay unmarked), spans refilled during the mark (some uncached before the
// final pause, one still cached then), the tiny block that was in use at
// pause 1 (a tiny object allocated into it during the mark is its only
// reference), a large object (marked at once), and a thread that attaches
// and detaches during the mark. The cycle marks exactly these objects.
TEST_F(WriteBarrierTest,
       ObjectsAllocatedWhileMarkingAreMarkedInBulkAndSurvive) {
  constexpr size_t kPerSpan = 8192 / sizeof(Obj);  // 128 slots
  constexpr size_t kNew = 3 * kPerSpan + 7;        // spans refilled
  constexpr size_t kThreadObjs = 2 * kPerSpan + 3;
  std::vector<void*> roots(kNew + kThreadObjs + 2, nullptr);
  ASSERT_EQ(gc_add_root_range(heap_, roots.data(), roots.size()), 0);
  // Before the mark: garbage in the span that stays cached, and the tiny
  // block that will be in use at pause 1 (its first object is garbage).
  std::vector<Obj*> garbage;
  for (int i = 0; i < 10; i++) garbage.push_back(NewObj(1000 + i));
  auto* tiny0 = static_cast<char*>(gc_alloc_noscan(m_, 4));
  ASSERT_NE(tiny0, nullptr);

  MarkWindow window(heap_, m_);
  window.Open();  // no marking runs until Close (see the top of the file)
  Obj* first = NewObj(0);  // in the span cached before the mark
  roots[0] = first;
  EXPECT_FALSE(IsMarked(heap_, first)) << "marked at allocation";
  for (size_t i = 1; i < kNew; i++) roots[i] = NewObj(i);
  // That span and the next two were used up and uncached: marked in bulk,
  // from where the mark began.
  EXPECT_TRUE(IsMarked(heap_, first));
  EXPECT_TRUE(IsMarked(heap_, roots[kPerSpan]));
  for (Obj* g : garbage) EXPECT_FALSE(IsMarked(heap_, g));
  // The last span is still cached: not marked yet.
  EXPECT_FALSE(IsMarked(heap_, roots[kNew - 1]));
  auto* tiny1 = static_cast<char*>(gc_alloc_noscan(m_, 4));
  ASSERT_NE(tiny1, nullptr);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(tiny1) & ~uintptr_t{15},
            reinterpret_cast<uintptr_t>(tiny0) & ~uintptr_t{15})
      << "not the same tiny block";
  memcpy(tiny1, "abc", 4);
  EXPECT_TRUE(IsMarked(heap_, tiny1));  // the block, at its first use
  roots[kNew] = tiny1;
  auto* large = static_cast<uint64_t*>(gc_alloc_noscan(m_, 64 << 10));
  ASSERT_NE(large, nullptr);
  large[0] = 42;
  EXPECT_TRUE(IsMarked(heap_, large));
  roots[kNew + 1] = large;
  std::thread other([&] {
    gc_mutator* m = gc_thread_attach(heap_);
    for (size_t i = 0; i < kThreadObjs; i++) {
      auto* o = static_cast<Obj*>(gc_alloc(m, obj_type_, sizeof(Obj)));
      ASSERT_NE(o, nullptr);
      o->id = 5000 + i;
      for (int k = 0; k < 5; k++) o->payload[k] = Pattern(o->id, k);
      roots[kNew + 2 + i] = o;
    }
    gc_thread_detach(m);  // its last span: marked as it is returned
  });
  gc_enter_blocking(m_);
  other.join();
  gc_leave_blocking(m_);
  window.Close();

  for (size_t i = 0; i < kNew; i++) ASSERT_TRUE(Intact(roots[i], i)) << i;
  for (size_t i = 0; i < kThreadObjs; i++) {
    ASSERT_TRUE(Intact(roots[kNew + 2 + i], 5000 + i)) << i;
  }
  EXPECT_STREQ(tiny1, "abc");
  EXPECT_EQ(large[0], 42u);
  // Marked: the new objects, the tiny block and the large object; not the
  // garbage (pause 1 found the roots empty).
  gc_stats s = Stats();
  EXPECT_EQ(s.live_objects, kNew + kThreadObjs + 2);
  gc_collect(m_);  // a cycle with them rooted: the same
  s = Stats();
  EXPECT_EQ(s.live_objects, kNew + kThreadObjs + 2);
  gc_remove_root_range(heap_, roots.data(), roots.size());
}

// l) Before the bulk marking, a black object reads as live to
// MSpan::IsMarkedOrBlack (what an ephemeron's key check or a finalization
// decision taken during the mark must use): also one whose window closed,
// so that its slot reads as allocated while its mark bit is still clear.
// The objects are 208 bytes, a size class nothing else here uses: a span of
// them is rooted every other slot and collected, so during the mark each
// hole is a window of one slot and the next allocation syncs the previous
// one. Objects of the same span allocated before the mark and not yet
// reached by it read as not live.
TEST_F(WriteBarrierTest, BlackObjectsReadAsLiveBeforeTheyAreMarkedInBulk) {
  struct Big {
    uint64_t id;
    void* ref;
    uint64_t pad[24];
  };
  static_assert(sizeof(Big) == 208);
  const gc_type_id big_type =
      RegisterSmallType(heap_, "Big", sizeof(Big), 0b10);
  ASSERT_NE(big_type, 0u) << gc_last_error();
  constexpr size_t kPerSpan = 8192 / sizeof(Big);  // 39 slots
  constexpr size_t kNew = 8;
  std::vector<void*> roots(kPerSpan + kNew, nullptr);
  ASSERT_EQ(gc_add_root_range(heap_, roots.data(), roots.size()), 0);
  auto new_big = [&](uint64_t id) {
    auto* b = static_cast<Big*>(gc_alloc(m_, big_type, sizeof(Big)));
    EXPECT_NE(b, nullptr) << gc_last_error();
    b->id = id;
    return b;
  };
  std::vector<Big*> old(kPerSpan);
  for (size_t i = 0; i < kPerSpan; i++) {
    old[i] = new_big(i);
    // The odd ones are garbage; of the even ones every other is a root and
    // holds the next, which the running mark has not reached yet (pause 1
    // shades the roots, nothing scans them before Close).
    if (i % 4 == 0) roots[i] = old[i];
    if (i % 4 == 2) {
      gc_write_barrier(m_, old[i - 2], &old[i - 2]->ref, old[i]);
    }
  }
  gc_collect(m_);  // the odd slots are free now: one-slot runs
  ObjectRef old_ref;
  ASSERT_TRUE(
      heap_->heap.FindObject(reinterpret_cast<uintptr_t>(roots[0]), &old_ref));

  MarkWindow window(heap_, m_);
  window.Open();  // no marking runs until Close
  std::vector<Big*> fresh;
  for (size_t i = 0; i < kNew; i++) fresh.push_back(new_big(1000 + i));
  for (size_t i = 0; i < kNew; i++) {
    ObjectRef r;
    ASSERT_TRUE(
        heap_->heap.FindObject(reinterpret_cast<uintptr_t>(fresh[i]), &r));
    ASSERT_EQ(r.span, old_ref.span) << "not allocated into the holes: " << i;
    EXPECT_FALSE(IsMarked(heap_, fresh[i])) << i;  // the span is cached
    EXPECT_TRUE(IsMarkedOrBlack(heap_, fresh[i])) << i;
    // Every window but the last was closed by the next allocation.
    if (i + 1 < kNew) EXPECT_TRUE(IsAllocatedSlot(heap_, fresh[i])) << i;
  }
  for (size_t i = 2; i < kPerSpan; i += 4) {
    EXPECT_FALSE(IsMarkedOrBlack(heap_, old[i])) << i;
  }
  for (size_t i = 0; i < kNew; i++) roots[kPerSpan + i] = fresh[i];
  window.Close();
  for (size_t i = 0; i < kPerSpan; i += 2) EXPECT_EQ(old[i]->id, i);
  for (size_t i = 0; i < kNew; i++) {
    EXPECT_EQ(fresh[i]->id, 1000 + i);
    // Marked in the final pause, so not freed by the sweep.
    EXPECT_TRUE(IsAllocatedSlot(heap_, fresh[i])) << i;
  }
  EXPECT_EQ(Stats().live_objects, (kPerSpan + 1) / 2 + kNew);
  gc_remove_root_range(heap_, roots.data(), roots.size());
}

// ---- stress
// ------------------------------------------------------------------

constexpr int kEdges = 4;
struct Node {
  void* edge[kEdges];
  uint64_t id;
  uint64_t payload[3];
};
static_assert(sizeof(Node) == 64);

bool NodeIntact(const Node* n) {
  for (int i = 0; i < 3; i++) {
    if (n->payload[i] != Pattern(n->id, i)) return false;
  }
  return true;
}

// What the stress tests share: mutator threads, a thread that collects in
// a loop until they are all done, and a mark-phase hook that holds each
// cycle's mark phase open until the mutators have made kWindowOps more
// barrier operations with marking on (CountMarkingOps), so that their
// stores overlap marking. The hook lets go early once every mutator is
// done, or when the count stops moving for 20 ms: the mutators then wait
// for this very cycle (an allocation passed the hard goal).
class StressRun {
 public:
  static constexpr uint64_t kWindowOps = 256;

  explicit StressRun(gc_heap* h) : h_(h) {}

  // Runs mutator(t) for t < threads, each on a thread of its own (it
  // attaches itself), and returns when all of them and the collecting
  // thread have finished.
  template <typename F>
  void Run(int threads, F mutator) {
    threads_ = threads;
    h_->collector->SetMarkPhaseHookForTesting([this] { HoldMarking(); });
    std::thread collector([this] {
      gc_mutator* m = gc_thread_attach(h_);
      while (done_.load() < threads_) gc_collect(m);
      gc_thread_detach(m);
    });
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++) {
      ts.emplace_back([this, &mutator, t] {
        mutator(t);
        done_++;
      });
    }
    for (auto& th : ts) th.join();
    collector.join();
    h_->collector->SetMarkPhaseHookForTesting(nullptr);
  }

  void CountMarkingOps(uint64_t n) { marking_ops_.fetch_add(n); }
  uint64_t marking_ops() const { return marking_ops_.load(); }
  // Cycles the hook held open for a whole window.
  int windows() const { return windows_.load(); }

 private:
  void HoldMarking() {
    const uint64_t target = marking_ops_.load() + kWindowOps;
    uint64_t seen = marking_ops_.load();
    auto moved = std::chrono::steady_clock::now();
    while (marking_ops_.load() < target && done_.load() < threads_ &&
           std::chrono::steady_clock::now() - moved <
               std::chrono::milliseconds(20)) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      if (marking_ops_.load() != seen) {
        seen = marking_ops_.load();
        moved = std::chrono::steady_clock::now();
      }
    }
    if (marking_ops_.load() >= target) windows_++;
  }

  gc_heap* h_;
  int threads_ = 0;
  std::atomic<uint64_t> marking_ops_{0};
  std::atomic<int> done_{0};
  std::atomic<int> windows_{0};
};

// Six threads (more than the machine's cores) each own a random graph: a
// rooted table (a heap object) of kNodes nodes with four edges each, plus
// a few root "registers". They rewire edges, replace nodes with new ones,
// and move pointers between the registers and the heap, every heap store
// through gc_write_barrier, while another thread collects in a loop. The
// mark-phase hook holds each cycle's mark phase open until the mutators
// have made a few hundred stores with the barrier on, so the stores do
// overlap marking. Each thread checks its graph's payloads as it goes and
// at the end; verification checks every cycle's marks.
TEST(WriteBarrierStressTest, SixThreadsRewireGraphsWhileCollecting) {
  constexpr int kThreads = 6;
  constexpr int kNodes = 2000;
  constexpr int kRegs = 4;
  constexpr int kOps = 50000;
  constexpr int kCheckEvery = 5000;
  constexpr int kWindows = 5;  // cycles that must overlap the stores
  gc_heap* h = NewConcurrentVerifyingHeap();
  ASSERT_NE(h, nullptr) << gc_last_error();
  const gc_type_id node_type =
      RegisterSmallType(h, "Node", sizeof(Node), 0b1111);
  const gc_type_id table_type = RegisterHolder(h, "Table");
  ASSERT_NE(node_type, 0u);
  ASSERT_NE(table_type, 0u);

  std::atomic<int> failures{0};
  StressRun run(h);

  auto mutator = [&](int t) {
    gc_mutator* m = gc_thread_attach(h);
    // roots[0]: the table; the rest: registers.
    void* roots[1 + kRegs] = {};
    gc_add_root_range(h, roots, 1 + kRegs);
    std::mt19937_64 rng(1234 + t);
    uint64_t next_id = uint64_t(t) << 40;
    uint64_t local_marking_stores = 0;
    auto store = [&](void* obj, void** slot, void* value) {
      if (m->wb_enabled.load(std::memory_order_relaxed)) {
        local_marking_stores++;
      }
      gc_write_barrier(m, obj, slot, value);
    };
    auto new_node = [&]() -> Node* {
      auto* n = static_cast<Node*>(gc_alloc(m, node_type, sizeof(Node)));
      if (n == nullptr) return nullptr;
      n->id = next_id++;
      for (int i = 0; i < 3; i++) n->payload[i] = Pattern(n->id, i);
      return n;
    };
    auto* table = static_cast<Holder*>(
        gc_alloc(m, table_type, sizeof(uint64_t) + kNodes * sizeof(void*)));
    if (table == nullptr) {
      failures++;
      return;
    }
    table->n = kNodes;
    roots[0] = table;
    auto slot = [&](int i) { return Slot(table, i); };
    for (int i = 0; i < kNodes; i++) {
      Node* n = new_node();
      if (n == nullptr) {
        failures++;
        return;
      }
      store(table, slot(i), n);
    }
    auto node = [&](int i) { return static_cast<Node*>(*Slot(table, i)); };
    for (int i = 0; i < kNodes; i++) {
      for (int e = 0; e < kEdges; e++) {
        store(node(i), &node(i)->edge[e], node(rng() % kNodes));
      }
    }
    // Walks everything reachable from the table and the registers.
    auto check = [&] {
      std::unordered_set<const Node*> seen;
      std::vector<const Node*> todo;
      for (void* r : roots) {
        if (r != nullptr && r != table) todo.push_back(static_cast<Node*>(r));
      }
      for (int i = 0; i < kNodes; i++) todo.push_back(node(i));
      while (!todo.empty()) {
        const Node* n = todo.back();
        todo.pop_back();
        if (n == nullptr || !seen.insert(n).second) continue;
        if (!NodeIntact(n)) {
          failures++;
          return;
        }
        for (void* e : n->edge) todo.push_back(static_cast<const Node*>(e));
      }
    };

    for (int op = 0; op < kOps || run.windows() < kWindows; op++) {
      const int i = rng() % kNodes, j = rng() % kNodes;
      const int e = rng() % kEdges, r = 1 + rng() % kRegs;
      const int kind = rng() % 100;
      if (kind < 55) {  // rewire an edge (sometimes to NULL)
        store(node(i), &node(i)->edge[e], rng() % 8 ? node(j) : nullptr);
      } else if (kind < 70) {  // replace a table entry with a new node
        Node* n = new_node();  // a safepoint; we hold no other pointer
        if (n == nullptr) {
          failures++;
          break;
        }
        store(n, &n->edge[0], node(j));
        store(n, &n->edge[1], node(i));
        store(table, slot(i), n);
      } else if (kind < 80) {  // move an edge target into a register
        roots[r] = node(i)->edge[e];
        store(node(i), &node(i)->edge[e], nullptr);
      } else if (kind < 90) {  // and back into the heap
        store(node(i), &node(i)->edge[e], roots[r]);
      } else if (kind < 95) {  // swap two table entries
        Node* a = node(i);
        Node* b = node(j);
        store(table, slot(i), b);
        store(table, slot(j), a);
      } else {  // a table node into a register, its entry reused
        roots[r] = node(i);
        Node* target = static_cast<Node*>(node(j)->edge[e]);
        store(table, slot(i), target != nullptr ? target : node(j));
      }
      if (op % 32 == 0) {
        run.CountMarkingOps(local_marking_stores);
        local_marking_stores = 0;
        gc_safepoint(m);
      }
      if (op % kCheckEvery == kCheckEvery - 1) check();
    }
    run.CountMarkingOps(local_marking_stores);
    gc_collect(m);
    check();
    gc_remove_root_range(h, roots, 1 + kRegs);
    gc_thread_detach(m);
  };
  run.Run(kThreads, mutator);

  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(run.windows(), kWindows);
  EXPECT_GE(run.marking_ops(), StressRun::kWindowOps * kWindows);
  // Everything is garbage now.
  gc_mutator* m = gc_thread_attach(h);
  gc_collect(m);
  const gc_stats s = GetStats(h);
  EXPECT_EQ(s.live_objects, 0u);
  // Each window was a cycle of its own (the collector thread's, an
  // automatic one, or a mutator's last gc_collect); this one came after.
  EXPECT_GT(s.cycles, static_cast<uint64_t>(run.windows()));
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// Nodes of the shared-slot stress test: a link, an id and a payload.
struct SNode {
  void* next;
  uint64_t id;
  uint64_t payload[2];
};
static_assert(sizeof(SNode) == 32);

bool IsPointer(const void* v) {
  return v != nullptr && (reinterpret_cast<uintptr_t>(v) & 7) == 0;
}

// Checks the payloads along v's chain (at most `depth` links).
bool ChainIntact(const void* v, int depth) {
  for (; depth > 0 && IsPointer(v); depth--) {
    const auto* n = static_cast<const SNode*>(v);
    for (int i = 0; i < 2; i++) {
      if (n->payload[i] != Pattern(n->id, i)) return false;
    }
    v = __atomic_load_n(&n->next, __ATOMIC_ACQUIRE);
  }
  return true;
}

// Eight threads (four times the cores) share one table of 64 slots, rooted
// in one root slot, and change it only through the atomic barriers while
// another thread collects in a loop: CAS a new node in (linking the old
// value behind it), move values between slots with exchanges (an immediate
// holds the place meanwhile), shift ranges within the table and copy ranges
// out into a private "grown" vector and back with the bulk barrier, store
// tagged immediates over pointers, and read and check chains. A thread
// holds a loaded pointer only until its next safepoint. The mark-phase hook
// holds each cycle's mark phase open until the threads have made a few
// hundred barrier operations with marking on; verification checks every
// cycle's marks, and the payload checks catch a freed, reused node.
TEST(WriteBarrierStressTest,
     SharedSlotsUnderCasExchangeAndCopyWhileCollecting) {
  constexpr int kThreads = 8;
  constexpr size_t kSlots = 64;
  constexpr size_t kMaxRange = 8;
  const int kOps = kDebugBuild ? 15000 : 60000;
  constexpr int kWindows = 5;
  gc_heap* h = NewConcurrentVerifyingHeap();
  ASSERT_NE(h, nullptr) << gc_last_error();
  const gc_type_id node_type =
      RegisterSmallType(h, "SNode", sizeof(SNode), 0b1);
  const gc_type_id table_type = RegisterHolder(h, "Table");
  ASSERT_NE(node_type, 0u) << gc_last_error();
  ASSERT_NE(table_type, 0u) << gc_last_error();

  std::atomic<int> failures{0};
  std::atomic<uint64_t> next_id{1};
  StressRun run(h);

  void* table_root = nullptr;
  ASSERT_EQ(gc_add_root(h, &table_root), 0);
  gc_mutator* main_m = gc_thread_attach(h);
  auto new_node = [&](gc_mutator* m) -> SNode* {
    auto* n = static_cast<SNode*>(gc_alloc(m, node_type, sizeof(SNode)));
    if (n == nullptr) return nullptr;
    n->id = next_id.fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < 2; i++) n->payload[i] = Pattern(n->id, i);
    return n;
  };
  {
    auto* table = static_cast<Holder*>(gc_alloc(
        main_m, table_type, sizeof(uint64_t) + kSlots * sizeof(void*)));
    ASSERT_NE(table, nullptr) << gc_last_error();
    table->n = kSlots;
    table_root = table;
    for (size_t i = 0; i < kSlots; i++) {
      SNode* n = new_node(main_m);
      ASSERT_NE(n, nullptr) << gc_last_error();
      gc_write_barrier(main_m, table, Slot(table, i), n);
    }
  }
  gc_enter_blocking(main_m);  // the workers' cycles must not wait for it
  Holder* const table = static_cast<Holder*>(table_root);

  auto worker = [&](int t) {
    gc_mutator* m = gc_thread_attach(h);
    void* grown = nullptr;  // a private vector, rooted
    gc_add_root(h, &grown);
    std::mt19937_64 rng(777 + t);
    uint64_t local = 0;
    auto count = [&] {
      if (m->wb_enabled.load(std::memory_order_relaxed)) local++;
    };
    auto slot = [&](size_t i) { return Slot(table, i); };
    auto immediate = [&] {
      return reinterpret_cast<void*>(((rng() % 500) << 3) | 1);
    };
    for (int op = 0; op < kOps || run.windows() < kWindows; op++) {
      const size_t i = rng() % kSlots, j = rng() % kSlots;
      const int kind = rng() % 100;
      if (kind < 25) {           // CAS a new node in, linking the old value
        SNode* n = new_node(m);  // the safepoint comes before the loads
        if (n == nullptr) {
          failures++;
          break;
        }
        void* expected = __atomic_load_n(slot(i), __ATOMIC_ACQUIRE);
        if (rng() % 4 == 0) {
          count();
          gc_write_barrier(m, n, &n->next, expected);
        }
        count();
        if (!gc_write_barrier_cas(m, table, slot(i), &expected, n)) {
          count();  // retry once against what is there now
          gc_write_barrier_cas(m, table, slot(i), &expected, n);
        }
      } else if (kind < 45) {  // move slot i's value to slot j, and back
        count();
        void* v = gc_write_barrier_exchange(m, table, slot(i), immediate());
        count();
        void* w = gc_write_barrier_exchange(m, table, slot(j), v);
        count();
        gc_write_barrier_exchange(m, table, slot(i), w);
      } else if (kind < 65) {  // shift a range within the table
        const size_t len = 1 + rng() % kMaxRange;
        const size_t from = rng() % (kSlots - len + 1);
        const size_t to = rng() % (kSlots - len + 1);
        count();
        gc_write_barrier_copy(m, table, slot(to), slot(from), len);
      } else if (kind < 75) {  // copy a range out into new private storage
        const size_t len = 1 + rng() % kMaxRange;
        const size_t from = rng() % (kSlots - len + 1);
        auto* g = static_cast<Holder*>(
            gc_alloc(m, table_type, sizeof(uint64_t) + len * sizeof(void*)));
        if (g == nullptr) {
          failures++;
          break;
        }
        g->n = len;
        count();
        gc_write_barrier_copy(m, g, Slot(g, 0), slot(from), len);
        grown = g;             // a root slot: a plain store
      } else if (kind < 80) {  // and back into the table
        if (grown != nullptr) {
          auto* g = static_cast<Holder*>(grown);
          const size_t to = rng() % (kSlots - g->n + 1);
          count();
          gc_write_barrier_copy(m, table, slot(to), Slot(g, 0), g->n);
        }
      } else if (kind < 88) {  // an immediate over whatever is there
        count();
        gc_write_barrier(m, table, slot(i), immediate());
      } else {  // read and check
        if (!ChainIntact(__atomic_load_n(slot(i), __ATOMIC_ACQUIRE), 16)) {
          failures++;
        }
        if (grown != nullptr) {
          auto* g = static_cast<Holder*>(grown);
          if (!ChainIntact(__atomic_load_n(Slot(g, 0), __ATOMIC_ACQUIRE), 4)) {
            failures++;
          }
        }
      }
      if (op % 32 == 0) {
        run.CountMarkingOps(local);
        local = 0;
        gc_safepoint(m);
      }
    }
    run.CountMarkingOps(local);
    gc_remove_root(h, &grown);
    gc_thread_detach(m);
  };
  run.Run(kThreads, worker);
  gc_leave_blocking(main_m);

  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(run.windows(), kWindows);
  EXPECT_GE(run.marking_ops(), StressRun::kWindowOps * kWindows);
  gc_collect(main_m);
  for (size_t i = 0; i < kSlots; i++) {
    EXPECT_TRUE(ChainIntact(*Slot(table, i), 1 << 20)) << i;
  }
  gc_remove_root(h, &table_root);
  gc_collect(main_m);
  const gc_stats s = GetStats(h);
  EXPECT_EQ(s.live_objects, 0u);
  gc_thread_detach(main_m);
  gc_heap_destroy(h);
}

}  // namespace
}  // namespace gcheap
