// Tests of the oracle's model alone (no heap): hand-written programs whose
// outcome under the VM semantics of issue 12 is worked out in the comments
// (which finalizers run at which collection and in which order, which weak
// cells are cleared when, which ephemeron entries survive, when a cleanup
// runs, which reads between collections are determined), the validation of
// what a heap reports (finalizer calls, cleanups, guardian pops), and
// random VM programs checked against a naive reference implementation of
// the same semantics and against the model's invariants.
#include "tests/oracle/model.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/oracle/generator.h"
#include "tests/oracle/ops.h"

namespace gcheap::oracle {
namespace {

// A model with the usual root registrations (observing: it is told what
// the heap did, as the executor's model is).
Model Make(bool auto_cycles, bool observing = false) {
  Model m;
  m.set_auto_cycles(auto_cycles);
  m.set_observing(observing);
  Effects fx;
  for (const Op& op : Model::Prologue()) m.Apply(op, &fx);
  return m;
}

// Applies every op of text (one per line); each must be valid.
void Do(Model& m, const std::string& text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    line.erase(0, line.find_first_not_of(' '));
    if (line.empty() || line[0] == '#') continue;
    Op op;
    std::string err;
    ASSERT_TRUE(ParseOp(line, &op, &err)) << line << ": " << err;
    Effects fx;
    ASSERT_TRUE(m.Apply(op, &fx)) << "invalid: " << line;
  }
}

std::set<uint32_t> LiveSet(const Model& m) {
  return std::set<uint32_t>(m.live().begin(), m.live().end());
}

std::vector<uint32_t> ReadyIds(const Model& m) {
  std::vector<uint32_t> v;
  for (const Model::Pending& p : m.ready_queue()) v.push_back(p.id);
  return v;
}

std::vector<uint32_t> Ran(const Model& m) {
  std::vector<uint32_t> v;
  for (const auto& [when, id] : m.run_log()) v.push_back(id);
  return v;
}

bool Freed(const Model& m, uint32_t id) { return m.Get(id)->freed; }

using Ids = std::vector<uint32_t>;
using IdSet = std::set<uint32_t>;

// A -> B -> C, all ordered, dropped together: A first (B and C are
// reachable from it), then B once A's finalizer ran, then C.
TEST(ModelFinalization, OrderedChainOfThreeFinalizesOneNodePerCollection) {
  Model m = Make(false);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
alloc id=2 kind=small3 bytes=48 parent=1 field=0
alloc id=3 kind=small3 bytes=48 parent=2 field=0
finreg id=1 mode=ordered
finreg id=2 mode=ordered
finreg id=3 mode=ordered
rootset slot=0 target=0
collect)");
  EXPECT_EQ(ReadyIds(m), Ids({1}));
  EXPECT_EQ(LiveSet(m), IdSet({1, 2, 3}));  // 1 revived, 2 and 3 by pass 1
  Do(m, "collect");                         // 1 is queued, a root: nothing new
  EXPECT_EQ(ReadyIds(m), Ids({1}));
  EXPECT_EQ(LiveSet(m), IdSet({1, 2, 3}));
  Do(m, "runfinalizers\ncollect");
  EXPECT_EQ(Ran(m), Ids({1}));
  EXPECT_TRUE(Freed(m, 1));
  EXPECT_EQ(ReadyIds(m), Ids({2}));
  EXPECT_EQ(LiveSet(m), IdSet({2, 3}));
  Do(m, "runfinalizers\ncollect\nrunfinalizers\ncollect");
  EXPECT_EQ(Ran(m), Ids({1, 2, 3}));
  EXPECT_TRUE(Freed(m, 2));
  EXPECT_TRUE(Freed(m, 3));
  EXPECT_TRUE(m.live().empty());
  // One call per collection, the front first.
  ASSERT_EQ(m.run_log().size(), 3u);
  EXPECT_EQ(m.run_log()[0].first, 2u);
  EXPECT_EQ(m.run_log()[1].first, 3u);
  EXPECT_EQ(m.run_log()[2].first, 4u);
}

