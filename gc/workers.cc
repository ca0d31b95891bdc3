#include "gc/workers.h"

#include <algorithm>

namespace gcheap {

WorkerPool::WorkerPool(int threads) : nthreads_(threads) { Start(); }

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Start() {
  uint64_t seen;
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = false;
    seen = generation_;
  }
  for (int i = 0; i < nthreads_; i++) {
    threads_.emplace_back([this, i, seen] { Loop(i + 1, seen); });
  }
}

void WorkerPool::Stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void WorkerPool::RunParallel(int n, const std::function<void(int)>& fn) {
  n = std::max(1, std::min(n, threads() + 1));
  {
    std::unique_lock<std::mutex> g(mu_);
    job_ = &fn;
    job_workers_ = n - 1;
    running_ = n - 1;
    generation_++;
  }
  if (n > 1) cv_.notify_all();
  fn(0);
  std::unique_lock<std::mutex> g(mu_);
  done_cv_.wait(g, [&] { return running_ == 0; });
  job_ = nullptr;
}

void WorkerPool::Loop(int id, uint64_t seen) {
  std::unique_lock<std::mutex> g(mu_);
  for (;;) {
    cv_.wait(g, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    if (id > job_workers_) continue;  // not needed for this job
    const std::function<void(int)>* job = job_;
    g.unlock();
    (*job)(id);
    g.lock();
    if (--running_ == 0) done_cv_.notify_all();
  }
}

}  // namespace gcheap
