// Tests of the oracle itself: the text form round-trips, replays are
// deterministic, generated programs are valid in full, directed programs
// give the exact numbers worked out by hand, and every injected fault is
// caught and minimized to a handful of ops (so a real bug would be too).
#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/oracle/boehm.h"
#include "tests/oracle/oracle.h"
#include "tests/oracle/threaded.h"

namespace gcheap::oracle {
namespace {

class OracleSelfTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    InstallCrashHandler();
    boehm::Init();
  }
};

Program Parse(const std::string& text) {
  Program p;
  std::string err;
  EXPECT_TRUE(ParseProgram(text, &p, &err)) << err;
  return p;
}

TEST_F(OracleSelfTest, TextFormRoundTrips) {
  for (uint64_t seed = 1; seed <= 50; seed++) {
    Program p = GenerateProgram(seed, GenOptions{});
    std::string text = FormatProgram(p);
    Program q = Parse(text);
    ASSERT_EQ(q.ops.size(), p.ops.size());
    for (size_t i = 0; i < p.ops.size(); i++) {
      ASSERT_TRUE(q.ops[i] == p.ops[i])
          << "seed " << seed << " op " << i << ": " << FormatOp(p.ops[i])
          << " came back as " << FormatOp(q.ops[i]);
    }
    EXPECT_EQ(q.seed, p.seed);
    EXPECT_EQ(q.config.workers, p.config.workers);
    EXPECT_EQ(q.config.verify, p.config.verify);
    EXPECT_EQ(q.config.gc_percent, p.config.gc_percent);
    EXPECT_EQ(q.config.memory_limit, p.config.memory_limit);
    EXPECT_EQ(q.config.stw, p.config.stw);
  }
  Op op;
  std::string err;
  EXPECT_FALSE(ParseOp("explode id=1", &op, &err));
  EXPECT_FALSE(ParseOp("alloc id=x", &op, &err));
  EXPECT_FALSE(ParseOp("alloc kind=banana", &op, &err));
  EXPECT_FALSE(ParseOp("store id", &op, &err));
}

TEST_F(OracleSelfTest, GeneratedProgramsReplayInFullAndDeterministically) {
  const uint64_t n = SlowBuild() ? 8 : 40;
  RunOptions o;
  o.boehm = !SlowBuild();
  for (uint64_t seed = 100; seed < 100 + n; seed++) {
    // Without the VM ops: the order in which the heap runs finalizers and
    // pops guardians follows its hash maps of addresses, which differ
    // from run to run, so a VM program's later ops may be skipped in one
    // run and not in another (docs/decisions.md); oracle_test runs them.
    GenOptions g;
    g.vm_ops = false;
    Program p = GenerateProgram(seed, g);
    p.config.gc_percent = -1;  // no automatic cycles: fully deterministic
    p.config.memory_limit = 0;
    RunResult a = RunProgram(p, o);
    RunResult b = RunProgram(p, o);
    ASSERT_TRUE(a.ok) << FailureReport(p, a, nullptr, nullptr);
    ASSERT_TRUE(b.ok) << FailureReport(p, b, nullptr, nullptr);
    // The generator only emits ops that are valid when they run.
    EXPECT_EQ(a.stats.skipped, 0u) << "seed " << seed;
    EXPECT_EQ(a.stats.reachable, b.stats.reachable);
    EXPECT_EQ(a.stats.ours, b.stats.ours);
    EXPECT_EQ(a.stats.collections, b.stats.collections);
    EXPECT_EQ(a.stats.allocated, b.stats.allocated);
  }
}

TEST_F(OracleSelfTest, ByteDrivenProgramsRun) {
  // What the fuzzer does, with pseudo-random bytes.
  RngSource rng(7);
  const int n = SlowBuild() ? 10 : 30;
  for (int i = 0; i < n; i++) {
    std::string bytes(64 + rng.Below(2000), '\0');
    for (char& c : bytes) c = static_cast<char>(rng.Below(256));
    ByteSource src(reinterpret_cast<const uint8_t*>(bytes.data()),
                   bytes.size());
    GenOptions g;
    g.ops = 400;
    Program p = GenerateFromSource(src, i, g);
    RunResult r = RunProgram(p, RunOptions{});
    ASSERT_TRUE(r.ok) << FailureReport(p, r, nullptr, nullptr);
  }
}

