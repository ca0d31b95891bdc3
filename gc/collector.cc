// collector.cc: cycle requests, the driver thread, and the cycle itself,
// phase by phase (see collector.h for the state machine).
#include "gc/collector.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <new>
#include <optional>
#include <string>

#include "gc/conservative.h"
#include "gc/gctrace.h"
#include "gc/verify.h"
#include "gc/worker_plan.h"

namespace gcheap {

namespace {
PacerConfig ToPacerConfig(const CollectorConfig& c) {
  PacerConfig p;
  p.gc_percent = c.gc_percent;
  p.memory_limit = c.memory_limit;
  p.min_heap = c.min_heap;
  p.concurrent = !c.stop_the_world;
  return p;
}
int WorkerCount(const CollectorConfig& c) {
  return c.workers > 0 ? c.workers : DefaultWorkerCount();
}
// Adds `bytes` to `a`, up to `cap` (never lowers it).
template <typename T>
void AddUpTo(std::atomic<T>* a, size_t bytes, size_t cap) {
  T cur = a->load();
  while (cur < cap) {
    const T next = static_cast<T>(std::min<size_t>(cap, cur + bytes));
    if (a->compare_exchange_weak(cur, next)) return;
  }
}
// The ceiling of an explicit-free credit: 8 x the distance above live.
size_t CreditCap(size_t at, size_t live) {
  if (at >= Pacer::kNoGoal || at <= live) return at;
  return std::min(Pacer::kNoGoal, live + 8 * (at - live));
}
}  // namespace

const char* GcPhaseName(GcPhase p) {
  switch (p) {
    case GcPhase::kOff:
      return "off";
    case GcPhase::kSweepTermination:
      return "sweep termination";
    case GcPhase::kMark:
      return "mark";
    case GcPhase::kMarkFinalizers:
      return "mark finalizers";
    case GcPhase::kMarkTermination:
      return "mark termination";
    case GcPhase::kSweep:
      return "sweep";
  }
  return "?";
}

Collector::Collector(MHeap* heap, const TypeTable* types, const RootSet* roots,
                     World* world, const CollectorConfig& config,
                     EventBus* events)
    : heap_(heap),
      types_(types),
      roots_(roots),
      world_(world),
      config_(config),
      concurrent_(!config.stop_the_world),
      nworkers_(WorkerCount(config)),
      weak_(heap, config.tag_mask),
      marker_(heap, types, config.tag_mask, &weak_),
      workers_(nworkers_ - 1),
      own_events_(events == nullptr ? std::make_unique<EventBus>() : nullptr),
      events_(events != nullptr ? events : own_events_.get()),
      start_ns_(events_->origin_ns()),
      pacer_(ToPacerConfig(config)),
      limiter_(nworkers_, start_ns_),
      stats_(pacer_.goal(), pacer_.trigger()),
      sweeper_(
          heap,
          [this] {
            // The end of the sweep phase, unless a new cycle began
            // meanwhile. (FullySwept lets weak reads skip the sweep
            // protocol.)
            GcPhase p = GcPhase::kSweep;
            if (heap_->NoteFullySwept() || heap_->SweepDone()) {
              phase_.compare_exchange_strong(p, GcPhase::kOff,
                                             std::memory_order_acq_rel);
            }
            // Cleanups this round's sweep queued.
            finalization_.Notify();
          },
          events_) {
  trigger_.store(pacer_.trigger());
  heap_goal_.store(pacer_.goal());
  hard_goal_.store(pacer_.hard_goal());
  trigger_cap_.store(CreditCap(pacer_.trigger(), 0));
  goal_cap_.store(CreditCap(pacer_.goal(), 0));
  if (config.ambiguous_displacements)
    marker_.set_displacements(&displacements_);
  heap_->SetSweepHook(&weak_);
  weak_.SetCleanupQueue([this](Cleanup* c) { finalization_.QueueCleanup(c); });
  StartDriver();
}

namespace {
template <typename T>
void StoreMax(std::atomic<T>* a, T v) {
  T cur = a->load();
  while (cur < v && !a->compare_exchange_weak(cur, v)) {
  }
}
}  // namespace

void Collector::RaiseMinHeap(size_t bytes) {
  StoreMax(&min_heap_floor_, bytes);
  ApplyMinHeapFloor();
}

void Collector::CreditFreed(size_t bytes) {
  AddUpTo(&trigger_, bytes, trigger_cap_.load(std::memory_order_relaxed));
  AddUpTo(&heap_goal_, bytes, goal_cap_.load(std::memory_order_relaxed));
  const uint64_t goal = heap_goal_.load();
  if (goal < Pacer::kNoGoal) {
    StoreMax<size_t>(&hard_goal_,
                     static_cast<size_t>(goal * Pacer::kHardGoalFactor));
  }
}

void Collector::ApplyMinHeapFloor() {
  const size_t f = min_heap_floor_.load();
  if (f == 0) return;
  StoreMax<size_t>(&trigger_, f);
  StoreMax<uint64_t>(&heap_goal_, f);
  StoreMax<size_t>(&hard_goal_,
                   static_cast<size_t>(f * Pacer::kHardGoalFactor));
}

Collector::~Collector() {
  StopDriver();  // finishes a cycle in progress first
}  // then the sweeper and the worker threads stop

void Collector::StartDriver() {
  {
    std::lock_guard<std::mutex> g(driver_mu_);
    stop_driver_ = false;
  }
  driver_ = std::thread([this] { DriverLoop(); });
}

void Collector::StopDriver() {
  {
    std::lock_guard<std::mutex> g(driver_mu_);
    stop_driver_ = true;
  }
  driver_cv_.notify_all();
  driver_.join();
}

// ---- fork -----------------------------------------------------------------

void Collector::PrepareFork() {
  StopDriver();  // a cycle in progress ends; requests stay pending
  sweeper_.Stop();
  idle_worker_.Stop();
  workers_.Stop();
  driver_mu_.lock();
}

void Collector::AfterForkParent() {
  // Still holding driver_mu_ (taken last in PrepareFork): not locked again
  // here, while the runtime may hold other heaps' locks taken after it.
  stop_driver_ = false;
  driver_mu_.unlock();
  RestartThreads();
}

void Collector::AfterForkChild() {
  // Threads that waited on these in the parent do not exist here, and a
  // condition variable's waiter bookkeeping would wait for them.
  new (&driver_cv_) std::condition_variable();
  new (&cycle_done_cv_) std::condition_variable();
  // Requests of threads that no longer exist are dropped; the forking
  // thread was not waiting for one.
  started_ = done_ = requested_;
  stop_driver_ = false;
  driver_mu_.unlock();
  RestartThreads();
}

void Collector::RestartThreads() {
  workers_.Start();
  idle_worker_.Start();
  sweeper_.Start();  // resumes a sweep that Stop interrupted
  driver_ = std::thread([this] { DriverLoop(); });
}

void Collector::SetUnbarrieredStores(UnbarrieredStores* u) {
  GC_CHECK(concurrent_, "mostly-concurrent marking needs concurrent mode");
  unbarriered_ = u;
}

void Collector::SetCycleHook(CycleHook hook) {
  std::lock_guard<std::mutex> g(hooks_mu_);
  cycle_hook_ = std::move(hook);
}

void Collector::SetMarkPhaseHookForTesting(std::function<void()> hook) {
  std::lock_guard<std::mutex> g(hooks_mu_);
  mark_phase_hook_ = std::move(hook);
}

void Collector::SetFinalizerPhaseHookForTesting(std::function<void()> hook) {
  std::lock_guard<std::mutex> g(hooks_mu_);
  finalizer_phase_hook_ = std::move(hook);
}

void Collector::SetFinalizerDecidedHookForTesting(std::function<void()> hook) {
  std::lock_guard<std::mutex> g(hooks_mu_);
  decided_hook_ = std::move(hook);
}

void Collector::SetPhaseHookForTesting(std::function<void(GcPhase)> hook) {
  std::lock_guard<std::mutex> g(hooks_mu_);
  has_phase_hook_.store(hook != nullptr, std::memory_order_relaxed);
  phase_hook_ = std::move(hook);
}

void Collector::SetPauseHookForTesting(std::function<void(bool)> hook) {
  std::lock_guard<std::mutex> g(driver_mu_);  // no cycle starts meanwhile
  pause_hook_ = std::move(hook);
}

// The transitions of the state machine (collector.h). kSweep -> kOff is
// the sweeper's (a compare-and-swap in the constructor's callback).
bool LegalPhaseTransition(GcPhase from, GcPhase to) {
  switch (to) {
    case GcPhase::kSweepTermination:
      return from == GcPhase::kOff || from == GcPhase::kSweep;
    case GcPhase::kMark:
      return from == GcPhase::kSweepTermination;
    case GcPhase::kMarkFinalizers:
      return from == GcPhase::kMark;
    case GcPhase::kMarkTermination:
      return from == GcPhase::kMark || from == GcPhase::kMarkFinalizers;
    case GcPhase::kSweep:
      return from == GcPhase::kMarkTermination;
    case GcPhase::kOff:
      return from == GcPhase::kSweep;
  }
  return false;
}

void Collector::SetPhase(GcPhase p) {
  GC_DCHECK(LegalPhaseTransition(phase_.load(), p),
            "illegal collector phase transition");
  phase_.store(p, std::memory_order_release);
  if (events_->active())
    events_->EmitSimple(EventKind::kPhase, static_cast<int>(p));
  if (!has_phase_hook_.load(std::memory_order_relaxed)) return;
  std::function<void(GcPhase)> hook;
  {
    std::lock_guard<std::mutex> g(hooks_mu_);
    hook = phase_hook_;
  }
  if (hook) hook(p);
}

// ---- requests -----------------------------------------------------------

void Collector::Collect(GcReason reason, bool finish_sweep,
                        uint64_t only_if_cycle) {
  std::unique_lock<std::mutex> g(driver_mu_);
  uint64_t target;
  if (reason == GcReason::kHeapGoal) {
    // A cycle ended since the caller saw the trigger: nothing to do.
    if (only_if_cycle != ~uint64_t{0} && cycles() != only_if_cycle) return;
    // Start a cycle unless one is already requested or running.
    if (requested_ == done_) {
      requested_++;
      requested_reason_ = reason;
      driver_cv_.notify_one();
    }
    // Concurrent mode: the mutator keeps allocating while the heap is
    // marked, unless the heap has passed the hard goal: then it waits for
    // the cycle however far it got (the driver may still be sweeping or
    // stopping the world; without this the heap grew without bound until
    // marking began). Stop-the-world mode: it would be stopped anyway.
    if (concurrent_ && !OverHardGoal()) return;
    target = requested_;
  } else {
    // Explicit or allocation failure: a full cycle that starts after this
    // request.
    target = std::max(requested_, started_ + 1);
    requested_ = target;
    requested_reason_ = reason;
    driver_cv_.notify_one();
  }
  cycle_done_cv_.wait(g, [&] { return done_ >= target; });
  g.unlock();
  if (finish_sweep) heap_->FinishSweep();
}

void Collector::DriverLoop() {
  std::unique_lock<std::mutex> g(driver_mu_);
  for (;;) {
    driver_cv_.wait(g, [&] { return stop_driver_ || requested_ > started_; });
    if (stop_driver_) return;
    started_ = requested_;
    const GcReason reason = requested_reason_;
    g.unlock();
    RunCycle(reason);
    g.lock();
    done_ = started_;
    cycle_done_cv_.notify_all();
  }
}

// ---- the cycle ----------------------------------------------------------

void Collector::RunCycle(GcReason reason) {
  Cycle c;
  c.info.reason = reason;
  c.info.concurrent = concurrent_;
  events_->set_cycle(cycles() + 1);  // the number this cycle will get
  if (events_->active()) {
    events_->EmitSimple(EventKind::kCycleStart, static_cast<int>(reason),
                        concurrent_ ? 1 : 0, heap_->heap_live().load());
  }
  SweepTermination(&c);  // ends in the first pause
  Mark(&c);              // ends in the final pause, with no grey object
  MarkTermination(&c);   // ends the final pause
  Sweep(&c);
}

void Collector::SetWorldHooks(std::function<void()> stopped,
                              std::function<void()> restarting) {
  world_stopped_hook_ = std::move(stopped);
  world_restarting_hook_ = std::move(restarting);
}

void Collector::StopTheWorld(Cycle* c, bool call_world_hook) {
  // No system call of the scavenger runs during the pause: one in progress
  // finishes first, before the pause begins.
  heap_->LockScavenger();
  if (pause_hook_) pause_hook_(true);
  c->pause_start_ns = NowNs();
  c->lap_ns = c->pause_start_ns;
  if (c->info.pauses == 0) c->info.start_ns = c->pause_start_ns;
  if (c->info.pauses > 0) {  // a later pause: counted anew
    std::fill(std::begin(c->steps.last), std::end(c->steps.last), 0);
  }
  if (c->resumed_ns != 0) c->info.mark_ns += c->pause_start_ns - c->resumed_ns;
  c->charged_ns = c->pause_start_ns;
  if (events_->active()) {
    Event e;
    e.kind = EventKind::kStopRequested;
    e.count = c->info.pauses + 1;
    events_->Emit(e, c->pause_start_ns);
  }
  world_->StopTheWorld();
  if (events_->active()) {
    const int64_t now = NowNs();
    Event e;
    e.kind = EventKind::kMutatorsStopped;
    e.ns = static_cast<uint64_t>(now - c->pause_start_ns);
    events_->Emit(e, now);
  }
  if (call_world_hook) {
    if (world_stopped_hook_) world_stopped_hook_();
    Lap(c, PauseSteps::kStop);
  }
}

void Collector::StartTheWorld(Cycle* c) {
  if (world_restarting_hook_) world_restarting_hook_();
  const int64_t t = world_->StartTheWorld();
  Lap(c, PauseSteps::kRestart, t);
  const uint64_t pause = t - c->pause_start_ns;
  if (c->info.pauses == 0) c->info.pause1_ns = pause;
  c->info.pause2_ns = pause;  // the last one so far
  c->info.pause_ns += pause;
  c->info.pauses++;
  // A pause counts as collector time on every processor.
  limiter_.AddGcTime((t - std::max(c->charged_ns, c->pause_start_ns)) *
                     nworkers_);
  c->resumed_ns = t;
  if (events_->active()) {
    Event e;
    e.kind = EventKind::kMutatorsRestarted;
    e.ns = pause;
    events_->Emit(e, t);
  }
  if (pause_hook_) pause_hook_(false);
  heap_->UnlockScavenger();
}

// Sweep termination: no span may carry last cycle's marks when marking
// begins.
void Collector::SweepTermination(Cycle* c) {
  SetPhase(GcPhase::kSweepTermination);
  // Finish last cycle's sweep while the mutators run (Go's gcStart does);
  // the pause then only waits out sweeps still in flight. The empty spans
  // the last cycle's sweep kept for reuse and nobody took since go back to
  // the page heap (this cycle's stay for allocation during the mark).
  heap_->SweepRemaining();
  heap_->ReleaseEmptySpans(/*only_old=*/true);
  // The copy of the conservative root ranges neither allocates nor faults
  // pages in the pause (unless a range was registered meanwhile): the
  // buffer is sized, and its pages touched, before it.
  if (concurrent_) {
    const size_t need = roots_->conservative_bytes() / sizeof(uintptr_t);
    if (ambiguous_snapshot_.size() < need) ambiguous_snapshot_.resize(need);
  }
  if (unbarriered_ != nullptr) {
    unbarriered_hold_.emplace(heap_);  // to EndMark (gc/unbarriered.h)
    unbarriered_->BeforeFirstPause();
  }
  StopTheWorld(c, /*call_world_hook=*/false);
  heap_->FinishSweep(/*scavenge=*/false);
  weak_.AfterSweepCycle();  // every span swept: no referent record left
  // After the sweeps in flight: a thread the hook stops may be one of the
  // sweepers (counting as blocked while it sweeps, as gc_collect does).
  if (world_stopped_hook_) world_stopped_hook_();
  Lap(c, PauseSteps::kStop);
  world_->ForEachMutatorGcState([](MutatorGcState* st) { *st = {}; });
  c->info.heap_before = heap_->heap_live().load();
  pool_ = std::make_unique<WorkPool>();
  extra_objects_.store(0, std::memory_order_relaxed);
  extra_bytes_.store(0, std::memory_order_relaxed);
  bg_credit_.store(0, std::memory_order_relaxed);
  scan_done_.store(0, std::memory_order_relaxed);
  assist_ns_.store(0, std::memory_order_relaxed);
  assist_wait_ns_.store(0, std::memory_order_relaxed);
  bg_cpu_ns_.store(0, std::memory_order_relaxed);
  idle_worker_used_.store(false, std::memory_order_relaxed);
  running_at_mark_.store(-1, std::memory_order_relaxed);
  idle_slices_at_start_ = idle_worker_.slices();
}

// Mark: starts and ends with the world stopped, and ends with no grey
// object anywhere.
void Collector::Mark(Cycle* c) {
  SetPhase(GcPhase::kMark);
  // Every cached span's allocation state is exact before anything is
  // marked; in concurrent mode the mcaches allocate black from now on.
  world_->ForEachMCache([&](MCache* m) { m->StartMark(concurrent_); });
  if (!concurrent_) {
    // The whole mark inside the pause: worker 0 scans the heap's roots, the
    // workers scan the mutators' own roots (claiming them one by one), and
    // every worker drains.
    // A small mark runs on the driver alone, with plain mark-bit stores:
    // waking the pool threads and their termination polling (they yield
    // while the world is stopped) cost more than a second thread saves on
    // a mark of under kSmallMarkScanBytes (docs/collector.md).
    world_->BeginThreadRootScans();
    const bool small =
        pacer_.measured() && pacer_.ExpectedScan() < kSmallMarkScanBytes;
    const int n = small ? 1 : nworkers_;
    last_mark_workers_.store(n, std::memory_order_relaxed);
    c->marked.Add(MarkParallel(pool_.get(), /*scan_roots=*/true, n,
                               /*background=*/false, /*fraction=*/1.0,
                               /*idle=*/false, /*world_stopped_alone=*/true));
    Lap(c, PauseSteps::kDrain);  // the roots' scan included
  } else {
    StartConcurrentMark(c);
    FinishConcurrentMark(c);
  }
  // Strong marking is complete: the finalizer phase, if there are
  // registrations.
  MarkFinalizers(c);
}

void Collector::StartConcurrentMark(Cycle* c) {
  // Still in the first pause. Snapshot the roots' values; they are shaded
  // once the world runs again (resolving a value costs cache misses;
  // copying it does not). The values are what the snapshot needs: the
  // objects they name stay allocated (nothing is swept while marking).
  // The conservative ranges (and the ambiguous ranges a root scanner
  // reports) are copied, not scanned, in the pause: the copy reads each
  // word once and keeps those that could be heap addresses; resolving and
  // greying them waits for the restart (docs/benchmarks.md measures both
  // for 16 MiB). Root scanners get a RootVisitor as their context here as
  // in every other scan (the Boehm layer's reports thread stacks as
  // ambiguous ranges).
  class Snapshot final : public RootVisitor {
   public:
    explicit Snapshot(Collector* c) : c_(c) {}
    void Slot(void** slot) override {
      c_->root_snapshot_.push_back(Marker::LoadSlot(slot));
    }
    void Ambiguous(const void* lo, const void* hi) override {
      ForEachAmbiguousWord(lo, hi, [&](uintptr_t v) {
        size_t& k = c_->ambiguous_count_;
        if (GC_UNLIKELY(k == c_->ambiguous_snapshot_.size())) {
          c_->ambiguous_snapshot_.resize(2 * k + 1024);  // registered since
        }
        if (c_->MayBeHeapWord(v)) c_->ambiguous_snapshot_[k++] = v;
      });
    }
    void AmbiguousStack(const void* lo, const void* hi) override {
      ForEachAmbiguousWord(lo, hi, [&](uintptr_t v) {
        if (c_->MayBeHeapWord(v)) c_->ambiguous_stack_snapshot_.push_back(v);
      });
    }

   private:
    Collector* const c_;
  };
  root_snapshot_.clear();
  ambiguous_count_ = 0;
  ambiguous_stack_snapshot_.clear();
  Snapshot snapshot(this);
  roots_->VisitAll(snapshot);
  // Each mutator's own roots: scanned by the mutator before it runs again,
  // or by a collector thread while it stays blocked.
  world_->BeginThreadRootScans();
  if (events_->active()) {
    // The heap's roots (precise values and ambiguous words) are taken;
    // each mutator's own roots are scanned after the pause.
    events_->EmitSimple(EventKind::kRootsScanned, 0,
                        root_snapshot_.size() + ambiguous_count_ +
                            ambiguous_stack_snapshot_.size());
  }
  pacer_.StartMark(c->info.heap_before);
  PublishAssistRatio();
  world_->SetWriteBarrier(true);  // and allocate-black (gc_alloc checks it)
  Lap(c, PauseSteps::kRoots);
  // Stores without the barrier: recorded from here on (no object has been
  // scanned yet).
  if (unbarriered_ != nullptr) {
    GC_DCHECK(unbarriered_hold_.has_value(),
              "no SpanHold from SweepTermination at BeginMark");
    unbarriered_->BeginMark();
  }
  Lap(c, PauseSteps::kDirty);
  StartTheWorld(c);
  ShadeBuffered(root_snapshot_.data(), root_snapshot_.size());
  {
    Marker::Worker w(&marker_, pool_.get());
    for (size_t i = 0; i < ambiguous_count_; i++) {
      MarkAmbiguous(&marker_, &w, ambiguous_snapshot_[i]);
    }
    for (uintptr_t v : ambiguous_stack_snapshot_) {
      MarkAmbiguous(&marker_, &w, v, AmbiguousSource::kStack);
    }
    CountExtraMarks(w);
  }
  {
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> g(hooks_mu_);
      hook = mark_phase_hook_;
    }
    if (hook) hook();
  }
}

