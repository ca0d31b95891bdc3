// Tests for the worked example of docs/embedding.md (docs/examples/cons_vm):
// the program gives the right answer under explicit and automatic collections,
// values held only on the VM stack (root scanner), in globals (root range)
// or in the symbol table (root slot) survive, errors are reported,
// several VMs run on one heap from several threads, weak-keyed tables keep
// an entry exactly as long as its key is reachable from elsewhere (a value
// that refers to its key does not keep it), and pair finalizers run once,
// after their pair became unreachable, on the VM's thread, with a key
// being finalized keeping its table entry until it is freed (Lua's rule).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "docs/examples/cons_vm/cons_vm_lib.h"
#include "gtest/gtest.h"
#include "runtime/gc.h"

namespace cons_vm {
namespace {

class ConsVmTest : public ::testing::Test {
 protected:
  void SetUp() override { Init(Config()); }
  void TearDown() override { Destroy(); }

  static gc_config Config() {
    gc_config cfg = DefaultConfig();
    cfg.verify = 1;
    return cfg;
  }
  void Init(const gc_config& cfg) {
    Destroy();
    heap_ = gc_heap_create(&cfg);
    ASSERT_NE(heap_, nullptr) << gc_last_error();
    ASSERT_TRUE(RegisterTypes(heap_, &types_)) << gc_last_error();
    vm_ = NewVm(heap_, types_, nullptr);
    ASSERT_NE(vm_, nullptr);
  }
  void Destroy() {
    if (vm_ != nullptr) DeleteVm(vm_);
    vm_ = nullptr;
    if (heap_ != nullptr) gc_heap_destroy(heap_);
    heap_ = nullptr;
  }
  gc_stats Stats() {
    gc_stats s;
    s.struct_size = sizeof(s);
    gc_get_stats(heap_, &s);
    return s;
  }
  std::string Result() { return Format(reinterpret_cast<Value>(vm_->result)); }

  gc_heap* heap_ = nullptr;
  Types types_;
  Vm* vm_ = nullptr;
};

std::string Expected(int64_t n, int64_t rounds) {
  int64_t sum, weighted;
  EXPECT_TRUE(ExpectedListResults(n, rounds, &sum, &weighted));
  return "((sum . " + std::to_string(sum) + ") (weighted . " +
         std::to_string(weighted) + "))";
}

TEST_F(ConsVmTest, ListProgramPrintsAndReturnsTheRightResult) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* out = open_memstream(&buf, &len);
  ASSERT_NE(out, nullptr);
  vm_->out = out;
  constexpr int64_t kN = 2000, kRounds = 10;
  ASSERT_TRUE(cons_vm::Run(vm_, ListProgram(kN, kRounds))) << vm_->error;
  std::string why;
  EXPECT_TRUE(CheckListResult(vm_, kN, kRounds, &why)) << why;
  EXPECT_EQ(Result(), Expected(kN, kRounds));
  vm_->out = nullptr;
  fclose(out);
  EXPECT_EQ(std::string(buf, len), Expected(kN, kRounds) + "\n");
  free(buf);
  EXPECT_EQ(Stats().cycles, static_cast<uint64_t>(kRounds));

