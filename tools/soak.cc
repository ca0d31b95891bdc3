// soak: the multi-threaded oracle (tests/oracle/threaded.h) for a given
// time, with the collector's verifier on (gc_config.verify = 1): M mutator
// threads with private and shared graphs, collections from random threads,
// attach / detach, blocking regions, automatic cycles, and exact global
// checks at quiescent points. Rounds of fresh heaps, each with its own seed,
// run back to back until the time is up. The threads read weak handles and
// weak slots and rewire ephemeron tables (set_value, set_next, chains)
// while other threads' cycles mark; what a read returns during marking is
// checked still allocated after that cycle (Executor::SettleHolds).
// Alongside each round, one more thread runs single-threaded oracle
// programs with concurrent marking and automatic cycles on heaps of their
// own (--vm_programs): finalizers (ordered, unordered, ignore-self,
// resurrecting), guardians and cleanups decided while the program keeps
// mutating, each checked against its model. The multi-threaded oracle's
// private graphs register finalizers, guardians and cleanups too, run by
// any thread's gc_run_finalizers and checked per graph (threaded.h).
//
//   bazel run //tools:soak -- --seconds=600 --threads=8
//   bazel run //tools:soak -- --seconds=1800 --mode=concurrent
//   bazel run //tools:soak -- --seed=1234 --rounds=1   (repeat a round)
//
// Prints one line per round and totals: cycles, objects checked, the
// longest pause. On a failure it prints the report with the round's seed
// and exits 1.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "tests/oracle/oracle.h"
#include "tests/oracle/threaded.h"

ABSL_FLAG(double, seconds, 60, "how long to run");
ABSL_FLAG(int, threads, 8, "mutator threads");
ABSL_FLAG(uint64_t, seed, 0, "seed of the first round (0: from the clock)");
ABSL_FLAG(int, rounds, 0, "stop after this many rounds (0: only the time)");
ABSL_FLAG(int, ops_per_thread, 40000,
          "ops per thread per round (a round also ends with the time)");
ABSL_FLAG(bool, verify, true, "gc_config.verify (the checkmark verifier)");
ABSL_FLAG(std::string, mode, "random",
          "collector mode per round: random, concurrent or stw");
ABSL_FLAG(bool, vm_programs, true,
          "alongside each round, run single-threaded oracle programs with "
          "finalization and concurrent marking");

