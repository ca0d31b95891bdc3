// cons_vm: the worked example of docs/embedding.md, a small stack VM whose
// cons cells, symbols and vectors live in a gcheap heap.
//
//   bazel run //docs/examples/cons_vm                 # n = 10000, 100 rounds
//   bazel run //docs/examples/cons_vm -- 50000 20     # n, rounds
//   GCTRACE=1 bazel run //docs/examples/cons_vm       # one line per collection
//
// Against an installed gcheap (tools/install.sh --prefix=DIR):
//   c++ cons_vm.cc cons_vm_lib.cc $(pkg-config --cflags --libs gcheap)
//
// Each round builds the list (1 ... n), reverses it, copies it into a
// vector and sums it, then collects. Prints the result, the expected values
// and the heap's statistics; exits 0 only if the result is right.
#include <gcheap/gc.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cons_vm_lib.h"

namespace {

bool ParseCount(const char* s, int64_t* out) {
  char* end = nullptr;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end != '\0' || v < 0) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 10000, rounds = 100;
  if (argc > 3 || (argc > 1 && !ParseCount(argv[1], &n)) ||
      (argc > 2 && !ParseCount(argv[2], &rounds))) {
    fprintf(stderr, "usage: cons_vm [n [rounds]]\n");
    return 2;
  }
  int64_t expect_sum, expect_weighted;
  if (!cons_vm::ExpectedListResults(n, rounds, &expect_sum, &expect_weighted)) {
    fprintf(stderr, "cons_vm: n=%lld rounds=%lld overflow a fixnum\n",
            static_cast<long long>(n), static_cast<long long>(rounds));
    return 2;
  }

  gc_config cfg = cons_vm::DefaultConfig();  // GC_* variables, tag_mask 7
  gc_heap* heap = gc_heap_create(&cfg);
  if (heap == nullptr) {
    fprintf(stderr, "cons_vm: %s\n", gc_last_error());
    return 1;
  }
  cons_vm::Types types;
  if (!cons_vm::RegisterTypes(heap, &types)) {
    fprintf(stderr, "cons_vm: %s\n", gc_last_error());
    return 1;
  }
  cons_vm::Vm* vm = cons_vm::NewVm(heap, types, stdout);
  if (vm == nullptr) return 1;

  printf("cons_vm: n=%lld rounds=%lld\nresult: ", static_cast<long long>(n),
         static_cast<long long>(rounds));
  fflush(stdout);
  bool ok = cons_vm::Run(vm, cons_vm::ListProgram(n, rounds));  // prints
  std::string why;
  if (!ok) {
    fprintf(stderr, "cons_vm: error: %s\n", vm->error.c_str());
  } else if (!cons_vm::CheckListResult(vm, n, rounds, &why)) {
    ok = false;
    fprintf(stderr, "cons_vm: wrong result: %s\n", why.c_str());
  }
  printf("expected: sum %lld, weighted %lld: %s\n",
         static_cast<long long>(expect_sum),
         static_cast<long long>(expect_weighted), ok ? "ok" : "WRONG");

  gc_collect(vm->m);  // exact statistics: the heap is fully swept after it
  gc_stats s;
  s.struct_size = sizeof(s);
  gc_get_stats(heap, &s);
  printf("gc: %llu cycles, pause total %.3f ms, max %.3f ms\n",
         static_cast<unsigned long long>(s.cycles), s.pause_total_ns / 1e6,
         s.pause_max_ns / 1e6);
  printf(
      "gc: %llu objects allocated (%.1f MB), %llu freed, %llu live "
      "(%llu bytes)\n",
      static_cast<unsigned long long>(s.objects_allocated),
      s.bytes_allocated / 1048576.0,
      static_cast<unsigned long long>(s.objects_freed),
      static_cast<unsigned long long>(s.live_objects),
      static_cast<unsigned long long>(s.live_bytes));
  printf("gc: heap %.1f KB in spans, %.1f MB mapped", s.heap_bytes / 1024.0,
         s.mapped_bytes / 1048576.0);
  if (cfg.gc_percent >= 0) {
    printf(", next collection at %.1f MB\n", s.heap_goal / 1048576.0);
  } else {
    printf(", automatic collection off\n");
  }

  cons_vm::DeleteVm(vm);  // unregisters the roots, detaches the thread
  gc_heap_destroy(heap);
  return ok ? 0 : 1;
}
