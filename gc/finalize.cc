#include "gc/finalize.h"

#include <algorithm>
#include <new>

namespace gcheap {

Finalization::~Finalization() {
  for (Guardian* g : guardians_) delete g;
  for (Cleanup* c : cleanups_) delete c;
}

// ---- registrations ----------------------------------------------------------

void Finalization::Register(uintptr_t base, const Registration& r) {
  Shard& sh = ShardOf(base);
  std::lock_guard<std::mutex> g(sh.mu);
  auto [it, fresh] = sh.map.insert_or_assign(base, r);
  it->second.serial = next_serial_.fetch_add(1, std::memory_order_relaxed);
  if (fresh) count_.fetch_add(1, std::memory_order_release);
}

bool Finalization::Unregister(uintptr_t base) {
  Shard& sh = ShardOf(base);
  std::lock_guard<std::mutex> g(sh.mu);
  if (sh.map.erase(base) == 0) return false;
  count_.fetch_sub(1, std::memory_order_release);
  return true;
}

bool Finalization::Registered(uintptr_t base) {
  Shard& sh = ShardOf(base);
  std::lock_guard<std::mutex> g(sh.mu);
  return sh.map.contains(base);
}

// ---- guardians --------------------------------------------------------------

Guardian* Finalization::NewGuardian() {
  auto* g = new Guardian;
  std::lock_guard<std::mutex> l(guardians_mu_);
  guardians_.push_back(g);
  return g;
}

void Finalization::DestroyGuardian(Guardian* g) {
  std::lock_guard<std::mutex> l(guardians_mu_);
  for (Shard& sh : shards_) {
    std::lock_guard<std::mutex> s(sh.mu);
    const size_t before = sh.map.size();
    absl::erase_if(sh.map,
                   [&](const auto& kv) { return kv.second.guardian == g; });
    count_.fetch_sub(before - sh.map.size(), std::memory_order_release);
  }
  guardians_.erase(std::find(guardians_.begin(), guardians_.end(), g));
  delete g;
}

uintptr_t Finalization::Pop(Guardian* g) {
  std::lock_guard<std::mutex> l(g->mu);
  // (Held entries are at the back: the front one is released if any is.)
  if (g->queue.size() <= g->held) return 0;
  const uintptr_t obj = g->queue.front();
  g->queue.pop_front();
  return obj;
}

// ---- the decision -----------------------------------------------------------

size_t Finalization::Decide(CandidateMarker* m) {
  // 1. Candidates: registered and not marked.
  std::vector<Candidate> cands;
  for (Shard& sh : shards_) {
    std::lock_guard<std::mutex> g(sh.mu);
    for (const auto& [base, r] : sh.map) {
      if (!m->Marked(base)) cands.push_back({base, r.serial, r.mode});
    }
  }
  if (cands.empty()) return 0;
  // 2. Pass 1: what ordered candidates reach is kept this cycle.
  for (const Candidate& c : cands) {
    if (c.mode != kFinalizeUnordered) {
      m->MarkReferents(c.base, c.mode == kFinalizeIgnoreSelf);
    }
  }
  m->Drain();
  // 3. Still unmarked: ready. Unreachable-mode candidates are decided in
  // a second round, once what the first round's ready objects reach is
  // marked.
  size_t ready = 0, finalizers = 0;
  for (const bool unreachable_round : {false, true}) {
    std::vector<uintptr_t> mark;
    {
      std::lock_guard<std::mutex> gl(guardians_mu_);
      for (const Candidate& c : cands) {
        if ((c.mode == kFinalizeUnreachable) != unreachable_round) continue;
        Shard& sh = ShardOf(c.base);
        std::lock_guard<std::mutex> g(sh.mu);
        auto it = sh.map.find(c.base);
        if (it == sh.map.end() || it->second.serial != c.serial) {
          // Unregistered meanwhile: pass 1 may have recorded weak slots in
          // it, which must outlive the sweep.
          if (c.mode != kFinalizeUnordered && !m->Marked(c.base)) {
            mark.push_back(c.base);
          }
          continue;
        }
        if (m->Marked(c.base)) continue;  // held back
        const Registration r = it->second;
        sh.map.erase(it);
        count_.fetch_sub(1, std::memory_order_release);
        // Held back until ReleaseDecided (mark termination).
        if (r.guardian != nullptr) {
          std::lock_guard<std::mutex> q(r.guardian->mu);
          r.guardian->queue.push_back(r.obj);
          r.guardian->held++;
          guardians_held_ = true;
        } else {
          std::lock_guard<std::mutex> q(queue_mu_);
          ready_.push_back(ReadyFinalizer{r.obj, r.fn, r.data});
          ready_held_++;
          finalizers++;
        }
        mark.push_back(c.base);
        ready++;
      }
    }
    for (uintptr_t b : mark) m->MarkObject(b);
    m->Drain();
  }
  if (ready != 0) {
    queued_since_notify_.fetch_add(ready, std::memory_order_relaxed);
    queued_fin_total_.fetch_add(finalizers, std::memory_order_relaxed);
  }
  return ready;
}

void Finalization::ReleaseDecided() {
  bool released = false;
  {
    std::lock_guard<std::mutex> q(queue_mu_);
    // The held entries are the last ones (a decision appends; runs only
    // erase).
    for (auto it = ready_.rbegin(); ready_held_ != 0; ++it) {
      GC_DCHECK(it != ready_.rend() && it->held && !it->running,
                "a held finalizer is not at the ready queue's back");
      it->held = false;
      ready_held_--;
      ready_pending_++;
      released = true;
    }
  }
  {
    std::lock_guard<std::mutex> gl(guardians_mu_);
    if (guardians_held_) {
      for (Guardian* g : guardians_) {
        std::lock_guard<std::mutex> l(g->mu);
        g->held = 0;
      }
      guardians_held_ = false;
    }
  }
  if (released) Wake();
}

// ---- queues -----------------------------------------------------------------

void Finalization::QueueCleanup(Cleanup* c) {
  {
    std::lock_guard<std::mutex> q(queue_mu_);
    cleanups_.push_back(c);
    work_cv_.notify_all();
  }
  queued_since_notify_.fetch_add(1, std::memory_order_relaxed);
}

bool Finalization::RunOne(
    const std::function<void(uintptr_t, void (*)(), void*)>& run_fin,
    const std::function<void(void (*)(), void*)>& run_cleanup) {
  std::unique_lock<std::mutex> q(queue_mu_);
  auto it = std::find_if(
      ready_.begin(), ready_.end(),
      [](const ReadyFinalizer& f) { return !f.running && !f.held; });
  if (it != ready_.end()) {
    // The entry stays (a root) until the finalizer returns.
    it->running = true;
    ready_pending_--;
    const ReadyFinalizer f = *it;
    q.unlock();
    run_fin(f.obj, f.fn, f.data);
    q.lock();
    ready_.erase(it);
    ran_total_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  while (!cleanups_.empty()) {
    Cleanup* c = cleanups_.front();
    cleanups_.pop_front();
    int queued = Cleanup::kQueued;
    const bool run =
        c->state.compare_exchange_strong(queued, Cleanup::kRunning);
    q.unlock();
    if (run) {
      run_cleanup(c->fn, c->arg);
      ran_total_.fetch_add(1, std::memory_order_relaxed);
    }
    delete c;  // run, or cancelled while queued
    if (run) return true;
    q.lock();
  }
  return false;
}

size_t Finalization::pending() {
  std::lock_guard<std::mutex> q(queue_mu_);
  return ready_pending_ + cleanups_.size();
}

void Finalization::WaitForWork(const std::function<bool()>& stop) {
  std::unique_lock<std::mutex> q(queue_mu_);
  work_cv_.wait(
      q, [&] { return stop() || ready_pending_ != 0 || !cleanups_.empty(); });
}

void Finalization::Wake() {
  std::lock_guard<std::mutex> q(queue_mu_);
  work_cv_.notify_all();
}

void Finalization::Notify() {
  if (queued_since_notify_.exchange(0, std::memory_order_relaxed) == 0) return;
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> g(notifier_mu_);
    fn = notifier_;
  }
  if (fn) fn();
}

void Finalization::SetNotifier(std::function<void()> fn) {
  std::lock_guard<std::mutex> g(notifier_mu_);
  notifier_ = std::move(fn);
}

void Finalization::AfterForkChild() {
  new (&work_cv_) std::condition_variable();
}

void Finalization::ScanRoots(VisitFn visit, void* visit_ctx, void* data) {
  auto* self = static_cast<Finalization*>(data);
  {
    std::lock_guard<std::mutex> q(self->queue_mu_);
    for (ReadyFinalizer& f : self->ready_) {
      visit(reinterpret_cast<void**>(&f.obj), visit_ctx);
    }
  }
  std::lock_guard<std::mutex> gl(self->guardians_mu_);
  for (Guardian* g : self->guardians_) {
    std::lock_guard<std::mutex> l(g->mu);
    for (uintptr_t& obj : g->queue) {
      visit(reinterpret_cast<void**>(&obj), visit_ctx);
    }
  }
}

}  // namespace gcheap
