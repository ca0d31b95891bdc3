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
//     some), so the dirty-page path really ran.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>

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

}  // namespace
