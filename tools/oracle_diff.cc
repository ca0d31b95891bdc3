// oracle_diff: runs seeded random mutator programs on our heap and on Boehm
// GC side by side, against the exact oracle (tests/oracle/), and prints one
// line per program:
//
//   seed ops collections reachable ours boehm excess
//
// summed over the program's checked collections: `reachable` is what the
// oracle computed, `ours` our heap's live_objects (must equal it), `boehm`
// the program's objects Boehm still held (must be >= it), `excess` Boehm's
// surplus (conservative stack and register scanning). A total line follows.
//
//   bazel run //tools:oracle_diff -- --programs=1000 --seed=1
//   bazel run //tools:oracle_diff -- --replay=/tmp/failing.txt
//   bazel run //tools:oracle_diff -- --threads=8 --programs=4
//
// On a failure it prints the seed, the failure and the minimized op list
// (replayable with --replay), and exits 1.
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "tests/oracle/boehm.h"
#include "tests/oracle/oracle.h"
#include "tests/oracle/threaded.h"

ABSL_FLAG(uint64_t, programs, 100, "programs to run");
ABSL_FLAG(uint64_t, seed, 1, "seed of the first program");
ABSL_FLAG(int, ops, 300, "ops per program");
ABSL_FLAG(bool, boehm, true, "run the Boehm GC side");
ABSL_FLAG(bool, minimize, true, "minimize a failing program");
ABSL_FLAG(std::string, replay, "", "run the program in this file instead");
ABSL_FLAG(std::string, fuzz_input, "",
          "run the program a fuzzer input decodes to (e.g. a libFuzzer "
          "crash-* file) instead");
ABSL_FLAG(bool, print, false, "print each program's ops");
ABSL_FLAG(int, force_stw, -1,
          "generated programs' collector mode: -1 random, 0 concurrent, 1 "
          "stop-the-world (the soak generates with 0)");
ABSL_FLAG(bool, quiet, false, "only the total line");
ABSL_FLAG(int, threads, 0,
          "> 0: the multi-threaded variant with this many mutator threads "
          "(each program is one run; no Boehm side)");
ABSL_FLAG(int, ops_per_thread, 3000, "ops per thread (--threads)");
ABSL_FLAG(int, fault, 0,
          "inject a fault (1 corrupt payload, 2 drop a root, 3 skip a store, "
          "4 hide a pointer) to see a failure report");

