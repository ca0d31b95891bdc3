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
}

Collector::~Collector() {
  {
    std::lock_guard<std::mutex> g(sweep_mu_);
    stop_ = true;
  }
  sweep_cv_.notify_all();
  sweeper_.join();
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

void Collector::MarkParallel(uint64_t* objects, uint64_t* bytes) {
  WorkPool pool;
  std::atomic<int> nwait{0};
  std::atomic<uint64_t> total_objects{0}, total_bytes{0};
  const int n = nworkers_;
  workers_.RunParallel(n, [&](int id) {
    Marker::Worker w(&marker_, &pool);
    if (id == 0) roots_->ForEachRoot(&Marker::VisitSlot, &w);
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
  GC_CHECK(pool.nfull() == 0, "mark finished with work left in the pool");
  *objects = total_objects.load();
  *bytes = total_bytes.load();
}

void Collector::UpdateGoal(uint64_t live) {
  size_t goal;
  if (config_.gc_percent < 0) {
    goal = ~size_t{0} >> 1;
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
  trigger_.store(goal, std::memory_order_relaxed);
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
  std::lock_guard<std::mutex> cycle_lock(gc_mu_);
  if (only_if_cycle != ~uint64_t{0} && cycles() != only_if_cycle) return;

  const int64_t t0 = NowNs();
  world_->StopTheWorld();
  const int64_t t_stopped = NowNs();
  // Sweep termination.
  heap_->FinishSweep();
  world_->ForEachMCache([](MCache* c) { c->ReleaseAll(); });
  const size_t heap_before = heap_->heap_live().load();
  const int64_t t1 = NowNs();

  uint64_t marked_objects = 0, marked_bytes = 0;
  MarkParallel(&marked_objects, &marked_bytes);
  const int64_t t2 = NowNs();

  uint64_t verified = 0;
  if (config_.verify) verified = VerifyMarks(&marker_, *roots_);

  // Mark termination.
  heap_->heap_live().store(static_cast<int64_t>(marked_bytes),
                           std::memory_order_relaxed);
  heap_->StartSweepCycle();
  UpdateGoal(marked_bytes);
  const uint64_t cycle = cycles_.fetch_add(1, std::memory_order_acq_rel) + 1;
  const int64_t t3 = NowNs();
  world_->StartTheWorld();
  const int64_t t4 = NowNs();

  {
    std::lock_guard<std::mutex> g(sweep_mu_);
    sweep_pending_ = true;
  }
  sweep_cv_.notify_one();

  const uint64_t pause = t4 - t0;
  RecordPause(pause);
  size_t goal;
  {
    std::lock_guard<std::mutex> g(stats_mu_);
    stats_.cycles = cycle;
    stats_.mark_ns_total += t2 - t1;
    stats_.live_objects = marked_objects;
    stats_.live_bytes = marked_bytes;
    stats_.marked_objects_total += marked_objects;
    stats_.verified_objects_total += verified;
    goal = stats_.heap_goal;
  }
  if (config_.trace) {
    // Go's gctrace shape: gc N @T: clock times of
    // stop+sweep-termination + mark + mark-termination, heap before ->
    // after marking -> live, goal, workers.
    const char* why = reason == GcReason::kExplicit    ? "explicit"
                      : reason == GcReason::kHeapGoal ? "goal"
                                                      : "alloc-failure";
    fprintf(stderr,
            "gc %llu @%.3fs: %.3f+%.3f+%.3f ms clock, pause %.3f ms, "
            "%.1f->%.1f->%.1f MB, %.1f MB goal, %llu objects live, "
            "%d workers (stw, %s)%s\n",
            static_cast<unsigned long long>(cycle), (t0 - start_ns_) / 1e9,
            (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t4 - t2) / 1e6, pause / 1e6,
            MB(heap_before), MB(heap_before), MB(marked_bytes), MB(goal),
            static_cast<unsigned long long>(marked_objects), nworkers_, why,
            config_.verify ? ", verified" : "");
  }
  (void)t_stopped;
  (void)t3;
  if (finish_sweep) heap_->FinishSweep();
}

CollectorStats Collector::ReadStats() const {
  std::lock_guard<std::mutex> g(stats_mu_);
  return stats_;
}

}  // namespace gcheap