  // What stays: the symbol table (2 symbols, 2 links) and the result
  // (2 list cells, 2 pairs).
  gc_collect(vm_->m);
  EXPECT_EQ(Stats().live_objects, 8u);
  EXPECT_EQ(Stats().objects_allocated - Stats().objects_freed, 8u);
  // Without its roots, nothing does.
  DeleteVm(vm_);
  vm_ = nullptr;
  gc_mutator* m = gc_thread_attach(heap_);
  gc_collect(m);
  EXPECT_EQ(Stats().live_objects, 0u);
  gc_thread_detach(m);
}

// One round allocates several times the 4 MB minimum heap goal, so
// automatic collections run while the lists are half built. (In concurrent
// mode a cycle triggered near the end of the round may merge with the
// round's explicit collection; past 1.1 x goal the mutator waits for the
// running cycle, so the first automatic cycle always completes here.)
TEST_F(ConsVmTest, AutomaticCollectionsDuringARound) {
  constexpr int64_t kN = 600000, kRounds = 1;
  ASSERT_TRUE(cons_vm::Run(vm_, ListProgram(kN, kRounds))) << vm_->error;
  EXPECT_EQ(Result(), Expected(kN, kRounds));
  EXPECT_GT(Stats().cycles, static_cast<uint64_t>(kRounds));
}

TEST_F(ConsVmTest, SymbolsAreInternedAndSurvive) {
  std::vector<Instr> code = {
      {kIntern, 0, "beta"},  // beta
      {kIntern, 0, "alpha"},
      {kIntern, 0, "alpha"},
      {kEq},  // 1: same symbol
      {kIntern, 0, "alpha"},
      {kIntern, 0, "beta"},
      {kEq},  // 0
      {kCons},
      {kCollect},
      {kCons},
      {kHalt},
  };
  ASSERT_TRUE(cons_vm::Run(vm_, code)) << vm_->error;
  EXPECT_EQ(Result(), "(beta 1 . 0)");
  gc_collect(vm_->m);
  // alpha, beta, two symbol-table links, two result cells.
  EXPECT_EQ(Stats().live_objects, 6u);
}

// 2000 lists held only on the operand stack (the root scanner) across
// collections, then folded into one list.
TEST_F(ConsVmTest, StackValuesSurviveCollections) {
  constexpr int kN = 2000;
  std::vector<Instr> code;
  for (int i = 1; i <= kN; i++) {
    code.push_back({kPush, i});
    code.push_back({kPushNil});
    code.push_back({kCons});
    if (i % 500 == 0) code.push_back({kCollect});
  }
  code.push_back({kPushNil});
  for (int i = 0; i < kN; i++) code.push_back({kCons});
  code.push_back({kCollect});
  code.push_back({kHalt});
  ASSERT_TRUE(cons_vm::Run(vm_, code)) << vm_->error;
  std::string r = Result();
  EXPECT_EQ(r.substr(0, 16), "((1) (2) (3) (4)");
  EXPECT_EQ(r.substr(r.size() - 14), "(1999) (2000))");
  EXPECT_EQ(Stats().live_objects, 2u * kN);
}

// A list held only on the operand stack while it grows, while another
// thread collects in a loop: collections stop the VM at every kind of
// safepoint (inside kCons's gc_alloc, at the backward jump), and the list
// must survive them through the root scanner alone. Runs the program until
// at least kCycles collections overlapped the runs (or kMaxRuns).
TEST_F(ConsVmTest, StackOnlyValuesSurviveCollectionsAtAnySafepoint) {
  constexpr int64_t kN = 20000;
  constexpr uint64_t kCycles = 25;
  constexpr int kMaxRuns = 2000;
  const std::vector<Instr> code = {
      /* 0 */ {kPush, kN},
      /* 1 */ {kStore, 0},  // i = n
      /* 2 */ {kPushNil},   // [list], on the stack only
      /* 3 */ {kLoad, 0},
      /* 4 */ {kJumpIfZero, 13},  // while (i != 0)
      /* 5 */ {kLoad, 0},
      /* 6 */ {kSwap},
      /* 7 */ {kCons},  // [(i . list)]
      /* 8 */ {kLoad, 0},
      /* 9 */ {kPush, 1},
      /* 10 */ {kSub},
      /* 11 */ {kStore, 0},  // i = i - 1
      /* 12 */ {kJump, 3},
      /* 13 */ {kHalt},
  };
  std::atomic<bool> done{false};
  std::thread collector([&] {
    gc_mutator* m = gc_thread_attach(heap_);
    while (!done.load()) {
      gc_collect(m);
      std::this_thread::yield();
    }
    gc_thread_detach(m);
  });
  uint64_t overlapped = 0;
  for (int run = 0; run < kMaxRuns && overlapped < kCycles; run++) {
    const uint64_t before = Stats().cycles;
    ASSERT_TRUE(cons_vm::Run(vm_, code)) << vm_->error;
    overlapped += Stats().cycles - before;
    int64_t count = 0;
    for (Value p = reinterpret_cast<Value>(vm_->result); p != kNil;
         p = reinterpret_cast<Value>(Untag<Cons>(p)->cdr)) {
      ASSERT_EQ(TagOf(p), kConsTag) << "run " << run;
      Value car = reinterpret_cast<Value>(Untag<Cons>(p)->car);
      ASSERT_EQ(car, MakeFixnum(count + 1)) << "run " << run;
      count++;
    }
    ASSERT_EQ(count, kN) << "run " << run;
  }
  done.store(true);
  gc_enter_blocking(vm_->m);  // the collector may be waiting for us
  collector.join();
  gc_leave_blocking(vm_->m);
  EXPECT_GE(overlapped, kCycles);
}

TEST_F(ConsVmTest, GlobalsAndVectors) {
  std::vector<Instr> code = {
      {kPush, 1},  {kPush, 2}, {kPushNil}, {kCons},         {kCons},
      {kStore, 7}, {kCollect}, {kLoad, 7}, {kListToVector}, {kStore, 8},
      {kCollect},  {kLoad, 8}, {kDup},     {kPush, 1},      {kVectorRef},
      {kPush, 10}, {kAdd},     {kPushNil}, {kCons},         {kCons},
      {kHalt},
  };
  ASSERT_TRUE(cons_vm::Run(vm_, code)) << vm_->error;
  EXPECT_EQ(Result(), "(#(1 2) 12)");
  gc_collect(vm_->m);
  // The result (2 cells, reusing the vector), the vector, and the list in
  // global 7 (2 cells).
  EXPECT_EQ(Stats().live_objects, 5u);
}

TEST_F(ConsVmTest, ErrorsAreReported) {
  EXPECT_FALSE(cons_vm::Run(vm_, {{kPush, 1}, {kCar}, {kHalt}}));
  EXPECT_NE(vm_->error.find("not a pair"), std::string::npos) << vm_->error;
  EXPECT_FALSE(cons_vm::Run(vm_, {{kCons}}));
  EXPECT_NE(vm_->error.find("underflow"), std::string::npos) << vm_->error;
  EXPECT_FALSE(
      cons_vm::Run(vm_, {{kPush, int64_t{1} << 59}, {kDup}, {kAdd}, {kHalt}}));
  EXPECT_NE(vm_->error.find("overflow"), std::string::npos) << vm_->error;
  EXPECT_FALSE(cons_vm::Run(vm_, {{kPushNil}, {kDrop}}));
  EXPECT_NE(vm_->error.find("off the end"), std::string::npos) << vm_->error;
  // Still usable.
  ASSERT_TRUE(cons_vm::Run(vm_, {{kPush, 5}, {kHalt}})) << vm_->error;
  EXPECT_EQ(Result(), "5");
}

TEST_F(ConsVmTest, HardHeapLimitFailsTheRunWithTheReason) {
  gc_config cfg = Config();
  cfg.max_heap_bytes = 2 << 20;
  cfg.gc_percent = -1;  // only the limit forces collections
  Init(cfg);
  // 200000 live cells (3.2 MB) do not fit in 2 MB.
  EXPECT_FALSE(cons_vm::Run(vm_, ListProgram(200000, 1)));
  EXPECT_NE(vm_->error.find("hard limit"), std::string::npos) << vm_->error;
  // Once the failed program's values are dropped, the VM works again.
  for (void*& g : vm_->globals) g = nullptr;
  ASSERT_TRUE(cons_vm::Run(vm_, ListProgram(1000, 2))) << vm_->error;
  EXPECT_EQ(Result(), Expected(1000, 2));
}

// Four VMs, one per thread, share a heap: each thread's collections stop
// the others at their safepoints (allocations and backward jumps) and scan
// their stacks, globals and symbol tables.
// Builds a list of the top k stack values (the deepest first).
void ListOfTop(std::vector<Instr>* code, int k) {
  code->push_back({kPushNil});
  for (int i = 0; i < k; i++) code->push_back({kCons});
}

TEST_F(ConsVmTest, WeakTableEntriesLiveExactlyAsLongAsTheirKeys) {
  const uint64_t cleared0 = Stats().ephemerons_cleared;
  std::vector<Instr> code = {
      {kMakeTable},
      {kStore, 0},  // g0 = table
      {kPush, 1},
      {kPushNil},
      {kCons},
      {kStore, 1},  // g1 = key1 = (1)
      // t[key1] = (100 . key1): the value refers to its key.
      {kLoad, 0},
      {kLoad, 1},
      {kPush, 100},
      {kLoad, 1},
      {kCons},
      {kTablePut},
      // t[(2)] = 200: the key is held by nothing but the table.
      {kLoad, 0},
      {kPush, 2},
      {kPushNil},
      {kCons},
      {kPush, 200},
      {kTablePut},
      // t['sym] = 300: the symbol table keeps the key.
      {kLoad, 0},
      {kIntern, 0, "sym"},
      {kPush, 300},
      {kTablePut},
      {kCollect},
      {kLoad, 0},
      {kTableCount},  // 2
      {kLoad, 0},
      {kLoad, 1},
      {kTableGet},
      {kCar},  // 100
      // A second put of a key replaces the value.
      {kLoad, 0},
      {kIntern, 0, "sym"},
      {kPush, 301},
      {kTablePut},
      {kLoad, 0},
      {kIntern, 0, "sym"},
      {kTableGet},  // 301
      // Drop key1: only its own value refers to it now.
      {kPushNil},
      {kStore, 1},
      {kCollect},
      {kLoad, 0},
      {kTableCount},  // 1
  };
  ListOfTop(&code, 4);
  code.push_back({kHalt});
  ASSERT_TRUE(cons_vm::Run(vm_, code)) << vm_->error;
  EXPECT_EQ(Result(), "(2 100 301 1)");
  // The collector cleared exactly the two entries whose keys died.
  EXPECT_EQ(Stats().ephemerons_cleared - cleared0, 2u);
}

TEST_F(ConsVmTest, PairFinalizersRunOnceAfterThePairDies) {
  std::vector<Instr> code = {
      {kPush, 7},       {kPushNil},       {kCons},
      {kFinalize},      {kDrop},  // dropped
      {kPush, 5},       {kPushNil},       {kCons},
      {kFinalize},      {kStore, 2},       // kept
      {kRunFinalizers},                    // 0: no collection yet
      {kCollect},       {kRunFinalizers},  // 1: (7)
      {kCollect},       {kRunFinalizers},  // 1: (5) is still in g2
      {kPushNil},       {kStore, 2},      {kCollect},
      {kRunFinalizers},                    // 2: (5)
      {kCollect},       {kRunFinalizers},  // 2: each runs once
  };
  ListOfTop(&code, 5);
  code.push_back({kHalt});
  ASSERT_TRUE(cons_vm::Run(vm_, code)) << vm_->error;
  EXPECT_EQ(Result(), "(0 1 1 2 2)");
  EXPECT_EQ(vm_->finalized_car_sum.load(), 12);
}

TEST_F(ConsVmTest, AKeyBeingFinalizedKeepsItsEntryUntilItIsFreed) {
  std::vector<Instr> code = {
      {kMakeTable},     {kStore, 0}, {kPush, 3},    {kPushNil}, {kCons},
      {kFinalize},      {kStore, 1}, {kLoad, 0},    {kLoad, 1}, {kPush, 33},
      {kTablePut},      {kPushNil},  {kStore, 1},  // the key is unreachable now
      {kCollect},       {kLoad, 0},  {kTableCount},  // 1: revived for its
                                                     // finalizer
      {kRunFinalizers},                              // 1
      {kCollect},       {kLoad, 0},  {kTableCount},  // 0: freed, entry cleared
  };
  ListOfTop(&code, 3);
  code.push_back({kHalt});
  ASSERT_TRUE(cons_vm::Run(vm_, code)) << vm_->error;
  EXPECT_EQ(Result(), "(1 1 0)");
  EXPECT_EQ(vm_->finalized_car_sum.load(), 3);
}

TEST_F(ConsVmTest, TableAndFinalizerErrorsAreReported) {
  EXPECT_FALSE(cons_vm::Run(
      vm_, {{kPush, 1}, {kPush, 2}, {kPush, 3}, {kTablePut}, {kHalt}}));
  EXPECT_EQ(vm_->error, "table-put: not a table");
  EXPECT_FALSE(cons_vm::Run(
      vm_, {{kMakeTable}, {kPushNil}, {kPush, 3}, {kTablePut}, {kHalt}}));
  EXPECT_EQ(vm_->error, "table-put: nil key");
  EXPECT_FALSE(cons_vm::Run(vm_, {{kPush, 1}, {kFinalize}, {kHalt}}));
  EXPECT_EQ(vm_->error, "finalize: not a pair");
}

TEST_F(ConsVmTest, VmsOnSeveralThreadsShareAHeap) {
  DeleteVm(vm_);  // this thread does not take part
  vm_ = nullptr;
  constexpr int kThreads = 4;
  constexpr int64_t kN = 1000, kRounds = 8;
  std::vector<std::string> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      Vm* vm = NewVm(heap_, types_, nullptr);
      if (vm == nullptr) return;
      const int64_t n = kN + t;
      std::string why;
      if (!cons_vm::Run(vm, ListProgram(n, kRounds))) {
        results[t] = "error: " + vm->error;
      } else if (!CheckListResult(vm, n, kRounds, &why)) {
        results[t] = why;
      } else {
        results[t] = "ok";
      }
      DeleteVm(vm);
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; t++) EXPECT_EQ(results[t], "ok") << t;
  // Each round collects; collections requested by several threads at once
  // may share a cycle, so only a lower bound of one thread's rounds holds.
  EXPECT_GE(Stats().cycles, static_cast<uint64_t>(kRounds));
}

}  // namespace
}  // namespace cons_vm
