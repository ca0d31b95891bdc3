#include "gc/collector.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <new>

#include "gc/verify.h"

namespace gcheap {

namespace {
int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
int DefaultWorkers(int configured) {
  if (configured > 0) return configured;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}
double MB(uint64_t b) { return b / 1048576.0; }
int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
PacerConfig ToPacerConfig(const CollectorConfig& c) {
  PacerConfig p;
  p.gc_percent = c.gc_percent;
  p.memory_limit = c.memory_limit;
  p.min_heap = c.min_heap;
  p.concurrent = !c.stop_the_world;
  return p;
}
}  // namespace

Collector::Collector(MHeap* heap, const TypeTable* types, const RootSet* roots,
                     World* world, const CollectorConfig& config)
    : heap_(heap),
      types_(types),
      roots_(roots),
      world_(world),
      config_(config),
      marker_(heap, types, config.tag_mask),
      workers_(DefaultWorkers(config.workers) - 1),
      nworkers_(DefaultWorkers(config.workers)),
      start_ns_(NowNs()),
      pacer_(ToPacerConfig(config)),
      limiter_(DefaultWorkers(config.workers), start_ns_) {
  trigger_.store(pacer_.trigger());
  hard_goal_.store(pacer_.goal() + pacer_.goal() / 10);
  stats_.heap_goal = pacer_.goal();
  stats_.trigger = pacer_.trigger();
  StartThreads();
}

Collector::~Collector() { StopThreads(); }

void Collector::StartThreads() {
  {
    std::lock_guard<std::mutex> g(sweep_mu_);
    stop_ = false;
    sweep_pending_ = true;  // resume an interrupted sweep (else a no-op)
  }
  sweeper_ = std::thread([this] { SweeperLoop(); });
  if (!config_.stop_the_world) {
    {
      std::lock_guard<std::mutex> g(driver_mu_);
      stop_driver_ = false;
    }
    driver_ = std::thread([this] { DriverLoop(); });
  }
}

void Collector::StopThreads() {
  // The driver first: it finishes the cycle it is running (and wakes the
  // sweeper at its end).
  if (driver_.joinable()) {
    {
      std::lock_guard<std::mutex> g(driver_mu_);
      stop_driver_ = true;
    }
    driver_cv_.notify_all();
    driver_.join();
  }
  {
    std::lock_guard<std::mutex> g(sweep_mu_);
    stop_ = true;
  }
  sweep_cv_.notify_all();
  sweeper_.join();
}

void Collector::PrepareFork() {
  StopThreads();
  gc_mu_.lock();  // a stop-the-world cycle on a mutator thread ends first
  workers_.Stop();
  driver_mu_.lock();
}

void Collector::AfterForkParent() {
  driver_mu_.unlock();
  workers_.Start();
  gc_mu_.unlock();
  StartThreads();
}

void Collector::AfterForkChild() {
  // Threads that waited on these in the parent do not exist here, and a
  // condition variable's waiter bookkeeping would wait for them.
  new (&driver_cv_) std::condition_variable();
  new (&cycle_done_cv_) std::condition_variable();
  new (&sweep_cv_) std::condition_variable();
  // Requests of threads that no longer exist are dropped; the forking
  // thread was not waiting for one.
  started_ = done_ = requested_;
  driver_mu_.unlock();
  workers_.Start();
  gc_mu_.unlock();
  StartThreads();
}

void Collector::DriverLoop() {
  std::unique_lock<std::mutex> g(driver_mu_);
  for (;;) {
    driver_cv_.wait(g, [&] { return stop_driver_ || requested_ > started_; });
    if (stop_driver_) return;
    started_ = requested_;
    GcReason reason = requested_reason_;
    g.unlock();
    {
      std::lock_guard<std::mutex> cycle_lock(gc_mu_);
      CollectConcurrent(reason);
    }
    g.lock();
    done_ = started_;
    cycle_done_cv_.notify_all();
  }
}

void Collector::SweeperLoop() {
  std::unique_lock<std::mutex> g(sweep_mu_);
  for (;;) {
    sweep_cv_.wait(g, [&] { return stop_ || sweep_pending_; });
    if (stop_) return;
    sweep_pending_ = false;
    g.unlock();
    // Sweep span by span; each SweepOne holds a locker only for one span,
    // so a new cycle's sweep termination never waits long for us.
    while (heap_->SweepOne() != 0) {
      if (stop_) break;
    }
    // Memory the sweep freed beyond the retention goal goes back to the OS
    // here, off every pause.
    if (!stop_ && heap_->auto_scavenge()) heap_->ScavengeToGoal();
    g.lock();
  }
}

Collector::MarkTotals Collector::MarkParallel(WorkPool* pool_ptr,
                                              bool scan_roots, int n,
                                              bool background, double fraction,
                                              bool idle) {
  WorkPool& pool = *pool_ptr;
  std::atomic<int> nwait{0};
  std::atomic<uint64_t> total_objects{0}, total_bytes{0}, total_scan{0};
  n = std::max(1, std::min(n, workers_.threads() + 1));
  const int nworking = n + (idle ? 1 : 0);  // the idle worker has id n
  workers_.RunParallel(
      n,
      [&](int id) {
        Marker::Worker w(&marker_, &pool);
        const int64_t cpu0 = background ? ThreadCpuNs() : 0;
        const int64_t clock0 = background ? NowNs() : 0;
        uint64_t published = 0;  // scan work already turned into credit
        if (id == 0 && scan_roots) roots_->ForEachRoot(&Marker::VisitSlot, &w);
        for (;;) {
          // Scan in slices; between slices, feed idle workers.
          while (marker_.DrainSome(&w, 256)) {
            if (nwait.load(std::memory_order_relaxed) && pool.nfull() == 0) {
              // The idle worker may lose its processor at any moment: while
              // others wait for work it keeps none back.
              if (id == n) {
                w.gcw.Dispose();
              } else {
                w.gcw.Balance();
              }
            }
            if (!background) continue;
            // Background work pays the mutators' assist debt in advance.
            const int64_t delta =
                static_cast<int64_t>(w.scanned_bytes - published);
            published = w.scanned_bytes;
            bg_credit_.fetch_add(delta, std::memory_order_relaxed);
            scan_done_.fetch_add(delta, std::memory_order_relaxed);
            if (id != 0) continue;
            PublishAssistRatio();
            if (fraction < 1.0) {
              // Fractional worker: mark `fraction` of the time. Ahead of that,
              // hand the local work to the pool (assists and other workers
              // may take it) and sleep.
              const int64_t worked = ThreadCpuNs() - cpu0;
              const int64_t elapsed = NowNs() - clock0;
              const double ahead = worked / fraction - elapsed;
              if (ahead > 50'000) {
                w.gcw.Dispose();
                std::this_thread::sleep_for(std::chrono::nanoseconds(
                    static_cast<int64_t>(std::min(ahead, 2e6))));
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
            if (nwait.load(std::memory_order_acquire) == nworking &&
                assists_active_.load(std::memory_order_seq_cst) == 0 &&
                pool.nfull() == 0) {
              // (An assist holding grey objects keeps the workers waiting: it
              // returns what it has not scanned to the pool.)
              done = true;
              break;
            }
            if (background) {
              // Mutators run meanwhile: do not spin on their processors.
              std::this_thread::sleep_for(std::chrono::microseconds(20));
            } else {
              std::this_thread::yield();
            }
          }
          if (done) break;
        }
        if (background) {
          const int64_t delta =
              static_cast<int64_t>(w.scanned_bytes - published);
          bg_credit_.fetch_add(delta, std::memory_order_relaxed);
          scan_done_.fetch_add(delta, std::memory_order_relaxed);
          const int64_t cpu = ThreadCpuNs() - cpu0;
          bg_cpu_ns_.fetch_add(cpu, std::memory_order_relaxed);
          // Idle marking used processors nobody wanted: not the limiter's.
          if (id != n) limiter_.AddGcTime(cpu);
        }
        total_objects.fetch_add(w.marked_objects, std::memory_order_relaxed);
        total_bytes.fetch_add(w.marked_bytes, std::memory_order_relaxed);
        total_scan.fetch_add(w.scanned_bytes, std::memory_order_relaxed);
      },
      idle);
  // With the world stopped nobody else adds work; during a concurrent mark
  // a mutator may flush barrier values after the workers finished (the
  // final pause drains them).
  GC_CHECK(!scan_roots || pool.nfull() == 0,
           "mark finished with work left in the pool");
  return {total_objects.load(), total_bytes.load(), total_scan.load()};
}

Collector::MarkTotals Collector::BackgroundMark() {
  // Go's plan: 25% of the processors; whole dedicated workers when that
  // rounds to within 30%, else one fewer and a fractional worker for the
  // rest (on 2 processors: one worker marking half of its time).
  const double goal = 0.25 * nworkers_;
  int dedicated = static_cast<int>(goal + 0.5);
  double fraction = 0;
  if (dedicated > goal * 1.3) {
    dedicated--;
    fraction = goal - dedicated;
  }
  // Go's idle mark worker: when a whole processor is left over after the
  // running mutators and the dedicated workers, the idle-priority worker
  // marks on it (gc/workers.h), sharing it with the fractional worker if
  // there is one. Decided once per mark phase.
  const bool idle = nworkers_ - world_->RunningMutators() - dedicated >= 1;
  if (idle) idle_worker_used_.store(true, std::memory_order_relaxed);
  if (fraction > 0) {
    // Worker 0 (the driver) is the fractional one.
    return MarkParallel(pool_.get(), false, dedicated + 1, true, fraction,
                        idle);
  }
  return MarkParallel(pool_.get(), false, std::max(1, dedicated), true, 1.0,
                      idle);
}

void Collector::RecordPause(uint64_t ns) {
  std::lock_guard<std::mutex> g(stats_mu_);
  stats_.pause_total_ns += ns;
  stats_.pause_last_ns = ns;
  stats_.pause_max_ns = std::max(stats_.pause_max_ns, ns);
  uint64_t us = ns / 1000;
  int b = 0;
  while (b < kPauseBuckets - 1 && (uint64_t{1} << b) <= us) b++;
  stats_.pause_hist[b]++;
  stats_.recent_pauses[stats_.cycles % CollectorStats::kRecentPauses] = ns;
}

void Collector::Collect(GcReason reason, bool finish_sweep,
                        uint64_t only_if_cycle) {
  if (!config_.stop_the_world) {
    std::unique_lock<std::mutex> g(driver_mu_);
    if (reason == GcReason::kHeapGoal) {
      // Start a cycle unless one is already requested or running.
      if (only_if_cycle != ~uint64_t{0} && cycles() != only_if_cycle) return;
      if (requested_ == done_) {
        requested_++;
        requested_reason_ = reason;
        driver_cv_.notify_one();
      }
      return;
    }
    // Explicit or allocation failure: a full cycle that starts after this
    // request, and wait for it.
    const uint64_t target = std::max(requested_, started_ + 1);
    requested_ = target;
    requested_reason_ = reason;
    driver_cv_.notify_one();
    cycle_done_cv_.wait(g, [&] { return done_ >= target; });
    g.unlock();
    if (finish_sweep) heap_->FinishSweep();
    return;
  }
  std::lock_guard<std::mutex> cycle_lock(gc_mu_);
  if (only_if_cycle != ~uint64_t{0} && cycles() != only_if_cycle) return;
  CycleInfo info;
  info.reason = reason;
  // Finish last cycle's sweep while the mutators run (Go's gcStart does);
  // the pause then only waits out sweeps still in flight.
  heap_->SweepRemaining();
  const int64_t t0 = NowNs();
  info.start_ns = t0;
  world_->StopTheWorld();
  // Sweep termination.
  heap_->FinishSweep(/*scavenge=*/false);
  world_->ForEachMCache([](MCache* c) { c->ReleaseAll(); });
  info.heap_before = heap_->heap_live().load();
  info.heap_end = info.heap_before;
  WorkPool pool;
  MarkTotals marked = MarkParallel(&pool, /*scan_roots=*/true, nworkers_);
  GC_CHECK(pool.nfull() == 0, "mark finished with work left in the pool");
  info.pauses = 1;
  FinishCycle(info, marked);
  if (finish_sweep) heap_->FinishSweep();
}

void Collector::CollectConcurrent(GcReason reason) {
  CycleInfo info;
  info.reason = reason;
  info.concurrent = true;
  // Pause 1: sweep termination, root snapshot, barrier on.
  heap_->SweepRemaining();  // concurrently, as in the stop-the-world cycle
  const int64_t t0 = NowNs();
  info.start_ns = t0;
  world_->StopTheWorld();
  heap_->FinishSweep(/*scavenge=*/false);
  // Cached spans stay cached: they were swept for this cycle, and objects
  // allocated from them while marking are marked one by one.
  world_->ForEachMutatorGcState([](MutatorGcState* st) { *st = {}; });
  info.heap_before = heap_->heap_live().load();
  pool_ = std::make_unique<WorkPool>();
  extra_objects_.store(0, std::memory_order_relaxed);
  extra_bytes_.store(0, std::memory_order_relaxed);
  bg_credit_.store(0, std::memory_order_relaxed);
  scan_done_.store(0, std::memory_order_relaxed);
  assist_ns_.store(0, std::memory_order_relaxed);
  bg_cpu_ns_.store(0, std::memory_order_relaxed);
  idle_worker_used_.store(false, std::memory_order_relaxed);
  // Snapshot the roots' values; they are shaded once the world runs again
  // (resolving a value costs cache misses; copying it does not). The
  // values are what the snapshot needs: the objects they name stay
  // allocated (nothing is swept while marking).
  root_snapshot_.clear();
  roots_->ForEachRoot(
      [](void** slot, void* ctx) {
        static_cast<std::vector<uintptr_t>*>(ctx)->push_back(
            Marker::LoadSlot(slot));
      },
      &root_snapshot_);
  pacer_.StartMark(info.heap_before);
  PublishAssistRatio();
  marking_.store(true, std::memory_order_relaxed);
  world_->SetWriteBarrier(true);
  int64_t t1 = world_->StartTheWorld();
  info.pause1_ns = t1 - t0;
  ShadeBuffered(root_snapshot_.data(), root_snapshot_.size());
  info.pause_ns = info.pause1_ns;
  info.pauses = 1;
  {
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> g(stats_mu_);
      hook = mark_phase_hook_;
    }
    if (hook) hook();
  }

  // Concurrent mark, then the ragged barrier: every running mutator
  // shades its own barrier buffer; if that greyed anything, mark it and
  // ask again (a bounded number of times). The final pause then finds
  // little in the buffers.
  MarkTotals marked = BackgroundMark();
  for (int round = 0; round < 3; round++) {
    world_->RaggedFlushWriteBarrierBuffers();
    if (pool_->nfull() == 0) break;
    marked.Add(BackgroundMark());
  }
  int64_t t2 = NowNs();
  info.mark_ns = t2 - t1;

  // Pause 2. Mutators may have buffered barrier values since the workers
  // ran dry: flush them. Most shade objects that are already black; what
  // they grey is drained here for at most kDrainInPauseNs. If grey work is
  // left after that, restart the world and mark it concurrently, then try
  // again (at most kMaxRestarts times; the last attempt drains it all).
  constexpr int kMaxRestarts = 4;
  constexpr int64_t kDrainInPauseNs = 20'000;
  int64_t last_stop = t2;
  for (int attempt = 0;; attempt++) {
    last_stop = NowNs();
    world_->StopTheWorld();
    world_->FlushWriteBarrierBuffers();
    if (attempt == kMaxRestarts) break;
    {
      Marker::Worker w(&marker_, pool_.get());
      const int64_t drain_start = NowNs();
      while (NowNs() - drain_start < kDrainInPauseNs &&
             marker_.DrainSome(&w, 64)) {
      }
      marked.Add({w.marked_objects, w.marked_bytes, w.scanned_bytes});
    }
    if (pool_->nfull() == 0) break;
    const int64_t t3 = world_->StartTheWorld();
    info.pause_ns += t3 - last_stop;
    info.pauses++;
    marked.Add(BackgroundMark());
    t2 = NowNs();
    info.mark_ns += t2 - t3;
  }
  if (pool_->nfull() != 0) {
    // Only after kMaxRestarts: drain the rest with every worker. (Waking
    // the worker threads alone costs tens of microseconds.)
    marked.Add(MarkParallel(pool_.get(), /*scan_roots=*/false, nworkers_));
  }
  GC_CHECK(pool_->nfull() == 0, "mark termination left work in the pool");
  world_->SetWriteBarrier(false);
  marking_.store(false, std::memory_order_relaxed);
  // Objects allocated black, by mutator.
  uint64_t black_objects = 0, black_bytes = 0;
  world_->ForEachMutatorGcState([&](MutatorGcState* st) {
    black_objects += st->black_objects;
    black_bytes += st->black_bytes;
    *st = {};
  });
  // The sweepgen flip makes cached spans unswept: return them all.
  world_->ForEachMCache([](MCache* c) { c->ReleaseAll(); });
  // Freeing the work buffers takes a while: after the pause.
  std::unique_ptr<WorkPool> retired = std::move(pool_);
  marked.objects +=
      black_objects + extra_objects_.load(std::memory_order_relaxed);
  marked.bytes += black_bytes + extra_bytes_.load(std::memory_order_relaxed);
  info.heap_end = static_cast<size_t>(heap_->heap_live().load());
  info.pause2_ns = last_stop;  // FinishCycle turns it into a duration
  info.pauses++;
  FinishCycle(info, marked);
  retired.reset();
}

// Mark termination and the end of the last pause (the world is stopped):
// verify, publish heap_live, flip sweepgen, set the goal, restart, record.
// info.pause2_ns holds the final pause's stop request time on entry.
void Collector::FinishCycle(CycleInfo info, const MarkTotals& marked) {
  uint64_t verified = 0;
  if (config_.verify) verified = VerifyMarks(&marker_, *roots_);
  heap_->heap_live().store(static_cast<int64_t>(marked.bytes),
                           std::memory_order_relaxed);
  heap_->StartSweepCycle();
  const int64_t last_stop =
      info.concurrent ? static_cast<int64_t>(info.pause2_ns) : info.start_ns;
  CycleSample sample;
  sample.live_bytes = marked.bytes;
  sample.scan_work = marked.scan_work;
  sample.heap_at_start = info.heap_before;
  sample.heap_at_end = info.heap_end;
  sample.concurrent = info.concurrent;
  // The pause counts as collector time on every processor.
  const int64_t now = NowNs();
  limiter_.AddGcTime((now - last_stop) * nworkers_);
  const bool limited = limiter_.Update(now);
  pacer_.EndCycle(sample, limited);
  trigger_.store(pacer_.trigger(), std::memory_order_relaxed);
  heap_->SetSweepPacing(
      pacer_.trigger() > marked.bytes ? pacer_.trigger() - marked.bytes : 0);
  hard_goal_.store(pacer_.goal() + pacer_.goal() / 10,
                   std::memory_order_relaxed);
  info.cycle = cycles_.fetch_add(1, std::memory_order_acq_rel) + 1;
  const int64_t t_end = world_->StartTheWorld();
  {
    std::lock_guard<std::mutex> g(sweep_mu_);
    sweep_pending_ = true;
  }
  sweep_cv_.notify_one();

  // Go counts a cycle's stop-the-world time as the sum of its pauses.
  info.pause2_ns = t_end - last_stop;
  if (!info.concurrent) info.pause1_ns = info.pause2_ns;
  info.pause_ns += info.pause2_ns;
  info.assist_ns = assist_ns_.load(std::memory_order_relaxed);
  info.bg_mark_cpu_ns = bg_cpu_ns_.load(std::memory_order_relaxed);
  info.idle_worker =
      info.concurrent && idle_worker_used_.load(std::memory_order_relaxed);
  info.scan_work = marked.scan_work;
  info.live_bytes = marked.bytes;
  info.live_objects = marked.objects;
  info.heap_goal = pacer_.goal();
  info.trigger = pacer_.trigger();
  info.limited = limited;
  if (!info.concurrent) info.mark_ns = t_end - info.start_ns;
  info.start_ns -= start_ns_;
  RecordPause(info.pause_ns);
  CycleHook hook;
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.cycles = info.cycle;
    stats_.mark_ns_total += info.mark_ns;
    stats_.live_objects = marked.objects;
    stats_.live_bytes = marked.bytes;
    stats_.marked_objects_total += marked.objects;
    stats_.verified_objects_total += verified;
    stats_.assist_ns_total += info.assist_ns;
    stats_.bg_mark_cpu_ns_total += info.bg_mark_cpu_ns;
    stats_.stw_pauses += info.pauses;
    stats_.scan_bytes_total += info.scan_work;
    stats_.limiter_engaged = limiter_.engaged();
    stats_.heap_goal = info.heap_goal;
    stats_.trigger = info.trigger;
    hook = cycle_hook_;
  }
  if (config_.trace) {
    // Go's gctrace shape: gc N @T: clock times of pause 1 + concurrent
    // mark + final pause; then the pauses, assist and background CPU time,
    // the heap at the start -> at the end of marking -> marked (live), the
    // next goal.
    const char* why = info.reason == GcReason::kExplicit   ? "explicit"
                      : info.reason == GcReason::kHeapGoal ? "goal"
                                                           : "alloc-failure";
    fprintf(stderr,
            "gc %llu @%.3fs: %.3f+%.3f+%.3f ms clock, %u pauses %.3f ms, "
            "%.3f ms assist, %.3f ms bg cpu, %.1f MB scanned at %.0f MB/s, "
            "%.1f->%.1f->%.1f MB, "
            "%.1f MB goal, %.1f MB trigger, %llu objects live, %d workers%s "
            "(%s, %s)%s%s\n",
            static_cast<unsigned long long>(info.cycle), info.start_ns / 1e9,
            info.concurrent ? info.pause1_ns / 1e6 : 0.0, info.mark_ns / 1e6,
            info.pause2_ns / 1e6, info.pauses, info.pause_ns / 1e6,
            info.assist_ns / 1e6, info.bg_mark_cpu_ns / 1e6, MB(info.scan_work),
            info.mark_ns == 0 ? 0.0 : MB(info.scan_work) / (info.mark_ns / 1e9),
            MB(info.heap_before), MB(info.heap_end), MB(info.live_bytes),
            MB(info.heap_goal), MB(info.trigger),
            static_cast<unsigned long long>(info.live_objects), nworkers_,
            info.idle_worker ? " + idle" : "",
            info.concurrent ? "concurrent" : "stw", why,
            config_.verify ? ", verified" : "", limited ? ", cpu-limited" : "");
  }
  if (hook) hook(info);
}

void Collector::ShadeBuffered(const uintptr_t* values, size_t n) {
  Marker::Worker w(&marker_, pool_.get());
  for (size_t i = 0; i < n; i++) marker_.MarkValue(&w, values[i]);
  extra_objects_.fetch_add(w.marked_objects, std::memory_order_relaxed);
  extra_bytes_.fetch_add(w.marked_bytes, std::memory_order_relaxed);
}  // the worker's buffers go to the pool

void Collector::SetCycleHook(CycleHook hook) {
  std::lock_guard<std::mutex> g(stats_mu_);
  cycle_hook_ = std::move(hook);
}

void Collector::SetMarkPhaseHookForTesting(std::function<void()> hook) {
  std::lock_guard<std::mutex> g(stats_mu_);
  mark_phase_hook_ = std::move(hook);
}

CollectorStats Collector::ReadStats() const {
  std::lock_guard<std::mutex> g(stats_mu_);
  return stats_;
}

}  // namespace gcheap