namespace {
int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace gcheap::oracle;
  InstallCrashHandler();
  const int64_t start = NowNs();
  const int64_t stop =
      start + static_cast<int64_t>(absl::GetFlag(FLAGS_seconds) * 1e9);
  uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (seed == 0) seed = static_cast<uint64_t>(start / 1000) % 1000000007 + 1;
  const int threads = absl::GetFlag(FLAGS_threads);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "random" && mode != "concurrent" && mode != "stw") {
    fprintf(stderr, "soak: --mode must be random, concurrent or stw\n");
    return 2;
  }
  printf("soak: %d threads, %.0f s, verify %s, mode %s, first seed %" PRIu64
         "\n",
         threads, absl::GetFlag(FLAGS_seconds),
         absl::GetFlag(FLAGS_verify) ? "on" : "off", mode.c_str(), seed);
  fflush(stdout);
  ThreadedResult total;
  BatchResult vm_total;
  int rounds = 0;
  while (NowNs() < stop && (absl::GetFlag(FLAGS_rounds) == 0 ||
                            rounds < absl::GetFlag(FLAGS_rounds))) {
    ThreadedOptions o =
        ThreadedOptionsForSeed(seed, absl::GetFlag(FLAGS_ops_per_thread));
    o.threads = threads;
    if (mode != "random") o.stw = mode == "stw" ? 1 : 0;
    o.verify = absl::GetFlag(FLAGS_verify) ? 1 : 0;
    o.max_chain = 2000;
    o.quiesce_every = 1000 + static_cast<int>(seed % 2000);
    o.stop_at_ns = stop;
    SetCrashContext("soak: crashed in round %d, seed=%" PRIu64
                    " (repeat: bazel run //tools:soak -- --seed=%" PRIu64
                    " --rounds=1 --threads=%d --mode=%s)\n",
                    rounds + 1, seed, seed, threads, mode.c_str());
    const int64_t t0 = NowNs();
    // The finalization programs, until the round ends.
    std::atomic<bool> round_done{false};
    BatchResult vm;
    std::thread vm_thread;
    if (absl::GetFlag(FLAGS_vm_programs)) {
      vm_thread = std::thread([&, seed] {
        GenOptions g;
        g.force_stw = 0;
        g.ops = 600;
        RunOptions ro;
        ro.boehm = false;  // (Boehm's side is single-threaded per process)
        for (uint64_t s = seed * 1000; !round_done.load() && vm.ok; s++) {
          Program p = GenerateProgram(s, g);
          p.config.verify = o.verify;
          if (p.config.gc_percent < 0 && p.config.memory_limit == 0 &&
              !p.config.finalizer_thread) {
            p.config.gc_percent = 100;  // automatic, concurrent cycles
          }
          RunResult r = RunProgram(p, ro);
          vm.programs++;
          vm.stats.Add(r.stats);
          if (!r.ok) {
            vm.ok = false;
            vm.failing_seed = s;
            // The whole program, so that it can be replayed.
            vm.report = FailureReport(p, r, nullptr, nullptr) +
                        "----- 8< -----\n" + FormatProgram(p) +
                        "----- 8< -----\n";
          }
        }
      });
    }
    ThreadedResult r = RunThreaded(o);
    round_done = true;
    if (vm_thread.joinable()) vm_thread.join();
    if (!vm.ok) {
      fprintf(stderr, "%s", vm.report.c_str());
      fprintf(stderr,
              "soak: a finalization program failed in round %d (seed=%" PRIu64
              "); the program is above, between the 8< lines: save it and "
              "replay it with bazel run //tools:oracle_diff -- --replay=FILE "
              "--boehm=false\n",
              rounds + 1, vm.failing_seed);
      return 1;
    }
    vm_total.programs += vm.programs;
    vm_total.stats.Add(vm.stats);
    rounds++;
    printf("round %d seed=%" PRIu64 " %.1fs: ops=%" PRIu64 " cycles=%" PRIu64
           " collections=%" PRIu64 " quiescent_checks=%" PRIu64
           " objects_checked=%" PRIu64 " max_live=%" PRIu64 " detaches=%" PRIu64
           " helpers=%" PRIu64 " %s longest_pause=%.2fms %s\n",
           rounds, seed, (NowNs() - t0) / 1e9, r.ops, r.cycles, r.collections,
           r.quiescent_checks, r.objects_checked, r.max_live, r.detaches,
           r.helpers, o.stw ? "stw" : "concurrent", r.max_pause_ns / 1e6,
           r.ok ? "ok" : "FAILED");
    printf("  weak reads %" PRIu64 " (%" PRIu64
           " while a cycle marked, %" PRIu64 " held past it), weak ops %" PRIu64
           ", ephemeron ops %" PRIu64 ", finalization ops %" PRIu64
           " (finalized %" PRIu64 ", popped %" PRIu64 ", cleanups %" PRIu64
           ", own collections checked %" PRIu64
           "); finalization programs %" PRIu64 ": %s\n",
           r.weak_reads, r.reads_marking, r.holds_checked, r.weak_ops,
           r.eph_ops, r.fin_ops, r.finalized, r.guardian_pops, r.cleanups_run,
           r.fin_collections, vm.programs, VmSummary(vm.stats).c_str());
    fflush(stdout);
    total.ops += r.ops;
    total.cycles += r.cycles;
    total.collections += r.collections;
    total.quiescent_checks += r.quiescent_checks;
    total.objects_checked += r.objects_checked;
    total.allocated += r.allocated;
    total.detaches += r.detaches;
    total.helpers += r.helpers;
    total.max_live = std::max(total.max_live, r.max_live);
    total.max_pause_ns = std::max(total.max_pause_ns, r.max_pause_ns);
    total.weak_reads += r.weak_reads;
    total.reads_marking += r.reads_marking;
    total.holds_checked += r.holds_checked;
    total.weak_ops += r.weak_ops;
    total.eph_ops += r.eph_ops;
    total.fin_ops += r.fin_ops;
    total.finalized += r.finalized;
    total.fin_collections += r.fin_collections;
    if (!r.ok) {
      fprintf(stderr, "%s", r.report.c_str());
      fprintf(stderr,
              "soak: FAILED in round %d, seed=%" PRIu64
              " (repeat: bazel run //tools:soak -- --seed=%" PRIu64
              " --rounds=1 --threads=%d --mode=%s)\n",
              rounds, seed, seed, threads, mode.c_str());
      return 1;
    }
    seed++;
  }
  printf("soak: %d rounds in %.1f s, %d threads, verify %s: %" PRIu64
         " ops, %" PRIu64 " objects allocated, %" PRIu64 " cycles (%" PRIu64
         " explicit collections checked, %" PRIu64
         " quiescent exact checks), %" PRIu64
         " objects checked, longest pause %.2f ms, max live %" PRIu64
         ", %" PRIu64 " detaches, %" PRIu64
         " short-lived threads; no failures\n",
         rounds, (NowNs() - start) / 1e9, threads,
         absl::GetFlag(FLAGS_verify) ? "on" : "off", total.ops, total.allocated,
         total.cycles, total.collections, total.quiescent_checks,
         total.objects_checked, total.max_pause_ns / 1e6, total.max_live,
         total.detaches, total.helpers);
  printf("soak: weak reads %" PRIu64 " (%" PRIu64
         " while a cycle marked, %" PRIu64 " held past it), weak ops %" PRIu64
         ", ephemeron ops %" PRIu64 ", finalization ops %" PRIu64
         " (finalized %" PRIu64 ", own collections checked %" PRIu64
         "); finalization programs %" PRIu64 ": %s\n",
         total.weak_reads, total.reads_marking, total.holds_checked,
         total.weak_ops, total.eph_ops, total.fin_ops, total.finalized,
         total.fin_collections, vm_total.programs,
         VmSummary(vm_total.stats).c_str());
  return 0;
}
