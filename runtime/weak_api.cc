// weak_api.cc: the C API of weak references (runtime/gc.h, "weak
// references") over the collector's WeakProcessor (gc/weak.h).
//
// A gc_weak is a WeakCell (its target word, linked in the target's record
// while not NULL) plus the heap it belongs to and a magic number that
// catches use after destroy. A read asks the collector which phase the
// mutator is in (it changes only while the world is stopped) and applies
// that phase's rule; when the rule says shade, the object goes into the
// mutator's write-barrier buffer, which is shaded before marking can end.
#include <new>
#include <string>

#include "gc/weak.h"
#include "heap/error.h"
#include "runtime/api_internal.h"
#include "runtime/gc.h"
#include "runtime/runtime.h"

namespace {

constexpr uint32_t kWeakMagic = 0x7765616b;  // "weak"
constexpr uint32_t kWeakDead = 0xdead0002;

}  // namespace

struct gc_weak {
  gcheap::WeakCell cell;
  gc_heap* heap = nullptr;
  uint32_t magic = kWeakMagic;
};

namespace gcheap::api {

// Checks w (always: a handle is off the fast path of allocation) and that
// it belongs to m's heap.
void CheckWeak(gc_mutator* m, const gc_weak* w, const char* fn) {
  DEBUG_CHECK_MUTATOR(m, fn);
  if (w == nullptr) Misuse(fn, "weak handle is NULL");
  if (w->magic == kWeakDead) Misuse(fn, "use of a destroyed weak handle");
  if (w->magic != kWeakMagic) Misuse(fn, "not a gc_weak");
  if (w->heap != m->heap) {
    Misuse(fn, "the weak handle belongs to another heap than the mutator");
  }
}

// obj must be an object of m's heap of a scanned type, and slot a word
// inside it (and, for a type with a weak bitmap, one of its weak slots).
// Returns obj's type. (Its type's weak_kind is what a load needs, so the
// lookup is paid in every build; the slot checks are cheap.)
const TypeInfo* CheckWeakSlot(gc_mutator* m, const void* obj, void* const* slot,
                              const char* fn) {
  ObjectRef r;
  // (Not IsAllocated: obj's span may be being swept by another thread.)
  if (!m->heap->heap.FindObject(reinterpret_cast<uintptr_t>(obj), &r)) {
    Misuse(fn, "obj is not an object of this heap");
  }
  const TypeInfo* t = NoScan(r.span->spanclass)
                          ? nullptr
                          : m->heap->types.Get(r.span->ObjType(r.index));
  if (t == nullptr || (t->special == TypeSpecial::kNone && !t->has_trace())) {
    Misuse(fn, "obj's type has no weak slots");
  }
  const uintptr_t off = reinterpret_cast<uintptr_t>(slot) - r.base;
  if (reinterpret_cast<uintptr_t>(slot) < r.base || off % 8 != 0 ||
      off + 8 > (r.span->is_large() ? r.span->limit - r.span->start
                                    : r.span->elemsize)) {
    Misuse(fn, "slot is not a word inside obj");
  }
  if (t->special == TypeSpecial::kWeakSlots && !t->FixedWordIsWeak(off / 8)) {
    Misuse(fn, "slot is not one of the weak slots of obj's type");
  }
  return t;
}

// eph must be an ephemeron of m's heap; returns it typed.
EphemeronObject* CheckEphemeron(gc_mutator* m, void* eph, const char* fn) {
  DEBUG_CHECK_MUTATOR(m, fn);
  if (!gc_is_ephemeron(m->heap, eph)) {
    Misuse(fn, "not an ephemeron of this heap");
  }
  return static_cast<EphemeronObject*>(eph);
}

// The result of a weak read: shaded if the phase's rule says so.
void* FinishWeakRead(gc_mutator* m, const WeakRead& r) {
  if (r.shade) RecordStore(m, reinterpret_cast<void*>(r.value), nullptr);
  return reinterpret_cast<void*>(r.value);
}

}  // namespace gcheap::api

using gcheap::Misuse;
using gcheap::SetLastError;
using gcheap::api::CheckWeak;

