// world.h: what the collector needs from the embedding layer.
//
// The collector (gc/) knows nothing of the C API, threads or safepoints.
// runtime/ implements this interface over its attached mutators.
#ifndef GCHEAP_GC_WORLD_H_
#define GCHEAP_GC_WORLD_H_

#include "absl/functional/function_ref.h"
#include "gc/roots.h"
#include "heap/mcache.h"

namespace gcheap {

// The collector's per-mutator state (kept in each gc_mutator, touched only
// by its thread, read by the collector while the world is stopped).
struct MutatorGcState {
  // Mark assists (gc/mark_assist.cc): scan work this mutator has done or
  // stolen in advance (>= 0) or owes (< 0) for its allocation while marking.
  // (The objects it allocates black are counted in its mcache.)
  int64_t assist_credit = 0;
};

class World {
 public:
  virtual ~World() = default;
  // Returns when every attached mutator other than the calling thread is
  // stopped: parked at a safepoint or inside a blocking region.
  virtual void StopTheWorld() = 0;
  // Lets the stopped mutators run again.
  // Returns the steady-clock time (ns) at which the mutators were
  // released: the end of the pause, as Go counts it (the collecting thread
  // itself may be preempted by the mutators it wakes right after).
  virtual int64_t StartTheWorld() = 0;
  // Calls f for the mcache of every attached mutator. World stopped.
  virtual void ForEachMCache(absl::FunctionRef<void(MCache*)> f) = 0;
  // Turns every mutator's write barrier on or off (and the state new
  // mutators start with). World stopped.
  virtual void SetWriteBarrier(bool on) = 0;
  // Hands every mutator's buffered write-barrier values to the collector
  // (Collector::ShadeBuffered) and withdraws any ragged flush request still
  // pending in its poll word (below). World stopped.
  virtual void FlushWriteBarrierBuffers() = 0;
  // The same without stopping the world (Go's ragged barrier): asks every
  // running mutator to shade its own buffer at its next safepoint and
  // waits a bounded time for them to do so. Blocked mutators keep their
  // buffers (the final pause flushes them). World running.
  virtual void RaggedFlushWriteBarrierBuffers() = 0;
  // Calls f for every attached mutator's collector state. World stopped.
  virtual void ForEachMutatorGcState(
      absl::FunctionRef<void(MutatorGcState*)> f) = 0;
  // True while a stop-the-world request is pending (a mark assist checks it
  // to get out of the way of the pause). Any thread.
  virtual bool StopRequested() const = 0;
  // Attached mutators not inside a blocking region (running, or parked
  // for a stop of the world that is ending): what the mark workers take as
  // the processors the mutators need. A snapshot; any thread.
  virtual int RunningMutators() = 0;

  // ---- the per-thread root snapshot (docs/collector.md) -------------------
  // Each mutator's own roots (its stack when conservative stack scanning
  // is on, its handles, its mutator root scanners) are scanned once per
  // cycle, exactly as they were in the first pause: by the mutator itself
  // before it runs again, or by a collector thread while it stays stopped.
  //
  // Pause 1 (world stopped): the roots of every attached mutator that has
  // any become pending for this cycle.
  virtual void BeginThreadRootScans() = 0;
  // Claims pending mutators (only those inside a blocking region when
  // blocked_only) and reports each one's roots to v. Any thread; v belongs
  // to the caller (a mark worker's marking visitor).
  virtual void ScanPendingThreadRoots(bool blocked_only, RootVisitor& v) = 0;
  // True when no mutator's scan of this cycle is pending or in progress.
  // An acquire: whatever a finished scan put into the work pool is visible
  // to the caller afterwards. Any thread.
  virtual bool ThreadRootScansDone() = 0;
  // Mark termination (world stopped): every scan is done (debug builds
  // check each mutator); ends the cycle's snapshot.
  virtual void EndThreadRootScans() = 0;
  // World stopped: reports every mutator's roots as they are now (the
  // verifier).
  virtual void ForEachThreadRoot(RootVisitor& v) = 0;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_WORLD_H_