// The same as a finchain of 10 garbage nodes: ten collections, in order.
TEST(ModelFinalization, GarbageFinChainFinalizesFrontToBack) {
  Model m = Make(false);
  Do(m, "finchain id=1 count=10 mode=ordered flags=0x0");
  for (uint32_t i = 1; i <= 10; i++) {
    Do(m, "collect");
    EXPECT_EQ(ReadyIds(m), Ids({i}));
    EXPECT_EQ(m.live().size(), 11u - i);
    Do(m, "runfinalizers");
  }
  Do(m, "collect");
  EXPECT_TRUE(m.live().empty());
  EXPECT_EQ(Ran(m), Ids({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

// Boehm's documented leak: an ordered cycle is never finalized (each node is
// reachable from the other's pass-1 closure), and never freed.
TEST(ModelFinalization, OrderedTwoCycleIsNeverFinalized) {
  Model m = Make(false);
  Do(m, "finchain id=1 count=2 mode=ordered flags=0x1");
  for (int i = 0; i < 3; i++) {
    Do(m, "collect\nrunfinalizers");
    EXPECT_TRUE(m.ready_queue().empty());
    EXPECT_EQ(LiveSet(m), IdSet({1, 2}));
  }
  EXPECT_TRUE(Ran(m).empty());
  EXPECT_TRUE(FinalDrainOps(m).empty());
  EXPECT_TRUE(m.Decide().ready.empty());
}

// Unordered: both nodes of a cycle are finalized at the first collection.
TEST(ModelFinalization, UnorderedTwoCycleFinalizesBoth) {
  Model m = Make(false);
  Do(m, "finchain id=1 count=2 mode=unordered flags=0x1\ncollect");
  EXPECT_EQ(ReadyIds(m), Ids({1, 2}));
  EXPECT_EQ(LiveSet(m), IdSet({1, 2}));
  Do(m, "runfinalizers\ncollect");
  EXPECT_EQ(Ran(m), Ids({1, 2}));
  EXPECT_TRUE(m.live().empty());
}

// Boehm's rule (gc/finalize.cc): an unordered object that an unreachable
// ordered one reaches waits until the ordered one was finalized; an
// ordered object that only an unordered one reaches does not wait.
TEST(ModelFinalization, UnorderedReachedFromOrderedWaitsForIt) {
  Model m = Make(false);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
alloc id=2 kind=small3 bytes=48 parent=1 field=0
alloc id=3 kind=small3 bytes=48 parent=2 field=0
finreg id=1 mode=ordered
finreg id=2 mode=unordered
finreg id=3 mode=ordered
rootset slot=0 target=0
collect)");
  EXPECT_EQ(ReadyIds(m), Ids({1}));
  Do(m, "runfinalizers\ncollect");
  EXPECT_EQ(ReadyIds(m), Ids({2, 3}));
}

// An object whose finalizer was removed and which was then registered with
// a guardian is queued once (the model listed it twice before phase 2).
TEST(ModelFinalization, UnregisteredThenGuardedIsQueuedOnce) {
  Model m = Make(false);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
finreg id=1 mode=ordered
finunreg id=1
guardreg id=1 mode=unordered guardian=0
rootset slot=0 target=0
collect)");
  EXPECT_EQ(m.guardian_queue(0).size(), 1u);
}

// A self-pointer makes an ordered object its own cycle (never finalized);
// ignore-self does not count it.
TEST(ModelFinalization, IgnoreSelfFinalizesASelfPointingObject) {
  Model m = Make(false);
  Do(m, R"(
finchain id=1 count=1 mode=ignoreself flags=0x2
finchain id=2 count=1 mode=ordered flags=0x2
collect)");
  EXPECT_EQ(ReadyIds(m), Ids({1}));
  EXPECT_EQ(LiveSet(m), IdSet({1, 2}));
  // An ignore-self object that reaches itself through another does count.
  Do(m, "finchain id=3 count=2 mode=ignoreself flags=0x1\ncollect");
  EXPECT_EQ(ReadyIds(m), Ids({1}));
}

// A resurrecting finalizer: the object and its long weak reference survive,
// its short weak reference was cleared when it became unreachable.
TEST(ModelFinalization, ResurrectionKeepsTheLongWeakRefNotTheShortOne) {
  Model m = Make(false);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
finreg id=1 mode=ordered resurrect=1
weakcreate wslot=0 target=1 mode=short
weakcreate wslot=1 target=1 mode=long
rootset slot=0 target=0
collect)");
  EXPECT_EQ(ReadyIds(m), Ids({1}));
  EXPECT_EQ(m.ExpectHandle(0).ref.id, 0u);
  EXPECT_EQ(m.ExpectHandle(1).ref.id, 1u);
  EXPECT_FALSE(m.ExpectHandle(1).or_null);
  Do(m, "runfinalizers");
  EXPECT_EQ(m.slot(1).id, 1u);
  EXPECT_TRUE(m.Live(1));
  Do(m, "collect");
  EXPECT_FALSE(Freed(m, 1));
  EXPECT_FALSE(m.Get(1)->registered);  // resurrected without a finalizer
  EXPECT_EQ(m.ExpectHandle(0).ref.id, 0u);
  EXPECT_EQ(m.ExpectHandle(1).ref.id, 1u);
  Do(m, "rootset slot=1 target=0\ncollect");
  EXPECT_TRUE(Freed(m, 1));
  EXPECT_EQ(m.ExpectHandle(1).ref.id, 0u);
  EXPECT_EQ(m.vm_counts().short_cleared, 1u);
  EXPECT_EQ(m.vm_counts().long_cleared, 1u);
}

// E_i = (K_i, K_i+1), 1000 of them: with K_0 rooted every key lives (one
// collection resolves the whole chain), without it none does and every
// entry is cleared; in either order of the next links.
TEST(ModelEphemerons, ChainOfAThousandResolvesInOneCollection) {
  for (const char* flags : {"0x0", "0x1"}) {
    Model m = Make(false);
    Do(m, std::string("ephchain id=1 count=1000 flags=") + flags +
              " kslot=1 slot=0\ncollect");
    EXPECT_EQ(m.live().size(), 2000u) << flags;
    for (uint32_t i = 0; i < 1000; i++) {
      const uint32_t e = 2 * i + 2;
      EXPECT_EQ(m.ExpectEph(e, kEphReadKey).ref.id, 2 * i + 1);
      EXPECT_EQ(m.ExpectEph(e, kEphReadValue).ref.id, i < 999 ? 2 * i + 3 : 0);
      ASSERT_TRUE(m.Live(2 * i + 1)) << "key " << i;
    }
    Do(m, "rootset slot=1 target=0\ncollect");
    EXPECT_EQ(m.live().size(), 1000u);
    EXPECT_EQ(m.vm_counts().ephemerons_cleared, 1000u);
    for (uint32_t i = 0; i < 1000; i++) {
      EXPECT_TRUE(Freed(m, 2 * i + 1));
      EXPECT_EQ(m.ExpectEph(2 * i + 2, kEphReadKey).ref.id, 0u);
      EXPECT_EQ(m.ExpectEph(2 * i + 2, kEphReadValue).ref.id, 0u);
    }
  }
  Model m = Make(false);
  Do(m, "ephchain id=1 count=1000 flags=0x1 slot=0\ncollect");
  EXPECT_EQ(m.live().size(), 1000u);
  EXPECT_EQ(m.vm_counts().ephemerons_cleared, 1000u);
}

// A finalizable key: its entry survives while the key is revived (the
// value with it, out of R: its short weak ref goes, its long one stays);
// once the key is freed the entry is cleared.
TEST(ModelEphemerons, FinalizableKeyKeepsItsEntryUntilFreed) {
  Model m = Make(false);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
alloc id=2 kind=small3 bytes=48 slot=1
ephnew id=3 key=1 val=2 slot=2
finreg id=1 mode=ordered
weakcreate wslot=0 target=2 mode=short
weakcreate wslot=1 target=2 mode=long
rootset slot=1 target=0
rootset slot=0 target=0
collect)");
  EXPECT_EQ(ReadyIds(m), Ids({1}));
  EXPECT_EQ(LiveSet(m), IdSet({1, 2, 3}));
  EXPECT_EQ(m.ExpectEph(3, kEphReadKey).ref.id, 1u);
  EXPECT_EQ(m.ExpectEph(3, kEphReadValue).ref.id, 2u);
  EXPECT_EQ(m.ExpectHandle(0).ref.id, 0u);
  EXPECT_EQ(m.ExpectHandle(1).ref.id, 2u);
  // The queue holds 1 now: the value is reachable through the entry.
  EXPECT_TRUE(m.Live(2));
  Do(m, "runfinalizers\ncollect");
  EXPECT_EQ(LiveSet(m), IdSet({3}));
  EXPECT_EQ(m.ExpectEph(3, kEphReadKey).ref.id, 0u);
  EXPECT_EQ(m.ExpectEph(3, kEphReadValue).ref.id, 0u);
  EXPECT_EQ(m.ExpectHandle(1).ref.id, 0u);
}