// Background marking until no grey object is left, ending in a final pause
// (the world stays stopped).
void Collector::FinishConcurrentMark(Cycle* c) {
  // Concurrent mark, then the ragged barrier: every running mutator shades
  // its own barrier buffer; if that greyed anything, mark it and ask again.
  // The final pause then finds little in the buffers.
  c->marked.Add(BackgroundMark());
  for (int round = 0; round < kRaggedFlushRounds; round++) {
    world_->RaggedFlushWriteBarrierBuffers();
    if (pool_->nfull() == 0) break;
    c->marked.Add(BackgroundMark());
  }
  if (unbarriered_ != nullptr) PrecleanUnbarriered(c);

  // The final pause. Mutators may have buffered barrier values since the
  // workers ran dry: flush them. Most shade objects that are already
  // black; what they grey is drained here for at most kDrainInPauseNs. If
  // grey work is left after that, restart the world, mark it concurrently
  // and try again (the last attempt drains it all).
  for (int attempt = 0;; attempt++) {
    StopTheWorld(c);
    world_->FlushWriteBarrierBuffers();
    if (unbarriered_ != nullptr) {
      // Roots and written pages rescanned: drain what that greyed here,
      // on this thread alone for up to kDrainAloneNs, then with every
      // worker (below). (Restarting would mean re-arming the source for
      // the pages just rescanned, which costs more than the drain: with
      // mprotect, one call per run of pages.)
      RescanUnbarriered(c);
      break;
    }
    if (attempt == kMaxMarkRestarts) break;
    {
      Marker::Worker w(&marker_, pool_.get());
      const int64_t drain_start = NowNs();
      while (NowNs() - drain_start < kDrainInPauseNs &&
             marker_.DrainSome(&w, 64)) {
      }
      c->marked.Add({w.marked_objects, w.marked_bytes, w.scanned_bytes});
    }
    Lap(c, PauseSteps::kDrain);
    if (pool_->nfull() == 0) return;
    StartTheWorld(c);
    c->marked.Add(BackgroundMark());
  }
  // After kMaxMarkRestarts: drain the rest with every worker. (Waking the
  // worker threads alone costs tens of microseconds.)
  if (pool_->nfull() != 0) {
    c->marked.Add(MarkParallel(pool_.get(), /*scan_roots=*/false, nworkers_));
  }
  Lap(c, PauseSteps::kDrain);
}

