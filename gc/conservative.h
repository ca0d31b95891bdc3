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
//   2. ignore values below 4096;
//   3. resolve through the arena index (MHeap::FindObject): an interior
//      pointer maps to its object; a value outside this heap's in-use spans
//      or in a span's tail is ignored;
//   4. keep only allocated slots: a word that points at a free slot (never
//      allocated, or freed by the last sweep) is ignored, so an ambiguous
//      word can never mark free memory.
// (A one-past-the-end rule, which the Boehm-compatible layer will want,
// belongs here too.)
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

// The policy above: true if `word` designates an allocated object of this
// heap; *r is that object. w is the marking worker whose span cache speeds
// up the lookup, or null (the verifier).
GC_ALWAYS_INLINE bool FindAmbiguousObject(Marker* m, Marker::Worker* w,
                                          uintptr_t word, ObjectRef* r) {
  const uintptr_t p = m->StripTag(word);
  if (p < 4096) return false;
  if (w != nullptr ? !m->FindObject(w, p, r) : !m->heap()->FindObject(p, r)) {
    return false;
  }
  return r->span->IsAllocated(r->index);
}

// Greys the object an ambiguous word designates, if any.
GC_ALWAYS_INLINE void MarkAmbiguous(Marker* m, Marker::Worker* w,
                                    uintptr_t word) {
  ObjectRef r;
  if (FindAmbiguousObject(m, w, word, &r)) m->GreyObject(w, r);
}

// The RootVisitor that marks into a worker: precise slots as MarkValue
// does, ambiguous words with the policy above.
class RootMarker final : public RootVisitor {
 public:
  RootMarker(Marker* m, Marker::Worker* w) : m_(m), w_(w) {}
  void Slot(void** slot) override { m_->MarkValue(w_, Marker::LoadSlot(slot)); }
  void Ambiguous(const void* lo, const void* hi) override {
    ForEachAmbiguousWord(lo, hi,
                         [this](uintptr_t v) { MarkAmbiguous(m_, w_, v); });
  }

 private:
  Marker* const m_;
  Marker::Worker* const w_;
};

}  // namespace gcheap

#endif  // GCHEAP_GC_CONSERVATIVE_H_
