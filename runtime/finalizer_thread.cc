#include "runtime/finalizer_thread.h"

#include <new>

#include "runtime/runtime.h"

namespace gcheap {

int RunFinalizers(gc_mutator* m) {
  Finalization& fin = m->heap->collector->finalization();
  int n = 0;
  const auto run_fin = [m](uintptr_t obj, void (*fn)(), void* data) {
    reinterpret_cast<gc_finalizer_fn>(fn)(m, reinterpret_cast<void*>(obj),
                                          data);
  };
  const auto run_cleanup = [m](void (*fn)(), void* arg) {
    reinterpret_cast<gc_cleanup_fn>(fn)(m, arg);
  };
  // A safepoint between two finalizers: a long batch must not hold up a
  // stop of the world (the finalizer thread is a mutator like any other,
  // and a finalizer that does not allocate never polls). Nothing of the
  // queue is held between two RunOne calls.
  while (fin.RunOne(run_fin, run_cleanup)) {
    n++;
    gc_safepoint(m);
  }
  return n;
}

void FinalizerThread::EnsureStarted() {
  if (started_.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> g(mu_);
  if (started_.load(std::memory_order_relaxed)) return;
  stop_.store(false, std::memory_order_relaxed);
  thread_ = std::thread([this] { Loop(); });
  started_.store(true, std::memory_order_release);
}

void FinalizerThread::Stop() {
  std::lock_guard<std::mutex> g(mu_);
  if (!started_.load(std::memory_order_relaxed)) return;
  stop_.store(true, std::memory_order_release);
  heap_->collector->finalization().Wake();
  thread_.join();
  started_.store(false, std::memory_order_release);
}

void FinalizerThread::AfterForkChild() {
  // The parent's thread does not exist here: forget its handle (joining
  // or destroying a joinable std::thread would fail) and start anew.
  new (&thread_) std::thread();
  new (&mu_) std::mutex();
  const bool was = started_.exchange(false, std::memory_order_relaxed);
  if (was) EnsureStarted();
}

bool FinalizerThread::IsCurrent() const {
  return started_.load(std::memory_order_acquire) &&
         thread_.get_id() == std::this_thread::get_id();
}

void FinalizerThread::Loop() {
  gc_mutator* m = gc_thread_attach(heap_);
  Finalization& fin = heap_->collector->finalization();
  for (;;) {
    gc_enter_blocking(m);
    fin.WaitForWork([this] { return stop_.load(std::memory_order_acquire); });
    gc_leave_blocking(m);
    if (stop_.load(std::memory_order_acquire)) break;
    RunFinalizers(m);
  }
  gc_thread_detach(m);
}

}  // namespace gcheap