// The final pause's rescan of dirty pages (gc/unbarriered.h).
class Collector::DirtyRescanner final : public PageRescanner {
 public:
  DirtyRescanner(MHeap* h, Marker* m, Marker::Worker* w)
      : heap_(h), m_(m), w_(w) {}
  void RescanPages(MSpan* s, uintptr_t lo, uintptr_t hi) override {
    // A span tracked when the mark began may have been freed since (empty
    // spans go back to the page heap before it grows, even while marking):
    // its bitmaps are gone and it holds no object.
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse) return;
    if (NoScan(s->spanclass)) return;
    lo = std::max(lo, s->start);
    hi = std::min(hi, s->limit);
    if (lo >= hi) return;
    ObjectRef r;
    r.span = s;
    if (s->is_large()) {
      // One object: only the words on the pages (a huge array's rescan
      // stays proportional to what was written).
      r.index = 0;
      r.base = s->start;
      if (s->IsMarked(0)) m_->ScanRange(w_, r, lo - s->start, hi - s->start);
      return;
    }
    // Small objects: queued again as grey, so that the final drain's
    // workers rescan them in parallel. In a precleaning round (world
    // running) an mcache may still hold the span: what it allocated during
    // the mark is black but reads as unmarked until the mcache marks it in
    // bulk, and as free while its allocation window is open. Such an
    // object counts (IsMarkedOrBlack, and allocated below the open
    // window's cursor: AllocatedPrefix); skipped, a pointer stored into it
    // before the round's re-arm would be seen by nothing (its page is
    // clean again, and the final pause finds it marked, so never scans
    // it). In the final pause every mcache has released its spans
    // (ReleaseMCaches): the same test reads the mark bits.
    const size_t window = s->cache_seq.load(std::memory_order_acquire) & 1
                              ? heap_->SpanAllocatedPrefix(s)
                              : 0;
    for (size_t i = s->ObjIndex(lo), last = s->ObjIndex(hi - 1); i <= last;
         i++) {
      if (!(i < window || s->IsAllocated(i)) || !s->IsMarkedOrBlack(i)) {
        continue;
      }
      w_->gcw.Put(s->start + i * s->elemsize);
    }
  }

 private:
  MHeap* const heap_;
  Marker* const m_;
  Marker::Worker* const w_;
};

