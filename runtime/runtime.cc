// runtime.cc: heap instances, attach and detach, the thread-local mutator
// list, and the collector's World over the handshake (design in runtime.h).
#include "runtime/runtime.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <thread>

#include "gc/stack_scan.h"
#include "heap/error.h"
#include "runtime/handles.h"
#include "runtime/process.h"

namespace gcheap {
namespace {

std::atomic<uint64_t> next_heap_id{1};

// The calling thread's mutators, one per heap it is attached to: a list
// through gc_mutator::tls_next. It is trivially destructible, so nothing
// runs for it when exit() runs the exiting thread's thread-local
// destructors: the thread that ends the process stays attached
// (process.h).
constinit thread_local gc_mutator* tls_mutators = nullptr;

// A thread that exits while still attached would leave a mutator that
// never reaches a safepoint, and the next collection would wait for it
// forever. This pthread key's destructor detaches whatever is left when
// the thread exits; POSIX runs key destructors when a thread exits (return
// from its start routine, pthread_exit), never inside exit(). (A heap
// cannot be destroyed while mutators are attached, so the heaps are still
// alive here.)
void DetachAtThreadExit(void*) {
  while (gc_mutator* m = tls_mutators) {
    m->attach_count = 1;  // however often it attached
    m->heap->Detach(m);   // unlinks it
  }
}

pthread_key_t DetachKey() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    GC_CHECK(pthread_key_create(&k, DetachAtThreadExit) == 0,
             "cannot create gcheap's thread-exit key");
    return k;
  }();
  return key;
}

void Unlink(gc_mutator* m) {
  for (gc_mutator** p = &tls_mutators; *p != nullptr; p = &(*p)->tls_next) {
    if (*p == m) {
      *p = m->tls_next;
      m->tls_next = nullptr;
      return;
    }
  }
  GC_CHECK(false, "a detached mutator was not in its thread's list");
}

CollectorConfig ToCollectorConfig(const gc_config& c) {
  CollectorConfig cc;
  cc.gc_percent = c.gc_percent;
  cc.memory_limit = c.memory_limit_bytes;
  cc.workers = c.gc_workers;
  cc.verify = c.verify != 0;
  cc.stop_the_world = c.stop_the_world != 0;
  cc.trace = c.trace != 0;
  cc.tag_mask = c.tag_mask;
  cc.ambiguous_displacements = c.ambiguous_displacements != 0;
  if (c.min_heap_bytes != 0) cc.min_heap = c.min_heap_bytes;
  return cc;
}

HeapOptions ToHeapOptions(const gc_config& c) {
  HeapOptions o;
  o.hard_limit = c.max_heap_bytes;
  return o;
}

}  // namespace

// While a thread waits inside one heap (parked at a safepoint, or running
// or waiting for a collection), its mutators of other heaps must count as
// stopped: otherwise two threads collecting two heaps they both use would
// each wait for the other forever. The guard moves the thread's running
// mutators of other heaps to kBlocked and back.
class OtherHeapsBlocked {
 public:
  explicit OtherHeapsBlocked(const gc_heap* self) {
    if (tls_mutators == nullptr || tls_mutators->tls_next == nullptr) return;
    for (gc_mutator* m = tls_mutators; m != nullptr; m = m->tls_next) {
      if (m->heap == self) continue;
      if (m->state.load(std::memory_order_relaxed) != kRunning) continue;
      m->heap->EnterBlocking(m);
      changed_.push_back(m);
    }
  }
  ~OtherHeapsBlocked() {
    for (gc_mutator* m : changed_) m->heap->LeaveBlocking(m);
  }

 private:
  std::vector<gc_mutator*> changed_;
};

void EnterBlockingEverywhere() {
  for (gc_mutator* m = tls_mutators; m != nullptr; m = m->tls_next) {
    m->heap->EnterBlocking(m);
  }
}

void LeaveBlockingEverywhere() {
  for (gc_mutator* m = tls_mutators; m != nullptr; m = m->tls_next) {
    m->heap->LeaveBlocking(m);
  }
}

ForkGate::Pass::Pass(ForkGate* g) : g_(g) {
  std::unique_lock<std::mutex> l(g_->mu_);
  g_->cv_.wait(l, [&] { return !g_->closed_; });
  g_->inside_++;
}

