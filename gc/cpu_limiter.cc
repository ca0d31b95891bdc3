#include "gc/cpu_limiter.h"

#include <algorithm>

namespace gcheap {

GcCpuLimiter::GcCpuLimiter(int procs, int64_t now_ns, double max_fraction,
                           int64_t window_ns)
    : procs_(std::max(1, procs)),
      max_fraction_(max_fraction),
      capacity_ns_(static_cast<double>(window_ns) * std::max(1, procs)),
      last_ns_(now_ns) {}

bool GcCpuLimiter::Update(int64_t now_ns) {
  std::lock_guard<std::mutex> g(mu_);
  const int64_t gc = pending_gc_ns_.exchange(0);
  const int64_t elapsed = std::max<int64_t>(0, now_ns - last_ns_);
  last_ns_ = std::max(last_ns_, now_ns);
  level_ += gc / max_fraction_ - static_cast<double>(procs_) * elapsed;
  level_ = std::clamp(level_, 0.0, capacity_ns_);
  const bool on = level_ >= capacity_ns_;
  if (on && !limited_.load(std::memory_order_relaxed)) {
    engaged_.fetch_add(1, std::memory_order_relaxed);
  }
  limited_.store(on, std::memory_order_relaxed);
  return on;
}

double GcCpuLimiter::level_fraction() const {
  std::lock_guard<std::mutex> g(mu_);
  return level_ / capacity_ns_;
}

}  // namespace gcheap