void Collector::ReleaseMCaches(Cycle* c) {
  world_->ForEachMCache([&](MCache* m) {
    m->ReleaseAll();
    const MCache::BlackCounts b = m->TakeBlackCounts();
    c->marked.objects += b.objects;
    c->marked.bytes += b.bytes;
  });
}

void Collector::PrecleanUnbarriered(Cycle* c) {
  uint64_t last = 0;
  for (int round = 0; round < kMaxPrecleanRounds; round++) {
    uint64_t pages;
    {
      // The world runs; unbarriered_hold_ keeps every span the round reads.
      Marker::Worker w(&marker_, pool_.get());
      DirtyRescanner r(heap_, &marker_, &w);
      pages = unbarriered_->Preclean(r);
      c->marked.Add({w.marked_objects, w.marked_bytes, w.scanned_bytes});
    }  // the worker's buffers go to the pool
    if (pool_->nfull() != 0) c->marked.Add(BackgroundMark());
    if (pages < kPrecleanMinPages) break;
    if (round > 0 && pages * 4 > last * 3) break;
    last = pages;
  }
}

void Collector::RescanUnbarriered(Cycle* c) {
  // Objects allocated black during the mark were never scanned, and plain
  // stores may have put the only pointer to a white object into one: the
  // rescan below visits the marked objects of dirty pages, so they must
  // read as allocated and marked first (bulk allocate-black leaves them
  // free or unmarked while their span is cached). The world is not
  // restarted before mark termination, so nothing allocates meanwhile.
  ReleaseMCaches(c);
  Marker::Worker w(&marker_, pool_.get());
  // Every heap root again (the roots' values changed with plain stores;
  // the Boehm layer reports the stopped threads' stacks here).
  RootMarker rm(&marker_, &w);
  roots_->VisitAll(rm);
  Lap(c, PauseSteps::kRoots);
  DirtyRescanner r(heap_, &marker_, &w);
  unbarriered_->RescanDirty(r);
  Lap(c, PauseSteps::kDirty);
  // What that greyed: on this thread alone for up to kDrainAloneNs; the
  // rest (FinishConcurrentMark) with every worker.
  const int64_t drain_start = NowNs();
  while (NowNs() - drain_start < kDrainAloneNs && marker_.DrainSome(&w, 64)) {
  }
  c->marked.Add({w.marked_objects, w.marked_bytes, w.scanned_bytes});
}

