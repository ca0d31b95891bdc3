// boehm_mark_procs_test: gc_mark.h's object kinds and mark procedures on
// the Boehm ABI layer (runtime/boehm/mark_procs.cc, linked statically),
// written against Boehm's own header: a kind whose mark procedure reaches
// objects through GC_MARK_AND_PUSH, through pushed length ranges, pushed
// bitmaps and a pushed procedure entry keeps exactly those objects (the
// words it does not look at keep nothing, though they lie inside the
// object); a procedure that pushes more entries than the mark stack holds
// (GC_signal_mark_stack_overflow) loses none of them; GC_generic_malloc_many
// returns a list of zeroed objects of the kind, traced by its procedure;
// the built-in kinds' numbers; the plausible-heap-address bounds cover the
// heap; mostly-concurrent marking refuses a kind with a procedure.
//
// Reclamation is checked through GC_base after Collect() (GC_gcollect
// sweeps the whole heap before it returns), with dropped objects
// remembered hidden (~address), as boehm_abi_test does; "at least 90%"
// where Boehm promises only that they can be reclaimed.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <gc/gc_inline.h>  // GC_generic_malloc_many
#include <gc/gc_mark.h>
#include <stdlib.h>

#include <vector>

#include "gtest/gtest.h"
#include "tests/boehm_test_util.h"

// Boehm's overflow signal (gc_pmark.h, not installed; Debian's libgc does
// not export it, ours does: runtime/boehm/mark_procs.cc).
extern "C" GC_ms_entry* GC_signal_mark_stack_overflow(GC_ms_entry* msp);

