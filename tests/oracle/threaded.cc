#include "tests/oracle/threaded.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/gc.h"
#include "tests/oracle/executor.h"
#include "tests/oracle/model.h"

namespace gcheap::oracle {

namespace {

constexpr uint32_t kSharedTag = 99;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
constexpr uint32_t kThreadTagBase = 100;

class ThreadedRun {
 public:
  explicit ThreadedRun(const ThreadedOptions& o) : o_(o) {
    gc_config c;
    gc_config_init(&c);
    c.verify = o.verify;
    c.gc_workers = o.workers;
    c.gc_percent = o.gc_percent;
    c.memory_limit_bytes = o.memory_limit;
    c.stop_the_world = o.stw;
    c.finalizer_thread = 0;  // every run is a gc_run_finalizers (RunShared)
    heap_ = gc_heap_create(&c);
    if (heap_ == nullptr) {
      fprintf(stderr, "oracle: gc_heap_create: %s\n", gc_last_error());
      abort();
    }
    types_ = RegisterTypes(heap_);
    RunOptions ro;
    ro.boehm = false;
    ro.exact_stats = false;
    ro.final_checks = false;
    shared_ = std::make_unique<Executor>(heap_, types_, kSharedTag, true, ro);
    // (Its holds could outlive the lock into another thread's exact check.)
    shared_->set_hold_reads(false);
    shared_gen_.SetAllSlotsRooted();
    for (int t = 0; t < o.threads; t++) {
      RunOptions pro = ro;
      if (t == 0) pro.fault = o.fault;
      priv_.push_back(std::make_unique<Executor>(
          heap_, types_, kThreadTagBase + t, false, pro));
      graph_mu_.push_back(std::make_unique<std::mutex>());
      // The graph's own runs let go of its lock (its finalizers' callbacks
      // take it, on whatever thread runs them).
      priv_[t]->set_shared_queue(graph_mu_[t].get(), [this, t](gc_mutator* m) {
        graph_mu_[t]->unlock();
        RunShared(m);
        Lock(graph_mu_[t].get(), m);
      });
    }
    priv_gen_.resize(o.threads);
    Effects fx;
    for (auto& g : priv_gen_) {
      g = std::make_unique<Model>();
      for (const Op& op : Model::Prologue()) g->Apply(op, &fx);
    }
  }

  ~ThreadedRun() {
    shared_.reset();
    priv_.clear();
    gc_heap_destroy(heap_);
  }

  ThreadedResult Run() {
    std::vector<std::thread> threads;
    for (int t = 0; t < o_.threads; t++) {
      threads.emplace_back([this, t] { Mutator(t); });
    }
    for (auto& th : threads) th.join();
    // Final: every thread is gone; check everything from here.
    gc_mutator* m = gc_thread_attach(heap_);
    shared_->set_mutator(m);
    for (auto& p : priv_) p->set_mutator(m);
    if (!failed_.load()) {
      gc_collect(m);
      GlobalCheck(m, "final");
    }
    // Each private graph clears its slots and runs its finalization down
    // (Executor::FinalChecks: collections, runs and pops until nothing is
    // ready), one after the other.
    for (size_t t = 0; t < priv_.size() && !failed_.load(); t++) {
      graph_mu_[t]->lock();
      const bool ok = priv_[t]->FinalChecks(0);
      graph_mu_[t]->unlock();
      if (!ok) CheckExecutor(static_cast<int>(t), *priv_[t], "final checks");
    }
    // Drop every graph: the heap must end up empty, but for the finalizer
    // cycles the models keep (never finalized, as designed).
    if (!failed_.load()) {
      shared_->UnregisterRoots();
      for (auto& p : priv_) p->UnregisterRoots();
      gc_collect(m);
      Expectation e;
      for (auto& p : priv_) {
        p->Collected();
        e.Add(p->Expected());
      }
      if (!shared_->CheckStats(e)) {
        CheckExecutor(-1, *shared_, "after every root was dropped");
      }
    }
    gc_stats st;
    st.struct_size = sizeof(st);
    gc_get_stats(heap_, &st);
    res_.cycles = st.cycles;
    res_.max_pause_ns = st.pause_max_ns;
    shared_->DestroyVm(m);
    for (auto& p : priv_) p->DestroyVm(m);
    gc_thread_detach(m);
    auto add = [&](Executor& e) {
      const VmCounts& vm = e.model().vm_counts();
      res_.fin_ops += e.stats().fin_ops;
      res_.finalized += vm.finalized;
      res_.guardian_pops += vm.guardian_pops;
      res_.cleanups_run += vm.cleanups_run;
      res_.foreign_calls += e.foreign_calls();
      res_.ops += e.stats().ops;
      res_.objects_checked += e.stats().objects_checked;
      res_.allocated += e.stats().allocated;
      res_.collections += e.stats().collections;
      res_.weak_ops += e.stats().weak_ops;
      res_.eph_ops += e.stats().eph_ops;
      res_.weak_reads += e.stats().weak_reads;
      res_.reads_marking += e.stats().reads_marking;
      res_.holds_checked += e.stats().holds_checked;
    };
    add(*shared_);
    for (auto& p : priv_) add(*p);
    res_.fin_collections = fin_checked_.load();
    for (auto& p : priv_) {
      res_.open_decisions += p->open_decisions();
      res_.determined += p->determined_decisions();
    }
    res_.detaches = detaches_.load();
    res_.helpers = helpers_.load();
    res_.stopped_early = stopping_.load();
    res_.ok = !failed_.load();
    return res_;
  }

