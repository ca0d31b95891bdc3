// boehm_abi_test: the Boehm ABI layer (runtime/boehm, linked in
// statically) through Boehm's own headers: allocation kinds, interior and
// one-past-the-end pointers, uncollectable and typed objects, realloc,
// roots from the data segment and GC_add_roots, GC_disable, and threads
// made with GC_pthread_create whose stacks hold the only references while
// other threads collect (the signal-based stop of the world), and a thread
// inside GC_do_blocking; finalizers (run by GC_gcollect) and short and
// long disappearing links (a link inside a dead object dropped with it);
// GC_free clearing an object (a stale reference
// keeps nothing through it) and returning a large one's pages; a GC_free'd
// small object handed out again by the thread's next allocation of its
// kind and size class before any collection, never twice (a double free,
// a collection between), never as another kind, and not when typed or
// with a finalizer, also with threads freeing and allocating while
// others collect; collection
// events and the start callback, GC_set_mark_bit, GC_dump,
// GC_abort_on_oom.
//
// Reclamation is checked through GC_base: GC_gcollect sweeps the whole
// heap before it returns, so a freed object's address resolves to nothing
// (until the slot is reused: the checks allocate nothing in between).
// Dropped objects are only remembered hidden (~address) in malloc'ed
// memory, which is not scanned, and the stack is cleared before each
// collection (BoehmTestUtil checks that the clearing happens); bounds are "at
// least 90%" where Boehm promises only that dropped objects can be reclaimed.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <gc/gc_mark.h>
#include <gc/gc_typed.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/boehm_test_util.h"

namespace {

constexpr int kN = 300;

using gcheap_test::Collect;
using gcheap_test::CountAllocated;
using gcheap_test::MakeList;
using gcheap_test::Node;
using gcheap_test::Sum;

Node* g_list;  // a data-segment root

// Sets g_list and returns its nodes' addresses, hidden.
__attribute__((noinline)) std::vector<uintptr_t> SetGlobalList() {
  g_list = MakeList(10000);
  std::vector<uintptr_t> hidden;
  for (Node* n = g_list; n != nullptr; n = n->next) {
    hidden.push_back(~reinterpret_cast<uintptr_t>(n));
  }
  return hidden;
}

// Leaves 16 KiB of copies of a new object's address in its own frame,
// dead once it returns; the address, hidden.
__attribute__((noinline)) uintptr_t LeaveCopiesInADeadFrame() {
  void* p = GC_MALLOC(40);
  void* volatile copies[2048];
  for (void* volatile& c : copies) c = p;
  return ~reinterpret_cast<uintptr_t>(p);
}

// What every reclamation check below relies on: Collect() overwrites the
// dead stack below its caller before collecting, so the copies of an
// object's address that a returned call left there do not keep the object
// (the conservative stack scan would, in Boehm as here, if they were still
// there).
TEST(BoehmTestUtil, CollectClearsStaleStackCopies) {
  GC_INIT();
  const std::vector<uintptr_t> hidden = {LeaveCopiesInADeadFrame()};
  Collect();
  EXPECT_EQ(CountAllocated(hidden), 0);
}

TEST(BoehmAbi, DataSegmentRootsKeepObjects) {
  GC_INIT();
  // The list's address is left in no frame of this function.
  const std::vector<uintptr_t> nodes = SetGlobalList();
  for (int i = 0; i < 3; i++) {
    MakeList(20000);  // garbage
    Collect();
  }
  EXPECT_EQ(CountAllocated(nodes), 10000);
  EXPECT_EQ(Sum(g_list), 10000L * 9999 / 2);
  g_list = nullptr;
}

__attribute__((noinline)) void DropObjects(bool atomic_holders,
                                           std::vector<uintptr_t>* targets,
                                           std::vector<void*>* holders) {
  for (int i = 0; i < kN; i++) {
    void* t = GC_MALLOC_ATOMIC(32);
    void** h = static_cast<void**>(atomic_holders ? GC_MALLOC_ATOMIC(16)
                                                  : GC_MALLOC(16));
    *h = t;
    targets->push_back(~reinterpret_cast<uintptr_t>(t));
    holders->push_back(h);
  }
}

TEST(BoehmAbi, AtomicObjectsAreNotScannedNormalOnesAre) {
  std::vector<uintptr_t> atomic_targets, normal_targets;
  auto* holders = static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(2 * kN * 8));
  {
    std::vector<void*> h1, h2;
    DropObjects(true, &atomic_targets, &h1);
    DropObjects(false, &normal_targets, &h2);
    for (int i = 0; i < kN; i++) {
      holders[i] = h1[i];
      holders[kN + i] = h2[i];
    }
  }
  Collect();
  Collect();
  EXPECT_EQ(CountAllocated(normal_targets), kN);
  EXPECT_LE(CountAllocated(atomic_targets), kN / 10);
  for (int i = 0; i < kN; i++) {
    EXPECT_EQ(GC_base(*static_cast<void**>(holders[kN + i])),
              reinterpret_cast<void*>(~normal_targets[i]));
  }
  GC_FREE(holders);
}

TEST(BoehmAbi, InteriorAndOnePastTheEndPointersKeepTheirObject) {
  static char* interior;
  static char* past_end;
  auto* a = static_cast<char*>(GC_MALLOC(64));
  auto* b = static_cast<char*>(GC_MALLOC(64));
  memset(a, 'a', 64);
  memset(b, 'b', 64);
  interior = a + 13;
  past_end = b + 64;  // one past the end: Boehm pads each object
  const uintptr_t ha = ~reinterpret_cast<uintptr_t>(a),
                  hb = ~reinterpret_cast<uintptr_t>(b);
  a = b = nullptr;
  for (int i = 0; i < 3; i++) {
    MakeList(20000);
    Collect();
  }
  EXPECT_EQ(GC_base(interior), reinterpret_cast<void*>(~ha));
  EXPECT_EQ(GC_base(past_end - 1), reinterpret_cast<void*>(~hb));
  EXPECT_EQ(GC_base(past_end), reinterpret_cast<void*>(~hb));
  EXPECT_GE(GC_size(past_end - 1), 65u);
  for (int i = 0; i < 64; i++) {
    EXPECT_EQ(interior[i - 13], 'a');
    EXPECT_EQ(past_end[i - 64], 'b');
  }
  interior = past_end = nullptr;
}

