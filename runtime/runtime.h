// runtime.h: the embedding layer behind the C API: heap instances and
// their mutator threads.
//
// A gc_heap owns an MHeap (allocator), a TypeTable, a RootSet, a Collector,
// the stop-the-world Handshake with its list of attached mutators
// (runtime/handshake.h: mutator states, poll bits, the stop protocol), a
// HeapWorld: the collector's World interface (gc/world.h) over that
// handshake, the EventBus the heap, the collector and the mutators report
// to (gc/events.h), and the HeapObservers (runtime/observe.h: the
// embedder's listeners, the trace file, the OOM and pressure hooks). Heap
// walks and snapshots stop the world from the calling thread
// (WithWorldStopped; runtime/heap_query.h). The layering points down: runtime
// -> gc -> heap; the collector sees the mutators only through World.
//
// A gc_mutator is one thread's attachment to one heap: its mcache, its
// write-barrier buffer, its handle stack (runtime/handles.h), its own roots
// and their per-cycle snapshot state (runtime/thread_roots.h), its
// collector state and its handshake state. The poll word is the first
// member, so gc_safepoint (inline in gc.h) is one relaxed load and a
// branch. Attached mutators are never freed while their heap lives: a
// detached one goes to a free list and is reused.
//
// Every transition of a mutator out of running (a park, the outermost
// blocking entry) captures its stack context when conservative stacks are
// on, and every transition back to running finishes its root snapshot
// first (thread_roots.h): a park wakes up into FinishThreadRootScan, and so
// does leaving the outermost blocking bracket.
//
// Attach and detach change the handshake's mutator list under its lock,
// which a stopped world (and a fork in preparation) holds, so they wait out
// a pause; a detaching mutator counts as stopped meanwhile. While a thread
// waits inside one heap (parked, running or waiting for a collection, or
// waiting for the list lock), its mutators of other heaps count as stopped
// (OtherHeapsBlocked), so two heaps' collections never wait for each other.
//
// fork() (runtime/process.h) quiesces every heap in the parent and rebuilds
// it in the child; the gates (ForkGate) keep threads out of the heap's
// locks at the fork: api_gate for gc_* calls that take them without a
// mutator, sweep_gate for a collecting thread's sweep.
//
// A thread that exits while still attached is detached when it exits;
// the thread that ends the process (exit(), or returning from main) is
// not, and process exit has rules of its own (runtime/process.h).
#ifndef GCHEAP_RUNTIME_RUNTIME_H_
#define GCHEAP_RUNTIME_RUNTIME_H_

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "gc/collector.h"
#include "gc/roots.h"
#include "gc/typeinfo.h"
#include "gc/world.h"
#include "heap/mcache.h"
#include "heap/mheap.h"
#include "runtime/finalizer_thread.h"
#include "runtime/gc.h"
#include "runtime/handshake.h"
#include "runtime/observe.h"
#include "runtime/thread_roots.h"

namespace gcheap {

inline constexpr uint32_t kMutatorMagic = 0x6d757461;  // "muta"
inline constexpr uint32_t kMutatorDead = 0xdead0001;
inline constexpr uint32_t kHeapMagic = 0x68656170;  // "heap"

}  // namespace gcheap

struct gc_mutator {
  // The first members are gc_mutator_head_ (runtime/gc.h), read and
  // written by the inline gc_safepoint, gc_write_barrier, handle and
  // allocation functions.
  std::atomic<uint32_t> poll{0};
  std::atomic<uint32_t> wb_enabled{0};
  // Write-barrier buffer (Go's wbBuf): old and new values of pointer stores
  // made while marking, in pairs, shaded in batches. Only the owning
  // thread appends; the collector reads it with the world stopped.
  uintptr_t* wbbuf_next = wbbuf;
  uintptr_t* wbbuf_end = wbbuf + kWbBufEntries;
  // The handle stack (runtime/handles.h).
  void** handle_top = nullptr;
  void** handle_limit = nullptr;
  void* handle_block = nullptr;
  // The inline allocation path: the mcache's windows, the heap's
  // size-class table and its per-type table (set at attach).
  gcheap::AllocWindow* alloc_windows = nullptr;
  const uint8_t* alloc_size_class = nullptr;
  const uint32_t* alloc_type_min = nullptr;
  uint32_t magic = gcheap::kMutatorMagic;
  gc_heap* heap = nullptr;
  gcheap::MCache* mcache = nullptr;
  std::atomic<int> state{gcheap::kRunning};  // handshake.h
  int blocking_depth = 0;  // nested blocking brackets (owner only)
  pthread_t owner;
  int attach_count = 0;            // nested gc_thread_attach calls
  gc_mutator* tls_next = nullptr;  // the owner's next mutator (runtime.cc)
  gcheap::MutatorGcState gcstate;  // assist credit
  gcheap::ThreadRoots roots;       // its own roots (thread_roots.h)
  static constexpr size_t kWbBufEntries = 512;
  size_t wbbuf_count() const { return wbbuf_next - wbbuf; }
  uintptr_t wbbuf[kWbBufEntries];
};

