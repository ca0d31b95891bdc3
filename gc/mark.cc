// mark.cc: greying and scanning objects (design in mark.h).
#include "gc/mark.h"

#include <algorithm>

#include "gc/conservative.h"

namespace gcheap {

void Marker::ScanItem(Worker* w, uintptr_t item) {
  ObjectRef r;
  bool found = FindObject(w, item, &r);
  GC_CHECK(found, "a queued grey object is not in the heap");
  MSpan* s = r.span;
  const size_t size = ObjectBytes(s);
  const TypeInfo* t = TypeOf(s, r.index);
  GC_CHECK(t != nullptr, "scan object without a registered type");
  if (t->has_trace()) {
    // Callbacks see whole objects; they are never split.
    t->Trace(reinterpret_cast<void*>(r.base), &VisitSlot, w);
    w->scanned_bytes += size;
    return;
  }
  // The common case: a small fixed pointer map is the whole scan (never
  // split into oblets: past the fixed part there is nothing to visit).
  if (uint64_t bits = t->simple_ptrmask; bits != 0) {
    GC_DCHECK(item == r.base, "an oblet of a simple-map object");
    do {
      MarkValue(w, LoadSlot(reinterpret_cast<void**>(
                       r.base + size_t{8} * __builtin_ctzll(bits))));
      bits &= bits - 1;
    } while (bits != 0);
    w->scanned_bytes += size;
    return;
  }
  const size_t lo = item - r.base;
  size_t hi = size;
  if (s->is_large() && size > kObletBytes) {
    if (lo == 0) {
      // First visit of a large object: queue its other pieces.
      for (size_t off = kObletBytes; off < size; off += kObletBytes) {
        w->gcw.Put(r.base + off);
      }
    }
    hi = std::min(size, lo + kObletBytes);
  }
  if (t->conservative) {  // (no trace callback, nothing special)
    ScanAmbiguousWords(w, r.base + lo, r.base + hi);
    w->scanned_bytes += hi - lo;
    return;
  }
  ScanRange(w, r, lo, hi);
}

void Marker::ScanAmbiguousWords(Worker* w, uintptr_t lo, uintptr_t hi) {
  for (uintptr_t a = lo; a < hi; a += sizeof(uintptr_t)) {
    MarkAmbiguous(this, w, LoadSlot(reinterpret_cast<void**>(a)));
  }
}

void Marker::ScanRange(Worker* w, const ObjectRef& r, size_t lo, size_t hi) {
  MSpan* s = r.span;
  const TypeInfo* t = TypeOf(s, r.index);
  GC_CHECK(t != nullptr, "scan object without a registered type");
  if (t->has_trace()) {
    // Callbacks see whole objects; they are never split.
    t->Trace(reinterpret_cast<void*>(r.base), &VisitSlot, w);
    w->scanned_bytes += ObjectBytes(s);
    return;
  }
  if (__builtin_expect(t->special != TypeSpecial::kNone, 0)) {
    ScanSpecial(w, r, t, lo, hi);
    return;
  }
  if (t->conservative) {
    // gc_alloc_conservative: every word is ambiguous. (No weak slots:
    // registration refuses a conservative type with any.)
    ScanAmbiguousWords(w, r.base + lo, r.base + hi);
  } else {
    ForEachPointerSlot(s, r.index, r.base, lo, hi,
                       [&](void** slot) { MarkValue(w, LoadSlot(slot)); });
  }
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
  SpanSide* side = weak_->sides().GetOrCreate(r.span);
  GC_CHECK(side != nullptr &&
               weak_->referents().AddSlot(r.span, r.base, slot, raw, kind),
           "out of memory for a weak slot's record");
  SpanSide::Set(side->referents(), r.index);
}

bool Marker::Revive(const ObjectRef& r) {
  MSpan* s = r.span;
  // An object allocated black during the mark is strongly live, marked or
  // not: its mcache marks it in bulk when the span leaves it (or in the
  // final pause). Until then a window that closed makes its slot read as
  // allocated with the mark bit clear, and taking it for unmarked here
  // would revive a strongly reachable object (its short weak references
  // cleared, gc/weak.h) when a barrier or a weak read shades it during the
  // finalizer phase. Nothing to grey: a black object is never scanned.
  if (s->IsMarkedOrBlack(r.index)) return false;
  SpanSide* side = weak_ != nullptr ? weak_->sides().GetOrCreate(s) : nullptr;
  GC_CHECK(side != nullptr, "out of memory for a span's revive bits");
  SpanSide::Set(side->revived(), r.index);  // before the mark bit
  return s->SetMarked(r.index);
}

namespace {
// The visit context of a candidate's trace callback in pass 1.
struct CandidateVisit : TraceVisitor {
  Marker::Worker* w;
  uintptr_t self;  // skipped if nonzero
  static void Visit(void** slot, void* ctx) {
    auto* v = static_cast<CandidateVisit*>(ctx);
    v->w->marker->VisitCandidateSlot(v->w, slot, v->self,
                                     /*ambiguous=*/false);
  }
  static void Weak(TraceVisitor* tv, void** slot, uint8_t kind) {
    auto* v = static_cast<CandidateVisit*>(tv);
    v->w->marker->RecordWeakSlot(v->w, slot, kind);
  }
};
}  // namespace

void Marker::VisitCandidateSlot(Worker* w, void** slot, uintptr_t self,
                                bool ambiguous) {
  const uintptr_t v = LoadSlot(slot);
  if (self != 0) {
    ObjectRef r;
    const uintptr_t p = v & tag_mask_;
    if (p >= 4096 && FindObject(w, p, &r) && r.base == self) return;
  }
  if (ambiguous) {
    MarkAmbiguous(this, w, v);
  } else {
    MarkValue(w, v);
  }
}

void Marker::ScanCandidate(Worker* w, uintptr_t base, bool skip_self) {
  ObjectRef r;
  if (!heap_->FindObject(base, &r) || NoScan(r.span->spanclass)) return;
  const TypeInfo* t = TypeOf(r.span, r.index);
  GC_CHECK(t != nullptr, "scan object without a registered type");
  const uintptr_t self = skip_self ? r.base : 0;
  if (t->has_trace()) {
    CandidateVisit cv;
    cv.weak = &CandidateVisit::Weak;
    cv.w = w;
    cv.self = self;
    t->Trace(reinterpret_cast<void*>(r.base), &CandidateVisit::Visit, &cv);
  } else if (t->special == TypeSpecial::kEphemeron) {
    ScanEphemeron(w, r);  // (an ephemeron's pointers to itself count)
  } else {
    // A conservative candidate's words are ambiguous, as in ScanItem (it
    // has no weak slots).
    const bool ambiguous = t->conservative;
    ForEachPointerSlot(
        r.span, r.index, r.base, 0, ObjectBytes(r.span),
        [&](void** slot) { VisitCandidateSlot(w, slot, self, ambiguous); });
    t->ForEachWeakOffset([&](size_t off) {
      RecordWeakSlot(w, reinterpret_cast<void**>(r.base + off), t->weak_kind);
    });
  }
  w->scanned_bytes += ObjectBytes(r.span);
}

void Marker::WakeWaiters(Worker* w, const ObjectRef& r) {
  SpanSide* side = SpanSide::Of(r.span);
  if (!SpanSide::Test(side->referents(), r.index)) return;
  // Each waiting ephemeron is queued to be scanned again (its key is
  // marked now, so the scan marks its value): marking its value here would
  // recurse along a chain of ephemerons.
  weak_->referents().TakeWaiters(r.span, r.base,
                                 [&](uintptr_t eph) { w->gcw.Put(eph); });
}

// An ephemeron {key, value, next}: next is traced; value only while key is
// marked. If key is unmarked, the ephemeron waits on key's list and the
// key's referent bit is set, then key's mark bit is read again (the Dekker
// pair with GreyObject: either its marker sees this ephemeron waiting, or
// this scan sees the key marked and takes the list itself). Each ephemeron
// is appended at most once a cycle (it is scanned once), each list node is
// taken once: linear in the number of ephemerons.
void Marker::ScanEphemeron(Worker* w, const ObjectRef& r) {
  auto* e = reinterpret_cast<EphemeronObject*>(r.base);
  MarkValue(w, LoadSlot(reinterpret_cast<void**>(&e->next)));
  const uintptr_t raw = LoadSlot(reinterpret_cast<void**>(&e->key));
  const uintptr_t p = raw & tag_mask_;
  ObjectRef k;
  if (p < 4096 || !FindObject(w, p, &k) || !k.span->IsAllocated(k.index)) {
    // No heap object for a key (NULL, an immediate): a strong pair.
    MarkValue(w, LoadSlot(reinterpret_cast<void**>(&e->value)));
    return;
  }
  // A key allocated black during the mark is live before its mcache marks
  // it in bulk (an OR that wakes no waiter): it must not be waited for.
  if (k.span->IsMarkedOrBlack(k.index)) {
    MarkValue(w, LoadSlot(reinterpret_cast<void**>(&e->value)));
    return;
  }
  SpanSide* side = weak_->sides().GetOrCreate(k.span);
  GC_CHECK(side != nullptr &&
               weak_->referents().AddWaiter(k.span, k.base, r.base, raw),
           "out of memory for an ephemeron's wait-list entry");
  SpanSide::Set(side->referents(), k.index);  // seq_cst
  if ((__atomic_load_n(&k.span->gcmark_bits[k.index / 64], __ATOMIC_SEQ_CST) >>
       (k.index % 64)) &
      1) {
    WakeWaiters(w, k);
  }
}

void Marker::ScanSpecial(Worker* w, const ObjectRef& r, const TypeInfo* t,
                         size_t lo, size_t hi) {
  GC_CHECK(weak_ != nullptr,
           "an ephemeron or weak slot in a heap without "
           "weak records");
  if (t->special == TypeSpecial::kEphemeron) {
    ScanEphemeron(w, r);
    w->scanned_bytes += hi - lo;
    return;
  }
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

bool Marker::DrainSome(Worker* w, size_t budget, uint64_t scan_limit) {
  // Objects are scanned a few items after they are taken from the work
  // buffer, with a prefetch issued when taken: scanning is bound by cache
  // misses on the objects themselves, and this hides most of them. No
  // more is taken than the budget leaves to scan, so a drain that uses up
  // its budget hands nothing back (the callers drain in batches: putting
  // back a full ring after each batch cost more than the prefetch saved).
  uintptr_t ring[kPrefetchDepth];
  size_t head = 0, count = 0;
  uintptr_t item;
  for (size_t done = 0; done < budget && w->scanned_bytes < scan_limit;
       done++) {
    while (count < kPrefetchDepth && done + count < budget &&
           w->gcw.TryGet(&item)) {
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
  // At the scan limit: put the prefetched items back.
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