__attribute__((noinline)) void MakeUncollectable(std::vector<uintptr_t>* objs,
                                                 std::vector<uintptr_t>* tgts) {
  for (int i = 0; i < kN; i++) {
    auto** u = static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(16));
    *u = GC_MALLOC_ATOMIC(16);
    objs->push_back(~reinterpret_cast<uintptr_t>(u));
    tgts->push_back(~reinterpret_cast<uintptr_t>(*u));
  }
}

TEST(BoehmAbi, UncollectableObjectsAreRootsUntilFreed) {
  std::vector<uintptr_t> objs, tgts;
  MakeUncollectable(&objs, &tgts);
  Collect();
  Collect();
  EXPECT_EQ(CountAllocated(objs), kN);
  EXPECT_EQ(CountAllocated(tgts), kN);
  for (uintptr_t h : objs) GC_FREE(reinterpret_cast<void*>(~h));
  Collect();
  Collect();
  EXPECT_LE(CountAllocated(objs), kN / 10);
  EXPECT_LE(CountAllocated(tgts), kN / 10);
}

// GC_free clears the object: a stale word that still names it (here a
// data-segment root) keeps nothing through it.
void* g_stale;

__attribute__((noinline)) void MakeHolder(std::vector<uintptr_t>* tgts) {
  auto** holder = static_cast<void**>(GC_MALLOC(kN * sizeof(void*)));
  for (int i = 0; i < kN; i++) {
    holder[i] = GC_MALLOC_ATOMIC(32);
    tgts->push_back(~reinterpret_cast<uintptr_t>(holder[i]));
  }
  g_stale = holder;
}

TEST(BoehmAbi, FreedObjectsRetainNothing) {
  std::vector<uintptr_t> tgts;
  MakeHolder(&tgts);
  Collect();
  EXPECT_EQ(CountAllocated(tgts), kN);
  GC_FREE(g_stale);  // g_stale still names it
  Collect();
  EXPECT_LE(CountAllocated(tgts), kN / 10);
  g_stale = nullptr;
}

// Pages of [p, p + n) resident now.
size_t ResidentPages(void* p, size_t n) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t lo =
      (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
  std::vector<unsigned char> v((hi - lo) / page);
  if (mincore(reinterpret_cast<void*>(lo), hi - lo, v.data()) != 0) return ~0ul;
  size_t r = 0;
  for (unsigned char c : v) r += c & 1;
  return r;
}

constexpr size_t kBig = 8 << 20;

// Allocates and touches a large object, frees it (twice, and NULL) and
// checks its pages; returns its address hidden. (Its slot is reclaimed by
// a later collection, like any unreachable object's; not checked here:
// one object may stay named by a stale stack slot.)
__attribute__((noinline)) uintptr_t AllocAndFreeLarge() {
  char* p = static_cast<char*>(GC_MALLOC_ATOMIC(kBig));
  EXPECT_NE(p, nullptr);
  if (p == nullptr) return 0;
  memset(p, 0x5a, kBig);
  EXPECT_GE(ResidentPages(p, kBig), kBig / 4096 - 2);
  GC_FREE(p);
  EXPECT_LE(ResidentPages(p, kBig), 2u);
  EXPECT_GE(GC_get_expl_freed_bytes_since_gc(), kBig);
  EXPECT_EQ(p[0], 0);  // cleared, not yet reclaimed
  EXPECT_EQ(p[kBig - 1], 0);
  // Freeing NULL does nothing; freeing twice is harmless here (Boehm
  // calls it an error).
  GC_FREE(nullptr);
  GC_FREE(p);
  return ~reinterpret_cast<uintptr_t>(p);
}

TEST(BoehmAbi, FreeReturnsALargeObjectsPagesAtOnce) {
  GC_gcollect();  // expl_freed counts from here
  ASSERT_NE(AllocAndFreeLarge(), 0u);
  GC_gcollect();
  EXPECT_EQ(GC_get_expl_freed_bytes_since_gc(), 0u);
}

TEST(BoehmAbi, TypedObjectsAreScannedFromTheirDescriptor) {
  GC_word bm[GC_BITMAP_SIZE(Node) + 1] = {0};
  GC_set_bit(bm, 0);  // word 0 is a pointer, word 1 is not
  const GC_descr d = GC_make_descriptor(bm, 2);
  auto* holders = static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(kN * 8));
  std::vector<uintptr_t> via_ptr, via_word;
  [&]() __attribute__((noinline)) {
    for (int i = 0; i < kN; i++) {
      auto** o = static_cast<void**>(GC_malloc_explicitly_typed(16, d));
      o[0] = GC_MALLOC_ATOMIC(16);
      o[1] = GC_MALLOC_ATOMIC(16);
      via_ptr.push_back(~reinterpret_cast<uintptr_t>(o[0]));
      via_word.push_back(~reinterpret_cast<uintptr_t>(o[1]));
      holders[i] = o;
    }
  }
  ();
  Collect();
  Collect();
  EXPECT_EQ(CountAllocated(via_ptr), kN);
  EXPECT_LE(CountAllocated(via_word), kN / 10);
  GC_FREE(holders);
}

TEST(BoehmAbi, ReallocKeepsContentsAndKind) {
  auto* p = static_cast<char*>(GC_MALLOC_ATOMIC(10));
  memcpy(p, "123456789", 10);
  p = static_cast<char*>(GC_REALLOC(p, 5000));
  EXPECT_STREQ(p, "123456789");
  EXPECT_EQ(GC_base(p), p);
  p = static_cast<char*>(GC_REALLOC(p, 3));
  EXPECT_EQ(memcmp(p, "123", 3), 0);
  EXPECT_EQ(GC_REALLOC(p, 0), nullptr);
  EXPECT_NE(GC_REALLOC(nullptr, 8), nullptr);
}

