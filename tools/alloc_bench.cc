// alloc_bench: ns per allocation of our heap (gcheap::MHeap + MCache) next to
// glibc malloc, mimalloc, jemalloc, tcmalloc and Boehm GC, each both as
// uninitialized allocation (malloc, GC_MALLOC_ATOMIC) and as zeroed
// allocation (calloc, mi_zalloc, GC_MALLOC: columns with a "Z" suffix).
//
//   bazel build //tools:alloc_bench && bazel-bin/tools/alloc_bench
//   bazel-bin/tools/alloc_bench --benchmark_min_time=0.05      # quick
//   bazel-bin/tools/alloc_bench --benchmark_filter='/4096/'    # one size
//   bazel-bin/tools/alloc_bench --benchmark_repetitions=3      # steadier
//   bazel-bin/tools/alloc_bench --benchmark_filter='Ours'      # our heap
// Our columns also report the heap's contention counters per GiB allocated
// (heap/counters.h: lock acquisitions and waits of the page heap and the
// span sets, sweep lockers); OursShared runs with 16 threads too.
// (with repetitions the summary tables show the median; a single run on a
// small VM can be off by 20-50% for a row.) docs/benchmarks.md has a run.
//
// Every allocator runs the same loop. One benchmark iteration is one batch:
//   1. allocate N objects of the size under test, writing the first word of
//      each and storing the pointer in a preallocated array   ("alloc")
//   2. release the batch                                      ("release")
// and two numbers are reported per allocation, both in wall-clock ns as seen
// by one benchmark thread (averaged over the threads of a run, so with
// perfect scaling the 2-thread number equals the 1-thread number):
//   ns_per_alloc      phase 1 only
//   ns_per_alloc+rel  phases 1 and 2
// Both are measured with steady_clock around each phase of every batch (two
// clock reads per batch of up to 4096 objects), so one run gives both and
// no PauseTiming()/ResumeTiming() overhead enters either number. The
// benchmark's own Time column is the wall time of a whole batch, and
// items_per_second the allocation throughput of all threads together.
//
// "Release" is:
//   malloc family  free() on every object of the batch.
//   Ours           what the collector does when it finds the batch dead:
//                  MCache::ReleaseAll(), then MHeap::StartSweepCycle() and
//                  FinishSweep(). Nothing is marked, so every object dies.
//                  "Ours" gives each benchmark thread its own MHeap (like
//                  per-thread heaps: sweeping stays thread-local, no thread
//                  waits for another). "OursShared" runs all threads of a run
//                  on one MHeap: after ReleaseAll every thread waits at a
//                  barrier, thread 0 starts the sweep cycle, and after a
//                  second barrier every thread helps FinishSweep and goes
//                  straight on to its next batch (allocation may then race
//                  with the other thread's sweeping, as in Go).
//   Boehm          the pointer array is cleared; Boehm collects when it
//                  decides to, inside later allocations. Release is not
//                  separable, so its ns_per_alloc already includes its
//                  collections and ns_per_alloc+rel only adds the clearing.
//
// Semantics differ in one way that matters for the larger sizes: our heap
// (like Go's) returns zeroed memory; malloc, mi_malloc, jemalloc, tcmalloc
// and GC_MALLOC_ATOMIC do not. Our allocation fast path never clears: a
// small span's free slots always read as zero (dead slots of a surviving span
// are cleared when it is swept, reused pages in bulk when a span is created),
// and a large object is cleared when its span is allocated. In this loop
// whole batches die, so spans go back to the page heap and the clearing
// happens at span creation, inside the alloc phase. Hence the zeroed
// variants of the anchors, the honest comparison for "Ours":
//   GlibcZ     calloc(1, n)
//   MimallocZ  mi_zalloc(n)
//   JemallocZ  jemalloc's calloc(1, n)      (dlsym from its handle)
//   TcmallocZ  tc_calloc(1, n)
//   BoehmZ     GC_MALLOC(n): zeroed, and scanned by the collector (the
//              objects hold only the small integer written below)
// "Ours" is the same in both sets of tables.
//
// jemalloc and tcmalloc replace malloc when linked, so they are not linked:
// they are dlopen'ed with RTLD_LOCAL and their own entry points are taken
// from the handle (and checked to be distinct from glibc's). jemalloc uses
// initial-exec TLS larger than glibc's default static-TLS surplus; when
// dlopen fails for that reason the program re-executes itself once with
// GLIBC_TUNABLES=glibc.rtld.optional_static_tls raised. A library that still
// does not load is reported and skipped.
#include <dlfcn.h>
#include <gc/gc.h>
#include <mimalloc.h>
#include <unistd.h>

