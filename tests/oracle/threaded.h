// threaded.h: the multi-threaded oracle.
//
// Several mutator threads (more than the machine's cores) share one heap.
// Each owns a private graph (its own handle table, registered through all
// three kinds of roots, and its own shadow model, driven by the generator)
// and they all work on a shared graph (a handle table registered as one
// range, and a model, under a mutex taken inside gc_enter_blocking /
// gc_leave_blocking). Threads collect at random points, detach and
// re-attach, and sit in blocking regions; automatic cycles come from any
// thread's allocation.
//
// What is checked, and when (a collection is stop-the-world, but other
// threads run again once gc_collect returns):
//   - after each of its collections, a thread checks every object of its
//     private graph, and (sometimes) the shared graph under the mutex;
//   - every `quiesce_every` ops all threads meet at a barrier, parked in
//     blocking regions, and the last to arrive collects and checks the exact
//     global counts (live objects, bytes in use, per-class counts against
//     the union of every model) and every graph;
//   - at the end, the main thread does the same, runs each private graph's
//     finalization down (Executor::FinalChecks), drops every root and
//     expects an empty heap (but for finalizer cycles its models keep).
//
// Finalization (private graphs only; the shared graph has none). The
// heap's finalizer queue holds every graph's entries, and any thread's
// gc_run_finalizers runs any of them; other threads' cycles queue a
// graph's objects at any time. So:
//   - Routing: each registration's callback data names its executor
//     (Executor::FinalizerTag, CleanupTag). Each private graph has a lock
//     that its thread holds whenever it uses the executor, letting go only
//     around its own gc_run_finalizers, while it waits at a barrier, and
//     now and then between two ops; a callback, on whatever thread, takes
//     that lock (waiting in a blocking region) and checks and applies the
//     call against the graph's model at once. The model thus sees every
//     call between two of its graph's ops, as in a single-threaded program
//     whose automatic cycles and runs come between ops. Resurrection works
//     (the callback stores into the graph's table under its lock).
//     ThreadedResult::foreign_calls counts the calls applied on a thread
//     other than the graph's own.
//   - Never early, and the order: a call is valid only if the graph's model
//     found the object ready at some state since its registration (not
//     strongly reachable, no other finalizable object reaching it: Boehm's
//     order), whoever's cycle queued it and whoever runs it; an explicitly
//     queued entry must carry the registration queued. Another thread's
//     cycle may thus finalize an object earlier than this graph's own
//     collection would, but never while it is reachable or out of order.
//   - Never missed: every gc_run_finalizers of the run goes through one
//     lock (RunShared), so a graph's own run runs every entry queued before
//     it (no other thread holds one half-run). After each of its explicit
//     collections a thread runs (its own run) and pops its guardians: every
//     finalizer and cleanup that collection queued must have run, every
//     guardian entry must be there (Executor::RunQueued, PopAll).
//   - What the collection queued: entries another thread's cycle queued
//     and nobody ran yet are roots the graph's model cannot see (the
//     single-threaded oracle runs them before an explicit collection, which
//     no cycle can then precede; here one can). The thread's collection
//     applies Model::CollectMaybeHidden: any registered object that some
//     state since its registration found ready may be such a root; a ready
//     object that those roots (other than itself) may reach is left open
//     (it may run later, as after an automatic cycle), and a short weak
//     cell they may reach reads "target or NULL". F (what is kept and
//     freed), long cells, ephemerons and cleanups do not depend on them.
//     The rest is queued for certain and must run in the thread's run.
//   - At a barrier nobody allocates: the checker runs every queued entry
//     and pops every graph's guardians (each checked as above), then
//     collects again; that collection starts with no unseen entry and is
//     exact for every graph, finalization included.
// The interleaving is not reproducible; the seed fixes each thread's ops.
#ifndef GCHEAP_TESTS_ORACLE_THREADED_H_
#define GCHEAP_TESTS_ORACLE_THREADED_H_

#include <cstdint>
#include <string>

#include "tests/oracle/executor.h"
#include "tests/oracle/generator.h"

namespace gcheap::oracle {

struct ThreadedOptions {
  uint64_t seed = 1;
  int threads = 4;  // mutator threads, 2..16
  int ops_per_thread = 2000;
  int quiesce_every = 500;    // ops between global barriers (0: never)
  int shared_per_mille = 60;  // ops that work on the shared graph
  int collect_per_mille = 6;  // explicit collections
  int detach_per_mille = 3;   // detach + re-attach
  int block_per_mille = 5;    // a blocking region with a short sleep
  int helper_per_mille = 1;   // a short-lived thread that attaches, adds to
                              // the shared graph and exits (half the time
                              // without detaching: the heap detaches it)
  int verify = 1;             // gc_config.verify
  int workers = 0;            // gc_config.gc_workers (0: one per CPU)
  int gc_percent = 100;
  uint64_t memory_limit = 0;  // 1: an automatic cycle every MiB or so
  int stw = 1;                // 0: concurrent marking
  uint32_t max_chain = 400;
  bool large = true;
  Fault fault = Fault::kNone;  // injected into thread 0's graph (self-tests)
  // Nonzero: threads stop at this steady_clock time (nanoseconds since its
  // epoch) even if ops remain (the soak test's duration).
  int64_t stop_at_ns = 0;
};

struct ThreadedResult {
  bool ok = true;
  std::string report;        // the first failure, with seed and thread
  uint64_t ops = 0;          // ops executed, all threads
  uint64_t collections = 0;  // explicit collections, checked
  uint64_t quiescent_checks = 0;
  uint64_t cycles = 0;  // every cycle of the heap
  uint64_t objects_checked = 0;
  uint64_t allocated = 0;
  uint64_t detaches = 0;
  uint64_t helpers = 0;   // short-lived threads (exited attached: half)
  uint64_t max_live = 0;  // largest live count at a quiescent point
  uint64_t max_pause_ns = 0;
  uint64_t weak_ops = 0;       // weak handle / slot ops, all graphs
  uint64_t eph_ops = 0;        // ephemeron ops
  uint64_t weak_reads = 0;     // weak and ephemeron reads checked
  uint64_t reads_marking = 0;  // of them, while a cycle marked
  uint64_t holds_checked = 0;  // of them, checked allocated after the cycle
  // Finalization (private graphs): finalizer / guardian / cleanup /
  // run ops, and what the models saw happen.
  uint64_t fin_ops = 0;
  uint64_t finalized = 0;      // finalizer calls checked, whoever ran them
  uint64_t guardian_pops = 0;  // objects popped, checked
  uint64_t cleanups_run = 0;
  uint64_t foreign_calls = 0;  // of those calls, run by another thread
  // Explicit collections of a private graph followed by its own run, where
  // every finalizer, cleanup and guardian entry the collection queued was
  // checked to have run (or be there to pop).
  uint64_t fin_collections = 0;
  // Ready objects those collections left open (an entry queued by another
  // thread's cycle may have kept them back; Model::CollectMaybeHidden).
  uint64_t open_decisions = 0;
  uint64_t determined = 0;     // ready objects they queued for certain
  bool stopped_early = false;  // stop_at_ns came first
};

ThreadedResult RunThreaded(const ThreadedOptions& o);

// Options for a seed: threads in [2, 8], and a mix of the knobs above.
ThreadedOptions ThreadedOptionsForSeed(uint64_t seed, int ops_per_thread);

}  // namespace gcheap::oracle

#endif  // GCHEAP_TESTS_ORACLE_THREADED_H_
