// pause_bench: stop-the-world pauses of a large live heap under mutation.
//
// The workload of the concurrent-marking issue: a live heap of --live_mb
// MiB of mixed objects (32-byte tree nodes, each holding a pointer-free
// payload of 16 to 256 bytes, and one node in 256 a 4 KiB buffer), split
// into a forest of binary trees, and --threads mutator threads (4) that
// for --seconds replace random subtrees of their own trees with freshly
// built ones (every pointer store through gc_write_barrier). The live size
// stays constant; everything allocated becomes garbage a subtree later.
//
// Per cycle it records, from the cycle hook, the stop-the-world time (the
// sum of the cycle's pauses, from the request to stop until every mutator
// runs again, as Go counts it) and reports over the cycles that started
// during the mutation phase: pause p50 / p99 / max, the longest single
// pause, mark time, assist time, mutator operations (subtree replacements
// and allocated MB) per second, peak heap and peak RSS.
//   bazel run //tools:pause_bench -- --live_mb=1024 --seconds=20
//   bazel run //tools:pause_bench -- --live_mb=1024 --stw   (for contrast)
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/gc.h"
#include "runtime/gc.hpp"
#include "tools/perf_counters.h"
#include "tools/shadow_stack.h"

ABSL_FLAG(int, live_mb, 1024, "live heap size in MiB");
ABSL_FLAG(int, threads, 4, "mutator threads");
ABSL_FLAG(double, seconds, 20, "length of the mutation phase");
ABSL_FLAG(bool, stw, false, "stop-the-world collector instead of concurrent");
ABSL_FLAG(int, gc_percent, 100, "GOGC-like heap growth");
ABSL_FLAG(bool, verbose, false, "print every cycle's pauses");