ForkGate::Pass::~Pass() {
  std::lock_guard<std::mutex> l(g_->mu_);
  if (--g_->inside_ == 0) g_->cv_.notify_all();
}

void ForkGate::Close() {
  std::unique_lock<std::mutex> l(mu_);
  closed_ = true;
  cv_.wait(l, [&] { return inside_ == 0; });
}

void ForkGate::Open() {
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = false;
  }
  cv_.notify_all();
}

void ForkGate::ResetInChild() {
  new (&mu_) std::mutex();
  new (&cv_) std::condition_variable();
  inside_ = 0;
  closed_ = false;
}

gc_mutator* CurrentMutator(const gc_heap* h) {
  for (gc_mutator* m = tls_mutators; m != nullptr; m = m->tls_next) {
    if (m->heap == h) return m;
  }
  return nullptr;
}

void Misuse(const char* fn, const char* what) {
  fprintf(stderr, "gcheap: API misuse in %s: %s\n", fn, what);
  fflush(stderr);
  abort();
}

void CheckMutator(const gc_mutator* m, const char* fn) {
  if (m == nullptr) Misuse(fn, "mutator is NULL");
  if (m->magic == kMutatorDead) {
    Misuse(fn, "use of a detached mutator");
  }
  if (m->magic != kMutatorMagic) Misuse(fn, "not a gc_mutator");
  if (!pthread_equal(m->owner, pthread_self())) {
    Misuse(fn,
           "mutator used from a thread other than the one that attached it");
  }
}

void CheckRunningMutator(const gc_mutator* m, const char* fn) {
  if constexpr (kDebugBuild) {
    CheckMutator(m, fn);
    if (m->blocking_depth != 0) {
      Misuse(fn, "called inside a blocking bracket (gc_enter_blocking)");
    }
    GC_DCHECK(!ThreadRootScanPending(m),
              "a mutator runs while its root snapshot is unscanned");
  }
}

}  // namespace gcheap

using gcheap::CurrentMutator;
using gcheap::kRunning;
using gcheap::OtherHeapsBlocked;

gc_heap::gc_heap(const gc_config& cfg)
    : id(gcheap::next_heap_id.fetch_add(1)),
      config(cfg),
      heap(gcheap::ToHeapOptions(cfg)) {
  heap.set_event_sink(&events);
  collector = std::make_unique<gcheap::Collector>(
      &heap, &types, &roots, &world, gcheap::ToCollectorConfig(cfg), &events);
  heap.set_owner(this);  // diagnostics name the gc_heap
  collector->weak().callbacks().SetHandle(this);  // what weak callbacks get
  // Ready finalizers and guardians' objects are roots until they ran.
  GC_CHECK(roots
               .AddScanner(&gcheap::Finalization::ScanRoots,
                           &collector->finalization())
               .ok(),
           "cannot register the finalization queues' root scanner");
}

gc_heap::~gc_heap() {
  finalizer_thread.Stop();
  collector.reset();  // stops the sweeper and mark workers
  for (gc_mutator* m : free_mutators_) {
    gcheap::FreeHandles(m, /*keep_first=*/false);
    delete m;
  }
  magic = 0;
}

namespace {

// The type registered once by `reg` (which stores it into *type), read
// without std::call_once on every later call: libstdc++'s call_once has no
// fast path of its own (it sets two thread-locals and calls pthread_once
// every time), and every gc_alloc_conservative and gc_ephemeron_new asks.
template <typename Register>
gc_type_id TypeRegisteredOnce(std::atomic<gc_type_id>* type,
                              std::once_flag* once, Register reg) {
  if (const gc_type_id t = type->load(std::memory_order_acquire);
      GC_LIKELY(t != 0)) {
    return t;
  }
  std::call_once(*once, reg);
  return type->load(std::memory_order_acquire);
}

}  // namespace

