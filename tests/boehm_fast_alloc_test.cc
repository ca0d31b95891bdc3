// boehm_fast_alloc_test: libgc.so.1's allocation fast path (runtime/boehm,
// boehm.cc's AllocFast; the layer linked in statically). GC_malloc bumps
// the thread's allocation window while the thread counts as blocked for
// gcheap, so a pause's suspend signal may land in the middle of the bump;
// the handler must then leave the thread running until it has taken the
// slot (BThread::in_fast_alloc, stop_deferred), or the collection syncs,
// flushes and sweeps the window under it and the object handed out is a
// free slot of a span the thread no longer holds.
//
// How: a testing hook (BThread::fast_alloc_hook_for_testing) holds thread
// A inside the fast path, after it read its window's next slot, until the
// main thread's collection has sent A the suspend signal: the hook sees
// the request recorded (stop_deferred) and returns, A takes the slot and
// then stops. With a handler that suspended A in the hook instead, the hook
// would only return after that collection (the GC count moved), and the
// object A then got would not be allocated (GC_base finds nothing there)
// or would crash A on its window's reset type pointer. A watchdog bounds
// every wait (the test fails instead of hanging).
//
// The rest: the fast path's objects are zeroed, conservative (GC_MALLOC)
// or not scanned (GC_MALLOC_ATOMIC), keep their one-past-the-end padding,
// and survive collections that several threads' allocations race with;
// conservative and typed objects (GC_malloc_explicitly_typed) share spans
// (mono spans: a span's one type until a second type comes, heap/mspan.h),
// each object keeping its own type.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <gc/gc_typed.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "heap/mheap.h"
#include "runtime/boehm/boehm_internal.h"
#include "tests/boehm_test_util.h"

namespace {

using gcheap_test::Collect;
using gcheap_test::MakeList;
using gcheap_test::Node;
using gcheap_test::Sum;

constexpr size_t kSize = 40;  // a 48-byte slot with the padding byte

std::atomic<bool> g_in_hook{false};
std::atomic<bool> g_saw_deferral{false};
std::atomic<bool> g_hook_timed_out{false};
std::atomic<GC_word> g_gc_before{0};
void* volatile g_obj = nullptr;  // a root: the main program's data

// On A, inside the fast path: wait until the collection asked A to stop
// (deferred) or, with a handler that suspends A right here, until that
// collection is over.
void HoldInFastPath() {
  gcheap::boehm::BThread* t = gcheap::boehm::Self();
  t->fast_alloc_hook_for_testing = nullptr;  // once
  g_in_hook = true;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < end) {
    if (t->stop_deferred != 0) {
      g_saw_deferral = true;
      return;
    }
    if (GC_get_gc_no() != g_gc_before.load()) return;
  }
  g_hook_timed_out = true;
}

void* AllocateInsideAStop(void*) {
  // Open the window for the size class and clear the poll word's refill
  // bit (the slow path's), so that the next allocations take the fast path.
  for (int i = 0; i < 4; i++) GC_MALLOC(kSize);
  gcheap::boehm::Self()->fast_alloc_hook_for_testing = HoldInFastPath;
  void* p = nullptr;
  for (int i = 0; i < 1000 && !g_in_hook.load(); i++) p = GC_MALLOC(kSize);
  g_obj = p;
  return nullptr;
}

