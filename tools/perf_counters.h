// perf_counters.h: the benchmarks' report of gc_perf_counters (runtime/gc.h)
// per GiB allocated, one line:
//
//   COUNTERS GiB=12.34 spanset_ops=... spanset_contended=... ... (per GiB)
//
// A count per GiB allocated does not depend on the machine for the same
// work; waits and retries do (docs/benchmarks.md reads them).
#ifndef GCHEAP_TOOLS_PERF_COUNTERS_H_
#define GCHEAP_TOOLS_PERF_COUNTERS_H_

#include <cstdint>
#include <cstdio>

#include "runtime/gc.h"

namespace gcheap {

inline void PrintPerfCounters(const gc_perf_counters& c,
                              uint64_t bytes_allocated, FILE* out = stdout) {
  const double gib = bytes_allocated / (1024.0 * 1024 * 1024);
  auto per = [&](uint64_t n) { return gib > 0 ? n / gib : 0.0; };
  fprintf(out,
          "COUNTERS GiB=%.3f spanset_ops=%.0f spanset_contended=%.1f "
          "heap_locks=%.0f heap_lock_waits=%.1f sweep_lockers=%.0f "
          "refills=%.0f refills_heap_lock=%.0f heap_live_updates=%.0f "
          "large_allocs=%.0f marked_objects=%.0f mark_races=%.1f "
          "pool_ops=%.0f pool_waits=%.1f pool_steals=%.0f "
          "refills_empty_span=%.0f (per GiB)\n",
          gib, per(c.spanset_ops), per(c.spanset_contended), per(c.heap_locks),
          per(c.heap_lock_waits), per(c.sweep_lockers), per(c.refills),
          per(c.refills_heap_lock), per(c.heap_live_updates),
          per(c.large_allocs), per(c.marked_objects), per(c.mark_races),
          per(c.pool_ops), per(c.pool_waits), per(c.pool_steals),
          per(c.refills_empty_span));
}

inline gc_perf_counters ReadPerfCounters(gc_heap* heap) {
  gc_perf_counters c{};
  c.struct_size = sizeof(c);
  gc_get_perf_counters(heap, &c);
  return c;
}

// The counts of b minus those of a (a phase of a run).
inline gc_perf_counters PerfCountersSince(const gc_perf_counters& a,
                                          const gc_perf_counters& b) {
  gc_perf_counters d = b;
  d.spanset_ops -= a.spanset_ops;
  d.spanset_contended -= a.spanset_contended;
  d.heap_locks -= a.heap_locks;
  d.heap_lock_waits -= a.heap_lock_waits;
  d.sweep_lockers -= a.sweep_lockers;
  d.refills -= a.refills;
  d.refills_heap_lock -= a.refills_heap_lock;
  d.heap_live_updates -= a.heap_live_updates;
  d.large_allocs -= a.large_allocs;
  d.marked_objects -= a.marked_objects;
  d.mark_races -= a.mark_races;
  d.pool_ops -= a.pool_ops;
  d.pool_waits -= a.pool_waits;
  d.pool_steals -= a.pool_steals;
  d.refills_empty_span -= a.refills_empty_span;
  return d;
}

// Reads the heap's counters and bytes allocated and prints the line.
inline void PrintPerfCounters(gc_heap* heap, FILE* out = stdout) {
  gc_stats s{};
  s.struct_size = sizeof(s);
  gc_get_stats(heap, &s);
  PrintPerfCounters(ReadPerfCounters(heap), s.bytes_allocated, out);
}

}  // namespace gcheap

#endif  // GCHEAP_TOOLS_PERF_COUNTERS_H_
