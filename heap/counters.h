// counters.h: cheap event counters for measuring contention on the
// allocator's shared structures (tools/ benchmarks report them per GiB
// allocated; docs/benchmarks.md reads them).
//
// Two kinds, both off the allocation fast path:
//
//   CountedMutex   a std::mutex that counts its acquisitions and the
//                  acquisitions that found it held (waits). The counts are
//                  written while the mutex is held, next to it, with a
//                  relaxed load and store (no read-modify-write): they cost
//                  no extra cache-line transfer and are exact.
//   ShardedCounts  event counts for things that are not locks (sweep
//                  lockers, refills, heap_live updates). Each thread bumps
//                  its own shard (a cache line of counters picked once per
//                  thread, round robin over kShards), so counting adds no
//                  shared cache line; Read sums the shards.
//
// Counts are cumulative and approximate only in that a reader may miss an
// increment in flight. Acquisitions per GiB are the same on any machine
// for the same workload; waits depend on the machine (2 processors
// oversubscribed mostly show waits when a lock holder is preempted).
#ifndef GCHEAP_HEAP_COUNTERS_H_
#define GCHEAP_HEAP_COUNTERS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace gcheap {

// Adds one to a counter that only the current holder of a lock writes.
inline void BumpHeld(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

class CountedMutex {
 public:
  void lock() {
    bool waited = false;
    if (!mu_.try_lock()) {
      waited = true;
      mu_.lock();
    }
    BumpHeld(acquires_);
    if (waited) BumpHeld(waits_);
  }
  bool try_lock() {
    if (!mu_.try_lock()) return false;
    BumpHeld(acquires_);
    return true;
  }
  void unlock() { mu_.unlock(); }

  uint64_t acquires() const {
    return acquires_.load(std::memory_order_relaxed);
  }
  uint64_t waits() const { return waits_.load(std::memory_order_relaxed); }

 private:
  std::mutex mu_;
  std::atomic<uint64_t> acquires_{0};
  std::atomic<uint64_t> waits_{0};
};

inline constexpr unsigned kCounterShards = 64;

// The calling thread's shard (0 .. kCounterShards-1), assigned round robin
// on first use.
inline unsigned CounterShard() {
  static std::atomic<unsigned> next{0};
  thread_local const unsigned shard =
      next.fetch_add(1, std::memory_order_relaxed) % kCounterShards;
  return shard;
}

template <int kCounters>
class ShardedCounts {
 public:
  void Add(int counter, uint64_t n = 1) {
    std::atomic<uint64_t>& c = shards_[CounterShard()].c[counter];
    c.fetch_add(n, std::memory_order_relaxed);  // its own line, uncontended
  }
  uint64_t Read(int counter) const {
    uint64_t sum = 0;
    for (const Shard& s : shards_) {
      sum += s.c[counter].load(std::memory_order_relaxed);
    }
    return sum;
  }

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> c[kCounters] = {};
  };
  static_assert(kCounters <= 8, "one cache line of counters per shard");
  Shard shards_[kCounterShards];
};

// The allocator's counted events (MHeap::ReadCounters).
enum HeapEvent {
  kEventSweepLockers,
  kEventRefills,
  kEventRefillsHeapLock,
  kEventHeapLiveUpdates,
  kEventLargeAllocs,
  kEventSpanSetOps,
  kEventSpanSetRetries,
  kEventRefillsEmptySpan,
  kNumHeapEvents
};
using HeapEventCounts = ShardedCounts<kNumHeapEvents>;

}  // namespace gcheap

#endif  // GCHEAP_HEAP_COUNTERS_H_
