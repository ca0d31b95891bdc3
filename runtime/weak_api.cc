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

// The result of a weak read: shaded if the phase's rule says so.
void* FinishWeakRead(gc_mutator* m, const WeakRead& r) {
  if (r.shade) RecordStore(m, reinterpret_cast<void*>(r.value), nullptr);
  return reinterpret_cast<void*>(r.value);
}

}  // namespace gcheap::api

using gcheap::SetLastError;
using gcheap::api::CheckWeak;
using gcheap::api::Misuse;

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
  if (!m->heap->collector->weak().Link(&w->cell,
                                       reinterpret_cast<uintptr_t>(obj))) {
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
  gcheap::WeakProcessor& weak = m->heap->collector->weak();
  weak.Unlink(&w->cell);
  if (!weak.Link(&w->cell, reinterpret_cast<uintptr_t>(obj))) {
    Misuse("gc_weak_set", gcheap::LastError());
  }
}

void gc_weak_destroy(gc_mutator* m, gc_weak* w) {
  if (w == nullptr) return;
  CheckWeak(m, w, "gc_weak_destroy");
  m->heap->collector->weak().Unlink(&w->cell);
  w->magic = kWeakDead;
  delete w;
}

}  // extern "C"