TEST(BoehmAbi, AddedRootRangesKeepObjectsUntilRemoved) {
  auto** range = static_cast<void**>(calloc(kN, sizeof(void*)));
  GC_add_roots(range, range + kN);
  std::vector<uintptr_t> tgts;
  [&]() __attribute__((noinline)) {
    for (int i = 0; i < kN; i++) {
      range[i] = GC_MALLOC_ATOMIC(24);
      tgts.push_back(~reinterpret_cast<uintptr_t>(range[i]));
    }
  }
  ();
  Collect();
  EXPECT_EQ(CountAllocated(tgts), kN);
  GC_remove_roots(range, range + kN);
  Collect();
  Collect();
  EXPECT_LE(CountAllocated(tgts), kN / 10);
  free(range);
}

TEST(BoehmAbi, DisableStopsEveryCollectionAndNests) {
  GC_disable();
  GC_disable();
  const GC_word before = GC_get_gc_no();
  for (int i = 0; i < 50; i++) MakeList(20000);  // ~16 MB
  GC_gcollect();
  EXPECT_EQ(GC_get_gc_no(), before);
  GC_enable();
  EXPECT_TRUE(GC_is_disabled());
  GC_gcollect();
  EXPECT_EQ(GC_get_gc_no(), before);
  GC_enable();
  EXPECT_FALSE(GC_is_disabled());
  GC_gcollect();
  EXPECT_GT(GC_get_gc_no(), before);
}

TEST(BoehmAbi, ExpandHpGrowsTheHeapEvenWithFreePages) {
  for (int i = 0; i < 20; i++) MakeList(20000);  // garbage: free pages
  Collect();
  const size_t h0 = GC_get_heap_size();
  ASSERT_NE(GC_expand_hp(4 << 20), 0);
  EXPECT_GE(GC_get_heap_size(), h0 + (4 << 20));
}

// ---- finalization and disappearing links -----------------------------------

std::atomic<int> g_finalized{0};
void CountFinalizer(void*, void* cd) {
  if (reinterpret_cast<uintptr_t>(cd) == 42) g_finalized.fetch_add(1);
}

__attribute__((noinline)) void MakeFinalizable(void** short_links,
                                               void** long_links) {
  for (int i = 0; i < kN; i++) {
    void* o = GC_MALLOC(32);
    GC_register_finalizer(o, CountFinalizer, reinterpret_cast<void*>(42),
                          nullptr, nullptr);
    short_links[i] = reinterpret_cast<void*>(GC_HIDE_POINTER(o));
    long_links[i] = reinterpret_cast<void*>(GC_HIDE_POINTER(o));
    EXPECT_EQ(GC_general_register_disappearing_link(&short_links[i], o),
              GC_SUCCESS);
    EXPECT_EQ(GC_register_long_link(&long_links[i], o), GC_SUCCESS);
  }
}

int CountNonNull(void** links) {
  int n = 0;
  for (int i = 0; i < kN; i++) n += links[i] != nullptr;
  return n;
}

TEST(BoehmAbi, FinalizersRunAndLinksClearInBoehmsOrder) {
  // Links in malloc'ed memory: not scanned, and not in the heap.
  auto** short_links = static_cast<void**>(calloc(kN, sizeof(void*)));
  auto** long_links = static_cast<void**>(calloc(kN, sizeof(void*)));
  g_finalized = 0;
  MakeFinalizable(short_links, long_links);
  Collect();  // finalizers ready and run by GC_gcollect (not on demand)
  EXPECT_GE(g_finalized.load(), kN * 9 / 10);
  // Short links: cleared when the object became finalizable.
  EXPECT_LE(CountNonNull(short_links), kN / 10);
  // Long links: kept while the finalized objects are still revived.
  EXPECT_GE(CountNonNull(long_links), kN * 9 / 10);
  Collect();
  Collect();
  EXPECT_LE(CountNonNull(long_links), kN / 10);
  // A link still registered (its object kept by a stale conservative word)
  // would be written when its object dies: unregister every link before
  // its memory goes back to malloc, as Boehm requires. (Freeing them
  // registered made a later test's collection write into freed memory:
  // ASan's heap-use-after-free in ClearDeadLinks.)
  for (int i = 0; i < kN; i++) {
    GC_unregister_disappearing_link(&short_links[i]);
    GC_unregister_long_link(&long_links[i]);
  }
  free(short_links);
  free(long_links);
}

// A link inside a heap object (its holder) that dies while the link's
// target lives is dropped with the holder (Boehm's
// GC_remove_dangling_disappearing_links): once the holder's slot holds
// another object, the target's death must not write into it.
constexpr size_t kHolderBytes = 200;  // a size class of its own here
void* g_link_target;                  // a data-segment root

// Allocates kKeep holders, the link in the one at `index`; returns the
// holders other than that one (in an uncollectable array, so they stay
// and keep the span partly in use) and the dropped holder, hidden.
__attribute__((noinline)) void** MakeLinkHolders(size_t keep,
                                                 uintptr_t* hidden) {
  auto** kept =
      static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(keep * sizeof(void*)));
  for (size_t i = 0; i < keep; i++) {
    auto** o = static_cast<void**>(GC_MALLOC(kHolderBytes));
    if (i == keep / 2) {
      o[1] = reinterpret_cast<void*>(GC_HIDE_POINTER(g_link_target));
      EXPECT_EQ(GC_general_register_disappearing_link(&o[1], g_link_target),
                GC_SUCCESS);
      *hidden = ~reinterpret_cast<uintptr_t>(o);
      o = nullptr;
    }
    kept[i] = o;
  }
  return kept;
}

// Allocates holders until one takes the address `hidden` names (each
// filled with a pattern and kept); returns it, or null.
__attribute__((noinline)) void** ReuseSlot(uintptr_t hidden, void*** store,
                                           size_t n) {
  for (size_t i = 0; i < n; i++) {
    auto** o = static_cast<void**>(GC_MALLOC(kHolderBytes));
    for (size_t w = 0; w < kHolderBytes / sizeof(void*); w++) {
      o[w] = reinterpret_cast<void*>(0x5a5a5a5a5a5a5a5a);
    }
    (*store)[i] = o;
    if (reinterpret_cast<uintptr_t>(o) == ~hidden) return o;
  }
  return nullptr;
}