// A cleanup runs after its object is freed, never when it is revived.
TEST(ModelCleanups, RunOnlyAfterTheObjectIsFreed) {
  Model m = Make(false);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
finreg id=1 mode=ordered
cleanupadd id=1 token=7
alloc id=2 kind=small3 bytes=48 slot=1
cleanupadd id=2 token=8
cleanupadd id=2 token=9
cleanupcancel token=9
rootset slot=0 target=0
rootset slot=1 target=0
collect)");
  EXPECT_EQ(m.cleanup_queue(), std::vector<uint64_t>({8}));
  EXPECT_EQ(m.cleanups().at(7).state, Model::Cleanup::kRegistered);
  Do(m, "runfinalizers");
  EXPECT_EQ(m.cleanups().at(8).state, Model::Cleanup::kRan);
  EXPECT_EQ(m.cleanups().at(7).state, Model::Cleanup::kRegistered);
  EXPECT_EQ(m.cleanups().at(9).state, Model::Cleanup::kCancelled);
  Do(m, "collect");
  EXPECT_TRUE(Freed(m, 1));
  EXPECT_EQ(m.cleanup_queue(), std::vector<uint64_t>({7}));
  Do(m, "runfinalizers");
  EXPECT_EQ(m.vm_counts().cleanups_run, 2u);
}

// Guardians hand the object back instead of calling anything.
TEST(ModelGuardians, PopHandsTheObjectBack) {
  Model m = Make(false);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
alloc id=2 kind=small3 bytes=48 parent=1 field=0
guardreg id=1 guardian=1 mode=ordered
rootset slot=0 target=0
collect)");
  EXPECT_EQ(m.guardian_queue(1), std::deque<uint32_t>({1}));
  EXPECT_TRUE(m.guardian_queue(0).empty());
  EXPECT_EQ(LiveSet(m), IdSet({1, 2}));
  EXPECT_FALSE(m.Live(1));
  Do(m, "guardpop guardian=1 slot=3");
  EXPECT_EQ(m.slot(3).id, 1u);
  EXPECT_TRUE(m.Live(1));
  EXPECT_TRUE(m.Live(2));
  Do(m, "collect");
  EXPECT_EQ(LiveSet(m), IdSet({1, 2}));
  EXPECT_FALSE(m.Get(1)->registered);
}

// Between collections, with automatic cycles possible: a short read of a
// strongly reachable target is determined; once the target is dropped it
// may read NULL; a NULL seen settles it. A long read of an unreachable
// registered object is determined (it is in F whatever happens).
TEST(ModelWeakReads, DeterminedExactlyWhenTheDesignSays) {
  Model m = Make(true);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
weakcreate wslot=0 target=1 mode=short
weakcreate wslot=1 target=1 mode=long
alloc id=2 kind=small3 bytes=48 slot=1
finreg id=2 mode=ordered
weakcreate wslot=2 target=2 mode=long
weakcreate wslot=3 target=2 mode=short)");
  EXPECT_FALSE(m.ExpectHandle(0).or_null);
  EXPECT_FALSE(m.ExpectHandle(1).or_null);
  Do(m, "rootset slot=0 target=0\nrootset slot=1 target=0");
  EXPECT_EQ(m.ExpectHandle(0).ref.id, 1u);
  EXPECT_TRUE(m.ExpectHandle(0).or_null);
  EXPECT_TRUE(m.ExpectHandle(1).or_null);
  EXPECT_EQ(m.ExpectHandle(2).ref.id, 2u);
  EXPECT_FALSE(m.ExpectHandle(2).or_null);  // a candidate: in F
  EXPECT_TRUE(m.ExpectHandle(3).or_null);   // out of R
  m.ObserveHandleNull(0);
  EXPECT_EQ(m.ExpectHandle(0).ref.id, 0u);
  EXPECT_FALSE(m.ExpectHandle(0).or_null);
  Do(m, "collect");
  for (uint32_t w : {0u, 1u, 3u}) {
    EXPECT_EQ(m.ExpectHandle(w).ref.id, 0u) << w;
    EXPECT_FALSE(m.ExpectHandle(w).or_null) << w;
  }
  EXPECT_EQ(m.ExpectHandle(2).ref.id, 2u);
  // A read result goes into a slot only when determined and reachable.
  Op get;
  ASSERT_TRUE(ParseOp("weakget wslot=2 slot=4", &get, nullptr));
  Effects fx;
  ASSERT_TRUE(m.Apply(get, &fx));
  EXPECT_EQ(fx.store_slot, kNoSlot);  // 2 is queued, not mutator-reachable
}

