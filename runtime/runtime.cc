#include "runtime/runtime.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "heap/error.h"

namespace gcheap {
namespace {

std::atomic<uint64_t> next_heap_id{1};

// The calling thread's mutators, one per heap it is attached to. Keyed by
// heap id (never reused), so a destroyed heap's entry can never match.
struct TlsEntry {
  uint64_t heap_id;
  gc_mutator* m;
};
// A thread that exits while still attached would leave a mutator that
// never reaches a safepoint, and the next collection would wait for it
// forever. The thread-local list detaches whatever is left when the thread
// exits. (A heap cannot be destroyed while mutators are attached, so the
// heaps are still alive here.)
struct TlsMutators : std::vector<TlsEntry> {
  ~TlsMutators() {
    while (!empty()) {
      gc_mutator* m = back().m;
      m->attach_count = 1;  // however often it attached
      m->heap->Detach(m);   // removes the entry
    }
  }
};
thread_local TlsMutators tls_mutators;

CollectorConfig ToCollectorConfig(const gc_config& c) {
  CollectorConfig cc;
  cc.gc_percent = c.gc_percent;
  cc.memory_limit = c.memory_limit_bytes;
  cc.workers = c.gc_workers;
  cc.verify = c.verify != 0;
  cc.stop_the_world = c.stop_the_world != 0;
  cc.trace = c.trace != 0;
  cc.tag_mask = c.tag_mask;
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
    if (tls_mutators.size() < 2) return;
    for (const TlsEntry& e : tls_mutators) {
      if (e.heap_id == self->id) continue;
      if (e.m->state.load(std::memory_order_relaxed) != kRunning) continue;
      e.m->heap->EnterBlocking(e.m);
      changed_.push_back(e.m);
    }
  }
  ~OtherHeapsBlocked() {
    for (gc_mutator* m : changed_) m->heap->LeaveBlocking(m);
  }

 private:
  std::vector<gc_mutator*> changed_;
};

gc_mutator* CurrentMutator(const gc_heap* h) {
  for (const TlsEntry& e : tls_mutators) {
    if (e.heap_id == h->id) return e.m;
  }
  return nullptr;
}

}  // namespace gcheap

using gcheap::CurrentMutator;
using gcheap::kBlocked;
using gcheap::kParked;
using gcheap::kPollFlush;
using gcheap::kPollStop;
using gcheap::kRunning;
using gcheap::OtherHeapsBlocked;

gc_heap::gc_heap(const gc_config& cfg)
    : id(gcheap::next_heap_id.fetch_add(1)),
      config(cfg),
      heap(gcheap::ToHeapOptions(cfg)) {
  collector = std::make_unique<gcheap::Collector>(
      &heap, &types, &roots, this, gcheap::ToCollectorConfig(cfg));
}

gc_heap::~gc_heap() {
  collector.reset();  // stops the sweeper and mark workers
  for (gc_mutator* m : free_mutators_) delete m;
  magic = 0;
}

gc_mutator* gc_heap::Attach() {
  if (gc_mutator* m = CurrentMutator(this)) {
    m->attach_count++;
    return m;
  }
  gc_mutator* m;
  {
    std::lock_guard<std::mutex> g(mutators_mu_);  // waits out a stopped world
    if (!free_mutators_.empty()) {
      m = free_mutators_.back();
      free_mutators_.pop_back();
    } else {
      m = new gc_mutator;
    }
    m->magic = gcheap::kMutatorMagic;
    m->heap = this;
    m->poll.store(0, std::memory_order_relaxed);
    m->wb_enabled.store(barrier_on_ ? 1 : 0, std::memory_order_relaxed);
    m->wbbuf_next = m->wbbuf;
    m->wbbuf_end = m->wbbuf + gc_mutator::kWbBufEntries;
    m->gcstate = {};
    m->state.store(kRunning, std::memory_order_relaxed);
    m->owner = pthread_self();
    m->attach_count = 1;
    m->mcache = heap.NewMCache();
    m->mcache->set_refill_notify(&m->poll, gcheap::kPollRefill);
    mutators_.push_back(m);
  }
  gcheap::tls_mutators.push_back({id, m});
  return m;
}

void gc_heap::Detach(gc_mutator* m) {
  if (--m->attach_count > 0) return;  // a nested attach
  // While we wait for the list lock (a collection may hold it), count as
  // stopped.
  EnterBlocking(m);
  {
    std::lock_guard<std::mutex> g(mutators_mu_);
    FlushWriteBarrierBuffer(m);
    collector->AddBlack(m->gcstate);
    m->gcstate = {};
    heap.FreeMCache(m->mcache);  // flushes cached spans and the tiny block
    m->mcache = nullptr;
    mutators_.erase(std::find(mutators_.begin(), mutators_.end(), m));
    m->magic = gcheap::kMutatorDead;
    free_mutators_.push_back(m);
  }
  auto& v = gcheap::tls_mutators;
  v.erase(std::remove_if(v.begin(), v.end(),
                         [&](const gcheap::TlsEntry& e) { return e.m == m; }),
          v.end());
}

