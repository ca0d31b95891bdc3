// gc_demo: the README's main job. Runs binary-trees (the Benchmarks Game
// algorithm) on a gcheap heap with GCTRACE on, checks its output against the
// known check values, and prints the collector's statistics: cycles, pause
// histogram, and objects per size class. --heap_snapshot writes a heap
// snapshot midway (GC_TRACE_FILE a trace): tools/heapviz draws both.
//
// Tree nodes are two-pointer objects of a registered type; the recursion
// keeps the nodes under construction on a shadow stack reported by a root
// scanner, as an interpreter would report its own stack.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/gc.h"
#include "runtime/gc.hpp"
#include "tools/shadow_stack.h"
#include "tools/tree_walk.h"

ABSL_FLAG(int, depth, 18, "binary-trees max depth (21 for the full run)");
ABSL_FLAG(bool, trace, true, "print a gctrace line per collection");
ABSL_FLAG(std::string, heap_snapshot, "",
          "write a heap snapshot (gc_dump_heap) to this file halfway through "
          "the deepest trees' iterations (tools/heapviz draws it)");

namespace gcheap {
namespace {

struct Node {
  Node* left;
  Node* right;
};

struct Ctx {
  gc_mutator* m;
  gc_type_id node;
  ShadowStack* stack;
};

Node* NewNode(Ctx& c) {
  auto* n = static_cast<Node*>(gc_alloc(c.m, c.node, sizeof(Node)));
  if (n == nullptr) {
    fprintf(stderr, "allocation failed: %s\n", gc_last_error());
    exit(1);
  }
  return n;
}

// Builds a complete tree of the given depth, bottom-up.
Node* BottomUpTree(Ctx& c, int depth) {
  Node* n = NewNode(c);
  if (depth > 0) {
    void** slot = c.stack->Push(n);
    Node* l = BottomUpTree(c, depth - 1);
    n = static_cast<Node*>(*slot);
    gc_write_barrier(c.m, n, reinterpret_cast<void**>(&n->left), l);
    Node* r = BottomUpTree(c, depth - 1);
    n = static_cast<Node*>(*slot);
    gc_write_barrier(c.m, n, reinterpret_cast<void**>(&n->right), r);
    c.stack->Pop();
  }
  return n;
}

int Run(int n) {
  gc_config cfg;
  gc_config_init(&cfg);
  if (absl::GetFlag(FLAGS_trace) && getenv("GCTRACE") == nullptr) {
    cfg.trace = 1;
  }
  gc_heap* heap = gc_heap_create(&cfg);
  gc_mutator* m = gc_thread_attach(heap);
  auto* stack = new ShadowStack(heap);
  Ctx c{m,
        gc::TypeBuilder<Node>("Node")
            .Field(GC_FIELD(Node, left))
            .Field(GC_FIELD(Node, right))
            .Register(heap),
        stack};

  const auto start = std::chrono::steady_clock::now();
  const int min_depth = 4;
  const int max_depth = n < min_depth + 2 ? min_depth + 2 : n;
  char out[4096];
  size_t len = 0;
  {
    void** stretch = c.stack->Push(BottomUpTree(c, max_depth + 1));
    len += snprintf(out + len, sizeof(out) - len,
                    "stretch tree of depth %d\t check: %ld\n", max_depth + 1,
                    CountNodes(c.m, static_cast<Node*>(*stretch)));
    c.stack->Pop();
  }
  void** long_lived = c.stack->Push(BottomUpTree(c, max_depth));
  for (int d = min_depth; d <= max_depth; d += 2) {
    long iterations = 1L << (max_depth - d + min_depth);
    long check = 0;
    for (long i = 0; i < iterations; i++) {
      void** tree = c.stack->Push(BottomUpTree(c, d));
      check += CountNodes(c.m, static_cast<Node*>(*tree));
      if (d + 2 > max_depth && i == iterations / 2 &&
          !absl::GetFlag(FLAGS_heap_snapshot).empty() &&
          gc_dump_heap(c.m, absl::GetFlag(FLAGS_heap_snapshot).c_str()) != 0) {
        fprintf(stderr, "gc_dump_heap: %s\n", gc_last_error());
        exit(1);
      }
      c.stack->Pop();
    }
    len += snprintf(out + len, sizeof(out) - len,
                    "%ld\t trees of depth %d\t check: %ld\n", iterations, d,
                    check);
  }
  len += snprintf(out + len, sizeof(out) - len,
                  "long lived tree of depth %d\t check: %ld\n", max_depth,
                  CountNodes(c.m, static_cast<Node*>(*long_lived)));
  c.stack->Pop();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  fputs(out, stdout);

  // Every check value of binary-trees is 2^(d+1) - 1 per tree.
  bool ok = true;
  for (int d = min_depth; d <= max_depth; d += 2) {
    long iterations = 1L << (max_depth - d + min_depth);
    char want[128];
    snprintf(want, sizeof(want), "%ld\t trees of depth %d\t check: %ld\n",
             iterations, d, iterations * ((1L << (d + 1)) - 1));
    ok &= strstr(out, want) != nullptr;
  }

  gc_collect(m);
  gc_stats s;
  s.struct_size = sizeof(s);
  gc_get_stats(heap, &s);
  printf("\nbinary-trees %d: %.2f s, output %s\n", n, secs,
         ok ? "matches the check values" : "WRONG");
  printf(
      "collections: %llu (%llu stop-the-world pauses), pause per cycle: "
      "p50 %.3f ms, p99 %.3f ms, max %.3f ms, total %.2f ms\n",
      static_cast<unsigned long long>(s.cycles),
      static_cast<unsigned long long>(s.stw_pauses), s.pause_p50_ns / 1e6,
      s.pause_p99_ns / 1e6, s.pause_max_ns / 1e6, s.pause_total_ns / 1e6);
  printf(
      "marking: %.1f ms clock, %.1f MB scanned, %.1f ms in mark assists, "
      "%.1f ms background mark CPU\n",
      s.mark_ns_total / 1e6, s.scan_bytes_total / 1048576.0,
      s.assist_ns_total / 1e6, s.bg_mark_cpu_ns_total / 1e6);
  printf("pause histogram:");
  for (int i = 0; i < GC_PAUSE_BUCKETS; i++) {
    if (s.pause_hist[i] == 0) continue;
    printf("  <%gms: %llu", (1u << i) / 1000.0,
           static_cast<unsigned long long>(s.pause_hist[i]));
  }
  printf(
      "\nallocated %.1f MB in %llu objects; heap %.1f MB, mapped %.1f MB, "
      "released %.1f MB, in use after final GC %.3f MB\n",
      s.bytes_allocated / 1048576.0,
      static_cast<unsigned long long>(s.objects_allocated),
      s.heap_bytes / 1048576.0, s.mapped_bytes / 1048576.0,
      s.released_bytes / 1048576.0, s.bytes_in_use / 1048576.0);
  printf("%6s %8s %14s %14s\n", "class", "size", "allocated", "freed");
  for (int i = 0; i < GC_NUM_SIZE_CLASSES; i++) {
    const gc_size_class_stats& k = s.by_class[i];
    if (k.allocated == 0) continue;
    printf("%6d %8s %14llu %14llu\n", i,
           i == 0 ? "large" : std::to_string(k.object_size).c_str(),
           static_cast<unsigned long long>(k.allocated),
           static_cast<unsigned long long>(k.freed));
  }
  delete stack;
  gc_thread_detach(m);
  gc_heap_destroy(heap);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace gcheap

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return gcheap::Run(absl::GetFlag(FLAGS_depth));
}
