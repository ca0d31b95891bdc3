// roots.h: the root set: registered slots, slot ranges, root scanners and
// conservative ranges; and RootVisitor, what every root is reported to.
//
// Roots are where marking starts. An embedder registers
//   - single slots (a global, a field of a C++ object, an RAII handle),
//   - ranges of slots (a VM's global table, a register file),
//   - scanners: callbacks that report the slots of VM structures (an
//     interpreter stack, a handle table) through a visitor when asked,
//   - conservative ranges: bytes of any alignment (a data segment, a
//     foreign library's buffer) whose every aligned word is ambiguous
//     (gc/conservative.h).
// A slot may hold NULL, a tagged immediate or an interior pointer; the
// marker resolves whatever it finds. A slot or range registered twice must
// be removed twice (registrations are counted).
//
// These are the heap's roots. Each mutator also has roots of its own (its
// stack when conservative stack scanning is on, its handles, its mutator
// root scanners), which the runtime reports through the World
// (gc/world.h) to the same RootVisitor.
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
#include "absl/functional/function_ref.h"
#include "gc/status.h"
#include "gc/typeinfo.h"

namespace gcheap {

// A root scanner reports slots through visit(slot, visit_ctx).
using RootScannerFn = void (*)(VisitFn visit, void* visit_ctx, void* data);

// What roots are reported to: the marker, the verifier, the root snapshot.
class RootVisitor {
 public:
  // A precise root slot: it holds a pointer, NULL or an immediate.
  virtual void Slot(void** slot) = 0;
  // Ambiguous words: every 8-byte-aligned word wholly inside [lo, hi)
  // (read with gcheap::ForEachAmbiguousWord, resolved with
  // FindAmbiguousObject, gc/conservative.h), from data: a conservative
  // range, a data segment, an object's words.
  virtual void Ambiguous(const void* lo, const void* hi) = 0;
  // The same for words of a thread's stack or registers: they retain an
  // object through any interior pointer also where data words need a
  // registered displacement (gc_config.ambiguous_displacements).
  virtual void AmbiguousStack(const void* lo, const void* hi) = 0;

 protected:
  ~RootVisitor() = default;
};

// A VisitFn (and gc_visit_fn) whose ctx is a RootVisitor: reports the slot
// as a precise root. Root scanners, the heap's and the mutators', are called
// with it. Their visit context is therefore not a TraceVisitor (weak slots
// exist only in objects): gc_trace_weak from a root scanner is refused in
// both modes (gc/typeinfo.h says why the check cannot be fooled).
void VisitRootSlot(void** slot, void* visitor);

class RootSet {
 public:
  // The longest range AddRange accepts (2^40 slots: 8 TiB of them, far past
  // any real table; a longer one is a corrupted count).
  static constexpr size_t kMaxRangeSlots = size_t{1} << 40;

  Status AddSlot(void** slot);
  Status RemoveSlot(void** slot);
  Status AddRange(void** start, size_t count);
  Status RemoveRange(void** start, size_t count);
  Status AddScanner(RootScannerFn fn, void* data);
  Status RemoveScanner(RootScannerFn fn, void* data);
  // `bytes` bytes from start, any alignment; the words wholly inside are
  // ambiguous roots. Counted per (start, bytes), like ranges.
  Status AddConservativeRange(const void* start, size_t bytes);
  Status RemoveConservativeRange(const void* start, size_t bytes);

  // Reports every precise root slot to visit. Holds the lock throughout.
  void ForEachRoot(VisitFn visit, void* ctx) const;
  // Calls f(lo, hi) for every conservative range (the longest registered
  // at each start). Holds the lock throughout.
  void ForEachConservativeRange(
      absl::FunctionRef<void(const void* lo, const void* hi)> f) const;
  // Every root: the precise ones to v.Slot, the conservative ranges to
  // v.Ambiguous.
  void VisitAll(RootVisitor& v) const;
  // The bytes ForEachConservativeRange covers (a snapshot's reservation).
  size_t conservative_bytes() const;

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
  // start -> the byte counts registered there
  absl::flat_hash_map<const void*, std::vector<size_t>> conservative_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_ROOTS_H_