extern "C" {

gc_weak* gc_weak_create(gc_mutator* m, void* obj, int kind) {
  DEBUG_CHECK_MUTATOR(m, "gc_weak_create");
  if (kind != GC_WEAK_SHORT && kind != GC_WEAK_LONG) {
    SetLastError(
        "gc_weak_create: kind must be GC_WEAK_SHORT or GC_WEAK_LONG "
        "(got %d)",
        kind);
    return nullptr;
  }
  auto* w = new (std::nothrow) gc_weak;
  if (w == nullptr) {
    SetLastError("gc_weak_create: out of memory");
    return nullptr;
  }
  w->heap = m->heap;
  w->cell.kind = static_cast<uint8_t>(kind);
  gcheap::Collector* c = m->heap->collector.get();
  if (!c->weak().Link(&w->cell, reinterpret_cast<uintptr_t>(obj),
                      c->weak_phase())) {
    const std::string why = gcheap::LastError();
    SetLastError("gc_weak_create: %s", why.c_str());
    delete w;
    return nullptr;
  }
  return w;
}

void* gc_weak_get(gc_mutator* m, gc_weak* w) {
  CheckWeak(m, w, "gc_weak_get");
  gcheap::Collector* c = m->heap->collector.get();
  return gcheap::api::FinishWeakRead(
      m, c->weak().Read(&w->cell.target, gcheap::WeakWord::kHandle,
                        w->cell.kind == gcheap::kWeakLong, c->weak_phase()));
}

void gc_weak_set(gc_mutator* m, gc_weak* w, void* obj) {
  CheckWeak(m, w, "gc_weak_set");
  gcheap::Collector* c = m->heap->collector.get();
  gcheap::WeakProcessor& weak = c->weak();
  weak.Unlink(&w->cell);
  if (!weak.Link(&w->cell, reinterpret_cast<uintptr_t>(obj), c->weak_phase())) {
    Misuse("gc_weak_set", gcheap::LastError());
  }
}

void* gc_weak_load(gc_mutator* m, void* obj, void** slot) {
  DEBUG_CHECK_MUTATOR(m, "gc_weak_load");
  const gcheap::TypeInfo* t =
      gcheap::api::CheckWeakSlot(m, obj, slot, "gc_weak_load");
  gcheap::Collector* c = m->heap->collector.get();
  return gcheap::api::FinishWeakRead(
      m, c->weak().Read(reinterpret_cast<uintptr_t*>(slot),
                        gcheap::WeakWord::kSlot,
                        t->weak_kind == gcheap::kWeakLong, c->weak_phase()));
}

void gc_weak_store(gc_mutator* m, void* obj, void** slot, void* value) {
  DEBUG_CHECK_MUTATOR(m, "gc_weak_store");
#if defined(GCHEAP_DEBUG) && GCHEAP_DEBUG
  gcheap::CheckBarrier(m, "gc_weak_store", obj, slot, &value, 1);
  gcheap::api::CheckWeakSlot(m, obj, slot, "gc_weak_store");
#endif
  (void)obj;
  gcheap::Collector* c = m->heap->collector.get();
  c->weak().StoreSlot(reinterpret_cast<uintptr_t*>(slot),
                      reinterpret_cast<uintptr_t>(value), c->weak_phase());
}

void gc_trace_weak(void* visit_ctx, void** slot, int kind) {
  auto* v = static_cast<gcheap::TraceVisitor*>(visit_ctx);
  if (v == nullptr || v->magic != gcheap::TraceVisitor::kMagic) {
    Misuse("gc_trace_weak",
           "visit_ctx is not a trace callback's visit context (call it only "
           "from a trace callback, with the visit_ctx it was given)");
  }
  if (kind != GC_WEAK_SHORT && kind != GC_WEAK_LONG) {
    Misuse("gc_trace_weak", "kind must be GC_WEAK_SHORT or GC_WEAK_LONG");
  }
  if (v->weak != nullptr) v->weak(v, slot, static_cast<uint8_t>(kind));
}

void gc_trace_weak_callback(void* visit_ctx, gc_weak_callback_fn fn,
                            void* data) {
  auto* v = static_cast<gcheap::TraceVisitor*>(visit_ctx);
  if (v == nullptr || v->magic != gcheap::TraceVisitor::kMagic) {
    Misuse("gc_trace_weak_callback",
           "visit_ctx is not a trace callback's visit context (call it only "
           "from a trace callback, with the visit_ctx it was given)");
  }
  if (fn == nullptr) Misuse("gc_trace_weak_callback", "fn is NULL");
  if (v->weak_callback != nullptr) {
    v->weak_callback(v, fn, data);
  }
}

int gc_add_weak_callback(gc_heap* heap, gc_weak_callback_fn fn, void* data) {
  gcheap::CheckHeap(heap, "gc_add_weak_callback");
  if (fn == nullptr) {
    SetLastError("gc_add_weak_callback: fn is NULL");
    return -1;
  }
  if (gcheap::WeakCallbacks::Running() != nullptr) {
    Misuse("gc_add_weak_callback",
           "called from inside a weak callback (the list is in use)");
  }
  heap->collector->weak().callbacks().Add(fn, data);
  return 0;
}

int gc_remove_weak_callback(gc_heap* heap, gc_weak_callback_fn fn, void* data) {
  gcheap::CheckHeap(heap, "gc_remove_weak_callback");
  if (gcheap::WeakCallbacks::Running() != nullptr) {
    Misuse("gc_remove_weak_callback",
           "called from inside a weak callback (it would wait for itself)");
  }
  if (!heap->collector->weak().callbacks().Remove(fn, data)) {
    SetLastError("gc_remove_weak_callback: (fn, data) is not registered");
    return -1;
  }
  return 0;
}

int gc_is_live(gc_heap* heap, const void* obj, int kind) {
  if (gcheap::WeakCallbacks::Running() != heap || heap == nullptr) {
    Misuse("gc_is_live",
           "called outside a weak callback of this heap (liveness is only "
           "final between marking and the sweep: see gc_add_weak_callback)");
  }
  if (kind != GC_WEAK_SHORT && kind != GC_WEAK_LONG) {
    Misuse("gc_is_live", "kind must be GC_WEAK_SHORT or GC_WEAK_LONG");
  }
  gcheap::ObjectRef r;
  if (!heap->collector->weak().Resolve(reinterpret_cast<uintptr_t>(obj), &r)) {
    SetLastError("gc_is_live: %p is not in an object of this heap", obj);
    return -1;
  }
  return kind == GC_WEAK_SHORT ? gcheap::WeakProcessor::StronglyMarked(r)
                               : gcheap::WeakProcessor::Marked(r);
}

void* gc_weak_read(gc_mutator* m, void* obj, int kind) {
  DEBUG_CHECK_MUTATOR(m, "gc_weak_read");
  if (kind != GC_WEAK_SHORT && kind != GC_WEAK_LONG) {
    Misuse("gc_weak_read", "kind must be GC_WEAK_SHORT or GC_WEAK_LONG");
  }
  if (obj == nullptr) return nullptr;
  gcheap::Collector* c = m->heap->collector.get();
  gcheap::WeakRead r;
  r.value = reinterpret_cast<uintptr_t>(obj);
  switch (c->weak_phase()) {
    case gcheap::WeakPhase::kSweep:
      // The last callbacks dropped every dead entry: obj lives.
      break;
    case gcheap::WeakPhase::kMark:
      r.shade = true;
      break;
    case gcheap::WeakPhase::kMarkFinalizers: {
      // Strong marking is over: a short reference to what it did not reach
      // reads as cleared; a long one is shaded (revived if need be).
      if (kind == GC_WEAK_LONG) {
        r.shade = true;
        break;
      }
      gcheap::ObjectRef ref;
      if (!c->weak().Resolve(r.value, &ref)) {
        Misuse("gc_weak_read", "obj is not an object of this heap");
      }
      if (!gcheap::WeakProcessor::StronglyMarked(ref)) return nullptr;
      break;
    }
  }
  return gcheap::api::FinishWeakRead(m, r);
}

void* gc_ephemeron_new(gc_mutator* m, void* key, void* value) {
  DEBUG_CHECK_MUTATOR(m, "gc_ephemeron_new");
  void* e = gc_alloc(m, m->heap->EphemeronType(), gcheap::kEphemeronBytes);
  if (e == nullptr) return nullptr;
  auto* eph = static_cast<gcheap::EphemeronObject*>(e);
  // Through the barrier: while a cycle marks, the new (black) ephemeron is
  // never scanned, so both words are shaded instead.
  gc_write_barrier(m, e, reinterpret_cast<void**>(&eph->key), key);
  gc_write_barrier(m, e, reinterpret_cast<void**>(&eph->value), value);
  return e;
}

void* gc_ephemeron_key(gc_mutator* m, void* eph) {
  gcheap::EphemeronObject* e =
      gcheap::api::CheckEphemeron(m, eph, "gc_ephemeron_key");
  gcheap::Collector* c = m->heap->collector.get();
  return gcheap::api::FinishWeakRead(
      m, c->weak().Read(&e->key, gcheap::WeakWord::kSlot, /*is_long=*/true,
                        c->weak_phase()));
}

void* gc_ephemeron_value(gc_mutator* m, void* eph) {
  gcheap::EphemeronObject* e =
      gcheap::api::CheckEphemeron(m, eph, "gc_ephemeron_value");
  gcheap::Collector* c = m->heap->collector.get();
  gcheap::WeakProcessor& weak = c->weak();
  const gcheap::WeakRead k = weak.Read(&e->key, gcheap::WeakWord::kSlot,
                                       /*is_long=*/true, c->weak_phase());
  // The read returns 0 only for a key word that is 0 (no key, or cleared,
  // the value first) or that names a dead object. The key word is never
  // stored again after gc_ephemeron_new but by the sweep's clear, so a
  // nonzero word now means a dead key whose entry is not cleared yet. (Not
  // by resolving the word: the dead key's span may be freed meanwhile, and
  // FindObject would read a freed MSpan; tsan saw that race.)
  if (k.value == 0 && __atomic_load_n(&e->key, __ATOMIC_ACQUIRE) != 0) {
    return nullptr;
  }
  // A live key, or no heap object for one (a strong pair, or cleared: then
  // the value was cleared first). The value lives as long as the key does.
  gcheap::WeakRead v{__atomic_load_n(&e->value, __ATOMIC_ACQUIRE), k.shade};
  gcheap::api::FinishWeakRead(m, k);
  return gcheap::api::FinishWeakRead(m, v);
}

void gc_ephemeron_set_value(gc_mutator* m, void* eph, void* value) {
  gcheap::EphemeronObject* e =
      gcheap::api::CheckEphemeron(m, eph, "gc_ephemeron_set_value");
  gc_write_barrier(m, eph, reinterpret_cast<void**>(&e->value), value);
}

void* gc_ephemeron_next(gc_mutator* m, void* eph) {
  gcheap::EphemeronObject* e =
      gcheap::api::CheckEphemeron(m, eph, "gc_ephemeron_next");
  return reinterpret_cast<void*>(__atomic_load_n(&e->next, __ATOMIC_ACQUIRE));
}

void gc_ephemeron_set_next(gc_mutator* m, void* eph, void* next) {
  gcheap::EphemeronObject* e =
      gcheap::api::CheckEphemeron(m, eph, "gc_ephemeron_set_next");
  gc_write_barrier(m, eph, reinterpret_cast<void**>(&e->next), next);
}

void gc_ephemeron_clear(gc_mutator* m, void* eph) {
  gcheap::EphemeronObject* e =
      gcheap::api::CheckEphemeron(m, eph, "gc_ephemeron_clear");
  // Value first, as the sweep does.
  gc_write_barrier(m, eph, reinterpret_cast<void**>(&e->value), nullptr);
  gc_write_barrier(m, eph, reinterpret_cast<void**>(&e->key), nullptr);
}

int gc_is_ephemeron(gc_heap* heap, const void* obj) {
  gcheap::CheckHeap(heap, "gc_is_ephemeron");
  const gc_type_id t = heap->ephemeron_type();
  gcheap::ObjectRef r;
  if (t == 0 || !heap->heap.FindObject(reinterpret_cast<uintptr_t>(obj), &r) ||
      r.base != reinterpret_cast<uintptr_t>(obj) ||
      gcheap::NoScan(r.span->spanclass)) {
    return 0;
  }
  return r.span->ObjType(r.index) == t ? 1 : 0;
}

void gc_weak_destroy(gc_mutator* m, gc_weak* w) {
  if (w == nullptr) return;
  CheckWeak(m, w, "gc_weak_destroy");
  m->heap->collector->weak().Unlink(&w->cell);
  w->magic = kWeakDead;
  delete w;
}

}  // extern "C"
