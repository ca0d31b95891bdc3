// collector.h: the GC cycle (Go's mgc.go): one phase state machine, shared
// by the concurrent and the stop-the-world modes.
//
// One Collector per heap. Every cycle runs on the collector's driver
// thread, in both modes: a thread that wants a cycle requests it (Collect)
// and waits for it, counting as blocked, so no pause waits for it; only a
// heap-goal trigger in concurrent mode returns at once (the allocating
// mutator keeps running while the heap is marked). So root scanners, the
// verifier and the cycle hook always run on the driver thread.
//
// Phases (phase(); Go's gcphase together with the steps of gcStart and
// gcMarkDone):
//
//   kOff / kSweep --request--> kSweepTermination --> kMark
//   kMark --(final pause: no grey work left)--> kMarkTermination --> kSweep
//   kMark --(the same, and finalizer registrations exist)-->
//       kMarkFinalizers --(final pause B: no grey work)--> kMarkTermination
//   kSweep --(the background sweeper found nothing left)--> kOff
//
//   kSweepTermination  the driver sweeps what the last cycle left while the
//       mutators run, stops the world (the first pause), waits for sweeps
//       still in flight and resets every mutator's mark state.
//   kMark  every mcache syncs its cached spans (MCache::StartMark).
//       Stop-the-world mode: every worker marks from the roots inside
//       the pause (the mutators' own roots claimed one by one).
//       Concurrent mode: snapshot the heap's roots' values and conservative
//       ranges' words, mark every mutator's own roots pending (each mutator
//       scans them as it resumes, the collector those of blocked ones:
//       docs/collector.md, "The per-thread root snapshot"), barrier and
//       allocate-black on, restart the world, shade the snapshot; background
//       workers, mark assists and the barrier mark while the mutators run;
//       ragged flushes of the barrier buffers; then the final pause flushes
//       every buffer and drains what that greyed for kDrainInPauseNs; grey
//       work left over restarts the world and concurrent marking (at most
//       kMaxMarkRestarts times; the last attempt drains everything in the
//       pause). The phase stays kMark through those attempts.
//   kMarkFinalizers  (only when some object has a finalizer or guardian
//       registration; gc/finalize.h) strong marking is complete. The marker
//       switches to revive mode; concurrent mode restarts the world; the
//       decision: candidates, pass 1 from the ordered ones, the ready ones
//       queued and revived; then marking finishes as in kMark (ragged
//       flushes, final pause B). Stop-the-world mode does it in the pause.
//   kMarkTermination  (world stopped, no grey object anywhere) barrier off,
//       mcaches flushed (marking what they allocated black) and their
//       allocate-black counts summed, marks verified
//       (optional), heap_live := marked bytes, sweepgen += 2, next goal and
//       trigger; the world restarts.
//   kSweep  the background sweeper is woken; statistics, gctrace and the
//       cycle hook. Allocation sweeps lazily meanwhile.
//
// Invariants:
//  - one cycle at a time: only the driver thread runs cycles;
//  - the world is stopped whenever the phase is kMarkTermination, and
//    during all of kMark in stop-the-world mode;
//  - the write barrier is on exactly during a concurrent kMark;
//  - nothing is marked before sweep termination has finished the previous
//    cycle's sweep, and nothing is swept while marking (the sweepgen flip
//    is in mark termination);
//  - mark termination begins only once every mutator's own roots have been
//    scanned for this cycle (World::ThreadRootScansDone);
//  - no pause runs at the same time as the scavenger.
// docs/collector.md gives the argument that no live object is lost;
// gc/pacer.h the trigger, goal and assist ratio.
#ifndef GCHEAP_GC_COLLECTOR_H_
#define GCHEAP_GC_COLLECTOR_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "gc/conservative.h"
#include "gc/cpu_limiter.h"
#include "gc/events.h"
#include "gc/finalize.h"
#include "gc/idle_worker.h"
#include "gc/mark.h"
#include "gc/pacer.h"
#include "gc/roots.h"
#include "gc/stats.h"
#include "gc/sweeper.h"
#include "gc/typeinfo.h"
#include "gc/unbarriered.h"
#include "gc/weak.h"
#include "gc/workers.h"
#include "gc/world.h"
#include "heap/mheap.h"

