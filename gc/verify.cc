// verify.cc: the checkmark verifier (design in verify.h).
#include "gc/verify.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gc/conservative.h"

namespace gcheap {

namespace {

struct VerifyState : TraceVisitor {
  VerifyState() { weak = &CheckWeakSlot; }
  // A weak slot is not traced; if it names an object the cycle frees, the
  // sweep must be able to clear it: the object must have a referent record.
  static void CheckWeakSlot(TraceVisitor* v, void** slot, uint8_t kind);
  Marker* marker;
  absl::flat_hash_map<uintptr_t, uintptr_t> parent;  // object -> referrer
  // The ephemeron rule: ephemerons whose key is not reached yet, by key.
  absl::flat_hash_map<uintptr_t, std::vector<uintptr_t>> waiting;
  std::vector<uintptr_t> woken;  // ephemerons whose key was reached
  std::vector<uintptr_t> queue;
  uintptr_t current = 0;  // the object being scanned (0: a root)
  void** current_root = nullptr;
};

[[noreturn]] void ReportForeign(VerifyState* st, void** slot, uintptr_t value,
                                const void* other);

void Reach(VerifyState* st, uintptr_t value, void** slot, void** root_slot) {
  ObjectRef r;
  uintptr_t p = st->marker->StripTag(value);
  if (p < 4096) return;
  if (!st->marker->heap()->FindObject(p, &r)) {
    // Not this heap's. An object slot that points into another heap is a
    // reference neither heap traces. (A root may legitimately hold another
    // heap's pointer: one table of globals can be registered with several
    // heaps.)
    const void* other;
    if (root_slot == nullptr && st->marker->heap()->InOtherHeap(p, &other)) {
      ReportForeign(st, slot, value, other);
    }
    return;
  }
  if (!r.span->IsAllocated(r.index)) return;
  // Roots are recorded with a tagged parent: the slot address | 1.
  uintptr_t from = st->current != 0
                       ? st->current
                       : (reinterpret_cast<uintptr_t>(root_slot) | 1);
  if (!st->parent.emplace(r.base, from).second) return;
  st->queue.push_back(r.base);
  if (auto it = st->waiting.find(r.base); it != st->waiting.end()) {
    // Its ephemerons' values are reachable now (the walk's loop reaches
    // them: no recursion along chains of ephemerons).
    for (uintptr_t e : it->second) st->woken.push_back(e);
    st->waiting.erase(it);
  }
}

// The ephemeron rule: next is reached; value only once key is.
void ReachEphemeron(VerifyState* st, uintptr_t eph) {
  auto* e = reinterpret_cast<EphemeronObject*>(eph);
  auto* key = reinterpret_cast<void**>(&e->key);
  auto* value = reinterpret_cast<void**>(&e->value);
  auto* next = reinterpret_cast<void**>(&e->next);
  Reach(st, Marker::LoadSlot(next), next, nullptr);
  VerifyState::CheckWeakSlot(st, key, kWeakLong);
  ObjectRef k;
  const uintptr_t p = st->marker->StripTag(Marker::LoadSlot(key));
  if (p < 4096 || !st->marker->heap()->FindObject(p, &k) ||
      !k.span->IsAllocated(k.index) || st->parent.contains(k.base)) {
    Reach(st, Marker::LoadSlot(value), value, nullptr);
  } else {
    st->waiting[k.base].push_back(eph);
  }
}

void VisitFromObject(void** slot, void* ctx) {
  auto* st = static_cast<VerifyState*>(ctx);
  Reach(st, Marker::LoadSlot(slot), slot, nullptr);
}

[[noreturn]] void ReportUnrecordedWeak(VerifyState* st, void** slot,
                                       uintptr_t value);

void VerifyState::CheckWeakSlot(TraceVisitor* v, void** slot, uint8_t) {
  auto* st = static_cast<VerifyState*>(v);
  const uintptr_t value = Marker::LoadSlot(slot);
  const uintptr_t p = st->marker->StripTag(value);
  ObjectRef r;
  if (p < 4096 || !st->marker->heap()->FindObject(p, &r) ||
      !r.span->IsAllocated(r.index) || r.span->IsMarked(r.index)) {
    return;
  }
  SpanSide* side = SpanSide::Of(r.span);
  if (side == nullptr || !SpanSide::Test(side->referents(), r.index)) {
    ReportUnrecordedWeak(st, slot, value);
  }
}

// A word of a conservative object: resolved with the ambiguous policy,
// then checked like a slot (a pointer into another heap is not reported:
// the word may be an integer).
void VisitFromConservativeObject(void** slot, VerifyState* st) {
  ObjectRef r;
  if (FindAmbiguousObject(st->marker, nullptr, Marker::LoadSlot(slot), &r)) {
    Reach(st, r.base, slot, nullptr);
  }
}

// The roots (verify.h): precise ones strictly, ambiguous words only when
// they resolve to a marked object.
class VerifyRoots final : public RootVisitor {
 public:
  explicit VerifyRoots(VerifyState* st) : st_(st) {}
  void Slot(void** slot) override {
    Reach(st_, Marker::LoadSlot(slot), slot, slot);
  }
  void Ambiguous(const void* lo, const void* hi) override {
    Words(lo, hi, AmbiguousSource::kData);
  }
  void AmbiguousStack(const void* lo, const void* hi) override {
    Words(lo, hi, AmbiguousSource::kStack);
  }

