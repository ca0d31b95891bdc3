// weak_callbacks.cc: see weak_callbacks.h.
#include "gc/weak_callbacks.h"

#include <algorithm>

namespace gcheap {

thread_local gc_heap* WeakCallbacks::running_ = nullptr;

void WeakCallbacks::Add(Fn fn, void* data) {
  std::lock_guard<std::mutex> g(mu_);
  persistent_.push_back(Entry{fn, data});
}

bool WeakCallbacks::Remove(Fn fn, void* data) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = std::find_if(
      persistent_.begin(), persistent_.end(),
      [&](const Entry& e) { return e.fn == fn && e.data == data; });
  if (it == persistent_.end()) return false;
  persistent_.erase(it);
  return true;
}

void WeakCallbacks::AddForCycle(Fn fn, void* data) {
  std::lock_guard<std::mutex> g(cycle_mu_);
  cycle_.push_back(Entry{fn, data});
}

bool WeakCallbacks::empty() {
  std::lock_guard<std::mutex> g(mu_);
  std::lock_guard<std::mutex> c(cycle_mu_);
  return persistent_.empty() && cycle_.empty();
}

uint64_t WeakCallbacks::Run() {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<Entry> cycle;
  {
    std::lock_guard<std::mutex> c(cycle_mu_);
    cycle.swap(cycle_);
  }
  running_ = handle_;
  for (const Entry& e : persistent_) e.fn(handle_, e.data);
  for (const Entry& e : cycle) e.fn(handle_, e.data);
  running_ = nullptr;
  return persistent_.size() + cycle.size();
}

}  // namespace gcheap