#include <barrier>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "heap/error.h"
#include "heap/mcache.h"
#include "heap/mheap.h"

namespace {

constexpr size_t kSizes[] = {16, 64, 256, 4096, 65536};
constexpr int kThreadCounts[] = {1, 2};
// The shared heap also runs with this many threads (oversubscribed on a
// small machine): its counters show what contends.
constexpr int kSharedManyThreads = 16;
constexpr double kDefaultMinTime = 0.2;  // seconds per benchmark

// Objects per batch: 4096, capped at 16 MiB of objects per batch and thread.
size_t BatchCount(size_t size) {
  constexpr size_t kMaxBatchBytes = 16 << 20;
  size_t n = kMaxBatchBytes / size;
  return n < 4096 ? n : 4096;
}

using Clock = std::chrono::steady_clock;

double Ns(Clock::duration d) {
  return std::chrono::duration<double, std::nano>(d).count();
}

// ---- dlopen'ed allocators ---------------------------------------------------

using MallocFn = void* (*)(size_t);
using FreeFn = void (*)(void*);

using CallocFn = void* (*)(size_t, size_t);

struct DlAllocator {
  const char* lib;
  const char* malloc_sym;
  const char* calloc_sym;
  const char* free_sym;
  MallocFn malloc_fn = nullptr;
  CallocFn calloc_fn = nullptr;
  FreeFn free_fn = nullptr;
  std::string status;  // why it is unavailable, or where it came from
};

DlAllocator g_jemalloc{"libjemalloc.so.2",
                       "malloc",
                       "calloc",
                       "free",
                       nullptr,
                       nullptr,
                       nullptr,
                       {}};
DlAllocator g_tcmalloc{"libtcmalloc_minimal.so.4",
                       "tc_malloc",
                       "tc_calloc",
                       "tc_free",
                       nullptr,
                       nullptr,
                       nullptr,
                       {}};

constexpr const char kReexecEnv[] = "ALLOC_BENCH_REEXECED";
constexpr const char kStaticTlsTunable[] =
    "glibc.rtld.optional_static_tls=65536";

std::string ObjectOf(const void* addr) {
  Dl_info info;
  if (dladdr(addr, &info) == 0 || info.dli_fname == nullptr) return "?";
  return info.dli_fname;
}

// Loads `a`; on failure fills a->status. *static_tls is set when dlopen
// failed because the static TLS block is too small.
void LoadDl(DlAllocator* a, bool* static_tls) {
  void* h = dlopen(a->lib, RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* err = dlerror();
    a->status = err ? err : "dlopen failed";
    if (static_tls && a->status.find("static TLS") != std::string::npos) {
      *static_tls = true;
    }
    return;
  }
  auto m = reinterpret_cast<MallocFn>(dlsym(h, a->malloc_sym));
  auto c = reinterpret_cast<CallocFn>(dlsym(h, a->calloc_sym));
  auto f = reinterpret_cast<FreeFn>(dlsym(h, a->free_sym));
  if (m == nullptr || c == nullptr || f == nullptr) {
    a->status = std::string("dlsym(") + a->malloc_sym + "/" + a->calloc_sym +
                "/" + a->free_sym + ") failed";
    return;
  }
  // The whole point: these must be the library's functions, not glibc's.
  void* glibc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  void* glibc_malloc = glibc ? dlsym(glibc, "malloc") : nullptr;
  void* glibc_calloc = glibc ? dlsym(glibc, "calloc") : nullptr;
  void* glibc_free = glibc ? dlsym(glibc, "free") : nullptr;
  const std::string where = ObjectOf(reinterpret_cast<void*>(m));
  if (reinterpret_cast<void*>(m) == reinterpret_cast<void*>(&malloc) ||
      reinterpret_cast<void*>(m) == glibc_malloc ||
      reinterpret_cast<void*>(c) == reinterpret_cast<void*>(&calloc) ||
      reinterpret_cast<void*>(c) == glibc_calloc ||
      reinterpret_cast<void*>(f) == reinterpret_cast<void*>(&free) ||
      reinterpret_cast<void*>(f) == glibc_free ||
      where != ObjectOf(reinterpret_cast<void*>(c)) ||
      where != ObjectOf(reinterpret_cast<void*>(f)) ||
      where == ObjectOf(glibc_malloc)) {
    a->status = std::string(a->malloc_sym) + " resolved to glibc's (" + where +
                "), refusing to measure it";
    return;
  }
  void* p = m(64);
  if (p == nullptr) {
    a->status = std::string(a->malloc_sym) + "(64) returned NULL";
    return;
  }
  std::memset(p, 1, 64);
  f(p);
  // A dirty block of the same size is likely reused here: calloc must clear.
  auto* z = static_cast<unsigned char*>(c(1, 64));
  if (z == nullptr) {
    a->status = std::string(a->calloc_sym) + "(1, 64) returned NULL";
    return;
  }
  for (int i = 0; i < 64; i++) {
    if (z[i] != 0) {
      f(z);
      a->status = std::string(a->calloc_sym) + " returned non-zero memory";
      return;
    }
  }
  f(z);
  a->malloc_fn = m;
  a->calloc_fn = c;
  a->free_fn = f;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%p", reinterpret_cast<void*>(m));
  a->status = std::string(a->malloc_sym) + " = " + buf + " in " + where;
}

// Loads jemalloc and tcmalloc; may re-execute the program (never returns
// then) to make room for jemalloc's static TLS.
void LoadDlAllocators(char** argv) {
  bool static_tls = false;
  LoadDl(&g_jemalloc, &static_tls);
  LoadDl(&g_tcmalloc, &static_tls);
  if (static_tls && std::getenv(kReexecEnv) == nullptr) {
    std::string tunables = kStaticTlsTunable;
    if (const char* old = std::getenv("GLIBC_TUNABLES")) {
      tunables = std::string(old) + ":" + tunables;
    }
    setenv("GLIBC_TUNABLES", tunables.c_str(), 1);
    setenv(kReexecEnv, "1", 1);
    std::fflush(nullptr);
    execv("/proc/self/exe", argv);
    std::fprintf(stderr, "alloc_bench: re-exec for static TLS failed: %s\n",
                 std::strerror(errno));
  }
}

// ---- the allocators
// -----------------------------------------------------------
//
// Each is a per-thread context built at the start of the benchmark function
// (outside the timed loop): Alloc(size), Release(ptrs, n), and Error() for a
// failed allocation. Arrays come from Ptrs(n).

struct Glibc {
  static constexpr const char* kName = "Glibc";
  explicit Glibc(benchmark::State&) {}
  void** Ptrs(size_t n) {
    v_.assign(n, nullptr);
    return v_.data();
  }
  void* Alloc(size_t size) { return std::malloc(size); }
  void Release(void** p, size_t n) {
    for (size_t i = 0; i < n; i++) std::free(p[i]);
  }
  std::string Error() { return "malloc returned NULL"; }
  std::vector<void*> v_;
};

struct GlibcZ : Glibc {
  static constexpr const char* kName = "GlibcZ";
  using Glibc::Glibc;
  void* Alloc(size_t size) { return std::calloc(1, size); }
  std::string Error() { return "calloc returned NULL"; }
};

struct Mimalloc : Glibc {
  static constexpr const char* kName = "Mimalloc";
  using Glibc::Glibc;
  void* Alloc(size_t size) { return mi_malloc(size); }
  void Release(void** p, size_t n) {
    for (size_t i = 0; i < n; i++) mi_free(p[i]);
  }
  std::string Error() { return "mi_malloc returned NULL"; }
};

struct MimallocZ : Mimalloc {
  static constexpr const char* kName = "MimallocZ";
  using Mimalloc::Mimalloc;
  void* Alloc(size_t size) { return mi_zalloc(size); }
  std::string Error() { return "mi_zalloc returned NULL"; }
};

template <DlAllocator* kLib>
struct Dl : Glibc {
  explicit Dl(benchmark::State& st)
      : Glibc(st), m_(kLib->malloc_fn), f_(kLib->free_fn) {}
  void* Alloc(size_t size) { return m_(size); }
  void Release(void** p, size_t n) {
    for (size_t i = 0; i < n; i++) f_(p[i]);
  }
  std::string Error() {
    return std::string(kLib->lib) + " " + kLib->malloc_sym + " returned NULL";
  }
  MallocFn m_;
  FreeFn f_;
};
template <DlAllocator* kLib>
struct DlZ : Dl<kLib> {
  explicit DlZ(benchmark::State& st) : Dl<kLib>(st), c_(kLib->calloc_fn) {}
  void* Alloc(size_t size) { return c_(1, size); }
  std::string Error() {
    return std::string(kLib->lib) + " " + kLib->calloc_sym + " returned NULL";
  }
  CallocFn c_;
};
struct Jemalloc : Dl<&g_jemalloc> {
  static constexpr const char* kName = "Jemalloc";
  using Dl::Dl;
};
struct JemallocZ : DlZ<&g_jemalloc> {
  static constexpr const char* kName = "JemallocZ";
  using DlZ::DlZ;
};
struct Tcmalloc : Dl<&g_tcmalloc> {
  static constexpr const char* kName = "Tcmalloc";
  using Dl::Dl;
};
struct TcmallocZ : DlZ<&g_tcmalloc> {
  static constexpr const char* kName = "TcmallocZ";
  using DlZ::DlZ;
};

// Ours, one MHeap per benchmark thread.
struct Ours : Glibc {
  static constexpr const char* kName = "Ours";
  explicit Ours(benchmark::State& st)
      : Glibc(st),
        heap_(std::make_unique<gcheap::MHeap>()),
        c_(heap_->NewMCache()) {}
  ~Ours() { heap_->FreeMCache(c_); }
  void* Alloc(size_t size) { return c_->Alloc(size, /*noscan=*/true); }
  // The collector found the whole batch dead: flush the mcache and sweep.
  void Release(void**, size_t) {
    c_->ReleaseAll();
    heap_->StartSweepCycle();
    heap_->FinishSweep();
  }
  std::string Error() {
    return std::string("MCache::Alloc: ") + gcheap::LastError();
  }
  gcheap::HeapCounters Counters() const { return heap_->ReadCounters(); }
  std::unique_ptr<gcheap::MHeap> heap_;
  gcheap::MCache* c_;
};

// Ours, one MHeap shared by all threads of a run (created by Setup).
struct SharedHeap {
  gcheap::MHeap heap;
  std::barrier<> barrier;
  explicit SharedHeap(int threads) : barrier(threads) {}
};
SharedHeap* g_shared = nullptr;
void SharedSetup(const benchmark::State& st) {
  g_shared = new SharedHeap(st.threads());
}
void SharedTeardown(const benchmark::State&) {
  delete g_shared;
  g_shared = nullptr;
}

struct OursShared : Glibc {
  static constexpr const char* kName = "OursShared";
  explicit OursShared(benchmark::State& st)
      : Glibc(st),
        s_(g_shared),
        c_(s_->heap.NewMCache()),
        first_(st.thread_index() == 0) {}
  ~OursShared() { s_->heap.FreeMCache(c_); }
  void* Alloc(size_t size) { return c_->Alloc(size, /*noscan=*/true); }
  void Release(void**, size_t) {
    c_->ReleaseAll();
    s_->barrier.arrive_and_wait();  // every mcache is flushed
    if (first_) s_->heap.StartSweepCycle();
    s_->barrier.arrive_and_wait();  // the cycle has started
    s_->heap.FinishSweep();
  }
  // After a failed allocation: leave the barrier so the other threads do
  // not wait for this one.
  void Abandon() { s_->barrier.arrive_and_drop(); }
  std::string Error() {
    return std::string("MCache::Alloc: ") + gcheap::LastError();
  }
  // The shared heap's counts are reported by thread 0 alone.
  gcheap::HeapCounters Counters() const { return s_->heap.ReadCounters(); }
  bool ReportsCounters() const { return first_; }
  SharedHeap* s_;
  gcheap::MCache* c_;
  bool first_;
};

// Boehm GC, pointer-free objects (the counterpart of our noscan).
struct Boehm {
  static constexpr const char* kName = "Boehm";
  explicit Boehm(benchmark::State&) {
    if (!GC_thread_is_registered()) {
      GC_stack_base sb;
      GC_get_stack_base(&sb);
      registered_ = GC_register_my_thread(&sb) == GC_SUCCESS;
    }
  }
  ~Boehm() {
    GC_FREE(ptrs_);
    if (registered_) GC_unregister_my_thread();
  }
  // The array must be a root Boehm scans: an object it collected while we
  // still hold it would be handed out again and its free-list link (the
  // first word) overwritten by our touch.
  void** Ptrs(size_t n) {
    ptrs_ = static_cast<void**>(GC_MALLOC_UNCOLLECTABLE(n * sizeof(void*)));
    return ptrs_;
  }
  void* Alloc(size_t size) { return GC_MALLOC_ATOMIC(size); }
  void Release(void** p, size_t n) { std::memset(p, 0, n * sizeof(void*)); }
  std::string Error() { return "GC_MALLOC_ATOMIC returned NULL"; }
  void** ptrs_ = nullptr;
  bool registered_ = false;
};

// Boehm GC, GC_MALLOC: zeroed, and scanned when marking (it cannot be told
// the objects are pointer-free and still zero them). The first word holds a
// small integer, never a heap address, so nothing is retained by it.
struct BoehmZ : Boehm {
  static constexpr const char* kName = "BoehmZ";
  using Boehm::Boehm;
  void* Alloc(size_t size) { return GC_MALLOC(size); }
  std::string Error() { return "GC_MALLOC returned NULL"; }
};

template <class A>
void BM_Alloc(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const size_t n = BatchCount(size);
  A a(state);
  void** ptrs = a.Ptrs(n);
  double alloc_ns = 0, total_ns = 0;
  for (auto _ : state) {
    const Clock::time_point t0 = Clock::now();
    for (size_t i = 0; i < n; i++) {
      void* p = a.Alloc(size);
      if (__builtin_expect(p == nullptr, 0)) {
        state.SkipWithError(a.Error().c_str());
        if constexpr (requires { a.Abandon(); }) {
          a.Abandon();
        } else {
          a.Release(ptrs, i);
        }
        return;
      }
      *static_cast<volatile uintptr_t*>(p) = i;  // touch the first word
      ptrs[i] = p;
    }
    const Clock::time_point t1 = Clock::now();
    a.Release(ptrs, n);
    const Clock::time_point t2 = Clock::now();
    alloc_ns += Ns(t1 - t0);
    total_ns += Ns(t2 - t0);
  }
  const double allocs = static_cast<double>(state.iterations()) * n;
  state.SetItemsProcessed(static_cast<int64_t>(allocs));
  using C = benchmark::Counter;
  state.counters["ns_per_alloc"] = C(alloc_ns / allocs, C::kAvgThreads);
  state.counters["ns_per_alloc+rel"] = C(total_ns / allocs, C::kAvgThreads);
  state.counters["batch"] = C(static_cast<double>(n), C::kAvgThreads);
  if constexpr (requires { a.Counters(); }) {
    // Our heap's contention counters per GiB allocated (heap/counters.h):
    // a heap per thread reports its own (averaged over threads); the shared
    // heap's thread 0 reports all threads' allocation.
    const gcheap::HeapCounters hc = a.Counters();
    double gib = allocs * size / (1024.0 * 1024 * 1024);
    C::Flags flags = C::kAvgThreads;
    if constexpr (requires { a.ReportsCounters(); }) {
      if (!a.ReportsCounters()) return;
      gib *= state.threads();
      flags = C::kDefaults;
    }
    state.counters["heap_locks/GiB"] = C(hc.heap_locks / gib, flags);
    state.counters["heap_waits/GiB"] = C(hc.heap_lock_waits / gib, flags);
    state.counters["spanset_ops/GiB"] = C(hc.spanset_ops / gib, flags);
    state.counters["spanset_retries/GiB"] = C(hc.spanset_retries / gib, flags);
    state.counters["sweep_lockers/GiB"] = C(hc.sweep_lockers / gib, flags);
  }
}

// ---- registration -----------------------------------------------------------

struct Column {
  const char* name;
  benchmark::internal::Function* fn;
  bool available;
  bool shared;  // needs the SharedHeap setup
};

void RegisterAll() {
  const bool je = g_jemalloc.malloc_fn != nullptr;
  const bool tc = g_tcmalloc.malloc_fn != nullptr;
  const Column cols[] = {
      {Ours::kName, BM_Alloc<Ours>, true, false},
      {OursShared::kName, BM_Alloc<OursShared>, true, true},
      {Glibc::kName, BM_Alloc<Glibc>, true, false},
      {GlibcZ::kName, BM_Alloc<GlibcZ>, true, false},
      {Mimalloc::kName, BM_Alloc<Mimalloc>, true, false},
      {MimallocZ::kName, BM_Alloc<MimallocZ>, true, false},
      {Jemalloc::kName, BM_Alloc<Jemalloc>, je, false},
      {JemallocZ::kName, BM_Alloc<JemallocZ>, je, false},
      {Tcmalloc::kName, BM_Alloc<Tcmalloc>, tc, false},
      {TcmallocZ::kName, BM_Alloc<TcmallocZ>, tc, false},
      {Boehm::kName, BM_Alloc<Boehm>, true, false},
      {BoehmZ::kName, BM_Alloc<BoehmZ>, true, false},
  };
  // Size, then thread count, then allocator: the console output groups the
  // allocators of one (size, threads) point together.
  for (size_t size : kSizes) {
    for (int threads :
         {kThreadCounts[0], kThreadCounts[1], kSharedManyThreads}) {
      for (const Column& c : cols) {
        if (!c.available) continue;
        if (threads == kSharedManyThreads && !c.shared) continue;
        std::string name = std::string("BM_Alloc<") + c.name + ">";
        auto* b = benchmark::RegisterBenchmark(name.c_str(), c.fn)
                      ->Arg(static_cast<int64_t>(size))
                      ->Threads(threads)
                      ->UseRealTime();
        if (c.shared) b->Setup(SharedSetup)->Teardown(SharedTeardown);
      }
    }
  }
}

// ---- output -----------------------------------------------------------------

// The console reporter, plus two summary tables (size x threads rows,
// allocator columns) printed at the end.
class TableReporter : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      // With --benchmark_repetitions the table shows the median.
      const bool median =
          r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.run_type != Run::RT_Iteration && !median) continue;
      const std::string& fn = r.run_name.function_name;
      size_t lt = fn.find('<'), gt = fn.rfind('>');
      if (lt == std::string::npos || gt == std::string::npos) continue;
      std::string alloc = fn.substr(lt + 1, gt - lt - 1);
      Key key{std::stoll(r.run_name.args), static_cast<int>(r.threads)};
      Cell& cell = cells_[key][alloc];
      if (cell.median && !median) continue;
      cell.median = median;
      any_median_ = any_median_ || median;
      if (r.error_occurred) {
        cell.error = true;
        continue;
      }
      auto get = [&](const char* k) {
        auto it = r.counters.find(k);
        return it == r.counters.end() ? NAN : it->second.value;
      };
      cell.alloc = get("ns_per_alloc");
      cell.total = get("ns_per_alloc+rel");
      cell.error = false;
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    if (cells_.empty()) return;
    std::ostream& out = GetOutputStream();
    // Two sets of columns, one table each: "Ours" next to the allocators
    // that return uninitialized memory, and next to their zeroing variants.
    static const std::vector<std::string> kMallocCols = {
        "Ours",     "OursShared", "Glibc", "Mimalloc",
        "Jemalloc", "Tcmalloc",   "Boehm"};
    static const std::vector<std::string> kZeroedCols = {
        "Ours",      "OursShared", "GlibcZ", "MimallocZ",
        "JemallocZ", "TcmallocZ",  "BoehmZ"};
    char buf[160];
    for (int phase = 0; phase < 2; phase++) {
      for (int set = 0; set < 2; set++) {
        const auto& cols = set == 0 ? kMallocCols : kZeroedCols;
        out << "\n"
            << (phase == 0 ? "ns per allocation, alloc phase only"
                           : "ns per allocation, alloc + release")
            << (set == 0 ? ", uninitialized (malloc, GC_MALLOC_ATOMIC)"
                         : ", zeroed (calloc, mi_zalloc, GC_MALLOC)")
            << "\n";
        std::snprintf(buf, sizeof buf, "%7s %4s", "size", "thr");
        out << buf;
        for (const std::string& c : cols) {
          std::snprintf(buf, sizeof buf, " %11s", c.c_str());
          out << buf;
        }
        out << "\n";
        for (const auto& [key, row] : cells_) {
          std::snprintf(buf, sizeof buf, "%7lld %4d", key.first, key.second);
          out << buf;
          for (const std::string& c : cols) {
            auto it = row.find(c);
            std::string s;
            if (it == row.end()) {
              s = "-";
            } else if (it->second.error) {
              s = "ERROR";
            } else {
              double v = phase == 0 ? it->second.alloc : it->second.total;
              std::snprintf(buf, sizeof buf, "%.1f%s", v,
                            phase == 1 && c.rfind("Boehm", 0) == 0 ? "*" : "");
              s = buf;
            }
            std::snprintf(buf, sizeof buf, " %11s", s.c_str());
            out << buf;
          }
          out << "\n";
        }
      }
    }
    out << "\nwall ns per allocation and thread, averaged over threads; lower "
           "is better; "
        << (any_median_ ? "medians of repetitions" : "single runs")
        << ".\n"
           "* Boehm: release only drops the pointers; its collections run "
           "inside later allocations\n  and are part of the alloc-phase "
           "number. '-': not run (filtered out or library unavailable).\n";
    PrintRatios(out);
  }

 private:
  // One line per size: Ours / Mimalloc and Ours / MimallocZ, 1 and 2
  // threads, for both phases. Below 1.00 ours is faster.
  void PrintRatios(std::ostream& out) {
    auto value = [&](long long size, int thr, const char* col,
                     int phase) -> double {
      auto r = cells_.find({size, thr});
      if (r == cells_.end()) return NAN;
      auto c = r->second.find(col);
      if (c == r->second.end() || c->second.error) return NAN;
      return phase == 0 ? c->second.alloc : c->second.total;
    };
    std::map<long long, bool> sizes;
    for (const auto& [key, row] : cells_) sizes[key.first] = true;
    char buf[160];
    out << "\nOurs / Mimalloc (malloc) and Ours / MimallocZ (zeroed), ns per "
           "allocation; < 1.00: ours is faster\n"
        << "('Ours': one heap per thread, as in the tables)\n";
    std::snprintf(buf, sizeof buf, "%7s  %-34s  %-34s\n", "",
                  "alloc phase only", "alloc + release");
    out << buf;
    std::snprintf(buf, sizeof buf, "%7s  %-16s  %-16s  %-16s  %-16s\n", "",
                  "1 thread", "2 threads", "1 thread", "2 threads");
    out << buf;
    std::snprintf(buf, sizeof buf, "%7s", "size");
    out << buf;
    for (int i = 0; i < 4; i++) {
      std::snprintf(buf, sizeof buf, "  %7s %8s", "malloc", "zeroed");
      out << buf;
    }
    out << "\n";
    for (const auto& [size, unused] : sizes) {
      std::snprintf(buf, sizeof buf, "%7lld", size);
      out << buf;
      for (int phase = 0; phase < 2; phase++) {
        for (int thr : {1, 2}) {
          const double ours = value(size, thr, "Ours", phase);
          const double m = ours / value(size, thr, "Mimalloc", phase);
          const double z = ours / value(size, thr, "MimallocZ", phase);
          std::snprintf(buf, sizeof buf, "  %7s %8s", Ratio(m).c_str(),
                        Ratio(z).c_str());
          out << buf;
        }
      }
      out << "\n";
    }
  }
  static std::string Ratio(double r) {
    if (std::isnan(r)) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", r);
    return buf;
  }

  struct Cell {
    double alloc = NAN, total = NAN;
    bool error = false;
    bool median = false;  // from the median of repetitions
  };
  using Key = std::pair<long long, int>;  // size, threads
  std::map<Key, std::map<std::string, Cell>> cells_;
  bool any_median_ = false;
};