// Worked out by hand: a garbage cycle, a self loop, a rooted chain, large
// objects with pointers on both sides of the 128 KiB oblet boundary, a trace
// callback that hides kids, interior pointers, immediates, all root kinds.
TEST_F(OracleSelfTest, DirectedProgramGivesTheExactNumbers) {
  Program p = Parse(R"(
program seed=0 workers=2 verify=1 gc_percent=-1 memory_limit=0
# A 3-cycle rooted in slot 0, then a garbage 2-cycle.
alloc id=1 kind=small3 bytes=48 slot=0
alloc id=2 kind=small3 bytes=48 parent=1 field=0
alloc id=3 kind=small3 bytes=48 parent=2 field=0
store id=3 field=0 target=1
alloc id=4 kind=small3 bytes=48
alloc id=5 kind=small3 bytes=48
# 4 and 5 were never stored anywhere: garbage (and skipped below).
store id=4 field=0 target=5
# A self loop through an interior pointer, in a range root.
alloc id=6 kind=wide bytes=720 slot=16
store id=6 field=5 target=6 off=24
# A long vector across two oblet boundaries, in a scanner slot; pointers
# right before and after 128 KiB and at the very end.
alloc id=7 kind=vec bytes=262152 slot=32
alloc id=8 kind=noscan bytes=100 parent=7 field=8190
alloc id=9 kind=blob bytes=64 parent=7 field=8191
alloc id=10 kind=small3 bytes=48 parent=7 field=16383
storeimm id=7 field=1 value=4095
# A traced node that reports 1 of its 2 kids.
alloc id=11 kind=traced bytes=96 slot=1
settracen id=11 count=2
alloc id=12 kind=noscan bytes=16 parent=11 field=0
alloc id=13 kind=noscan bytes=17 parent=11 field=1
settracen id=11 count=1
# A large noscan object in a single root, holding an address.
alloc id=14 kind=noscan bytes=131073 slot=2
touchaddr id=14 field=0 target=4
collect
)");
  RunOptions o;
  RunResult r = RunProgram(p, o);
  ASSERT_TRUE(r.ok) << FailureReport(p, r, nullptr, nullptr);
  // 1 2 3 | 6 | 7 8 9 10 | 11 12 | 14: 11 objects at the collect op; the
  // final checks collect twice more (11, then 0 after dropping the roots).
  EXPECT_EQ(r.stats.collections, 3u);
  EXPECT_EQ(r.stats.reachable, 11u + 11u + 0u);
  EXPECT_EQ(r.stats.ours, r.stats.reachable);
  EXPECT_GE(r.stats.boehm, r.stats.reachable);
  EXPECT_EQ(r.stats.skipped, 1u);  // the store into garbage object 4
}

// Objects bigger than a 64 MiB arena: a noscan one, and a vector whose
// pointers sit at both ends (528 oblets apart); freed, and their pages
// reused.
TEST_F(OracleSelfTest, ObjectsLargerThanAnArena) {
  Program p = Parse(R"(
program seed=0 workers=2 verify=1 gc_percent=-1 memory_limit=0 stw=1
alloc id=1 kind=noscan bytes=73400321 slot=0
alloc id=2 kind=vec bytes=69206040 slot=1
alloc id=3 kind=small3 bytes=48 parent=2 field=0
alloc id=4 kind=small3 bytes=48 parent=2 field=4325376
alloc id=5 kind=noscan bytes=100 parent=2 field=2162688
collect
rootset slot=0 target=0
collect
alloc id=6 kind=vec bytes=70000000 slot=0
alloc id=7 kind=small3 bytes=48 parent=6 field=4374998
rootset slot=1 target=0
collect
alloc id=8 kind=noscan bytes=73400321 slot=1
collect
)");
  RunOptions o;
  o.boehm = false;  // a 66 MiB typed descriptor is not the point here
  RunResult r = RunProgram(p, o);
  ASSERT_TRUE(r.ok) << FailureReport(p, r, nullptr, nullptr);
  EXPECT_EQ(r.stats.skipped, 0u);
  // 5, 4, 2 and 3 live objects at the four collections, then 3 and 0.
  EXPECT_EQ(r.stats.reachable, 5u + 4u + 2u + 3u + 3u + 0u);
}

