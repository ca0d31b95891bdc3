// weak_read_bench: what a weak read costs (gc_weak_get on a weak handle,
// gc_weak_load on a weak slot, gc_ephemeron_value), next to a plain
// acquire load of the same word, in the three states a weak read
// distinguishes (docs/collector.md, "Weak references"):
//   idle      no cycle marks and the last sweep is finished: the read is
//             the load plus the phase test (and, for a slot, the check that
//             it is a weak slot of its object's type);
//   marking   a concurrent cycle's mark phase is held open (MarkWindow, as
//             barrier_bench does): the read shades its result through the
//             mutator's barrier buffer, as a store's barrier would;
//   sweeping  after the flip, before the span holding the target is swept
//             (the background sweeper is stopped with the collector's
//             testing seam, and the loop does not allocate, so nothing
//             sweeps): the read checks the mark bit under the sweepgen
//             seqlock.
// One thread, a pool of --pool targets read round robin (each kept alive
// by a root range; one weak handle, one holder object with a weak slot and
// one ephemeron keyed by a rooted key per target). Google Benchmark
// reports ns per read; nothing is asserted beyond the reads returning the
// live targets (the bench aborts if one reads as NULL).
//   bazel run -c opt //tools:weak_read_bench [-- --pool=4096
//   --benchmark_min_time=0.2]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "benchmark/benchmark.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"
#include "tools/mark_window.h"

namespace gcheap {
namespace {

enum Phase : int { kIdle = 0, kMarking = 1, kSweeping = 2 };
const char* const kPhaseNames[] = {"idle", "marking", "sweeping"};

struct Holder {
  void* weak;      // word 0: a weak slot (GC_WEAK_SHORT)
  uint64_t value;  // word 1: data
};

size_t pool_size = 4096;  // a power of two (--pool)
gc_heap* heap = nullptr;
gc_mutator* mut = nullptr;
std::vector<void*>* targets;  // root range: the targets
std::vector<void*>* holders;  // root range: Holder objects
std::vector<void*>* ephs;     // root range: ephemerons {target, target}
std::vector<gc_weak*>* handles;

[[noreturn]] void Fail(const char* what) {
  fprintf(stderr, "weak_read_bench: %s: %s\n", what, gc_last_error());
  exit(1);
}

void Setup() {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = 0;
  cfg.finalizer_thread = 0;
  heap = gc_heap_create(&cfg);
  if (heap == nullptr) Fail("gc_heap_create");
  mut = gc_thread_attach(heap);
  if (mut == nullptr) Fail("gc_thread_attach");
  static const uint64_t kWeakMap = 0b1;
  gc_type_desc d;
  gc_type_desc_init(&d);
  d.name = "Holder";
  d.size = sizeof(Holder);
  d.weak_bitmap = &kWeakMap;
  d.weak_bitmap_words = 1;
  d.weak_kind = GC_WEAK_SHORT;
  const gc_type_id holder_t = gc_register_type(heap, &d);
  if (holder_t == 0) Fail("gc_register_type");
  targets = new std::vector<void*>(pool_size);
  holders = new std::vector<void*>(pool_size);
  ephs = new std::vector<void*>(pool_size);
  handles = new std::vector<gc_weak*>(pool_size);
  for (auto* v : {targets, holders, ephs}) {
    if (gc_add_root_range(heap, v->data(), v->size()) != 0) {
      Fail("gc_add_root_range");
    }
  }
  for (size_t i = 0; i < pool_size; i++) {
    void* t = gc_alloc_noscan(mut, 16);
    if (t == nullptr) Fail("gc_alloc_noscan");
    (*targets)[i] = t;
    auto* h = static_cast<Holder*>(gc_alloc(mut, holder_t, sizeof(Holder)));
    if (h == nullptr) Fail("gc_alloc");
    gc_weak_store(mut, h, &h->weak, t);
    (*holders)[i] = h;
    void* e = gc_ephemeron_new(mut, t, t);
    if (e == nullptr) Fail("gc_ephemeron_new");
    (*ephs)[i] = e;
    (*handles)[i] = gc_weak_create(mut, t, GC_WEAK_SHORT);
    if ((*handles)[i] == nullptr) Fail("gc_weak_create");
  }
}

// Puts the heap into the phase for the duration of one benchmark run.
class PhaseScope {
 public:
  explicit PhaseScope(Phase p) : p_(p), window_(heap, mut) {
    switch (p_) {
      case kIdle:
        gc_collect(mut);  // returns with the sweep finished
        break;
      case kMarking:
        gc_collect(mut);
        window_.Open();
        break;
      case kSweeping:
        gc_collect(mut);
        heap->collector->StopBackgroundSweeperForTesting();
        // A full cycle that leaves every span unswept: nothing allocates
        // until the scope ends.
        heap->Collect(mut, GcReason::kExplicit, /*finish_sweep=*/false);
        if (heap->heap.FullySwept()) Fail("the heap was swept already");
        break;
    }
  }
  ~PhaseScope() {
    switch (p_) {
      case kIdle:
        break;
      case kMarking:
        window_.Close();
        break;
      case kSweeping:
        if (heap->heap.FullySwept()) Fail("something swept meanwhile");
        heap->collector->StartBackgroundSweeperForTesting();
        break;
    }
  }

