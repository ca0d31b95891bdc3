// alloc_during_mark: how long a mutator takes to allocate while a
// concurrent cycle marks (issue 11, defect 1: with GC_PERCENT=off every
// span refill during marking waited for the whole cycle).
//
// A concurrent cycle's mark phase is held open for --mark_ms with
// Collector::SetMarkPhaseHookForTesting (the driver sleeps in the hook
// after pause 1; a second thread's gc_collect waits for the cycle), and
// the main thread allocates --allocs 64-byte scan objects meanwhile; the
// time that takes is printed. Nothing is asserted. GC_PERCENT and the
// other GC_* variables apply as usual:
//   GC_PERCENT=100 bazel run //tools:alloc_during_mark
//   GC_PERCENT=off bazel run //tools:alloc_during_mark
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

ABSL_FLAG(int, allocs, 20000, "objects allocated while marking");
ABSL_FLAG(int, mark_ms, 1000, "how long the mark phase is held open");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int allocs = absl::GetFlag(FLAGS_allocs);
  const int mark_ms = absl::GetFlag(FLAGS_mark_ms);
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = 0;
  gc_heap* h = gc_heap_create(&cfg);
  if (h == nullptr) {
    fprintf(stderr, "gc_heap_create: %s\n", gc_last_error());
    return 1;
  }
  const uint64_t map = 0b11;  // two pointer words, then data
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.name = "Obj";
  d.size = 64;
  d.ptr_bitmap = &map;
  d.ptr_bitmap_words = 1;
  const gc_type_id t = gc_register_type(h, &d);
  gc_mutator* m = gc_thread_attach(h);

  std::atomic<bool> in_mark{false};
  h->collector->SetMarkPhaseHookForTesting([&] {
    in_mark.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(mark_ms));
  });
  std::thread collector([h] {
    gc_mutator* cm = gc_thread_attach(h);
    gc_collect(cm);
    gc_thread_detach(cm);
  });
  gc_enter_blocking(m);  // pause 1 must not wait for us
  while (!in_mark.load()) std::this_thread::yield();
  gc_leave_blocking(m);

  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < allocs; i++) {
    if (gc_alloc(m, t, 64) == nullptr) {
      fprintf(stderr, "gc_alloc: %s\n", gc_last_error());
      return 1;
    }
  }
  const double ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - t0)
                        .count();
  gc_enter_blocking(m);
  collector.join();
  gc_leave_blocking(m);
  h->collector->SetMarkPhaseHookForTesting(nullptr);
  printf(
      "gc_percent=%d: %d allocations of 64 B while a mark was held open "
      "for %d ms took %.3f ms\n",
      cfg.gc_percent, allocs, mark_ms, ms);
  gc_thread_detach(m);
  gc_heap_destroy(h);
  return 0;
}