struct FaultCase {
  Fault fault;
  const char* categories;  // acceptable failure categories
};

class OracleFaultTest : public OracleSelfTest,
                        public ::testing::WithParamInterface<FaultCase> {};

TEST_P(OracleFaultTest, IsCaughtAndMinimized) {
  RunOptions o;
  o.fault = GetParam().fault;
  GenOptions g;
  // Stop-the-world programs: with concurrent marking, which check sees an
  // injected fault first depends on thread timing, and the minimizer needs
  // the same failure on every replay.
  g.force_stw = 1;
  BatchResult b = RunSeeds(1, 200, g, o, /*minimize=*/false);
  ASSERT_FALSE(b.ok) << "an injected fault went unnoticed in 200 programs";
  Program p = GenerateProgram(b.failing_seed, g);
  RunResult r = RunProgram(p, o);
  ASSERT_FALSE(r.ok);
  EXPECT_NE(std::string(GetParam().categories).find(r.category),
            std::string::npos)
      << r.category << ": " << r.message;
  // (The minimizer is the same code in every build; sanitizer builds, where
  // each of its hundreds of runs is slow, only check that the fault is seen.)
  if (SlowBuild()) return;
  Program m = MinimizeFailure(p, o, r);
  RunResult mr = RunProgram(m, o);
  ASSERT_FALSE(mr.ok);
  EXPECT_EQ(mr.category, r.category);
  EXPECT_LE(m.ops.size(), 8u) << FormatProgram(m);
  // The report names the seed and carries a replayable program.
  std::string report = FailureReport(p, r, &m, &mr);
  EXPECT_NE(report.find("seed=" + std::to_string(p.seed)), std::string::npos);
  Program replay = Parse(report.substr(report.find("program seed=")));
  EXPECT_FALSE(RunProgram(replay, o).ok);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, OracleFaultTest,
    // (A lost pointer may first show as a finalizer, a guardian pop, a
    // cleanup or a weak read of an object the model holds reachable.)
    ::testing::Values(
        FaultCase{Fault::kCorruptPayload, "intact"},
        FaultCase{Fault::kDropRoot,
                  "live_objects intact finalizer guardian cleanup weak_read"},
        FaultCase{Fault::kSkipStore,
                  "intact live_objects finalizer guardian cleanup weak_read"},
        FaultCase{Fault::kHidePointer,
                  "live_objects intact finalizer guardian cleanup weak_read"}));

// The minimizer's renumbering of a VM program (ids of ephchain, finchain,
// ephnew keys and values, weak targets...) keeps it the same program: as
// many valid ops, the same live counts at every collection.
TEST_F(OracleSelfTest, RenumberingKeepsVmProgramsTheSame) {
  for (uint64_t seed = 1; seed <= 30; seed++) {
    GenOptions g;
    g.vm_ops = true;
    g.max_chain = 60;
    Program p = GenerateProgram(seed, g);
    // Gaps in the ids, as deleted ops leave them.
    Program gappy = p;
    for (Op& op : gappy.ops) {
      if (op.op == OpKind::kEphChain || op.op == OpKind::kFinChain ||
          op.op == OpKind::kChain) {
        op.count = std::max<uint32_t>(1, op.count / 2);
      }
    }
    for (const Program* q : {&p, &gappy}) {
      const Program r = RenumberIds(*q);
      auto replay = [](const Program& prog, std::vector<size_t>* live) {
        Model m;
        m.Configure(prog.config);
        Effects fx;
        for (const Op& op : Model::Prologue()) m.Apply(op, &fx);
        size_t valid = 0;
        for (const Op& op : prog.ops) {
          if (!m.Apply(op, &fx)) continue;
          valid++;
          if (op.op == OpKind::kCollect) live->push_back(m.live().size());
        }
        return valid;
      };
      std::vector<size_t> la, lb;
      EXPECT_EQ(replay(*q, &la), replay(r, &lb)) << "seed " << seed;
      EXPECT_EQ(la, lb) << "seed " << seed;
    }
  }
}