// The decision's view of the marker (gc/finalize.h): a worker of the
// driver's own, flushed to the pool before each drain.
class Collector::FinalizerMarking final : public CandidateMarker {
 public:
  FinalizerMarking(Collector* c, Cycle* cy) : c_(c), cy_(cy) {
    w_.emplace(&c_->marker_, c_->pool_.get());
  }
  ~FinalizerMarking() override { Flush(); }
  // Objects allocated black during the mark count as marked before their
  // mcache marks them in bulk (MSpan::IsMarkedOrBlack): a registration
  // made during the mark may name one.
  bool Marked(uintptr_t base) override {
    ObjectRef r;
    return c_->heap_->FindObject(base, &r) && r.span->IsMarkedOrBlack(r.index);
  }
  void MarkReferents(uintptr_t base, bool skip_self) override {
    c_->marker_.ScanCandidate(&*w_, base, skip_self);
  }
  void MarkObject(uintptr_t base) override {
    ObjectRef r;
    if (c_->heap_->FindObject(base, &r)) c_->marker_.GreyObject(&*w_, r);
  }
  void Drain() override {
    Flush();
    if (c_->concurrent_ && c_->unbarriered_ == nullptr) {
      // With the mutators running: their barrier buffers may hold what a
      // candidate pointed to; shade them before the decision reads marks.
      cy_->marked.Add(c_->BackgroundMark());
      c_->world_->RaggedFlushWriteBarrierBuffers();
      if (c_->pool_->nfull() != 0) cy_->marked.Add(c_->BackgroundMark());
    } else {
      cy_->marked.Add(c_->MarkParallel(c_->pool_.get(), /*scan_roots=*/false,
                                       c_->nworkers_));
    }
    w_.emplace(&c_->marker_, c_->pool_.get());
  }