TEST(BoehmFastAlloc, AStopThatLandsInTheBumpWaitsForIt) {
  GC_INIT();
  g_gc_before = GC_get_gc_no();
  pthread_t a;
  ASSERT_EQ(GC_pthread_create(&a, nullptr, AllocateInsideAStop, nullptr), 0);
  for (int i = 0; i < 30000 && !g_in_hook.load(); i++) usleep(1000);
  ASSERT_TRUE(g_in_hook.load()) << "A never took the fast path";
  GC_gcollect();  // its pause signals A inside the hook
  ASSERT_EQ(GC_pthread_join(a, nullptr), 0);
  EXPECT_FALSE(g_hook_timed_out.load());
  EXPECT_TRUE(g_saw_deferral.load())
      << "the suspend signal stopped A inside the fast path";
  void* p = g_obj;
  ASSERT_NE(p, nullptr);
  // The slot A took is an object (not a free slot of a flushed window)...
  EXPECT_EQ(GC_base(p), p);
  EXPECT_GE(GC_size(p), kSize);
  // ... and stays one: held by a root, it is never handed out again.
  Collect();
  ASSERT_EQ(GC_base(p), p);
  std::vector<void*> more;
  for (int i = 0; i < 20000; i++) {
    void* q = GC_MALLOC(kSize);
    ASSERT_NE(q, p) << "the slot was handed out twice";
    if (i % 64 == 0) more.push_back(q);
  }
  g_obj = nullptr;
}

// What gcheap holds at p: a conservative object (GC_MALLOC's type) or a
// noscan one (GC_MALLOC_ATOMIC), at its own base.
bool IsObjectOfKind(void* p, bool atomic) {
  gcheap::ObjectRef r;
  const auto a = reinterpret_cast<uintptr_t>(p);
  if (!gcheap::boehm::g.heap->heap.FindObject(a, &r) || r.base != a) {
    return false;
  }
  if (atomic) return gcheap::NoScan(r.span->spanclass);
  return !gcheap::NoScan(r.span->spanclass) &&
         r.span->ObjType(r.index) == gcheap::boehm::g.heap->ConservativeType();
}

TEST(BoehmFastAlloc, ObjectsAreZeroedPaddedAndOfTheirKind) {
  GC_INIT();
  for (int round = 0; round < 3; round++) {
    Node* keep = nullptr;
    for (int i = 0; i < 5000; i++) {
      const size_t n = 16 + (i % 60) * 8;
      auto* c = static_cast<unsigned char*>(GC_MALLOC(n));
      auto* a = static_cast<unsigned char*>(GC_MALLOC_ATOMIC(n));
      ASSERT_NE(c, nullptr);
      ASSERT_NE(a, nullptr);
      for (size_t b = 0; b < n; b++) ASSERT_EQ(c[b], 0) << n << " " << b;
      ASSERT_TRUE(IsObjectOfKind(c, false)) << n;
      ASSERT_TRUE(IsObjectOfKind(a, true)) << n;
      // One past the end still designates the object (the padding byte).
      EXPECT_EQ(GC_base(c + n), c);
      EXPECT_GE(GC_size(c), n + 1);
      // Dirty both, as programs do; the next rounds check zeroing again
      // in the slots the collections free.
      memset(c, 0xab, n);
      memset(a, 0xcd, n);
      if (i % 500 == 0) {  // conservative objects keep what they point to
        auto* x = static_cast<Node*>(GC_MALLOC(sizeof(Node)));
        x->next = keep;
        x->value = 1;
        keep = x;
      }
    }
    Collect();
    EXPECT_EQ(Sum(keep), 10);
  }
}

struct TNode {
  TNode* next;
  long value;  // even: a GC_MALLOC node; odd: a typed one
  long pad[3];
};
TNode* volatile g_tlist = nullptr;  // a root: the main program's data

bool IsTyped(const void* p) {
  gcheap::ObjectRef r;
  const auto a = reinterpret_cast<uintptr_t>(p);
  return gcheap::boehm::g.heap->heap.FindObject(a, &r) && r.base == a &&
         !gcheap::NoScan(r.span->spanclass) &&
         r.span->ObjType(r.index) != gcheap::boehm::g.heap->ConservativeType();
}