// ---- The executor's VM side, before the heap's API exists ----------------
//
// The test plays the heap: registrations go to the model directly, the
// model collects without the heap (which keeps the unreachable objects: no
// cycle runs), and the callbacks are called by hand with the real objects.
// Resurrections and pops are then checked by a real gc_collect and the
// exact checks (a store the executor failed to make shows as freed
// objects).
class ExecutorVmSide : public OracleSelfTest {
 protected:
  void Make(int finalizer_thread) {
    RunOptions o;
    o.boehm = false;
    ProgramConfig cfg;
    cfg.finalizer_thread = finalizer_thread;
    ex_ = std::make_unique<Executor>(cfg, o);
    ASSERT_TRUE(ex_->Start());
  }
  static Op Parse1(const std::string& line) {
    Op op;
    std::string err;
    EXPECT_TRUE(ParseOp(line, &op, &err)) << err;
    return op;
  }
  // On the model and the heap (ops that need no new API).
  void Step(const std::string& line) {
    ASSERT_TRUE(ex_->Step(Parse1(line), 0)) << ex_->result().message;
  }
  // On the model only (what phase 2 also tells the heap).
  void ModelOnly(const std::string& line) {
    Effects fx;
    ASSERT_TRUE(ex_->model().Apply(Parse1(line), &fx)) << line;
  }
  // Objects 1 -> 2, both with ordered finalizers (1 resurrects into slot
  // 5), dropped; the model's collection queues 1.
  void OrderedPairQueued() {
    Make(0);
    Step("alloc id=1 kind=small3 bytes=48 slot=0");
    Step("alloc id=2 kind=small3 bytes=48 parent=1 field=0");
    ModelOnly("finreg id=1 mode=ordered resurrect=5");
    ModelOnly("finreg id=2 mode=ordered");
    d1_ = ex_->FinalizerData(1);
    d2_ = ex_->FinalizerData(2);
    Step("rootset slot=0 target=0");
    ModelOnly("collect");
    ASSERT_EQ(ex_->model().ready_queue().size(), 1u);
    ex_->model().BeginRun();
  }
  std::unique_ptr<Executor> ex_;
  void* d1_ = nullptr;
  void* d2_ = nullptr;
};

TEST_F(ExecutorVmSide, FinalizerCallbackResurrectsAndRecordsTheOrder) {
  OrderedPairQueued();
  Executor::OnFinalizer(ex_->mutator(), ex_->AddressOf(1), d1_);
  ASSERT_TRUE(ex_->ok()) << ex_->result().message;
  EXPECT_EQ(ex_->finalizer_calls(), std::vector<uint32_t>({1}));
  std::string why;
  EXPECT_TRUE(ex_->model().EndRun(&why)) << why;
  // Resurrected into slot 5 for real: a real collection keeps 1 and 2
  // (exactly: live_objects must be 2).
  Step("collect");
  EXPECT_EQ(ex_->model().live().size(), 2u);
  EXPECT_EQ(ex_->stats().ours, 2u);
}

TEST_F(ExecutorVmSide, FinalizerCallbackRefusesWhatTheModelForbids) {
  OrderedPairQueued();
  // 2 is reachable from 1, which is queued (a root) and not run yet.
  Executor::OnFinalizer(ex_->mutator(), ex_->AddressOf(2), d2_);
  EXPECT_FALSE(ex_->ok());
  EXPECT_EQ(ex_->result().category, "finalizer");
  EXPECT_NE(ex_->result().message.find("strongly reachable"), std::string::npos)
      << ex_->result().message;
  // The right registration with another object.
  OrderedPairQueued();
  Executor::OnFinalizer(ex_->mutator(), ex_->AddressOf(2), d1_);
  EXPECT_EQ(ex_->result().category, "finalizer");
  // Twice.
  OrderedPairQueued();
  Executor::OnFinalizer(ex_->mutator(), ex_->AddressOf(1), d1_);
  ASSERT_TRUE(ex_->ok());
  Executor::OnFinalizer(ex_->mutator(), ex_->AddressOf(1), d1_);
  EXPECT_EQ(ex_->result().category, "finalizer");
  // A damaged object.
  OrderedPairQueued();
  static_cast<uint64_t*>(ex_->AddressOf(1))[2] ^= 1;  // a payload word
  Executor::OnFinalizer(ex_->mutator(), ex_->AddressOf(1), d1_);
  EXPECT_EQ(ex_->result().category, "intact");
}