 private:
  void Flush() {
    if (!w_) return;
    cy_->marked.Add({w_->marked_objects, w_->marked_bytes, w_->scanned_bytes});
    w_.reset();  // its buffers go to the pool
  }
  Collector* const c_;
  Cycle* const cy_;
  std::optional<Marker::Worker> w_;
};

// The finalizer phase (gc/finalize.h), between the final pause of strong
// marking (pause A) and mark termination (pause B): only when some object
// has a finalizer or guardian registration. Begins and ends with the world
// stopped and no grey object.
void Collector::MarkFinalizers(Cycle* c) {
  GC_CHECK(pool_->nfull() == 0, "strong marking left work in the pool");
  // The decision treats every unmarked object as unreachable: a mutator's
  // own roots (its stack, handles, scanners) must all have been scanned.
  GC_CHECK(world_->ThreadRootScansDone(),
           "the finalizer phase before every mutator's roots were scanned");
  if (!finalization_.HasRegistrations()) return;
  SetPhase(GcPhase::kMarkFinalizers);
  // Everything marked from here on is revived (the revive bit first).
  marker_.SetRevive(true);
  // Without a barrier (gc/unbarriered.h) the world stays stopped: a plain
  // store could hide a candidate's referent from the decision.
  const bool run_concurrently = concurrent_ && unbarriered_ == nullptr;
  const auto run_hook = [&](const std::function<void()>& h) {
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> g(hooks_mu_);
      hook = h;
    }
    if (hook) hook();
  };
  if (run_concurrently) {
    StartTheWorld(c);
    run_hook(finalizer_phase_hook_);
  }
  {
    FinalizerMarking fm(this, c);
    // What it makes ready stays held back until mark termination
    // (Finalization::ReleaseDecided): the mutators may run meanwhile.
    c->info.finalizers_ready = finalization_.Decide(&fm);
  }
  if (run_concurrently) {
    run_hook(decided_hook_);
    FinishConcurrentMark(c);
  } else {
    Lap(c, PauseSteps::kFinalizers);
  }
}

