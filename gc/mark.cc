#include "gc/mark.h"

#include <algorithm>

namespace gcheap {

void Marker::GreyObject(Worker* w, const ObjectRef& r) {
  MSpan* s = r.span;
  if (!s->IsAllocated(r.index)) return;  // a stale or random word
  if (!s->SetMarked(r.index)) return;    // already grey or black
  w->marked_objects++;
  w->marked_bytes += s->elemsize;  // slot size; whole pages for large
  if (!NoScan(s->spanclass)) {
    // Scanning reads the object's type slot first: start fetching it.
    __builtin_prefetch(&s->obj_types[r.index]);
    w->gcw.Put(r.base);
  }
}

void Marker::ScanItem(Worker* w, uintptr_t item) {
  ObjectRef r;
  bool found = FindObject(w, item, &r);
  GC_CHECK(found, "a queued grey object is not in the heap");
  MSpan* s = r.span;
  const size_t size = ObjectBytes(s);
  size_t lo = item - r.base;
  size_t hi = size;
  const TypeInfo* t = TypeOf(s, r.index);
  GC_CHECK(t != nullptr, "scan object without a registered type");
  if (t->has_trace()) {
    // Callbacks see whole objects; they are never split.
    t->Trace(reinterpret_cast<void*>(r.base), &VisitSlot, w);
    w->scanned_bytes += size;
    return;
  }
  if (s->is_large() && size > kObletBytes) {
    if (lo == 0) {
      // First visit of a large object: queue its other pieces.
      for (size_t off = kObletBytes; off < size; off += kObletBytes) {
        w->gcw.Put(r.base + off);
      }
    }
    hi = std::min(size, lo + kObletBytes);
  }
  if (__builtin_expect(t->special != TypeSpecial::kNone, 0)) {
    ScanSpecial(w, r, t, lo, hi);
    return;
  }
  ForEachPointerSlot(s, r.index, r.base, lo, hi,
                     [&](void** slot) { MarkValue(w, LoadSlot(slot)); });
  w->scanned_bytes += hi - lo;
}

void Marker::RecordWeakSlot(Worker* w, void** slot, uint8_t kind) {
  const uintptr_t raw = LoadSlot(slot);
  const uintptr_t p = raw & tag_mask_;
  if (p < 4096) return;
  ObjectRef r;
  if (!FindObject(w, p, &r) || !r.span->IsAllocated(r.index)) return;
  // A strongly marked target survives this cycle: nothing to record. (If
  // it gets marked after this test, the record is dropped at the sweep.)
  if (WeakProcessor::StronglyMarked(r)) return;
  GC_CHECK(weak_ != nullptr, "a weak slot in a heap without weak records");
  SpanSide* side = weak_->sides().GetOrCreate(r.span);
  GC_CHECK(side != nullptr &&
               weak_->referents().AddSlot(r.span, r.base, slot, raw, kind),
           "out of memory for a weak slot's record");
  SpanSide::Set(side->referents(), r.index);
}

void Marker::ScanSpecial(Worker* w, const ObjectRef& r, const TypeInfo* t,
                         size_t lo, size_t hi) {
  GC_CHECK(t->special == TypeSpecial::kWeakSlots,
           "unknown special type");  // (ephemerons: step 4)
  ForEachPointerSlot(r.span, r.index, r.base, lo, hi,
                     [&](void** slot) { MarkValue(w, LoadSlot(slot)); });
  // Weak slots lie in the fixed part (the first oblet of a large object).
  t->ForEachWeakOffset([&](size_t off) {
    if (off >= lo && off < hi) {
      RecordWeakSlot(w, reinterpret_cast<void**>(r.base + off), t->weak_kind);
    }
  });
  w->scanned_bytes += hi - lo;
}

bool Marker::DrainSome(Worker* w, size_t budget) {
  // Objects are scanned a few items after they are taken from the work
  // buffer, with a prefetch issued when taken: scanning is bound by cache
  // misses on the objects themselves, and this hides most of them.
  uintptr_t ring[kPrefetchDepth];
  size_t head = 0, count = 0;
  uintptr_t item;
  for (size_t done = 0; done < budget; done++) {
    while (count < kPrefetchDepth && w->gcw.TryGet(&item)) {
      __builtin_prefetch(reinterpret_cast<const void*>(item));
      ring[(head + count) % kPrefetchDepth] = item;
      count++;
    }
    if (count == 0) return false;
    item = ring[head];
    head = (head + 1) % kPrefetchDepth;
    count--;
    ScanItem(w, item);
  }
  // Out of budget: put the prefetched items back.
  for (; count > 0; count--, head = (head + 1) % kPrefetchDepth) {
    w->gcw.Put(ring[head]);
  }
  return true;
}

void Marker::Drain(Worker* w) {
  while (DrainSome(w, ~size_t{0})) {
  }
}

}  // namespace gcheap
