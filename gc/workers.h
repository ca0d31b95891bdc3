// workers.h: the collector's mark worker threads.
//
// A fixed pool of threads, parked on a condition variable between jobs.
// RunParallel(n, fn) runs fn(0) on the calling thread and fn(1..n-1) on
// pool threads, and returns when all n calls have returned. (The
// idle-priority worker is a class of its own: gc/idle_worker.h.)
//
// Stop and Start join and restart all the threads (fork support). A thread
// started late still runs the job posted before it started: it begins
// with the job generation current at Start.
//
// Invariants: one job at a time (the collector's driver is the only
// caller); a pool thread takes part in a job only if its id is below n, and
// RunParallel never returns while one of the job's calls runs.
#ifndef GCHEAP_GC_WORKERS_H_
#define GCHEAP_GC_WORKERS_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gcheap {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // n is capped at threads() + 1.
  void RunParallel(int n, const std::function<void(int)>& fn);
  int threads() const { return nthreads_; }

  // Fork support (Collector::PrepareFork): Stop joins every thread (no job
  // may be running); Start starts them again (threads() of them), in the
  // parent after a fork and in the child, which has none of them.
  void Stop();
  void Start();

 private:
  // seen: the job generation the thread has already seen.
  void Loop(int id, uint64_t seen);

  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  int job_workers_ = 0;  // pool threads taking part in the current job
  uint64_t generation_ = 0;
  int running_ = 0;
  bool stop_ = false;
  const int nthreads_;
  std::vector<std::thread> threads_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_WORKERS_H_
