// mark.cc: greying and scanning objects (design in mark.h).
#include "gc/mark.h"

#include "gc/conservative.h"

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
  if (t->conservative) {
    // gc_alloc_conservative: every word is ambiguous.
    ForEachPointerSlot(s, r.index, r.base, lo, hi, [&](void** slot) {
      MarkAmbiguous(this, w, LoadSlot(slot));
    });
  } else {
    ForEachPointerSlot(s, r.index, r.base, lo, hi,
                       [&](void** slot) { MarkValue(w, LoadSlot(slot)); });
  }
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