 private:
  void Report(int thread, const std::string& msg) {
    std::lock_guard<std::mutex> g(report_mu_);
    if (failed_.exchange(true)) return;
    char buf[256];
    snprintf(buf, sizeof(buf),
             "THREADED ORACLE FAILURE: seed=%llu threads=%d ops_per_thread=%d "
             "verify=%d workers=%d gc_percent=%d memory_limit=%llu stw=%d, "
             "thread %d: ",
             static_cast<unsigned long long>(o_.seed), o_.threads,
             o_.ops_per_thread, o_.verify, o_.workers, o_.gc_percent,
             static_cast<unsigned long long>(o_.memory_limit), o_.stw, thread);
    res_.report = buf + msg + "\n";
    // Wake a barrier that waits for a thread that will not come.
    std::lock_guard<std::mutex> b(bar_mu_);
    bar_cv_.notify_all();
  }

  static void CollectModel(Model* m) {
    Op collect;
    collect.op = OpKind::kCollect;
    Effects fx;
    m->Apply(collect, &fx);
  }

  bool CheckExecutor(int thread, Executor& e, const char* what) {
    if (e.ok()) return true;
    const RunResult& r = e.result();
    Report(thread, std::string(what) + " [" + r.category + "] " + r.message);
    return false;
  }

  // Takes mu, waiting in a blocking region.
  static void Lock(std::mutex* mu, gc_mutator* m) {
    gc_enter_blocking(m);
    mu->lock();
    gc_leave_blocking(m);
  }

  // Every gc_run_finalizers of the run, one at a time: a graph's own run
  // then runs every entry queued before it (no other thread holds one),
  // so Executor::EndRun's check holds.
  void RunShared(gc_mutator* m) {
    Lock(&run_mu_, m);
    gc_run_finalizers(m);
    run_mu_.unlock();
  }

  // Everyone else is parked (barrier or joined): exact counts and every
  // graph intact. Runs right after a gc_collect by m's thread. Other
  // threads' cycles may have queued finalizers and guardian entries that
  // no model knows yet (roots the models cannot see): they are run and
  // popped first (each checked against its graph's model, as after an
  // automatic cycle), then a second gc_collect, which starts with no such
  // entry (nobody allocates meanwhile, so no cycle runs in between), is a
  // full collection for every graph: each model, and each generator's
  // model, applies it exactly.
  void GlobalCheck(gc_mutator* m, const char* when) {
    for (auto& p : priv_) p->BeginRun();
    RunShared(m);
    for (size_t t = 0; t < priv_.size(); t++) {
      gc_mutator* const owner = priv_[t]->mutator();
      priv_[t]->set_mutator(m);
      const bool ok = priv_[t]->PopAll() && priv_[t]->EndRun();
      priv_[t]->set_mutator(owner);
      if (!ok) {
        CheckExecutor(static_cast<int>(t), *priv_[t], when);
        return;
      }
    }
    gc_collect(m);
    shared_->Collected();
    CollectModel(&shared_gen_);
    for (size_t t = 0; t < priv_.size(); t++) {
      priv_[t]->Collected();
      CollectModel(priv_gen_[t].get());
    }
    Expectation e = shared_->Expected();
    for (auto& p : priv_) e.Add(p->Expected());
    shared_->set_mutator(m);
    if (!shared_->CheckStats(e)) {
      CheckExecutor(-1, *shared_, when);
      return;
    }
    res_.max_live = std::max(res_.max_live, e.objects);
    if (!shared_->CheckGraph()) {
      CheckExecutor(-1, *shared_, when);
      return;
    }
    for (size_t t = 0; t < priv_.size(); t++) {
      // (The check reads weak slots and ephemerons through the API: with
      // this thread's mutator, the owner's is parked.)
      gc_mutator* const owner = priv_[t]->mutator();
      priv_[t]->set_mutator(m);
      const bool ok = priv_[t]->CheckGraph();
      priv_[t]->set_mutator(owner);
      if (!ok) {
        CheckExecutor(static_cast<int>(t), *priv_[t], when);
        return;
      }
    }
    res_.quiescent_checks++;
  }