// Without automatic cycles nothing is cleared between collections: the
// read of a dropped target is determined (the target), until the next
// collection clears it.
TEST(ModelWeakReads, WithoutAutomaticCyclesEveryReadIsDetermined) {
  Model m = Make(false);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
weakcreate wslot=0 target=1 mode=short
alloc id=2 kind=weaks bytes=64 slot=1
weakstore id=2 field=1 target=1
rootset slot=0 target=0)");
  EXPECT_EQ(m.ExpectHandle(0).ref.id, 1u);
  EXPECT_FALSE(m.ExpectHandle(0).or_null);
  EXPECT_EQ(m.ExpectWeakField(2, 1).ref.id, 1u);
  EXPECT_FALSE(m.ExpectWeakField(2, 1).or_null);
  Do(m, "collect");
  EXPECT_EQ(m.ExpectHandle(0).ref.id, 0u);
  EXPECT_EQ(m.ExpectWeakField(2, 1).ref.id, 0u);
  EXPECT_TRUE(Freed(m, 1));
}

// The heap's reports, validated call by call (an observing model, with
// automatic cycles): a finalizer no cycle can have made ready is refused,
// and so is one out of Boehm's order, a replaced registration, a second
// run, a reachable object's; a cycle's early decision is accepted in order.
TEST(ModelObservations, FinalizerCallsAreValidatedInOrder) {
  Model m = Make(true, /*observing=*/true);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
alloc id=2 kind=small3 bytes=48 parent=1 field=0
finreg id=1 mode=ordered
finreg id=2 mode=ordered
alloc id=3 kind=small3 bytes=48 slot=1
finreg id=3 mode=ordered
finreg id=3 mode=unordered
rootset slot=0 target=0
runfinalizers)");
  const uint32_t s1 = m.Get(1)->reg.serial;
  const uint32_t s2 = m.Get(2)->reg.serial;
  const uint32_t s3 = m.Get(3)->reg.serial;
  std::string why;
  uint32_t slot;
  m.BeginRun();
  EXPECT_FALSE(m.RunFinalizer(2, s2, &slot, &why));  // 1 reaches it
  EXPECT_NE(why.find("out of order"), std::string::npos) << why;
  EXPECT_FALSE(m.RunFinalizer(3, s3, &slot, &why));  // strongly reachable
  EXPECT_NE(why.find("strongly reachable"), std::string::npos) << why;
  EXPECT_FALSE(m.RunFinalizer(3, s3 - 1, &slot, &why));  // replaced
  EXPECT_NE(why.find("replaced"), std::string::npos) << why;
  EXPECT_TRUE(m.RunFinalizer(1, s1, &slot, &why)) << why;  // a cycle's
  EXPECT_FALSE(m.RunFinalizer(1, s1, &slot, &why));        // twice
  EXPECT_TRUE(m.RunFinalizer(2, s2, &slot, &why)) << why;  // now ready
  EXPECT_TRUE(m.EndRun(&why)) << why;
  // Without automatic cycles only explicit collections make things ready.
  Model n = Make(false, /*observing=*/true);
  Do(n, R"(
alloc id=1 kind=small3 bytes=48 slot=0
finreg id=1 mode=ordered
rootset slot=0 target=0)");
  n.BeginRun();
  EXPECT_FALSE(n.RunFinalizer(1, n.Get(1)->reg.serial, &slot, &why));
  EXPECT_NE(why.find("no collection"), std::string::npos) << why;
  Do(n, "collect");
  EXPECT_FALSE(n.EndRun(&why));  // queued, not run
  EXPECT_TRUE(n.RunFinalizer(1, n.ready_queue()[0].serial, &slot, &why));
  EXPECT_TRUE(n.EndRun(&why));
}

// A finalizer an automatic cycle ran resurrects its object: the short cells
// to it were cleared for sure, and those to what it alone reaches may have
// been (and stay undetermined though the object is reachable again).
TEST(ModelObservations, ResurrectionByAnAutomaticCycleLeavesShortRefsUnknown) {
  Model m = Make(true, /*observing=*/true);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
alloc id=2 kind=small3 bytes=48 parent=1 field=0
finreg id=1 mode=ordered resurrect=2
weakcreate wslot=0 target=1 mode=short
weakcreate wslot=1 target=2 mode=short
rootset slot=0 target=0)");
  std::string why;
  uint32_t slot;
  m.BeginRun();
  ASSERT_TRUE(m.RunFinalizer(1, m.Get(1)->reg.serial, &slot, &why)) << why;
  EXPECT_EQ(slot, 2u);
  EXPECT_TRUE(m.EndRun(&why));
  EXPECT_TRUE(m.Live(1));
  EXPECT_TRUE(m.Live(2));
  EXPECT_EQ(m.ExpectHandle(0).ref.id, 0u);
  EXPECT_FALSE(m.ExpectHandle(0).or_null);
  EXPECT_EQ(m.ExpectHandle(1).ref.id, 2u);
  EXPECT_TRUE(m.ExpectHandle(1).or_null);
  Do(m, "collect");  // 2 is in R: its cell stays unknown
  EXPECT_TRUE(m.ExpectHandle(1).or_null);
}

