// barrier_bench: what gc_write_barrier costs next to a plain pointer store.
//
// A store-heavy loop: `--stores` pointer stores per repetition into a pool
// of `--pool` 64-byte heap objects, at random but precomputed indices (the
// object stored into, its slot, and the pointer stored), measured three
// ways in the same run:
//   plain   an atomic release store of the pointer, no barrier (the store
//           gc_write_barrier itself ends with);
//   off     gc_write_barrier while no collection is marking (the inline
//           fast path: one relaxed load of the mutator's barrier flag, a
//           branch, the store);
//   on      gc_write_barrier while a concurrent cycle is marking (the
//           out-of-line path: old and new value into the mutator's buffer,
//           shaded every 256 stores). The mark phase is held open with
//           Collector::SetMarkPhaseHookForTesting while a second thread's
//           gc_collect waits, so no mark worker competes for the CPU.
// Each figure is the median of `--reps` repetitions, plain interleaved with
// the variant it is compared with; overheads are relative to the plain
// loop measured in the same phase. The targets: < 1% with marking
// off, < 5% with marking on. Nothing is asserted; the figures are printed
// as measured.
//   bazel run //tools:barrier_bench [-- --stores=1000000 --pool=65536
//   --reps=11]
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/gc.h"
#include "runtime/gc.hpp"
#include "runtime/runtime.h"
#include "tools/mark_window.h"

ABSL_FLAG(int, stores, 1000000, "pointer stores per repetition");
ABSL_FLAG(int, pool, 65536, "heap objects stored into");
ABSL_FLAG(int, reps, 11, "repetitions per variant (median reported)");
ABSL_FLAG(uint64_t, seed, 1, "seed of the index sequence");

