// boehm_internal.h: shared state of the Boehm GC 8.2 ABI layer
// (libgc.so.1 on gcheap; docs/boehm.md).
//
// One gcheap heap per process (g.heap), created by the first GC_init or
// allocation, in stop-the-world mode with GC_MARKERS workers and no
// gcheap-managed stack scanning. Every Boehm thread is attached to it as a
// gcheap mutator that stays inside a blocking bracket except for the short
// "running brackets" (RunningBracket) in which it calls gcheap: so gcheap's
// own stop of the world never waits for a thread that does not poll, and
// no thread is inside gcheap (holding its locks) while the world is
// stopped. Inside the pause the collector's world hooks stop every Boehm
// thread with the suspend signal (threads.cc), whose handler records the
// thread's registers and stack pointer; the root scanner then reads each
// stopped thread's stack conservatively. A thread inside a running
// bracket is inside gcheap: gcheap's own stop parks it, or it counts as
// blocked in one of gcheap's own blocking brackets (GC_gcollect's caller
// waiting for its cycle, finishing the sweep, scavenging), where it may
// hold gcheap's locks. The hooks never signal such a thread (the pause
// would wait for the locks it holds for ever): gcheap captures its stack
// context at each of its stops (gcheap::EnableEmbedderCapture), the root
// scanner reads the thread from that capture, as GC_do_blocking's, and
// gcheap's handshake keeps it from leaving gcheap before the restart.
// One exception to "only inside a running bracket": the allocation fast
// path (boehm.cc, AllocFast) bumps the thread's own allocation window
// while the thread counts as blocked; a suspend signal that lands there is
// deferred until the bump is done (BThread::in_fast_alloc), so no pause
// sees the window half-updated.
//
// Invariants:
//  - g.threads_mu is held by the collector's driver thread from the world
//    hook "stopped" to "restarting"; any other thread takes it only inside
//    a running bracket or while it counts as blocked without holding any
//    gcheap lock, so a pause never waits on it while holding it.
//  - a thread's mutator has roots.capture set exactly while the thread is
//    inside gcheap for the layer (between EnterGcheap and LeaveGcheap);
//    the flag changes only while the thread counts as running for gcheap,
//    so never during a pause, and the hooks read it with the world
//    stopped.
//  - an object on a thread's freed list (BThread::freed) is allocated for
//    gcheap and was marked by the last mark or allocated after it: it was
//    put there after that mark ended (the lists of earlier epochs are
//    dropped unread), by GC_free of an object the program still held. So
//    the sweep never frees it while it is listed, and it is handed out
//    only while no mark runs (never while the collector may mark through
//    it).
//  - every object handed out is padded by one byte when
//    GC_all_interior_pointers is on (a one-past-the-end pointer stays
//    inside it) and is at least 16 bytes (never gcheap's tiny blocks, so
//    GC_base is the object's own start).
#ifndef GCHEAP_RUNTIME_BOEHM_BOEHM_INTERNAL_H_
#define GCHEAP_RUNTIME_BOEHM_BOEHM_INTERNAL_H_

#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <vector>

#include "heap/sizeclasses.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace gcheap::boehm {