TEST(BoehmAbi, LinkInsideADeadObjectIsDroppedWithItsHolder) {
  g_link_target = GC_MALLOC(16);
  constexpr size_t kKeep = 16;
  // Rounds of holders until one is found dead (a stale conservative word,
  // in a register or a frame the stack clearing missed, may keep one).
  std::vector<void**> kept;
  uintptr_t dead = 0;
  for (int round = 0; round < 8 && dead == 0; round++) {
    uintptr_t hidden = 0;
    kept.push_back(MakeLinkHolders(kKeep, &hidden));
    Collect();  // the holder dies (its target lives)
    if (CountAllocated({hidden}) == 0) dead = hidden;
  }
  ASSERT_NE(dead, 0u) << "every holder was kept";
  constexpr size_t kTries = 1 << 16;
  auto** reused =
      static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(kTries * sizeof(void*)));
  void** again = ReuseSlot(dead, &reused, kTries);
  ASSERT_NE(again, nullptr) << "no allocation reused the holder's slot";
  g_link_target = nullptr;
  Collect();  // the target dies: the dropped link writes nothing
  EXPECT_EQ(again[1], reinterpret_cast<void*>(0x5a5a5a5a5a5a5a5a))
      << "the target's death cleared a word of the object that reused the "
         "dead holder's slot";
  GC_free(reused);
  for (void** k : kept) GC_free(k);
}

// GC_register_finalizer_unreachable: held back while an object finalized
// in the same cycle (here an unordered one) reaches it; run once nothing
// can bring it back. A lone one runs in the first cycle.
std::atomic<int> g_noorder_ran{0}, g_unreachable_ran{0}, g_lone_ran{0};
void CountInto(void*, void* counter) {
  static_cast<std::atomic<int>*>(counter)->fetch_add(1);
}

__attribute__((noinline)) void MakeUnreachablePairs() {
  for (int i = 0; i < kN; i++) {
    auto** n = static_cast<void**>(GC_MALLOC(16));
    void* x = GC_MALLOC_ATOMIC(32);
    n[0] = x;
    GC_REGISTER_FINALIZER_NO_ORDER(n, CountInto, &g_noorder_ran, nullptr,
                                   nullptr);
    GC_REGISTER_FINALIZER_UNREACHABLE(x, CountInto, &g_unreachable_ran, nullptr,
                                      nullptr);
    GC_REGISTER_FINALIZER_UNREACHABLE(GC_MALLOC_ATOMIC(32), CountInto,
                                      &g_lone_ran, nullptr, nullptr);
  }
}

TEST(BoehmAbi, UnreachableFinalizersWaitForEveryFinalizerThatReachesThem) {
  MakeUnreachablePairs();
  Collect();
  EXPECT_GE(g_noorder_ran.load(), kN * 9 / 10);
  EXPECT_GE(g_lone_ran.load(), kN * 9 / 10);
  EXPECT_LE(g_unreachable_ran.load(), kN - g_noorder_ran.load());
  Collect();
  EXPECT_GE(g_unreachable_ran.load(), kN * 9 / 10);
}

TEST(BoehmAbi, LinkReturnCodes) {
  static void* link;
  static void* moved;
  void* o = GC_MALLOC(16);
  link = o;
  EXPECT_EQ(GC_general_register_disappearing_link(&link, o), GC_SUCCESS);
  EXPECT_EQ(GC_general_register_disappearing_link(&link, o), GC_DUPLICATE);
  EXPECT_EQ(GC_move_disappearing_link(&link, &link), GC_SUCCESS);
  EXPECT_EQ(GC_move_disappearing_link(&moved, &link), GC_NOT_FOUND);
  EXPECT_EQ(GC_move_disappearing_link(&link, &moved), GC_SUCCESS);
  EXPECT_EQ(GC_unregister_disappearing_link(&moved), 1);
  EXPECT_EQ(GC_unregister_disappearing_link(&moved), 0);
  link = nullptr;
}

// ---- threads ----------------------------------------------------------------

std::atomic<bool> g_stop{false};
std::atomic<int> g_bad{0};

void* ListWorker(void*) {
  // The only references to these lists are this thread's stack and
  // registers; other threads keep collecting.
  for (int round = 0; !g_stop.load() || round < 20; round++) {
    Node* mine = MakeList(2000);
    for (int i = 0; i < 5; i++) MakeList(500);  // garbage
    if (Sum(mine) != 2000L * 1999 / 2) g_bad.fetch_add(1);
  }
  return nullptr;
}

TEST(BoehmAbi, ThreadStacksSurviveCollectionsFromOtherThreads) {
  constexpr int kThreads = 8;  // oversubscribed on 2 cores
  g_stop = false;
  pthread_t t[kThreads];
  for (auto& x : t)
    ASSERT_EQ(GC_pthread_create(&x, nullptr, ListWorker, nullptr), 0);
  for (int i = 0; i < 30; i++) GC_gcollect();
  g_stop = true;
  for (auto& x : t) ASSERT_EQ(GC_pthread_join(x, nullptr), 0);
  EXPECT_EQ(g_bad.load(), 0);
}

struct BlockingArgs {
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
};

void* WaitInBlocking(void* p) {
  auto* a = static_cast<BlockingArgs*>(p);
  a->entered = true;
  while (!a->release.load()) usleep(1000);
  return nullptr;
}

void* BlockingWorker(void* p) {
  Node* mine = MakeList(5000);  // above GC_do_blocking's frame
  GC_do_blocking(WaitInBlocking, p);
  return reinterpret_cast<void*>(Sum(mine));
}

TEST(BoehmAbi, StackAboveDoBlockingIsScanned) {
  BlockingArgs args;
  pthread_t t;
  ASSERT_EQ(GC_pthread_create(&t, nullptr, BlockingWorker, &args), 0);
  while (!args.entered.load()) usleep(1000);
  for (int i = 0; i < 5; i++) {
    MakeList(20000);
    Collect();
  }
  args.release = true;
  void* r = nullptr;
  ASSERT_EQ(GC_pthread_join(t, &r), 0);
  EXPECT_EQ(reinterpret_cast<long>(r), 5000L * 4999 / 2);
}