gc_type_id gc_heap::ConservativeType() {
  return TypeRegisteredOnce(&conservative_type_, &conservative_once_, [&] {
    // A tail of 8-byte words, each an ambiguous pointer.
    static const uint64_t kEveryWord = 1;
    gcheap::TypeSpec spec;
    spec.name = "(conservative)";
    spec.elem_size = sizeof(void*);
    spec.elem_ptrmap = &kEveryWord;
    spec.elem_ptrmap_words = 1;
    spec.conservative = true;
    gcheap::StatusOr<uint16_t> id = types.Register(spec);
    if (id.ok()) {
      conservative_type_.store(*id, std::memory_order_release);
    } else {
      gcheap::SetLastError("cannot register the conservative type: %s",
                           id.status().message());
    }
  });
}

namespace {
// Testing: run by Attach once the list lock is released, before the
// attach event (gc_heap::SetAttachHookForTesting).
std::atomic<void (*)()> g_attach_hook{nullptr};
}  // namespace

gc_mutator* gc_heap::Attach() {
  if (gc_mutator* m = CurrentMutator(this)) {
    m->attach_count++;
    return m;
  }
  gc_mutator* m;
  size_t attached;
  {
    auto list = LockListAsSafepoint();
    if (!free_mutators_.empty()) {
      m = free_mutators_.back();
      free_mutators_.pop_back();
    } else {
      m = new gc_mutator;
    }
    m->magic = gcheap::kMutatorMagic;
    m->heap = this;
    m->poll.store(0, std::memory_order_relaxed);
    m->wb_enabled.store(world.barrier_on() ? 1 : 0, std::memory_order_relaxed);
    m->wbbuf_next = m->wbbuf;
    m->wbbuf_end = m->wbbuf + gc_mutator::kWbBufEntries;
    m->gcstate = {};
    m->state.store(kRunning, std::memory_order_relaxed);
    m->blocking_depth = 0;
    m->owner = pthread_self();
    m->attach_count = 1;
    m->mcache = heap.NewMCache();
    m->mcache->set_refill_notify(&m->poll, gcheap::kPollRefill);
    // Attaching while a concurrent mark runs: allocate black at once.
    m->mcache->StartMark(world.barrier_on());
    m->alloc_windows = m->mcache->windows();
    m->alloc_size_class = gcheap::kSizeToClass8;
    m->alloc_type_min = types.alloc_min_table();
    gcheap::ResetHandles(m);
    m->roots.scan.store(world.thread_roots().done_word(),
                        std::memory_order_relaxed);
    m->roots.context.sp = 0;
    m->roots.stack = {};
    m->roots.fake_stack = nullptr;
    m->roots.capture.store(false, std::memory_order_relaxed);
    if (config.conservative_stacks != 0) {
      if (!gcheap::CurrentStackBounds(&m->roots.stack)) {
        gcheap::Misuse("gc_thread_attach", gcheap::LastError());
      }
      m->roots.fake_stack = gcheap::CurrentFakeStack();
    }
    handshake.Add(m, list);
    // Counted under the list lock: once it is released the new mutator is
    // kRunning, and a stop that takes the lock next waits for it, so it
    // must not wait for the lock again before its first safepoint.
    attached = handshake.attached(list);
  }
  if (auto hook = g_attach_hook.load(std::memory_order_acquire)) hook();
  m->tls_next = gcheap::tls_mutators;
  gcheap::tls_mutators = m;
  pthread_setspecific(gcheap::DetachKey(), m);  // non-null: detach at exit
  if (events.active()) {
    events.EmitSimple(gcheap::EventKind::kMutatorAttached, 0, attached);
  }
  return m;
}

void gc_heap::SetAttachHookForTesting(void (*hook)()) {
  g_attach_hook.store(hook, std::memory_order_release);
}

void gc_heap::Detach(gc_mutator* m) {
  if (--m->attach_count > 0) return;  // a nested attach
  // While we wait for the list lock (a collection may hold it), count as
  // stopped.
  EnterBlocking(m);
  size_t attached;
  {
    auto list = LockListAsSafepoint();
    // No first pause can begin while the list is locked: once this scan is
    // done, no claimer reads this mutator's roots again.
    gcheap::FinishThreadRootScan(m);
    gcheap::FreeHandles(m, /*keep_first=*/true);
    m->roots.scanners.clear();
    FlushWriteBarrierBuffer(m);
    ReleaseMCache(m);
    handshake.Remove(m, list);
    m->magic = gcheap::kMutatorDead;
    // Off this thread's list before another thread can reuse it.
    gcheap::Unlink(m);
    free_mutators_.push_back(m);
    attached = handshake.attached(list);
  }
  if (events.active()) {
    events.EmitSimple(gcheap::EventKind::kMutatorDetached, 0, attached);
  }
}

