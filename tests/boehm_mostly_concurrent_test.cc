// boehm_mostly_concurrent_test: libgc.so.1's mostly-concurrent marking
// (docs/boehm.md, "Mostly-concurrent marking"), the Boehm layer linked in
// statically, with the mprotect dirty-page source forced
// (GC_GCHEAP_DIRTY_PAGES=mprotect in the test's environment):
//   - the library reports the mode "mostly-concurrent" and the source
//     "mprotect";
//   - six threads (GC_pthread_create, on 2 cores) keep rewiring linked
//     chains with plain stores (tails swapped between chains, nodes
//     replaced by black copies that take over white children, tails moved
//     into a stash object and back) while collections run, started by
//     their garbage and by each thread's GC_gcollect; after each
//     GC_gcollect the thread checks that every node of its structure is
//     reachable exactly once and intact (magic, owner, id, checksum): a
//     node freed while reachable fails it (tools/boehm_rewire.h). The
//     marks must have found written pages (the final pauses rescanned
//     some), so the dirty-page path really ran;
//   - a pointer to a white object stored into a page that a preclean round
//     has just rescanned (world running) is found by the final pause
//     (PointerStoredIntoAPrecleanedPageIsFoundInTheFinalPause);
//   - a preclean round rescans an object allocated black during the mark
//     in a span its thread's mcache still holds
//     (AnObjectAllocatedBlackInACachedSpanIsRescannedByPreclean).
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "gc/collector.h"
#include "gtest/gtest.h"
#include "runtime/boehm/boehm_internal.h"
#include "runtime/boehm/dirty_pages.h"
#include "tools/boehm_rewire.h"

extern "C" const char* GC_gcheap_marking_mode(void);
extern "C" const char* GC_gcheap_dirty_pages(void);

