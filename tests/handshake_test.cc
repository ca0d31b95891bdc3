// Tests of the stop-the-world handshake (runtime/handshake.{h,cc}) on its
// own, without a heap: mutators are bare gc_mutator records driven the way
// runtime/ drives them (safepoint polls, nested blocking brackets, attach
// and detach under the list lock), stoppers call StopTheWorld and
// StartTheWorld as the collector does.
//
// The stress test runs many more threads than the machine's two cores for
// a fixed time, each doing a random mix of operations, and checks the
// handshake's promise across the interleavings this produces: no mutator
// runs "heap code" while the world is stopped. Every mutator increments
// its own touching counter around its heap work and, inside it, checks
// that no stop is in force; every stopper, once StopTheWorld returns,
// marks the world stopped and checks (several times, yielding in between)
// that every attached mutator's counter is zero, blocked and parked ones
// included, so a blocked thread that touched the heap is caught too. The
// two sides store, then load (seq_cst), so a violation is seen by at least
// one of them. handshake_full_fence_test runs the same tests with the
// handshake's symmetric fallback fence (GCHEAP_NO_MEMBARRIER). The test also
// counts what happened, so that it cannot pass without having parked, nested,
// attached and stopped many times.
#include "runtime/handshake.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace gcheap {
namespace {

struct Shared {
  Handshake hs;
  std::atomic<bool> world_stopped{false};  // set by a stopper in a pause
  std::atomic<bool> done{false};
  std::atomic<int> violations{0};
  // What happened, so the test cannot pass vacuously.
  std::atomic<uint64_t> stops{0}, parks{0}, nested{0}, attaches{0},
      heap_work{0}, ragged{0};
};

// One mutator thread's attachment: the record plus its touching counter.
struct Mutator {
  gc_mutator m;
  std::atomic<int> touching{0};
};

// The attached mutators' counters, for the stoppers to check. Guarded by
// the handshake's list lock (added and removed with it held), read by a
// stopper while it holds the world stopped.
std::vector<Mutator*>* attached_counters = nullptr;

void HeapWork(Shared* s, Mutator* mu) {
  mu->touching.fetch_add(1, std::memory_order_seq_cst);
  if (s->world_stopped.load(std::memory_order_seq_cst)) s->violations++;
  if (mu->m.state.load(std::memory_order_relaxed) != kRunning ||
      mu->m.blocking_depth != 0) {
    s->violations++;  // the handshake let a blocked thread run heap code
  }
  for (int i = 0; i < 20; i++)
    std::atomic_signal_fence(std::memory_order_seq_cst);
  if (s->world_stopped.load(std::memory_order_seq_cst)) s->violations++;
  mu->touching.fetch_sub(1, std::memory_order_seq_cst);
  s->heap_work.fetch_add(1, std::memory_order_relaxed);
}

void Poll(Shared* s, Mutator* mu) {
  const uint32_t poll = mu->m.poll.load(std::memory_order_relaxed);
  if (poll & kPollStop) {
    s->hs.Park(&mu->m);
    s->parks.fetch_add(1, std::memory_order_relaxed);
  }
  if (poll & kPollFlush) {
    // The ragged handshake's acknowledgement (the runtime shades its
    // barrier buffer here).
    mu->m.poll.fetch_and(~kPollFlush, std::memory_order_release);
  }
}

// Mutator records are recycled, never freed while the handshake lives, as
// the runtime does (RaggedHandshake reads poll words after it released the
// list lock). The pool is guarded by the list lock.
struct Pool {
  std::vector<std::unique_ptr<Mutator>> all;
  std::vector<Mutator*> free;
};
Pool* pool = nullptr;

Mutator* Attach(Shared* s) {
  auto list = s->hs.LockList();  // waits out a stopped world
  Mutator* mu;
  if (!pool->free.empty()) {
    mu = pool->free.back();
    pool->free.pop_back();
  } else {
    pool->all.push_back(std::make_unique<Mutator>());
    mu = pool->all.back().get();
  }
  mu->m.poll.store(0, std::memory_order_relaxed);
  mu->m.state.store(kRunning, std::memory_order_relaxed);
  mu->m.blocking_depth = 0;
  mu->m.owner = pthread_self();
  s->hs.Add(&mu->m, list);
  attached_counters->push_back(mu);
  s->attaches.fetch_add(1, std::memory_order_relaxed);
  return mu;
}

void Detach(Shared* s, Mutator* mu) {
  // As gc_heap::Detach: count as stopped while waiting for the list lock.
  s->hs.EnterBlocking(&mu->m);
  auto list = s->hs.LockList();
  s->hs.Remove(&mu->m, list);
  auto& v = *attached_counters;
  v.erase(std::find(v.begin(), v.end(), mu));
  pool->free.push_back(mu);
}

// The stopper's side: holds the world stopped for a moment and checks that
// no attached mutator is in heap code meanwhile.
void StopAndCheck(Shared* s, gc_mutator* self, std::mt19937* rng) {
  s->hs.StopTheWorld(self);
  s->world_stopped.store(true, std::memory_order_seq_cst);
  const int looks = 1 + (*rng)() % 4;
  for (int look = 0; look < looks; look++) {
    for (Mutator* mu : *attached_counters) {
      if (mu->touching.load(std::memory_order_seq_cst) != 0) s->violations++;
    }
    std::this_thread::yield();
  }
  s->world_stopped.store(false, std::memory_order_seq_cst);
  s->hs.StartTheWorld();
  s->stops.fetch_add(1, std::memory_order_relaxed);
}

// Nested blocking brackets, depth 1..3; inside, the thread does no heap
// work (it may yield, or open and close more brackets).
void Bracket(Shared* s, Mutator* mu, std::mt19937* rng, int depth) {
  s->hs.EnterBlocking(&mu->m);
  if (depth > 1) s->nested.fetch_add(1, std::memory_order_relaxed);
  if ((*rng)() % 2) std::this_thread::yield();
  if (depth < 3 && (*rng)() % 2) Bracket(s, mu, rng, depth + 1);
  if ((*rng)() % 4 == 0) std::this_thread::yield();
  if (s->hs.LeaveBlocking(&mu->m)) s->hs.Park(&mu->m);
}

void MutatorThread(Shared* s, int seed) {
  std::mt19937 rng(seed);
  Mutator* mu = Attach(s);
  while (!s->done.load(std::memory_order_relaxed)) {
    const int op = rng() % 100;
    if (op < 55) {
      HeapWork(s, mu);
      Poll(s, mu);
    } else if (op < 75) {
      Poll(s, mu);
    } else if (op < 92) {
      Bracket(s, mu, &rng, 1);
    } else if (op < 97) {
      Detach(s, mu);
      if (rng() % 2) std::this_thread::yield();
      mu = Attach(s);
    } else {
      // A mutator that stops the world itself (a stop-the-world cycle on
      // the collecting thread): it counts as blocked while it does.
      s->hs.EnterBlocking(&mu->m);
      StopAndCheck(s, &mu->m, &rng);
      if (s->hs.LeaveBlocking(&mu->m)) s->hs.Park(&mu->m);
    }
  }
  Detach(s, mu);
}

TEST(HandshakeTest, NoMutatorRunsHeapCodeWhileTheWorldIsStopped) {
  Shared s;
  std::vector<Mutator*> counters;
  attached_counters = &counters;
  Pool mutators;
  pool = &mutators;
  constexpr int kMutators = 12;  // on two cores
  constexpr int kStoppers = 3;   // like drivers: not mutators
  std::vector<std::thread> threads;
  for (int i = 0; i < kMutators; i++) {
    threads.emplace_back(MutatorThread, &s, 1000 + i);
  }
  for (int i = 0; i < kStoppers; i++) {
    threads.emplace_back([&s, i] {
      std::mt19937 rng(i);
      while (!s.done.load(std::memory_order_relaxed)) {
        if (rng() % 8 == 0) {
          s.hs.RaggedHandshake(kPollFlush);
          s.ragged.fetch_add(1, std::memory_order_relaxed);
        } else {
          StopAndCheck(&s, nullptr, &rng);
        }
        if (s.hs.RunningMutators() > kMutators) s.violations++;
        if (rng() % 2) std::this_thread::yield();
      }
    });
  }
  // Two seconds, and then (on a loaded machine, under a sanitizer) until
  // every interleaving counted below happened often enough, for at most a
  // minute: the checks below then still fail if one never happens.
  auto enough = [&s] {
    return s.stops.load() >= 100 && s.parks.load() >= 100 &&
           s.nested.load() >= 100 && s.attaches.load() >= 100 &&
           s.heap_work.load() >= 1000 && s.ragged.load() >= 10;
  };
  std::this_thread::sleep_for(std::chrono::seconds(2));
  for (int i = 0; i < 580 && !enough(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  s.done.store(true);
  for (auto& t : threads) t.join();
  attached_counters = nullptr;
  pool = nullptr;
  EXPECT_EQ(s.violations.load(), 0);
  EXPECT_EQ(s.hs.attached(), 0u);
  EXPECT_FALSE(s.hs.StopRequested());
  // The interleavings really happened (counts far below what two seconds
  // give even under a sanitizer on an idle machine).
  EXPECT_GE(s.stops.load(), 100u);
  EXPECT_GE(s.parks.load(), 100u);
  EXPECT_GE(s.nested.load(), 100u);
  EXPECT_GE(s.attaches.load(), 100u);
  EXPECT_GE(s.heap_work.load(), 1000u);
  EXPECT_GE(s.ragged.load(), 10u);
  printf(
      "%llu stops, %llu parks, %llu nested brackets, %llu attaches, "
      "%llu heap-work steps, %llu ragged handshakes\n",
      static_cast<unsigned long long>(s.stops.load()),
      static_cast<unsigned long long>(s.parks.load()),
      static_cast<unsigned long long>(s.nested.load()),
      static_cast<unsigned long long>(s.attaches.load()),
      static_cast<unsigned long long>(s.heap_work.load()),
      static_cast<unsigned long long>(s.ragged.load()));
}

// A blocked mutator counts as stopped at once; leaving its bracket while
// the world is stopped parks it until the restart, and an inner bracket's
// end does not (directed, one interleaving at a time).
TEST(HandshakeTest, LeavingABracketDuringAStopWaitsForTheRestart) {
  Handshake hs;
  gc_mutator m;
  {
    auto list = hs.LockList();
    hs.Add(&m, list);
  }
  std::atomic<int> phase{0};
  std::atomic<bool> left{false};
  std::atomic<bool> inner_said_park{true};
  std::thread t([&] {
    hs.EnterBlocking(&m);
    hs.EnterBlocking(&m);
    phase.store(1);
    while (phase.load() != 2) std::this_thread::yield();
    inner_said_park.store(hs.LeaveBlocking(&m));  // still blocked
    phase.store(3);
    // The outer leave finds the stop requested and parks until the restart.
    if (hs.LeaveBlocking(&m)) hs.Park(&m);
    left.store(true);
  });
  while (phase.load() != 1) std::this_thread::yield();
  hs.StopTheWorld(nullptr);  // returns: the mutator is blocked
  phase.store(2);
  while (phase.load() != 3) std::this_thread::yield();
  // The outer leave parks (a broken handshake would let it run on and set
  // `left` instead).
  while (m.state.load() != kParked && !left.load()) std::this_thread::yield();
  EXPECT_EQ(m.state.load(), kParked);
  EXPECT_FALSE(left.load());
  hs.StartTheWorld();
  t.join();
  EXPECT_TRUE(left.load());
  EXPECT_FALSE(inner_said_park.load());
  EXPECT_EQ(m.state.load(), kRunning);
  EXPECT_EQ(m.blocking_depth, 0);
  auto list = hs.LockList();
  hs.Remove(&m, list);
}

// The handshake orders its Dekker pattern with membarrier exactly when the
// kernel offers private expedited membarrier and GCHEAP_NO_MEMBARRIER is
// not set; otherwise both sides fence (handshake.h).
TEST(HandshakeTest, TheFenceIsAsymmetricExactlyWhereMembarrierIsOffered) {
  Handshake hs;
  const long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  const bool offered =
      cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0;
  const bool disabled = getenv("GCHEAP_NO_MEMBARRIER") != nullptr;
  EXPECT_EQ(Handshake::AsymmetricFence(), offered && !disabled);
  printf("membarrier offered: %d, GCHEAP_NO_MEMBARRIER: %d\n", offered,
         disabled);
}

}  // namespace
}  // namespace gcheap