// Mark termination, in the final pause: every reachable object is black.
void Collector::MarkTermination(Cycle* c) {
  GC_CHECK(pool_->nfull() == 0, "mark termination left work in the pool");
  GC_CHECK(world_->ThreadRootScansDone(),
           "mark termination before every mutator's roots were scanned");
  world_->EndThreadRootScans();
  if (unbarriered_ != nullptr) {
    unbarriered_->EndMark();  // marks are final
    unbarriered_hold_.reset();
  }
  SetPhase(GcPhase::kMarkTermination);
  marker_.SetRevive(false);
  world_->SetWriteBarrier(false);
  // The sweepgen flip makes cached spans unswept: return them all. While
  // allocating black, returning a span marks what its mcache allocated
  // from it during the mark; those objects count as marked.
  ReleaseMCaches(c);
  world_->ForEachMCache([](MCache* m) { m->StopAllocateBlack(); });
  // The embedder's weak processing (gc/weak_callbacks.h): marking and the
  // finalizer decision are final (objects allocated black included, just
  // marked in bulk above), nothing is swept yet. Before the verifier,
  // which then checks the graph the callbacks left.
  weak_.callbacks().Run();
  // Objects marked outside the workers, and black by mutators that
  // detached.
  c->marked.objects += extra_objects_.load(std::memory_order_relaxed);
  c->marked.bytes += extra_bytes_.load(std::memory_order_relaxed);
  if (events_->active()) {
    events_->EmitSimple(EventKind::kHeapMarked, 0, c->marked.objects,
                        c->marked.bytes);
  }
  c->info.heap_end = static_cast<uint64_t>(heap_->heap_live().load());
  if (config_.verify) {
    c->info.verified_objects =
        VerifyMarks(&marker_, *roots_,
                    [&](RootVisitor& v) { world_->ForEachThreadRoot(v); });
  }
  heap_->heap_live().store(static_cast<int64_t>(c->marked.bytes),
                           std::memory_order_relaxed);
  heap_->StartSweepCycle();
  // The next goal and trigger. The pause so far counts as collector time
  // on every processor (the rest of it is charged at the restart).
  const int64_t now = NowNs();
  limiter_.AddGcTime((now - c->pause_start_ns) * nworkers_);
  c->charged_ns = now;
  c->info.limited = limiter_.Update(now);
  CycleSample sample;
  sample.live_bytes = c->marked.bytes;
  sample.scan_work = c->marked.scan_work;
  sample.heap_at_start = c->info.heap_before;
  sample.heap_at_end = c->info.heap_end;
  sample.concurrent = concurrent_;
  pacer_.EndCycle(sample, c->info.limited);
  trigger_.store(pacer_.trigger(), std::memory_order_relaxed);
  hard_goal_.store(pacer_.hard_goal(), std::memory_order_relaxed);
  heap_goal_.store(pacer_.goal(), std::memory_order_relaxed);
  trigger_cap_.store(CreditCap(pacer_.trigger(), c->marked.bytes),
                     std::memory_order_relaxed);
  goal_cap_.store(CreditCap(pacer_.goal(), c->marked.bytes),
                  std::memory_order_relaxed);
  ApplyMinHeapFloor();
  live_bytes_.store(c->marked.bytes, std::memory_order_relaxed);
  heap_->SetSweepPacing(pacer_.trigger() > c->marked.bytes
                            ? pacer_.trigger() - c->marked.bytes
                            : 0);
  c->info.cycle = cycles_.fetch_add(1, std::memory_order_acq_rel) + 1;
  // The clearing point is behind: what the finalizer decision made ready
  // may be run and popped (the mutators see the sweep phase when they
  // can).
  finalization_.ReleaseDecided();
  SetPhase(GcPhase::kSweep);
  Lap(c, PauseSteps::kTermination);
  StartTheWorld(c);
}

