// workers.h: the collector's worker threads.
//
// A fixed pool of threads, parked on a condition variable between jobs.
// RunParallel(n, fn) runs fn(0) on the calling thread and fn(1..n-1) on pool
// threads, and returns when all n calls have returned.
//
// The pool also has one idle-priority thread (Go's idle mark worker): it
// runs under SCHED_IDLE (or, where that is refused, at nice 19), so it only
// gets a processor nobody else wants, and any other thread that wakes up
// takes the processor from it at once. RunParallel(n, fn, true) also runs
// fn(n) on it. A thread cannot raise its priority back without privilege,
// which is why this is a thread of its own.
//
// Stop and Start join and restart all the threads (fork support). A thread
// started late still runs the job posted before it started: it begins
// with the job generation current at Start.
#ifndef GCHEAP_GC_WORKERS_H_
#define GCHEAP_GC_WORKERS_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gcheap {

class WorkerPool {
 public:
  // threads pool threads, plus the idle-priority thread.
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // n is capped at threads() + 1. With idle, fn(n) also runs on the
  // idle-priority thread (n + 1 calls in all).
  void RunParallel(int n, const std::function<void(int)>& fn,
                   bool idle = false);
  int threads() const { return nthreads_; }

  // Fork support (Collector::PrepareFork): Stop joins every thread (no job
  // may be running); Start starts them again (threads() of them, plus the
  // idle-priority one), in the parent after a fork and in the child, which
  // has none of them.
  void Stop();
  void Start();

 private:
  // seen: the job generation the thread has already seen.
  void Loop(int id, uint64_t seen);

  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  int job_workers_ = 0;  // pool threads taking part in the current job
  int idle_id_ = -1;     // the idle thread's id in the current job, or -1
  uint64_t generation_ = 0;
  int running_ = 0;
  bool stop_ = false;
  const int nthreads_;
  std::vector<std::thread> threads_;
  std::thread idle_thread_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_WORKERS_H_