namespace {

TEST(MostlyConcurrent, ModeIsReported) {
  EXPECT_STREQ(GC_gcheap_marking_mode(), "mostly-concurrent");
  EXPECT_STREQ(GC_gcheap_dirty_pages(), "mprotect");
}

TEST(MostlyConcurrent, RewiringThreadsLoseNothing) {
  boehm_rewire::Options o;
  o.threads = 6;
  o.rounds = 12;
  boehm_rewire::Result r;
  const GC_word cycles_before = GC_get_gc_no();
  boehm_rewire::Run(o, &r);
  EXPECT_EQ(r.failures.load(), 0u) << r.first_failure;
  EXPECT_EQ(r.rounds.load(), static_cast<uint64_t>(o.threads * o.rounds));
  const GC_word cycles = GC_get_gc_no() - cycles_before;
  // Each thread's GC_gcollect calls need a cycle each (others' may share
  // them).
  EXPECT_GE(cycles, static_cast<GC_word>(o.rounds));
  const gcheap::boehm::DirtyStats s = gcheap::boehm::DirtyTotals();
  EXPECT_GT(s.rescans, 0u);
  EXPECT_GT(s.dirty_pages, 0u);
  printf(
      "%lu cycles; over all marks: %lu final-pause rescans, %lu tracked "
      "pages, %lu dirty, %lu of new spans\n",
      static_cast<unsigned long>(cycles), static_cast<unsigned long>(s.rescans),
      static_cast<unsigned long>(s.tracked_pages),
      static_cast<unsigned long>(s.dirty_pages),
      static_cast<unsigned long>(s.untracked_pages));
}

// Precleaning's order, through the collector: a pointer to a white object
// stored, during the concurrent phase, into an object on a page that a
// preclean round has just rescanned is found by the final pause.
//   - A: a large conservative object (64 KiB) reachable from a global
//     (g_a), scanned by the concurrent mark; a large object's page is
//     rescanned at once, its words read inside the round (a small object
//     is queued and read by the drain that follows the round);
//   - W: reachable from nothing the collector sees (its address is kept
//     complemented in g_hidden_w, and in an atomic object as a
//     disappearing link that the collector clears if W dies), so it stays
//     white through the mark;
//   - the mark phase hook (world running, right after the first pause)
//     writes A's page, so the first preclean round rescans it; the
//     preclean hook (once that round rescanned its pages) stores W into A
//     and drops the hidden copy: A is then W's only referent.
// The final pause must find W: the round re-armed A's page before it
// rescanned it, so the store was recorded. (Re-arming after the rescan
// loses the store, and W is freed: the link reads NULL.)
struct Large {
  void* slot[8192];
};
Large* g_a;
void** g_link;  // atomic object: W's address, as a disappearing link
uintptr_t g_hidden_w;
constexpr uintptr_t kMagic = 0x5eedcafef00d0001;

__attribute__((noinline)) void MakeWhiteObject() {
  uintptr_t* w = static_cast<uintptr_t*>(GC_MALLOC(64));
  for (int i = 0; i < 8; i++) w[i] = kMagic + i;
  g_link = static_cast<void**>(GC_MALLOC_ATOMIC(sizeof(void*)));
  *g_link = w;
  ASSERT_EQ(GC_general_register_disappearing_link(g_link, w), GC_SUCCESS);
  g_hidden_w = ~reinterpret_cast<uintptr_t>(w);
}

// Overwrites the dead part of the stack where W's address may linger.
__attribute__((noinline)) void ClobberStack() {
  uintptr_t junk[4096];
  memset(junk, 0, sizeof(junk));
  asm volatile("" : : "r"(junk) : "memory");
}

TEST(MostlyConcurrent, PointerStoredIntoAPrecleanedPageIsFoundInTheFinalPause) {
  g_a = static_cast<Large*>(GC_MALLOC(sizeof(Large)));
  ASSERT_NE(g_a, nullptr);
  GC_gcollect();
  MakeWhiteObject();
  ClobberStack();
  std::atomic<int> dirtied{0}, stored{0};
  gcheap::boehm::g.heap->collector->SetMarkPhaseHookForTesting([&] {
    if (dirtied.fetch_add(1) == 0) g_a->slot[0] = g_a;
  });
  gcheap::boehm::SetPrecleanHookForTesting([&] {
    if (dirtied.load() == 0 || stored.load() != 0) return;
    g_a->slot[1] = reinterpret_cast<void*>(~g_hidden_w);
    g_hidden_w = 0;
    stored.store(1);
  });
  const uint64_t rounds_before = gcheap::boehm::DirtyTotals().preclean_rounds;
  GC_gcollect();
  gcheap::boehm::g.heap->collector->SetMarkPhaseHookForTesting(nullptr);
  gcheap::boehm::SetPrecleanHookForTesting(nullptr);
  ASSERT_EQ(stored.load(), 1) << "no preclean round ran";
  EXPECT_GT(gcheap::boehm::DirtyTotals().preclean_rounds, rounds_before);
  // W survived (its link is kept) and is intact.
  void* w = *g_link;
  ASSERT_NE(w, nullptr) << "W, reachable from A, was freed: the store "
                           "into A's precleaned page was lost";
  EXPECT_EQ(g_a->slot[1], w);
  for (int i = 0; i < 8; i++) {
    EXPECT_EQ(static_cast<uintptr_t*>(w)[i], kMagic + i);
  }
  // The link's bookkeeping is freed once unregistered and swept (the
  // leak checker does not see the heap's span metadata).
  EXPECT_EQ(GC_unregister_disappearing_link(g_link), 1);
  GC_gcollect();
  GC_gcollect();
}

// Precleaning and allocate-black: an object X allocated during the
// concurrent phase by a thread whose mcache still holds X's span is black
// but reads as unmarked (and, while its allocation window is open, as
// free) until the mcache marks it in bulk. A second thread runs
// GC_gcollect; its mark phase hook (world running, right after the first
// pause) waits while this thread allocates X, stores W into it and keeps
// X in a global (a root: the final pause finds X marked, so it never
// scans it), then drops the hidden copy of W. X's page was written (or
// its span is new), so the first preclean round re-arms and rescans it:
// if the rescan skipped X as unmarked, nothing would read X's words again
// and W would be freed while X points to it (the link reads NULL). Fails
// without the rescan's IsMarkedOrBlack and open-window test
// (Collector::DirtyRescanner).
void** g_x;
std::atomic<int> g_phase{0};  // 1: marking, X wanted; 2: X stored

void* CollectOnce(void*) {
  GC_gcollect();
  return nullptr;
}

TEST(MostlyConcurrent,
     AnObjectAllocatedBlackInACachedSpanIsRescannedByPreclean) {
  GC_gcollect();
  // This thread's mcache holds a span of X's class from now on.
  void* warm = GC_MALLOC(4 * sizeof(void*));
  ASSERT_NE(warm, nullptr);
  MakeWhiteObject();
  ClobberStack();
  g_phase = 0;
  gcheap::boehm::g.heap->collector->SetMarkPhaseHookForTesting([] {
    int expected = 0;
    if (!g_phase.compare_exchange_strong(expected, 1)) return;
    while (g_phase.load() != 2) sched_yield();
  });
  const uint64_t rounds_before = gcheap::boehm::DirtyTotals().preclean_rounds;
  pthread_t t;
  ASSERT_EQ(GC_pthread_create(&t, nullptr, &CollectOnce, nullptr), 0);
  while (g_phase.load() != 1) sched_yield();
  void** x = static_cast<void**>(GC_MALLOC(4 * sizeof(void*)));
  x[0] = reinterpret_cast<void*>(~g_hidden_w);
  g_hidden_w = 0;
  g_x = x;
  x = nullptr;
  g_phase = 2;
  ASSERT_EQ(GC_pthread_join(t, nullptr), 0);
  gcheap::boehm::g.heap->collector->SetMarkPhaseHookForTesting(nullptr);
  ClobberStack();
  EXPECT_GT(gcheap::boehm::DirtyTotals().preclean_rounds, rounds_before);
  // The cycle that freed W (if it did) has swept; W's link tells.
  GC_gcollect();
  void* w = *g_link;
  ASSERT_NE(w, nullptr) << "W, reachable from X, was freed: precleaning "
                           "skipped X, allocated black in a cached span";
  EXPECT_EQ(g_x[0], w);
  for (int i = 0; i < 8; i++) {
    EXPECT_EQ(static_cast<uintptr_t*>(w)[i], kMagic + i);
  }
  EXPECT_EQ(GC_unregister_disappearing_link(g_link), 1);
  g_x = nullptr;
  GC_gcollect();
  GC_gcollect();
}

}  // namespace
