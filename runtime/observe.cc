// observe.cc: event listeners, the trace file, counters, the
// out-of-memory handler and the memory-pressure hook (runtime/observe.h;
// the C API in runtime/gc.h).
#include "runtime/observe.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "heap/error.h"
#include "runtime/api_internal.h"
#include "runtime/process.h"
#include "runtime/runtime.h"

namespace gcheap {

static_assert(GC_EVENT_ACTIVITY_END ==
              static_cast<int>(EventKind::kActivityEnd));
static_assert(GC_EVENT_CYCLE_END == static_cast<int>(EventKind::kCycleEnd));
static_assert(GC_PHASE_OFF == static_cast<int>(GcPhase::kOff));
static_assert(GC_PHASE_SWEEP_TERMINATION ==
              static_cast<int>(GcPhase::kSweepTermination));
static_assert(GC_PHASE_MARK == static_cast<int>(GcPhase::kMark));
static_assert(GC_PHASE_MARK_FINALIZERS ==
              static_cast<int>(GcPhase::kMarkFinalizers));
static_assert(GC_PHASE_MARK_TERMINATION ==
              static_cast<int>(GcPhase::kMarkTermination));
static_assert(GC_PHASE_SWEEP == static_cast<int>(GcPhase::kSweep));
static_assert(GC_RESIZE_MEMORY_RELEASED ==
              static_cast<int>(ResizeKind::kMemoryReleased));
static_assert(GC_ACTIVITY_SWEEP == static_cast<int>(Activity::kSweep));
static_assert(GC_ACTIVITY_BLOCKED == static_cast<int>(Activity::kBlocked));

namespace {
std::atomic<void (*)(void*)> counters_hook{nullptr};
std::atomic<void*> counters_hook_data{nullptr};
}  // namespace

gc_cycle_info ToCycleInfo(const CycleInfo& c) {
  gc_cycle_info i{};
  i.struct_size = sizeof(gc_cycle_info);
  i.cycle = c.cycle;
  i.concurrent = c.concurrent;
  i.reason = static_cast<int>(c.reason);
  i.cpu_limited = c.limited;
  i.pauses = c.pauses;
  i.start_ns = static_cast<uint64_t>(c.start_ns);
  i.pause_ns = c.pause_ns;
  i.pause1_ns = c.pause1_ns;
  i.pause2_ns = c.pause2_ns;
  i.mark_ns = c.mark_ns;
  i.assist_ns = c.assist_ns;
  i.bg_mark_cpu_ns = c.bg_mark_cpu_ns;
  i.idle_worker = c.idle_worker ? 1 : 0;
  i.scan_bytes = c.scan_work;
  i.heap_before = c.heap_before;
  i.heap_end = c.heap_end;
  i.live_bytes = c.live_bytes;
  i.live_objects = c.live_objects;
  i.heap_goal = c.heap_goal >= (~size_t{0} >> 1) ? 0 : c.heap_goal;
  i.trigger = c.trigger >= (~size_t{0} >> 1) ? 0 : c.trigger;
  return i;
}

// An embedder's gc_event_listener: calls the function pointer of each
// event's kind.
class HeapObservers::CListener final : public EventListener {
 public:
  CListener(const gc_event_listener* key, const gc_event_listener& fns,
            void* data)
      : key_(key), fns_(fns), data_(data) {}
  bool Is(const gc_event_listener* key, void* data) const {
    return key == key_ && data == data_;
  }
  bool WantsActivities() const override {
    return fns_.activity_begin != nullptr || fns_.activity_end != nullptr;
  }
  void OnEvent(const Event& e) override {
    if (ExitBegun()) return;  // no embedder callback during exit
    gc_event c{};
    c.struct_size = sizeof(c);
    c.kind = static_cast<int>(e.kind);
    c.detail = e.detail;
    c.time_ns = static_cast<uint64_t>(e.time_ns);
    c.thread = e.thread;
    c.cycle = e.cycle;
    c.ns = e.ns;
    c.bytes = e.bytes;
    c.count = e.count;
    c.total_bytes = e.total_bytes;
    c.address = e.address;
    if (e.kind == EventKind::kCycleEnd) {
      if (fns_.cycle_end != nullptr) {
        const gc_cycle_info info = ToCycleInfo(*e.info);
        fns_.cycle_end(&c, &info, data_);
      }
      return;
    }
    gc_event_fn fn = nullptr;
    switch (e.kind) {
      case EventKind::kCycleStart:
        fn = fns_.cycle_start;
        break;
      case EventKind::kPhase:
        fn = fns_.phase;
        break;
      case EventKind::kStopRequested:
        fn = fns_.stop_requested;
        break;
      case EventKind::kMutatorsStopped:
        fn = fns_.mutators_stopped;
        break;
      case EventKind::kRootsScanned:
        fn = fns_.roots_scanned;
        break;
      case EventKind::kHeapMarked:
        fn = fns_.heap_marked;
        break;
      case EventKind::kMutatorsRestarted:
        fn = fns_.mutators_restarted;
        break;
      case EventKind::kMutatorAttached:
        fn = fns_.mutator_attached;
        break;
      case EventKind::kMutatorDetached:
        fn = fns_.mutator_detached;
        break;
      case EventKind::kHeapResized:
        fn = fns_.heap_resized;
        break;
      case EventKind::kActivityBegin:
        fn = fns_.activity_begin;
        break;
      case EventKind::kActivityEnd:
        fn = fns_.activity_end;
        break;
      case EventKind::kCycleEnd:
        break;
    }
    if (fn != nullptr) fn(&c, data_);
  }

