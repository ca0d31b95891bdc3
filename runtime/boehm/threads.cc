// threads.cc: Boehm threads on gcheap: registration, the signal-based stop
// of threads that never poll, and the GC_pthread_* wrappers.
//
// Stopping the world (docs/boehm.md, "Threads"): gcheap stops its mutators
// cooperatively; every Boehm thread counts as blocked for it except inside
// a RunningBracket (boehm_internal.h), so gcheap's stop only waits for the
// threads that are inside gcheap (allocating, registering roots) to leave
// it. The collector then calls the world hook Stopped (driver thread), which
// takes g.threads_mu, sends the suspend signal (SIGPWR, Boehm's) to every
// registered thread not inside GC_do_blocking and waits for each handler's
// acknowledgement (a semaphore). The handler stores the interrupted stack
// pointer and general registers (from its ucontext, so an alternate signal
// stack does not matter) and sleeps in sigsuspend until the world
// generation changes; Restarting bumps the generation, sends the restart
// signal (SIGXCPU) to each suspended thread and releases g.threads_mu.
// (Before gcheap releases its own mutators, not after: a thread stopped
// by the signal inside glibc's pthread_cond_wait, gcheap's Park for
// instance, holds up the broadcast of gcheap's release until it runs.)
// The stopper polls for the acknowledgements briefly before it sleeps on
// the semaphore (WaitAck).
// A thread inside gcheap for the layer (a RunningBracket: EnterGcheap to
// LeaveGcheap) is not signalled: gcheap parked it, or it counts as blocked
// inside one of gcheap's own brackets (GC_gcollect's caller waits for its
// cycle, finishes the sweep, scavenges), where it may hold gcheap's locks
// that the pause needs (the heap lock: PageTracker::BeginMark, the sweep
// cycle's start). gcheap captured its stack context when it stopped
// counting as running (EnableEmbedderCapture), the root scanner reads it
// from there, and gcheap's handshake parks it if it leaves that bracket
// before the world restarts. So a thread stopped by the signal is in the
// program's code or in the layer's, never in gcheap's.
//
// GC_do_blocking records the caller's stack pointer and registers
// (setjmp), and marks the thread blocked under g.threads_mu: it is not
// signalled (a blocking system call is not interrupted) and its stack is
// scanned from the recorded point. Leaving the blocked state takes
// g.threads_mu, so it waits out a pause.
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#define GC_THREADS 1
#define GC_NO_THREAD_REDIRECTS 1
#include <gc/gc.h>

#include "gc/collector.h"
#include "gc/roots.h"
#include "gc/stack_scan.h"
#include "runtime/boehm/boehm_internal.h"
#include "runtime/runtime.h"
#include "runtime/thread_roots.h"

extern "C" void* __libc_stack_end;

