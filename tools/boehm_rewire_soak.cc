// boehm_rewire_soak: the rewiring workload (tools/boehm_rewire.h) for as
// long as asked, on the Boehm layer linked in statically; prints rounds,
// collections and failures, and exits 1 on any failure. Mostly-concurrent
// marking with the mprotect source unless GC_GCHEAP_DIRTY_PAGES is set:
//   bazel build -c opt //tools:boehm_rewire_soak
//   bazel-bin/tools/boehm_rewire_soak --seconds=1800 [--threads=6]
//       [--chains=1024] [--depth=16]
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>

#include "tools/boehm_rewire.h"

extern "C" const char* GC_gcheap_marking_mode(void);
extern "C" const char* GC_gcheap_dirty_pages(void);

int main(int argc, char** argv) {
  boehm_rewire::Options o;
  o.seconds = 60;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (strncmp(a, "--seconds=", 10) == 0) {
      o.seconds = atof(a + 10);
    } else if (strncmp(a, "--threads=", 10) == 0) {
      o.threads = atoi(a + 10);
    } else if (strncmp(a, "--chains=", 9) == 0) {
      o.chains = atoi(a + 9);
    } else if (strncmp(a, "--depth=", 8) == 0) {
      o.depth = atoi(a + 8);
    } else {
      fprintf(stderr,
              "usage: %s [--seconds=N] [--threads=N] [--chains=N] "
              "[--depth=N]\n",
              argv[0]);
      return 2;
    }
  }
  if (o.seconds <= 0 || o.threads <= 0 || o.chains <= 0 || o.depth <= 0) {
    fprintf(stderr, "%s: every value must be positive\n", argv[0]);
    return 2;
  }
  setenv("GC_GCHEAP_DIRTY_PAGES", "mprotect", /*overwrite=*/0);
  boehm_rewire::Result r;
  boehm_rewire::Run(o, &r);
  printf(
      "mode %s (dirty pages: %s), %d threads, %.0f s: %lu rounds, %lu "
      "collections by workers, %lu total, %lu failures\n",
      GC_gcheap_marking_mode(), GC_gcheap_dirty_pages(), o.threads, o.seconds,
      static_cast<unsigned long>(r.rounds.load()),
      static_cast<unsigned long>(r.collections.load()),
      static_cast<unsigned long>(GC_get_gc_no()),
      static_cast<unsigned long>(r.failures.load()));
  if (r.failures.load() != 0) {
    printf("first failure: %s\n", r.first_failure.c_str());
    return 1;
  }
  return 0;
}
