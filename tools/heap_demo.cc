// heap_demo: the README's main job. Shows the allocator at work: mutator
// threads allocate a mixed workload through their mcaches (tiny, small and
// large paths), a "collection" at the end of each cycle keeps a sliding live
// set, and sweeping runs lazily (through allocation) and in a background
// sweeper thread. Each cycle prints a gctrace-style line; the run ends with a
// per-size-class statistics table and a scavenger demonstration.
//
// The precise collector is the next milestone. Until it lands, the demo
// plays the collector's part: it sets the mark bits of the objects it chose
// to keep (exactly what the mark phase will do), flushes the mcaches and
// starts a sweep cycle.
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "heap/mcache.h"
#include "heap/mheap.h"

ABSL_FLAG(int, threads, 4, "mutator threads (more than cores is fine)");
ABSL_FLAG(int, cycles, 10, "allocation cycles");
ABSL_FLAG(int, objects, 200000, "objects each thread allocates per cycle");
ABSL_FLAG(double, keep, 0.2, "fraction of a cycle's objects kept alive");
ABSL_FLAG(int, live_cycles, 3, "cycles a kept object stays alive");

namespace gcheap {
namespace {

using Clock = std::chrono::steady_clock;
double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}
double MB(size_t b) { return b / 1048576.0; }

size_t ResidentBytes() {
  FILE* f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, res = 0;
  if (f != nullptr) {
    if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
    fclose(f);
  }
  return res * 4096;
}

struct Kept {
  void* p;
  int expires;  // cycle after which it dies
};

void Run() {
  const int nthreads = absl::GetFlag(FLAGS_threads);
  const int cycles = absl::GetFlag(FLAGS_cycles);
  const int per_cycle = absl::GetFlag(FLAGS_objects);
  const double keep = absl::GetFlag(FLAGS_keep);
  const int live_cycles = absl::GetFlag(FLAGS_live_cycles);

  MHeap heap;
  std::vector<MCache*> caches;
  for (int t = 0; t < nthreads; t++) caches.push_back(heap.NewMCache());
  std::vector<std::vector<Kept>> kept(nthreads);
  std::barrier sync(nthreads + 1);
  std::atomic<bool> stop{false}, sweeping{false};
  std::atomic<size_t> swept_pages{0};

  printf("heap_demo: %d threads x %d objects/cycle on %u cores; keep %.0f%% "
         "for %d cycles\n",
         nthreads, per_cycle, std::thread::hardware_concurrency(), keep * 100,
         live_cycles);
  printf("(marking is done by the demo until the collector lands)\n\n");

  auto mutator = [&](int t) {
    std::mt19937_64 rng(t + 1);
    MCache* c = caches[t];
    for (int cycle = 1; cycle <= cycles; cycle++) {
      for (int i = 0; i < per_cycle; i++) {
        uint64_t r = rng() % 1000;
        size_t size;
        bool noscan;
        if (r < 300) {  // short strings and boxed numbers: tiny
          size = 1 + rng() % 15;
          noscan = true;
        } else if (r < 900) {  // cons cells, small records
          size = 16 + 8 * (rng() % 12);
          noscan = false;
        } else if (r < 998) {  // arrays, closures
          size = 128 + rng() % 2048;
          noscan = rng() & 1;
        } else {  // large buffers
          size = 40000 + rng() % 200000;
          noscan = true;
        }
        void* p = c->Alloc(size, noscan);
        if (p == nullptr) {
          fprintf(stderr, "allocation failed\n");
          abort();
        }
        static_cast<char*>(p)[0] = 1;
        if (std::uniform_real_distribution<double>(0, 1)(rng) < keep) {
          kept[t].push_back({p, cycle + live_cycles});
        }
      }
      sync.arrive_and_wait();  // end of the cycle's allocation
      sync.arrive_and_wait();  // the "collector" has marked and flipped
    }
  };

  std::thread sweeper([&] {
    while (!stop.load()) {
      size_t n = sweeping.load() ? heap.SweepOne() : 0;
      if (n == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      } else {
        swept_pages += n;
      }
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < nthreads; t++) threads.emplace_back(mutator, t);

  const auto start = Clock::now();
  for (int cycle = 1; cycle <= cycles; cycle++) {
    sync.arrive_and_wait();
    // "Stop the world": every mutator is parked at the barrier.
    const auto t0 = Clock::now();
    sweeping.store(false);
    heap.FinishSweep();  // sweep termination
    const auto t1 = Clock::now();
    HeapStats before = heap.ReadStats();
    size_t live_objects = 0;
    for (int t = 0; t < nthreads; t++) {
      std::vector<Kept> next;
      for (const Kept& k : kept[t]) {
        if (k.expires <= cycle) continue;
        ObjectRef r;
        if (!heap.FindObject(reinterpret_cast<uintptr_t>(k.p), &r)) abort();
        r.span->SetMarked(r.index);  // what the mark phase will do
        next.push_back(k);
      }
      kept[t].swap(next);
      live_objects += kept[t].size();
      caches[t]->ReleaseAll();
    }
    heap.StartSweepCycle();
    sweeping.store(true);
    const auto t2 = Clock::now();
    sync.arrive_and_wait();  // restart the world
    printf(
        "cycle %d @%.3fs: sweep-term %.3f ms, mark+flip %.3f ms; "
        "%.1f -> live %zu objects; in-use %.1f MB, live %.1f MB, mapped "
        "%.1f MB, released %.1f MB, %zu arenas\n",
        cycle, Ms(t0 - start) / 1000, Ms(t1 - t0), Ms(t2 - t1),
        MB(before.heap_live_bytes), live_objects, MB(before.in_use_bytes),
        MB(before.heap_live_bytes), MB(before.mapped_bytes),
        MB(before.released_bytes), before.arenas);
  }
  for (auto& th : threads) th.join();
  stop.store(true);
  sweeper.join();
  heap.FinishSweep();

  HeapStats st = heap.ReadStats();
  printf("\nper size class (objects):\n");
  printf("%5s %7s %12s %12s %12s\n", "class", "bytes", "allocated", "freed",
         "in use");
  for (int c = 0; c < kNumSizeClasses; c++) {
    const SizeClassStats& s = st.by_class[c];
    if (s.nmalloc == 0) continue;
    printf("%5d %7s %12lu %12lu %12lu\n", c,
           c == 0 ? "large" : absl::StrFormat("%d", kClassToSize[c]).c_str(),
           static_cast<unsigned long>(s.nmalloc),
           static_cast<unsigned long>(s.nfree),
           static_cast<unsigned long>(s.nmalloc - s.nfree));
  }
  printf("total: %lu objects allocated (%lu tiny requests packed into 16 B "
         "blocks), %lu freed\n",
         static_cast<unsigned long>(st.nmalloc),
         static_cast<unsigned long>(st.tiny_allocs),
         static_cast<unsigned long>(st.nfree));
  printf("heap: in-use %.1f MB, live %.1f MB, free %.1f MB, mapped %.1f MB, "
         "released %.1f MB, metadata %.1f MB, background sweeper swept %zu "
         "pages\n",
         MB(st.in_use_bytes), MB(st.heap_live_bytes), MB(st.free_bytes),
         MB(st.mapped_bytes), MB(st.released_bytes), MB(st.meta_bytes),
         swept_pages.load());

  // Drop everything and show the scavenger returning memory.
  for (auto& k : kept) k.clear();
  size_t rss0 = ResidentBytes();
  heap.FinishSweep();
  for (MCache* c : caches) c->ReleaseAll();
  heap.StartSweepCycle();
  heap.FinishSweep();  // frees everything, then scavenges to the goal
  size_t rss1 = ResidentBytes();
  st = heap.ReadStats();
  printf("\nall objects dropped: in-use %.1f MB, RSS %.1f MB -> %.1f MB "
         "(scavenger returned %.1f MB to the OS)\n",
         MB(st.in_use_bytes), MB(rss0), MB(rss1),
         MB(st.scavenged_bytes_total));
  for (MCache* c : caches) heap.FreeMCache(c);
}

}  // namespace
}  // namespace gcheap

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  gcheap::Run();
  return 0;
}