// Two objects one automatic cycle queued, their calls applied with program
// ops between them (the multi-threaded oracle: another thread's run applies
// a graph's calls between its ops): 1 (unordered, resurrected into slot 2)
// points to 2 (ordered: an unordered object does not hold it back). 1's
// call brings 2 back into M, and the program makes a short cell to it;
// then 2's call comes. The cycle cleared the short cells to 2 that existed
// then (handle 0), but not necessarily one made since (handle 1): its sweep
// may have reached 2's span before or after it was made. So handle 1 reads
// 2 or NULL from the start, and still after 2's call (the soak's threaded
// oracle read 2 there where the model said NULL). A long cell (handle 2)
// is not concerned.
TEST(ModelObservations, ShortCellMadeAfterAnAutomaticQueueingStaysUnknown) {
  Model m = Make(true, /*observing=*/true);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
alloc id=2 kind=small3 bytes=48 parent=1 field=0
finreg id=1 mode=unordered resurrect=2
finreg id=2 mode=ordered
weakcreate wslot=0 target=2 mode=short
rootset slot=0 target=0)");
  std::string why;
  uint32_t slot;
  ASSERT_TRUE(m.RunFinalizer(1, m.Get(1)->reg.serial, &slot, &why)) << why;
  EXPECT_EQ(slot, 2u);
  ASSERT_TRUE(m.Live(2));
  Do(m, R"(
weakcreate wslot=1 target=2 mode=short
weakcreate wslot=2 target=2 mode=long)");
  EXPECT_EQ(m.ExpectHandle(1).ref.id, 2u);
  EXPECT_TRUE(m.ExpectHandle(1).or_null);
  ASSERT_TRUE(m.RunFinalizer(2, m.Get(2)->reg.serial, &slot, &why)) << why;
  EXPECT_EQ(m.ExpectHandle(0).ref.id, 0u);
  EXPECT_FALSE(m.ExpectHandle(0).or_null);
  EXPECT_EQ(m.ExpectHandle(1).ref.id, 2u);
  EXPECT_TRUE(m.ExpectHandle(1).or_null);
  EXPECT_EQ(m.ExpectHandle(2).ref.id, 2u);
  EXPECT_FALSE(m.ExpectHandle(2).or_null);
  // 2 is registered no more: a cell made now is determined again.
  Do(m, "weakcreate wslot=3 target=2 mode=short");
  EXPECT_FALSE(m.ExpectHandle(3).or_null);
}

// The same interleaving, but the program registers 2 again (replacing its
// registration) before 2's queued call comes: the heap runs the queued
// call with the old registration, and the new one stays (the soak's
// threaded oracle: "the finalizer of object ... ran with registration
// 2117, replaced by 2158"). So does a removal (gc_unregister_finalizer).
TEST(ModelObservations,
     RegistrationReplacedAfterAnAutomaticQueueingMayStillRun) {
  for (const char* change : {"finreg id=2 mode=ordered", "finunreg id=2"}) {
    SCOPED_TRACE(change);
    Model m = Make(true, /*observing=*/true);
    Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
alloc id=2 kind=small3 bytes=48 parent=1 field=0
finreg id=1 mode=unordered resurrect=2
finreg id=2 mode=ordered
rootset slot=0 target=0)");
    std::string why;
    uint32_t slot;
    ASSERT_TRUE(m.RunFinalizer(1, m.Get(1)->reg.serial, &slot, &why)) << why;
    ASSERT_TRUE(m.Live(2));
    const uint32_t old_serial = m.Get(2)->reg.serial;
    Do(m, change);
    ASSERT_TRUE(m.RunFinalizer(2, old_serial, &slot, &why)) << why;
    const bool reregistered = change[3] == 'r';
    EXPECT_EQ(m.Get(2)->registered, reregistered);
    if (reregistered) EXPECT_NE(m.Get(2)->reg.serial, old_serial);
    // Once only: a second call with the old registration is refused.
    EXPECT_FALSE(m.RunFinalizer(2, old_serial, &slot, &why));
  }
}

TEST(ModelObservations, CleanupsAndPopsAreValidated) {
  Model m = Make(false, /*observing=*/true);
  Do(m, R"(
alloc id=1 kind=small3 bytes=48 slot=0
finreg id=1 mode=ordered
cleanupadd id=1 token=5
alloc id=2 kind=small3 bytes=48 slot=1
guardreg id=2 guardian=0 mode=ordered
rootset slot=0 target=0
rootset slot=1 target=0
collect)");
  std::string why;
  uint32_t stored;
  m.BeginRun();
  EXPECT_FALSE(m.RunCleanup(5, &why));  // its object is revived
  EXPECT_NE(why.find("lives"), std::string::npos) << why;
  EXPECT_FALSE(m.PopGuardian(0, 0, kNoSlot, &stored, &why));  // holds 2
  EXPECT_FALSE(m.PopGuardian(1, 2, kNoSlot, &stored, &why));  // not 1's
  EXPECT_TRUE(m.PopGuardian(0, 2, 4, &stored, &why)) << why;
  EXPECT_EQ(stored, 4u);
  EXPECT_TRUE(m.PopGuardian(0, 0, kNoSlot, &stored, &why)) << why;
}

