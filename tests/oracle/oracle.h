// oracle.h: the exact oracle for the collector (tests/oracle/).
//
//   layout.h     object kinds, word layouts, stamps, payload and checksums
//   ops.h        program ops and their text form
//   model.h      the shadow graph and the exact reachable set
//   generator.h  seeded / byte-driven random programs
//   executor.h   runs ops on the model, our heap and Boehm GC; the checks
//   minimize.h   delta debugging of failing programs; failure reports
//   threaded.h   the multi-threaded variant (private + shared graphs)
//
// This header adds batch running and crash reporting.
#ifndef GCHEAP_TESTS_ORACLE_ORACLE_H_
#define GCHEAP_TESTS_ORACLE_ORACLE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "tests/oracle/executor.h"
#include "tests/oracle/generator.h"
#include "tests/oracle/layout.h"
#include "tests/oracle/minimize.h"
#include "tests/oracle/model.h"
#include "tests/oracle/ops.h"

namespace gcheap::oracle {

// True in sanitizer and debug builds (GCHEAP_DEBUG, or ASan/TSan detected).
bool SlowBuild();
// Which sanitizer, for messages: "asan", "tsan", "debug" or "opt".
const char* BuildKind();

struct BatchResult {
  uint64_t programs = 0;  // programs run
  uint64_t passed = 0;
  uint64_t boehm_programs = 0;  // programs that ran the Boehm side
  RunStats stats;
  bool ok = true;
  uint64_t failing_seed = 0;
  std::string report;  // the failure report (minimized), if !ok
};

// Runs the seeded programs first_seed .. first_seed + n - 1 with options,
// stopping at the first failure (minimized when minimize is set).
// per_program (optional) sees each program and its result.
BatchResult RunSeeds(
    uint64_t first_seed, uint64_t n, const GenOptions& g, const RunOptions& o,
    bool minimize,
    const std::function<void(const Program&, const RunResult&)>& per_program =
        nullptr);

// One line of the VM ops' volume (issue 12): weak, ephemeron and
// finalization ops, weak reads (and how many ran while a cycle marked),
// what the model saw the heap do (finalized, popped, cleanups, cells and
// ephemerons cleared, objects revived) and the Boehm differential of
// finalization and weak handles (agreeing; programs where Boehm's
// retention made the comparison stop).
std::string VmSummary(const RunStats& s);

// Crash context: a fatal signal (a GC_CHECK abort, a segfault) prints this
// text first, so a crash in the middle of a batch still names its seed.
void InstallCrashHandler();
void SetCrashContext(const char* fmt, ...)
    __attribute__((format(printf, 1, 2)));

}  // namespace gcheap::oracle

#endif  // GCHEAP_TESTS_ORACLE_ORACLE_H_
