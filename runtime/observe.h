// observe.h: what a heap tells the embedder beyond statistics: event
// listeners (gc_add_event_listener), the trace file (GC_TRACE_FILE), the
// out-of-memory handler and the memory-pressure hook (runtime/gc.h).
//
// One HeapObservers per gc_heap, the heap's last member, so it is
// destroyed first of them (after ~gc_heap has stopped the collector): it
// removes its listeners from the heap's EventBus and finishes the trace
// file. The embedder's C listeners are wrapped in CListener objects that
// it owns; the pressure hook and the trace file are listeners too.
// Everything here is guarded by mu_, except the OOM handler's call, made
// with no lock held (the handler may longjmp).
#ifndef GCHEAP_RUNTIME_OBSERVE_H_
#define GCHEAP_RUNTIME_OBSERVE_H_

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gc/events.h"
#include "gc/stats.h"
#include "gc/trace_file.h"
#include "runtime/gc.h"

namespace gcheap {

// The C API's record of a cycle.
gc_cycle_info ToCycleInfo(const CycleInfo& c);

class HeapObservers {
 public:
  HeapObservers(gc_heap* heap, EventBus* bus);
  ~HeapObservers();
  HeapObservers(const HeapObservers&) = delete;
  HeapObservers& operator=(const HeapObservers&) = delete;

  // Opens the trace file and installs it. False with *error set if the
  // file cannot be written.
  bool StartTrace(const char* path, std::string* error);

  int AddListener(const gc_event_listener* l, void* data);
  int RemoveListener(const gc_event_listener* l, void* data);

  void SetOomHandler(gc_oom_fn fn, void* data);
  // Calls the handler (if any) for a failed allocation of `bytes`; true if
  // it asked for another try. No lock is held during the call.
  bool CallOomHandler(size_t bytes);

  void SetPressureHook(gc_pressure_fn fn, void* data, double fraction);

 private:
  class CListener;
  class PressureListener;

  gc_heap* const heap_;
  EventBus* const bus_;
  std::mutex mu_;
  std::vector<std::unique_ptr<CListener>> listeners_;  // guarded by mu_
  // The installed listener (l, data), or listeners_.end() (mu_ held).
  std::vector<std::unique_ptr<CListener>>::iterator FindListener(
      const gc_event_listener* l, void* data);
  std::unique_ptr<PressureListener> pressure_;  // guarded by mu_
  std::unique_ptr<TraceFile> trace_;
  gc_oom_fn oom_fn_ = nullptr;  // guarded by mu_
  void* oom_data_ = nullptr;
};

// Testing seam: called by gc_get_counters halfway through its reads (a
// test stops the sampling thread there). nullptr removes it.
void SetCountersHookForTesting(void (*hook)(void*), void* data);

}  // namespace gcheap

#endif  // GCHEAP_RUNTIME_OBSERVE_H_