void gc_heap::StopTheWorld() {
  mutators_mu_.lock();  // released by StartTheWorld
  gc_mutator* self = CurrentMutator(this);
  stopper_ = self;
  stw_requested_.store(true, std::memory_order_seq_cst);
  for (gc_mutator* m : mutators_) {
    if (m != self) m->poll.fetch_or(kPollStop, std::memory_order_seq_cst);
  }
  auto all_stopped = [&] {
    for (gc_mutator* m : mutators_) {
      if (m != self && m->state.load(std::memory_order_seq_cst) == kRunning) {
        return false;
      }
    }
    return true;
  };
  // Running mutators reach a safepoint within microseconds: spin briefly
  // (yielding, so a mutator waiting for this processor gets it) before
  // sleeping on the condition variable, whose wake-ups cost more.
  for (int i = 0; i < 64; i++) {
    if (all_stopped()) return;
    std::this_thread::yield();
  }
  std::unique_lock<std::mutex> g(world_mu_);
  stopped_cv_.wait(g, all_stopped);
}

int64_t gc_heap::StartTheWorld() {
  {
    std::lock_guard<std::mutex> g(world_mu_);
    for (gc_mutator* m : mutators_) {
      m->poll.fetch_and(~kPollStop, std::memory_order_relaxed);
    }
    stw_requested_.store(false, std::memory_order_seq_cst);
  }
  stopper_ = nullptr;
  mutators_mu_.unlock();
  const int64_t released =
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count();
  world_cv_.notify_all();
  return released;
}

void gc_heap::ForEachMCache(absl::FunctionRef<void(gcheap::MCache*)> f) {
  for (gc_mutator* m : mutators_) f(m->mcache);
}

void gc_heap::SetWriteBarrier(bool on) {
  barrier_on_ = on;
  for (gc_mutator* m : mutators_) {
    m->wb_enabled.store(on ? 1 : 0, std::memory_order_relaxed);
  }
}

void gc_heap::ForEachMutatorGcState(
    absl::FunctionRef<void(gcheap::MutatorGcState*)> f) {
  for (gc_mutator* m : mutators_) f(&m->gcstate);
}

void gc_heap::FlushWriteBarrierBuffers() {
  for (gc_mutator* m : mutators_) FlushWriteBarrierBuffer(m);
}

int gc_heap::RunningMutators() {
  std::lock_guard<std::mutex> g(mutators_mu_);
  int n = 0;
  for (gc_mutator* m : mutators_) {
    // Parked mutators count: they are parked only while the world is
    // stopped, and run again as soon as it restarts.
    n += m->state.load(std::memory_order_relaxed) != kBlocked;
  }
  return n;
}

void gc_heap::RaggedFlushWriteBarrierBuffers() {
  // Mutators are never freed while the heap lives (detached ones are
  // recycled), so reading their poll words after the lock is released is
  // safe; a mutator (re)attached meanwhile starts with an empty buffer.
  std::vector<gc_mutator*> ms;
  {
    std::lock_guard<std::mutex> g(mutators_mu_);
    ms = mutators_;
    for (gc_mutator* m : ms) m->poll.fetch_or(kPollFlush);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
  for (gc_mutator* m : ms) {
    while ((m->poll.load(std::memory_order_acquire) & kPollFlush) != 0 &&
           m->state.load(std::memory_order_acquire) == kRunning &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }
}

void gc_heap::FlushWriteBarrierBuffer(gc_mutator* m) {
  if (m->wbbuf_next == m->wbbuf) return;
  collector->ShadeBuffered(m->wbbuf, m->wbbuf_count());
  m->wbbuf_next = m->wbbuf;
}

void gc_heap::Park(gc_mutator* m) {
  gcheap::OtherHeapsBlocked others(this);
  std::unique_lock<std::mutex> g(world_mu_);
  for (;;) {
    m->state.store(kParked, std::memory_order_seq_cst);
    stopped_cv_.notify_all();
    world_cv_.wait(
        g, [&] { return !stw_requested_.load(std::memory_order_seq_cst); });
    // The next stop may have been requested since the wait returned, and
    // its stopper (which reads states without world_mu_ while it spins)
    // may already have counted us as parked. Store kRunning, then re-read
    // the request (both seq_cst, as in LeaveBlocking): either the stopper
    // sees us running and waits, or we see its request and park again
    // before touching the heap.
    m->state.store(kRunning, std::memory_order_seq_cst);
    if (!stw_requested_.load(std::memory_order_seq_cst)) return;
  }
}

void gc_heap::EnterBlocking(gc_mutator* m) {
  // A blocked mutator's buffer would wait for the final pause (the ragged
  // flush skips it): shade it now, while still running.
  if (m->wbbuf_next != m->wbbuf &&
      m->wb_enabled.load(std::memory_order_relaxed)) {
    FlushWriteBarrierBuffer(m);
  }
  m->state.store(kBlocked, std::memory_order_seq_cst);
  if (stw_requested_.load(std::memory_order_seq_cst)) {
    // A collector may be waiting for us: wake it to re-check.
    std::lock_guard<std::mutex> g(world_mu_);
    stopped_cv_.notify_all();
  }
}

void gc_heap::LeaveBlocking(gc_mutator* m) {
  m->state.store(kRunning, std::memory_order_seq_cst);
  if (stw_requested_.load(std::memory_order_seq_cst)) Park(m);
}

void gc_heap::Collect(gc_mutator* m, gcheap::GcReason reason, bool finish_sweep,
                      uint64_t only_if_cycle) {
  EnterBlocking(m);
  {
    gcheap::OtherHeapsBlocked others(this);
    collector->Collect(reason, finish_sweep, only_if_cycle);
  }
  LeaveBlocking(m);
}
