// gctrace.h: the GCTRACE=1 line, one per cycle (Go's gctrace shape).
//
//   gc N @T: P1+M+P2 ms clock, K pauses P ms, A ms assist, AW ms assist
//   wait, B ms bg cpu,
//   S MB scanned at R MB/s, H0->H1->L MB, G MB goal, T MB trigger,
//   O objects live, W workers[ + idle] (mode, reason)[, verified][,
//   cpu-limited]
//
// P1: the first pause; M: clock time of concurrent marking; P2: the final
// pause (in stop-the-world mode the cycle is one pause, all of it marking:
// 0+pause+0); then the number of
// pauses and their sum, assist time, the time mutators in assist debt
// waited for background credit, background mark CPU time, the bytes
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