// One registered thread.
struct BThread {
  // The allocation fast path (boehm.cc, AllocFast) runs with in_fast_alloc
  // set; a suspend signal that lands there only sets stop_deferred, and
  // the thread stops itself as soon as it leaves the path
  // (SuspendDeferred). Owner and its signal handler only.
  volatile sig_atomic_t in_fast_alloc = 0;
  volatile sig_atomic_t stop_deferred = 0;
  // Testing: called inside the fast path, after the window's next slot
  // was read and before it is taken (tests/boehm_fast_alloc_test.cc). Only
  // the layer built with GCHEAP_BOEHM_TESTING_HOOKS
  // (:boehm_with_testing_hooks) calls it; the shipped layer never reads it.
  void (*fast_alloc_hook_for_testing)() = nullptr;
  pthread_t id;
  gc_mutator* m = nullptr;
  uintptr_t stack_hi = 0;  // the stack's cold end (highest address)
  // Captured by the suspend handler (or at GC_do_blocking): the stack
  // pointer and the general registers at the interruption.
  uintptr_t sp = 0;
  uintptr_t regs[32] = {};
  // Inside GC_do_blocking (changed under g.threads_mu): not signalled; the
  // range captured at its entry is scanned.
  bool blocked = false;
  bool suspended = false;  // signalled in the current pause (driver only)
  // Left running inside gcheap in the current pause, scanned from gcheap's
  // capture (driver only).
  bool in_gcheap = false;
  bool main = false;
  bool in_finalizers = false;  // inside GC_invoke_finalizers (owner only)
  // The debugging object whose header this thread is writing, or null
  // (debug_alloc.cc; read by a collection's check with the thread stopped).
  void* volatile debug_annotating = nullptr;
  // Objects this thread GC_free'd, handed out again by its next
  // allocations of their kind and size class before the collector could
  // reclaim them (boehm.cc, "Explicit frees"): small ones on one list per
  // (noscan, size class), linked through each object's first word (hidden).
  // Valid only while freed_epoch equals g.free_epoch; owner only, inside
  // running brackets.
  void* freed[2][kNumSizeClasses] = {};
  // And up to kFreedLarge large ones (any kind: noscan says which), each
  // with its usable bytes and pages, kFreedLargeBytes in all at most (their
  // pages stay resident while listed).
  struct FreedLarge {
    void* p;
    size_t bytes, npages;
    bool noscan;
  };
  static constexpr int kFreedLarge = 64;
  static constexpr size_t kFreedLargeBytes = size_t{4} << 20;
  FreedLarge freed_large[kFreedLarge] = {};
  size_t freed_large_bytes = 0;
  // And small typed objects with pointers (GC_malloc_explicitly_typed),
  // on one list per (gcheap type, size class), handed out only to a typed
  // allocation of that type and class, so the object's type tag in its
  // span stays right. A small table with no allocation: the pair hashes to
  // one entry; a freed object whose entry holds another pair's list is not
  // listed (left to the collector, its bytes credited).
  struct FreedTyped {
    void* head;
    uint16_t type;
    uint8_t sizeclass;
  };
  static constexpr size_t kFreedTyped = 64;
  static size_t FreedTypedIndex(uint16_t type, size_t sizeclass) {
    return (type * 67u + sizeclass) % kFreedTyped;
  }
  FreedTyped freed_typed[kFreedTyped] = {};
  uint64_t freed_epoch = 0;
};

// A static the library never destroys. exit() runs the library's static
// destructors while the program's other threads may still call GC_*
// (Boehm's tables are plain C statics, so Boehm programs do) and while
// gcheap's collector threads, never stopped at exit (runtime/process.h),
// may still read the layer's tables: every static of the layer that a
// GC_* call or a collector hook uses is one of these, or trivially
// destructible. Constant-initialized where T's default constructor is
// constexpr. (tests/boehm_exit_threads_test.cc)
template <typename T>
union NeverDestroyed {
  constexpr NeverDestroyed() : value() {}
  ~NeverDestroyed() {}  // leaves value alone
  T* operator->() { return &value; }
  T& operator*() { return value; }
  T value;
};

struct Globals {
  std::once_flag init_once;
  std::atomic<bool> initialized{false};
  gc_heap* heap = nullptr;
  std::mutex threads_mu;
  NeverDestroyed<std::vector<BThread*>> threads;  // under threads_mu
  std::atomic<bool> allow_register{false};
  size_t pad = 1;  // one-past-the-end padding (GC_all_interior_pointers)
  // Marks ended so far: bumped by the world hook at the end of each mark
  // termination (world stopped), it invalidates every thread's lists of
  // freed objects (BThread::freed), whose unmarked objects the sweep that
  // follows may free.
  std::atomic<uint64_t> free_epoch{0};
  // Finalizers were made ready since the last AfterCollectionPoint
  // (finalize.cc; set by gcheap's notifier).
  std::atomic<bool> fin_ready{false};
};
extern Globals g;

// The calling thread's record, or null (threads.cc). Initial-exec: one
// load at a fixed offset from the thread pointer, no __tls_get_addr (the
// library is loaded with the program, as Boehm's, which does the same).
extern __attribute__((
    tls_model("initial-exec"))) constinit thread_local BThread* tls_self;
inline BThread* Self() { return tls_self; }
// Initializes once (GC_init).
void EnsureInit();
// The kind of the heap object p points into (boehm.cc): false if there is
// none; else *atomic (pointer-free: GC_malloc_atomic's) and *uncollectable
// (GC_malloc_uncollectable's or GC_malloc_atomic_uncollectable's).
bool ObjectKind(const void* p, bool* atomic, bool* uncollectable);
// CurrentMutator's first call on a thread: initializes, registers the
// thread if it is not yet.
gc_mutator* CurrentMutatorSlow();
// The calling thread's mutator, registering the thread if it is not yet.
inline gc_mutator* CurrentMutator() {
  BThread* t = tls_self;
  return GC_LIKELY(t != nullptr) ? t->m : CurrentMutatorSlow();
}
// The calling thread, which left the allocation fast path with a suspend
// request pending (BThread::stop_deferred), stops now (threads.cc).
void SuspendDeferred(BThread* t);