bool HasFlag(int argc, char** argv, const char* prefix) {
  for (int i = 1; i < argc; i++) {
    if (std::strncmp(argv[i], prefix, std::strlen(prefix)) == 0) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  LoadDlAllocators(argv);

  // Boehm as its serious users set it up: no interior pointers (objects are
  // referenced by their base), parallel marking on both cores, and threads
  // that register themselves.
  GC_set_all_interior_pointers(0);
  GC_set_markers_count(2);
  GC_INIT();
  GC_allow_register_threads();

  // --benchmark_min_time defaults to kDefaultMinTime here (MinTime() on the
  // benchmarks would override the flag, so the default goes in as a flag).
  std::vector<char*> args(argv, argv + argc);
  std::string min_time =
      "--benchmark_min_time=" + std::to_string(kDefaultMinTime);
  if (!HasFlag(argc, argv, "--benchmark_min_time")) {
    args.insert(args.begin() + 1, min_time.data());
  }
  const bool console = !HasFlag(argc, argv, "--benchmark_format") ||
                       HasFlag(argc, argv, "--benchmark_format=console");
  int nargs = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&nargs, args.data());
  if (benchmark::ReportUnrecognizedArguments(nargs, args.data())) return 1;

  std::printf(
      "alloc_bench: sizes 16 64 256 4096 65536 B, 1 and 2 threads (OursShared "
      "also %d)\n",
      kSharedManyThreads);
  for (size_t s : kSizes) {
    std::printf("  batch of %zu B objects: %zu per thread\n", s, BatchCount(s));
  }
  for (const DlAllocator* a : {&g_jemalloc, &g_tcmalloc}) {
    if (a->malloc_fn != nullptr) {
      std::printf("  %s: loaded, %s\n", a->lib, a->status.c_str());
    } else {
      std::printf("  %s: NOT LOADED, skipping it: %s\n", a->lib,
                  a->status.c_str());
    }
  }
  std::printf("  mimalloc %d (mi_malloc/mi_zalloc/mi_free, linked)\n",
              mi_version());
  std::printf(
      "  Boehm GC %u.%u.%u: GC_MALLOC_ATOMIC and GC_MALLOC, %d marker "
      "thread(s), interior pointers off\n",
      GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_MICRO,
      GC_get_parallel() + 1);
  std::printf(
      "  Ours returns zeroed memory (Go semantics), as do the Z columns "
      "(calloc, mi_zalloc,\n  GC_MALLOC); the others do not.\n\n");
  std::fflush(stdout);

  RegisterAll();
  if (!console) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    TableReporter reporter(isatty(STDOUT_FILENO)
                               ? benchmark::ConsoleReporter::OO_ColorTabular
                               : benchmark::ConsoleReporter::OO_Tabular);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  }
  benchmark::Shutdown();
  return 0;
}
