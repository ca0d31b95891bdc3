#include "gc/collector.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

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
      trigger_(config.gc_percent < 0 && config.memory_limit == 0
                   ? ~size_t{0} >> 1
                   : config.min_heap),
      start_ns_(NowNs()) {
  stats_.heap_goal = trigger_.load();
  if (config.memory_limit != 0) {
    trigger_.store(std::min(trigger_.load(), config.memory_limit));
  }
  sweeper_ = std::thread([this] { SweeperLoop(); });
  if (!config_.stop_the_world) driver_ = std::thread([this] { DriverLoop(); });
}

Collector::~Collector() {
  {
    std::lock_guard<std::mutex> g(sweep_mu_);
    stop_ = true;
  }
  sweep_cv_.notify_all();
  sweeper_.join();
  if (driver_.joinable()) {
    {
      std::lock_guard<std::mutex> g(driver_mu_);
      stop_driver_ = true;
    }
    driver_cv_.notify_all();
    driver_.join();
  }
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

void Collector::WaitIfOverGoal() {
  if (!marking()) return;
  size_t goal;
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    goal = stats_.heap_goal;
  }
  if (heap_->heap_live().load(std::memory_order_relaxed) <
      static_cast<int64_t>(goal)) {
    return;
  }
  std::unique_lock<std::mutex> g(driver_mu_);
  const uint64_t target = started_;
  cycle_done_cv_.wait(g, [&] { return done_ >= target || stop_driver_; });
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
    g.lock();
  }
}