  void Quiesce(int t, gc_mutator* m) {
    // (The checker runs this graph's finalizers too.)
    graph_mu_[t]->unlock();
    QuiesceUnlocked(m);
    Lock(graph_mu_[t].get(), m);
  }

  void QuiesceUnlocked(gc_mutator* m) {
    gc_enter_blocking(m);
    std::unique_lock<std::mutex> l(bar_mu_);
    const uint64_t gen = bar_gen_;
    if (++arrived_ == o_.threads) {
      // Everyone else waits below, in a blocking region, until bar_gen_
      // moves on.
      l.unlock();
      gc_leave_blocking(m);
      gc_collect(m);
      GlobalCheck(m, "quiescent check");
      l.lock();
      arrived_ = 0;
      bar_gen_++;
      bar_cv_.notify_all();
      return;
    }
    bar_cv_.wait(l, [&] {
      return bar_gen_ != gen || failed_.load() || stopping_.load();
    });
    l.unlock();
    gc_leave_blocking(m);
  }

  void SharedOps(int t, gc_mutator* m, RngSource& rng, const GenOptions& g) {
    Lock(&shared_mu_, m);
    shared_->set_mutator(m);
    const int n = 1 + static_cast<int>(rng.Below(8));
    for (int i = 0; i < n && shared_->ok(); i++) {
      Op op = NextOp(shared_gen_, rng, g);
      shared_->Step(op, 0);
    }
    if (shared_->ok() && rng.OneIn(8)) shared_->CheckGraph();
    bool ok = CheckExecutor(t, *shared_, "shared graph");
    shared_mu_.unlock();
    (void)ok;
  }

  void Mutator(int t) {
    RngSource rng(o_.seed * 1000003 + t);
    // Threads attach at staggered times.
    std::this_thread::sleep_for(std::chrono::microseconds(rng.Below(500)));
    gc_mutator* m = gc_thread_attach(heap_);
    // Held whenever this thread uses its executor (set_shared_queue).
    Lock(graph_mu_[t].get(), m);
    Executor& ex = *priv_[t];
    Model& gen = *priv_gen_[t];
    ex.set_mutator(m);
    ex.Start();
    GenOptions g;
    g.root_ops = true;
    g.collect = false;
    g.reattach = false;
    g.large = o_.large;
    g.max_chain = o_.max_chain;
    g.collect_weight = 0;
    // Finalization in the private graphs only (threaded.h).
    GenOptions sg = g;
    sg.run_finalizers = false;
    sg.finalization = false;
    sg.root_ops = false;
    sg.collect = true;
    sg.collect_weight = 5;
    for (int i = 0; i < o_.ops_per_thread; i++) {
      if (failed_.load() || stopping_.load()) break;
      if (o_.stop_at_ns != 0 && i % 64 == 0 && NowNs() >= o_.stop_at_ns) {
        // Time is up: stop everyone (a barrier would wait for us forever).
        std::lock_guard<std::mutex> b(bar_mu_);
        stopping_ = true;
        bar_cv_.notify_all();
        break;
      }
      if (o_.quiesce_every > 0 && i > 0 && i % o_.quiesce_every == 0) {
        if (!ex.SettleHolds(/*wait=*/true)) break;
        Quiesce(t, m);
        if (failed_.load() || stopping_.load()) break;
      }
      if (i % 4 == 0) {
        // Between two ops the graph's model is in a state a cycle or a
        // run may see: let another thread's run apply this graph's calls.
        graph_mu_[t]->unlock();
        std::this_thread::yield();
        Lock(graph_mu_[t].get(), m);
      }
      const int r = static_cast<int>(rng.Below(1000));
      int acc = o_.shared_per_mille;
      if (r < acc) {
        SharedOps(t, m, rng, sg);
        continue;
      }
      if (r < (acc += o_.collect_per_mille)) {
        // (What a weak read during marking holds must not outlive it.)
        if (!ex.SettleHolds(/*wait=*/true)) break;
        gc_collect(m);
        // A full collection while this thread's graph stood still: exact
        // for it (not for the shared graph, which others may be changing),
        // but for what entries other threads' cycles queued may keep
        // (Model::CollectMaybeHidden).
        ex.Collected(/*maybe_hidden=*/true);
        CollectModel(&gen);
        ex.stats().collections++;
        if (!ex.CheckGraph() || !ex.CheckKept()) break;
        // Never missed: every finalizer and cleanup the collection queued
        // runs in the next run, every guardian entry is there to pop.
        if (!ex.RunQueued() || !ex.PopAll()) break;
        fin_checked_++;
        if (rng.OneIn(3)) {
          Lock(&shared_mu_, m);
          shared_->set_mutator(m);
          shared_->CheckGraph();
          CheckExecutor(t, *shared_, "shared graph after a collection");
          shared_mu_.unlock();
        }
        continue;
      }
      if (r < (acc += o_.detach_per_mille)) {
        gc_thread_detach(m);
        if (rng.OneIn(2)) std::this_thread::yield();
        m = gc_thread_attach(heap_);
        ex.set_mutator(m);
        detaches_++;
        continue;
      }
      if (r < (acc += o_.helper_per_mille)) {
        // A short-lived thread; waiting for it is a blocking call.
        const uint64_t hseed = rng.Bits64();
        std::thread helper([this, t, hseed, &sg] {
          RngSource hrng(hseed);
          gc_mutator* hm = gc_thread_attach(heap_);
          SharedOps(t, hm, hrng, sg);
          if (hrng.OneIn(2)) gc_thread_detach(hm);  // else: exits attached
        });
        gc_enter_blocking(m);
        helper.join();
        gc_leave_blocking(m);
        helpers_++;
        continue;
      }
      if (r < (acc += o_.block_per_mille)) {
        gc_enter_blocking(m);
        std::this_thread::sleep_for(std::chrono::microseconds(rng.Below(300)));
        gc_leave_blocking(m);
        continue;
      }
      Op op = NextOp(gen, rng, g);
      if (!ex.Step(op, i)) break;
    }
    ex.SettleHolds(/*wait=*/true);
    CheckExecutor(t, ex, "private graph");
    graph_mu_[t]->unlock();
    gc_thread_detach(m);
  }