 private:
  const gc_event_listener* const key_;
  const gc_event_listener fns_;
  void* const data_;
};

// gc_set_memory_pressure_hook: a cycle-end listener.
class HeapObservers::PressureListener final : public EventListener {
 public:
  PressureListener(gc_heap* heap, gc_pressure_fn fn, void* data,
                   double fraction)
      : heap_(heap), fn_(fn), data_(data), fraction_(fraction) {}
  bool WantsActivities() const override { return false; }
  void OnEvent(const Event& e) override {
    if (e.kind != EventKind::kCycleEnd || ExitBegun()) return;
    const uint64_t limit = heap_->config.max_heap_bytes != 0
                               ? heap_->config.max_heap_bytes
                               : heap_->config.memory_limit_bytes;
    if (limit == 0) return;
    const uint64_t live = e.info->live_bytes;
    if (static_cast<double>(live) >= fraction_ * static_cast<double>(limit)) {
      fn_(heap_, live, limit, data_);
    }
  }

 private:
  gc_heap* const heap_;
  const gc_pressure_fn fn_;
  void* const data_;
  const double fraction_;
};

HeapObservers::HeapObservers(gc_heap* heap, EventBus* bus)
    : heap_(heap), bus_(bus) {}

HeapObservers::~HeapObservers() {
  std::lock_guard<std::mutex> g(mu_);
  for (auto& l : listeners_) bus_->Remove(l.get());
  if (pressure_ != nullptr) bus_->Remove(pressure_.get());
  if (trace_ != nullptr) {
    bus_->Remove(trace_.get());
    trace_->Close();
  }
}

bool HeapObservers::StartTrace(const char* path, std::string* error) {
  std::lock_guard<std::mutex> g(mu_);
  trace_ = TraceFile::Open(path, error);
  if (trace_ == nullptr) return false;
  bus_->Add(trace_.get());
  return true;
}

int HeapObservers::AddListener(const gc_event_listener* l, void* data) {
  if (l == nullptr) {
    SetLastError("gc_add_event_listener: listener is NULL");
    return -1;
  }
  const size_t n = l->struct_size;
  if (!IsLayoutSize(n) || n > sizeof(gc_event_listener)) {
    SetLastError(
        "gc_add_event_listener: listener->struct_size is %zu, which is no "
        "gc_event_listener layout's (this library's is %zu): set it to "
        "sizeof(gc_event_listener)",
        n, sizeof(gc_event_listener));
    return -1;
  }
  gc_event_listener fns{};  // fields the caller's layout lacks stay NULL
  memcpy(&fns, l, n);
  std::lock_guard<std::mutex> g(mu_);
  if (FindListener(l, data) != listeners_.end()) {
    SetLastError("gc_add_event_listener: this listener is installed");
    return -1;
  }
  listeners_.push_back(std::make_unique<CListener>(l, fns, data));
  bus_->Add(listeners_.back().get());
  return 0;
}

std::vector<std::unique_ptr<HeapObservers::CListener>>::iterator
HeapObservers::FindListener(const gc_event_listener* l, void* data) {
  return std::find_if(listeners_.begin(), listeners_.end(),
                      [&](const auto& c) { return c->Is(l, data); });
}

int HeapObservers::RemoveListener(const gc_event_listener* l, void* data) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = FindListener(l, data);
  if (it == listeners_.end()) {
    SetLastError("gc_remove_event_listener: no such listener is installed");
    return -1;
  }
  bus_->Remove(it->get());  // returns once no call to it is in progress
  listeners_.erase(it);
  return 0;
}

