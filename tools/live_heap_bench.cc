// live_heap_bench: what a full collection of a large live heap costs.
//
// Builds `--live_mb` MiB of live small objects (a forest of binary trees of
// 32-byte nodes: two pointers and a payload, the shape of a VM's cons cells
// and records), then runs `--collections` full collections and reports, per
// worker count, the stop-the-world pause, the mark rate (live bytes marked
// per second of mark time), and the median process CPU time of one
// gc_collect (mark and sweep, all threads): on a machine loaded by other
// processes the CPU time moves much less than the clock time.
//   bazel run //tools:live_heap_bench -- --live_mb=1024
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/gc.h"
#include "runtime/gc.hpp"
#include "tools/perf_counters.h"
#include "tools/shadow_stack.h"

ABSL_FLAG(int, live_mb, 1024, "live heap size in MiB");
ABSL_FLAG(int, collections, 3, "collections per worker count");
ABSL_FLAG(std::vector<std::string>, workers,
          std::vector<std::string>({"1", "2"}), "worker counts to measure");

namespace gcheap {
namespace {

struct Node {
  Node* left;
  Node* right;
  int64_t payload[2];
};

Node* Build(gc_mutator* m, gc_type_id t, ShadowStack* s, int depth) {
  auto* n = static_cast<Node*>(gc_alloc(m, t, sizeof(Node)));
  if (n == nullptr) {
    fprintf(stderr, "allocation failed: %s\n", gc_last_error());
    exit(1);
  }
  n->payload[0] = depth;
  if (depth > 0) {
    void** slot = s->Push(n);
    Node* l = Build(m, t, s, depth - 1);
    n = static_cast<Node*>(*slot);
    gc_write_barrier(m, n, reinterpret_cast<void**>(&n->left), l);
    Node* r = Build(m, t, s, depth - 1);
    n = static_cast<Node*>(*slot);
    gc_write_barrier(m, n, reinterpret_cast<void**>(&n->right), r);
    s->Pop();
  }
  return n;
}

double ProcessCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void Measure(int workers) {
  gc_config cfg;
  gc_config_init(&cfg);
  cfg.gc_workers = workers;
  cfg.gc_percent = -1;  // only the explicit collections below
  gc_heap* heap = gc_heap_create(&cfg);
  gc_mutator* m = gc_thread_attach(heap);
  gc_type_id t = gc::TypeBuilder<Node>("Node")
                     .Field(GC_FIELD(Node, left))
                     .Field(GC_FIELD(Node, right))
                     .Register(heap);
  auto* stack = new ShadowStack(heap);
  // Trees of depth 20 (2M nodes, 64 MiB each) until the live size is met.
  const size_t want = size_t(absl::GetFlag(FLAGS_live_mb)) << 20;
  const size_t per_tree = ((size_t{1} << 21) - 1) * sizeof(Node);
  const auto b0 = std::chrono::steady_clock::now();
  for (size_t built = 0; built < want; built += per_tree) {
    stack->Push(Build(m, t, stack, 20));
  }
  const double build_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - b0)
          .count();
  std::vector<double> pauses, cpu;
  const gc_perf_counters c0 = ReadPerfCounters(heap);
  gc_stats s{};
  for (int i = 0; i < absl::GetFlag(FLAGS_collections); i++) {
    const double cpu0 = ProcessCpuMs();
    gc_collect(m);
    cpu.push_back(ProcessCpuMs() - cpu0);
    s.struct_size = sizeof(s);
    gc_get_stats(heap, &s);
    pauses.push_back(s.pause_last_ns / 1e6);
  }
  std::sort(pauses.begin(), pauses.end());
  std::sort(cpu.begin(), cpu.end());
  const double median = pauses[pauses.size() / 2];
  printf("%7d %10.1f %12llu %10.1f %10.1f %10.1f %12.0f %8.1f %8.1f\n", workers,
         s.live_bytes / 1048576.0,
         static_cast<unsigned long long>(s.live_objects), pauses.front(),
         median, pauses.back(), (s.live_bytes / 1048576.0) / (median / 1e3),
         cpu[cpu.size() / 2], build_s);
  // The collections' contention counters, per collection.
  const gc_perf_counters d = PerfCountersSince(c0, ReadPerfCounters(heap));
  const double n = absl::GetFlag(FLAGS_collections);
  printf(
      "        per collection: %.0f marked, %.0f mark-bit races, work pool "
      "%.0f lock acquisitions, %.0f waits, %.0f steals\n",
      d.marked_objects / n, d.mark_races / n, d.pool_ops / n, d.pool_waits / n,
      d.pool_steals / n);
  delete stack;
  gc_thread_detach(m);
  gc_heap_destroy(heap);
}

}  // namespace
}  // namespace gcheap

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  printf("full stop-the-world collection of a live heap of 32-byte nodes\n");
  printf("%7s %10s %12s %10s %10s %10s %12s %8s %8s\n", "workers", "live MiB",
         "live objs", "min ms", "median ms", "max ms", "MiB/s marked", "cpu ms",
         "build s");
  for (const std::string& w : absl::GetFlag(FLAGS_workers)) {
    gcheap::Measure(std::stoi(w));
  }
  return 0;
}
