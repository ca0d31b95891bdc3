// handle_bench: what a local root costs. A handle (gc_handle_new inside a
// gc_handle_scope: a store and an increment, no lock, no call) next to
// gc::Root (gc_add_root and gc_remove_root: the root set's mutex and a
// hash-map insert and erase) and a bare gc_add_root / gc_remove_root pair,
// on one thread and on two threads at once (which share the root set's
// mutex, and nothing else). All figures come from the same run.
//
//   bazel run //tools:handle_bench -- --iters=2000000
//
// Prints one line per method and thread count: nanoseconds per root made
// and dropped (wall clock per thread).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/gc.h"
#include "runtime/gc.hpp"

ABSL_FLAG(int64_t, iters, 2000000, "roots made and dropped per measurement");

namespace {

// Keeps the compiler from dropping a root it cannot see used.
inline void Use(void* p) { asm volatile("" : : "r"(p) : "memory"); }

using Body = std::function<void(gc_mutator* m, void* obj, int64_t iters)>;

// ns per root on each of `threads` threads running body at once.
double Measure(gc_heap* h, void* obj, int threads, int64_t iters,
               const Body& body) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> ns(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; t++) {
    ts.emplace_back([&, t] {
      gc_mutator* m = gc_thread_attach(h);
      ready++;
      while (!go.load()) std::this_thread::yield();
      const auto t0 = std::chrono::steady_clock::now();
      body(m, obj, iters);
      const auto t1 = std::chrono::steady_clock::now();
      ns[t] = std::chrono::duration<double, std::nano>(t1 - t0).count() /
              static_cast<double>(iters);
      gc_thread_detach(m);
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  go = true;
  for (auto& t : ts) t.join();
  double sum = 0;
  for (double v : ns) sum += v;
  return sum / threads;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t iters = absl::GetFlag(FLAGS_iters);
  gc_config cfg;
  gc_config_init(&cfg);
  gc_heap* h = gc_heap_create(&cfg);
  gc_mutator* m = gc_thread_attach(h);
  void* obj = gc_alloc_noscan(m, 32);  // what every root holds
  gc_add_root(h, &obj);
  gc_thread_detach(m);  // the measuring threads attach themselves

  struct Method {
    const char* name;
    Body body;
  };
  const Method methods[] = {
      {"handle: scope + 1 handle",
       [](gc_mutator* m, void* obj, int64_t n) {
         for (int64_t i = 0; i < n; i++) {
           gc_handle_scope s;
           gc_handle_scope_open(m, &s);
           Use(gc_handle_new(m, obj));
           gc_handle_scope_close(m, &s);
         }
       }},
      {"handle: 16 per scope (per handle)",
       [](gc_mutator* m, void* obj, int64_t n) {
         for (int64_t i = 0; i < n; i += 16) {
           gc_handle_scope s;
           gc_handle_scope_open(m, &s);
           for (int k = 0; k < 16; k++) Use(gc_handle_new(m, obj));
           gc_handle_scope_close(m, &s);
         }
       }},
      {"gc::HandleScope + gc::Handle",
       [](gc_mutator* m, void* obj, int64_t n) {
         for (int64_t i = 0; i < n; i++) {
           gc::HandleScope scope(m);
           gc::Handle<void> hd(m, obj);
           Use(hd.slot());
         }
       }},
      {"gc::Root (gc_add_root + gc_remove_root)",
       [h](gc_mutator*, void* obj, int64_t n) {
         for (int64_t i = 0; i < n; i++) {
           gc::Root<void> r(h, obj);
           Use(&r);
         }
       }},
      {"gc_add_root + gc_remove_root",
       [h](gc_mutator*, void* obj, int64_t n) {
         for (int64_t i = 0; i < n; i++) {
           void* slot = obj;
           gc_add_root(h, &slot);
           Use(&slot);
           gc_remove_root(h, &slot);
         }
       }},
  };
  printf(
      "handle_bench: %lld roots per measurement, ns per root made and "
      "dropped (per thread)\n",
      static_cast<long long>(iters));
  printf("%-44s %10s %10s\n", "method", "1 thread", "2 threads");
  for (const Method& me : methods) {
    const double one = Measure(h, obj, 1, iters, me.body);
    const double two = Measure(h, obj, 2, iters, me.body);
    printf("%-44s %10.2f %10.2f\n", me.name, one, two);
  }
  gc_remove_root(h, &obj);
  gc_heap_destroy(h);
  return 0;
}
