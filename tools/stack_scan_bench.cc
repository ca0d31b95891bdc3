// stack_scan_bench: the first pause of a concurrent cycle with deep thread
// stacks, conservative stack scanning on and off, and what scanning the
// stacks costs the threads instead (docs/collector.md, "The per-thread root
// snapshot"); then the first pause with a 16 MiB conservative root range,
// which the pause copies, next to what resolving its words in the pause
// would cost. All figures come from the same run.
//
//   bazel run //tools:stack_scan_bench -- --threads=8 --stack_mb=4
//
// Each configuration starts `threads` threads with 16 MiB stacks that
// recurse `stack_mb` MiB deep (4 KiB frames of integer noise, one heap
// pointer each) and then loop on safepoints and small allocations; the
// main thread runs `cycles` explicit collections. Printed: the first
// pause's median and maximum (the cycle hook's pause1_ns), how many scans
// of the threads' roots the threads did themselves and how many collector
// threads did (for threads blocked at the pause, or not yet scheduled),
// the mean time of one scan, and the scan time per cycle summed over the
// threads: what the pause would grow by if it scanned the stacks itself.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "gc/conservative.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

ABSL_FLAG(int, threads, 8, "mutator threads with deep stacks");
ABSL_FLAG(double, stack_mb, 4, "how deep each thread's stack is, MiB");
ABSL_FLAG(int, cycles, 20, "collections per configuration");
ABSL_FLAG(int, range_mb, 16, "size of the conservative root range, MiB");

namespace {

constexpr size_t kFrameWords = 500;  // about 4 KiB per frame

struct Shared {
  gc_heap* h;
  size_t depth;
  std::atomic<bool> stop{false};
  std::atomic<int> at_bottom{0};
  std::mutex mu;
  uint64_t self_scans = 0, self_ns = 0, collector_scans = 0, collector_ns = 0;
};

GC_NOINLINE void Deep(Shared* s, gc_mutator* m, size_t depth) {
  volatile uintptr_t frame[kFrameWords];
  for (size_t i = 0; i < kFrameWords; i++) {
    frame[i] = (depth * kFrameWords + i) * 2654435761u;  // integer noise
  }
  frame[0] = reinterpret_cast<uintptr_t>(gc_alloc_noscan(m, 32));
  if (depth > 0) {
    Deep(s, m, depth - 1);
  } else {
    s->at_bottom++;
    uint64_t n = 0;
    while (!s->stop.load(std::memory_order_relaxed)) {
      gc_safepoint(m);
      if (++n % 64 == 0) gc_alloc_noscan(m, 32);
      sched_yield();
    }
  }
  frame[1] = frame[0];
}

void* ThreadMain(void* arg) {
  auto* s = static_cast<Shared*>(arg);
  gc_mutator* m = gc_thread_attach(s->h);
  Deep(s, m, s->depth);
  {
    std::lock_guard<std::mutex> g(s->mu);
    s->self_scans += m->roots.self_scans.load();
    s->self_ns += m->roots.self_scan_ns.load();
    s->collector_scans += m->roots.collector_scans.load();
    s->collector_ns += m->roots.collector_scan_ns.load();
  }
  gc_thread_detach(m);
  return nullptr;
}

struct Pauses {
  std::mutex mu;
  std::vector<uint64_t> pause1_ns;
};

void OnCycle(const gc_cycle_info* info, void* data) {
  auto* p = static_cast<Pauses*>(data);
  std::lock_guard<std::mutex> g(p->mu);
  p->pause1_ns.push_back(info->pause1_ns);
}

gc_heap* NewHeap(bool conservative) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = 0;
  cfg.gc_percent = -1;  // only the explicit collections
  cfg.verify = 0;
  cfg.conservative_stacks = conservative ? 1 : 0;
  return gc_heap_create(&cfg);
}

// Median and maximum of the first pauses, microseconds.
void Summarize(std::vector<uint64_t> v, double* median, double* max) {
  std::sort(v.begin(), v.end());
  *median = v.empty() ? 0 : v[v.size() / 2] / 1e3;
  *max = v.empty() ? 0 : v.back() / 1e3;
}

void RunStacks(const char* name, bool conservative, int threads,
               double stack_mb, int cycles) {
  gc_heap* h = NewHeap(conservative);
  Shared s;
  s.h = h;
  s.depth = static_cast<size_t>(stack_mb * (1 << 20) /
                                (kFrameWords * sizeof(uintptr_t)));
  Pauses pauses;
  gc_set_cycle_hook(h, &OnCycle, &pauses);
  gc_mutator* m = gc_thread_attach(h);
  std::vector<pthread_t> ts(threads);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 16u << 20);
  for (pthread_t& t : ts) pthread_create(&t, &attr, &ThreadMain, &s);
  pthread_attr_destroy(&attr);
  gc_enter_blocking(m);
  while (s.at_bottom.load() < threads) sched_yield();
  gc_leave_blocking(m);
  {
    std::lock_guard<std::mutex> g(pauses.mu);
    pauses.pause1_ns.clear();  // only cycles with every stack deep
  }
  for (int c = 0; c < cycles; c++) gc_collect(m);
  s.stop = true;
  gc_enter_blocking(m);
  for (pthread_t t : ts) pthread_join(t, nullptr);
  gc_leave_blocking(m);
  double median, max;
  {
    std::lock_guard<std::mutex> g(pauses.mu);
    Summarize(pauses.pause1_ns, &median, &max);
  }
  const uint64_t scans = s.self_scans + s.collector_scans;
  const double per_scan_us =
      scans == 0 ? 0 : (s.self_ns + s.collector_ns) / 1e3 / scans;
  const double per_cycle_us = (s.self_ns + s.collector_ns) / 1e3 / cycles;
  printf("%-34s %7d %8.2f %9.1f %9.1f %6llu %6llu %9.1f %11.1f\n", name,
         threads, stack_mb, median, max,
         static_cast<unsigned long long>(s.self_scans),
         static_cast<unsigned long long>(s.collector_scans), per_scan_us,
         per_cycle_us);
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

