// boehm_exit_mprotect_test: a Boehm-API program exits while libgc.so.1's
// collector is in the middle of a mostly-concurrent mark with the mprotect
// dirty-page source (GC_GCHEAP_DIRTY_PAGES=mprotect in the test's
// environment; the Boehm layer linked in statically), and another thread
// keeps writing into heap pages that the mark has write-protected. Exit
// must not take the page tracker away from under them: the collector's
// threads are never stopped at exit (runtime/process.h), and every fault
// on a protected page must still be claimed by the tracker and the page
// made writable, until the process is gone.
//
// Regression: the tracker was a static std::unique_ptr, destroyed by the
// library's static destructors inside exit(). From then on the SIGSEGV
// handler found no tracker and passed the writer's next fault on to the
// default action, and the collector's driver, still precleaning or arming
// (world running), read the freed tables: w3m died with SIGSEGV at exit in
// 1 run in 17 (docs/boehm.md, "Known open bugs", session 27).
//
// How: a helper thread runs GC_gcollect; its cycle's first precleaning
// round calls the test's hook (world running, pages armed), which blocks
// for good, so the mark stays open. Main starts the writer (one store per
// 4 KiB page, over 32 MiB of conservative objects allocated before the
// cycle, so still protected) and returns from main at once: exit runs
// while the writer faults page after page, and lingers 200 ms after the
// static destructors (an atexit handler registered before any static was
// made). The test passes when the process exits with status 0; with the
// bug it dies by SIGSEGV.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime/boehm/boehm_internal.h"

extern "C" const char* GC_gcheap_dirty_pages(void);

namespace {

constexpr int kObjects = 8192;  // 4 KiB each: 32 MiB, one page each
void* g_objs[kObjects];         // roots (data segment)
std::atomic<int> g_in_preclean{0};
std::atomic<int> g_writes{0};

void* Collect(void*) {
  GC_gcollect();  // never returns: its cycle waits in the hook
  return nullptr;
}

void* Write(void*) {
  for (;;) {
    for (int i = 0; i < kObjects; i++) {
      static_cast<volatile char*>(g_objs[i])[8] = 1;
      g_writes.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return nullptr;
}

// The last thing exit() does before the process is gone: registered by a
// constructor that runs before any C++ static is made, so it runs after
// every static destructor (the library's included). It gives the writer
// 200 ms to fault with whatever the destructors left in place.
void LingerAtExit() { usleep(200 * 1000); }
__attribute__((constructor(101))) void RegisterLingerAtExit() {
  atexit(LingerAtExit);
}

}  // namespace

int main() {
  GC_INIT();
  if (strcmp(GC_gcheap_dirty_pages(), "mprotect") != 0) {
    fprintf(stderr, "FAIL: dirty pages from %s, not mprotect\n",
            GC_gcheap_dirty_pages());
    return 1;
  }
  GC_allow_register_threads();
  for (int i = 0; i < kObjects; i++) {
    g_objs[i] = GC_MALLOC(4000);
    if (g_objs[i] == nullptr) return 1;
  }
  gcheap::boehm::SetPrecleanHookForTesting([] {
    g_in_preclean.store(1);
    for (;;) pause();  // the mark stays open until the process is gone
  });
  pthread_t collector, writer;
  if (GC_pthread_create(&collector, nullptr, Collect, nullptr) != 0) return 1;
  for (int waited_ms = 0; g_in_preclean.load() == 0; waited_ms++) {
    if (waited_ms == 60000) {
      fprintf(stderr, "FAIL: no precleaning round began in 60 s\n");
      return 1;
    }
    usleep(1000);
  }
  if (pthread_create(&writer, nullptr, Write, nullptr) != 0) return 1;
  while (g_writes.load(std::memory_order_relaxed) < 16) sched_yield();
  printf(
      "exiting while the mark is open and the writer faults (%d writes "
      "so far)\n",
      g_writes.load());
  fflush(stdout);
  return 0;  // exit() with the writer faulting and the driver in the hook
}
