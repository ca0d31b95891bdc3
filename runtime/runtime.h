// runtime.h: the embedding layer behind the C API: heap instances, mutator
// threads, safepoints and the stop-the-world handshake.
//
// gc_heap owns an MHeap (allocator), a TypeTable, a RootSet and a Collector,
// and implements the collector's World interface over its mutators.
//
// Mutator states (gc_mutator::state):
//   kRunning  the thread may touch the heap;
//   kBlocked  inside gc_enter_blocking/gc_leave_blocking (or waiting for
//             another thread's collection): counts as stopped;
//   kParked   at a safepoint, waiting for the world to restart.
// Stop the world (collector thread, holding mutators_mu_ until restart):
//   stw_requested := true (seq_cst); set kPollStop in every other mutator's
//   poll word; wait until no other mutator is kRunning.
// A mutator stores its state, then reads stw_requested (both seq_cst); the
// collector stores stw_requested, then reads states. So either the
// collector sees the mutator blocked/parked, or the mutator sees the
// request and parks before touching the heap: no mutator runs heap code
// while the world is stopped. Every transition to kRunning follows that
// order: leaving a blocking region, and waking from a park (a mutator
// woken by one restart may be counted as parked by the next stop, so it
// re-reads stw_requested after storing kRunning and parks again).
//
// The poll word is the first member of gc_mutator, so gc_safepoint (inline
// in gc.h) is one relaxed load and a branch. Bits: kPollStop (a collection
// wants this thread parked), kPollRefill (the mcache refilled a span since
// the last poll: check the GC trigger), kPollFlush (the collector asks
// every mutator to shade its write-barrier buffer itself: the ragged
// barrier before mark termination).
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
#include "runtime/gc.h"

namespace gcheap {

inline constexpr uint32_t kPollStop = 1;
inline constexpr uint32_t kPollRefill = 2;
inline constexpr uint32_t kPollFlush = 4;
inline constexpr uint32_t kMutatorMagic = 0x6d757461;  // "muta"
inline constexpr uint32_t kMutatorDead = 0xdead0001;
inline constexpr uint32_t kHeapMagic = 0x68656170;  // "heap"

enum MutatorState : int { kRunning = 0, kBlocked = 1, kParked = 2 };

}  // namespace gcheap

struct gc_mutator {
  // The first four members are gc_mutator_head_ (runtime/gc.h), read and
  // written by the inline gc_safepoint and gc_write_barrier.
  std::atomic<uint32_t> poll{0};
  std::atomic<uint32_t> wb_enabled{0};
  // Write-barrier buffer (Go's wbBuf): old and new values of pointer stores
  // made while marking, in pairs, shaded in batches. Only the owning
  // thread appends; the collector reads it with the world stopped.
  uintptr_t* wbbuf_next = wbbuf;
  uintptr_t* wbbuf_end = wbbuf + kWbBufEntries;
  uint32_t magic = gcheap::kMutatorMagic;
  gc_heap* heap = nullptr;
  gcheap::MCache* mcache = nullptr;
  std::atomic<int> state{gcheap::kRunning};
  pthread_t owner;
  int attach_count = 0;            // nested gc_thread_attach calls
  gcheap::MutatorGcState gcstate;  // allocate-black counts, assist credit
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
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
static_assert(gc_mutator::kWbBufEntries % 2 == 0);

struct gc_heap final : public gcheap::World {
  explicit gc_heap(const gc_config& cfg);
  ~gc_heap() override;

  // World.
  void StopTheWorld() override;
  int64_t StartTheWorld() override;
  void ForEachMCache(absl::FunctionRef<void(gcheap::MCache*)> f) override;
  void SetWriteBarrier(bool on) override;
  void FlushWriteBarrierBuffers() override;
  void RaggedFlushWriteBarrierBuffers() override;
  void ForEachMutatorGcState(
      absl::FunctionRef<void(gcheap::MutatorGcState*)> f) override;
  bool StopRequested() const override {
    return stw_requested_.load(std::memory_order_relaxed);
  }
  int RunningMutators() override;
  // Shades m's buffered barrier values (buffer full, or detach).
  void FlushWriteBarrierBuffer(gc_mutator* m);

  size_t attached_count() {
    std::lock_guard<std::mutex> g(mutators_mu_);
    return mutators_.size();
  }
  gc_mutator* Attach();
  void Detach(gc_mutator* m);
  // Parks m until the world restarts (m saw kPollStop or a stop request).
  void Park(gc_mutator* m);
  void EnterBlocking(gc_mutator* m);
  void LeaveBlocking(gc_mutator* m);
  // Runs a collection on m's thread, counting m as stopped while it waits
  // for another thread's cycle.
  void Collect(gc_mutator* m, gcheap::GcReason reason, bool finish_sweep,
               uint64_t only_if_cycle = ~uint64_t{0});

  uint32_t magic = gcheap::kHeapMagic;
  const uint64_t id;  // unique per process, for thread-local lookups
  gc_config config;
  gcheap::MHeap heap;
  gcheap::TypeTable types;
  gcheap::RootSet roots;
  std::unique_ptr<gcheap::Collector> collector;

 private:
  std::mutex mutators_mu_;  // held by the collector while the world is stopped
  std::vector<gc_mutator*> mutators_;       // attached
  std::vector<gc_mutator*> free_mutators_;  // detached, reusable
  std::atomic<bool> stw_requested_{false};
  std::mutex world_mu_;
  std::condition_variable world_cv_;    // mutators wait for restart
  std::condition_variable stopped_cv_;  // the collector waits for stops
  gc_mutator* stopper_ = nullptr;       // the thread that stopped the world
  bool barrier_on_ = false;             // for mutators attaching while marking
};

#endif  // GCHEAP_RUNTIME_RUNTIME_H_
