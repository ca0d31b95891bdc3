#include "gc/idle_worker.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

#include "heap/base.h"

namespace gcheap {

namespace {

// How long the scout waits before it looks again when a slice found no work.
constexpr auto kScoutPoll = std::chrono::microseconds(20);

// Times the calling thread was preempted (involuntary context switches).
long InvoluntarySwitches() {
  rusage ru;
  if (getrusage(RUSAGE_THREAD, &ru) != 0) return -1;
  return ru.ru_nivcsw;
}

// Lowers the calling thread to idle priority.
void BecomeIdlePriority() {
  sched_param param{};
  if (sched_setscheduler(0, SCHED_IDLE, &param) == 0) return;
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
}

}  // namespace

IdleMarkWorker::IdleMarkWorker() { Start(); }

IdleMarkWorker::~IdleMarkWorker() { Stop(); }

void IdleMarkWorker::Start() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = false;
    requested_ = false;
  }
  marker_ = std::thread([this] { MarkerLoop(); });
  scout_ = std::thread([this] {
    BecomeIdlePriority();
    ScoutLoop();
  });
}

void IdleMarkWorker::Stop() {
  GC_CHECK(closed(), "idle worker stopped with its gate open");
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  scout_cv_.notify_all();
  marker_cv_.notify_all();
  scout_.join();
  marker_.join();
}

void IdleMarkWorker::Open(const Slice* slice) {
  GC_CHECK(closed(), "opening an open idle worker");
  slice_.store(slice, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> g(mu_);
    gate_.store(kOpen, std::memory_order_seq_cst);  // publishes slice_
  }
  scout_cv_.notify_one();
}

bool IdleMarkWorker::TryClose() {
  int expect = kOpen;
  if (gate_.compare_exchange_strong(expect, kClosed,
                                    std::memory_order_seq_cst)) {
    return true;
  }
  return expect == kClosed;  // kMarking: a slice is running
}

void IdleMarkWorker::SetScoutHookForTesting(std::function<void()> hook) {
  std::lock_guard<std::mutex> g(mu_);
  scout_hook_ = std::move(hook);
}

void IdleMarkWorker::ScoutLoop() {
  std::unique_lock<std::mutex> g(mu_);
  for (;;) {
    scout_cv_.wait(g, [&] { return stop_ || gate_.load() != kClosed; });
    if (stop_) return;
    if (scout_hook_) {
      std::function<void()> hook = scout_hook_;
      g.unlock();
      hook();
      g.lock();
      if (stop_) return;
    }
    // Running at idle priority: this processor is spare right now.
    // Notified with the lock released, so the marker (of higher priority)
    // does not wake only to block on it.
    requested_ = true;
    g.unlock();
    marker_cv_.notify_one();
    g.lock();
    scout_cv_.wait(g, [&] { return stop_ || !requested_; });
    if (stop_) return;
    if (!found_work_) {
      // Nothing to mark yet: look again a little later.
      g.unlock();
      std::this_thread::sleep_for(kScoutPoll);
      g.lock();
    }
  }
}

void IdleMarkWorker::MarkerLoop() {
  std::unique_lock<std::mutex> g(mu_);
  for (;;) {
    marker_cv_.wait(g, [&] { return stop_ || requested_; });
    if (stop_) return;
    g.unlock();
    bool found = false;
    // Slices back to back while the processor stays spare: each found
    // work and nothing preempted this thread meanwhile (a thread that
    // wants the processor takes it from us at its wakeup, and the count
    // moves). Going back to the scout after each slice cost two
    // handoffs (four futex calls, two to four context switches) per
    // 100 us of marking.
    const long preempted = InvoluntarySwitches();
    for (;;) {
      int expect = kOpen;
      if (!gate_.compare_exchange_strong(expect, kMarking,
                                         std::memory_order_seq_cst)) {
        break;  // closed (or the next Open's: the scout asks again)
      }
      found = (*slice_.load(std::memory_order_relaxed))();
      slices_.fetch_add(1, std::memory_order_relaxed);
      // The slice's work is back in the pool before the gate reopens: a
      // worker that closes the gate after this sees it, and between two
      // slices TryClose may close it.
      gate_.store(kOpen, std::memory_order_seq_cst);
      if (!found || preempted < 0 || InvoluntarySwitches() != preempted) {
        break;
      }
    }
    g.lock();
    found_work_ = found;
    requested_ = false;
    g.unlock();
    scout_cv_.notify_one();
    g.lock();
  }
}

}  // namespace gcheap