TEST(BoehmFastAlloc, ConservativeAndTypedObjectsShareSpansEachWithItsType) {
  GC_INIT();
  GC_word bm[GC_BITMAP_SIZE(TNode)] = {0};
  GC_set_bit(bm, GC_WORD_OFFSET(TNode, next));
  const GC_descr d = GC_make_descriptor(bm, GC_WORD_LEN(TNode));
  // A class only GC_MALLOC uses (2000 bytes): its spans stay without
  // per-slot tags.
  std::vector<void*> only_conservative;
  for (int i = 0; i < 200; i++) only_conservative.push_back(GC_MALLOC(2000));
  for (void* p : only_conservative) {
    gcheap::ObjectRef r;
    ASSERT_TRUE(gcheap::boehm::g.heap->heap.FindObject(
        reinterpret_cast<uintptr_t>(p), &r));
    EXPECT_EQ(r.span->obj_types.load(), nullptr);
    EXPECT_TRUE(IsObjectOfKind(p, false));
  }
  // Runs of conservative nodes (the fast path) and typed ones (out of
  // line) in the same 48-byte class: the spans become mixed.
  TNode* l = nullptr;
  long n = 0;
  for (int i = 0; i < 6000; i++) {
    const bool typed = i % 50 >= 40;
    auto* x =
        static_cast<TNode*>(typed ? GC_malloc_explicitly_typed(sizeof(TNode), d)
                                  : GC_MALLOC(sizeof(TNode)));
    ASSERT_NE(x, nullptr);
    x->next = l;
    x->value = 2 * n + (typed ? 1 : 0);
    n++;
    l = x;
  }
  g_tlist = l;
  l = nullptr;
  for (int round = 0; round < 2; round++) {
    Collect();
    long k = n;
    int mixed = 0;
    for (TNode* x = g_tlist; x != nullptr; x = x->next) {
      k--;
      ASSERT_EQ(x->value >> 1, k);
      const bool typed = x->value & 1;
      EXPECT_EQ(IsTyped(x), typed) << k;
      EXPECT_EQ(IsObjectOfKind(x, false), !typed) << k;
      gcheap::ObjectRef r;
      ASSERT_TRUE(gcheap::boehm::g.heap->heap.FindObject(
          reinterpret_cast<uintptr_t>(x), &r));
      mixed += r.span->obj_types.load() != nullptr;
    }
    EXPECT_EQ(k, 0);
    EXPECT_GT(mixed, 0);
    // More of both kinds into the freed slots between the survivors.
    for (int i = 0; i < 2000; i++) {
      if (i % 2 == 0) {
        ASSERT_NE(GC_MALLOC(sizeof(TNode)), nullptr);
      } else {
        ASSERT_NE(GC_malloc_explicitly_typed(sizeof(TNode), d), nullptr);
      }
    }
  }
  g_tlist = nullptr;
}

std::atomic<bool> g_stop{false};
std::atomic<int> g_bad{0};

void* ListWorker(void*) {
  while (!g_stop.load()) {
    Node* mine = MakeList(2000);
    for (int i = 0; i < 5; i++) MakeList(500);  // garbage
    if (Sum(mine) != 2000L * 1999 / 2) g_bad.fetch_add(1);
  }
  return nullptr;
}

TEST(BoehmFastAlloc,
     ListsBuiltOnTheFastPathSurviveCollectionsFromOtherThreads) {
  GC_INIT();
  GC_allow_register_threads();
  constexpr int kThreads = 6;  // oversubscribed on 2 cores
  g_stop = false;
  pthread_t t[kThreads];
  for (auto& x : t) {
    ASSERT_EQ(GC_pthread_create(&x, nullptr, ListWorker, nullptr), 0);
  }
  std::thread collector([] {
    GC_stack_base sb;
    GC_get_stack_base(&sb);
    GC_register_my_thread(&sb);
    for (int i = 0; i < 200; i++) {
      GC_gcollect();
      usleep(500);
    }
    GC_unregister_my_thread();
  });
  collector.join();
  g_stop = true;
  for (auto& x : t) ASSERT_EQ(GC_pthread_join(x, nullptr), 0);
  EXPECT_EQ(g_bad.load(), 0);
}

}  // namespace