namespace gcheap {

struct CollectorConfig {
  int gc_percent = 100;       // < 0: no automatic collection by heap goal
  size_t memory_limit = 0;    // soft limit on in-use span bytes (0: none)
  size_t min_heap = 4 << 20;  // the goal never drops below this
  int workers = 0;      // processors to plan mark workers for (0: the default)
  bool verify = false;  // checkmark after every cycle
  bool stop_the_world = true;  // false: mark concurrently with mutators
  bool trace = false;          // one gctrace line per cycle on stderr
  uintptr_t tag_mask = 0;      // bits stripped from a word before lookup
  // Ambiguous data words retain an object only through its start or a
  // registered displacement (gc/conservative.h, rule 5).
  bool ambiguous_displacements = false;
};

// The values are the public GC_PHASE_* constants (runtime/gc.h), which
// only ever grow: kMarkFinalizers came after the others.
enum class GcPhase : uint8_t {
  kOff = 0,
  kSweepTermination = 1,
  kMark = 2,
  kMarkFinalizers = 5,
  kMarkTermination = 3,
  kSweep = 4,
};
const char* GcPhaseName(GcPhase p);
// Whether the cycle may go from one phase to the other (the diagram
// above); debug builds check every transition.
bool LegalPhaseTransition(GcPhase from, GcPhase to);

using CycleHook = std::function<void(const CycleInfo&)>;

class Collector {
 public:
  // Concurrent mark termination. Ragged flushes of the barrier buffers
  // (each followed by background marking if it greyed anything) before
  // the final pause:
  static constexpr int kRaggedFlushRounds = 3;
  // Final pauses that may hand grey work back to concurrent marking:
  static constexpr int kMaxMarkRestarts = 4;
  // Grey work a final pause drains itself before it restarts the world:
  static constexpr int64_t kDrainInPauseNs = 20'000;
  // A stop-the-world mark expected to scan less than this (the pacer's
  // estimate from the last cycle) runs on the driver alone (Mark).
  static constexpr double kSmallMarkScanBytes = 1 << 20;
  // Precleaning with an UnbarrieredStores (gc/unbarriered.h): at most this
  // many rounds; another round follows one that found at least
  // kPrecleanMinPages pages and, after the first, at most 3/4 of what the
  // round before it found (fewer pages found each round: the program
  // writes slower than the rounds clean).
  static constexpr int kMaxPrecleanRounds = 4;
  static constexpr uint64_t kPrecleanMinPages = 32;
  // The final pause with an UnbarrieredStores drains what its rescan
  // greyed on the driver alone for up to this long before every worker
  // helps: that work is usually small (the roots and a few pages), and
  // waking the workers and waiting for the last to finish costs two
  // scheduling latencies (milliseconds on a loaded machine).
  static constexpr int64_t kDrainAloneNs = 500'000;

  // events: the heap's event bus (gc/events.h), which also gives the
  // clock origin; null: the collector keeps one of its own.
  Collector(MHeap* heap, const TypeTable* types, const RootSet* roots,
            World* world, const CollectorConfig& config,
            EventBus* events = nullptr);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Requests a cycle and waits for it to finish. The calling thread must be
  // one the World does not wait for (a mutator in a blocking region, or no
  // mutator). With finish_sweep, also sweeps the whole heap before
  // returning (an explicit gc_collect). If `only_if_cycle` is not ~0 and a
  // cycle other than that one already ran, returns without collecting
  // (automatic triggers that raced). A kHeapGoal request joins a cycle
  // already requested or running; in concurrent mode it does not wait for
  // it unless the heap has passed the hard goal.
  void Collect(GcReason reason, bool finish_sweep,
               uint64_t only_if_cycle = ~uint64_t{0});
  // Concurrent mode: a mutator whose heap grew past the hard goal
  // (Pacer::hard_goal) while a cycle is marking waits for the cycle to
  // finish: the backstop behind mark assists. (A heap-goal Collect waits
  // the same way while the cycle is still starting.)
  void WaitIfOverGoal();
  // The heap has passed the hard goal and the CPU limiter is off: the
  // condition for allocation to wait for a cycle in progress. Never true
  // with no goal.
  bool OverHardGoal() const {
    return !limiter_.limited() &&
           heap_->heap_live().load(std::memory_order_relaxed) >=
               static_cast<int64_t>(hard_goal_.load(std::memory_order_relaxed));
  }