 private:
  Phase p_;
  MarkWindow window_;
};

template <typename Read>
void Loop(benchmark::State& state, Read read) {
  const Phase phase = static_cast<Phase>(state.range(0));
  state.SetLabel(kPhaseNames[phase]);
  PhaseScope scope(phase);
  const size_t mask = pool_size - 1;
  size_t i = 0;
  for (auto _ : state) {
    void* p = read(i);
    if (__builtin_expect(p == nullptr, 0)) Fail("a live target read as NULL");
    benchmark::DoNotOptimize(p);
    i = (i + 1) & mask;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PlainLoad(benchmark::State& state) {
  Loop(state, [](size_t i) {
    auto* h = static_cast<Holder*>((*holders)[i]);
    return __atomic_load_n(&h->weak, __ATOMIC_ACQUIRE);
  });
}

void BM_WeakGet(benchmark::State& state) {
  Loop(state, [](size_t i) { return gc_weak_get(mut, (*handles)[i]); });
}

void BM_WeakLoad(benchmark::State& state) {
  Loop(state, [](size_t i) {
    auto* h = static_cast<Holder*>((*holders)[i]);
    return gc_weak_load(mut, h, &h->weak);
  });
}

void BM_EphemeronValue(benchmark::State& state) {
  Loop(state, [](size_t i) { return gc_ephemeron_value(mut, (*ephs)[i]); });
}

void Register() {
  for (auto [name, fn] : {std::pair{"plain_load", &BM_PlainLoad},
                          {"gc_weak_get", &BM_WeakGet},
                          {"gc_weak_load", &BM_WeakLoad},
                          {"gc_ephemeron_value", &BM_EphemeronValue}}) {
    benchmark::RegisterBenchmark(name, fn)->DenseRange(kIdle, kSweeping);
  }
}

}  // namespace
}  // namespace gcheap

int main(int argc, char** argv) {
  // --pool=N (a power of two) before Google Benchmark's own flags.
  for (int i = 1; i < argc; i++) {
    if (sscanf(argv[i], "--pool=%zu", &gcheap::pool_size) == 1) {
      for (int j = i; j + 1 < argc; j++) argv[j] = argv[j + 1];
      argc--;
      break;
    }
  }
  if (gcheap::pool_size == 0 ||
      (gcheap::pool_size & (gcheap::pool_size - 1)) != 0) {
    fprintf(stderr, "--pool must be a power of two\n");
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  gcheap::Setup();
  gcheap::Register();
  benchmark::RunSpecifiedBenchmarks();
  // The heap is left to process exit (the benchmark's objects stay rooted).
  return 0;
}
