// mark_window.h: holds one concurrent cycle's mark phase open, for the
// write-barrier tests and the barrier benchmark (Collector's testing seam
// SetMarkPhaseHookForTesting).
#ifndef GCHEAP_TOOLS_MARK_WINDOW_H_
#define GCHEAP_TOOLS_MARK_WINDOW_H_

#include <condition_variable>
#include <mutex>
#include <thread>

#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace gcheap {

// Holds one concurrent cycle's mark phase open. Open() starts a cycle from
// a second attached thread and returns once the driver thread blocks in the
// mark-phase hook (pause 1 done, barrier on, no background marking yet);
// Close() lets marking proceed and returns once the cycle has ended and the
// world runs again. m is the calling thread's mutator: it counts as blocked
// while it waits, so neither pause waits for it.
class MarkWindow {
 public:
  MarkWindow(gc_heap* h, gc_mutator* m) : h_(h), m_(m) {}
  ~MarkWindow() {
    if (collector_.joinable()) Close();
  }

  void Open() {
    h_->collector->SetMarkPhaseHookForTesting([this] {
      std::unique_lock<std::mutex> g(mu_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(g, [&] { return released_; });
    });
    collector_ = std::thread([h = h_] {
      gc_mutator* cm = gc_thread_attach(h);
      gc_collect(cm);  // returns when the cycle has ended
      gc_thread_detach(cm);
    });
    gc_enter_blocking(m_);
    {
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [&] { return entered_; });
    }
    gc_leave_blocking(m_);
  }

  void Close() {
    gc_enter_blocking(m_);  // the final pause must not wait for us
    {
      std::lock_guard<std::mutex> g(mu_);
      released_ = true;
    }
    cv_.notify_all();
    collector_.join();
    gc_leave_blocking(m_);
    h_->collector->SetMarkPhaseHookForTesting(nullptr);
  }

 private:
  gc_heap* h_;
  gc_mutator* m_;
  std::thread collector_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool released_ = false;
};

}  // namespace gcheap

#endif  // GCHEAP_TOOLS_MARK_WINDOW_H_
