// boehm_exit_threads_test: a Boehm-API program returns from main while its
// other threads keep calling into the library: typed allocation
// (GC_make_descriptor, GC_malloc_explicitly_typed), uncollectable objects
// and explicit frees, finalizer and disappearing-link registration, and
// threads created and joined with GC_pthread_create. With Boehm GC they
// may: its tables are plain C statics that exit() never tears down. Ours
// must not be destroyed inside exit() either (the Boehm layer linked in
// statically, as in libgc.so.1: its static destructors run inside exit()).
//
// Regression: the thread list (Globals::threads), the uncollectable set,
// the descriptor tables and the finalization and disappearing-link tables
// were namespace-scope C++ objects with destructors. exit() freed them
// while the churning threads still inserted into and looked up in them: a
// heap-use-after-free (AddressSanitizer reports it), and tables that came
// back empty.
//
// How: three churning threads (GC_pthread_create) loop over those calls.
// Main records a descriptor and registers a finalizer on a rooted object,
// waits until every churner has looped a while, and returns. An atexit
// handler registered by a priority-101 constructor runs after every static
// destructor: it lets the churners run for 300 ms more, then checks on the
// exiting thread that the tables still hold what main put there:
// GC_make_descriptor of the same bitmap returns main's descriptor, and
// re-registering the rooted object's finalizer returns main's finalizer
// and client data. The test passes when the process exits with status 0.
#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>
#include <gc/gc_typed.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace {

constexpr int kChurners = 3;
constexpr int kBitmaps = 16;  // descriptors the churners cycle through

void* g_rooted;           // data segment: a root
GC_descr g_descr0;        // main's descriptor of bitmap 0
GC_word g_bitmap0 = 0x5;  // words 0 and 2 are pointers, of 3
std::atomic<int> g_loops[kChurners];

void FinMain(void*, void*) {}
void FinOther(void*, void*) {}

void* Nothing(void*) { return nullptr; }

void* Churn(void* arg) {
  const int me = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  void* link_slot = nullptr;
  for (unsigned i = 0;; i++) {
    GC_word bm = (i % kBitmaps) | 1;
    GC_descr d = GC_make_descriptor(&bm, 5);
    void* typed = GC_malloc_explicitly_typed(5 * sizeof(GC_word), d);
    void* u = GC_MALLOC_UNCOLLECTABLE(32);
    GC_FREE(u);
    void* o = GC_MALLOC(16);
    GC_register_finalizer(o, FinOther, nullptr, nullptr, nullptr);
    GC_register_finalizer(o, nullptr, nullptr, nullptr, nullptr);
    link_slot = typed;
    GC_general_register_disappearing_link(&link_slot, o);
    GC_unregister_disappearing_link(&link_slot);
    if (i % 64 == 0) {
      pthread_t t;
      if (GC_pthread_create(&t, nullptr, Nothing, nullptr) == 0) {
        GC_pthread_join(t, nullptr);
      }
    }
    g_loops[me].fetch_add(1, std::memory_order_relaxed);
  }
  return nullptr;
}

// The last thing exit() does before the process is gone (registered
// before any C++ static was made, so it runs after every static
// destructor, the library's included).
void CheckAtExit() {
  usleep(300 * 1000);  // the churners keep calling in
  const GC_descr d = GC_make_descriptor(&g_bitmap0, 3);
  if (d != g_descr0) {
    fprintf(stderr,
            "FAIL: after the static destructors GC_make_descriptor of the "
            "same bitmap returned %lu, not %lu (the descriptor table was "
            "destroyed)\n",
            static_cast<unsigned long>(d),
            static_cast<unsigned long>(g_descr0));
    _exit(1);
  }
  GC_finalization_proc ofn = nullptr;
  void* ocd = nullptr;
  GC_register_finalizer(g_rooted, FinOther, nullptr, &ofn, &ocd);
  if (ofn != FinMain || ocd != &g_bitmap0) {
    fprintf(stderr,
            "FAIL: after the static destructors the rooted object's "
            "finalizer read back as %p/%p, not FinMain/%p (the "
            "finalization table was destroyed)\n",
            reinterpret_cast<void*>(ofn), ocd, static_cast<void*>(&g_bitmap0));
    _exit(1);
  }
  printf("the tables survived exit with %d churners still calling in\n",
         kChurners);
  fflush(stdout);
}
__attribute__((constructor(101))) void RegisterCheckAtExit() {
  atexit(CheckAtExit);
}

}  // namespace

int main() {
  GC_INIT();
  GC_allow_register_threads();
  g_descr0 = GC_make_descriptor(&g_bitmap0, 3);
  g_rooted = GC_MALLOC(32);
  if (g_rooted == nullptr) return 1;
  GC_register_finalizer(g_rooted, FinMain, &g_bitmap0, nullptr, nullptr);
  for (int i = 0; i < kChurners; i++) {
    pthread_t t;
    if (GC_pthread_create(&t, nullptr, Churn,
                          reinterpret_cast<void*>(intptr_t{i})) != 0) {
      return 1;
    }
  }
  for (int i = 0; i < kChurners; i++) {
    while (g_loops[i].load(std::memory_order_relaxed) < 200) usleep(1000);
  }
  printf("returning from main with %d churners calling in\n", kChurners);
  fflush(stdout);
  return 0;  // exit() with the churners running
}