TEST(ModelText, VmOpsRoundTrip) {
  const char* lines[] = {
      "weakcreate wslot=3 mode=long target=7",
      "weakget wslot=3 slot=2",
      "weakset wslot=1 target=0",
      "weakdestroy wslot=15",
      "weakstore id=4 target=9 field=2",
      "weakload id=4 field=0 slot=40",
      "ephnew id=10 key=3 val=0 parent=4 field=1",
      "ephnew id=11 key=0 val=5 value=0x7 slot=1",
      "ephget id=10 mode=value slot=3",
      "ephsetvalue id=10 target=4",
      "ephsetnext id=10 target=0",
      "ephclear id=10",
      "ephchain id=20 kslot=5 count=1000 flags=0x3",
      "finreg id=4 mode=ignoreself resurrect=6",
      "finunreg id=4",
      "finchain id=30 mode=unordered guardian=1 parent=2 field=0 count=5 "
      "flags=0x7",
      "guardreg id=4 mode=ordered guardian=1",
      "guardpop guardian=0 slot=9",
      "cleanupadd id=4 token=77",
      "cleanupcancel token=77",
      "runfinalizers",
  };
  for (const char* line : lines) {
    Op op;
    std::string err;
    ASSERT_TRUE(ParseOp(line, &op, &err)) << line << ": " << err;
    EXPECT_TRUE(IsVmOp(op));
    Op back;
    ASSERT_TRUE(ParseOp(FormatOp(op), &back, &err)) << FormatOp(op);
    EXPECT_TRUE(back == op) << line << " -> " << FormatOp(op);
  }
  Program p;
  p.config.finalizer_thread = 1;
  std::string err;
  Program q;
  ASSERT_TRUE(ParseProgram(FormatProgram(p), &q, &err)) << err;
  EXPECT_EQ(q.config.finalizer_thread, 1);
}

// ---- random VM programs ----------------------------------------------------

// The same semantics, written as plainly as possible (fixpoints by
// repeated sweeps over every object): R, the candidates, pass 1, ready, F
// and M, from the model's public state.
struct Naive {
  std::vector<char> r, f, mset;
  std::vector<uint32_t> ready;
};

Naive NaiveDecide(const Model& m) {
  const uint32_t n = m.next_id();
  auto alive = [&](uint32_t id) {
    return id != 0 && id < n && m.Get(id) != nullptr && !m.Get(id)->freed;
  };
  // Adds to s what its members point to, until nothing changes; an
  // ephemeron's value counts when key_ok(key).
  auto close = [&](std::vector<char>& s, auto key_ok) {
    for (bool changed = true; changed;) {
      changed = false;
      for (uint32_t id = 1; id < n; id++) {
        if (!s[id] || !alive(id)) continue;
        const ObjModel& o = *m.Get(id);
        auto add = [&](uint32_t t) {
          if (t != 0 && !s[t]) s[t] = 1, changed = true;
        };
        for (const Ref& r : o.fields) add(r.id);
        if (o.kind == Kind::kEphemeron &&
            (!o.eph_key.IsPtr() || key_ok(o.eph_key.id))) {
          add(o.eph_value);
        }
      }
    }
  };
  Naive d;
  d.r.assign(n, 0);
  for (uint32_t s = 0; s < kSlots; s++) {
    if (m.Covered(s) && m.slot(s).IsPtr()) d.r[m.slot(s).id] = 1;
  }
  for (const Model::Pending& p : m.ready_queue()) d.r[p.id] = 1;
  for (uint32_t g = 0; g < kGuardians; g++) {
    for (uint32_t id : m.guardian_queue(g)) d.r[id] = 1;
  }
  close(d.r, [&](uint32_t k) { return d.r[k] != 0; });
  std::vector<uint32_t> cand;
  for (uint32_t id = 1; id < n; id++) {
    if (alive(id) && m.Get(id)->registered && !d.r[id]) cand.push_back(id);
  }
  std::vector<char> p = d.r;
  for (bool changed = true; changed;) {
    changed = false;
    for (uint32_t c : cand) {
      const ObjModel& o = *m.Get(c);
      if (o.reg.mode == kFinUnordered) continue;
      // (An ephemeron's pointers to itself count for ignore-self too.)
      const bool skip =
          o.reg.mode == kFinIgnoreSelf && o.kind != Kind::kEphemeron;
      auto add = [&](uint32_t t) {
        if (t != 0 && !(skip && t == c) && !p[t]) p[t] = 1, changed = true;
      };
      for (const Ref& r : o.fields) add(r.id);
      if (o.kind == Kind::kEphemeron &&
          (!o.eph_key.IsPtr() || p[o.eph_key.id])) {
        add(o.eph_value);
      }
    }
    const std::vector<char> before = p;
    close(p, [&](uint32_t k) { return p[k] != 0; });
    changed |= before != p;
  }
  for (uint32_t c : cand) {
    if (!p[c]) d.ready.push_back(c);  // Boehm's rule, whatever the mode
  }
  d.f = p;
  for (uint32_t c : d.ready) d.f[c] = 1;
  close(d.f, [&](uint32_t k) { return d.f[k] != 0; });
  d.mset.assign(n, 0);
  for (uint32_t s = 0; s < kSlots; s++) {
    if (m.Covered(s) && m.slot(s).IsPtr()) d.mset[m.slot(s).id] = 1;
  }
  const bool self = m.finalizer_thread() && m.auto_cycles();
  close(d.mset,
        [&](uint32_t k) { return self ? d.mset[k] != 0 : d.r[k] != 0; });
  return d;
}

// The model's decision against the naive one, object by object.
void CompareWithNaive(Model& m, const std::string& where) {
  const Naive nv = NaiveDecide(m);
  const Decision d = m.Decide();
  ASSERT_EQ(d.ready, nv.ready) << where;
  std::vector<char> f(m.next_id(), 0), mm(m.next_id(), 0);
  for (uint32_t id : d.live) f[id] = 1;
  for (uint32_t id : m.reachable()) mm[id] = 1;
  for (uint32_t id = 1; id < m.next_id(); id++) {
    if (m.Get(id) == nullptr || m.Get(id)->freed) continue;
    ASSERT_EQ(f[id], nv.f[id]) << where << ": F, object " << id;
    ASSERT_EQ(mm[id], nv.mset[id]) << where << ": M, object " << id;
    ASSERT_EQ(m.InR(id), nv.r[id] != 0) << where << ": R, object " << id;
  }
}

