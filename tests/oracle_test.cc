// The exact oracle, differential against Boehm GC (tests/oracle/): seeded
// random mutator programs must leave our heap exactly as the shadow graph
// says (every reachable object intact, live_objects == reachable, bytes in
// use == their slot bytes, per-class counts), and Boehm must keep at least
// the same objects. A failure prints the seed and a minimized, replayable
// op list (bazel run //tools:oracle_diff -- --replay=FILE).
//
// Each build runs its own seed range, so CI's three configurations cover
// different programs: optimized 10000 programs from seed 1, asan-ubsan 2600
// from seed 1000001, tsan 500 from seed 2000001 (13100 in all). Programs
// include the VM ops of issue 12 (weak references, ephemerons,
// finalization; about a fifth of the ops), checked against the model at
// every collection and, for finalizers and weak handles, against Boehm.
// Sanitizer builds run the Boehm side on every 8th program (its conservative
// stack scan is slow there and checks nothing about our heap's memory safety).
// The environment variables ORACLE_PROGRAMS and ORACLE_SEED override.
#include "tests/oracle/oracle.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "tests/oracle/boehm.h"

namespace gcheap::oracle {
namespace {

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = getenv(name);
  return v != nullptr && *v != '\0' ? strtoull(v, nullptr, 0) : def;
}

struct Budget {
  uint64_t programs;
  uint64_t first_seed;
  uint64_t boehm_every;
};

Budget ForThisBuild() {
  const std::string kind = BuildKind();
  if (kind == "tsan") return {500, 2000001, 8};
  if (kind == "asan") return {2600, 1000001, 8};
  if (kind == "debug") return {1500, 3000001, 8};
  return {10000, 1, 1};
}

class OracleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    InstallCrashHandler();
    boehm::Init();
  }
};

void Print(const char* what, const BatchResult& b) {
  const RunStats& s = b.stats;
  printf("[oracle %s] %s: %" PRIu64 " seeded programs, %" PRIu64
         " passed; %" PRIu64 " ops, %" PRIu64 " checked collections (%" PRIu64
         " cycles), %" PRIu64 " objects allocated, %" PRIu64
         " object checks; reachable %" PRIu64 " = ours %" PRIu64
         "; Boehm %" PRIu64 " (excess %" PRId64 ")\n",
         BuildKind(), what, b.programs, b.passed, s.ops, s.collections,
         s.cycles, s.allocated, s.objects_checked, s.reachable, s.ours, s.boehm,
         static_cast<int64_t>(s.boehm - s.boehm_reachable));
  printf("[oracle %s] %s: Boehm ran %" PRIu64
         " of the programs; its excess "
         "retention is %.3f%% of %" PRIu64 " reachable\n",
         BuildKind(), what, b.boehm_programs,
         s.boehm_reachable
             ? 100.0 * (s.boehm - s.boehm_reachable) / s.boehm_reachable
             : 0.0,
         s.boehm_reachable);
  printf("[oracle %s] %s: %s\n", BuildKind(), what, VmSummary(s).c_str());
  fflush(stdout);
}

TEST_F(OracleTest, SeededProgramsAgreeWithTheOracleAndBoehm) {
  const Budget budget = ForThisBuild();
  const uint64_t n = EnvOr("ORACLE_PROGRAMS", budget.programs);
  const uint64_t first = EnvOr("ORACLE_SEED", budget.first_seed);
  GenOptions g;  // 300 ops
  RunOptions o;
  o.boehm_every = budget.boehm_every;
  BatchResult b = RunSeeds(first, n, g, o, /*minimize=*/true);
  Print("300-op programs", b);
  RecordProperty("programs_passed", static_cast<int>(b.passed));
  ASSERT_TRUE(b.ok) << b.report;
  EXPECT_EQ(b.passed, n);
  EXPECT_EQ(b.stats.ours, b.stats.reachable);
  EXPECT_GE(b.stats.boehm, b.stats.boehm_reachable);
}

// Fewer, longer programs: bigger graphs, long chains, many collections.
TEST_F(OracleTest, LongProgramsAgreeWithTheOracleAndBoehm) {
  const uint64_t n = EnvOr("ORACLE_LONG_PROGRAMS", SlowBuild() ? 6 : 30);
  const uint64_t first = EnvOr("ORACLE_SEED", ForThisBuild().first_seed);
  GenOptions g;
  g.ops = 4000;
  g.max_chain = 3000;
  g.collect_weight = 10;
  RunOptions o;
  o.boehm_every = SlowBuild() ? 3 : 1;
  BatchResult b = RunSeeds(first + 500000, n, g, o, /*minimize=*/true);
  Print("4000-op programs", b);
  ASSERT_TRUE(b.ok) << b.report;
  EXPECT_EQ(b.stats.ours, b.stats.reachable);
  EXPECT_GE(b.stats.boehm, b.stats.boehm_reachable);
}

// Chain ops (ephchain, finchain) allocate many objects before the chain
// is placed; an allocation in the middle may start a Boehm collection, and
// the chain built so far must survive it on Boehm's side too. Here Boehm
// collects after every object a chain op allocates
// (RunOptions::boehm_collect_in_chains). Regression: the chain was held
// only in our heap's scratch roots, so such a collection freed Boehm's
// copy of the head (seen once as "[boehm_lost] Boehm freed reachable
// object", the head of a 496-long ephchain, in LongPrograms...; it passed
// whenever a stale stack word still named the head).
TEST_F(OracleTest, ChainsSurviveBoehmCollectionsWhileTheyAreBuilt) {
  const uint64_t n = EnvOr("ORACLE_CHAIN_PROGRAMS", SlowBuild() ? 2 : 8);
  const uint64_t first = EnvOr("ORACLE_SEED", ForThisBuild().first_seed);
  GenOptions g;
  g.ops = 1500;
  g.max_chain = 60;
  RunOptions o;
  o.boehm_collect_in_chains = true;
  BatchResult b = RunSeeds(first + 600000, n, g, o, /*minimize=*/false);
  Print("chains with Boehm collections", b);
  ASSERT_TRUE(b.ok) << b.report;
  EXPECT_GT(b.stats.eph_ops, 0u);
  EXPECT_GE(b.stats.boehm, b.stats.boehm_reachable);
}

}  // namespace
}  // namespace gcheap::oracle
