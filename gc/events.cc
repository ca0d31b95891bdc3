// events.cc: the event bus (design and the read-section argument in
// events.h).
#include "gc/events.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "heap/base.h"

namespace gcheap {

namespace {
// Set while the thread calls listeners: Add and Remove check it.
thread_local int t_in_listener = 0;
}  // namespace

uint64_t CurrentThreadId() {
  static thread_local const uint64_t tid =
      static_cast<uint64_t>(syscall(SYS_gettid));
  return tid;
}

EventBus::EventBus() : origin_ns_(NowNs()) {
  listeners_.store(new Snapshot(), std::memory_order_relaxed);
}

EventBus::~EventBus() { delete listeners_.load(std::memory_order_relaxed); }

void EventBus::Add(EventListener* l) {
  GC_CHECK(t_in_listener == 0, "an event listener added a listener");
  std::lock_guard<std::mutex> g(mu_);
  auto* next = new Snapshot(*listeners_.load(std::memory_order_relaxed));
  next->push_back(l);
  Publish(next);
}

bool EventBus::Remove(EventListener* l) {
  GC_CHECK(t_in_listener == 0, "an event listener removed a listener");
  std::lock_guard<std::mutex> g(mu_);
  const Snapshot* cur = listeners_.load(std::memory_order_relaxed);
  auto it = std::find(cur->begin(), cur->end(), l);
  if (it == cur->end()) return false;
  auto* next = new Snapshot(*cur);
  next->erase(next->begin() + (it - cur->begin()));
  Publish(next);
  return true;
}

void EventBus::Publish(Snapshot* next) {
  Snapshot* old = listeners_.exchange(next, std::memory_order_seq_cst);
  active_.store(!next->empty(), std::memory_order_relaxed);
  activities_active_.store(
      std::any_of(next->begin(), next->end(),
                  [](const EventListener* l) { return l->WantsActivities(); }),
      std::memory_order_relaxed);
  // Two flips: a report that read the epoch before the first flip counts
  // in one of the two counters; each is waited for once it takes no new
  // readers.
  for (int flip = 0; flip < 2; flip++) {
    const uint64_t e = epoch_.fetch_add(1, std::memory_order_seq_cst);
    while (readers_[e & 1].load(std::memory_order_seq_cst) != 0) {
      std::this_thread::yield();
    }
  }
  delete old;
}

void EventBus::Emit(Event e, int64_t at_ns) {
  e.time_ns = (at_ns != 0 ? at_ns : NowNs()) - origin_ns_;
  if (e.thread == 0) e.thread = CurrentThreadId();
  if (e.cycle == 0) e.cycle = cycle();
  const uint64_t epoch = epoch_.load(std::memory_order_seq_cst);
  std::atomic<int64_t>& readers = readers_[epoch & 1];
  readers.fetch_add(1, std::memory_order_seq_cst);
  const Snapshot* s = listeners_.load(std::memory_order_seq_cst);
  const bool activity =
      e.kind == EventKind::kActivityBegin || e.kind == EventKind::kActivityEnd;
  t_in_listener++;
  for (EventListener* l : *s) {
    if (!activity || l->WantsActivities()) l->OnEvent(e);
  }
  t_in_listener--;
  readers.fetch_sub(1, std::memory_order_release);
}

void EventBus::EmitSimple(EventKind kind, int detail, uint64_t count,
                          uint64_t bytes) {
  Event e;
  e.kind = kind;
  e.detail = detail;
  e.count = count;
  e.bytes = bytes;
  Emit(e);
}

void EventBus::ArenaAdded(uintptr_t base, size_t bytes, size_t reserved) {
  Event e;
  e.kind = EventKind::kHeapResized;
  e.detail = static_cast<int>(ResizeKind::kArenaAdded);
  e.bytes = bytes;
  e.address = base;
  e.total_bytes = reserved;
  Emit(e);
}

void EventBus::MemoryReleased(size_t bytes, size_t released) {
  Event e;
  e.kind = EventKind::kHeapResized;
  e.detail = static_cast<int>(ResizeKind::kMemoryReleased);
  e.bytes = bytes;
  e.total_bytes = released;
  Emit(e);
}

}  // namespace gcheap