namespace gcheap::boehm {

__attribute__((tls_model(
    "initial-exec"))) constinit thread_local BThread* tls_self = nullptr;

namespace {

constexpr int kSuspendSignal = SIGPWR;
constexpr int kRestartSignal = SIGXCPU;

sem_t g_ack;
std::atomic<uint64_t> g_world_gen{0};  // odd: stopped

void SuspendHandler(int, siginfo_t*, void* uctx) {
  const int saved_errno = errno;
  BThread* t = tls_self;
  if (t == nullptr) {
    errno = saved_errno;
    return;
  }
  if (t->in_fast_alloc) {
    // Inside the allocation fast path (boehm.cc, AllocFast): the thread
    // stops itself when it leaves it (SuspendDeferred), a few
    // instructions from here; the stopper waits for that acknowledgement.
    t->stop_deferred = 1;
    errno = saved_errno;
    return;
  }
  const uint64_t gen = g_world_gen.load(std::memory_order_acquire);
  const auto* uc = static_cast<const ucontext_t*>(uctx);
  static_assert(NGREG <= sizeof(t->regs) / sizeof(t->regs[0]) + 1);
  for (int i = 0; i < NGREG && i < 32; i++) {
    t->regs[i] = static_cast<uintptr_t>(uc->uc_mcontext.gregs[i]);
  }
  uintptr_t sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  // Below the interrupted stack pointer lies the red zone (128 bytes of
  // leaf-function locals).
  t->sp = sp > 128 ? sp - 128 : sp;
  sem_post(&g_ack);
  sigset_t wait_mask;
  sigfillset(&wait_mask);
  sigdelset(&wait_mask, kRestartSignal);
  // Async-signal-safe termination requests stay deliverable.
  sigdelset(&wait_mask, SIGINT);
  sigdelset(&wait_mask, SIGQUIT);
  sigdelset(&wait_mask, SIGTERM);
  sigdelset(&wait_mask, SIGABRT);
  while (g_world_gen.load(std::memory_order_acquire) == gen) {
    sigsuspend(&wait_mask);
  }
  errno = saved_errno;
}

void RestartHandler(int) {}

// A stopped thread's acknowledgement. Polled (yielding) for up to
// kAckSpinNs first: a running thread acknowledges within microseconds,
// and sleeping would add this thread's own wake-up, a scheduling latency
// (milliseconds on a loaded machine), to the pause.
constexpr int64_t kAckSpinNs = 200'000;
void WaitAck() {
  const int64_t start = NowNs();
  do {
    if (sem_trywait(&g_ack) == 0) return;
    sched_yield();
  } while (NowNs() - start < kAckSpinNs);
  while (sem_wait(&g_ack) != 0) {
    if (errno != EINTR) {
      perror("gcheap libgc: sem_wait");
      abort();
    }
  }
}

// Whether this cycle's MARK_START was reported and its MARK_END not yet
// (the world hooks run on the driver thread, under g.threads_mu).
bool g_mark_started = false;

// World hook: every mutator of gcheap has stopped; stop the Boehm threads.
void StopBoehmThreads() {
  g.threads_mu.lock();
  g_world_gen.fetch_add(1, std::memory_order_acq_rel);
  int n = 0;
  for (BThread* t : *g.threads) {
    t->suspended = false;
    t->in_gcheap = false;
    if (t->blocked) continue;
    // Inside gcheap (possibly holding its locks, counted as blocked in one
    // of its own brackets): left to gcheap, which keeps it there until the
    // world restarts; scanned from gcheap's capture.
    if (t->m->roots.capture.load(std::memory_order_relaxed)) {
      t->in_gcheap = true;
      continue;
    }
    if (pthread_kill(t->id, kSuspendSignal) == 0) {
      t->suspended = true;
      n++;
    }
  }
  for (int i = 0; i < n; i++) WaitAck();
  CollectionEvent(GC_EVENT_POST_STOP_WORLD);
  if (!g_mark_started) {  // the cycle's first pause
    CollectionEvent(GC_EVENT_MARK_START);
    g_mark_started = true;
  }
}

void RestartBoehmThreads() {
  // Only the pause that ends mark termination (marks final) ends the mark
  // and clears links: a mostly-concurrent cycle restarts the world after
  // its first pause too.
  if (g.heap->collector->phase() == GcPhase::kSweep) {
    CollectionEvent(GC_EVENT_MARK_END);
    g_mark_started = false;
    ClearDeadLinks();
    CheckDebugObjects();
    // The sweep from here on may free what the mark left unmarked: drop
    // every thread's list of freed objects (boehm.cc, "Explicit frees").
    g.free_epoch.fetch_add(1, std::memory_order_release);
  }
  CollectionEvent(GC_EVENT_PRE_START_WORLD);
  g_world_gen.fetch_add(1, std::memory_order_acq_rel);
  for (BThread* t : *g.threads) {
    if (t->suspended) pthread_kill(t->id, kRestartSignal);
  }
  g.threads_mu.unlock();
}

void ForkPrepare() { g.threads_mu.lock(); }
void ForkParent() { g.threads_mu.unlock(); }
void ForkChild() {
  // Only the forking thread survives.
  BThread* self = tls_self;
  std::vector<BThread*> keep;
  for (BThread* t : *g.threads) {
    if (t == self) keep.push_back(t);
  }
  g.threads->swap(keep);
  if (self != nullptr) self->id = pthread_self();
  g.threads_mu.unlock();
}

pthread_key_t g_exit_key;

// A registered thread that exits without GC_unregister_my_thread.
void ThreadExitDestructor(void* p) {
  auto* t = static_cast<BThread*>(p);
  if (tls_self != t) return;
  if (gc_current_mutator(g.heap) == t->m) {
    UnregisterThread(t);
    return;
  }
  // gcheap detached the mutator first: only forget the record.
  std::lock_guard<std::mutex> l(g.threads_mu);
  g.threads->erase(std::find(g.threads->begin(), g.threads->end(), t));
  tls_self = nullptr;
  delete t;
}

}  // namespace

void SuspendDeferred(BThread* t) {
  t->stop_deferred = 0;
  // The handler again, now outside the path: it records this point's
  // registers and stack pointer, acknowledges and waits for the restart.
  pthread_kill(pthread_self(), kSuspendSignal);
}

uintptr_t StackHi() {
  pthread_attr_t attr;
  void* addr = nullptr;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
  }
  return reinterpret_cast<uintptr_t>(addr) + size;
}

