// conservative.h: ambiguous words, i.e. words that may or may not be
// pointers: the one lookup policy for them, and the loop that reads them.
//
// Ambiguous words come from conservative roots (thread stacks and the
// registers spilled onto them, gc/stack_scan.h; conservative root ranges,
// gc/roots.h) and from every word of a conservative object (a type with
// TypeInfo::conservative, gc_alloc_conservative). A precise slot holds a
// pointer or an immediate the embedder put there; an ambiguous word may be
// anything (an integer, a stale copy of a dead pointer, a float's bits), so
// the collector may only ever keep something alive because of one, never
// trust one to be a pointer.
//
// The policy (FindAmbiguousObject), used by every reader of ambiguous words
// (the marker, the stack and range scans, the verifier), so that it changes
// in one place:
//   1. strip the heap's tag bits (gc_config.tag_mask), as for a slot;
//   2. ignore values below 4096, and values outside every arena the heap
//      ever had (MHeap::MayContain: one load, no index walk: most
//      non-pointer words of a data segment or a text buffer end here). The
//      bounds only widen; a marker that read them before an arena was
//      added can miss only objects allocated in it since, and an object
//      allocated during a mark is allocated black (heap/mcache.h), one
//      allocated before it lies in an arena added before it;
//   3. resolve through the arena index (MHeap::FindObject): an interior
//      pointer maps to its object; a value outside this heap's in-use spans
//      or in a span's tail is ignored;
//   4. keep only allocated slots: a word that points at a free slot (never
//      allocated, or freed by the last sweep) is ignored, so an ambiguous
//      word can never mark free memory;
//   5. only with gc_config.ambiguous_displacements (Boehm's
//      GC_all_interior_pointers = 0), and only for words of objects and
//      conservative ranges ("data" words, not those of thread stacks and
//      registers): the word must point at the object's start or at start
//      + a displacement registered with gc_register_displacement
//      (Displacements below); any other interior pointer is ignored. Stack
//      and register words keep the rule of 1-4 (any interior pointer), as
//      Boehm's GC_mark_and_push_stack does: a compiler keeps derived
//      pointers there. The default path pays one predictable branch on a
//      null pointer in the Marker.
// One-past-the-end pointers need no rule here: the Boehm layer pads each
// object by a byte instead (docs/boehm.md).
//
// Reading (ForEachAmbiguousWord): [lo, hi) is read word by word, every
// 8-byte-aligned word that lies wholly inside it, with plain loads that the
// sanitizers do not instrument: the words may be another thread's stack
// (which that thread keeps writing below its frozen frames, and which holds
// ASan's redzones) or a data segment (ASan's redzones between globals).
// Reading them is what a conservative collector does by design; no value
// read there is ever written back or dereferenced without the policy above.
#ifndef GCHEAP_GC_CONSERVATIVE_H_
#define GCHEAP_GC_CONSERVATIVE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "gc/mark.h"
#include "gc/roots.h"
#include "heap/base.h"

// Turns off the sanitizers' instrumentation of a function's own memory
// accesses (ASan, HWASan, TSan, MSan).
#if defined(__clang__)
#define GC_NO_SANITIZE_MEMORY \
  __attribute__((no_sanitize("address", "hwaddress", "thread", "memory")))
#elif defined(__GNUC__)
#define GC_NO_SANITIZE_MEMORY \
  __attribute__((no_sanitize_address, no_sanitize_thread))
#else
#define GC_NO_SANITIZE_MEMORY
#endif

// A lambda's body inlined into its caller (written after the parameter
// list): the per-word calls of a scan loop stay in the loop.
#define GC_ALWAYS_INLINE_LAMBDA __attribute__((always_inline))

