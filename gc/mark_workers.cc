// mark_workers.cc: the mark workers' loop and its termination (Go's
// gcBgMarkWorker and gcDrain), for both the marking inside a pause and the
// background mark of a concurrent cycle.
//
// n workers (worker 0 is the calling thread, the others pool threads) drain
// the shared pool. Between slices of kDrainSlice objects a busy worker
// gives half of its local work to the pool when the pool is empty and
// another worker waits for work, or the idle worker asked for some (a
// slice that starts with the pool empty: WorkPool::RequestWork; mutators
// waiting for assist credit are then woken to mark too,
// Collector::OfferAssistWork). Without the request, one background worker
// (two processors: a fractional worker and no dedicated one) kept a tree's
// whole frontier in its local buffers, and the idle worker's slices found
// nothing to mark and polled.
// Background workers also turn their scan work into assist credit, and a
// fractional worker (worker 0 with fraction < 1) marks only that share of
// its time, handing its local work to the pool before it sleeps. Worker 0
// reads its thread CPU clock (a system call) and updates the assist ratio
// and the CPU limiter every kPaceEverySlices slices, not after each.
//
// The idle-priority worker (gc/idle_worker.h) may join a background mark:
// it marks in short slices when a processor is spare, and is not one of
// the n workers.
//
// The mutators' own roots (the per-thread snapshot, docs/collector.md):
// every worker first claims and scans the pending mutators it may take:
// those inside a blocking region in the background (the others scan
// themselves as they resume), all of them with the world stopped.
//
// Termination: a worker out of work counts itself waiting (nwait) and
// polls; marking is done when every one of the n workers waits, no mark
// assist is active, every mutator's snapshot has been scanned, the pool is
// empty and the idle worker's gate could be closed (it cannot while a
// slice runs), after which the pool is checked once more. A waiting worker
// holds no grey object; an assist counts itself active before it takes
// grey objects and until it has given back what it did not scan; a
// mutator's scan puts its grey objects into the pool before it counts as
// done (and the done count is read, with acquire, before the pool); the
// idle worker holds grey objects only inside a slice, on a normal-priority
// thread, and gives them back before the slice ends. So at that instant no
// grey object exists outside the mutators' barrier buffers (the final pause
// flushes those), and termination never waits for the idle-priority thread
// itself. When everything else is idle but some mutator's snapshot is still
// pending (it has not run since the first pause), a worker stops waiting
// and scans it on the mutator's behalf.
// With the world stopped idle workers yield; in the background they sleep
// (kIdlePoll), since the mutators need the processors.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "gc/collector.h"
#include "gc/conservative.h"
#include "gc/worker_plan.h"

