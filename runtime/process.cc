// process.cc: the heap registry and process exit (design in process.h).
#include "runtime/process.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "heap/base.h"
#include "runtime/runtime.h"

namespace gcheap {

namespace {

// Never destroyed: exit-time code (static destructors, atexit handlers)
// may still create, destroy or walk heaps, and other threads run on.
struct Registry {
  std::mutex mu;  // held from the fork's prepare handler to its end
  std::vector<gc_heap*> heaps;
  bool handlers_installed = false;
  bool fork_prepared = false;  // the heaps were quiesced for this fork
};
Registry& GetRegistry() {
  static Registry* r = new Registry;
  return *r;
}

std::atomic<bool> exit_begun{false};
constinit thread_local bool tls_exiting_thread = false;

void OnExit() { BeginExit(); }

// pthread_atfork handlers: quiesce every heap before the fork, restart it
// in the parent and rebuild it in the child (process.h).
void PrepareFork() {
  Registry& r = GetRegistry();
  r.mu.lock();  // no heap is created or destroyed across the fork
  r.fork_prepared = !ExitBegun();
  if (!r.fork_prepared) return;
  // The forking thread counts as stopped in every heap from here to the
  // end of its handler: the cycles it waits for may need to stop it.
  EnterBlockingEverywhere();
  // In phases over all heaps, so no heap waits for a thread that waits
  // for another heap's gate or locks.
  for (gc_heap* h : r.heaps) h->sweep_gate.Close();
  for (gc_heap* h : r.heaps) h->collector->PrepareFork();
  for (gc_heap* h : r.heaps) h->handshake.PrepareFork(CurrentMutator(h));
  for (gc_heap* h : r.heaps) h->api_gate.Close();
}

void AfterForkParent() {
  Registry& r = GetRegistry();
  if (r.fork_prepared) {
    for (auto it = r.heaps.rbegin(); it != r.heaps.rend(); ++it) {
      gc_heap* h = *it;
      h->api_gate.Open();
      h->handshake.AfterForkParent();
      h->collector->AfterForkParent();
      h->sweep_gate.Open();
    }
    LeaveBlockingEverywhere();
  }
  r.mu.unlock();
}

void AfterForkChild() {
  Registry& r = GetRegistry();
  if (r.fork_prepared) {
    for (gc_heap* h : r.heaps) {
      h->AfterForkChild(h->handshake.AfterForkChild(CurrentMutator(h)));
      h->collector->AfterForkChild();
    }
    LeaveBlockingEverywhere();
  }
  r.mu.unlock();
}

bool OnMainThread() { return syscall(SYS_gettid) == getpid(); }

// The main thread's sentinel: its destructor runs with the main thread's
// thread-local destructors, which glibc runs only inside exit().
struct MainThreadExit {
  bool armed = false;
  ~MainThreadExit() {
    if (armed && OnMainThread()) BeginExit();
  }
};
thread_local MainThreadExit main_thread_exit;

// Constructs the sentinel on the thread that loads gcheap (the main thread
// for a program linked with it): its destructor is registered from now on.
[[maybe_unused]] const bool kSentinelArmed = [] {
  main_thread_exit.armed = true;
  return true;
}();

}  // namespace

gc_heap* NewHeap(const gc_config& cfg) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> g(r.mu);
  if (!r.handlers_installed) {
    GC_CHECK(atexit(OnExit) == 0, "cannot register gcheap's exit handler");
    GC_CHECK(pthread_atfork(PrepareFork, AfterForkParent, AfterForkChild) == 0,
             "cannot register gcheap's fork handlers");
    r.handlers_installed = true;
  }
  gc_heap* h = new gc_heap(cfg);
  r.heaps.push_back(h);
  return h;
}

void DeleteHeap(gc_heap* h) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> g(r.mu);
  r.heaps.erase(std::remove(r.heaps.begin(), r.heaps.end(), h), r.heaps.end());
  delete h;
}

bool ExitBegun() { return exit_begun.load(std::memory_order_acquire); }

bool IsExitingThread() { return tls_exiting_thread; }

void BeginExit() {
  bool expected = false;
  if (!exit_begun.compare_exchange_strong(expected, true,
                                          std::memory_order_seq_cst)) {
    return;  // already begun
  }
  tls_exiting_thread = true;
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> g(r.mu);
  for (gc_heap* h : r.heaps) h->handshake.OnExitBegun();
}

}  // namespace gcheap
