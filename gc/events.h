// events.h: the collector's event bus: listeners for the moments a
// profiler, a tracer or a VM's own telemetry needs (as Whippet's
// gc_event_listener and MMTk's hooks), and the heap's event sink.
//
// Moments (EventKind), each an Event with a timestamp (steady clock, ns
// since the heap was created: the clock of CycleInfo::start_ns), the OS
// thread it happened on, and the cycle it belongs to:
//   the cycle (driver thread): cycle start, phase changes, stop requested,
//   all mutators stopped (with the stop latency), roots scanned, heap
//   marked, mutators restarted (with the pause), cycle end (the CycleInfo);
//   mutators: attached, detached;
//   the heap: resized (an arena added, memory released to the OS);
//   activities, begin and end on the thread that does them: allocation
//   slow paths, mark assists, safepoint waits, blocking regions (mutators),
//   mark workers, background sweeps.
//
// Cost. Every report is guarded by active(): one relaxed load and a
// predictable branch while no listener is installed (HeapEventSink in
// heap/heap_events.h). Activities, which come on hot paths (a mutator's
// every blocking bracket, every span refill), are guarded by
// activities_active() instead: true only while some listener wants them
// (EventListener::WantsActivities), so a listener of cycle moments alone
// costs those paths nothing either. With listeners, a report reads the
// listener list without a lock (below) and calls each listener on the
// reporting thread.
//
// Listeners are added and removed at any time, from any thread. The list
// is an immutable snapshot behind an atomic pointer; a report is a read
// section (like Linux SRCU): it counts itself in readers_[epoch & 1] before it
// loads the snapshot and out after its last call. Add and Remove (one at a
// time, under mu_) publish a new snapshot, then flip the epoch twice,
// each time waiting until the counter of the previous epoch drains, and
// only then free the old snapshot. A read section that loaded the old
// snapshot counted itself before Remove's wait on that counter (all
// accesses are sequentially consistent), so when Remove returns no report
// is still calling the removed listener: its owner may free it. A listener
// must not add or remove listeners from inside a call (it would wait for
// itself); that aborts with a message.
//
// Listeners run on the thread of the moment: the driver thread with the
// world stopped (stop requested .. mutators restarted), mutators inside the
// runtime (they count as blocked only inside blocking regions), mark
// workers, the sweeper. So a listener must be quick, must not allocate in
// the heap, and must not take locks a stopped mutator may hold.
#ifndef GCHEAP_GC_EVENTS_H_
#define GCHEAP_GC_EVENTS_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "gc/stats.h"
#include "heap/heap_events.h"