void HeapObservers::SetOomHandler(gc_oom_fn fn, void* data) {
  std::lock_guard<std::mutex> g(mu_);
  oom_fn_ = fn;
  oom_data_ = data;
}

bool HeapObservers::CallOomHandler(size_t bytes) {
  gc_oom_fn fn;
  void* data;
  {
    std::lock_guard<std::mutex> g(mu_);
    fn = oom_fn_;
    data = oom_data_;
  }
  // No lock held and nothing to clean up: the handler may longjmp.
  return fn != nullptr && fn(heap_, bytes, data) != 0;
}

void HeapObservers::SetPressureHook(gc_pressure_fn fn, void* data,
                                    double fraction) {
  std::lock_guard<std::mutex> g(mu_);
  if (pressure_ != nullptr) {
    bus_->Remove(pressure_.get());
    pressure_.reset();
  }
  if (fn == nullptr) return;
  pressure_ = std::make_unique<PressureListener>(heap_, fn, data, fraction);
  bus_->Add(pressure_.get());
}

void SetCountersHookForTesting(void (*hook)(void*), void* data) {
  counters_hook_data.store(data);
  counters_hook.store(hook);
}

}  // namespace gcheap

using gcheap::CheckHeap;
using gcheap::Misuse;

extern "C" {

void gc_get_counters(gc_heap* heap, gc_counters* caller) {
  CheckHeap(heap, "gc_get_counters");
  if (caller == nullptr) Misuse("gc_get_counters", "out is NULL");
  const size_t n = caller->struct_size;
  if (!gcheap::IsLayoutSize(n)) {
    Misuse("gc_get_counters",
           "out->struct_size is not a gc_counters layout's: set it to "
           "sizeof(gc_counters) before the call");
  }
  // Only atomics: nothing here waits for the heap, and nothing waits for
  // a thread stopped anywhere in here.
  gc_counters c{};
  const gcheap::Collector& col = *heap->collector;
  c.bytes_allocated = heap->heap.AllocatedBytes();
  c.objects_allocated = heap->heap.AllocatedObjects();
  c.cycles = col.cycles();
  if (auto hook = gcheap::counters_hook.load()) {
    hook(gcheap::counters_hook_data.load());
  }
  c.heap_in_use = static_cast<uint64_t>(std::max<int64_t>(
      0, heap->heap.heap_live().load(std::memory_order_relaxed)));
  const uint64_t goal = col.heap_goal();
  c.heap_goal = goal >= (~uint64_t{0} >> 1) ? 0 : goal;
  c.live_bytes = col.last_live_bytes();
  c.heap_bytes = heap->heap.in_use_bytes();
  const size_t filled = std::min(n, sizeof(gc_counters));
  c.struct_size = filled;
  memcpy(caller, &c, filled);
}

int gc_add_event_listener(gc_heap* heap, const gc_event_listener* listener,
                          void* data) {
  CheckHeap(heap, "gc_add_event_listener");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  return heap->observers.AddListener(listener, data);
}

int gc_remove_event_listener(gc_heap* heap, const gc_event_listener* listener,
                             void* data) {
  CheckHeap(heap, "gc_remove_event_listener");
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  return heap->observers.RemoveListener(listener, data);
}

void gc_set_oom_handler(gc_heap* heap, gc_oom_fn fn, void* data) {
  CheckHeap(heap, "gc_set_oom_handler");
  heap->observers.SetOomHandler(fn, data);
}

void gc_set_memory_pressure_hook(gc_heap* heap, gc_pressure_fn fn, void* data,
                                 double fraction) {
  CheckHeap(heap, "gc_set_memory_pressure_hook");
  if (fn != nullptr && !(fraction > 0.0 && fraction <= 1.0)) {
    Misuse("gc_set_memory_pressure_hook", "fraction must be in (0, 1]");
  }
  gcheap::ForkGate::Pass pass(&heap->api_gate);
  heap->observers.SetPressureHook(fn, data, fraction);
}

}  // extern "C"