void gc_heap::ReleaseMCache(gc_mutator* m) {
  // Its cached spans go back (marking what it allocated black, if a mark
  // runs) and the collector gets its black counts.
  m->mcache->ReleaseAll();
  collector->AddBlack(m->mcache->TakeBlackCounts());
  m->gcstate = {};
  heap.FreeMCache(m->mcache);
  m->mcache = nullptr;
  m->alloc_windows = nullptr;
}

gc_type_id gc_heap::EphemeronType() {
  return TypeRegisteredOnce(&ephemeron_type_, &ephemeron_once_, [this] {
    static const uint64_t kNext =
        uint64_t{1} << (offsetof(gcheap::EphemeronObject, next) / 8);
    gcheap::TypeSpec spec;
    spec.name = "gc_ephemeron";
    spec.size = gcheap::kEphemeronBytes;
    spec.ptrmap = &kNext;  // what other visitors see: next only
    spec.ptrmap_words = 1;
    spec.ephemeron = true;
    gcheap::StatusOr<uint16_t> t = types.Register(spec);
    GC_CHECK(t.ok(),
             "cannot register the ephemeron type (the type table is "
             "full?)");
    ephemeron_type_.store(*t, std::memory_order_release);
  });
}

std::unique_lock<std::mutex> gc_heap::LockListAsSafepoint() {
  std::unique_lock<std::mutex> list(handshake.LockList(std::try_to_lock));
  if (!list.owns_lock()) {
    // A pause of this heap (or a fork) holds the list: wait for it
    // counting as stopped in the thread's other heaps too, as in Park.
    OtherHeapsBlocked others(this);
    list.lock();
  }
  return list;
}

void gc_heap::FlushWriteBarrierBuffer(gc_mutator* m) {
  if (m->wbbuf_next == m->wbbuf) return;
  collector->ShadeBuffered(m->wbbuf, m->wbbuf_count());
  m->wbbuf_next = m->wbbuf;
}

void gc_heap::Park(gc_mutator* m, bool capture) {
  if (capture) gcheap::CaptureThreadContext(m);
  {
    OtherHeapsBlocked others(this);
    gcheap::ActivityScope wait(&events, gcheap::Activity::kSafepointWait);
    handshake.Park(m);
  }
  // Before m's code runs again: its roots as they were at the pause.
  gcheap::FinishThreadRootScan(m);
}

void gc_heap::EnterBlocking(gc_mutator* m) {
  if (m->blocking_depth == 0) {
    // A blocked mutator's buffer would wait for the final pause (the
    // ragged flush skips it): shade it now, while still running (a nested
    // bracket is already blocked and has stored nothing since).
    if (m->wbbuf_next != m->wbbuf &&
        m->wb_enabled.load(std::memory_order_relaxed)) {
      FlushWriteBarrierBuffer(m);
    }
    gcheap::CaptureThreadContext(m);
  }
  handshake.EnterBlocking(m);
  // Reported once blocked (no pause waits for the listener), outermost
  // bracket only.
  if (events.activities_active() && m->blocking_depth == 1) {
    events.Activity(true, gcheap::Activity::kBlocked);
  }
}

void gc_heap::LeaveBlocking(gc_mutator* m) {
  if (events.activities_active() && m->blocking_depth == 1) {
    events.Activity(false, gcheap::Activity::kBlocked);
  }
  if (handshake.LeaveBlocking(m)) {
    Park(m, /*capture=*/false);  // finishes the snapshot when it wakes
  } else if (m->blocking_depth == 0) {
    gcheap::FinishThreadRootScan(m);
  }
}

