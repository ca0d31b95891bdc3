// finalizer_thread.h: the heap-owned finalizer thread (gc_config.
// finalizer_thread, the default): an attached mutator that waits, inside a
// blocking region, until finalizers or cleanups are ready
// (Finalization::WaitForWork), leaves the region and runs them all, as
// gc_run_finalizers does, so a finalizer may allocate and use the heap.
// Both poll a safepoint after every finalizer and cleanup, so a long
// batch never holds up a pause.
//
// It starts at the first registration of a finalizer or cleanup (a heap
// that has none never has the thread), and stops when the heap is
// destroyed (before the check that no mutator is attached): it finishes the
// finalizer it is running, detaches and is joined. Work still queued then
// is dropped. A forked child gets a new thread (the parent's does not exist
// there; its mutator is recycled with the other threads').
#ifndef GCHEAP_RUNTIME_FINALIZER_THREAD_H_
#define GCHEAP_RUNTIME_FINALIZER_THREAD_H_

#include <atomic>
#include <mutex>
#include <thread>

#include "runtime/gc.h"

namespace gcheap {

class FinalizerThread {
 public:
  explicit FinalizerThread(gc_heap* heap) : heap_(heap) {}
  ~FinalizerThread() { Stop(); }
  FinalizerThread(const FinalizerThread&) = delete;
  FinalizerThread& operator=(const FinalizerThread&) = delete;

  // Starts the thread unless it runs (any thread; cheap once started).
  void EnsureStarted();
  // Stops and joins it (a thread that is not the finalizer thread).
  void Stop();
  // In a forked child: the thread is gone; start a new one if it ran.
  void AfterForkChild();
  // Whether the calling thread is this heap's finalizer thread.
  bool IsCurrent() const;

 private:
  void Loop();

  gc_heap* const heap_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stop_{false};
  std::mutex mu_;  // start and stop
  std::thread thread_;
};

// Runs every queued finalizer and cleanup on m (gc_run_finalizers, and the
// finalizer thread's loop); returns how many ran.
int RunFinalizers(gc_mutator* m);

}  // namespace gcheap

#endif  // GCHEAP_RUNTIME_FINALIZER_THREAD_H_