  ThreadedOptions o_;
  gc_heap* heap_ = nullptr;
  TypeIds types_;
  std::unique_ptr<Executor> shared_;
  Model shared_gen_;
  std::mutex shared_mu_;
  std::vector<std::unique_ptr<Executor>> priv_;
  std::vector<std::unique_ptr<Model>> priv_gen_;
  std::vector<std::unique_ptr<std::mutex>> graph_mu_;  // one per graph
  std::mutex run_mu_;                                  // RunShared
  std::atomic<uint64_t> fin_checked_{0};
  std::mutex bar_mu_;
  std::condition_variable bar_cv_;
  int arrived_ = 0;
  uint64_t bar_gen_ = 0;
  std::atomic<bool> failed_{false};
  std::atomic<bool> stopping_{false};
  std::mutex report_mu_;
  std::atomic<uint64_t> detaches_{0};
  std::atomic<uint64_t> helpers_{0};
  ThreadedResult res_;
};

}  // namespace

ThreadedResult RunThreaded(const ThreadedOptions& o) {
  ThreadedRun run(o);
  return run.Run();
}

ThreadedOptions ThreadedOptionsForSeed(uint64_t seed, int ops_per_thread) {
  RngSource r(seed ^ 0x7468726561646564ull);
  ThreadedOptions o;
  o.seed = seed;
  o.threads = 2 + static_cast<int>(r.Below(7));
  o.ops_per_thread = ops_per_thread;
  o.quiesce_every = 100 + static_cast<int>(r.Below(400));
  o.shared_per_mille = 20 + static_cast<int>(r.Below(100));
  o.collect_per_mille = 2 + static_cast<int>(r.Below(10));
  o.detach_per_mille = static_cast<int>(r.Below(8));
  o.block_per_mille = static_cast<int>(r.Below(10));
  o.helper_per_mille = static_cast<int>(r.Below(3));
  o.verify = r.OneIn(2) ? 1 : 0;
  static constexpr int kWorkers[] = {0, 1, 2, 4};
  o.workers = kWorkers[r.Below(4)];
  o.gc_percent = r.OneIn(3) ? -1 : 100;
  o.memory_limit = r.OneIn(2) ? 1 : 0;
  o.stw = r.OneIn(2) ? 1 : 0;
  return o;
}

}  // namespace gcheap::oracle