TEST(BoehmAbi, RegisterMyThreadReturnCodes) {
  std::thread th([] {
    GC_stack_base sb;
    ASSERT_EQ(GC_get_stack_base(&sb), GC_SUCCESS);
    EXPECT_EQ(GC_register_my_thread(&sb), GC_SUCCESS);
    EXPECT_EQ(GC_register_my_thread(&sb), GC_DUPLICATE);
    EXPECT_TRUE(GC_thread_is_registered());
    Node* l = MakeList(1000);
    GC_gcollect();
    EXPECT_EQ(Sum(l), 1000L * 999 / 2);
    EXPECT_EQ(GC_unregister_my_thread(), GC_SUCCESS);
    EXPECT_FALSE(GC_thread_is_registered());
  });
  th.join();
}

}  // namespace

extern "C" const char* GC_gcheap_marking_mode(void);

// GC_set_on_collection_event: every collection reports Boehm's events in
// Boehm's order, with the start callback between START and
// PRE_STOP_WORLD; each stop of the world is bracketed by PRE/POST_STOP_WORLD
// and PRE/POST_START_WORLD (a mostly-concurrent cycle stops it twice:
// MARK_START in the first pause, MARK_END in the last); the getters return what
// was set; NULL stops both.
std::vector<int> g_events;  // written on the driver thread, read after
std::atomic<int> g_start_calls{0};
void RecordEvent(GC_EventType e) { g_events.push_back(e); }
void RecordStart() {
  g_start_calls.fetch_add(1);
  g_events.push_back(-1);
}

TEST(BoehmAbi, CollectionEventsAndStartCallbackInBoehmsOrder) {
  GC_INIT();
  GC_set_on_collection_event(RecordEvent);
  GC_set_start_callback(RecordStart);
  EXPECT_EQ(GC_get_on_collection_event(), &RecordEvent);
  EXPECT_EQ(GC_get_start_callback(), &RecordStart);
  g_events.clear();
  const int before = g_start_calls.load();
  Collect();
  Collect();
  GC_set_on_collection_event(nullptr);
  GC_set_start_callback(nullptr);
  const bool mostly_concurrent =
      std::string(GC_gcheap_marking_mode()) == "mostly-concurrent";
  std::vector<int> one = {GC_EVENT_START, -1, GC_EVENT_PRE_STOP_WORLD,
                          GC_EVENT_POST_STOP_WORLD, GC_EVENT_MARK_START};
  if (mostly_concurrent) {  // the mark runs with the world restarted
    one.insert(one.end(), {GC_EVENT_PRE_START_WORLD, GC_EVENT_POST_START_WORLD,
                           GC_EVENT_PRE_STOP_WORLD, GC_EVENT_POST_STOP_WORLD});
  }
  one.insert(one.end(), {GC_EVENT_MARK_END, GC_EVENT_PRE_START_WORLD,
                         GC_EVENT_POST_START_WORLD, GC_EVENT_RECLAIM_START,
                         GC_EVENT_RECLAIM_END, GC_EVENT_END});
  std::vector<int> two = one;
  two.insert(two.end(), one.begin(), one.end());
  EXPECT_EQ(g_events, two);
  EXPECT_EQ(g_start_calls.load() - before, 2);
  const size_t n = g_events.size();
  Collect();
  EXPECT_EQ(g_events.size(), n);  // unset: no more calls
  EXPECT_EQ(GC_get_on_collection_event(), nullptr);
}

// GC_set_mark_bit from GC_push_other_roots retains the object (and what it
// references) through that collection; outside a collection it changes
// nothing (Boehm clears every mark bit before marking).
uintptr_t g_marked_hidden = 0;
void MarkHiddenObject() {
  GC_set_mark_bit(reinterpret_cast<void*>(~g_marked_hidden));
}

__attribute__((noinline)) uintptr_t HiddenPair() {
  auto** p = static_cast<void**>(GC_MALLOC(16));
  p[0] = GC_MALLOC_ATOMIC(64);
  return ~reinterpret_cast<uintptr_t>(p);
}

// The hidden address's object is still allocated (noinline: the revealed
// address stays out of the test's frame).
__attribute__((noinline)) bool AliveHidden(uintptr_t h) {
  return GC_base(reinterpret_cast<void*>(~h)) != nullptr;
}
__attribute__((noinline)) uintptr_t HiddenChild(uintptr_t h) {
  return ~reinterpret_cast<uintptr_t>(*reinterpret_cast<void**>(~h));
}
__attribute__((noinline)) void SetMarkBitHidden(uintptr_t h) {
  GC_set_mark_bit(reinterpret_cast<void*>(~h));
}

TEST(BoehmAbi, SetMarkBitRetainsFromPushOtherRootsOnly) {
  GC_INIT();
  const uintptr_t kept = HiddenPair();
  const uintptr_t child = HiddenChild(kept);
  g_marked_hidden = kept;
  const GC_push_other_roots_proc old = GC_get_push_other_roots();
  GC_set_push_other_roots(MarkHiddenObject);
  Collect();
  Collect();
  GC_set_push_other_roots(old);
  EXPECT_TRUE(AliveHidden(kept));
  EXPECT_TRUE(AliveHidden(child));
  // No longer marked in a collection: reclaimed. Outside one, setting the
  // bit keeps nothing.
  SetMarkBitHidden(kept);
  Collect();
  EXPECT_FALSE(AliveHidden(kept));
}

// ---- GC_free'd objects handed out again (runtime/boehm/boehm.cc,
// "Explicit frees") ----

bool AllZero(const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++) {
    if (b[i] != 0) return false;
  }
  return true;
}

