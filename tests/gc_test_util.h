// gc_test_util.h: helpers for tests of the embedding API and collector.
#ifndef GCHEAP_TESTS_GC_TEST_UTIL_H_
#define GCHEAP_TESTS_GC_TEST_UTIL_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/gc.h"

namespace gcheap {

// How long a test waits for something that must happen before it gives up
// and fails (generous: the machine may be loaded). Tests that hold a
// thread or a phase open check liveness this way, never a timing assert.
inline constexpr auto kLiveness = std::chrono::seconds(60);

// Runs fn(m) on a new thread attached to h as m; returns whether it
// finished within kLiveness. If it did not, calls release() (which must let
// it finish) before joining it. The caller must not hold up a stop of the
// world meanwhile (it should be in a blocking region or not attached).
template <typename F, typename R>
bool FinishesOnAttachedThread(gc_heap* h, F fn, R release) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread t([&] {
    gc_mutator* m = gc_thread_attach(h);
    fn(m);
    gc_thread_detach(m);
    std::lock_guard<std::mutex> g(mu);
    done = true;
    cv.notify_all();
  });
  bool in_time;
  {
    std::unique_lock<std::mutex> g(mu);
    in_time = cv.wait_for(g, kLiveness, [&] { return done; });
  }
  if (!in_time) release();
  t.join();
  return in_time;
}

// A cons cell: two pointer slots and an integer payload.
struct Cell {
  void* car;
  void* cdr;
  int64_t value;
};

// Registers a type whose layouts fit one bitmap word each (at most 64
// words): a fixed part of `size` bytes with pointer bitmap `map`, and, if
// elem_size is not 0, a tail of elem_size-byte elements with bitmap
// `elem_map`. A map of 0 means no pointers there. Returns 0 with
// gc_last_error() set on failure.
inline gc_type_id RegisterSmallType(gc_heap* h, const char* name, size_t size,
                                    uint64_t map, size_t elem_size = 0,
                                    uint64_t elem_map = 0) {
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.name = name;
  d.size = size;
  if (map != 0) {
    d.ptr_bitmap = &map;
    d.ptr_bitmap_words = 1;
  }
  d.elem_size = elem_size;
  if (elem_map != 0) {
    d.elem_ptr_bitmap = &elem_map;
    d.elem_ptr_bitmap_words = 1;
  }
  return gc_register_type(h, &d);
}

// The heap's statistics (gc_get_stats with this header's gc_stats).
inline gc_stats GetStats(gc_heap* h) {
  gc_stats s;
  s.struct_size = sizeof(s);
  gc_get_stats(h, &s);
  return s;
}

// Allocates a cell into *slot (which the caller registered as a root) and
// gives it a finalizer that does nothing: while it stays there every
// cycle has a finalizer registration, hence a finalizer phase
// (gc/finalize.h). False with gc_last_error() set on failure.
inline bool KeepAFinalizableCell(gc_mutator* m, gc_type_id cell, void** slot) {
  *slot = gc_alloc(m, cell, sizeof(Cell));
  return *slot != nullptr && gc_register_finalizer(
                                 m, *slot, [](gc_mutator*, void*, void*) {},
                                 nullptr, GC_FINALIZE_ORDERED) == 0;
}

// The Cell type: car and cdr are pointer slots.
inline gc_type_id RegisterCell(gc_heap* h) {
  return RegisterSmallType(h, "Cell", sizeof(Cell), 0b011);
}

// A concurrent heap (stop_the_world = 0) with verification on.
inline gc_heap* NewConcurrentHeap(int gc_percent = 100, int workers = 0) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = 0;
  cfg.verify = 1;
  cfg.gc_percent = gc_percent;
  cfg.gc_workers = workers;
  return gc_heap_create(&cfg);
}

// A heap for the multi-threaded stress tests: verification on, GC percent
// 20 (cycles come often), the collector mode from the environment (the
// _stw targets set GC_STW=1). NULL with gc_last_error() on failure.
inline gc_heap* NewStressHeap() {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.verify = 1;
  cfg.gc_percent = 20;
  return gc_heap_create(&cfg);
}

// A stress thread's loop condition: true until the deadline, which it
// reads once every 64 rounds (*round counts them).
class StressDeadline {
 public:
  explicit StressDeadline(std::chrono::milliseconds run)
      : end_(std::chrono::steady_clock::now() + run) {}
  bool Running(uint64_t* round) const {
    return (++*round % 64 != 0) || std::chrono::steady_clock::now() < end_;
  }

 private:
  std::chrono::steady_clock::time_point end_;
};

// Registers a type of `size` bytes scanned by `trace` (the bitmaps unused).
// Returns 0 with gc_last_error() set on failure.
inline gc_type_id RegisterTracedType(gc_heap* h, const char* name, size_t size,
                                     gc_trace_fn trace) {
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.name = name;
  d.size = size;
  d.trace = trace;
  return gc_register_type(h, &d);
}

// A heap with verification on, plus the calling thread's mutator and the
// Cell type. Destroyed (detaching the mutator) at the end of the test.
class GcTest : public ::testing::Test {
 protected:
  void SetUp() override { Init(nullptr); }
  void Init(const gc_config* override_cfg) {
    if (heap_ != nullptr) TearDown();
    gc_config cfg;
    gc_config_init(&cfg);
    cfg.verify = 1;
    if (override_cfg != nullptr) cfg = *override_cfg;
    heap_ = gc_heap_create(&cfg);
    ASSERT_NE(heap_, nullptr) << gc_last_error();
    m_ = gc_thread_attach(heap_);
    cell_ = RegisterCell(heap_);
    ASSERT_NE(cell_, 0u) << gc_last_error();
  }
  void TearDown() override {
    if (heap_ == nullptr) return;
    gc_thread_detach(m_);
    gc_heap_destroy(heap_);
    heap_ = nullptr;
  }
  Cell* NewCell(void* car, void* cdr, int64_t v) {
    auto* c = static_cast<Cell*>(gc_alloc(m_, cell_, sizeof(Cell)));
    EXPECT_NE(c, nullptr) << gc_last_error();
    gc_write_barrier(m_, c, &c->car, car);
    gc_write_barrier(m_, c, &c->cdr, cdr);
    c->value = v;
    return c;
  }
  gc_stats Stats() { return GetStats(heap_); }

  gc_heap* heap_ = nullptr;
  gc_mutator* m_ = nullptr;
  gc_type_id cell_ = 0;
};

}  // namespace gcheap

#endif  // GCHEAP_TESTS_GC_TEST_UTIL_H_
