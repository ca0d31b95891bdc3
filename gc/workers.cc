#include "gc/workers.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

namespace gcheap {

namespace {

// Lowers the calling thread to idle priority.
void BecomeIdlePriority() {
  sched_param param{};
  if (sched_setscheduler(0, SCHED_IDLE, &param) == 0) return;
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
}

}  // namespace

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
  idle_thread_ = std::thread([this, seen] {
    BecomeIdlePriority();
    Loop(-1, seen);
  });
}

void WorkerPool::Stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  idle_thread_.join();
}

void WorkerPool::RunParallel(int n, const std::function<void(int)>& fn,
                             bool idle) {
  n = std::max(1, std::min(n, threads() + 1));
  {
    std::unique_lock<std::mutex> g(mu_);
    job_ = &fn;
    job_workers_ = n - 1;
    idle_id_ = idle ? n : -1;
    running_ = n - 1 + (idle ? 1 : 0);
    generation_++;
  }
  cv_.notify_all();
  fn(0);
  std::unique_lock<std::mutex> g(mu_);
  done_cv_.wait(g, [&] { return running_ == 0; });
  job_ = nullptr;
}

// id -1: the idle-priority thread, which takes the id idle_id_ when asked.
void WorkerPool::Loop(int id, uint64_t seen) {
  std::unique_lock<std::mutex> g(mu_);
  for (;;) {
    cv_.wait(g, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    const int job_id = id < 0 ? idle_id_ : id;
    if (job_id < 0 || (id > 0 && id > job_workers_)) continue;  // not needed
    const std::function<void(int)>* job = job_;
    g.unlock();
    (*job)(job_id);
    g.lock();
    if (--running_ == 0) done_cv_.notify_all();
  }
}

}  // namespace gcheap