  // True when heap_live reached the trigger: the allocating mutator should
  // collect.
  bool TriggerReached() const {
    if (auto_disabled_.load(std::memory_order_relaxed) != 0) return false;
    return heap_->heap_live().load(std::memory_order_relaxed) >=
           static_cast<int64_t>(trigger_.load(std::memory_order_relaxed));
  }
  uint64_t cycles() const { return cycles_.load(std::memory_order_acquire); }
  GcPhase phase() const { return phase_.load(std::memory_order_acquire); }

  // The phase as a weak read sees it (gc/weak.h). The phases that matter
  // begin and end while the world is stopped, so a mutator reads it
  // between safepoints without a race.
  WeakPhase weak_phase() const {
    switch (phase_.load(std::memory_order_acquire)) {
      case GcPhase::kMark:
        return WeakPhase::kMark;
      case GcPhase::kMarkFinalizers:
        return WeakPhase::kMarkFinalizers;
      default:
        return WeakPhase::kSweep;
    }
  }

  // ---- concurrent marking (mutator side, gc/mark_assist.cc) ---------------
  // True during a concurrent mark phase, the finalizer phase included (the
  // write barrier is on).
  bool marking() const {
    const GcPhase p = phase_.load(std::memory_order_relaxed);
    return concurrent_ &&
           (p == GcPhase::kMark || p == GcPhase::kMarkFinalizers);
  }
  // Charges a mutator's mark assist for `bytes` its mcache took while
  // marking (MCache::TakeAllocatedBytes: a refill's free slots, a large
  // object), on the mutator's thread at its next safepoint; a mutator in
  // debt assists. (Its mcache marks what it allocates black, in bulk.)
  void ChargeAssist(MutatorGcState* st, uint64_t bytes);
  // The mutator still owes assist work after ChargeAssist or Assist (no
  // credit to steal, nothing in the pool to mark) and credit may still
  // come: the cycle is marking, background workers run (BackgroundMark),
  // and the CPU limiter is off.
  bool InAssistDebt(const MutatorGcState* st) const;
  bool CreditMayCome() const;
  // Testing seam: mutators in assist debt wait as though background
  // workers were marking (they make no credit). Set it with no cycle
  // marking, or wake the waiters after clearing it (WakeAssistWaiters).
  void SetBackgroundMarkingForTesting(bool on) { bg_marking_for_testing_ = on; }
  bool AssistWaitingForTesting() const {
    return assist_wanted_.load(std::memory_order_relaxed) > 0;
  }
  // WaitForAssistCredit calls so far (all cycles).
  uint64_t AssistWaitsForTesting() const {
    return assist_waits_.load(std::memory_order_relaxed);
  }
  // Testing seams for the credit wait's wakeups: the backstop timeout of
  // each wait (1 ms; a test lengthens it so that only a notification ends
  // a wait), and background credit published as a worker does.
  void SetAssistWaitTimeoutForTesting(std::chrono::nanoseconds t) {
    assist_wait_timeout_ns_.store(t.count(), std::memory_order_relaxed);
  }
  void PublishBgCreditForTesting(int64_t scanned) { PublishBgCredit(scanned); }
  // For a mutator in debt, counted as blocked: returns once background
  // workers have banked credit for its whole debt, a worker has put work
  // into the pool for the assists (OfferAssistWork), marking has ended or
  // the limiter is on. The caller then assists again (running):
  // gc_safepoint_slow's loop.
  void WaitForAssistCredit(const MutatorGcState* st);
  // Assist for a mutator that is running: steal credit, mark (public for
  // the safepoint's loop; ChargeAssist calls it).
  void Assist(MutatorGcState* st);
  void WakeAssistWaiters();
  // A background worker put work into the pool on the idle worker's
  // request (WorkPool::RequestWork): mutators waiting for credit wake to
  // mark it too.
  void OfferAssistWork();
  // A mutator that detaches while marking hands over its black counts
  // (MCache::TakeBlackCounts, after its last ReleaseAll).
  void AddBlack(const MCache::BlackCounts& b) {
    extra_objects_.fetch_add(b.objects, std::memory_order_relaxed);
    extra_bytes_.fetch_add(b.bytes, std::memory_order_relaxed);
  }
  // Greys buffered write-barrier values (old and new pointer values).
  void ShadeBuffered(const uintptr_t* values, size_t n);
  // Greys what `scan` reports to its RootVisitor: a mutator's per-thread
  // root snapshot, scanned by the mutator itself (runtime/thread_roots.h).
  // Any thread, between the first pause and the end of marking.
  void ShadeThreadRoots(absl::FunctionRef<void(RootVisitor&)> scan);