void InitThreads() {
  sem_init(&g_ack, 0, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  sigfillset(&sa.sa_mask);
  sa.sa_sigaction = SuspendHandler;
  if (sigaction(kSuspendSignal, &sa, nullptr) != 0) {
    perror("gcheap libgc: sigaction");
    abort();
  }
  memset(&sa, 0, sizeof(sa));
  sa.sa_flags = SA_RESTART;
  sigfillset(&sa.sa_mask);
  sa.sa_handler = RestartHandler;
  sigaction(kRestartSignal, &sa, nullptr);
  pthread_key_create(&g_exit_key, ThreadExitDestructor);
  // Before the heap exists, so these run after gcheap's own prepare
  // handler (which lets a cycle in progress finish: its hooks take
  // threads_mu).
  pthread_atfork(ForkPrepare, ForkParent, ForkChild);
}

void InstallWorldHooks() {
  g.heap->collector->SetWorldHooks(StopBoehmThreads, RestartBoehmThreads);
}

BThread* RegisterThread(uintptr_t hi, bool main) {
  auto* t = new BThread;
  t->id = pthread_self();
  t->stack_hi = hi;
  t->main = main;
  t->m = gc_thread_attach(g.heap);  // running: no pause is in force
  EnableEmbedderCapture(t->m, hi);
  {
    std::lock_guard<std::mutex> l(g.threads_mu);
    g.threads->push_back(t);
  }
  tls_self = t;
  pthread_setspecific(g_exit_key, t);
  gc_enter_blocking(t->m);
  return t;
}

void UnregisterThread(BThread* t) {
  gc_leave_blocking(t->m);
  {
    std::lock_guard<std::mutex> l(g.threads_mu);
    g.threads->erase(std::find(g.threads->begin(), g.threads->end(), t));
  }
  tls_self = nullptr;
  pthread_setspecific(g_exit_key, nullptr);
  gc_thread_detach(t->m);
  delete t;
}

gc_mutator* CurrentMutatorSlow() {
  EnsureInit();
  BThread* t = tls_self;
  // A thread Boehm would require to be registered: register it here (its
  // stack bounds from pthread).
  if (t == nullptr) t = RegisterThread(StackHi(), false);
  return t->m;
}

size_t ScanThreadStacks(void* root_visitor) {
  auto* v = static_cast<RootVisitor*>(root_visitor);
  size_t bytes = 0;
  for (BThread* t : *g.threads) {
    if (t->in_gcheap) {
      GC_DCHECK(t->m->roots.context.sp != 0,
                "a thread inside gcheap has no stack capture");
      ScanStack(t->m->roots.context, t->m->roots.stack, t->m->roots.fake_stack,
                *v);
      continue;
    }
    if (!t->suspended && !t->blocked) continue;  // not stopped
    if (t->sp != 0 && t->sp < t->stack_hi) {
      v->AmbiguousStack(reinterpret_cast<const void*>(t->sp),
                        reinterpret_cast<const void*>(t->stack_hi));
      bytes += t->stack_hi - t->sp;
    }
    v->AmbiguousStack(t->regs, t->regs + 32);
  }
  return bytes;
}

uintptr_t MainStackHi() {
  return reinterpret_cast<uintptr_t>(__libc_stack_end) + sizeof(void*);
}

}  // namespace gcheap::boehm

using gcheap::boehm::BThread;
using gcheap::boehm::g;

namespace {

struct StartInfo {
  void* (*fn)(void*);
  void* arg;
};

void* ThreadStart(void* p) {
  BThread* t = gcheap::boehm::RegisterThread(gcheap::boehm::StackHi(), false);
  // The StartInfo is an uncollectable object (the argument may be the only
  // reference to a heap object): copy it, then free it.
  StartInfo si = *static_cast<StartInfo*>(p);
  GC_free(p);
  void* r = si.fn(si.arg);
  if (gcheap::boehm::Self() == t) gcheap::boehm::UnregisterThread(t);
  return r;
}

// Called with the caller's registers spilled in *env (setjmp).
void EnterDoBlocking(BThread* t, const jmp_buf* env) {
  std::lock_guard<std::mutex> l(g.threads_mu);
  t->sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  static_assert(sizeof(jmp_buf) <= sizeof(t->regs));
  memcpy(t->regs, env, sizeof(jmp_buf));
  t->blocked = true;
}

void LeaveDoBlocking(BThread* t) {
  std::lock_guard<std::mutex> l(g.threads_mu);  // waits out a pause
  t->blocked = false;
}

}  // namespace