// Registers the calling thread with stack cold end hi; returns its record.
BThread* RegisterThread(uintptr_t hi, bool main);
void UnregisterThread(BThread* t);
// Installs the signal handlers and world hooks (threads.cc); at init.
void InitThreads();
// The stack cold end of the calling thread (pthread_getattr_np).
uintptr_t StackHi();

// The calling thread (mutator m) leaves the program's code for gcheap's:
// it leaves its permanent blocking bracket (waiting out a pause), then
// marks itself inside gcheap, where the world hooks leave it to gcheap's
// own stop (boehm_internal.h's header).
inline void EnterGcheap(gc_mutator* m) {
  gc_leave_blocking(m);
  m->roots.capture.store(true, std::memory_order_relaxed);
}
// And back to the program's code: counted as blocked again, and stopped
// with the signal from now on.
inline void LeaveGcheap(gc_mutator* m) {
  m->roots.capture.store(false, std::memory_order_relaxed);
  gc_enter_blocking(m);
}

// While it lives, the calling thread counts as running for gcheap (it
// left its permanent blocking bracket): it may call gcheap's mutator
// functions, and no pause is in force.
class RunningBracket {
 public:
  RunningBracket() : m_(CurrentMutator()) { EnterGcheap(m_); }
  ~RunningBracket() { LeaveGcheap(m_); }
  gc_mutator* m() const { return m_; }
  RunningBracket(const RunningBracket&) = delete;
  RunningBracket& operator=(const RunningBracket&) = delete;

 private:
  gc_mutator* const m_;
};

// Whether the calling thread is inside a gc_mark.h mark procedure (a
// trace of mark_procs.cc): inside the collector, where no bracket may be
// entered.
bool InMarkProcedure();

// Finalization and disappearing links (finalize.cc).
void InitFinalization();
// World hook, end of mark termination: clears the links of dead objects.
void ClearDeadLinks();
// The same hook: checks every marked debugging object's guards and records
// the clobbered ones (debug_alloc.cc; nothing before the first debugging
// allocation). PrintSmashed, on a Boehm thread after a collection, prints
// and clears the record.
void CheckDebugObjects();
void PrintSmashed();
// On a Boehm thread after an allocation or a collection: runs (or
// announces, with GC_finalize_on_demand) the finalizers made ready.
void AfterCollectionPoint(bool collected);
// After an allocation: AfterCollectionPoint(false) if finalizers are
// ready, without a call otherwise.
inline void AfterAllocation() {
  if (GC_UNLIKELY(g.fin_ready.load(std::memory_order_relaxed))) {
    AfterCollectionPoint(false);
  }
}

// Mostly-concurrent marking (dirty_pages.cc). Before the heap exists:
// chooses the dirty-page source (GC_GCHEAP_DIRTY_PAGES); true if marking
// is mostly-concurrent (the heap is then created in concurrent mode).
bool ChooseMarkingMode();
// Once the heap exists: gives the source to the collector.
void InstallDirtyPages();
// "stw", "parallel-stw" or "mostly-concurrent"; "none", "soft-dirty" or
// "mprotect".
const char* MarkingModeName();
const char* DirtyPagesName();
// Sums over every completed mostly-concurrent mark (driver thread; read
// them after a GC_gcollect). Zero in stop-the-world mode.
struct DirtyStats;
DirtyStats DirtyTotals();
// Testing: the installed source's preclean hook (PageTracker::
// set_preclean_hook); no effect in stop-the-world mode.
void SetPrecleanHookForTesting(std::function<void()> hook);
// GC_PRINT_STATS' line of a mostly-concurrent cycle (nothing otherwise).
void PrintDirtyStats(FILE* f, uint64_t cycle, const gc_cycle_info* info);
// GC_set_on_collection_event's notifier with Boehm's GC_EventType e
// (gc.h), if one is set. The world hooks report the events inside the
// pause (POST_STOP_WORLD, MARK_START; MARK_END, PRE_START_WORLD); an event
// listener on gcheap's bus reports the others (boehm.cc).
void CollectionEvent(int e);

// The stacks and registers of the stopped threads, for the root scanner
// (called in the pause with g.threads_mu held by the driver).
size_t ScanThreadStacks(void* root_visitor);  // bytes of stack scanned

}  // namespace gcheap::boehm

#endif  // GCHEAP_RUNTIME_BOEHM_BOEHM_INTERNAL_H_