// What must hold after every op, and after a collection.
void CheckInvariants(Model& m, bool collected, const std::string& where) {
  auto freed = [&](uint32_t id) { return id != 0 && m.Get(id)->freed; };
  for (uint32_t id : m.reachable()) {
    const ObjModel* o = m.Get(id);
    ASSERT_TRUE(o != nullptr && !o->freed) << where << ": M has " << id;
    for (const Ref& r : o->fields) {
      ASSERT_FALSE(freed(r.id)) << where << ": " << id << " -> freed";
    }
    if (o->kind == Kind::kEphemeron) {
      ASSERT_FALSE(freed(o->eph_value)) << where << ": entry of " << id;
    }
  }
  if (!collected) return;
  for (uint32_t id : m.live()) {
    ASSERT_FALSE(m.Get(id)->freed) << where << ": live " << id << " freed";
    const ObjModel& o = *m.Get(id);
    for (const Ref& r : o.fields) ASSERT_FALSE(freed(r.id)) << where;
    for (const WeakCell& c : o.weak) {
      ASSERT_FALSE(freed(c.target)) << where << ": weak slot of " << id;
    }
    if (o.kind == Kind::kEphemeron) {
      ASSERT_FALSE(freed(o.eph_key.id)) << where << ": key of " << id;
      ASSERT_FALSE(freed(o.eph_value)) << where << ": value of " << id;
    }
    if (o.registered) {
      ASSERT_FALSE(o.freed) << where;
    }
  }
  std::set<uint32_t> live(m.live().begin(), m.live().end());
  for (const Model::Pending& p : m.ready_queue()) {
    ASSERT_TRUE(live.count(p.id)) << where << ": queued " << p.id;
  }
  for (uint32_t g = 0; g < kGuardians; g++) {
    for (uint32_t id : m.guardian_queue(g)) {
      ASSERT_TRUE(live.count(id)) << where << ": guarded " << id;
    }
  }
  for (uint32_t w = 0; w < kWeakCells; w++) {
    if (m.HasHandle(w)) {
      ASSERT_FALSE(freed(m.handle(w).target)) << where;
    }
  }
  for (const auto& [token, c] : m.cleanups()) {
    if (c.state == Model::Cleanup::kRegistered) {
      ASSERT_FALSE(m.Get(c.id)->freed) << where << ": cleanup " << token;
    } else if (c.state == Model::Cleanup::kQueued) {
      ASSERT_TRUE(m.Get(c.id)->freed) << where << ": cleanup " << token;
    }
  }
}

// A heap that answers differently from the canonical run but within what
// the design allows: queued finalizers and cleanups run last first, pops
// take the back of the queue.
void SimulateHeap(Model& m, const Op& op) {
  std::string why;
  if (op.op == OpKind::kRunFinalizers) {
    m.BeginRun();
    const std::vector<Model::Pending> q = m.ready_queue();
    for (auto it = q.rbegin(); it != q.rend(); ++it) {
      uint32_t slot;
      ASSERT_TRUE(m.RunFinalizer(it->id, it->serial, &slot, &why)) << why;
    }
    const std::vector<uint64_t> cq = m.cleanup_queue();
    for (auto it = cq.rbegin(); it != cq.rend(); ++it) {
      ASSERT_TRUE(m.RunCleanup(*it, &why)) << why;
    }
    ASSERT_TRUE(m.EndRun(&why)) << why;
  } else if (op.op == OpKind::kGuardPop) {
    const auto& q = m.guardian_queue(op.guardian);
    const uint32_t popped = q.empty() ? 0 : q.back();
    uint32_t stored;
    ASSERT_TRUE(m.PopGuardian(op.guardian, popped, op.slot, &stored, &why))
        << why;
  }
}

struct Coverage {
  uint64_t ops_of[static_cast<int>(OpKind::kNumOpKinds)] = {};
  VmCounts counts;
  uint64_t collections = 0, reads_undetermined = 0;
  void Add(const Model& m) {
    counts.Add(m.vm_counts());
    collections += m.collections();
  }
};

// Replays p on a fresh model (observing: the simulated heap answers),
// comparing every collection with the naive reference.
void Replay(const Program& p, bool observing, bool expect_all_valid,
            Coverage* cov) {
  Model m;
  m.Configure(p.config);
  m.set_observing(observing);
  Effects fx;
  for (const Op& op : Model::Prologue()) m.Apply(op, &fx);
  for (size_t i = 0; i < p.ops.size(); i++) {
    const Op& op = p.ops[i];
    const std::string where = "seed " + std::to_string(p.seed) + " op " +
                              std::to_string(i) + " (" + FormatOp(op) + ")";
    if (op.op == OpKind::kCollect) {
      CompareWithNaive(m, where);
      if (::testing::Test::HasFatalFailure()) return;
    }
    const bool ok = m.Apply(op, &fx);
    if (expect_all_valid) {
      ASSERT_TRUE(ok) << where << ": skipped";
    }
    if (ok && observing) SimulateHeap(m, op);
    if (ok && fx.expect.or_null && fx.expect.ref.IsPtr() && cov != nullptr) {
      cov->reads_undetermined++;
    }
    CheckInvariants(m, ok && op.op == OpKind::kCollect, where);
    if (::testing::Test::HasFatalFailure()) return;
    if (cov != nullptr && ok) cov->ops_of[static_cast<int>(op.op)]++;
  }
  if (cov != nullptr) cov->Add(m);
}

GenOptions VmGenOptions() {
  GenOptions g;
  g.vm_ops = true;
  g.max_chain = 60;  // the naive reference is quadratic
  return g;
}

