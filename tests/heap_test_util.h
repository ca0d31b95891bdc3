// heap_test_util.h: helpers for the allocator tests: marking objects the way
// the collector will, running a sweep cycle, and reading resident memory.
#ifndef GCHEAP_TESTS_HEAP_TEST_UTIL_H_
#define GCHEAP_TESTS_HEAP_TEST_UTIL_H_

#include <unistd.h>

#include <cstdio>
#include <vector>

#include "gtest/gtest.h"
#include "heap/mcache.h"
#include "heap/mheap.h"

namespace gcheap {

// Sets the mark bit of the object holding p, which the calling thread
// allocated from mcache c, as the collector would: c first syncs its spans
// (as when a mark begins), so its recent allocations read as allocated.
inline void MarkObject(MHeap& heap, MCache* c, const void* p) {
  c->StartMark(/*allocate_black=*/false);
  ObjectRef r;
  ASSERT_TRUE(heap.FindObject(reinterpret_cast<uintptr_t>(p), &r));
  // Marking is only legal on swept spans (sweep termination comes first).
  const uint32_t sg = r.span->sweepgen.load(), h = heap.sweepgen();
  ASSERT_TRUE(sg == h || sg == h + 3) << "marking an unswept span";
  ASSERT_TRUE(r.span->IsAllocated(r.index)) << "marking a free slot";
  r.span->SetMarked(r.index);
}

// Ends a "GC cycle" in which exactly the marked objects survived: flushes
// the given mcaches, starts a new sweep cycle and, if `finish`, sweeps
// everything now (otherwise sweeping happens lazily).
inline void SweepCycle(MHeap& heap, const std::vector<MCache*>& caches,
                       bool finish = true) {
  heap.FinishSweep();
  for (MCache* c : caches) c->ReleaseAll();
  heap.StartSweepCycle();
  if (finish) heap.FinishSweep();
}

// Resident set size of this process, in bytes.
inline size_t ResidentBytes() {
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  fclose(f);
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace gcheap

#endif  // GCHEAP_TESTS_HEAP_TEST_UTIL_H_