  CollectorStats ReadStats() const { return stats_.Read(); }
  // Contention counters of the collector's shared structures, cumulative
  // (the work pool's as of the last finished cycle).
  struct Counters {
    uint64_t mark_races = 0;   // mark bits lost to another marker's OR
    uint64_t pool_ops = 0;     // work-pool lock acquisitions
    uint64_t pool_waits = 0;   // ... that found the lock held
    uint64_t pool_steals = 0;  // full buffers taken from the pool
  };
  Counters ReadCounters() const;
  // Weak references' records and rules (gc/weak.h).
  WeakProcessor& weak() { return weak_; }
  // Finalization's registrations and queues (gc/finalize.h).
  Finalization& finalization() { return finalization_; }
  // The valid displacements of ambiguous data words, or null when any
  // interior pointer retains (config.ambiguous_displacements off).
  Displacements* displacements() {
    return config_.ambiguous_displacements ? &displacements_ : nullptr;
  }
  // Lock-free: the current heap goal (~0 when there is none) and the bytes
  // the last cycle marked (gc_get_counters).
  uint64_t heap_goal() const {
    return heap_goal_.load(std::memory_order_relaxed);
  }
  uint64_t last_live_bytes() const {
    return live_bytes_.load(std::memory_order_relaxed);
  }
  EventBus* events() const { return events_; }
  const CollectorConfig& config() const { return config_; }
  int workers() const { return nworkers_; }
  // Workers that took part in the last stop-the-world mark (0 before one;
  // 1 for a small one, kSmallMarkScanBytes).
  int last_mark_workers() const {
    return last_mark_workers_.load(std::memory_order_relaxed);
  }
  // Called after every cycle, once the world runs again, on the driver
  // thread. It must not call into the heap.
  void SetCycleHook(CycleHook hook);
  // The steps of the last completed cycle's first and last pause (set
  // before its cycle hook runs; read it from the hook, on the driver
  // thread).
  const PauseSteps& last_pause_steps() const { return last_pause_steps_; }
  // World hooks: `stopped` runs on the driver thread once every mutator
  // has stopped (every pause; in the first one after the sweeps still in
  // flight have finished, since a thread counting as blocked may be one of
  // the sweepers), `restarting` right before they may run again; both
  // inside the pause, and counted in it. The Boehm layer
  // (runtime/boehm) stops its threads, which never poll, with signals
  // there. Set them before the first cycle; they must not call gcheap.
  void SetWorldHooks(std::function<void()> stopped,
                     std::function<void()> restarting);
  // Automatic collections (heap-goal triggers) off while the count is
  // positive (Boehm's GC_disable); explicit Collect still runs.
  void DisableAutoCollect() { auto_disabled_.fetch_add(1); }
  // Mostly-concurrent marking for mutators that store without the write
  // barrier (gc/unbarriered.h): concurrent mode only; set before the first
  // cycle. u must outlive the collector.
  void SetUnbarrieredStores(UnbarrieredStores* u);
  bool unbarriered() const { return unbarriered_ != nullptr; }
  void EnableAutoCollect() { auto_disabled_.fetch_sub(1); }
  // Raises the floor of the trigger and the heap goal to `bytes` (never
  // lowers it): no heap-goal cycle starts while heap_live is below it
  // (Boehm's requested heap size: GC_INITIAL_HEAP_SIZE plus every
  // GC_expand_hp). Any thread; in force at once and after every cycle.
  void RaiseMinHeap(size_t bytes);
  // Replaces the pacer's proportional goal with the embedder's
  // (Pacer::SetGoalFn; the Boehm layer's free-space divisor). Set before
  // the first cycle.
  void SetGoalFn(Pacer::GoalFn fn) { pacer_.SetGoalFn(std::move(fn)); }
  // Credits `bytes` the embedder freed explicitly since the last cycle
  // (Boehm's GC_free): the trigger and the goal move up by them, as if
  // they had not been allocated, but by at most 7 x their distance above
  // the live heap at the last cycle's end, so that at least an eighth of
  // the allocation still counts (Boehm's GC_adj_bytes_allocd). Call while
  // counting as running (no pause in progress).
  void CreditFreed(size_t bytes);
  size_t min_heap_floor() const { return min_heap_floor_.load(); }
  // ---- fork (runtime/process.cc, from pthread_atfork handlers) ----------
  // PrepareFork waits for a cycle in progress to end, stops the driver,
  // the sweeper, the idle worker and the mark workers (joins them: a
  // forked child has only the forking thread) and holds the driver lock, so
  // no cycle runs until AfterForkParent / AfterForkChild. Cycle requests
  // made meanwhile stay pending. The caller must not count as running for
  // the World (the cycle it waits for may need to stop it).
  void PrepareFork();
  // Releases the lock and starts the threads again.
  void AfterForkParent();
  // The same in the child, whose other threads are gone: also drops the
  // requests of threads that no longer exist and resets the condition
  // variables they may have been waiting on.
  void AfterForkChild();