static_assert(offsetof(gc_mutator, poll) == offsetof(gc_mutator_head_, poll));
static_assert(offsetof(gc_mutator, wb_enabled) ==
              offsetof(gc_mutator_head_, wb_enabled));
static_assert(offsetof(gc_mutator, wbbuf_next) ==
              offsetof(gc_mutator_head_, wbbuf_next));
static_assert(offsetof(gc_mutator, wbbuf_end) ==
              offsetof(gc_mutator_head_, wbbuf_end));
static_assert(offsetof(gc_mutator, handle_top) ==
              offsetof(gc_mutator_head_, handle_top));
static_assert(offsetof(gc_mutator, handle_limit) ==
              offsetof(gc_mutator_head_, handle_limit));
static_assert(offsetof(gc_mutator, handle_block) ==
              offsetof(gc_mutator_head_, handle_block));
static_assert(offsetof(gc_mutator, alloc_windows) ==
              offsetof(gc_mutator_head_, alloc_windows));
static_assert(offsetof(gc_mutator, alloc_size_class) ==
              offsetof(gc_mutator_head_, alloc_size_class));
static_assert(offsetof(gc_mutator, alloc_type_min) ==
              offsetof(gc_mutator_head_, alloc_type_min));
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
// The allocation window, as gc.h declares it and heap/mcache.h keeps it.
static_assert(sizeof(gcheap::AllocWindow) == sizeof(gc_alloc_window_));
static_assert(offsetof(gcheap::AllocWindow, next) ==
              offsetof(gc_alloc_window_, next));
static_assert(offsetof(gcheap::AllocWindow, end) ==
              offsetof(gc_alloc_window_, end));
static_assert(offsetof(gcheap::AllocWindow, types) ==
              offsetof(gc_alloc_window_, types));
static_assert(offsetof(gcheap::AllocWindow, elemsize) ==
              offsetof(gc_alloc_window_, size));
static_assert(offsetof(gcheap::AllocWindow, mono) ==
              offsetof(gc_alloc_window_, mono));
static_assert(gcheap::AllocWindow::kNoMono == 0xffffffffu);
// Span classes are size class * 2 + noscan, and the size-class table
// covers the inline paths' sizes.
static_assert(gcheap::MakeSpanClass(3, true) == 3 * 2 + 1);
static_assert(GC_INLINE_ALLOC_MAX_ <= gcheap::kSmallSizeMax);
static_assert(sizeof(gcheap::kSizeToClass8) >=
              (GC_INLINE_ALLOC_MAX_ + 7) / 8 + 1);
static_assert(gcheap::TypeTable::kMaxTypes == 0xffff);
static_assert(gc_mutator::kWbBufEntries % 2 == 0);

namespace gcheap {

// A gate that fork preparation closes (runtime/process.h). A Pass counts a
// call in flight; Close waits until none is and makes new ones wait until
// Open, so no thread is inside the gated code when the process forks.
class ForkGate {
 public:
  class Pass {
   public:
    explicit Pass(ForkGate* g);
    ~Pass();
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;

   private:
    ForkGate* const g_;
  };
  void Close();
  void Open();
  // In a forked child: nobody is inside, and the waiters are gone.
  void ResetInChild();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0;
  bool closed_ = false;
};

// The collector's World (gc/world.h) over one heap's handshake and
// mutators.
class HeapWorld final : public World {
 public:
  explicit HeapWorld(gc_heap* h) : h_(h) {}
  void StopTheWorld() override;
  int64_t StartTheWorld() override;
  void ForEachMCache(absl::FunctionRef<void(MCache*)> f) override;
  void SetWriteBarrier(bool on) override;
  void FlushWriteBarrierBuffers() override;
  void RaggedFlushWriteBarrierBuffers() override;
  void ForEachMutatorGcState(
      absl::FunctionRef<void(MutatorGcState*)> f) override;
  bool StopRequested() const override;
  int RunningMutators() override;
  void BeginThreadRootScans() override { thread_roots_.Begin(); }
  void ScanPendingThreadRoots(bool blocked_only, RootVisitor& v) override {
    thread_roots_.ScanPending(blocked_only, v);
  }
  bool ThreadRootScansDone() override { return thread_roots_.Done(); }
  void EndThreadRootScans() override { thread_roots_.End(); }
  void ForEachThreadRoot(RootVisitor& v) override {
    thread_roots_.ForEachRoot(v);
  }
  // The barrier state a mutator attaching now starts with. Read and
  // written under the handshake's list lock.
  bool barrier_on() const { return barrier_on_; }
  ThreadRootScans& thread_roots() { return thread_roots_; }

 private:
  gc_heap* const h_;
  bool barrier_on_ = false;
  ThreadRootScans thread_roots_{h_};
};

}  // namespace gcheap

struct gc_heap {
  explicit gc_heap(const gc_config& cfg);
  ~gc_heap();
  gc_heap(const gc_heap&) = delete;
  gc_heap& operator=(const gc_heap&) = delete;

