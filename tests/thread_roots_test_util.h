// thread_roots_test_util.h: helpers for the tests of each thread's own
// roots (thread_roots_test: handles, mutator scanners, the per-thread
// snapshot; conservative_test: stacks, ranges, conservative objects). They
// reach into runtime/ internals (the arena index, a mutator's scan
// counters), which the public API does not show.
#ifndef GCHEAP_TESTS_THREAD_ROOTS_TEST_UTIL_H_
#define GCHEAP_TESTS_THREAD_ROOTS_TEST_UTIL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "runtime/runtime.h"
#include "tests/gc_test_util.h"

namespace gcheap {

// Whether p is the base of an allocated object of h. Right after
// gc_collect (which sweeps the whole heap) an object the cycle freed reads
// false, until something allocates its slot again.
inline bool IsLive(gc_heap* h, const void* p) {
  ObjectRef r;
  const auto a = reinterpret_cast<uintptr_t>(p);
  return h->heap.FindObject(a, &r) && r.base == a &&
         r.span->IsAllocated(r.index);
}

// Verification on, the collector mode of the environment (GC_STW: the
// _stw test targets set it), and conservative stack scanning as asked.
inline gc_config RootsConfig(bool conservative_stacks, int gc_percent = 100) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.gc_percent = gc_percent;
  cfg.conservative_stacks = conservative_stacks ? 1 : 0;
  return cfg;
}
inline gc_heap* NewRootsHeap(bool conservative_stacks, int gc_percent = 100) {
  const gc_config cfg = RootsConfig(conservative_stacks, gc_percent);
  return gc_heap_create(&cfg);
}

inline bool Concurrent(const gc_heap* h) {
  return h->config.stop_the_world == 0;
}

// How often m's roots were scanned by m's own thread and by collector
// threads.
inline uint64_t SelfScans(const gc_mutator* m) {
  return m->roots.self_scans.load(std::memory_order_relaxed);
}
inline uint64_t CollectorScans(const gc_mutator* m) {
  return m->roots.collector_scans.load(std::memory_order_relaxed);
}

// A cell whose value encodes its own address: a freed cell (zeroed in
// release builds, poisoned in debug builds) or a reused one fails Valid.
inline constexpr int64_t kCellMagic = 0x5eed0000c0ffee;
inline int64_t CellMark(const Cell* c) {
  return static_cast<int64_t>(reinterpret_cast<uintptr_t>(c)) ^ kCellMagic;
}
inline Cell* NewMarkedCell(gc_mutator* m, gc_type_id cell) {
  auto* c = static_cast<Cell*>(gc_alloc(m, cell, sizeof(Cell)));
  if (c != nullptr) c->value = CellMark(c);
  return c;
}
inline bool Valid(const Cell* c) { return c->value == CellMark(c); }

// Allocates n cells that nothing references (garbage for the next cycle,
// and reuse of freed slots).
inline void Churn(gc_mutator* m, gc_type_id cell, int n) {
  for (int i = 0; i < n; i++) gc_alloc(m, cell, sizeof(Cell));
}

// Joins t while m counts as blocked (t may need a collection, whose pauses
// must not wait for the joining thread).
inline void JoinBlocked(gc_mutator* m, std::thread& t) {
  gc_enter_blocking(m);
  t.join();
  gc_leave_blocking(m);
}

// A one-shot signal between threads.
class Signal {
 public:
  void Notify() {
    std::lock_guard<std::mutex> g(mu_);
    set_ = true;
    cv_.notify_all();
  }
  // False if not signalled within kLiveness.
  bool Wait() {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, kLiveness, [&] { return set_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

}  // namespace gcheap

#endif  // GCHEAP_TESTS_THREAD_ROOTS_TEST_UTIL_H_