  // Testing seam: called on the driver thread once a concurrent cycle has
  // turned the barrier on and restarted the world, before background
  // marking begins (a test holds marking open by blocking in it).
  void SetMarkPhaseHookForTesting(std::function<void()> hook);
  // Testing seam: called on the driver thread once a concurrent cycle's
  // finalizer phase has restarted the world, before the decision (a test
  // holds the phase open by blocking in it).
  void SetFinalizerPhaseHookForTesting(std::function<void()> hook);
  // Testing seam: the same, after the decision (what it made ready is
  // queued, held back until mark termination), world still running.
  void SetFinalizerDecidedHookForTesting(std::function<void()> hook);
  // Testing seam: called on the driver thread as each phase begins.
  // kMark and kMarkTermination begin with the world stopped: a hook may
  // block only in kSweepTermination (before the first pause) and kSweep.
  void SetPhaseHookForTesting(std::function<void(GcPhase)> hook);
  // Testing seam: called on the driver thread as each stop-the-world pause
  // begins (true: before the stop request) and ends (false: after the
  // restart). Set it while no cycle runs.
  void SetPauseHookForTesting(std::function<void(bool)> hook);
  // Testing seam (tools/weak_read_bench): stops the background sweeper
  // (joins it; a round in progress stops between two spans) and starts it
  // again, resuming the sweep. While it is stopped only allocation and
  // gc_collect sweep, so a cycle's spans stay unswept after the flip until
  // the caller allocates. Call both while no cycle runs.
  void StopBackgroundSweeperForTesting() { sweeper_.Stop(); }
  void StartBackgroundSweeperForTesting() { sweeper_.Start(); }
  // Testing seam: called on the idle-priority thread each time it finds a
  // background mark open to it (IdleMarkWorker::SetScoutHookForTesting).
  void SetIdleWorkerHookForTesting(std::function<void()> hook) {
    idle_worker_.SetScoutHookForTesting(std::move(hook));
  }

 private:
  struct MarkTotals {
    uint64_t objects = 0, bytes = 0, scan_work = 0;
    void Add(const MarkTotals& o) {
      objects += o.objects;
      bytes += o.bytes;
      scan_work += o.scan_work;
    }
  };
  // One cycle's bookkeeping, handed from phase to phase.
  struct Cycle {
    CycleInfo info;
    MarkTotals marked;
    int64_t pause_start_ns = 0;  // the current pause's stop request
    int64_t charged_ns = 0;      // pause time charged to the limiter up to
    int64_t resumed_ns = 0;      // when the world last restarted
    PauseSteps steps;            // the first and the current pause
    int64_t lap_ns = 0;          // where the current pause's step began
  };
  // Ends the current pause's step s (in the pause) now, or at `now`.
  static void Lap(Cycle* c, PauseSteps::Step s, int64_t now = NowNs()) {
    uint64_t* steps = c->info.pauses == 0 ? c->steps.first : c->steps.last;
    steps[s] += static_cast<uint64_t>(now - c->lap_ns);
    c->lap_ns = now;
  }

  // The driver thread; and every collector thread again after a fork.
  void StartDriver();
  void StopDriver();
  void RestartThreads();

