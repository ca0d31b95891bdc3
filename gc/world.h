// world.h: what the collector needs from the embedding layer.
//
// The collector (gc/) knows nothing of the C API, threads or safepoints.
// runtime/ implements this interface over its attached mutators.
#ifndef GCHEAP_GC_WORLD_H_
#define GCHEAP_GC_WORLD_H_

#include "absl/functional/function_ref.h"
#include "heap/mcache.h"

namespace gcheap {

class World {
 public:
  virtual ~World() = default;
  // Returns when every attached mutator other than the calling thread is
  // stopped: parked at a safepoint or inside a blocking region.
  virtual void StopTheWorld() = 0;
  // Lets the stopped mutators run again.
  virtual void StartTheWorld() = 0;
  // Calls f for the mcache of every attached mutator. World stopped.
  virtual void ForEachMCache(absl::FunctionRef<void(MCache*)> f) = 0;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_WORLD_H_