TEST(BoehmAbiExplicitFree, AFreedObjectIsTheNextOfItsKindAndSize) {
  GC_INIT();
  GC_disable();  // no collection between a free and the allocations
  for (int atomic = 0; atomic < 2; atomic++) {
    auto alloc = [&](size_t n) {
      return atomic ? GC_MALLOC_ATOMIC(n) : GC_MALLOC(n);
    };
    void* p = alloc(40);
    memset(p, 0xab, 40);
    GC_FREE(p);
    void* q = alloc(40);
    EXPECT_EQ(q, p) << "atomic " << atomic;
    EXPECT_TRUE(AllZero(q, GC_size(q))) << "atomic " << atomic;
  }
  // Another kind or another size class does not get it.
  void* a = GC_MALLOC_ATOMIC(40);
  GC_FREE(a);
  EXPECT_NE(GC_MALLOC(40), a);
  EXPECT_NE(GC_MALLOC_ATOMIC(400), a);
  EXPECT_EQ(GC_MALLOC_ATOMIC(40), a);
  // Stalin's compiled programs: uncollectable objects freed and allocated
  // again, over and over, live in one slot.
  std::set<void*> slots;
  for (int i = 0; i < 10000; i++) {
    void* u = GC_MALLOC_UNCOLLECTABLE(24);
    slots.insert(u);
    GC_FREE(u);
  }
  EXPECT_EQ(slots.size(), 1u);
  GC_enable();
}

// Large objects: one freed comes back, cleared, for a request of as many
// pages (its pages stay resident meanwhile), not for more pages or the
// other kind; past 4 MiB of them per thread, a freed one's pages go back to
// the OS at once instead.
TEST(BoehmAbiExplicitFree, ALargeFreedObjectComesBackForAsManyPages) {
  GC_INIT();
  GC_disable();
  constexpr size_t kLarge = 100000;
  auto* p = static_cast<char*>(GC_MALLOC(kLarge));
  memset(p, 0x5a, kLarge);
  GC_FREE(p);
  EXPECT_GE(ResidentPages(p, kLarge), kLarge / 4096 - 2);
  EXPECT_NE(GC_MALLOC_ATOMIC(kLarge), p);
  EXPECT_NE(GC_MALLOC(2 * kLarge), p);
  auto* q = static_cast<char*>(GC_MALLOC(kLarge - 100));
  EXPECT_EQ(q, p);
  EXPECT_TRUE(AllZero(q, kLarge));
  std::vector<char*> objs;
  for (int i = 0; i < 60; i++) {
    objs.push_back(static_cast<char*>(GC_MALLOC_ATOMIC(kLarge)));
    memset(objs.back(), 0x5a, kLarge);
  }
  for (char* o : objs) GC_FREE(o);
  // 4 MiB hold 41 of them; the rest were returned.
  EXPECT_GE(ResidentPages(objs[0], kLarge), kLarge / 4096 - 2);
  EXPECT_LE(ResidentPages(objs.back(), kLarge), 2u);
  GC_enable();
}

TEST(BoehmAbiExplicitFree, FreeingTwiceHandsTheObjectOutOnce) {
  GC_INIT();
  GC_disable();
  void* p = GC_MALLOC(40);
  GC_FREE(p);
  GC_FREE(p);
  void* a = GC_MALLOC(40);
  void* b = GC_MALLOC(40);
  EXPECT_EQ(a, p);
  EXPECT_NE(b, p);
  GC_enable();
}

// An object freed while the allocation window that handed it out is still
// open (the span does not record it as allocated until the mcache syncs)
// comes back as any other. In debug builds (dbg, the sanitizer
// configurations) the check that a listed object is still allocated runs
// at every reuse and must count the window's objects.
TEST(BoehmAbiExplicitFree, AnObjectFreedWhileItsWindowIsOpenComesBack) {
  GC_INIT();
  GC_disable();
  void* before = GC_MALLOC(72);
  void* p = GC_MALLOC(72);
  GC_FREE(p);
  EXPECT_EQ(GC_MALLOC(72), p);
  EXPECT_NE(before, p);
  GC_enable();
}

void NoteFinalized(void*, void* n) {
  static_cast<std::atomic<int>*>(n)->fetch_add(1);
}

// A small typed object with pointers comes back, cleared, to the next
// typed allocation of its descriptor and size class, and only to that: not
// to GC_malloc, not to another descriptor's allocation of the same size
// (each descriptor is its own gcheap type, whose tag the span keeps for the
// slot). A large one is not listed. (Regression: typed objects were never
// listed, so freeing them only credited the trigger.)
void** g_typed_holder;  // a data-segment root
__attribute__((noinline)) uintptr_t StoreHiddenChildInto(void** holder) {
  void* child = GC_MALLOC_ATOMIC(64);
  holder[0] = child;
  return ~reinterpret_cast<uintptr_t>(child);
}

TEST(BoehmAbiExplicitFree, ATypedObjectComesBackOnlyForItsDescriptor) {
  GC_INIT();
  GC_disable();
  GC_word bm[1] = {0};
  GC_set_bit(bm, 0);
  const GC_descr d = GC_make_descriptor(bm, 5);
  GC_word bm2[1] = {0};
  GC_set_bit(bm2, 1);
  const GC_descr d2 = GC_make_descriptor(bm2, 5);
  auto* t = static_cast<void**>(GC_malloc_explicitly_typed(40, d));
  ASSERT_NE(t, nullptr);
  memset(t, 0xab, 40);
  GC_FREE(t);
  EXPECT_NE(GC_MALLOC(40), t) << "a typed object came back as GC_malloc's";
  EXPECT_NE(GC_malloc_explicitly_typed(40, d2), t)
      << "a typed object came back for another descriptor";
  auto* u = static_cast<void**>(GC_malloc_explicitly_typed(40, d));
  EXPECT_EQ(u, t);
  EXPECT_TRUE(AllZero(u, GC_size(u)));
  void* big = GC_malloc_explicitly_typed(100000, d);
  ASSERT_NE(big, nullptr);
  GC_FREE(big);
  EXPECT_NE(GC_malloc_explicitly_typed(100000, d), big);
  GC_enable();
  // Scanned by its descriptor after the reuse: word 0's referent lives.
  g_typed_holder = u;
  const uintptr_t child = StoreHiddenChildInto(u);
  Collect();
  EXPECT_TRUE(AliveHidden(child));
  g_typed_holder = nullptr;
}

