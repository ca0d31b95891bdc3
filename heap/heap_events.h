// heap_events.h: what the allocator tells an observer: the heap grew by an
// arena, memory went back to the OS, and a thread entered or left the
// allocation slow path (a span refill or a large object).
//
// The observer is the collector's event bus (gc/events.h), set once with
// MHeap::set_event_sink before the heap is used. Every report is guarded
// by active(), one relaxed load and a predictable branch, so with no
// listener installed the allocator pays nothing else; the slow-path
// activity by activities_active(), so listeners that do not want
// activities cost the slow path nothing either. Reports are made
// with no heap lock held: a listener may call back into the heap's
// read-only functions (statistics, counters, queries).
#ifndef GCHEAP_HEAP_HEAP_EVENTS_H_
#define GCHEAP_HEAP_HEAP_EVENTS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace gcheap {

class HeapEventSink {
 public:
  virtual ~HeapEventSink() = default;
  // True while someone listens.
  bool active() const { return active_.load(std::memory_order_relaxed); }
  // True while someone listens to activities (AllocSlowPath).
  bool activities_active() const {
    return activities_active_.load(std::memory_order_relaxed);
  }
  // A new arena of `bytes` at `base`; `reserved` is the heap's address
  // space now.
  virtual void ArenaAdded(uintptr_t base, size_t bytes, size_t reserved) = 0;
  // `bytes` of free memory went back to the OS; `released` is what is
  // released now.
  virtual void MemoryReleased(size_t bytes, size_t released) = 0;
  // The calling thread enters (true) or leaves (false) the allocation slow
  // path, for `bytes` (a large object's size, or a span's).
  virtual void AllocSlowPath(bool begin, size_t bytes) = 0;

 protected:
  std::atomic<bool> active_{false};
  std::atomic<bool> activities_active_{false};
};

// Reports the allocation slow path around a scope, when someone listens
// to activities.
class AllocSlowPathScope {
 public:
  AllocSlowPathScope(HeapEventSink* sink, size_t bytes)
      : sink_(sink != nullptr && sink->activities_active() ? sink : nullptr),
        bytes_(bytes) {
    if (sink_ != nullptr) sink_->AllocSlowPath(true, bytes_);
  }
  ~AllocSlowPathScope() {
    if (sink_ != nullptr) sink_->AllocSlowPath(false, bytes_);
  }
  AllocSlowPathScope(const AllocSlowPathScope&) = delete;
  AllocSlowPathScope& operator=(const AllocSlowPathScope&) = delete;

 private:
  HeapEventSink* const sink_;
  const size_t bytes_;
};

}  // namespace gcheap

#endif  // GCHEAP_HEAP_HEAP_EVENTS_H_
