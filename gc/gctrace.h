// gctrace.h: the GCTRACE=1 line, one per cycle (Go's gctrace shape).
//
//   gc N @T: P1+M+P2 ms clock, K pauses P ms, A ms assist, B ms bg cpu,
//   S MB scanned at R MB/s, H0->H1->L MB, G MB goal, T MB trigger,
//   O objects live, W workers[ + idle] (mode, reason)[, verified][,
//   cpu-limited]
//
// P1: the first pause (0 in stop-the-world mode, where the single pause is
// P2); M: clock time of marking; P2: the final pause; then the number of
// pauses and their sum, assist and background mark CPU time, the bytes
// scanned and the rate (scanned / M), heap_live at the start -> at the end
// of marking -> marked (live), the next goal and trigger, live objects, the
// mark workers (+ idle: the idle-priority worker was offered a processor).
// A pure function of the cycle's record: the collector prints the line.
#ifndef GCHEAP_GC_GCTRACE_H_
#define GCHEAP_GC_GCTRACE_H_

#include <string>

#include "gc/stats.h"

namespace gcheap {

// The line for one cycle, with its trailing newline. verified: the
// checkmark verifier ran.
std::string FormatGcTrace(const CycleInfo& info, int workers, bool verified);

}  // namespace gcheap

#endif  // GCHEAP_GC_GCTRACE_H_