// With a finalizer thread the calls are logged and checked, in order, on
// the program's thread.
TEST_F(ExecutorVmSide, FinalizerThreadCallsAreCheckedWhenDrained) {
  Make(1);
  Step("alloc id=1 kind=small3 bytes=48 slot=0");
  Step("alloc id=2 kind=small3 bytes=48 slot=1");
  ModelOnly("finreg id=1 mode=ordered");
  ModelOnly("cleanupadd id=2 token=4");
  void* d1 = ex_->FinalizerData(1);
  void* c4 = ex_->CleanupData(4);
  Step("rootset slot=0 target=0");
  Step("rootset slot=1 target=0");
  ModelOnly("collect");  // 1 queued, 2 freed (its cleanup queued)
  std::thread heap_thread([&] {
    Executor::OnFinalizer(nullptr, ex_->AddressOf(1), d1);
    Executor::OnCleanup(nullptr, c4);
  });
  heap_thread.join();
  EXPECT_TRUE(ex_->finalizer_calls().empty());  // not checked yet
  ASSERT_TRUE(ex_->DrainCalls()) << ex_->result().message;
  EXPECT_EQ(ex_->finalizer_calls(), std::vector<uint32_t>({1}));
  EXPECT_EQ(ex_->model().cleanups().at(4).state, Model::Cleanup::kRan);
  // The same cleanup again is refused at the next drain.
  std::thread again([&] { Executor::OnCleanup(nullptr, c4); });
  again.join();
  EXPECT_FALSE(ex_->DrainCalls());
  EXPECT_EQ(ex_->result().category, "cleanup");
}

TEST_F(ExecutorVmSide, GuardianPopsAreCheckedAndStored) {
  Make(0);
  Step("alloc id=1 kind=small3 bytes=48 slot=0");
  Step("alloc id=2 kind=small3 bytes=48 parent=1 field=0");
  ModelOnly("guardreg id=1 guardian=1 mode=ordered");
  Step("rootset slot=0 target=0");
  ModelOnly("collect");
  ASSERT_EQ(ex_->model().guardian_queue(1).size(), 1u);
  ASSERT_TRUE(ex_->HandlePop(1, ex_->AddressOf(1), 6));
  ASSERT_TRUE(ex_->HandlePop(1, nullptr, 6));  // empty now
  // Stored into slot 6 for real: 1 and 2 survive a real collection.
  Step("collect");
  EXPECT_EQ(ex_->stats().ours, 2u);
  // Something the guardian did not hold.
  EXPECT_FALSE(ex_->HandlePop(0, ex_->AddressOf(2), kNoSlot));
  EXPECT_EQ(ex_->result().category, "guardian");
}

TEST_F(ExecutorVmSide, WeakReadsAreComparedWithTheModel) {
  Make(0);
  Step("alloc id=1 kind=small3 bytes=48 slot=0");
  Step("alloc id=2 kind=small3 bytes=48 slot=1");
  Expect e;
  e.ref.id = 1;
  bool saw_null = false;
  EXPECT_TRUE(ex_->CheckRead(e, ex_->AddressOf(1), "read", &saw_null));
  EXPECT_FALSE(saw_null);
  e.or_null = true;
  EXPECT_TRUE(ex_->CheckRead(e, nullptr, "read", &saw_null));
  EXPECT_TRUE(saw_null);
  e.or_null = false;
  EXPECT_FALSE(ex_->CheckRead(e, ex_->AddressOf(2), "read", &saw_null));
  EXPECT_EQ(ex_->result().category, "weak_read");
  Make(0);
  Step("alloc id=1 kind=small3 bytes=48 slot=0");
  EXPECT_FALSE(ex_->CheckRead(e, nullptr, "read", &saw_null));
}

TEST_F(OracleSelfTest, ThreadedRunCatchesAFault) {
  ThreadedOptions o = ThreadedOptionsForSeed(3, 600);
  o.threads = 3;
  o.fault = Fault::kCorruptPayload;
  o.collect_per_mille = 20;
  ThreadedResult r = RunThreaded(o);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.report.find("seed=3"), std::string::npos) << r.report;
}

}  // namespace
}  // namespace gcheap::oracle