namespace gcheap {

namespace {
// Grey objects a worker scans between looks at the other workers.
constexpr size_t kDrainSlice = 256;
// A background worker out of work polls at this interval (it sleeps: the
// mutators need the processors).
constexpr auto kIdlePoll = std::chrono::microseconds(20);
// A fractional worker sleeps once it is this far ahead of its share, for
// as long as it is ahead (at most kFractionalMaxSleepNs). Each sleep is a
// timer, two context switches and, with a processor spare, a handoff to
// the idle worker and back: at 50 us of lead binary-trees' fractional
// worker slept 900-4,600 times a run for 90 us on average.
constexpr double kFractionalMinAheadNs = 500'000;
constexpr double kFractionalMaxSleepNs = 2'000'000;
// Grey objects the idle worker scans between looks at the clock (several
// Marker::kPrefetchDepth: the drain's prefetch runs dry at each batch's
// end).
constexpr size_t kIdleDrainBatch = 256;
// Slices between worker 0's looks at its thread CPU clock (the fractional
// share) and updates of the assist ratio and the CPU limiter. The thread
// CPU clock is a system call (the vDSO serves only the process-wide
// clocks); read after every slice of kDrainSlice objects (5-10 us of
// marking) it took about 1% of binary-trees' CPU. Every 8 slices is still
// well inside kFractionalMinAheadNs; and the fractional worker reads it
// only when the last reading plus the wall time since (the vDSO clock: a
// bound on the CPU time the thread can have used) would put it ahead, not
// 70,000-100,000 times a run.
constexpr size_t kPaceEverySlices = 8;

int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

Collector::MarkTotals Collector::MarkParallel(WorkPool* pool_ptr,
                                              bool scan_roots, int n,
                                              bool background, double fraction,
                                              bool idle,
                                              bool world_stopped_alone) {
  WorkPool& pool = *pool_ptr;
  std::atomic<int> nwait{0};
  std::atomic<uint64_t> total_objects{0}, total_bytes{0}, total_scan{0};
  n = std::max(1, std::min(n, workers_.threads() + 1));
  // One worker, the world stopped, nobody else marking: no mark bit needs
  // an atomic read-modify-write (Marker::SetExclusive).
  const bool exclusive = world_stopped_alone && n == 1 && !background && !idle;
  if (exclusive) {
    GC_DCHECK(idle_worker_.closed() &&
                  !bg_marking_.load(std::memory_order_relaxed) &&
                  assists_active_.load(std::memory_order_relaxed) == 0,
              "plain mark-bit stores chosen while another thread may mark");
    marker_.SetExclusive(true);
  }
  // The idle worker's slice: mark until out of work or out of time,
  // sharing with waiting workers, then hand everything back.
  const IdleMarkWorker::Slice idle_slice = [&]() -> bool {
    Marker::Worker w(&marker_, &pool);
    const int64_t cpu0 = ThreadCpuNs();
    const int64_t start = NowNs();
    if (pool.nfull() == 0) pool.RequestWork();
    while (NowNs() - start < kIdleSliceNs &&
           marker_.DrainSome(&w, kIdleDrainBatch)) {
      if (nwait.load(std::memory_order_relaxed) && pool.nfull() == 0) {
        w.gcw.Balance();
      }
    }
    w.gcw.Dispose();
    PublishBgCredit(static_cast<int64_t>(w.scanned_bytes));
    // Idle marking used a processor nobody wanted: not the limiter's.
    bg_cpu_ns_.fetch_add(ThreadCpuNs() - cpu0, std::memory_order_relaxed);
    total_objects.fetch_add(w.marked_objects, std::memory_order_relaxed);
    total_bytes.fetch_add(w.marked_bytes, std::memory_order_relaxed);
    total_scan.fetch_add(w.scanned_bytes, std::memory_order_relaxed);
    return w.scanned_bytes > 0;
  };
  if (idle) idle_worker_.Open(&idle_slice);
  workers_.RunParallel(n, [&](int id) {
    ActivityScope activity(events_, Activity::kMarkWorker);
    Marker::Worker w(&marker_, &pool);
    const int64_t cpu0 = background ? ThreadCpuNs() : 0;
    const int64_t clock0 = background ? NowNs() : 0;
    uint64_t published = 0;  // scan work already turned into credit
    size_t slices = 0;       // (worker 0's pacing cadence)
    // The fractional worker's last reading of its CPU clock (ns since
    // cpu0) and the wall clock then (or at its last wakeup).
    int64_t cpu_read = 0, cpu_read_at = clock0;
    RootMarker roots(&marker_, &w);
    if (id == 0 && scan_roots) {
      roots_->VisitAll(roots);
      if (events_->active()) events_->EmitSimple(EventKind::kRootsScanned);
    }
    world_->ScanPendingThreadRoots(/*blocked_only=*/background, roots);
    for (;;) {
      // Scan in slices; between slices, feed idle workers.
      while (marker_.DrainSome(&w, kDrainSlice)) {
        if (nwait.load(std::memory_order_relaxed) && pool.nfull() == 0) {
          w.gcw.Balance();
        } else if (pool.TakeWorkRequest() && pool.nfull() == 0) {
          // The idle worker found nothing to mark: share, and wake the
          // mutators waiting for credit so they may mark it too.
          w.gcw.Balance();
          if (pool.nfull() > 0) OfferAssistWork();
        }
        if (!background) continue;
        // Background work pays the mutators' assist debt in advance.
        const int64_t delta = static_cast<int64_t>(w.scanned_bytes - published);
        published = w.scanned_bytes;
        PublishBgCredit(delta);
        if (id != 0 || ++slices % kPaceEverySlices != 0) continue;
        PublishAssistRatio();
        if (fraction < 1.0) {
          // Fractional worker: mark `fraction` of the time. Ahead of that,
          // hand the local work to the pool (assists and other workers
          // may take it) and sleep.
          const int64_t now = NowNs();
          const int64_t elapsed = now - clock0;
          const int64_t most = cpu_read + (now - cpu_read_at);
          if (most / fraction - elapsed <= kFractionalMinAheadNs) continue;
          cpu_read = ThreadCpuNs() - cpu0;
          cpu_read_at = now;
          const double ahead = cpu_read / fraction - elapsed;
          if (ahead > kFractionalMinAheadNs) {
            w.gcw.Dispose();
            std::this_thread::sleep_for(std::chrono::nanoseconds(
                static_cast<int64_t>(std::min(ahead, kFractionalMaxSleepNs))));
            cpu_read_at = NowNs();  // no CPU used while asleep
          }
        }
      }
      // Out of work: idle until work appears or every worker is idle.
      nwait.fetch_add(1, std::memory_order_acq_rel);
      bool done = false;
      for (;;) {
        if (pool.nfull() > 0) {
          nwait.fetch_sub(1, std::memory_order_acq_rel);
          break;
        }
        if (nwait.load(std::memory_order_acquire) == n &&
            assists_active_.load(std::memory_order_seq_cst) == 0 &&
            !world_->ThreadRootScansDone()) {
          // Nothing else to do but a mutator's snapshot: scan what is
          // still pending, no longer counted as waiting (it greys
          // objects into this worker's buffers).
          nwait.fetch_sub(1, std::memory_order_acq_rel);
          world_->ScanPendingThreadRoots(/*blocked_only=*/false, roots);
          if (!w.gcw.LocalEmpty() || pool.nfull() > 0) break;
          nwait.fetch_add(1, std::memory_order_acq_rel);
        } else if (nwait.load(std::memory_order_acquire) == n &&
                   assists_active_.load(std::memory_order_seq_cst) == 0 &&
                   pool.nfull() == 0) {
          // (An assist holding grey objects keeps the workers waiting: it
          // returns what it has not scanned to the pool. So does an idle
          // worker's slice, until it ends. A mutator scanning its own
          // snapshot is not done until its objects are in the pool.)
          if (!idle || idle_worker_.TryClose()) {
            // The idle worker is shut out for the rest of this phase;
            // a slice that ended just before gave its work back.
            if (pool.nfull() == 0) {
              done = true;
              break;
            }
            continue;
          }
        }
        if (background) {
          // Mutators run meanwhile: do not spin on their processors.
          std::this_thread::sleep_for(kIdlePoll);
        } else {
          std::this_thread::yield();
        }
      }
      if (done) break;
    }
    if (background) {
      PublishBgCredit(static_cast<int64_t>(w.scanned_bytes - published));
      const int64_t cpu = ThreadCpuNs() - cpu0;
      bg_cpu_ns_.fetch_add(cpu, std::memory_order_relaxed);
      limiter_.AddGcTime(cpu);
    }
    total_objects.fetch_add(w.marked_objects, std::memory_order_relaxed);
    total_bytes.fetch_add(w.marked_bytes, std::memory_order_relaxed);
    total_scan.fetch_add(w.scanned_bytes, std::memory_order_relaxed);
  });
  if (exclusive) marker_.SetExclusive(false);
  GC_CHECK(idle_worker_.closed(),
           "mark workers left the idle worker's gate open");
  // With the world stopped nobody else adds work; during a concurrent mark
  // a mutator may flush barrier values after the workers finished (the
  // final pause drains them).
  GC_CHECK(!scan_roots || pool.nfull() == 0,
           "mark finished with work left in the pool");
  return {total_objects.load(), total_bytes.load(), total_scan.load()};
}

Collector::MarkTotals Collector::BackgroundMark() {
  // Decided once per mark phase: the running mutators change.
  const int running = world_->RunningMutators();
  const MarkWorkerPlan plan = PlanMarkWorkers(nworkers_, running);
  int unset = -1;
  running_at_mark_.compare_exchange_strong(unset, running);
  GC_CHECK(plan.dedicated > 0 || plan.fractional > 0,
           "a worker plan with no worker");
  if (plan.idle) idle_worker_used_.store(true, std::memory_order_relaxed);
  // Mutators in assist debt wait for credit only while workers make it.
  bg_marking_.store(true, std::memory_order_seq_cst);
  // Worker 0 (the driver) is the fractional one, if there is one.
  const MarkTotals t =
      plan.fractional > 0 ? MarkParallel(pool_.get(), false, plan.dedicated + 1,
                                         true, plan.fractional, plan.idle)
                          : MarkParallel(pool_.get(), false, plan.dedicated,
                                         true, 1.0, plan.idle);
  bg_marking_.store(false, std::memory_order_seq_cst);
  WakeAssistWaiters();
  return t;
}

}  // namespace gcheap