namespace {

using namespace gcheap::oracle;

int RunThreadedPrograms() {
  const uint64_t first = absl::GetFlag(FLAGS_seed);
  const uint64_t n = absl::GetFlag(FLAGS_programs);
  ThreadedResult total;
  uint64_t runs = 0;
  for (uint64_t seed = first; seed < first + n; seed++) {
    ThreadedOptions o =
        ThreadedOptionsForSeed(seed, absl::GetFlag(FLAGS_ops_per_thread));
    o.threads = absl::GetFlag(FLAGS_threads);
    SetCrashContext("oracle_diff: crashed in threaded seed=%" PRIu64 "\n",
                    seed);
    ThreadedResult r = RunThreaded(o);
    runs++;
    if (!absl::GetFlag(FLAGS_quiet)) {
      printf("seed=%" PRIu64 " threads=%d ops=%" PRIu64 " collections=%" PRIu64
             " cycles=%" PRIu64 " quiescent_checks=%" PRIu64
             " objects_checked=%" PRIu64 " max_live=%" PRIu64
             " detaches=%" PRIu64 " helpers=%" PRIu64
             " stw=%d max_pause_ms=%.3f"
             " %s\n",
             seed, o.threads, r.ops, r.collections, r.cycles,
             r.quiescent_checks, r.objects_checked, r.max_live, r.detaches,
             r.helpers, o.stw, r.max_pause_ns / 1e6, r.ok ? "ok" : "FAILED");
      fflush(stdout);
    }
    total.ops += r.ops;
    total.collections += r.collections;
    total.cycles += r.cycles;
    total.quiescent_checks += r.quiescent_checks;
    total.objects_checked += r.objects_checked;
    total.max_pause_ns = std::max(total.max_pause_ns, r.max_pause_ns);
    if (!r.ok) {
      fprintf(stderr, "%s", r.report.c_str());
      return 1;
    }
  }
  printf("total: runs=%" PRIu64 " ops=%" PRIu64 " collections=%" PRIu64
         " cycles=%" PRIu64 " quiescent_checks=%" PRIu64
         " objects_checked=%" PRIu64 " max_pause_ms=%.3f\n",
         runs, total.ops, total.collections, total.cycles,
         total.quiescent_checks, total.objects_checked,
         total.max_pause_ns / 1e6);
  return 0;
}

void PrintLine(const Program& p, const RunResult& r) {
  printf("seed=%" PRIu64 " ops=%zu collections=%" PRIu64 " reachable=%" PRIu64
         " ours=%" PRIu64 " boehm=%" PRIu64 " excess=%" PRIu64 "%s\n",
         p.seed, p.ops.size(), r.stats.collections, r.stats.reachable,
         r.stats.ours, r.stats.boehm,
         r.stats.boehm >= r.stats.boehm_reachable
             ? r.stats.boehm - r.stats.boehm_reachable
             : 0,
         r.ok ? "" : " FAILED");
  fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  InstallCrashHandler();
  if (absl::GetFlag(FLAGS_threads) > 0) return RunThreadedPrograms();

  RunOptions ro;
  ro.boehm = absl::GetFlag(FLAGS_boehm);
  ro.fault = static_cast<Fault>(absl::GetFlag(FLAGS_fault));
  if (ro.boehm) boehm::Init();

  const std::string replay = absl::GetFlag(FLAGS_replay);
  const std::string fuzz_input = absl::GetFlag(FLAGS_fuzz_input);
  if (!replay.empty() || !fuzz_input.empty()) {
    const std::string& file = replay.empty() ? fuzz_input : replay;
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      fprintf(stderr, "cannot read %s\n", file.c_str());
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    Program p;
    if (!replay.empty()) {
      std::string err;
      if (!ParseProgram(bytes, &p, &err)) {
        fprintf(stderr, "%s: %s\n", file.c_str(), err.c_str());
        return 2;
      }
    } else {
      p = ProgramFromBytes(reinterpret_cast<const uint8_t*>(bytes.data()),
                           bytes.size());
    }
    if (absl::GetFlag(FLAGS_print)) printf("%s", FormatProgram(p).c_str());
    RunResult r = RunProgram(p, ro);
    PrintLine(p, r);
    if (!r.ok) {
      if (absl::GetFlag(FLAGS_minimize)) {
        Program m = MinimizeFailure(p, ro, r);
        RunResult mr = RunProgram(m, ro);
        fprintf(stderr, "%s", FailureReport(p, r, &m, &mr).c_str());
      } else {
        fprintf(stderr, "%s", FailureReport(p, r, nullptr, nullptr).c_str());
      }
      return 1;
    }
    return 0;
  }

  GenOptions g;
  g.ops = absl::GetFlag(FLAGS_ops);
  g.force_stw = absl::GetFlag(FLAGS_force_stw);
  const auto t0 = std::chrono::steady_clock::now();
  BatchResult b = RunSeeds(
      absl::GetFlag(FLAGS_seed), absl::GetFlag(FLAGS_programs), g, ro,
      absl::GetFlag(FLAGS_minimize), [](const Program& p, const RunResult& r) {
        if (absl::GetFlag(FLAGS_print)) printf("%s", FormatProgram(p).c_str());
        if (!absl::GetFlag(FLAGS_quiet)) PrintLine(p, r);
      });
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  const RunStats& s = b.stats;
  printf("total: programs=%" PRIu64 " passed=%" PRIu64 " ops=%" PRIu64
         " collections=%" PRIu64 " cycles=%" PRIu64 " reachable=%" PRIu64
         " ours=%" PRIu64 " boehm=%" PRIu64 " excess=%" PRIu64
         " (%.3f%%) objects_checked=%" PRIu64 " allocated=%" PRIu64
         " churned=%" PRIu64 " refused=%" PRIu64 " time=%.1fs\n",
         b.programs, b.passed, s.ops, s.collections, s.cycles, s.reachable,
         s.ours, s.boehm,
         s.boehm >= s.boehm_reachable ? s.boehm - s.boehm_reachable : 0,
         s.boehm_reachable && s.boehm >= s.boehm_reachable
             ? 100.0 * (s.boehm - s.boehm_reachable) / s.boehm_reachable
             : 0.0,
         s.objects_checked, s.allocated, s.churned, s.alloc_failed, secs);
  printf("total %s\n", VmSummary(s).c_str());
  if (!b.ok) {
    fprintf(stderr, "%s", b.report.c_str());
    return 1;
  }
  return 0;
}
