// blocking_bench: how long gc_collect waits for a thread that sleeps in a
// nested blocking bracket.
//
// A sleeper thread enters a blocking bracket, enters a second one inside
// it, leaves the inner one, and then sleeps `--sleep_ms` in the outer one
// (a VM whose blocking call runs a library that brackets its own blocking
// call). The main thread waits until the sleeper is asleep and times one
// gc_collect. With nesting brackets the sleeper counts as stopped for the
// whole outer bracket and the collection does not wait for it; if the inner
// leave made it count as running, the collection waits until the sleeper
// wakes and leaves the outer bracket (about --sleep_ms). Nothing is
// asserted; the figure is printed as measured.
//   bazel run //tools:blocking_bench [-- --sleep_ms=1000 --stw]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/gc.h"

ABSL_FLAG(int, sleep_ms, 1000, "the sleeper's sleep in the outer bracket");
ABSL_FLAG(bool, stw, false, "stop-the-world cycles (default: concurrent)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int sleep_ms = absl::GetFlag(FLAGS_sleep_ms);
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = absl::GetFlag(FLAGS_stw) ? 1 : 0;
  gc_heap* heap = gc_heap_create(&cfg);
  if (heap == nullptr) {
    fprintf(stderr, "gc_heap_create: %s\n", gc_last_error());
    return 1;
  }
  std::atomic<bool> asleep{false};
  std::thread sleeper([&] {
    gc_mutator* m = gc_thread_attach(heap);
    gc_enter_blocking(m);  // outer
    gc_enter_blocking(m);  // inner
    gc_leave_blocking(m);  // inner ends; still inside the outer bracket
    asleep.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    gc_leave_blocking(m);  // outer
    gc_thread_detach(m);
  });
  gc_mutator* m = gc_thread_attach(heap);
  while (!asleep.load()) std::this_thread::yield();
  const auto t0 = std::chrono::steady_clock::now();
  gc_collect(m);
  const auto t1 = std::chrono::steady_clock::now();
  const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  printf(
      "gc_collect with a thread sleeping %d ms in an outer bracket "
      "(after an inner one ended), %s cycles: %.3f ms\n",
      sleep_ms, cfg.stop_the_world ? "stop-the-world" : "concurrent", ms);
  sleeper.join();
  gc_thread_detach(m);
  gc_heap_destroy(heap);
  return 0;
}