void Collector::MarkParallel(WorkPool* pool_ptr, bool scan_roots,
                             uint64_t* objects, uint64_t* bytes, int n) {
  WorkPool& pool = *pool_ptr;
  std::atomic<int> nwait{0};
  std::atomic<uint64_t> total_objects{0}, total_bytes{0};
  n = std::max(1, std::min(n, workers_.threads() + 1));
  workers_.RunParallel(n, [&](int id) {
    Marker::Worker w(&marker_, &pool);
    if (id == 0 && scan_roots) roots_->ForEachRoot(&Marker::VisitSlot, &w);
    for (;;) {
      // Scan in slices; between slices, feed idle workers.
      while (marker_.DrainSome(&w, 256)) {
        if (nwait.load(std::memory_order_relaxed) && pool.nfull() == 0) {
          w.gcw.Balance();
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
        if (nwait.load(std::memory_order_acquire) == n) {
          done = true;
          break;
        }
        std::this_thread::yield();
      }
      if (done) break;
    }
    total_objects.fetch_add(w.marked_objects, std::memory_order_relaxed);
    total_bytes.fetch_add(w.marked_bytes, std::memory_order_relaxed);
  });
  // With the world stopped nobody else adds work; during a concurrent mark
  // a mutator may flush barrier values after the workers finished (the
  // final pause drains them).
  GC_CHECK(!scan_roots || pool.nfull() == 0,
           "mark finished with work left in the pool");
  *objects = total_objects.load();
  *bytes = total_bytes.load();
}

void Collector::UpdateGoal(uint64_t live) {
  size_t goal;
  if (config_.gc_percent < 0) {
    goal = ~size_t{0} >> 1;  // no goal (stats report 0)
  } else {
    goal = std::max<size_t>(
        config_.min_heap,
        static_cast<size_t>(live * (1.0 + config_.gc_percent / 100.0)));
  }
  if (config_.memory_limit != 0) {
    // Near the soft limit, collect more often rather than grow past it.
    goal = std::min(goal, std::max<size_t>(config_.memory_limit,
                                           live + config_.min_heap / 4));
  }
  size_t trigger = goal;
  if (!config_.stop_the_world && goal > live) {
    // Start a concurrent cycle early enough that marking can finish before
    // the heap reaches its goal (a fixed 70% point until the pacer learns
    // from the last cycles).
    trigger = live + (goal - live) * 7 / 10;
  }
  trigger_.store(trigger, std::memory_order_relaxed);
  std::lock_guard<std::mutex> g(stats_mu_);
  stats_.heap_goal = goal;
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
  const int64_t t0 = NowNs();
  world_->StopTheWorld();
  // Sweep termination.
  heap_->FinishSweep();
  world_->ForEachMCache([](MCache* c) { c->ReleaseAll(); });
  const size_t heap_before = heap_->heap_live().load();
  const int64_t t1 = NowNs();
  WorkPool pool;
  uint64_t marked_objects = 0, marked_bytes = 0;
  MarkParallel(&pool, /*scan_roots=*/true, &marked_objects, &marked_bytes,
               nworkers_);
  GC_CHECK(pool.nfull() == 0, "mark finished with work left in the pool");
  const int64_t t2 = NowNs();
  FinishCycle(reason, {t0, 0, t1 - t0, t2 - t1, t0, heap_before}, heap_before,
              marked_objects, marked_bytes, /*concurrent=*/false);
  if (finish_sweep) heap_->FinishSweep();
}

void Collector::CollectConcurrent(GcReason reason) {
  // Pause 1: sweep termination, root snapshot, barrier on.
  const int64_t t0 = NowNs();
  world_->StopTheWorld();
  heap_->FinishSweep();
  // Drop every tiny block and cached span: allocation during marking then
  // starts from blocks it marks itself (allocate black).
  world_->ForEachMCache([](MCache* c) { c->ReleaseAll(); });
  const size_t heap_before = heap_->heap_live().load();
  pool_ = std::make_unique<WorkPool>();
  extra_objects_.store(0, std::memory_order_relaxed);
  extra_bytes_.store(0, std::memory_order_relaxed);
  {
    Marker::Worker w(&marker_, pool_.get());
    roots_->ForEachRoot(&Marker::VisitSlot, &w);
    extra_objects_.fetch_add(w.marked_objects, std::memory_order_relaxed);
    extra_bytes_.fetch_add(w.marked_bytes, std::memory_order_relaxed);
  }  // the worker's buffers go to the pool
  marking_.store(true, std::memory_order_relaxed);
  world_->SetWriteBarrier(true);
  world_->StartTheWorld();
  const int64_t t1 = NowNs();

  // Concurrent mark, with a quarter of the processors (at least one
  // thread: the driver), as Go's dedicated background workers.
  uint64_t objects = 0, bytes = 0;
  const int background = std::max(1, (nworkers_ + 2) / 4);
  MarkParallel(pool_.get(), /*scan_roots=*/false, &objects, &bytes, background);
  int64_t t2 = NowNs();
  int64_t mark_ns = t2 - t1;
  uint64_t earlier_pauses = t1 - t0;

  // Pause 2. Mutators may have buffered barrier values since the workers
  // ran dry: flush them; if that produced a lot of work, let the world run
  // and mark it concurrently, then try again (a bounded number of times).
  for (int attempt = 0;; attempt++) {
    world_->StopTheWorld();
    world_->FlushWriteBarrierBuffers();
    if (attempt == 3 || pool_->nfull() <= 2) break;
    world_->StartTheWorld();
    const int64_t t3 = NowNs();
    earlier_pauses += t3 - t2;
    uint64_t o = 0, b = 0;
    MarkParallel(pool_.get(), /*scan_roots=*/false, &o, &b, background);
    objects += o;
    bytes += b;
    t2 = NowNs();
    mark_ns += t2 - t3;
  }
  uint64_t objects2 = 0, bytes2 = 0;
  MarkParallel(pool_.get(), /*scan_roots=*/false, &objects2, &bytes2,
               nworkers_);
  GC_CHECK(pool_->nfull() == 0, "mark termination left work in the pool");
  world_->SetWriteBarrier(false);
  marking_.store(false, std::memory_order_relaxed);
  world_->ForEachMCache([](MCache* c) { c->ReleaseAll(); });
  pool_.reset();
  const uint64_t marked_objects =
      objects + objects2 + extra_objects_.load(std::memory_order_relaxed);
  const uint64_t marked_bytes =
      bytes + bytes2 + extra_bytes_.load(std::memory_order_relaxed);
  FinishCycle(reason,
              {t0, earlier_pauses, t1 - t0, mark_ns, t2,
               static_cast<size_t>(heap_->heap_live().load())},
              heap_before, marked_objects, marked_bytes, /*concurrent=*/true);
}

// Mark termination and the end of the last pause (the world is stopped):
// verify, publish heap_live, flip sweepgen, set the goal, restart, record.
void Collector::FinishCycle(GcReason reason, const CycleTimes& times,
                            size_t heap_before, uint64_t marked_objects,
                            uint64_t marked_bytes, bool concurrent) {
  uint64_t verified = 0;
  if (config_.verify) verified = VerifyMarks(&marker_, *roots_);
  heap_->heap_live().store(static_cast<int64_t>(marked_bytes),
                           std::memory_order_relaxed);
  heap_->StartSweepCycle();
  UpdateGoal(marked_bytes);
  const uint64_t cycle = cycles_.fetch_add(1, std::memory_order_acq_rel) + 1;
  world_->StartTheWorld();
  const int64_t t_end = NowNs();
  {
    std::lock_guard<std::mutex> g(sweep_mu_);
    sweep_pending_ = true;
  }
  sweep_cv_.notify_one();

  // Go counts a cycle's stop-the-world time as the sum of its pauses.
  const uint64_t pause =
      times.earlier_pauses_ns + (t_end - times.last_pause_start);
  const int64_t mark_ns = times.mark_ns;
  RecordPause(pause);
  size_t goal;
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.cycles = cycle;
    stats_.mark_ns_total += mark_ns;
    stats_.live_objects = marked_objects;
    stats_.live_bytes = marked_bytes;
    stats_.marked_objects_total += marked_objects;
    stats_.verified_objects_total += verified;
    goal = stats_.heap_goal;
  }
  if (config_.trace) {
    // Go's gctrace shape: gc N @T: clock times of pause 1 (stop, sweep
    // termination, roots) + mark + pause 2 (termination), the heap at the
    // start -> at the end of marking -> marked (live), the next goal.
    const char* why = reason == GcReason::kExplicit   ? "explicit"
                      : reason == GcReason::kHeapGoal ? "goal"
                                                      : "alloc-failure";
    const double tail_ms =
        (t_end - times.start - times.prelude_ns - times.mark_ns) / 1e6;
    fprintf(stderr,
            "gc %llu @%.3fs: %.3f+%.3f+%.3f ms clock, pause %.3f ms, "
            "%.1f->%.1f->%.1f MB, %.1f MB goal, %llu objects live, "
            "%d workers (%s, %s)%s\n",
            static_cast<unsigned long long>(cycle),
            (times.start - start_ns_) / 1e9, times.prelude_ns / 1e6,
            times.mark_ns / 1e6, tail_ms, pause / 1e6, MB(heap_before),
            MB(times.heap_end), MB(marked_bytes), MB(goal),
            static_cast<unsigned long long>(marked_objects), nworkers_,
            concurrent ? "concurrent" : "stw", why,
            config_.verify ? ", verified" : "");
  }
}

void Collector::MarkNew(void* p) {
  ObjectRef r;
  if (!heap_->FindObject(reinterpret_cast<uintptr_t>(p), &r)) return;
  if (!r.span->SetMarked(r.index)) return;  // tiny block already marked
  extra_objects_.fetch_add(1, std::memory_order_relaxed);
  extra_bytes_.fetch_add(r.span->elemsize, std::memory_order_relaxed);
  HeapArena* a = heap_->ArenaOf(r.span->start);
  size_t page = a->PageIndex(r.span->start);
  a->page_marks[page / 64].fetch_or(uint64_t{1} << (page % 64),
                                    std::memory_order_relaxed);
}

void Collector::ShadeBuffered(const uintptr_t* values, size_t n) {
  Marker::Worker w(&marker_, pool_.get());
  for (size_t i = 0; i < n; i++) marker_.MarkValue(&w, values[i]);
  extra_objects_.fetch_add(w.marked_objects, std::memory_order_relaxed);
  extra_bytes_.fetch_add(w.marked_bytes, std::memory_order_relaxed);
}  // the worker's buffers go to the pool

CollectorStats Collector::ReadStats() const {
  std::lock_guard<std::mutex> g(stats_mu_);
  return stats_;
}

}  // namespace gcheap