  size_t attached_count() { return handshake.attached(); }
  // Testing: hook runs inside Attach, on the attaching thread, after the
  // new mutator joined the list (kRunning) and the list lock was released
  // (tests/attach_during_stop_test.cc). Null: none.
  static void SetAttachHookForTesting(void (*hook)());
  gc_mutator* Attach();
  void Detach(gc_mutator* m);
  // Parks m until the world restarts (m saw kPollStop), then finishes its
  // root snapshot. capture: take a new stack context first (false when m
  // leaves a blocking region into the park: the one taken at the region's
  // entry stands, and may be in use by a claimer).
  void Park(gc_mutator* m, bool capture = true);
  // A blocking bracket; entering shades m's barrier buffer first.
  void EnterBlocking(gc_mutator* m);
  void LeaveBlocking(gc_mutator* m);
  // Requests a collection (the collector's driver thread runs it) and
  // waits for it, counting m as stopped meanwhile.
  void Collect(gc_mutator* m, gcheap::GcReason reason, bool finish_sweep,
               uint64_t only_if_cycle = ~uint64_t{0});
  // Shades m's buffered barrier values (buffer full, or detach).
  void FlushWriteBarrierBuffer(gc_mutator* m);
  // Returns m's mcache to the heap (detach): its spans, its black counts.
  void ReleaseMCache(gc_mutator* m);
  // The built-in type of gc_alloc_conservative (registered on first use),
  // or 0 with gcheap's last error set.
  gc_type_id ConservativeType();
  // Stops the world from m's thread (m counts as blocked meanwhile, and the
  // thread's mutators of other heaps too), finishes the sweep, calls f,
  // and restarts the world: for heap walks and snapshots. A cycle may be
  // in progress: it waits for the pause to end (a concurrent cycle's
  // background marking goes on, setting mark bits only). Must not be
  // called on the thread that is ending the process.
  void WithWorldStopped(gc_mutator* m, absl::FunctionRef<void()> f);
  // The handshake's list lock for attach and detach. If a pause (or a
  // fork) holds it, the thread waits counting as stopped in its other
  // heaps.
  std::unique_lock<std::mutex> LockListAsSafepoint();
  // In a forked child, after the handshake's AfterForkChild: recycles the
  // mutators of threads that no longer exist (their cached spans return
  // to the heap) and resets the gates.
  void AfterForkChild(const std::vector<gc_mutator*>& gone);
  // Recycles the mutators of threads gone in a forked child (as Detach).
  void RecycleGone(const std::vector<gc_mutator*>& gone);

  // The built-in ephemeron type (gc/weak.h's EphemeronObject), registered
  // at the first gc_ephemeron_new; 0 until then.
  gc_type_id EphemeronType();
  gc_type_id ephemeron_type() const {
    return ephemeron_type_.load(std::memory_order_acquire);
  }

  uint32_t magic = gcheap::kHeapMagic;
  const uint64_t id;  // unique per process, for thread-local lookups
  gc_config config;
  // Before the heap and the collector, which report to it until they are
  // gone (gc/events.h).
  gcheap::EventBus events;
  gcheap::MHeap heap;
  gcheap::TypeTable types;
  gcheap::RootSet roots;
  gcheap::Handshake handshake;
  gcheap::HeapWorld world{this};
  std::unique_ptr<gcheap::Collector> collector;
  // Fork (runtime/process.h): sweep_gate covers the sweep a collecting
  // thread does while it counts as blocked (gc_collect's FinishSweep);
  // api_gate covers the gc_* calls that take the heap's locks without a
  // mutator (types, roots, statistics, the cycle hook).
  gcheap::ForkGate sweep_gate;
  gcheap::ForkGate api_gate;
  // Runs finalizers and cleanups (gc_config.finalizer_thread).
  gcheap::FinalizerThread finalizer_thread{this};
  // Listeners, the trace file, the OOM and pressure hooks. Destroyed
  // before the event bus, once the collector is gone (~gc_heap).
  gcheap::HeapObservers observers{this, &events};

 private:
  std::vector<gc_mutator*> free_mutators_;  // under the handshake list lock
  std::once_flag ephemeron_once_;
  std::atomic<gc_type_id> ephemeron_type_{0};
  std::once_flag conservative_once_;
  std::atomic<gc_type_id> conservative_type_{0};  // 0 until registered
};

namespace gcheap {

// The calling thread's mutator of heap h, or null if it is not attached.
gc_mutator* CurrentMutator(const gc_heap* h);

// API misuse: prints "gcheap: API misuse in fn: what" and aborts.
[[noreturn]] void Misuse(const char* fn, const char* what);
// Aborts unless m is a live mutator of the calling thread.
void CheckMutator(const gc_mutator* m, const char* fn);
// Debug builds: CheckMutator, and m may run its own code: it is not inside
// a blocking bracket and its root snapshot is not pending. Release builds:
// nothing.
void CheckRunningMutator(const gc_mutator* m, const char* fn);

// Makes every mutator of the calling thread count as stopped (nested
// blocking brackets), and back: the forking thread, while it prepares the
// fork and until its handlers end.
void EnterBlockingEverywhere();
void LeaveBlockingEverywhere();

}  // namespace gcheap

#endif  // GCHEAP_RUNTIME_RUNTIME_H_