// Generated VM programs in every mode (stop-the-world or concurrent,
// verify, automatic cycles or not, on-demand or thread finalizers): every
// op is valid when replayed, every collection's decision matches the naive
// reference, the invariants hold, and the shapes reach the hard cases.
TEST(ModelRandom, GeneratedVmProgramsMatchTheNaiveReference) {
  Coverage cov;
  int stw = 0, concurrent = 0, thread = 0, automatic = 0;
  for (uint64_t seed = 1; seed <= 300; seed++) {
    GenOptions g = VmGenOptions();
    g.ops = seed % 10 == 0 ? 1500 : 300;
    Program p = GenerateProgram(seed, g);
    (p.config.stw ? stw : concurrent)++;
    thread += p.config.finalizer_thread;
    automatic += HasAutomaticCycles(p.config);
    Replay(p, /*observing=*/false, /*expect_all_valid=*/true, &cov);
    if (HasFatalFailure()) return;
    // The same with a heap that answers in other orders: may skip ops the
    // generator's model saw differently, never breaks a check.
    Replay(p, /*observing=*/true, /*expect_all_valid=*/false, nullptr);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(stw, 0);
  EXPECT_GT(concurrent, 0);
  EXPECT_GT(thread, 0);
  EXPECT_GT(automatic, 0);
  for (int k = static_cast<int>(OpKind::kWeakCreate);
       k < static_cast<int>(OpKind::kNumOpKinds); k++) {
    EXPECT_GT(cov.ops_of[k], 0u) << OpName(static_cast<OpKind>(k));
  }
  EXPECT_GT(cov.counts.finalized, 100u);
  EXPECT_GT(cov.counts.guardian_pops, 10u);
  EXPECT_GT(cov.counts.cleanups_run, 10u);
  EXPECT_GT(cov.counts.short_cleared, 10u);
  EXPECT_GT(cov.counts.long_cleared, 10u);
  EXPECT_GT(cov.counts.ephemerons_cleared, 10u);
  EXPECT_GT(cov.counts.revived, 100u);
  EXPECT_GT(cov.reads_undetermined, 10u);
  printf(
      "[model] 300 VM programs: %llu collections, %llu finalized, %llu "
      "popped, %llu cleanups, %llu+%llu weak cells and %llu ephemerons "
      "cleared, %llu revived, %llu undetermined reads\n",
      (unsigned long long)cov.collections,
      (unsigned long long)cov.counts.finalized,
      (unsigned long long)cov.counts.guardian_pops,
      (unsigned long long)cov.counts.cleanups_run,
      (unsigned long long)cov.counts.short_cleared,
      (unsigned long long)cov.counts.long_cleared,
      (unsigned long long)cov.counts.ephemerons_cleared,
      (unsigned long long)cov.counts.revived,
      (unsigned long long)cov.reads_undetermined);
}

// What the minimizer does (delete ops) keeps every list a valid program:
// ops that lost their objects are skipped, the checks still hold.
TEST(ModelRandom, DeletingOpsLeavesValidPrograms) {
  RngSource rng(99);
  for (uint64_t seed = 1000; seed < 1060; seed++) {
    Program p = GenerateProgram(seed, VmGenOptions());
    for (int round = 0; round < 4; round++) {
      Program q = p;
      const size_t start = rng.Below(q.ops.size());
      const size_t len = 1 + rng.Below(q.ops.size() / 3 + 1);
      q.ops.erase(q.ops.begin() + start,
                  q.ops.begin() + std::min(q.ops.size(), start + len));
      Replay(q, rng.OneIn(2), /*expect_all_valid=*/false, nullptr);
      if (HasFatalFailure()) return;
    }
  }
}

// The fuzzer's decoding: bytes become VM ops of every kind (with vm_ops),
// and those programs replay like seeded ones.
TEST(ModelRandom, ByteDecoderEmitsEveryVmOp) {
  Coverage cov;
  RngSource rng(5);
  for (int i = 0; i < 200; i++) {
    std::string bytes(64 + rng.Below(3000), '\0');
    for (char& c : bytes) c = static_cast<char>(rng.Below(256));
    GenOptions g = FuzzGenOptions();
    g.vm_ops = true;
    g.max_chain = 60;
    Program p = ProgramFromBytes(reinterpret_cast<const uint8_t*>(bytes.data()),
                                 bytes.size(), g);
    Replay(p, /*observing=*/false, /*expect_all_valid=*/true, &cov);
    if (HasFatalFailure()) return;
  }
  for (int k = static_cast<int>(OpKind::kWeakCreate);
       k < static_cast<int>(OpKind::kNumOpKinds); k++) {
    EXPECT_GT(cov.ops_of[k], 0u) << OpName(static_cast<OpKind>(k));
  }
  // The default decoding has none until the executor runs them.
  EXPECT_EQ(FuzzGenOptions().vm_ops, kVmOpsExecutable);
}

// Text form of whole VM programs round-trips (what a failure report prints
// replays as the same program).
TEST(ModelRandom, VmProgramsRoundTripThroughText) {
  for (uint64_t seed = 1; seed <= 40; seed++) {
    Program p = GenerateProgram(seed, VmGenOptions());
    Program q;
    std::string err;
    ASSERT_TRUE(ParseProgram(FormatProgram(p), &q, &err)) << err;
    ASSERT_EQ(q.ops.size(), p.ops.size());
    for (size_t i = 0; i < p.ops.size(); i++) {
      ASSERT_TRUE(q.ops[i] == p.ops[i]) << FormatOp(p.ops[i]);
    }
    EXPECT_EQ(q.config.finalizer_thread, p.config.finalizer_thread);
  }
}

}  // namespace
}  // namespace gcheap::oracle
