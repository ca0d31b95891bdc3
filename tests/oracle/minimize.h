// minimize.h: delta debugging over op lists, and failure reports.
//
// A failing program is re-run with chunks of its ops removed (ddmin: halves,
// quarters, ... down to single ops); a removal is kept when the program
// still fails the same way (same failure category). Then chain lengths
// (chain, finchain, ephchain) are shrunk and the heap configuration
// simplified. Every candidate is a valid
// program (ops on objects that no longer exist are skipped), so the result
// replays with `oracle_diff --replay=FILE`.
#ifndef GCHEAP_TESTS_ORACLE_MINIMIZE_H_
#define GCHEAP_TESTS_ORACLE_MINIMIZE_H_

#include <functional>
#include <string>
#include <vector>

#include "tests/oracle/executor.h"
#include "tests/oracle/ops.h"

namespace gcheap::oracle {

// A predicate: does this program still fail (the same way)?
using FailsFn = std::function<bool(const Program&)>;

// ddmin over p's ops, then parameter shrinking; at most max_runs runs.
Program Minimize(const Program& p, const FailsFn& fails, int max_runs,
                 int* runs = nullptr);

// The same program with ids 1, 2, ... in allocation order.
Program RenumberIds(const Program& p);

// Minimizes p (which failed with r) by re-running it in this process.
Program MinimizeFailure(const Program& p, const RunOptions& o,
                        const RunResult& r, int max_runs = 3000);

// The report printed for a failure: seed, config, the failure, and the
// (minimized) op list in replayable text form.
std::string FailureReport(const Program& p, const RunResult& r,
                          const Program* minimized,
                          const RunResult* minimized_result);

}  // namespace gcheap::oracle

#endif  // GCHEAP_TESTS_ORACLE_MINIMIZE_H_