extern "C" {

int GC_pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                      void* (*fn)(void*), void* arg) {
  gcheap::boehm::EnsureInit();
  auto* si =
      static_cast<StartInfo*>(GC_malloc_uncollectable(sizeof(StartInfo)));
  if (si == nullptr) return ENOMEM;
  si->fn = fn;
  si->arg = arg;
  const int rc = pthread_create(thread, attr, ThreadStart, si);
  if (rc != 0) GC_free(si);
  return rc;
}

int GC_pthread_join(pthread_t thread, void** retval) {
  return pthread_join(thread, retval);
}

int GC_pthread_detach(pthread_t thread) { return pthread_detach(thread); }

int GC_pthread_cancel(pthread_t thread) { return pthread_cancel(thread); }

void GC_pthread_exit(void* retval) {
  BThread* t = gcheap::boehm::Self();
  if (t != nullptr) gcheap::boehm::UnregisterThread(t);
  pthread_exit(retval);
}

int GC_pthread_sigmask(int how, const sigset_t* set, sigset_t* oset) {
  if (set != nullptr && how != SIG_UNBLOCK) {
    // The suspend and restart signals are never blocked.
    sigset_t s = *set;
    sigdelset(&s, gcheap::boehm::kSuspendSignal);
    sigdelset(&s, gcheap::boehm::kRestartSignal);
    return pthread_sigmask(how, &s, oset);
  }
  return pthread_sigmask(how, set, oset);
}

int GC_get_suspend_signal(void) { return gcheap::boehm::kSuspendSignal; }
int GC_get_thr_restart_signal(void) { return gcheap::boehm::kRestartSignal; }
void GC_set_suspend_signal(int) {}
void GC_set_thr_restart_signal(int) {}

void GC_allow_register_threads(void) {
  gcheap::boehm::EnsureInit();
  g.allow_register.store(true);
}

int GC_register_my_thread(const struct GC_stack_base* sb) {
  gcheap::boehm::EnsureInit();
  if (gcheap::boehm::Self() != nullptr) return GC_DUPLICATE;
  gcheap::boehm::RegisterThread(reinterpret_cast<uintptr_t>(sb->mem_base),
                                false);
  return GC_SUCCESS;
}

int GC_unregister_my_thread(void) {
  BThread* t = gcheap::boehm::Self();
  if (t == nullptr) return GC_SUCCESS;
  gcheap::boehm::UnregisterThread(t);
  return GC_SUCCESS;
}

int GC_thread_is_registered(void) {
  return gcheap::boehm::Self() != nullptr ? 1 : 0;
}

int GC_get_stack_base(struct GC_stack_base* sb) {
  BThread* t = gcheap::boehm::Self();
  sb->mem_base = reinterpret_cast<void*>(
      t != nullptr ? t->stack_hi : gcheap::boehm::StackHi());
  return GC_SUCCESS;
}

void* GC_get_my_stackbottom(struct GC_stack_base* sb) {
  GC_get_stack_base(sb);
  return nullptr;
}

void* GC_call_with_stack_base(GC_stack_base_func fn, void* arg) {
  struct GC_stack_base sb;
  GC_get_stack_base(&sb);
  return fn(&sb, arg);
}

void* GC_do_blocking(GC_fn_type fn, void* client_data) {
  BThread* t = gcheap::boehm::Self();
  if (t == nullptr || t->blocked) return fn(client_data);
  __builtin_unwind_init();  // callee-saved registers onto this frame
  jmp_buf env;
  setjmp(env);
  EnterDoBlocking(t, &env);
  void* r = fn(client_data);
  LeaveDoBlocking(t);
  return r;
}

void* GC_call_with_gc_active(GC_fn_type fn, void* client_data) {
  BThread* t = gcheap::boehm::Self();
  if (t == nullptr || !t->blocked) return fn(client_data);
  const uintptr_t sp = t->sp;
  uintptr_t regs[32];
  memcpy(regs, t->regs, sizeof(regs));
  LeaveDoBlocking(t);
  // The frames between here and the GC_do_blocking caller stay scanned:
  // the whole stack from the interruption point is.
  void* r = fn(client_data);
  {
    std::lock_guard<std::mutex> l(g.threads_mu);
    t->sp = sp;
    memcpy(t->regs, regs, sizeof(regs));
    t->blocked = true;
  }
  return r;
}

}  // extern "C"