TEST(BoehmAbiExplicitFree, FinalizedObjectsAreNotReused) {
  GC_INIT();
  GC_disable();
  std::atomic<int> ran{0};
  void* f = GC_MALLOC(40);
  GC_REGISTER_FINALIZER(f, NoteFinalized, &ran, nullptr, nullptr);
  GC_FREE(f);
  EXPECT_NE(GC_MALLOC(40), f)
      << "an object with a finalizer came back with its registration";
  GC_REGISTER_FINALIZER(f, nullptr, nullptr, nullptr, nullptr);
  GC_enable();
}

// A list's links are hidden from the conservative scan: a stale
// reference to the object freed last (the head of its list) keeps that one
// object, not every object freed before it.
__attribute__((noinline)) void FreeAListKeepingItsHead(
    std::vector<uintptr_t>* hidden) {
  void* objs[100];
  for (void*& p : objs) {
    p = GC_MALLOC(40);
    hidden->push_back(~reinterpret_cast<uintptr_t>(p));
  }
  for (void*& p : objs) {
    GC_FREE(p);
    g_stale = p;
    p = nullptr;
  }
}

TEST(BoehmAbiExplicitFree, AStaleReferenceToAListedObjectKeepsOnlyIt) {
  GC_INIT();
  std::vector<uintptr_t> hidden;
  FreeAListKeepingItsHead(&hidden);
  Collect();
  EXPECT_LE(CountAllocated(hidden), 10);
  g_stale = nullptr;
}

// Frees `n` objects of 40 bytes; their addresses, hidden, into *hidden.
__attribute__((noinline)) void FreeSome(int n, std::vector<uintptr_t>* hidden) {
  for (int i = 0; i < n; i++) {
    void* p = GC_MALLOC(40);
    hidden->push_back(~reinterpret_cast<uintptr_t>(p));
    GC_FREE(p);
  }
}

// A collection ends every list: the sweep reclaims the freed objects, and
// no allocation after it hands one out again from a list while the
// allocator hands out its slot too.
TEST(BoehmAbiExplicitFree, ACollectionDropsTheListsAndNoObjectComesTwice) {
  GC_INIT();
  std::vector<uintptr_t> hidden;
  FreeSome(2000, &hidden);
  Collect();
  EXPECT_LE(CountAllocated(hidden), 200);
  constexpr int kAllocs = 40000;
  auto** held =
      static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(kAllocs * sizeof(void*)));
  std::set<void*> distinct;
  for (int i = 0; i < kAllocs; i++) {
    held[i] = GC_MALLOC(40);
    distinct.insert(held[i]);
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kAllocs))
      << "an object was handed out twice";
  GC_FREE(held);
}

// The next state of a xorshift64 generator (the churn workers' choices).
uint64_t XorShift(uint64_t x) {
  x ^= x << 13;
  x ^= x >> 7;
  return x ^ (x << 17);
}

// Runs kChurnThreads threads (GC_pthread_create, argument i + 1) of
// worker to their end while a registered thread calls GC_gcollect in a
// loop, sleeping pause_us between collections. Returns false if a thread
// could not be created.
constexpr int kChurnThreads = 8;
bool RunWhileCollecting(void* (*worker)(void*), useconds_t pause_us) {
  std::atomic<bool> stop{false};
  std::thread collector([&stop, pause_us] {
    GC_stack_base sb;
    GC_get_stack_base(&sb);
    GC_register_my_thread(&sb);
    while (!stop.load()) {
      GC_gcollect();
      if (pause_us != 0) usleep(pause_us);
    }
    GC_unregister_my_thread();
  });
  pthread_t t[kChurnThreads];
  int started = 0;
  for (; started < kChurnThreads; started++) {
    if (GC_pthread_create(&t[started], nullptr, worker,
                          reinterpret_cast<void*>(started + 1)) != 0) {
      break;
    }
  }
  for (int i = 0; i < started; i++) GC_pthread_join(t[i], nullptr);
  stop = true;
  collector.join();
  return started == kChurnThreads;
}

// Threads (more than the CPUs) allocate objects of every kind and many
// sizes, sign each word, keep a window of them on their stacks, check a
// signature when an object leaves the window and GC_free half of those,
// while another thread collects: an object handed out twice, or reclaimed
// while listed and allocated again, breaks a signature. Typed objects
// (two descriptors, their pointer in word 0 or word 1) hold their only
// reference to a signed atomic child in that pointer word: a typed object
// reused under the wrong descriptor, or scanned by one, loses its child to
// a collection, and the child's reuse breaks its signature.
std::atomic<long> g_churn_bad{0};
GC_descr g_churn_descr[2];

uintptr_t ChurnSignature(uintptr_t id, int slot, size_t w) {
  return (id << 48) | (static_cast<uintptr_t>(slot) << 32) | w | 1;
}

void* ChurnWorker(void* arg) {
  const uintptr_t id = reinterpret_cast<uintptr_t>(arg);
  constexpr int kWindow = 64;
  constexpr size_t kChildWords = 3;
  uintptr_t* window[kWindow] = {};
  size_t words[kWindow] = {};
  int pointer_word[kWindow];  // -1: none; else the typed object's pointer
  std::fill(pointer_word, pointer_word + kWindow, -1);
  uint64_t rng = 0x9e3779b97f4a7c15ull * (id + 1);
  for (int i = 0; i < 20000; i++) {
    rng = XorShift(rng);
    const int slot = static_cast<int>(rng % kWindow);
    if (uintptr_t* old = window[slot]) {
      for (size_t w = 0; w < words[slot]; w++) {
        if (static_cast<int>(w) == pointer_word[slot]) {
          const auto* child = reinterpret_cast<uintptr_t*>(old[w]);
          for (size_t c = 0; c < kChildWords; c++) {
            if (child[c] != ChurnSignature(id, slot, 100 + c)) {
              g_churn_bad.fetch_add(1);
              break;
            }
          }
        } else if (old[w] != ChurnSignature(id, slot, w)) {
          g_churn_bad.fetch_add(1);
          break;
        }
      }
      if ((rng >> 20) & 1) GC_FREE(old);
    }
    const size_t bytes = 16 + ((rng >> 24) % 24) * 8;
    const int kind = static_cast<int>((rng >> 32) % 4);
    void* p;
    switch (kind) {
      case 0:
        p = GC_MALLOC(bytes);
        break;
      case 1:
        p = GC_MALLOC_ATOMIC(bytes);
        break;
      case 2:
        p = GC_MALLOC_UNCOLLECTABLE(bytes);
        break;
      default:
        p = GC_malloc_explicitly_typed(bytes, g_churn_descr[(rng >> 40) & 1]);
        break;
    }
    auto* o = static_cast<uintptr_t*>(p);
    if (!AllZero(o, bytes) && kind != 1) g_churn_bad.fetch_add(1);
    words[slot] = bytes / 8;
    pointer_word[slot] = kind == 3 ? static_cast<int>((rng >> 40) & 1) : -1;
    for (size_t w = 0; w < words[slot]; w++) {
      if (static_cast<int>(w) == pointer_word[slot]) {
        auto* child = static_cast<uintptr_t*>(
            GC_MALLOC_ATOMIC(kChildWords * sizeof(uintptr_t)));
        for (size_t c = 0; c < kChildWords; c++) {
          child[c] = ChurnSignature(id, slot, 100 + c);
        }
        // The typed object holds the child's only reference (a hidden
        // word elsewhere would not keep it).
        o[w] = reinterpret_cast<uintptr_t>(child);
      } else {
        o[w] = ChurnSignature(id, slot, w);
      }
    }
    window[slot] = o;
  }
  for (uintptr_t* o : window) GC_FREE(o);
  return nullptr;
}