namespace gcheap {

enum class EventKind : int {
  kCycleStart = 1,     // detail: GcReason; bytes: heap_live; count:
                       // concurrent (1) or not (0)
  kPhase,              // detail: the new GcPhase
  kStopRequested,      // time: the stop request; count: pause in the cycle
  kMutatorsStopped,    // ns: stop latency (request to all stopped)
  kRootsScanned,       // count: root values snapshotted (concurrent mode;
                       // 0 in stop-the-world mode, which marks the roots
                       // as it scans them)
  kHeapMarked,         // bytes, count: marked bytes and objects
  kMutatorsRestarted,  // time: the release; ns: the pause
  kCycleEnd,           // info: the cycle's record
  kMutatorAttached,    // count: attached mutators now
  kMutatorDetached,    // count: attached mutators now
  kHeapResized,        // detail: ResizeKind; bytes: the change; address:
                       // the arena; total_bytes: reserved / released now
  kActivityBegin,      // detail: Activity; bytes: allocation request
  kActivityEnd,        // detail: Activity
};
inline constexpr int kNumEventKinds = 13;

enum class ResizeKind : int { kArenaAdded = 1, kMemoryReleased = 2 };

enum class Activity : int {
  kAllocSlowPath = 1,  // a span refill or a large object (mutator)
  kAssist,             // a mark assist (mutator)
  kSafepointWait,      // parked for a stop of the world (mutator)
  kBlocked,            // inside a blocking region (mutator), including
                       // waiting for a collection it asked for
  kMarkWorker,         // a mark worker's share of a mark phase
  kSweep,              // a background sweeper round
};

struct Event {
  EventKind kind = EventKind::kCycleStart;
  int detail = 0;
  int64_t time_ns = 0;  // since the heap was created
  uint64_t thread = 0;  // OS thread id (gettid)
  uint64_t cycle = 0;   // the cycle in progress or just ended (1-based)
  uint64_t ns = 0;
  uint64_t bytes = 0;
  uint64_t count = 0;
  uint64_t total_bytes = 0;
  uint64_t address = 0;
  const CycleInfo* info = nullptr;  // kCycleEnd
};

class EventListener {
 public:
  virtual ~EventListener() = default;
  virtual void OnEvent(const Event& e) = 0;
  // Whether it wants kActivityBegin and kActivityEnd (constant while the
  // listener is installed). One that does not is never called with them.
  virtual bool WantsActivities() const { return true; }
};

// The calling thread's OS thread id.
uint64_t CurrentThreadId();

class EventBus final : public HeapEventSink {
 public:
  EventBus();
  ~EventBus() override;
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // The clock origin (NowNs, gc/stats.h): the collector's too.
  int64_t origin_ns() const { return origin_ns_; }
  // The cycle events are counted against (set by the collector at cycle
  // start; read by any thread).
  void set_cycle(uint64_t c) { cycle_.store(c, std::memory_order_relaxed); }
  uint64_t cycle() const { return cycle_.load(std::memory_order_relaxed); }

  // Adds a listener (the caller keeps ownership). Removing one that is not
  // there returns false. Neither may be called from inside a listener.
  void Add(EventListener* l);
  bool Remove(EventListener* l);

  // Reports e to every listener. Fills thread (if 0) and cycle (if 0);
  // time_ns is taken now unless `at_ns` (steady clock) is given.
  void Emit(Event e, int64_t at_ns = 0);
  // Shorthands; call them only when active() (Activity: only when
  // activities_active()).
  void EmitSimple(EventKind kind, int detail = 0, uint64_t count = 0,
                  uint64_t bytes = 0);
  void Activity(bool begin, gcheap::Activity a, uint64_t bytes = 0) {
    EmitSimple(begin ? EventKind::kActivityBegin : EventKind::kActivityEnd,
               static_cast<int>(a), 0, bytes);
  }

  // HeapEventSink.
  void ArenaAdded(uintptr_t base, size_t bytes, size_t reserved) override;
  void MemoryReleased(size_t bytes, size_t released) override;
  void AllocSlowPath(bool begin, size_t bytes) override {
    Activity(begin, Activity::kAllocSlowPath, bytes);
  }

 private:
  using Snapshot = std::vector<EventListener*>;
  void Publish(Snapshot* next);  // under mu_

  const int64_t origin_ns_;
  std::atomic<uint64_t> cycle_{0};
  std::mutex mu_;  // serializes Add and Remove
  std::atomic<Snapshot*> listeners_{nullptr};
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int64_t> readers_[2] = {};
};

// Reports an activity's begin and end around a scope, when someone
// listens to activities (bus may be null).
class ActivityScope {
 public:
  ActivityScope(EventBus* bus, Activity a, uint64_t bytes = 0)
      : bus_(bus != nullptr && bus->activities_active() ? bus : nullptr),
        a_(a) {
    if (bus_ != nullptr) bus_->Activity(true, a_, bytes);
  }
  ~ActivityScope() {
    if (bus_ != nullptr) bus_->Activity(false, a_);
  }
  ActivityScope(const ActivityScope&) = delete;
  ActivityScope& operator=(const ActivityScope&) = delete;

 private:
  EventBus* const bus_;
  const Activity a_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_EVENTS_H_
