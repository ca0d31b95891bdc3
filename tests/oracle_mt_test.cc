// The multi-threaded oracle (tests/oracle/threaded.h): 2 to 8 mutator
// threads (more than CI's 2 cores) with private and shared graphs,
// collections from random threads, attach / detach, blocking regions and
// automatic cycles; every thread checks its graph after its collections,
// and at quiescent points the exact global counts are checked. The private
// graphs register finalizers (ordered, unordered, ignore-self,
// resurrecting), guardians and cleanups, whose callbacks any thread's
// gc_run_finalizers may call: each is checked against its own graph's model
// (never early, Boehm's order), and each graph's explicit collections are
// followed by its own run, which must run everything they queued (never
// missed). The run mixes stop-the-world and concurrent heaps, verify on and
// off; OracleThreadsTest.FinalizationInBothModesWithVerify fixes verify on
// and runs each collector mode.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "gtest/gtest.h"
#include "tests/oracle/oracle.h"
#include "tests/oracle/threaded.h"

namespace gcheap::oracle {
namespace {

void AddFinalization(ThreadedResult* t, const ThreadedResult& r) {
  t->fin_ops += r.fin_ops;
  t->finalized += r.finalized;
  t->guardian_pops += r.guardian_pops;
  t->cleanups_run += r.cleanups_run;
  t->foreign_calls += r.foreign_calls;
  t->fin_collections += r.fin_collections;
  t->open_decisions += r.open_decisions;
  t->determined += r.determined;
}

void PrintFinalization(const std::string& kind, const char* mode,
                       const ThreadedResult& t) {
  printf("[oracle-mt %s%s] finalization: %" PRIu64 " ops, %" PRIu64
         " finalizer calls (%" PRIu64
         " of them and of the cleanups run by another thread than the "
         "graph's), %" PRIu64 " guardian pops, %" PRIu64
         " cleanups checked; %" PRIu64
         " own collections + runs checked for missed finalizers: %" PRIu64
         " ready objects queued for certain, %" PRIu64
         " left open (entries other threads' cycles queued may keep them "
         "back)\n",
         kind.c_str(), mode, t.fin_ops, t.finalized, t.foreign_calls,
         t.guardian_pops, t.cleanups_run, t.fin_collections, t.determined,
         t.open_decisions);
}

// Finalization must have happened, and been checked at the threads' own
// collections.
void ExpectFinalizationChecked(const ThreadedResult& t) {
  EXPECT_GT(t.fin_ops, 0u);
  EXPECT_GT(t.finalized, 0u);
  EXPECT_GT(t.guardian_pops, 0u);
  EXPECT_GT(t.cleanups_run, 0u);
  EXPECT_GT(t.fin_collections, 0u);
  EXPECT_GT(t.determined, 0u);
  EXPECT_GT(t.foreign_calls, 0u);
}

TEST(OracleThreadsTest, PrivateAndSharedGraphsStayExact) {
  InstallCrashHandler();
  const std::string kind = BuildKind();
  // Runs x ops per thread, per build.
  int runs = 21, ops = 3000;
  if (kind == "asan") runs = 14, ops = 1500;
  if (kind == "tsan") runs = 14, ops = 800;
  if (kind == "debug") runs = 14, ops = 1500;
  if (const char* v = getenv("ORACLE_MT_RUNS")) runs = atoi(v);
  const uint64_t first = kind == "opt" ? 1 : kind == "asan" ? 1001 : 2001;
  ThreadedResult total;
  for (int i = 0; i < runs; i++) {
    const uint64_t seed = first + i;
    ThreadedOptions o = ThreadedOptionsForSeed(seed, ops);
    o.threads = 2 + i % 7;  // every count from 2 to 8
    SetCrashContext("oracle_mt_test: crashed in threaded seed=%" PRIu64
                    " threads=%d\n",
                    seed, o.threads);
    ThreadedResult r = RunThreaded(o);
    ASSERT_TRUE(r.ok) << r.report;
    EXPECT_GT(r.quiescent_checks, 0u) << "seed " << seed;
    total.ops += r.ops;
    total.collections += r.collections;
    total.cycles += r.cycles;
    total.quiescent_checks += r.quiescent_checks;
    total.objects_checked += r.objects_checked;
    total.detaches += r.detaches;
    total.helpers += r.helpers;
    total.weak_ops += r.weak_ops;
    total.eph_ops += r.eph_ops;
    total.weak_reads += r.weak_reads;
    total.reads_marking += r.reads_marking;
    total.holds_checked += r.holds_checked;
    AddFinalization(&total, r);
    if (r.max_pause_ns > total.max_pause_ns)
      total.max_pause_ns = r.max_pause_ns;
  }
  printf("[oracle-mt %s] %d runs (2-8 threads): %" PRIu64 " ops, %" PRIu64
         " checked collections, %" PRIu64 " cycles, %" PRIu64
         " quiescent exact checks, %" PRIu64 " object checks, %" PRIu64
         " detaches, %" PRIu64 " short-lived threads, longest pause %.2f ms\n",
         kind.c_str(), runs, total.ops, total.collections, total.cycles,
         total.quiescent_checks, total.objects_checked, total.detaches,
         total.helpers, total.max_pause_ns / 1e6);
  printf("[oracle-mt %s] weak ops %" PRIu64 ", ephemeron ops %" PRIu64
         ", weak reads checked %" PRIu64 " (%" PRIu64
         " while a cycle marked; %" PRIu64
         " objects they returned checked still allocated after that "
         "cycle)\n",
         kind.c_str(), total.weak_ops, total.eph_ops, total.weak_reads,
         total.reads_marking, total.holds_checked);
  PrintFinalization(kind, "", total);
  // The weak reads must meet concurrent marking (other threads' cycles),
  // and what they returned then must have survived the cycle.
  EXPECT_GT(total.reads_marking, 0u);
  EXPECT_GT(total.holds_checked, 0u);
  ExpectFinalizationChecked(total);
}

// Verify on, each collector mode: finalization from every thread.
TEST(OracleThreadsTest, FinalizationInBothModesWithVerify) {
  InstallCrashHandler();
  const std::string kind = BuildKind();
  int runs = 6, ops = 2500;
  if (kind != "opt") runs = 4, ops = 1000;
  for (int stw = 0; stw <= 1; stw++) {
    ThreadedResult total;
    for (int i = 0; i < runs; i++) {
      const uint64_t seed = 5000 + 100 * stw + i;
      ThreadedOptions o = ThreadedOptionsForSeed(seed, ops);
      o.threads = 3 + i % 4;
      o.stw = stw;
      o.verify = 1;
      SetCrashContext("oracle_mt_test: crashed in threaded seed=%" PRIu64
                      " threads=%d stw=%d\n",
                      seed, o.threads, stw);
      ThreadedResult r = RunThreaded(o);
      ASSERT_TRUE(r.ok) << r.report;
      AddFinalization(&total, r);
    }
    PrintFinalization(kind, stw ? " stw" : " concurrent", total);
    ExpectFinalizationChecked(total);
  }
}

}  // namespace
}  // namespace gcheap::oracle