namespace {

using gcheap_test::Collect;
using gcheap_test::CountAllocated;

// Boehm's mark stack entry (gc_pmark.h's struct GC_ms_entry).
struct Ms {
  void* start;
  GC_word descr;
};

GC_ms_entry* Push(GC_ms_entry* msp, GC_ms_entry* lim, void* start,
                  GC_word descr) {
  Ms* p = reinterpret_cast<Ms*>(msp) + 1;
  if (p >= reinterpret_cast<Ms*>(lim)) {
    p = reinterpret_cast<Ms*>(
        GC_signal_mark_stack_overflow(reinterpret_cast<GC_ms_entry*>(p)));
  }
  p->start = start;
  p->descr = descr;
  return reinterpret_cast<GC_ms_entry*>(p);
}

constexpr int kMarked = 6;
constexpr int kIgnored = 6;

// An object of the test kind. Its procedure reaches marked[0..n) through
// GC_MARK_AND_PUSH, ranged through a pushed length entry, bitmapped[1]
// through a pushed bitmap entry (bitmapped[0] is not in the bitmap), and
// nested->... through a pushed procedure entry; never ignored[].
struct Holder {
  GC_word n;
  void* marked[kMarked];
  void* ranged;
  void* bitmapped[2];
  void* nested;
  void* ignored[kIgnored];
};

unsigned g_nested_proc;

GC_ms_entry* NestedProc(GC_word* addr, GC_ms_entry* msp, GC_ms_entry* lim,
                        GC_word env) {
  EXPECT_EQ(env, 7u);
  void* p = reinterpret_cast<void*>(*addr);
  return GC_MARK_AND_PUSH(p, msp, lim, reinterpret_cast<void**>(addr));
}

GC_ms_entry* HolderProc(GC_word* addr, GC_ms_entry* msp, GC_ms_entry* lim,
                        GC_word env) {
  EXPECT_EQ(env, 3u);
  auto* h = reinterpret_cast<Holder*>(addr);
  // As guile's weak-table procedures do: GC_size inside the collector.
  EXPECT_GE(GC_size(addr), sizeof(Holder));
  for (GC_word i = 0; i < h->n && i < kMarked; i++) {
    msp = GC_MARK_AND_PUSH(h->marked[i], msp, lim, &h->marked[i]);
  }
  msp = Push(msp, lim, &h->ranged, sizeof(void*) | GC_DS_LENGTH);
  // Bitmap: msb = the first word; only the second word is a pointer.
  const GC_word bm = (GC_word{1} << (8 * sizeof(GC_word) - 2)) | GC_DS_BITMAP;
  msp = Push(msp, lim, &h->bitmapped[0], bm);
  msp = Push(msp, lim, &h->nested, GC_MAKE_PROC(g_nested_proc, 7));
  return msp;
}

unsigned HolderKind() {
  static unsigned kind = [] {
    g_nested_proc = GC_new_proc(NestedProc);
    const unsigned proc = GC_new_proc(HolderProc);
    return GC_new_kind(GC_new_free_list(), GC_MAKE_PROC(proc, 3), 0, 1);
  }();
  return kind;
}

// Data-segment roots; volatile, so that the stores which only a
// collection reads are not optimized away.
constexpr int kHolders = 100;
// The holders, held from an uncollectable array until the test drops them.
Holder** volatile g_holders;

struct Targets {
  std::vector<uintptr_t> kept, dropped;  // hidden addresses
};

uintptr_t Hide(void* p) { return ~reinterpret_cast<uintptr_t>(p); }

__attribute__((noinline)) Targets MakeHolders() {
  Targets t;
  g_holders = static_cast<Holder**>(
      GC_MALLOC_UNCOLLECTABLE(kHolders * sizeof(Holder*)));
  for (int i = 0; i < kHolders; i++) {
    auto* h =
        static_cast<Holder*>(GC_generic_malloc(sizeof(Holder), HolderKind()));
    g_holders[i] = h;
    h->n = kMarked;
    for (auto& p : h->marked) {
      p = GC_malloc_atomic(32);
      t.kept.push_back(Hide(p));
    }
    h->ranged = GC_malloc_atomic(32);
    t.kept.push_back(Hide(h->ranged));
    h->bitmapped[0] = GC_malloc_atomic(32);
    t.dropped.push_back(Hide(h->bitmapped[0]));
    h->bitmapped[1] = GC_malloc_atomic(32);
    t.kept.push_back(Hide(h->bitmapped[1]));
    h->nested = GC_malloc_atomic(32);
    t.kept.push_back(Hide(h->nested));
    for (auto& p : h->ignored) {
      p = GC_malloc_atomic(32);
      t.dropped.push_back(Hide(p));
    }
  }
  return t;
}

TEST(BoehmMarkProcs, ProcedureKeepsExactlyWhatItReaches) {
  GC_INIT();
  const Targets t = MakeHolders();
  for (int i = 0; i < 2; i++) Collect();
  EXPECT_EQ(CountAllocated(t.kept), static_cast<int>(t.kept.size()));
  // Words the procedure never reports keep nothing.
  EXPECT_LE(CountAllocated(t.dropped), static_cast<int>(t.dropped.size()) / 10);
  // Dropping the holders drops what they reached.
  GC_FREE(g_holders);
  g_holders = nullptr;
  for (int i = 0; i < 2; i++) Collect();
  EXPECT_LE(CountAllocated(t.kept), static_cast<int>(t.kept.size()) / 10);
}

// A procedure that pushes far more entries than a mark stack of Boehm's
// initial size holds: every one of them is still marked.
constexpr int kFanout = 20000;
GC_ms_entry* FanoutProc(GC_word* addr, GC_ms_entry* msp, GC_ms_entry* lim,
                        GC_word) {
  auto* slots = reinterpret_cast<void**>(addr);
  for (int i = 0; i < kFanout; i++) {
    msp = Push(msp, lim, &slots[i], sizeof(void*) | GC_DS_LENGTH);
  }
  return msp;
}

void** volatile g_fanout;

__attribute__((noinline)) std::vector<uintptr_t> MakeFanout() {
  const unsigned proc = GC_new_proc(FanoutProc);
  const unsigned kind =
      GC_new_kind(GC_new_free_list(), GC_MAKE_PROC(proc, 0), 0, 1);
  auto** slots =
      static_cast<void**>(GC_generic_malloc(kFanout * sizeof(void*), kind));
  std::vector<uintptr_t> hidden;
  for (int i = 0; i < kFanout; i++) {
    slots[i] = GC_malloc_atomic(16);
    hidden.push_back(~reinterpret_cast<uintptr_t>(slots[i]));
  }
  g_fanout = slots;
  return hidden;
}

TEST(BoehmMarkProcs, MarkStackOverflowLosesNoEntry) {
  GC_INIT();
  const std::vector<uintptr_t> hidden = MakeFanout();
  for (int i = 0; i < 2; i++) Collect();
  EXPECT_EQ(CountAllocated(hidden), kFanout);
  g_fanout = nullptr;
  for (int i = 0; i < 3; i++) Collect();
  EXPECT_LE(CountAllocated(hidden), kFanout / 10);
}

// GC_generic_malloc_many: a list of objects of the kind, linked through
// their first word, the rest zero; held only through the list, each is
// traced by the kind's procedure.
void* volatile g_many;

__attribute__((noinline)) std::vector<uintptr_t> MakeMany(size_t* count) {
  void* list = nullptr;
  GC_generic_malloc_many(sizeof(Holder), HolderKind(), &list);
  // The link words are not traced (the procedure reads the first word as
  // a count): hold every object from the stack before allocating again.
  void* items[1024] = {};
  size_t n = 0;
  for (void* p = list; p != nullptr && n < 1024; p = *static_cast<void**>(p)) {
    items[n++] = p;
    EXPECT_GE(GC_size(p), sizeof(Holder));
    const auto* words = static_cast<const GC_word*>(p);
    for (size_t w = 1; w < sizeof(Holder) / sizeof(GC_word); w++) {
      EXPECT_EQ(words[w], 0u) << "word " << w;
    }
  }
  // Chain them through `ranged`, which the procedure reports, each with
  // one target, so the chain is kept through the kind's tracing alone.
  std::vector<uintptr_t> kept;
  void* prev = nullptr;
  for (size_t i = 0; i < n; i++) {
    auto* h = static_cast<Holder*>(items[i]);
    h->n = 1;
    h->marked[0] = GC_malloc_atomic(24);
    kept.push_back(~reinterpret_cast<uintptr_t>(h->marked[0]));
    h->ranged = prev;
    prev = h;
  }
  *count = n;
  g_many = prev;
  return kept;
}

TEST(BoehmMarkProcs, GenericMallocManyReturnsZeroedObjectsOfTheKind) {
  GC_INIT();
  size_t count = 0;
  const std::vector<uintptr_t> kept = MakeMany(&count);
  ASSERT_GE(count, 1u);
  for (int i = 0; i < 2; i++) Collect();
  EXPECT_EQ(CountAllocated(kept), static_cast<int>(count));
  g_many = nullptr;
  for (int i = 0; i < 3; i++) Collect();
  EXPECT_LE(CountAllocated(kept), static_cast<int>(count) / 10 + 1);
}

// The built-in kinds (gc_priv.h's PTRFREE 0 and NORMAL 1, which clients
// such as Guile pass to GC_generic_malloc_many): NORMAL objects are
// scanned, PTRFREE ones are not.
constexpr int kLists = 100;

__attribute__((noinline)) void MakeBuiltin(
    void** holders, std::vector<uintptr_t>* via_normal,
    std::vector<uintptr_t>* via_ptrfree) {
  for (int i = 0; i < kLists; i++) {
    void* normal = nullptr;
    void* ptrfree = nullptr;
    GC_generic_malloc_many(32, 1, &normal);
    GC_generic_malloc_many(32, 0, &ptrfree);
    ASSERT_NE(normal, nullptr);
    ASSERT_NE(ptrfree, nullptr);
    holders[2 * i] = normal;
    holders[2 * i + 1] = ptrfree;
    void* a = GC_malloc_atomic(40);
    void* b = GC_malloc_atomic(40);
    static_cast<void**>(normal)[1] = a;
    static_cast<void**>(ptrfree)[1] = b;
    via_normal->push_back(Hide(a));
    via_ptrfree->push_back(Hide(b));
  }
}

TEST(BoehmMarkProcs, BuiltinKindsScanNormalNotPtrfree) {
  GC_INIT();
  auto** holders =
      static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(2 * kLists * sizeof(void*)));
  std::vector<uintptr_t> via_normal, via_ptrfree;
  MakeBuiltin(holders, &via_normal, &via_ptrfree);
  for (int i = 0; i < 2; i++) Collect();
  EXPECT_EQ(CountAllocated(via_normal), kLists);
  EXPECT_LE(CountAllocated(via_ptrfree), kLists / 10);
  GC_FREE(holders);
}

TEST(BoehmMarkProcs, PlausibleBoundsCoverTheHeap) {
  GC_INIT();
  for (int i = 0; i < 100; i++) {
    void* p = GC_malloc(i * 1000 + 8);
    EXPECT_GE(reinterpret_cast<GC_word>(p),
              reinterpret_cast<GC_word>(GC_least_plausible_heap_addr));
    EXPECT_LE(reinterpret_cast<GC_word>(p),
              reinterpret_cast<GC_word>(GC_greatest_plausible_heap_addr));
  }
}

}  // namespace

// Mostly-concurrent marking (on request) refuses a kind with a mark
// procedure with a message, rather than miss what the procedure reads
// outside the heap. A fresh process that asks for the mode before it
// initializes.
TEST(BoehmMarkProcsDeathTest, MostlyConcurrentMarkingRefusesProcedureKinds) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        setenv("GC_GCHEAP_DIRTY_PAGES", "mprotect", 1);
        GC_INIT();
        GC_new_kind(GC_new_free_list(),
                    GC_MAKE_PROC(GC_new_proc(NestedProc), 0), 0, 1);
      },
      "needs stop-the-world marking");
}