// Evicts the caches (the range is read cold, as in a pause that follows a
// stretch of mutator work).
void EvictCaches() {
  static std::vector<char> junk(64 << 20);
  for (size_t i = 0; i < junk.size(); i += 64) junk[i]++;
}

// One word in `every` is a heap pointer (in shuffled order), the others
// integer noise and zeros.
void RunRange(int range_mb, int every, int cycles) {
  gc_heap* h = NewHeap(false);
  Pauses pauses;
  gc_set_cycle_hook(h, &OnCycle, &pauses);
  gc_mutator* m = gc_thread_attach(h);
  std::vector<uintptr_t> range(static_cast<size_t>(range_mb) << 17);
  std::vector<uintptr_t> objects;
  for (size_t i = 0; i < range.size(); i += every) {
    objects.push_back(reinterpret_cast<uintptr_t>(gc_alloc_noscan(m, 32)));
  }
  std::mt19937_64 rng(42);
  std::shuffle(objects.begin(), objects.end(), rng);
  for (size_t i = 0, k = 0; i < range.size(); i++) {
    if (i % every == 0) {
      range[i] = objects[k++];
    } else {
      range[i] = (i % 3 == 0) ? 0 : i * 0x9e3779b97f4a7c15u;
    }
  }
  objects.clear();
  gc_add_conservative_root_range(h, range.data(),
                                 range.size() * sizeof(uintptr_t));
  {
    std::lock_guard<std::mutex> g(pauses.mu);
    pauses.pause1_ns.clear();
  }
  for (int c = 0; c < cycles; c++) {
    EvictCaches();
    gc_collect(m);
  }
  double median, max;
  {
    std::lock_guard<std::mutex> g(pauses.mu);
    Summarize(pauses.pause1_ns, &median, &max);
  }
  // What a scan in the pause would do instead of the copy: resolve every
  // word (the lookups only; greying the objects found would add to it).
  gcheap::Marker marker(&h->heap, &h->types, 0);
  std::vector<uint64_t> resolve_ns;
  uint64_t hits = 0;
  for (int rep = 0; rep < 5; rep++) {
    EvictCaches();
    hits = 0;
    const auto t0 = std::chrono::steady_clock::now();
    gcheap::ForEachAmbiguousWord(
        range.data(), range.data() + range.size(), [&](uintptr_t w) {
          gcheap::ObjectRef r;
          hits += gcheap::FindAmbiguousObject(&marker, nullptr, w, &r);
        });
    resolve_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now() - t0)
                             .count());
  }
  double resolve_median, resolve_max;
  Summarize(resolve_ns, &resolve_median, &resolve_max);
  printf(
      "%3d MiB range, 1 word in %-3d a heap pointer (%7llu objects): "
      "pause 1 copying it: median %7.1f us, max %7.1f us; resolving "
      "its words instead: median %8.1f us\n",
      range_mb, every, static_cast<unsigned long long>(hits), median, max,
      resolve_median);
  gc_remove_conservative_root_range(h, range.data(),
                                    range.size() * sizeof(uintptr_t));
  gc_thread_detach(m);
  gc_heap_destroy(h);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int threads = absl::GetFlag(FLAGS_threads);
  const double stack_mb = absl::GetFlag(FLAGS_stack_mb);
  const int cycles = absl::GetFlag(FLAGS_cycles);
  printf(
      "stack_scan_bench: %d collections per line; pause 1 in us; scans "
      "of the threads' roots by the threads (self) and by collector "
      "threads; scan time in us\n",
      cycles);
  printf("%-34s %7s %8s %9s %9s %6s %6s %9s %11s\n", "configuration", "threads",
         "stack_MB", "p1_median", "p1_max", "self", "coll", "us/scan",
         "us/cycle");
  RunStacks("no conservative scanning", false, threads, stack_mb, cycles);
  RunStacks("conservative stacks", true, threads, stack_mb, cycles);
  RunStacks("conservative stacks, shallow", true, threads, 0.0625, cycles);
  RunStacks("conservative stacks, 2 threads", true, 2, stack_mb, cycles);
  printf(
      "\nconservative root ranges (copied in pause 1, resolved after "
      "it), caches evicted before each pause and each timing; pause 1 "
      "without a range is the first line's:\n");
  RunRange(absl::GetFlag(FLAGS_range_mb), 64, cycles);
  RunRange(absl::GetFlag(FLAGS_range_mb), 4, cycles);
  return 0;
}