TEST(BoehmAbiExplicitFree, ThreadsFreeAndAllocateWhileOthersCollect) {
  GC_INIT();
  GC_allow_register_threads();
  g_churn_bad = 0;
  for (int d = 0; d < 2; d++) {
    GC_word bm[1] = {0};
    GC_set_bit(bm, d);
    g_churn_descr[d] = GC_make_descriptor(bm, 2);
  }
  ASSERT_TRUE(RunWhileCollecting(ChurnWorker, 2000));
  EXPECT_EQ(g_churn_bad.load(), 0);
}

// Threads (more than the CPUs) allocate debugging objects (GC_debug_malloc,
// runtime/boehm/debug_alloc.cc) of many sizes, check and GC_debug_free
// half of them, while another thread collects (at least kDebugCollections
// times): every collection checks the
// guards of every live debugging object, also of those whose headers a
// thread was writing when the world stopped, which must not be reported
// (nor anything else: no object is written out of bounds here).
std::atomic<long> g_debug_bad{0};
// Each worker runs 30,000 rounds and on until the test's collector has
// collected kDebugCollections times (sanitizer builds collect less often).
constexpr GC_word kDebugCollections = 20;
GC_word g_debug_gc_start = 0;

void* DebugChurnWorker(void* arg) {
  const auto id = reinterpret_cast<uintptr_t>(arg);
  constexpr int kWindow = 32;
  unsigned char* window[kWindow] = {};
  size_t sizes[kWindow] = {};
  uint64_t rng = 0x2545f4914f6cdd1dull * (id + 1);
  for (int i = 0;
       i < 30000 || GC_get_gc_no() - g_debug_gc_start < kDebugCollections;
       i++) {
    rng = XorShift(rng);
    const int slot = static_cast<int>(rng % kWindow);
    if (unsigned char* old = window[slot]) {
      for (size_t b = 0; b < sizes[slot]; b++) {
        if (old[b] != static_cast<unsigned char>(id + b)) {
          g_debug_bad.fetch_add(1);
          break;
        }
      }
      if ((rng >> 20) & 1) GC_debug_free(old);
    }
    const size_t n = 1 + (rng >> 24) % 300;
    auto* p = static_cast<unsigned char*>(
        (rng >> 40) & 1 ? GC_debug_malloc(n, "churn.c", static_cast<int>(id))
                        : GC_debug_malloc_atomic(n, "churn.c", 0));
    for (size_t b = 0; b < n; b++) p[b] = static_cast<unsigned char>(id + b);
    window[slot] = p;
    sizes[slot] = n;
  }
  return nullptr;
}

TEST(BoehmAbiDebugAlloc, CollectionsWhileThreadsAllocateReportNothing) {
  GC_INIT();
  GC_allow_register_threads();
  g_debug_bad = 0;
  g_debug_gc_start = GC_get_gc_no();
  testing::internal::CaptureStderr();
  const bool all_started = RunWhileCollecting(DebugChurnWorker, 0);
  Collect();
  const std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(all_started);
  EXPECT_EQ(g_debug_bad.load(), 0);
  EXPECT_EQ(err.find("smashed"), std::string::npos) << err.substr(0, 2000);
  EXPECT_GE(GC_get_gc_no() - g_debug_gc_start, kDebugCollections);
}

// A write before a debugging object's body that overwrites its whole
// header (file pointer included) is reported without following the file
// pointer. Regression: the report printed the file name whenever the
// clobbered word was the start guard, and crashed on the overwritten
// pointer.
TEST(BoehmAbiDebugAlloc, AnOverwrittenHeaderIsReportedWithoutItsFile) {
  GC_INIT();
  auto* body = static_cast<unsigned char*>(GC_debug_malloc(64, "hdr.c", 7));
  unsigned char* header = static_cast<unsigned char*>(GC_base(body));
  ASSERT_EQ(body - header, 32);
  memset(header, 0xff, 32);  // file, line, size and start guard
  testing::internal::CaptureStderr();
  GC_debug_free(body);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("<smashed>"), std::string::npos) << err;
  EXPECT_EQ(err.find("hdr.c"), std::string::npos) << err;
}

TEST(BoehmAbi, DumpPrintsTheHeapToStderr) {
  GC_INIT();
  testing::internal::CaptureStderr();
  GC_dump();
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("***GC Dump collection #"), std::string::npos) << out;
  EXPECT_NE(out.find("bytes in use"), std::string::npos) << out;
}

TEST(BoehmAbiDeathTest, AbortOnOomExitsWithBoehmsMessage) {
  // A fresh process (no fork of one whose collector threads run).
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(GC_abort_on_oom(), testing::ExitedWithCode(1),
              "Insufficient memory for the allocation");
}