Collector::Counters Collector::ReadCounters() const {
  Counters c;
  c.mark_races = marker_.mark_races();
  c.pool_ops = pool_ops_.load(std::memory_order_relaxed);
  c.pool_waits = pool_waits_.load(std::memory_order_relaxed);
  c.pool_steals = pool_steals_.load(std::memory_order_relaxed);
  return c;
}

// Sweep: the world runs; spans are swept by allocation and the background
// sweeper. The cycle's record is published.
void Collector::Sweep(Cycle* c) {
  // Mutators waiting for assist credit: marking is over. (Not in the
  // pause: a world hook may have stopped a waiter holding assist_mu_.)
  WakeAssistWaiters();
  if (unbarriered_ != nullptr) unbarriered_->AfterMark();
  sweeper_.Wake();
  pool_ops_.fetch_add(pool_->lock_acquires(), std::memory_order_relaxed);
  pool_waits_.fetch_add(pool_->lock_waits(), std::memory_order_relaxed);
  pool_steals_.fetch_add(pool_->steals(), std::memory_order_relaxed);
  // Freeing the work buffers takes a while: after the pause.
  pool_.reset();
  CycleInfo& info = c->info;
  if (!concurrent_) {
    info.pause1_ns = info.pause_ns;
    info.mark_ns = info.pause_ns;
  }
  info.assist_ns = assist_ns_.load(std::memory_order_relaxed);
  info.assist_wait_ns = assist_wait_ns_.load(std::memory_order_relaxed);
  info.bg_mark_cpu_ns = bg_cpu_ns_.load(std::memory_order_relaxed);
  info.idle_worker =
      concurrent_ && idle_worker_used_.load(std::memory_order_relaxed);
  info.idle_slices = idle_worker_.slices() - idle_slices_at_start_;
  info.running_mutators =
      std::max(0, running_at_mark_.load(std::memory_order_relaxed));
  info.scan_work = c->marked.scan_work;
  info.live_bytes = c->marked.bytes;
  info.live_objects = c->marked.objects;
  info.heap_goal = pacer_.goal();
  info.trigger = pacer_.trigger();
  info.start_ns -= start_ns_;
  stats_.RecordCycle(info, limiter_.engaged());
  last_pause_steps_ = c->steps;
  if (info.pauses == 1) {  // stop-the-world: the one pause is both
    std::copy(std::begin(c->steps.first), std::end(c->steps.first),
              last_pause_steps_.last);
  }
  if (config_.trace) {
    const std::string line = FormatGcTrace(info, nworkers_, config_.verify);
    fputs(line.c_str(), stderr);
  }
  CycleHook hook;
  {
    std::lock_guard<std::mutex> g(hooks_mu_);
    hook = cycle_hook_;
  }
  if (hook) hook(info);
  if (events_->active()) {
    Event e;
    e.kind = EventKind::kCycleEnd;
    e.cycle = info.cycle;
    e.info = &info;
    events_->Emit(e);
  }
  // Finalizers this cycle made ready: tell the embedder (on-demand mode).
  finalization_.Notify();
}

}  // namespace gcheap