void gc_heap::Collect(gc_mutator* m, gcheap::GcReason reason, bool finish_sweep,
                      uint64_t only_if_cycle) {
  // Once process exit has begun no cycle can complete; the exiting thread
  // must not wait for one (process.h).
  if (gcheap::IsExitingThread()) return;
  EnterBlocking(m);
  {
    OtherHeapsBlocked others(this);
    collector->Collect(reason, /*finish_sweep=*/false, only_if_cycle);
    if (finish_sweep) {
      // Sweeping while counted as blocked: no pause waits for it, so a
      // fork waits for it at the gate instead.
      gcheap::ForkGate::Pass pass(&sweep_gate);
      heap.FinishSweep();
    }
  }
  LeaveBlocking(m);
}

void gc_heap::WithWorldStopped(gc_mutator* m, absl::FunctionRef<void()> f) {
  EnterBlocking(m);
  {
    OtherHeapsBlocked others(this);
    handshake.StopTheWorld(m);
    // Nothing is swept meanwhile: no sweep cycle can begin while the world
    // is stopped, and the sweepers find nothing left.
    heap.FinishSweep(/*scavenge=*/false);
    // A thread that counts as stopped (in a blocking bracket, or a
    // gc_collect before its own stop of the world) may still return empty
    // spans to the page heap: not while f reads the spans.
    gcheap::MHeap::SpanHold hold(&heap);
    // What the mutators' allocation windows handed out reads as allocated
    // (heap/mcache.h): every cached span is synced.
    world.ForEachMCache([](gcheap::MCache* c) { c->SyncAll(); });
    f();
    handshake.StartTheWorld();
  }
  LeaveBlocking(m);
}

void gc_heap::AfterForkChild(const std::vector<gc_mutator*>& gone) {
  sweep_gate.ResetInChild();
  api_gate.ResetInChild();
  collector->finalization().AfterForkChild();
  {
    auto list = handshake.LockList();
    RecycleGone(gone);
  }
  // The parent's finalizer thread is one of the gone (its mutator was
  // just recycled): a new one, once the list lock is free.
  finalizer_thread.AfterForkChild();
}

void gc_heap::RecycleGone(const std::vector<gc_mutator*>& gone) {
  for (gc_mutator* m : gone) {
    // As Detach. (No cycle ran at the fork, so the barrier buffer is
    // empty and the black counts are zero.)
    FlushWriteBarrierBuffer(m);
    gcheap::FreeHandles(m, /*keep_first=*/true);
    m->roots.scanners.clear();
    ReleaseMCache(m);
    m->tls_next = nullptr;
    m->magic = gcheap::kMutatorDead;
    free_mutators_.push_back(m);
  }
}

namespace gcheap {

void HeapWorld::StopTheWorld() {
  h_->handshake.StopTheWorld(CurrentMutator(h_));
}

int64_t HeapWorld::StartTheWorld() { return h_->handshake.StartTheWorld(); }

void HeapWorld::ForEachMCache(absl::FunctionRef<void(MCache*)> f) {
  h_->handshake.ForEachMutator([&](gc_mutator* m) { f(m->mcache); });
}

void HeapWorld::SetWriteBarrier(bool on) {
  barrier_on_ = on;
  h_->handshake.ForEachMutator([&](gc_mutator* m) {
    m->wb_enabled.store(on ? 1 : 0, std::memory_order_relaxed);
  });
}

void HeapWorld::FlushWriteBarrierBuffers() {
  h_->handshake.ForEachMutator([&](gc_mutator* m) {
    h_->FlushWriteBarrierBuffer(m);
    // A ragged flush this mutator did not answer (it was blocked, or its
    // wait timed out) is answered now: no poll is left asking for it.
    m->poll.fetch_and(~kPollFlush, std::memory_order_relaxed);
  });
}

void HeapWorld::RaggedFlushWriteBarrierBuffers() {
  h_->handshake.RaggedHandshake(kPollFlush);
}

void HeapWorld::ForEachMutatorGcState(
    absl::FunctionRef<void(MutatorGcState*)> f) {
  h_->handshake.ForEachMutator([&](gc_mutator* m) { f(&m->gcstate); });
}

bool HeapWorld::StopRequested() const { return h_->handshake.StopRequested(); }

int HeapWorld::RunningMutators() { return h_->handshake.RunningMutators(); }

}  // namespace gcheap
