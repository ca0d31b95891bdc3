// boehm_rewire.h: a Boehm-API workload that rewires linked structures with
// plain stores while collections run, and checks after each GC_gcollect
// that nothing reachable was freed. The mostly-concurrent marking test
// (tests/boehm_mostly_concurrent_test) and the soak driver
// (tools/boehm_rewire_soak) run it; it is written against Boehm's gc.h and
// runs on any libgc (it links the layer statically where they use it).
//
// Each worker thread (GC_pthread_create) owns a table of kChains chain
// heads (a GC_malloc'd array reachable from a data-segment root), each
// chain kDepth nodes linked through `child`. A round performs rewiring
// operations whose pointers, between two stores, live only in heap objects
// or in registers: swap the tails of two chains at random depths; swap two
// table entries; replace a node by a fresh copy (allocated during a mark:
// black) that takes over its child (possibly still white); move a tail
// into a long-lived "stash" object and back later in the round; and
// allocates garbage, so cycles start on their own while other workers
// mutate. Every node carries magic = kMagic ^ its address, its owner, its
// id and check = Hash(owner, id): the check after GC_gcollect walks every
// chain and requires each of the worker's ids exactly once, each node
// intact. A node freed while reachable is zeroed by the sweep (or reused)
// and fails the check.
#ifndef GCHEAP_TOOLS_BOEHM_REWIRE_H_
#define GCHEAP_TOOLS_BOEHM_REWIRE_H_

#include <atomic>
#include <cstdint>
#include <string>

namespace boehm_rewire {

struct Options {
  int threads = 6;
  int chains = 1024;  // per thread
  int depth = 16;     // nodes per chain
  int ops_per_round = 4000;
  double seconds = 0;      // run until this many seconds passed (0: rounds)
  int rounds = 20;         // per thread, when seconds == 0
  int garbage_per_op = 1;  // garbage objects allocated per operation
};

struct Result {
  std::atomic<uint64_t> rounds{0};
  std::atomic<uint64_t> collections{0};  // GC_gcollect calls by workers
  std::atomic<uint64_t> failures{0};     // checks that found damage
  std::string first_failure;             // the first one, described
};

// Runs the workload; returns when every worker finished.
void Run(const Options& o, Result* r);

}  // namespace boehm_rewire

#endif  // GCHEAP_TOOLS_BOEHM_REWIRE_H_
