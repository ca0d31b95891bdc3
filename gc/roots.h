// roots.h: the root set: registered slots, slot ranges and root scanners.
//
// Roots are where marking starts. An embedder registers
//   - single slots (a global, a field of a C++ object, an RAII handle),
//   - ranges of slots (a VM's global table, a register file),
//   - scanners: callbacks that report the slots of VM structures (an
//     interpreter stack, a handle table) through a visitor when asked.
// A slot may hold NULL, a tagged immediate or an interior pointer; the
// marker resolves whatever it finds. A slot registered twice must be removed
// twice (registrations are counted).
//
// Thread safety: a mutex guards the set. The collector holds it while it
// scans roots (the world is stopped then), so a thread that adds or removes
// a root during a collection waits for the scan to finish.
#ifndef GCHEAP_GC_ROOTS_H_
#define GCHEAP_GC_ROOTS_H_

#include <cstddef>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "gc/typeinfo.h"

namespace gcheap {

// A root scanner reports slots through visit(slot, visit_ctx).
using RootScannerFn = void (*)(VisitFn visit, void* visit_ctx, void* data);

class RootSet {
 public:
  // The longest range AddRange accepts (2^40 slots: 8 TiB of them, far past
  // any real table; a longer one is a corrupted count).
  static constexpr size_t kMaxRangeSlots = size_t{1} << 40;

  absl::Status AddSlot(void** slot);
  absl::Status RemoveSlot(void** slot);
  absl::Status AddRange(void** start, size_t count);
  absl::Status RemoveRange(void** start, size_t count);
  absl::Status AddScanner(RootScannerFn fn, void* data);
  absl::Status RemoveScanner(RootScannerFn fn, void* data);

  // Reports every root slot to visit. Holds the lock throughout.
  void ForEachRoot(VisitFn visit, void* ctx) const;

  size_t slot_count() const;

 private:
  struct Scanner {
    RootScannerFn fn;
    void* data;
  };
  mutable std::mutex mu_;
  absl::flat_hash_map<void**, int> slots_;  // slot -> registration count
  absl::flat_hash_map<void**, std::vector<size_t>> ranges_;  // start -> counts
  std::vector<Scanner> scanners_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_ROOTS_H_
