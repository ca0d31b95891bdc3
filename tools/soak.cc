// soak: the multi-threaded oracle (tests/oracle/threaded.h) for a given
// time, with the collector's verifier on (gc_config.verify = 1): M mutator
// threads with private and shared graphs, collections from random threads,
// attach / detach, blocking regions, automatic cycles, and exact global
// checks at quiescent points. Rounds of fresh heaps, each with its own seed,
// run back to back until the time is up.
//
//   bazel run //tools:soak -- --seconds=600 --threads=8
//   bazel run //tools:soak -- --seconds=1800 --mode=concurrent
//   bazel run //tools:soak -- --seed=1234 --rounds=1   (repeat a round)
//
// Prints one line per round and totals: cycles, objects checked, the
// longest pause. On a failure it prints the report with the round's seed
// and exits 1.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <string>

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
    ThreadedResult r = RunThreaded(o);
    rounds++;
    printf("round %d seed=%" PRIu64 " %.1fs: ops=%" PRIu64 " cycles=%" PRIu64
           " collections=%" PRIu64 " quiescent_checks=%" PRIu64
           " objects_checked=%" PRIu64 " max_live=%" PRIu64 " detaches=%" PRIu64
           " helpers=%" PRIu64 " %s longest_pause=%.2fms %s\n",
           rounds, seed, (NowNs() - t0) / 1e9, r.ops, r.cycles, r.collections,
           r.quiescent_checks, r.objects_checked, r.max_live, r.detaches,
           r.helpers, o.stw ? "stw" : "concurrent", r.max_pause_ns / 1e6,
           r.ok ? "ok" : "FAILED");
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
  return 0;
}