  // ---- the cycle (collector.cc), in phase order ---------------------------
  void DriverLoop();
  void RunCycle(GcReason reason);
  void SweepTermination(Cycle* c);
  void Mark(Cycle* c);
  void StartConcurrentMark(Cycle* c);
  // Whether an ambiguous word could name a heap object (the root
  // snapshot keeps only those).
  bool MayBeHeapWord(uintptr_t v) const {
    const uintptr_t p = marker_.StripTag(v);
    return p >= 4096 && heap_->MayContain(p);
  }
  void FinishConcurrentMark(Cycle* c);
  class FinalizerMarking;
  void MarkFinalizers(Cycle* c);
  void MarkTermination(Cycle* c);
  void Sweep(Cycle* c);
  void SetPhase(GcPhase p);
  // A pause: the stop request and the restart, with its accounting.
  // call_world_hook false: the caller calls the stopped hook itself
  // (sweep termination, once no sweep is in flight).
  void StopTheWorld(Cycle* c, bool call_world_hook = true);
  void StartTheWorld(Cycle* c);

  // ---- mark workers (gc/mark_workers.cc) ----------------------------------
  // Drains the pool with n workers (the calling thread is one of them).
  // With the world stopped they spin when idle; in the background they
  // sleep, publish assist credit, and worker 0 marks only `fraction` of
  // its time when fraction < 1 (Go's fractional worker).
  // world_stopped_alone: the caller holds the world stopped and nothing
  // but these workers sets mark bits meanwhile (no mcache allocates black,
  // no barrier shades, no idle worker): with one worker the marker then
  // sets mark bits with plain stores (Marker::SetExclusive).
  MarkTotals MarkParallel(WorkPool* pool, bool scan_roots, int n,
                          bool background = false, double fraction = 1.0,
                          bool idle = false, bool world_stopped_alone = false);
  // Background marking with the worker plan (gc/worker_plan.h).
  MarkTotals BackgroundMark();

  // ---- mutator side (gc/mark_assist.cc) -----------------------------------
  void PublishAssistRatio();
  // Background scan work: banked as credit for the mutators' assists and
  // counted as done; wakes waiting mutators once it covers their debts.
  void PublishBgCredit(int64_t scanned);

  MHeap* heap_;
  const TypeTable* types_;
  const RootSet* roots_;
  World* world_;
  const CollectorConfig config_;
  const bool concurrent_;
  // Set before the first cycle (SetUnbarrieredStores); read by the driver.
  UnbarrieredStores* unbarriered_ = nullptr;
  // With an UnbarrieredStores, from its BeforeFirstPause to
  // its EndMark: no span is freed but by a sweep (gc/unbarriered.h says
  // why). The driver's own.
  std::optional<MHeap::SpanHold> unbarriered_hold_;
  class DirtyRescanner;
  // Final pause with an UnbarrieredStores: every heap root marked again,
  // then the dirty pages' marked objects rescanned (world stopped).
  void RescanUnbarriered(Cycle* c);
  // With the world stopped: every mcache returns its cached spans, which
  // marks in bulk what it allocated black during the mark (added to the
  // cycle's marked totals). Afterwards every object allocated so far reads
  // as allocated and, if allocated during the mark, as marked.
  void ReleaseMCaches(Cycle* c);
  // Precleaning rounds before the final pause (world running).
  void PrecleanUnbarriered(Cycle* c);
  const int nworkers_;
  WeakProcessor weak_;  // the heap's sweep hook: before the marker
  Finalization finalization_;
  Displacements displacements_;  // used with config_.ambiguous_displacements
  Marker marker_;
  WorkerPool workers_;
  IdleMarkWorker idle_worker_;
  std::unique_ptr<EventBus> own_events_;  // when none was given
  EventBus* const events_;
  const int64_t start_ns_;  // the collector's clock origin (the bus's)

  std::atomic<GcPhase> phase_{GcPhase::kOff};
  std::atomic<uint64_t> cycles_{0};
  std::atomic<size_t> trigger_;
  // CreditFreed's ceilings, set with the trigger and the goal.
  std::atomic<size_t> trigger_cap_{0}, goal_cap_{0};
  std::atomic<size_t> hard_goal_;  // Pacer::hard_goal(): WaitIfOverGoal's
  std::atomic<uint64_t> heap_goal_, live_bytes_{0};  // gc_get_counters
  // RaiseMinHeap's floor (0: none). Written before the goals are raised,
  // read after EndCycle stores them (seq_cst both), so neither side's
  // update is lost.
  std::atomic<size_t> min_heap_floor_{0};
  std::atomic<int> last_mark_workers_{0};  // written by the driver
  void ApplyMinHeapFloor();
  Pacer pacer_;  // driver thread only (and assists' reads)
  GcCpuLimiter limiter_;
  GcStats stats_;