namespace gcheap {

// Calls f(word) for every 8-byte-aligned word that lies wholly inside
// [lo, hi). The loads are not instrumented (see above); f is.
template <typename F>
GC_NO_SANITIZE_MEMORY inline void ForEachAmbiguousWord(const void* lo,
                                                       const void* hi, F&& f) {
  uintptr_t a = AlignUp(reinterpret_cast<uintptr_t>(lo), sizeof(uintptr_t));
  const uintptr_t end =
      AlignDown(reinterpret_cast<uintptr_t>(hi), sizeof(uintptr_t));
  for (; a < end; a += sizeof(uintptr_t)) {
    f(*reinterpret_cast<const uintptr_t*>(a));
  }
}

// The valid displacements of a heap with gc_config.ambiguous_displacements
// (rule 5 above): offsets below kLimit from an object's start at which an
// ambiguous data word still designates the object. Offset 0 is always
// valid. Added at any time (gc_register_displacement), never removed; read
// by the markers with relaxed loads: a displacement registered while a
// cycle marks counts from the next cycle at the latest (Boehm asks for
// registration before the pointers exist, preferably before any
// allocation).
class Displacements {
 public:
  // Boehm's VALID_OFFSET_SZ (HBLKSIZE): larger offsets are refused.
  static constexpr size_t kLimit = 4096;
  Displacements() { Add(0); }
  void Add(size_t off) {
    GC_DCHECK(off < kLimit, "a displacement past Displacements::kLimit");
    bits_[off / 64].fetch_or(uint64_t{1} << (off % 64),
                             std::memory_order_relaxed);
  }
  bool Valid(uintptr_t off) const {
    return off < kLimit &&
           ((bits_[off / 64].load(std::memory_order_relaxed) >> (off % 64)) &
            1) != 0;
  }

 private:
  std::atomic<uint64_t> bits_[kLimit / 64] = {};
};

// Where an ambiguous word was read (rule 5 above).
enum class AmbiguousSource : uint8_t {
  kData,   // a word of an object or a conservative range
  kStack,  // a word of a thread's stack or registers
};

// The policy above: true if `word` designates an allocated object of this
// heap; *r is that object. w is the marking worker whose span cache speeds
// up the lookup, or null (the verifier).
GC_ALWAYS_INLINE bool FindAmbiguousObject(
    Marker* m, Marker::Worker* w, uintptr_t word, ObjectRef* r,
    AmbiguousSource src = AmbiguousSource::kData) {
  const uintptr_t p = m->StripTag(word);
  if (p < 4096 || !m->heap()->MayContain(p)) return false;
  if (w != nullptr ? !m->FindObject(w, p, r) : !m->heap()->FindObject(p, r)) {
    return false;
  }
  if (!r->span->IsAllocated(r->index)) return false;
  const Displacements* d = m->displacements();
  return GC_LIKELY(d == nullptr) || src == AmbiguousSource::kStack ||
         d->Valid(p - r->base);
}

// Greys the object an ambiguous word designates, if any.
GC_ALWAYS_INLINE void MarkAmbiguous(
    Marker* m, Marker::Worker* w, uintptr_t word,
    AmbiguousSource src = AmbiguousSource::kData) {
  ObjectRef r;
  if (FindAmbiguousObject(m, w, word, &r, src)) m->GreyAllocated(w, r);
}

// The RootVisitor that marks into a worker: precise slots as MarkValue
// does, ambiguous words with the policy above.
class RootMarker final : public RootVisitor {
 public:
  RootMarker(Marker* m, Marker::Worker* w) : m_(m), w_(w) {}
  void Slot(void** slot) override { m_->MarkValue(w_, Marker::LoadSlot(slot)); }
  void Ambiguous(const void* lo, const void* hi) override {
    ForEachAmbiguousWord(lo, hi, [this](uintptr_t v) GC_ALWAYS_INLINE_LAMBDA {
      MarkAmbiguous(m_, w_, v);
    });
  }
  void AmbiguousStack(const void* lo, const void* hi) override {
    ForEachAmbiguousWord(lo, hi, [this](uintptr_t v) GC_ALWAYS_INLINE_LAMBDA {
      MarkAmbiguous(m_, w_, v, AmbiguousSource::kStack);
    });
  }

 private:
  Marker* const m_;
  Marker::Worker* const w_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_CONSERVATIVE_H_
