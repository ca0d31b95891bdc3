// sweeper.h: the background sweeper (Go's bgsweep).
//
// One thread per heap. The collector wakes it at the end of every cycle,
// once the world runs again; it then sweeps span by span (MHeap::SweepOne,
// which holds a sweep locker for one span only, so a new cycle's sweep
// termination never waits long for it) until nothing is left to sweep,
// and returns free memory beyond the retention goal to the OS
// (MHeap::ScavengeToGoal). Sleeps otherwise.
//
// Invariants: the sweeper is not a mutator: no pause waits for it, and it
// holds no sweep locker while it scavenges. A wake-up that arrives while it
// sweeps is not lost: it runs another round. on_round is called on the
// sweeper thread after every round (the collector notes the end of the
// sweep phase there).
#ifndef GCHEAP_GC_SWEEPER_H_
#define GCHEAP_GC_SWEEPER_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "gc/events.h"
#include "heap/mheap.h"

namespace gcheap {

class BackgroundSweeper {
 public:
  // events (may be null) hears each round as a kSweep activity.
  BackgroundSweeper(MHeap* heap, std::function<void()> on_round,
                    EventBus* events = nullptr);
  // Stops the thread (a round in progress stops between two spans).
  ~BackgroundSweeper();
  BackgroundSweeper(const BackgroundSweeper&) = delete;
  BackgroundSweeper& operator=(const BackgroundSweeper&) = delete;

  // A sweep cycle began: sweep it. Any thread.
  void Wake();
  // Fork support (Collector::PrepareFork): Stop joins the thread (a round
  // in progress stops between two spans); Start starts it again and
  // resumes the sweep (a round with nothing left is harmless).
  void Stop();
  void Start();
  // Rounds finished so far (for tests).
  uint64_t rounds() const;

 private:
  void Loop();

  MHeap* const heap_;
  const std::function<void()> on_round_;
  EventBus* const events_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;  // guarded by mu_
  uint64_t rounds_ = 0;   // guarded by mu_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_SWEEPER_H_