namespace gcheap {
namespace {

constexpr int kTreeDepth = 12;  // 8191 nodes per tree

struct Node {
  Node* left;
  Node* right;
  void* data;
  uint64_t key;
};

// xorshift64*: the same generator as the Go version's (tools/go/pausebench),
// so both spend the same on random numbers.
struct Rng {
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t operator()() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  uint64_t s;
};

struct Cycle {
  gc_cycle_info info;
  uint64_t heap_bytes;
};

struct Recorder {
  std::mutex mu;
  std::vector<Cycle> cycles;
  gc_heap* heap = nullptr;
  static void Hook(const gc_cycle_info* i, void* data) {
    auto* r = static_cast<Recorder*>(data);
    std::lock_guard<std::mutex> g(r->mu);
    r->cycles.push_back({*i, i->heap_end});
  }
};

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Mutator {
 public:
  Mutator(gc_heap* heap, gc_type_id node_type, uint64_t seed)
      : heap_(heap), node_type_(node_type), rng_(seed) {}

  // Builds trees until `bytes` of them exist (their roots stay on this
  // thread's shadow stack), then waits in a blocking region for `go`.
  void Build(size_t bytes) {
    m_ = gc_thread_attach(heap_);
    stack_ = new ShadowStack(heap_);
    while (built_bytes_ < bytes) {
      MakeTree(kTreeDepth);
      trees_.push_back(stack_->Top(0));
    }
  }

  // Replaces random subtrees until `deadline`: the child at depth k of a
  // random tree (the root is depth 0) by a fresh tree of the same height.
  void Mutate(double deadline) {
    allocated_before_ = allocated_;
    while (Now() < deadline) {
      for (int i = 0; i < 16; i++) {
        void** root = trees_[rng_() % trees_.size()];
        const int k = 1 + static_cast<int>(rng_() % kTreeDepth);
        const uint64_t path = rng_();
        Node* fresh = MakeTree(kTreeDepth - k);
        auto* parent = static_cast<Node*>(*root);
        for (int d = 1; d < k; d++) {
          parent = (path >> d & 1) ? parent->left : parent->right;
        }
        void** slot =
            reinterpret_cast<void**>(path & 1 ? &parent->left : &parent->right);
        gc_write_barrier(m_, parent, slot, fresh);
        stack_->Pop();  // fresh is reachable from the tree now
        ops_++;
      }
    }
  }

  void Finish() {
    delete stack_;
    gc_thread_detach(m_);
  }
  gc_mutator* mutator() const { return m_; }

  uint64_t ops() const { return ops_; }
  // Bytes allocated while mutating (the build excluded).
  uint64_t allocated() const { return allocated_ - allocated_before_; }

 private:
  void* Alloc(gc_type_id t, size_t size) {
    void* p = gc_alloc(m_, t, size);
    if (p == nullptr) {
      fprintf(stderr, "pause_bench: allocation failed: %s\n", gc_last_error());
      exit(1);
    }
    allocated_ += size;
    return p;
  }
  void* AllocData(size_t size) {
    void* p = gc_alloc_noscan(m_, size);
    if (p == nullptr) {
      fprintf(stderr, "pause_bench: allocation failed: %s\n", gc_last_error());
      exit(1);
    }
    allocated_ += size;
    return p;
  }

  // Builds a tree of the given height bottom-up and leaves its root pushed
  // on the shadow stack (the caller pops it once it is linked).
  Node* MakeTree(int height) {
    static constexpr size_t kPayload[4] = {16, 48, 96, 256};
    if (height == 0) {
      auto* n = static_cast<Node*>(Alloc(node_type_, sizeof(Node)));
      void** slot = stack_->Push(n);
      const size_t size = (rng_() % 256 == 0) ? 4096 : kPayload[rng_() % 4];
      void* data = AllocData(size);
      n = static_cast<Node*>(*slot);
      static_cast<uint64_t*>(data)[0] = size;
      gc_write_barrier(m_, n, &n->data, data);
      n->key = size;
      built_bytes_ += sizeof(Node) + size;
      return n;
    }
    MakeTree(height - 1);
    MakeTree(height - 1);
    auto* n = static_cast<Node*>(Alloc(node_type_, sizeof(Node)));
    void** right = stack_->Top(0);
    void** left = stack_->Top(1);
    gc_write_barrier(m_, n, reinterpret_cast<void**>(&n->left), *left);
    gc_write_barrier(m_, n, reinterpret_cast<void**>(&n->right), *right);
    n->key = height;
    stack_->Pop(2);
    built_bytes_ += sizeof(Node);
    stack_->Push(n);
    return n;
  }

  gc_heap* heap_;
  gc_type_id node_type_;
  Rng rng_;
  gc_mutator* m_ = nullptr;
  ShadowStack* stack_ = nullptr;
  std::vector<void**> trees_;  // shadow-stack slots holding tree roots
  size_t built_bytes_ = 0;
  uint64_t ops_ = 0;
  uint64_t allocated_ = 0;
  uint64_t allocated_before_ = 0;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int Run() {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.stop_the_world = absl::GetFlag(FLAGS_stw) ? 1 : 0;
  cfg.gc_percent = absl::GetFlag(FLAGS_gc_percent);
  gc_heap* heap = gc_heap_create(&cfg);
  gc_type_id node_type = gc::TypeBuilder<Node>("Node")
                             .Field(GC_FIELD(Node, left))
                             .Field(GC_FIELD(Node, right))
                             .Field(GC_FIELD(Node, data))
                             .Register(heap);
  Recorder rec;
  gc_set_cycle_hook(heap, &Recorder::Hook, &rec);

  const int nthreads = absl::GetFlag(FLAGS_threads);
  const size_t live = size_t(absl::GetFlag(FLAGS_live_mb)) << 20;
  std::vector<std::unique_ptr<Mutator>> muts;
  for (int i = 0; i < nthreads; i++) {
    muts.push_back(std::make_unique<Mutator>(heap, node_type, 1234 + i));
  }
  // One thread per mutator for its whole life (a mutator is per-thread):
  // build, wait (blocked) for the start signal, mutate, detach.
  std::atomic<int> built{0};
  std::atomic<bool> go{false};
  double deadline = 0;
  const double t_build = Now();
  std::vector<std::thread> th;
  for (auto& m : muts) {
    th.emplace_back([&, mp = m.get()] {
      mp->Build(live / nthreads);
      built.fetch_add(1);
      gc_enter_blocking(mp->mutator());
      while (!go.load())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      gc_leave_blocking(mp->mutator());
      mp->Mutate(deadline);
      mp->Finish();
    });
  }
  while (built.load() < nthreads) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double t_mut = Now();
  size_t first_cycle;
  {
    std::lock_guard<std::mutex> g(rec.mu);
    first_cycle = rec.cycles.size();
  }
  deadline = t_mut + absl::GetFlag(FLAGS_seconds);
  const gc_perf_counters counters_mut = ReadPerfCounters(heap);
  const double cpu_mut = CpuSeconds();
  go.store(true);
  for (auto& t : th) t.join();
  const double t_end = Now();
  uint64_t ops = 0, allocated = 0;
  for (auto& m : muts) {
    ops += m->ops();
    allocated += m->allocated();
  }
  gc_set_cycle_hook(heap, nullptr, nullptr);
  gc_stats st{};
  st.struct_size = sizeof(st);
  gc_get_stats(heap, &st);

  std::vector<double> pause_us, single_max_us, mark_ms, assist_ms;
  double live_mb = 0, peak_heap_mb = 0;
  std::vector<Cycle> cycles;
  {
    std::lock_guard<std::mutex> g(rec.mu);
    cycles.assign(rec.cycles.begin() + first_cycle, rec.cycles.end());
  }
  for (const Cycle& c : cycles) {
    if (absl::GetFlag(FLAGS_verbose)) {
      printf(
          "  cycle %3llu: %u pauses, first %6.1f us, final %6.1f us, "
          "total %6.1f us, mark %7.1f ms, assist %7.1f ms\n",
          static_cast<unsigned long long>(c.info.cycle), c.info.pauses,
          c.info.pause1_ns / 1e3, c.info.pause2_ns / 1e3, c.info.pause_ns / 1e3,
          c.info.mark_ns / 1e6, c.info.assist_ns / 1e6);
    }
    pause_us.push_back(c.info.pause_ns / 1e3);
    single_max_us.push_back(std::max(c.info.pause1_ns, c.info.pause2_ns) / 1e3);
    mark_ms.push_back(c.info.mark_ns / 1e6);
    assist_ms.push_back(c.info.assist_ns / 1e6);
    live_mb = c.info.live_bytes / 1048576.0;
    peak_heap_mb = std::max(peak_heap_mb, c.heap_bytes / 1048576.0);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double assist_total = 0;
  for (double a : assist_ms) assist_total += a;
  printf(
      "pause_bench: %s, %d mutator threads, %.0f MiB live target, "
      "build %.1f s, mutate %.1f s\n",
      cfg.stop_the_world ? "stop-the-world" : "concurrent", nthreads,
      live / 1048576.0, t_mut - t_build, t_end - t_mut);
  printf("  cycles during mutation   %zu (all: %llu)\n", cycles.size(),
         static_cast<unsigned long long>(st.cycles));
  printf("  STW per cycle (us)       p50 %.0f  p99 %.0f  max %.0f\n",
         Percentile(pause_us, 0.5), Percentile(pause_us, 0.99),
         Percentile(pause_us, 1.0));
  printf("  longest single pause(us) %.0f\n", Percentile(single_max_us, 1.0));
  printf("  mark time (ms)           mean %.0f  max %.0f\n",
         cycles.empty() ? 0.0
                        : [&] {
                            double s = 0;
                            for (double x : mark_ms) s += x;
                            return s / mark_ms.size();
                          }(),
         Percentile(mark_ms, 1.0));
  printf("  assist time (ms)         total %.0f\n", assist_total);
  printf(
      "  mutator                  %.0f subtree replacements/s, %.0f MB/s "
      "allocated\n",
      ops / (t_end - t_mut), allocated / 1e6 / (t_end - t_mut));
  printf("  live / peak heap (MiB)   %.0f / %.0f\n", live_mb, peak_heap_mb);
  printf("  peak RSS (MiB)           %.0f\n", ru.ru_maxrss / 1024.0);
  printf("  CPU time (s)             %.1f while mutating, %.1f in all\n",
         CpuSeconds() - cpu_mut, CpuSeconds());
  // Over the mutation phase, per GiB the mutators allocated.
  PrintPerfCounters(PerfCountersSince(counters_mut, ReadPerfCounters(heap)),
                    allocated);
  gc_heap_destroy(heap);
  return 0;
}

}  // namespace
}  // namespace gcheap

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return gcheap::Run();
}