  // The current cycle's mark state (pause 1 to mark termination).
  std::unique_ptr<WorkPool> pool_;        // grey objects
  std::vector<uintptr_t> root_snapshot_;  // root values taken in pause 1
  // The words of the conservative root ranges that could be heap
  // addresses, copied in pause 1: the first ambiguous_count_ entries (the
  // buffer keeps its size from cycle to cycle and grows before the pause).
  std::vector<uintptr_t> ambiguous_snapshot_;
  size_t ambiguous_count_ = 0;
  // The same for words a root scanner reports as stack or register words
  // (RootVisitor::AmbiguousStack: any interior pointer retains, also where
  // data words need a registered displacement); it keeps its capacity.
  std::vector<uintptr_t> ambiguous_stack_snapshot_;
  // Objects marked outside the mark workers during a concurrent cycle,
  // and adding a worker's marks to them (assists, shading).
  std::atomic<uint64_t> extra_objects_{0}, extra_bytes_{0};
  void CountExtraMarks(const Marker::Worker& w);
  // Whether a BackgroundMark of the current cycle offered the idle worker
  // a processor, and the running mutators its first plan counted.
  std::atomic<bool> idle_worker_used_{false};
  std::atomic<int> running_at_mark_{-1};
  uint64_t idle_slices_at_start_ = 0;  // idle_worker_.slices() (driver)
  // Mark assists of the current concurrent cycle.
  std::atomic<double> assist_ratio_{0};      // scan bytes owed per byte
  std::atomic<int64_t> bg_credit_{0};        // background work not yet stolen
  std::atomic<int64_t> scan_done_{0};        // scan work of this cycle so far
  std::atomic<int> assists_active_{0};       // mutators inside Assist's drain
  std::atomic<uint64_t> assist_ns_{0};       // this cycle
  std::atomic<uint64_t> assist_wait_ns_{0};  // this cycle: WaitForAssistCredit
  // Mutators waiting for background credit: the sum of their debts, and
  // where they sleep.
  std::atomic<int64_t> assist_wanted_{0};
  std::atomic<uint64_t> work_offered_{0};  // OfferAssistWork calls
  std::atomic<uint64_t> assist_waits_{0};  // WaitForAssistCredit calls
  std::atomic<bool> bg_marking_{false};    // BackgroundMark's workers run
  std::atomic<bool> bg_marking_for_testing_{false};
  // The credit wait's backstop (WaitForAssistCredit), in ns.
  std::atomic<int64_t> assist_wait_timeout_ns_{1'000'000};
  std::mutex assist_mu_;
  std::condition_variable assist_cv_;
  std::atomic<uint64_t> bg_cpu_ns_{0};  // this cycle
  // The finished cycles' work-pool counters (folded in at the end of a
  // cycle, when its pool is freed).
  std::atomic<uint64_t> pool_ops_{0}, pool_waits_{0}, pool_steals_{0};

  std::mutex hooks_mu_;
  CycleHook cycle_hook_;                        // guarded by hooks_mu_
  PauseSteps last_pause_steps_;                 // driver thread
  std::function<void()> mark_phase_hook_;       // guarded by hooks_mu_
  std::function<void()> finalizer_phase_hook_;  // guarded by hooks_mu_
  std::function<void()> decided_hook_;          // guarded by hooks_mu_
  std::function<void(GcPhase)> phase_hook_;     // guarded by hooks_mu_
  std::function<void(bool)> pause_hook_;        // driver thread (testing)
  std::atomic<bool> has_phase_hook_{false};
  std::function<void()> world_stopped_hook_;     // set before any cycle
  std::function<void()> world_restarting_hook_;  // set before any cycle
  std::atomic<int> auto_disabled_{0};

  BackgroundSweeper sweeper_;

  // Cycle requests, served by the driver thread.
  std::mutex driver_mu_;
  std::condition_variable driver_cv_;      // wakes the driver
  std::condition_variable cycle_done_cv_;  // wakes waiters
  uint64_t requested_ = 0;  // cycles requested (guarded by driver_mu_)
  uint64_t started_ = 0;    // cycles the driver has begun
  uint64_t done_ = 0;       // cycles the driver has finished
  GcReason requested_reason_ = GcReason::kHeapGoal;
  bool stop_driver_ = false;
  std::thread driver_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_COLLECTOR_H_
