// weak_callbacks.h: custom weak processing (runtime/gc.h
// gc_add_weak_callback, gc_trace_weak_callback): embedder callbacks that
// run once per cycle where the cycle's liveness is final, so that weak
// structures the heap does not know (off-heap weak tables, caches keyed by
// objects, cppgc's RegisterWeakCallback / LivenessBroker, V8's embedder
// weak tables) can drop what died.
//
// When: in mark termination's pause (the world stopped, no grey object,
// the write barrier off), after strong marking and after the finalizer
// decision (objects kept only for finalization carry the revive bit), and
// before the sweep cycle starts (StartSweepCycle): this cycle's mark bits
// are still the ones in gcmark_bits, and no object the cycle frees has been
// freed yet. So a liveness query is exact: "strongly reachable" (mark bit
// set, revive bit clear: the short clearing point, where gc_weak_get would
// return NULL) and "survives the cycle" (mark bit set: the long one).
// Objects allocated while the cycle marked are marked (allocate-black), so
// they read live.
//
// Two lists:
//   persistent: (fn, data) pairs added and removed by the embedder at any
//     time (Add, Remove under mu_); Run holds mu_ while they run, so a
//     Remove that returns guarantees its callback is not running and will
//     not run again (the embedder may then free data). Remove from inside
//     a callback would wait for itself: the API layer rejects it.
//   per cycle: (fn, data) pairs a trace callback registers while its
//     object is scanned (AddForCycle, any marking thread, under cycle_mu_);
//     they run after the persistent ones in the same pause and are then
//     forgotten. An object allocated black is never scanned: its callbacks
//     are not registered that cycle.
// Running() tells the API layer whether the calling thread is inside Run,
// and for which heap (a thread_local), so a liveness query outside a
// callback is caught as misuse.
#ifndef GCHEAP_GC_WEAK_CALLBACKS_H_
#define GCHEAP_GC_WEAK_CALLBACKS_H_

#include <cstdint>
#include <mutex>
#include <vector>

// The API's heap handle, opaque here: callbacks are called through their
// own type (gc_weak_callback_fn), never through a cast one.
struct gc_heap;

namespace gcheap {

class WeakCallbacks {
 public:
  // heap: the embedder's handle passed to every callback.
  using Fn = void (*)(gc_heap* heap, void* data);

  // The handle callbacks get (set once, before the first cycle).
  void SetHandle(gc_heap* heap) { handle_ = heap; }

  void Add(Fn fn, void* data);
  // Removes one registration of (fn, data); false if there is none. Waits
  // while the callbacks run.
  bool Remove(Fn fn, void* data);
  // A trace callback's registration for this cycle (any marking thread).
  void AddForCycle(Fn fn, void* data);
  bool empty();

  // Runs the persistent callbacks, then this cycle's, then forgets this
  // cycle's. The world is stopped. Returns how many ran.
  uint64_t Run();

  // The handle of the heap whose callbacks the calling thread runs now;
  // null outside Run.
  static gc_heap* Running() { return running_; }

 private:
  struct Entry {
    Fn fn;
    void* data;
  };
  gc_heap* handle_ = nullptr;
  std::mutex mu_;  // persistent_; held while callbacks run
  std::vector<Entry> persistent_;
  std::mutex cycle_mu_;
  std::vector<Entry> cycle_;
  static thread_local gc_heap* running_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_WEAK_CALLBACKS_H_