 private:
  void Words(const void* lo, const void* hi, AmbiguousSource src) {
    // The path report names the start of the ambiguous range.
    void** where = const_cast<void**>(static_cast<void* const*>(lo));
    ForEachAmbiguousWord(lo, hi, [&](uintptr_t word) {
      ObjectRef r;
      if (FindAmbiguousObject(st_->marker, nullptr, word, &r, src) &&
          r.span->IsMarked(r.index)) {
        Reach(st_, r.base, where, where);
      }
    });
  }

  VerifyState* const st_;
};

const char* TypeName(Marker* m, const ObjectRef& r) {
  if (NoScan(r.span->spanclass)) return "(noscan)";
  const TypeInfo* t = m->TypeOf(r.span, r.index);
  return t ? t->name.c_str() : "(no type)";
}

void ReportForeign(VerifyState* st, void** slot, uintptr_t value,
                   const void* other) {
  Marker* m = st->marker;
  ObjectRef r;
  const bool found = m->heap()->FindObject(st->current, &r);
  fprintf(stderr,
          "gcheap: verify: slot %p of object %p (type %s) in heap %p holds "
          "%p, a pointer into another heap, %p: a heap does not trace "
          "pointers into another, so that heap may free the object while "
          "this slot still refers to it\n",
          static_cast<void*>(slot), reinterpret_cast<void*>(st->current),
          found ? TypeName(m, r) : "?", m->heap()->owner(),
          reinterpret_cast<void*>(value), other);
  fflush(stderr);
  abort();
}

void ReportUnrecordedWeak(VerifyState* st, void** slot, uintptr_t value) {
  ObjectRef r;
  const bool found = st->marker->heap()->FindObject(st->current, &r);
  fprintf(stderr,
          "gcheap: verify: weak slot %p of object %p (type %s) holds %p, an "
          "object this cycle frees, with no referent record: the sweep would "
          "leave the slot dangling\n",
          static_cast<void*>(slot), reinterpret_cast<void*>(st->current),
          found ? TypeName(st->marker, r) : "?",
          reinterpret_cast<void*>(value));
  fflush(stderr);
  abort();
}

[[noreturn]] void ReportMiss(VerifyState* st, uintptr_t obj) {
  Marker* m = st->marker;
  fprintf(stderr,
          "gcheap: verify: reachable object %p was not marked: the collector "
          "would have freed a live object\n",
          reinterpret_cast<void*>(obj));
  {
    // The missed object's span: enough to tell a sweep or allocation race
    // from a barrier problem.
    ObjectRef r;
    if (m->heap()->FindObject(obj, &r)) {
      MSpan* s = r.span;
      fprintf(
          stderr,
          "  its span [%p, %p): class %d%s, elemsize %zu, index %zu of "
          "%u, freeindex %u, alloc_count %u, allocated %d, span "
          "sweepgen %u (heap %u)\n",
          reinterpret_cast<void*>(s->start), reinterpret_cast<void*>(s->limit),
          SizeClassOf(s->spanclass), NoScan(s->spanclass) ? " noscan" : "",
          static_cast<size_t>(s->elemsize), r.index,
          static_cast<unsigned>(s->nelems), static_cast<unsigned>(s->freeindex),
          static_cast<unsigned>(s->alloc_count),
          s->IsAllocated(r.index) ? 1 : 0,
          s->sweepgen.load(std::memory_order_relaxed), m->heap()->sweepgen());
    }
  }
  fprintf(stderr, "path from a root (innermost first):\n");
  uintptr_t cur = obj;
  for (int depth = 0; depth < 64; depth++) {
    ObjectRef r;
    m->heap()->FindObject(cur, &r);
    fprintf(stderr, "  %p type %s size %zu marked %d\n",
            reinterpret_cast<void*>(cur), TypeName(m, r),
            m->ObjectBytes(r.span), r.span->IsMarked(r.index) ? 1 : 0);
    uintptr_t from = st->parent[cur];
    if (from & 1) {
      fprintf(stderr, "  <- root slot %p\n",
              reinterpret_cast<void*>(from & ~uintptr_t{1}));
      break;
    }
    cur = from;
  }
  fflush(stderr);
  abort();
}

}  // namespace

uint64_t VerifyMarks(Marker* marker, const RootSet& roots,
                     absl::FunctionRef<void(RootVisitor&)> thread_roots) {
  VerifyState st;
  st.marker = marker;
  VerifyRoots v(&st);
  roots.VisitAll(v);
  thread_roots(v);
  uint64_t checked = 0;
  while (!st.queue.empty() || !st.woken.empty()) {
    if (!st.woken.empty()) {
      const uintptr_t e = st.woken.back();
      st.woken.pop_back();
      st.current = e;
      auto* v = reinterpret_cast<void**>(
          &reinterpret_cast<EphemeronObject*>(e)->value);
      Reach(&st, Marker::LoadSlot(v), v, nullptr);
      st.current = 0;
      continue;
    }
    uintptr_t obj = st.queue.back();
    st.queue.pop_back();
    ObjectRef r;
    marker->heap()->FindObject(obj, &r);
    checked++;
    if (!r.span->IsMarked(r.index)) ReportMiss(&st, obj);
    if (NoScan(r.span->spanclass)) continue;
    st.current = obj;
    const TypeInfo* t = marker->TypeOf(r.span, r.index);
    if (t != nullptr && t->has_trace()) {
      t->Trace(reinterpret_cast<void*>(obj), &VisitFromObject, &st);
    } else if (t != nullptr && t->special == TypeSpecial::kEphemeron) {
      ReachEphemeron(&st, obj);
    } else if (t != nullptr && t->conservative) {
      marker->ForEachPointerSlot(
          r.span, r.index, obj, 0, marker->ObjectBytes(r.span),
          [&](void** slot) { VisitFromConservativeObject(slot, &st); });
    } else {
      marker->ForEachPointerSlot(
          r.span, r.index, obj, 0, marker->ObjectBytes(r.span),
          [&](void** slot) { VisitFromObject(slot, &st); });
      if (t != nullptr && t->special == TypeSpecial::kWeakSlots) {
        t->ForEachWeakOffset([&](size_t off) {
          VerifyState::CheckWeakSlot(&st, reinterpret_cast<void**>(obj + off),
                                     t->weak_kind);
        });
      }
    }
    st.current = 0;
  }
  return checked;
}

}  // namespace gcheap
