#include "gc/sweeper.h"

namespace gcheap {

BackgroundSweeper::BackgroundSweeper(MHeap* heap,
                                     std::function<void()> on_round,
                                     EventBus* events)
    : heap_(heap), on_round_(std::move(on_round)), events_(events) {
  thread_ = std::thread([this] { Loop(); });
}

BackgroundSweeper::~BackgroundSweeper() { Stop(); }

void BackgroundSweeper::Stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackgroundSweeper::Start() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = false;
    pending_ = true;
  }
  thread_ = std::thread([this] { Loop(); });
}

void BackgroundSweeper::Wake() {
  {
    std::lock_guard<std::mutex> g(mu_);
    pending_ = true;
  }
  cv_.notify_one();
}

uint64_t BackgroundSweeper::rounds() const {
  std::lock_guard<std::mutex> g(mu_);
  return rounds_;
}

void BackgroundSweeper::Loop() {
  std::unique_lock<std::mutex> g(mu_);
  for (;;) {
    cv_.wait(g, [&] { return pending_ || stop_; });
    if (stop_) return;
    pending_ = false;
    g.unlock();
    {
      ActivityScope activity(events_, Activity::kSweep);
      while (heap_->SweepOne() != 0) {
        if (stop_) return;
      }
    }
    // Memory the sweep freed beyond the retention goal goes back to the OS
    // here, off every pause.
    if (heap_->auto_scavenge()) heap_->ScavengeToGoal();
    if (on_round_) on_round_();
    g.lock();
    rounds_++;
  }
}

}  // namespace gcheap