namespace gcheap {
namespace {

struct Obj {
  void* slot[2];
  uint64_t pad[6];
};
static_assert(sizeof(Obj) == 64);

// The index sequence: store pool[src[i]] into pool[dst[i]]->slot[i & 1].
struct Work {
  std::vector<void*>* pool;
  std::vector<uint32_t> dst, src;
};

__attribute__((noinline)) void PlainStores(const Work& w) {
  void* const* pool = w.pool->data();
  const size_t n = w.dst.size();
  for (size_t i = 0; i < n; i++) {
    auto* o = static_cast<Obj*>(pool[w.dst[i]]);
    __atomic_store_n(&o->slot[i & 1], pool[w.src[i]], __ATOMIC_RELEASE);
  }
}

__attribute__((noinline)) void BarrierStores(gc_mutator* m, const Work& w) {
  void* const* pool = w.pool->data();
  const size_t n = w.dst.size();
  for (size_t i = 0; i < n; i++) {
    auto* o = static_cast<Obj*>(pool[w.dst[i]]);
    gc_write_barrier(m, o, &o->slot[i & 1], pool[w.src[i]]);
  }
}

template <typename F>
double NsPerStore(F f, size_t stores) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / stores;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Comparison {
  double plain = 0;          // median ns/store
  double variant = 0;        // median ns/store
  double variant_first = 0;  // the first repetition's ns/store
  double paired_ratio = 0;   // median of variant / plain, rep by rep
};

// Runs `reps` repetitions of plain and of `variant` back to back,
// alternating which goes first. The median of the per-pair ratios is less
// sensitive to other load on the machine than the ratio of the medians.
template <typename F>
Comparison Compare(const Work& w, int reps, F variant) {
  std::vector<double> plain, other, ratio;
  for (int r = 0; r < reps; r++) {
    if (r % 2 == 0) {
      plain.push_back(NsPerStore([&] { PlainStores(w); }, w.dst.size()));
      other.push_back(NsPerStore(variant, w.dst.size()));
    } else {
      other.push_back(NsPerStore(variant, w.dst.size()));
      plain.push_back(NsPerStore([&] { PlainStores(w); }, w.dst.size()));
    }
    ratio.push_back(other.back() / plain.back());
  }
  return {Median(plain), Median(other), other.front(), Median(ratio)};
}

void Verdict(const char* what, const Comparison& c, double target_pct) {
  const double of_medians = 100.0 * (c.variant / c.plain - 1);
  const double paired = 100.0 * (c.paired_ratio - 1);
  printf(
      "  %-22s %+8.2f%% (ratio of medians) %+8.2f%% (median of pairs)"
      "   target < %.0f%%: %s\n",
      what, of_medians, paired, target_pct,
      paired < target_pct ? "met" : "NOT met");
}

int Main() {
  const int nstores = std::max(1, absl::GetFlag(FLAGS_stores));
  const int npool = std::max(2, absl::GetFlag(FLAGS_pool));
  const int reps = std::max(5, absl::GetFlag(FLAGS_reps));

  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = 0;  // concurrent mode: the barrier can be on
  cfg.gc_percent = -1;     // only the cycle started below
  cfg.verify = 0;
  gc_heap* heap = gc_heap_create(&cfg);
  if (heap == nullptr) {
    fprintf(stderr, "gc_heap_create: %s\n", gc_last_error());
    return 1;
  }
  gc_mutator* m = gc_thread_attach(heap);
  const gc_type_id t =
      gc::TypeBuilder<Obj>("Obj").Field(GC_FIELD(Obj, slot)).Register(heap);

  std::vector<void*> pool(npool, nullptr);
  gc_add_root_range(heap, pool.data(), pool.size());
  for (int i = 0; i < npool; i++) {
    pool[i] = gc_alloc(m, t, sizeof(Obj));
    if (pool[i] == nullptr) {
      fprintf(stderr, "gc_alloc: %s\n", gc_last_error());
      return 1;
    }
  }
  Work w;
  w.pool = &pool;
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  w.dst.resize(nstores);
  w.src.resize(nstores);
  for (int i = 0; i < nstores; i++) {
    w.dst[i] = rng() % npool;
    w.src[i] = rng() % npool;
  }

  printf("barrier_bench: %d stores x %d reps into %d objects of %zu bytes\n",
         nstores, reps, npool, sizeof(Obj));
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  printf(
      "note: GCHEAP_DEBUG build: every barrier takes the out-of-line path\n");
#else
  printf("inline fast path (GCHEAP_DEBUG off)\n");
#endif
  // Warm up: page in the pool and the index arrays.
  PlainStores(w);
  BarrierStores(m, w);

  const Comparison off = Compare(w, reps, [&] { BarrierStores(m, w); });
  if (m->wb_enabled.load() != 0) {
    fprintf(stderr, "barrier unexpectedly on\n");
    return 1;
  }

  MarkWindow window(heap, m);
  window.Open();
  if (m->wb_enabled.load() != 1) {
    fprintf(stderr, "barrier not on inside the mark phase\n");
    return 1;
  }
  const Comparison on = Compare(w, reps, [&] { BarrierStores(m, w); });
  window.Close();
  gc_stats s;
  s.struct_size = sizeof(s);
  gc_get_stats(heap, &s);

  printf("\n%-40s %10s\n", "variant (median)", "ns/store");
  printf("%-40s %10.3f\n", "plain store, marking off", off.plain);
  printf("%-40s %10.3f\n", "gc_write_barrier, marking off", off.variant);
  printf("%-40s %10.3f\n", "plain store, during marking", on.plain);
  printf("%-40s %10.3f\n", "gc_write_barrier, marking on", on.variant);
  printf("%-40s %10.3f\n", "  (first rep on: also greys the pool)",
         on.variant_first);
  printf("\noverhead over the plain store of the same phase:\n");
  Verdict("barrier, marking off", off, 1);
  Verdict("barrier, marking on", on, 5);
  printf("(cycle ended: %llu cycles, %llu objects live)\n",
         static_cast<unsigned long long>(s.cycles),
         static_cast<unsigned long long>(s.live_objects));

  gc_remove_root_range(heap, pool.data(), pool.size());
  gc_thread_detach(m);
  gc_heap_destroy(heap);
  return 0;
}

}  // namespace
}  // namespace gcheap

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return gcheap::Main();
}
